//! The control plane: what an operator owns, in one replicated state machine on Raft.
//!
//! nacre runs two planes, as Nacos does. Ephemeral instances replicate with Distro (AP,
//! [`crate::cluster`]); what an operator owns — namespaces, cluster settings, persistent
//! instances, service settings, operator overrides, users, roles and permissions — goes
//! through one Raft log, so every member answers the same and a minority refuses writes.
//! This module holds the commands ([`ControlCommand`]), the state they build
//! ([`ControlState`]), openraft's type configuration ([`ControlTypeConfig`]), its storage on
//! redb ([`store`]), and the group's members:
//!
//! - [`ControlNode`]: one member of a group of 1 to n, on its store's file. Its Raft talks to
//!   the others over nacre's peer transport ([`PeerNetwork`]: Raft's messages as
//!   [`crate::cluster::PeerRequest::Control`], on the peer port, in the binary codec, behind the
//!   cluster secret), and [`ControlNode::handler`] answers theirs through the member's
//!   [`crate::cluster::ClusterNode`]. The voters come from the static member list
//!   ([`ControlMembers`]); the lowest id initializes a new group; a follower forwards writes to
//!   the leader; with no leader a write fails as Nacos' "no leader".
//! - [`StandaloneControl`]: a standalone node's group of one, the same [`ControlNode`] with no
//!   peers ([`NoPeers`]).
//!
//! What fronts use of it is [`ControlPlane`]: one write entry point, a read barrier, and the
//! applied state as a lock-free [`StateView`]. The namespace API over it is `crate::http`'s (feature `http`).
//!
//! **Operator overrides** ([`InstanceOverride`], `overrides.rs`): what an operator sets on an
//! instance through `PUT`/`PATCH /nacos/v1/ns/instance` is kept here by instance id, and
//! [`ControlOverrides`] lays it over every registration of that id on every member (the
//! registry's [`crate::registry::InstanceOverrides`]), so a client's re-registration,
//! reconnect or restart no longer undoes it (Nacos' #10975).
//!
//! **Cluster settings** ([`clusters`]: each cluster's health checker, check port and metadata)
//! are set by `PUT /nacos/v1/ns/cluster` and read by the active health checks (`crate::probe`).
//!
//! **Persistent instances and service settings** ([`persistent`]: registrations,
//! deregistrations, updates and health of persistent instances; services' settings created,
//! updated and removed) are log entries. [`attach_persistent`] wires a member's registry to the plane
//! (`registry_link.rs`): a [`ControlRoute`] takes their writes from `Backend::execute` to the
//! log, and a [`RegistrySink`] applies every applied batch to the registry before the write is
//! answered, at the log's versions, so every member shows the same instances and pushes each
//! change; Distro leaves them alone (see [`crate::store::ControlledInstance`]). A member is
//! not ready until it has caught up with its leader since the start ([`ControlPlane::barrier`]),
//! and what its store held from before is imported once ([`import_legacy`]).
//!
//! [`ClosableControl`] holds either kind of member for a host that shuts it down while fronts
//! still hold it.
//!
//! `nacre-server` (`crate::server::control`) runs a [`StandaloneControl`] on a standalone node
//! and a [`ControlNode`] of the `--members` on a cluster member, both on `DIR/control.redb`
//! under `--data-dir` and none without it; a member's Raft goes over the same
//! `HttpPeerTransport` and peer route as Distro. A write that finds no leader
//! ([`ControlWriteError::NoLeader`], [`ControlWriteError::Unconfirmed`]) is answered by the
//! HTTP front as Nacos answers one its JRaft group cannot take: 500, "did not find the Leader
//! node".
//!
//! The store's calls do their redb I/O on the Raft task that makes them (a commit with
//! `fsync` each): openraft serializes them per member anyway, and the control plane's write
//! rate is an operator's.
//!
//! ## Why openraft
//!
//! openraft 0.9 (the stable line) is async on tokio, which nacre already runs on, and leaves
//! storage and network as traits the host implements: the log goes to redb like the rest of
//! nacre's disk data, and Raft's messages can travel over nacre's own peer transport. It is
//! what r-nacos runs its control plane on. tikv's raft-rs is sans-IO (like `DistroCore`), but
//! its messages are protobuf and its storage, transport and tick loop are left to the host:
//! the loop openraft already has, written and tested again here.
//!
//! ## What differs from Nacos
//!
//! Nacos runs SOFAJRaft with one Raft group per kind of data (naming persistent instances,
//! naming metadata, configuration, …), each with its own log and snapshot directory, and keeps
//! namespaces and users in a database beside it. nacre runs one group for all of it: one log,
//! one snapshot, one file per member ([`store::FILE_NAME`]). The control plane's write rate is
//! an operator's, so one log is not a bottleneck, and one group means one leader to route to,
//! one membership, and one order across kinds (a namespace deleted before an instance
//! registered in it is seen in that order by every member).
//!
//! Also unlike Nacos:
//! - A brand-new group is initialized by its lowest-id member (see [`ControlNode`]); JRaft
//!   starts every member from the same configuration.
//! - openraft 0.9 has no leader lease: a leader cut off from its majority keeps its title, and
//!   a write on it waits [`ControlTiming::write_timeout`] (5 s) before it fails as "no
//!   leader"; JRaft's leader steps down after an election timeout without a majority.
//! - The members are the static `--members` list; Nacos' JRaft follows its member list as it
//!   changes (a member joining adds itself to each group).
//! - The leader and term are in the metrics (`nacre_control_*`); Nacos shows them in
//!   `GET /nacos/v1/core/cluster/nodes` (`raftMetaData`).
//!
//! ## The arrows
//!
//! `control` uses [`crate::model`] (validated names), `persist`'s redb file helpers, and the
//! cluster's network contract: [`crate::cluster::PeerTransport`] (a handle the host gives
//! [`ControlNode::start`]), [`crate::cluster::NodeId`] and the control messages' wire types.
//! The cluster never names this module: it hands control requests to a
//! [`crate::cluster::ControlHandler`], a trait it defines, which [`ControlNode::handler`]
//! implements. The registry and the fronts will call into `control`, not the reverse.
//!
//! ```
//! use nacre::control::{ControlCommand, ControlError, ControlResponse, ControlState, Namespace};
//! use nacre::NamespaceId;
//!
//! let mut state = ControlState::default();
//! let id = NamespaceId::new("dev")?;
//! let dev = Namespace::new(id.clone(), "Development", "the dev stage", 200)?;
//! assert_eq!(state.apply(&ControlCommand::CreateNamespace(dev.clone())), ControlResponse::Done);
//! assert_eq!(
//!     state.apply(&ControlCommand::CreateNamespace(dev)),
//!     ControlResponse::Rejected(ControlError::NamespaceExists(id)),
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batch;
pub mod clusters;
mod command;
mod group;
#[cfg(feature = "auth")]
mod identity;
mod members;
mod network;
mod node;
mod overrides;
mod peer_network;
pub mod persistent;
mod plane;
mod registry_link;
mod serve;
mod state;
pub mod store;
mod types;
mod users;
mod view;
mod wire;

pub use batch::{MAX_BATCH, MAX_BATCH_BYTES};
pub use clusters::{
    ClusterSettings, HealthChecker, HttpCheck, DEFAULT_CHECK_PORT, MAX_CHECK_HEADERS_LEN,
    MAX_CHECK_PATH_LEN, MAX_CLUSTER_METADATA_BYTES, MAX_CLUSTER_SETTINGS,
};
pub use command::{
    Changes, ControlCommand, ControlError, ControlResponse, Namespace, DEFAULT_NAMESPACE_QUOTA,
    MAX_NAMESPACES, MAX_NAMESPACE_DESC_LEN, MAX_NAMESPACE_NAME_LEN,
};
pub use group::{ControlNode, ControlTiming, Written, CONTROL_GROUP};
#[cfg(feature = "auth")]
pub use identity::LayeredIdentity;
pub use members::{ControlMembers, MembersError};
pub use network::{NoPeer, NoPeers};
pub use node::{ControlStartError, ControlWriteError, StandaloneControl};
pub use overrides::{
    drop_kept_metadata, keep_edit, ControlOverrides, InstanceOverride, KeepError, OverrideWeight,
    MAX_OVERRIDES, MAX_OVERRIDE_METADATA_BYTES,
};
pub use peer_network::{PeerLink, PeerNetwork};
pub use persistent::{
    PersistentData, PersistentWrite, MAX_PERSISTENT_INSTANCES, MAX_PERSISTENT_PER_SERVICE,
};
pub use plane::{ClosableControl, ControlPlane, SEEN_WAIT};
pub use registry_link::{attach_persistent, import_legacy, ControlRoute, RegistrySink};
pub use state::ControlState;
pub use types::{raft_node_id, ControlTypeConfig};
pub use users::{
    UserCommand, UserPermission, Users, ADMIN_ROLE, MAX_PERMISSIONS, MAX_RESOURCE_LEN,
    MAX_ROLE_BINDINGS, MAX_ROLE_LEN, MAX_USERNAME_LEN, MAX_USERS,
};
pub use view::{ControlSink, StateView};

//! The control plane: what an operator owns, in one replicated state machine on Raft.
//!
//! nacre runs two planes, as Nacos does. Ephemeral instances replicate with Distro (AP,
//! [`crate::cluster`]); what an operator owns — namespaces now, then service and cluster
//! settings, persistent instances, operator overrides, users, roles and permissions — goes
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
//! What fronts use of it is [`ControlPlane`]: one write entry point, and the applied state as
//! a lock-free [`StateView`]. The namespace API over it is `crate::http`'s (feature `http`).
//! The write route through `Command` and the other APIs come next.
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

mod command;
mod group;
mod members;
mod network;
mod node;
mod peer_network;
mod plane;
mod serve;
mod state;
pub mod store;
mod types;
mod view;
mod wire;

pub use command::{
    ControlCommand, ControlError, ControlResponse, Namespace, DEFAULT_NAMESPACE_QUOTA,
    MAX_NAMESPACES, MAX_NAMESPACE_DESC_LEN, MAX_NAMESPACE_NAME_LEN,
};
pub use group::{ControlNode, ControlTiming, Written, CONTROL_GROUP};
pub use members::{ControlMembers, MembersError};
pub use network::{NoPeer, NoPeers};
pub use node::{ControlStartError, ControlWriteError, StandaloneControl};
pub use peer_network::{PeerLink, PeerNetwork};
pub use plane::{ClosableControl, ControlPlane};
pub use state::ControlState;
pub use types::{raft_node_id, ControlTypeConfig};
pub use view::StateView;

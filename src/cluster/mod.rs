//! Distro: several nodes acting as one AP registry, as Nacos servers do.
//!
//! - [`Membership`] keeps the static member list (like Nacos' `cluster.conf`) and judges peer
//!   liveness from pings; [`DistroMapper`] assigns each service to one healthy member by a
//!   stable hash.
//! - Writes and beats that reach another node are forwarded to the responsible one; if it
//!   cannot be reached the write is applied locally (AP) and reconciled later.
//! - Every local change is queued per peer ([`SyncQueue`]) and sent in batches after
//!   [`DistroConfig::sync_delay`] or once [`DistroConfig::batch_count`] changes wait; failures
//!   are retried until they succeed, always with the current data, so newer versions supersede.
//! - Every [`DistroConfig::verify_interval`] each node sends checksums of its services; a peer
//!   whose copy differs fetches the service. A starting node loads a full snapshot first.
//! - Replicated data merges per instance, last writer wins by version, with tombstones for
//!   removals; an eviction loses to a copy that heard a later beat, so no instance whose client
//!   kept beating is lost across a partition or crash ([`crate::store::incoming_wins`]).
//!
//! The protocol itself is the sans-IO [`DistroCore`]; [`ClusterNode`] drives it on tokio over a
//! [`Transport`] the host provides, and [`crate::transport::memory`] provides an in-process
//! network with fault injection plus a deterministic simulator for seeded fault schedules.
//!
//! Compared with the design sketch, one change: health flags and evictions are replicated as
//! ordinary versioned writes, but beats are not (they stay on the responsible node). A node
//! that takes over a service therefore gives its instances a fresh grace period, and the merge
//! rule compares last-beat times so an eviction made on one side of a partition cannot delete
//! an instance that kept beating on the other.

mod auth;
mod config;
mod core;
mod dispatch;
mod error;
mod mapper;
mod membership;
mod message;
mod node;
mod node_id;
mod sync;
mod transport;

pub use self::core::{CoreStats, DistroCore, Outgoing, RequestId, Route, RoutingView};
pub use auth::{AuthError, ClusterSecret, PeerAuth, SecretError};
pub use config::DistroConfig;
pub use dispatch::{Dispatch, Forwarding};
pub use error::{ClusterError, MembershipError};
pub use mapper::{distro_hash, DistroMapper};
pub use membership::Membership;
pub use message::{Envelope, PeerRequest, PeerResponse, RemoteFailure};
pub use node::{ClusterNode, ClusterNodeBuilder};
pub use node_id::NodeId;
pub use sync::{Batch, PendingService, SyncQueue};
pub use transport::{PeerError, PeerHandler, Transport};

//! The network contract of a cluster member, in one place: [`PeerTransport`] (how a node reaches
//! its peers), [`PeerHandler`] (how what arrives reaches the node) and [`PeerError`] (why a
//! request got no answer).
//!
//! The host implements [`PeerTransport`] (HTTP, gRPC, a message bus...) and hands what arrives to
//! [`PeerHandler::receive`], which [`crate::cluster::ClusterNode`] implements;
//! [`crate::transport::memory`] has an in-process pair with fault injection, and the `http`
//! feature one over HTTP.
//!
//! Implementing [`PeerTransport`] needs `#[async_trait]`; nacre re-exports it as
//! [`crate::async_trait`], so no extra dependency is needed:
//!
//! ```
//! use nacre::async_trait;
//! use nacre::cluster::{NodeId, PeerError, PeerRequest, PeerResponse, PeerTransport};
//!
//! /// A transport whose peers are all down.
//! struct Nowhere;
//!
//! #[async_trait]
//! impl PeerTransport for Nowhere {
//!     async fn send(&self, to: &NodeId, _: PeerRequest) -> Result<PeerResponse, PeerError> {
//!         Err(PeerError::Unreachable(to.clone()))
//!     }
//! }
//! # let _ = Nowhere;
//! ```

use super::control_route::ControlRequest;
use super::message::{PeerRequest, PeerResponse};
use super::node_id::NodeId;
use async_trait::async_trait;

/// Why a request to a peer got no answer. (A client's transport has its own error,
/// [`crate::client::TransportError`]: the two never meet.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The peer could not be reached (down, partitioned away, connection refused).
    #[error("peer {0} is unreachable")]
    Unreachable(NodeId),
    /// No answer within the time allowed.
    #[error("peer {0} did not answer in time")]
    Timeout(NodeId),
    /// The answer could not be decoded, or the wire failed in another way.
    #[error("talking to peer {peer} failed: {reason}")]
    Failed {
        /// The peer.
        peer: NodeId,
        /// What went wrong.
        reason: String,
    },
}

/// Sends a request to a peer and waits for its answer. The receiving side hands what arrives
/// to [`PeerHandler::receive`].
///
/// Implementations may take as long as they like; the node puts its own timeout
/// ([`crate::cluster::DistroConfig::request_timeout`]) around every call.
#[async_trait]
pub trait PeerTransport: Send + Sync + 'static {
    /// Sends `request` to `to` and returns its answer.
    async fn send(&self, to: &NodeId, request: PeerRequest) -> Result<PeerResponse, PeerError>;
}

/// Receives requests from peers. [`crate::cluster::ClusterNode`] is one; transports call it
/// with what arrives: a [`PeerRequest::Control`] (see [`PeerRequest::is_control`]) through
/// [`PeerHandler::receive_control`], on the runtime, every other request through
/// [`PeerHandler::receive`], which may block (the HTTP route runs it on the blocking pool).
#[async_trait]
pub trait PeerHandler: Send + Sync + 'static {
    /// Answers one request from `from`.
    fn receive(&self, from: &NodeId, request: PeerRequest) -> PeerResponse;

    /// Answers one control-plane request from `from`: it awaits the member's Raft, and never
    /// blocks. The default hands it to [`PeerHandler::receive`].
    async fn receive_control(&self, from: &NodeId, request: ControlRequest) -> PeerResponse {
        self.receive(from, PeerRequest::Control(request))
    }
}

//! [`Transport`]: how a node reaches its peers. The host implements it (HTTP, gRPC, a message
//! bus...); [`crate::transport::memory`] has an in-process one with fault injection.

use super::message::{PeerRequest, PeerResponse};
use super::node_id::NodeId;
use async_trait::async_trait;

/// Why a request to a peer got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
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
/// to [`crate::cluster::PeerHandler::receive`] (which [`crate::cluster::ClusterNode`] implements).
///
/// Implementations may take as long as they like; the node puts its own timeout
/// ([`crate::cluster::DistroConfig::request_timeout`]) around every call.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Sends `request` to `to` and returns its answer.
    async fn send(&self, to: &NodeId, request: PeerRequest)
        -> Result<PeerResponse, TransportError>;
}

//! [`ClusterError`]: why a cluster node refused a client operation.

use super::node_id::NodeId;
use crate::registry::command::UnexpectedOutput;
use crate::store::RegistryError;

/// Why a cluster node refused a client operation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The node is still loading its snapshot from a peer and does not serve yet.
    #[error("node {0} is starting and has not loaded its snapshot yet")]
    NotReady(NodeId),
    /// The node asked could not be reached (crashed, or cut off from the caller).
    #[error("node {0} is unreachable")]
    Unreachable(NodeId),
    /// The registry refused the operation (here or on the responsible node).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A peer answered with something that does not fit the operation (a protocol mismatch).
    #[error("unexpected answer from a peer: {0}")]
    UnexpectedAnswer(#[from] UnexpectedOutput),
    /// The responsible node refused the operation.
    #[error("node {node} refused the operation: {message}")]
    Remote {
        /// The responsible node.
        node: NodeId,
        /// Its error message.
        message: String,
    },
}

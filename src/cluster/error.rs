//! [`ClusterError`]: why a cluster node refused a client operation; [`MembershipError`]: why a
//! node could not be set up as a member.

use super::node_id::NodeId;
use crate::registry::command::UnexpectedOutput;
use crate::store::StoreError;

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
    Registry(#[from] StoreError),
    /// A peer answered with something that does not fit the operation (a protocol mismatch).
    #[error("unexpected answer from a peer: {0}")]
    UnexpectedAnswer(#[from] UnexpectedOutput),
    /// The write was applied but could not be made durable (see [`crate::persist`]).
    #[error(transparent)]
    NotPersisted(#[from] crate::persist::NotPersisted),
    /// The responsible node refused the operation.
    #[error("node {node} refused the operation: {message}")]
    Remote {
        /// The responsible node.
        node: NodeId,
        /// Its error message.
        message: String,
    },
    /// The control plane, which takes writes of persistent instances, has no leader or did not
    /// confirm the write in time (Nacos' "no leader"): it may or may not be applied.
    #[error(
        "errCode: 500, errMsg: The Raft Group [nacre-control] did not find the Leader node ({0})"
    )]
    NoLeader(String),
    /// The responsible node applied the write but could not make it durable (its disk
    /// failed, or the commit did not finish in time).
    #[error("node {node} applied the write but could not store it: {message}")]
    RemoteNotPersisted {
        /// The responsible node.
        node: NodeId,
        /// Its error message.
        message: String,
    },
}

/// Why a node could not be set up as a cluster member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// The node's own id is not in its member list. Peers whose lists do not name it refuse
    /// its requests, so the cluster would split without a word; every member's list must name
    /// every member, this one included.
    #[error(
        "node id `{me}` is not in the member list [{}]: every member's list must name every \
         member, this one included; give this node the id its peers list it under (for \
         nacre-server, --node-id must be one of --members), or add `{me}` to the list on every \
         member",
        members.iter().map(NodeId::as_str).collect::<Vec<_>>().join(", ")
    )]
    NotAMember {
        /// This node's id.
        me: NodeId,
        /// The member list it was given.
        members: Vec<NodeId>,
    },
}

impl From<crate::registry::ExecuteError> for ClusterError {
    fn from(e: crate::registry::ExecuteError) -> Self {
        match e {
            crate::registry::ExecuteError::Refused(e) => ClusterError::Registry(e),
            crate::registry::ExecuteError::NotPersisted(e) => ClusterError::NotPersisted(e),
        }
    }
}

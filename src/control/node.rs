//! [`StandaloneControl`]: the control plane of a member alone, a one-member Raft group over
//! the control store, started on the store's file and restarted on it.
//!
//! A standalone node runs the same Raft as a cluster member, with one member: a write is
//! appended (on disk), committed by this member's own vote, applied, and then answered. At
//! the first start the group is initialized with this member; at a restart the log and vote
//! on disk say it already was, and the member elects itself again and re-applies what was
//! committed after the last snapshot.
//!
//! It is one code path with a cluster's: a [`ControlNode`] of one member
//! ([`ControlMembers::alone`]) with no peer network, which initializes its group (it has the
//! lowest id of one) and elects itself at once.

use std::path::Path;
use std::time::Duration;

use super::command::{ControlCommand, ControlResponse};
use super::group::{ControlNode, ControlTiming};
use super::members::ControlMembers;
use super::store::ControlStoreError;
use crate::cluster::NodeId;

/// How long [`StandaloneControl::start`] waits for the member to lead its group.
const LEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlStartError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] ControlStoreError),
    /// openraft refused to start (its configuration, or a storage error while loading).
    #[error("the control plane's Raft did not start: {0}")]
    Raft(String),
    /// The member's address is not a valid peer id.
    #[error("{address:?} is not a member address: {reason}")]
    Address {
        /// The address given.
        address: String,
        /// Why it is not one.
        reason: String,
    },
    /// The member list cannot make a control group (see [`ControlMembers::new`]).
    #[error(transparent)]
    Members(#[from] super::members::MembersError),
    /// The member did not become its group's leader in time.
    #[error("the control plane did not elect this member within {0:?}: {1}")]
    NoLeader(Duration, String),
}

/// Why a control-plane write was not answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlWriteError {
    /// This member does not lead its group now (Nacos' "no leader").
    #[error("the control plane has no leader here: {0}")]
    NoLeader(String),
    /// The write reached a leader but was not confirmed in time: it may or may not be
    /// committed (a leader cut off from its majority cannot commit it; a slow one may).
    /// Fronts answer it as "no leader"; a history checker counts it as unknown.
    #[error("the control write was not confirmed in time: {0}")]
    Unconfirmed(String),
    /// Raft stopped (a storage error, or shutdown): no write is taken any more.
    #[error("the control plane has stopped: {0}")]
    Stopped(String),
}

/// A one-member control plane on the store at a path.
///
/// ```
/// use nacre::control::{ControlCommand, ControlResponse, Namespace, StandaloneControl};
/// use nacre::NamespaceId;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("nacre-standalone-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let control = StandaloneControl::start(&dir.join("control.redb"), "127.0.0.1:8848").await?;
/// let dev = Namespace::new(NamespaceId::new("dev")?, "Development", "", 200)?;
/// let answer = control.write(ControlCommand::CreateNamespace(dev)).await?;
/// assert_eq!(answer, ControlResponse::Done);
/// control.shutdown().await;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
pub struct StandaloneControl {
    node: ControlNode,
}

impl std::fmt::Debug for StandaloneControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandaloneControl")
            .field("node", &self.node)
            .finish()
    }
}

impl StandaloneControl {
    /// Opens the store at `path`, starts Raft as the one member at `address` (its id is
    /// [`raft_node_id`](super::raft_node_id) of it), initializes the group at the first
    /// start, and returns once the member leads it.
    pub async fn start(path: &Path, address: &str) -> Result<Self, ControlStartError> {
        let me = NodeId::new(address).map_err(|e| ControlStartError::Address {
            address: address.to_owned(),
            reason: e.to_string(),
        })?;
        let timing = ControlTiming::default();
        let node = ControlNode::start(path, ControlMembers::alone(&me), None, timing).await?;
        if let Err(e) = node.wait_for_leader(LEAD_TIMEOUT).await {
            node.shutdown().await;
            return Err(ControlStartError::NoLeader(LEAD_TIMEOUT, e.to_string()));
        }
        Ok(StandaloneControl { node })
    }

    /// Appends `command` to the log, and answers once it is on disk, committed and applied.
    pub async fn write(
        &self,
        command: ControlCommand,
    ) -> Result<ControlResponse, ControlWriteError> {
        self.node.write(command).await
    }

    /// The member's [`ControlNode`]: the same Raft, for what a group of one shares with a
    /// group of many.
    pub fn node(&self) -> &ControlNode {
        &self.node
    }

    /// Stops Raft, and returns once its tasks have closed the store's file (so that it can
    /// be opened again), or after 10 s with a warning.
    pub async fn shutdown(self) {
        self.node.shutdown().await;
    }
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;

//! [`StandaloneControl`]: the control plane of a member alone, a one-member Raft group over
//! the control store, started on the store's file and restarted on it.
//!
//! A standalone node runs the same Raft as a cluster member, with one member: a write is
//! appended (on disk), committed by this member's own vote, applied, and then answered. At
//! the first start the group is initialized with this member; at a restart the log and vote
//! on disk say it already was, and the member elects itself again and re-applies what was
//! committed after the last snapshot.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Config, Raft, ServerState};

use super::command::{ControlCommand, ControlResponse};
use super::network::NoPeers;
use super::store::{self, ControlStoreError, StoreLimits};
use super::types::{raft_node_id, ControlTypeConfig};

/// How long [`StandaloneControl::start`] waits for the member to lead its group.
const LEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`StandaloneControl::shutdown`] waits for Raft's tasks to close the store's file.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

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
    raft: Raft<ControlTypeConfig>,
    id: u64,
    file_open: Box<dyn Fn() -> bool + Send + Sync>,
}

impl std::fmt::Debug for StandaloneControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandaloneControl")
            .field("id", &self.id)
            .finish()
    }
}

impl StandaloneControl {
    /// Opens the store at `path`, starts Raft as the one member at `address` (its id is
    /// [`raft_node_id`] of it), initializes the group at the first start, and returns once
    /// the member leads it.
    pub async fn start(path: &Path, address: &str) -> Result<Self, ControlStartError> {
        let (log, machine) = store::open(path, StoreLimits::default())?;
        let file_open = Box::new(log.open_probe());
        let config = Config {
            cluster_name: "nacre-control".to_owned(),
            ..Config::default()
        }
        .validate()
        .map_err(|e| ControlStartError::Raft(e.to_string()))?;
        let id = raft_node_id(address);
        let raft = Raft::new(id, Arc::new(config), NoPeers, log, machine)
            .await
            .map_err(|e| ControlStartError::Raft(e.to_string()))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| ControlStartError::Raft(e.to_string()))?;
        if !initialized {
            let members = BTreeMap::from([(id, BasicNode::new(address))]);
            raft.initialize(members)
                .await
                .map_err(|e| ControlStartError::Raft(e.to_string()))?;
            tracing::info!(
                id,
                address,
                "control plane initialized as a one-member group"
            );
        }
        raft.wait(Some(LEAD_TIMEOUT))
            .state(ServerState::Leader, "the standalone member leads")
            .await
            .map_err(|e| ControlStartError::NoLeader(LEAD_TIMEOUT, e.to_string()))?;
        Ok(StandaloneControl {
            raft,
            id,
            file_open,
        })
    }

    /// Appends `command` to the log, and answers once it is on disk, committed and applied.
    pub async fn write(
        &self,
        command: ControlCommand,
    ) -> Result<ControlResponse, ControlWriteError> {
        match self.raft.client_write(command).await {
            Ok(written) => Ok(written.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(e))) => {
                Err(ControlWriteError::NoLeader(e.to_string()))
            }
            Err(e) => Err(ControlWriteError::Stopped(e.to_string())),
        }
    }

    /// Stops Raft, and returns once its tasks have closed the store's file (so that it can
    /// be opened again), or after 10 s with a warning.
    pub async fn shutdown(self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "the control plane's Raft did not stop cleanly");
        }
        drop(self.raft);
        let deadline = tokio::time::Instant::now() + CLOSE_TIMEOUT;
        while (self.file_open)() {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("the control plane's store is still open after its Raft stopped");
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;

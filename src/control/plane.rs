//! [`ControlPlane`]: what a front asks of the control plane, whatever runs it: one write
//! entry point and a lock-free read of the applied state.
//!
//! Fronts (the namespace API, next the console and the operator endpoints) hold an
//! `Arc<dyn ControlPlane>` and never a Raft handle: a standalone node gives them its
//! [`StandaloneControl`], a cluster member its [`ControlNode`] (a write on a follower is
//! forwarded to the leader), and tests whatever they like. A write answers once its entry is
//! on disk, committed and applied, so the [`ControlPlane::state`] read right after it shows it
//! (on the member that wrote it; another member shows it once it has applied it too).
//!
//! [`ClosableControl`] holds a [`ControlNode`] (a standalone one or a cluster member) behind
//! the trait for a host that must shut it down while fronts still hold the trait object
//! (`nacre-server`): writes after [`ClosableControl::shutdown`] answer
//! [`ControlWriteError::Stopped`], reads keep the last state.
//!
//! ```
//! use std::sync::Arc;
//! use nacre::control::{ClosableControl, ControlCommand, ControlPlane, Namespace, StandaloneControl};
//! use nacre::NamespaceId;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("nacre-plane-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let node = StandaloneControl::start(&dir.join("control.redb"), "127.0.0.1:8848").await?;
//! let control = Arc::new(ClosableControl::new(node));
//! let plane: Arc<dyn ControlPlane> = control.clone();
//! let dev = Namespace::new(NamespaceId::new("dev")?, "Development", "", 200)?;
//! plane.write(ControlCommand::CreateNamespace(dev.clone())).await?;
//! assert_eq!(plane.state().namespace("dev"), Some(&dev));
//! control.shutdown().await;
//! assert!(plane.write(ControlCommand::DeleteNamespace { id: dev.id }).await.is_err());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use super::command::{ControlCommand, ControlResponse};
use super::group::{ControlNode, Written};
use super::node::{ControlWriteError, StandaloneControl};
use super::state::ControlState;
use super::view::ControlSink;

/// The control plane as fronts use it: see the module documentation.
#[async_trait::async_trait]
pub trait ControlPlane: Send + Sync + std::fmt::Debug + 'static {
    /// Appends `command` to the log; answers once it is on disk, committed and applied, with
    /// what applying it answered.
    async fn write(&self, command: ControlCommand) -> Result<ControlResponse, ControlWriteError>;

    /// The state as applied here so far; no lock, no wait.
    fn state(&self) -> Arc<ControlState>;

    /// [`ControlPlane::write`], answered once this member has applied the write too (at most
    /// [`SEEN_WAIT`] after the leader answered), so this member's state and registry show it
    /// when it returns. A member that does not catch up in time answers anyway: the write is
    /// committed.
    async fn write_seen(
        &self,
        command: ControlCommand,
    ) -> Result<ControlResponse, ControlWriteError> {
        self.write(command).await
    }

    /// A read barrier: answers once this member has applied every write the group committed
    /// before the call (a [`ControlCommand::Barrier`] entry through the leader, waited for
    /// here as [`ControlPlane::write_seen`] does). Costs one log entry: openraft 0.9's
    /// `ensure_linearizable` answers on the leader only, and a follower would need a read
    /// index forwarded to it.
    async fn barrier(&self) -> Result<(), ControlWriteError> {
        self.write_seen(ControlCommand::Barrier).await.map(|_| ())
    }

    /// Tells `sink` of every applied change from now on (see [`super::StateView::attach_sink`]);
    /// `false` if a sink was attached already.
    fn attach_sink(&self, sink: Arc<dyn ControlSink>) -> bool;
}

/// How long [`ControlPlane::write_seen`] waits for this member to apply a write the leader
/// answered.
pub const SEEN_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Writes `command` through `node`'s group, then waits (at most [`SEEN_WAIT`]) for `node` to
/// apply it: the write, and whether `node` has applied it.
async fn write_then_apply(
    node: &ControlNode,
    command: ControlCommand,
) -> Result<(Written, bool), ControlWriteError> {
    let written = node.write_indexed(command).await?;
    let applied = node.wait_applied(written.index, SEEN_WAIT).await;
    Ok((written, applied))
}

#[async_trait::async_trait]
impl ControlPlane for StandaloneControl {
    async fn write(&self, command: ControlCommand) -> Result<ControlResponse, ControlWriteError> {
        StandaloneControl::write(self, command).await
    }

    fn state(&self) -> Arc<ControlState> {
        self.node().inner.view.load()
    }

    fn attach_sink(&self, sink: Arc<dyn ControlSink>) -> bool {
        self.node().inner.view.attach_sink(sink)
    }
}

#[async_trait::async_trait]
impl ControlPlane for ControlNode {
    async fn write(&self, command: ControlCommand) -> Result<ControlResponse, ControlWriteError> {
        ControlNode::write(self, command).await
    }

    async fn write_seen(
        &self,
        command: ControlCommand,
    ) -> Result<ControlResponse, ControlWriteError> {
        let (written, applied) = write_then_apply(self, command).await?;
        if !applied {
            tracing::debug!(
                index = written.index,
                "a control write is committed but not applied here yet"
            );
        }
        Ok(written.response)
    }

    async fn barrier(&self) -> Result<(), ControlWriteError> {
        match write_then_apply(self, ControlCommand::Barrier).await? {
            (_, true) => Ok(()),
            (written, false) => Err(ControlWriteError::Unconfirmed(format!(
                "the barrier at index {} was committed but not applied here within {SEEN_WAIT:?}",
                written.index
            ))),
        }
    }

    fn state(&self) -> Arc<ControlState> {
        self.inner.view.load()
    }

    fn attach_sink(&self, sink: Arc<dyn ControlSink>) -> bool {
        self.inner.view.attach_sink(sink)
    }
}

impl From<StandaloneControl> for ControlNode {
    fn from(node: StandaloneControl) -> Self {
        node.node().clone()
    }
}

/// A [`ControlNode`] that can be shut down through a shared reference: see the module
/// documentation.
#[derive(Debug)]
pub struct ClosableControl {
    node: ControlNode,
    /// Whether [`ClosableControl::shutdown`] ran; writes hold it for reading while they run.
    closed: tokio::sync::RwLock<bool>,
}

impl ClosableControl {
    /// Holds `node`: a [`StandaloneControl`] or a cluster member's [`ControlNode`].
    pub fn new(node: impl Into<ControlNode>) -> Self {
        ClosableControl {
            node: node.into(),
            closed: tokio::sync::RwLock::new(false),
        }
    }

    /// The member it holds, for what it reports (its leader, term, applied index). Writes go
    /// through [`ControlPlane::write`], which refuses them once shut down.
    pub fn node(&self) -> &ControlNode {
        &self.node
    }

    /// Held by a write while it runs, so that [`ClosableControl::shutdown`] waits for it;
    /// [`ControlWriteError::Stopped`] once shut down.
    async fn open(&self) -> Result<tokio::sync::RwLockReadGuard<'_, bool>, ControlWriteError> {
        let closed = self.closed.read().await;
        if *closed {
            return Err(ControlWriteError::Stopped(
                "the control plane was shut down".to_owned(),
            ));
        }
        Ok(closed)
    }

    /// Waits for the writes in flight to be answered, then shuts the node down (see
    /// [`ControlNode::shutdown`]). Later calls do nothing.
    pub async fn shutdown(&self) {
        let mut closed = self.closed.write().await;
        if !*closed {
            *closed = true;
            self.node.shutdown().await;
            tracing::info!("control plane closed");
        }
    }
}

#[async_trait::async_trait]
impl ControlPlane for ClosableControl {
    async fn write(&self, command: ControlCommand) -> Result<ControlResponse, ControlWriteError> {
        let _open = self.open().await?;
        self.node.write(command).await
    }

    async fn write_seen(
        &self,
        command: ControlCommand,
    ) -> Result<ControlResponse, ControlWriteError> {
        let _open = self.open().await?;
        ControlPlane::write_seen(&self.node, command).await
    }

    async fn barrier(&self) -> Result<(), ControlWriteError> {
        let _open = self.open().await?;
        ControlPlane::barrier(&self.node).await
    }

    fn state(&self) -> Arc<ControlState> {
        self.node.inner.view.load()
    }

    fn attach_sink(&self, sink: Arc<dyn ControlSink>) -> bool {
        self.node.inner.view.attach_sink(sink)
    }
}

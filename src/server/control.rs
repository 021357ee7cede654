//! The control plane of `nacre-server`, on `DIR/control.redb` ([`crate::control::store::FILE_NAME`])
//! under `--data-dir`, given to the v1 API for Nacos' namespace API and to the metrics.
//!
//! - **Standalone** (`start_standalone`): a one-member Raft group
//!   ([`crate::control::StandaloneControl`]). The member's Raft address is
//!   [`STANDALONE_ADDRESS`], not the listener's: the Raft id made from it is kept in the file,
//!   so a node restarted on another port still leads its group.
//! - **Cluster member** (`start_member`): a [`ControlNode`] whose voters are the `--members`
//!   list (each under the Raft id of its member id, so `host:peer-port` with `--peer-port`),
//!   over the member's own peer transport: the [`crate::http::HttpPeerTransport`] Distro sends
//!   through, in the binary codec, with the cluster secret, to the peer route. The member's
//!   [`crate::cluster::ClusterNode`] is built with [`ControlNode::handler`], so the Raft
//!   messages its peer route receives reach this node. The start does not wait for a leader:
//!   until one is elected (a brand-new group needs its lowest-id member up, see
//!   [`ControlNode`]), a write answers Nacos' "no leader" error; reads, and all of Distro's
//!   traffic, do not depend on it.
//!
//! **Without `--data-dir`** a node runs no control plane: Raft's log and snapshots must be on
//! disk before a write is answered, and such a node keeps nothing on disk. It serves no
//! namespace API, and a member answers the others' control messages as unavailable (to their
//! Raft, an unreachable voter). A member says so at `warn` when it starts: the control group
//! counts every member of `--members` as a voter, so every member should have a data
//! directory (and if the member without one has the lowest Raft id, a new group never forms:
//! that member initializes it). A member still starts without one, so that a cluster of ephemeral instances
//! only (Distro, no disk) runs as before. Nacos has no such mode: every member keeps its
//! JRaft data under its home directory.
//!
//! The voters are `--members` as the group was first formed: the membership is in the log, and
//! a member restarted with another list is not added to, or removed from, an existing group
//! (membership changes are not built; Nacos' JRaft adds a member that joins to each group).
//!
//! Shutdown: [`crate::server::RunningServer::shutdown`] (SIGTERM) closes the control plane
//! after the listeners and the drivers, through [`ClosableControl::shutdown`], which waits for
//! the writes in flight and for Raft to close the file.

use std::sync::Arc;

use super::{ServerConfig, ServerError};
use crate::cluster::{NodeId, PeerTransport};
use crate::control::{
    store, ClosableControl, ControlMembers, ControlNode, ControlTiming, StandaloneControl,
};

/// The Raft address of a standalone node's one member.
pub const STANDALONE_ADDRESS: &str = "standalone";

/// The control plane of a standalone node: started with a data directory, none otherwise.
pub(super) async fn start_standalone(
    config: &ServerConfig,
) -> Result<Option<Arc<ClosableControl>>, ServerError> {
    let Some(dir) = config.data_dir.as_ref() else {
        return Ok(None);
    };
    let path = dir.join(store::FILE_NAME);
    let node = StandaloneControl::start(&path, STANDALONE_ADDRESS).await?;
    tracing::info!(path = %path.display(), "control plane started");
    Ok(Some(Arc::new(ClosableControl::new(node))))
}

/// The control plane of cluster member `me` of `members`, over `transport`: started with a
/// data directory, none otherwise (with a warning). Give the node's
/// [`ControlNode::handler`] to the member's `ClusterNode`.
pub(super) async fn start_member(
    config: &ServerConfig,
    me: &NodeId,
    members: &[NodeId],
    transport: Arc<dyn PeerTransport>,
) -> Result<Option<Arc<ClosableControl>>, ServerError> {
    let Some(dir) = config.data_dir.as_ref() else {
        tracing::warn!(
            "no --data-dir: this member runs no control plane (Raft keeps its log on disk), \
             serves no namespace API, and counts as an unreachable voter to the members that \
             run one; give every member a data directory"
        );
        return Ok(None);
    };
    let group =
        ControlMembers::new(me, members).map_err(crate::control::ControlStartError::from)?;
    let path = dir.join(store::FILE_NAME);
    let node = ControlNode::start(&path, group, Some(transport), ControlTiming::default()).await?;
    tracing::info!(
        path = %path.display(),
        members = members.len(),
        "control plane started as a member of the control group"
    );
    Ok(Some(Arc::new(ClosableControl::new(node))))
}

/// In the background: catches the member up with its group's leader (the node is ready once
/// it has, see [`crate::control::ControlRoute::catch_up`]), then proposes the persistent
/// instances the member's store held from before the control plane
/// ([`crate::control::import_legacy`]). Each step is retried every second while there is no
/// leader; the task ends once both are done or the control plane stops.
pub(super) fn spawn_catch_up(
    plane: Arc<dyn crate::control::ControlPlane>,
    route: Arc<crate::control::ControlRoute>,
    registry: crate::Registry,
) {
    tokio::spawn(async move {
        if retried("catch up", || route.catch_up()).await.is_none() {
            return;
        }
        tracing::info!("control plane caught up with its leader");
        // Answers at once, without a write, once any member's import was applied.
        retried("import", || {
            crate::control::import_legacy(&plane, &registry)
        })
        .await;
    });
}

/// Runs `step` until it succeeds, every second while the control plane has no leader; `None`
/// once the control plane has stopped.
async fn retried<T, F, Fut>(what: &'static str, mut step: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::control::ControlWriteError>>,
{
    loop {
        match step().await {
            Ok(done) => return Some(done),
            Err(crate::control::ControlWriteError::Stopped(_)) => return None,
            Err(error) => {
                tracing::debug!(%error, step = what, "the control plane is not ready for this yet");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

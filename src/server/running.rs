//! [`RunningServer`]: a started `nacre-server`, and its graceful shutdown.

use super::serve::{ServeStats, Shutdown};
use crate::cluster::ClusterNode;
use crate::front::Backend;
use crate::udp::UdpPush;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// A started server: its address, its node, the task serving it and the thread running the
/// node's drivers. Dropping it leaves the server running until the runtime ends; call
/// [`RunningServer::stop`] to stop it.
#[derive(Debug)]
pub struct RunningServer {
    pub(super) addr: SocketAddr,
    /// The fronts with listeners of their own, by name.
    pub(super) listening: Vec<(&'static str, SocketAddr)>,
    pub(super) backend: Backend,
    pub(super) task: JoinHandle<()>,
    pub(super) front_tasks: Vec<JoinHandle<()>>,
    /// What tells the fronts' clients to move before the listeners close.
    pub(super) hand_overs: Vec<super::fronts::HandOver>,
    /// Where they are sent (see `hand_over_targets`).
    pub(super) hand_over_to: Vec<String>,
    pub(super) shutdown: Shutdown,
    pub(super) serve_stats: Arc<ServeStats>,
    pub(super) peer: Option<PeerListener>,
    pub(super) drivers: DriverThread,
    pub(super) udp: UdpPush,
    /// The users file, when auth is on.
    pub(super) users: Option<Arc<crate::auth::ReloadingUsersFile>>,
    /// The control plane, when the node runs one (see [`super::control`]).
    pub(super) control: Option<Arc<crate::control::ClosableControl>>,
    /// The active health checks of persistent instances (see [`super::probes`]).
    pub(super) prober: crate::probe::Prober,
}

/// How long a graceful shutdown waits for the fronts' own listeners (gRPC) after telling
/// them.
const FRONT_GRACE: Duration = Duration::from_secs(1);

/// The longest a graceful shutdown waits for gRPC clients to move to another member (at most
/// a third of the whole grace).
const HAND_OVER_WAIT: Duration = Duration::from_secs(5);

/// The listener of `--peer-port` and the task serving it.
#[derive(Debug)]
pub(super) struct PeerListener {
    pub(super) addr: SocketAddr,
    pub(super) task: JoinHandle<()>,
}

/// The thread that runs the node's drivers until told to stop.
#[derive(Debug)]
pub(super) struct DriverThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl DriverThread {
    pub(super) fn spawn(backend: Backend) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("nacre-drivers".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let health = match &backend {
                        Backend::Cluster(node) => {
                            node.start();
                            None
                        }
                        _ => Some(backend.local_registry().spawn_health_driver()),
                    };
                    // Either a stop, or the server is gone: stop the drivers.
                    let _ = stopped.await;
                    drop(health);
                    if let Some(node) = backend.cluster_node() {
                        node.stop();
                    }
                });
            })?;
        Ok(Self { stop: Some(stop) })
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl RunningServer {
    /// Reads the users file again (`nacre-server` does on SIGHUP): the number of users now in
    /// force, or why the file was refused (the one in force stays). `None` when auth is off.
    pub fn reload_users(&self) -> Option<Result<usize, crate::auth::AuthError>> {
        self.users.as_ref().map(|users| users.reload())
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// The address peer traffic is served on, when it has a port of its own (`--peer-port`).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer.as_ref().map(|p| p.addr)
    }
    /// The address of the gRPC API, when it is served (feature `grpc`).
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.listening
            .iter()
            .find_map(|(name, addr)| (*name == super::fronts::GRPC).then_some(*addr))
    }
    /// The address of the DNS front (UDP and TCP), when it serves one (`--dns-port`).
    pub fn dns_addr(&self) -> Option<SocketAddr> {
        self.listening
            .iter()
            .find_map(|(name, addr)| (*name == "dns").then_some(*addr))
    }
    /// The node it serves.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }
    /// The UDP push to v1 clients (its socket's address, its counters).
    pub fn udp_push(&self) -> &UdpPush {
        &self.udp
    }
    /// Serves until [`RunningServer::shutdown`] is asked for by another clone of its
    /// [`Shutdown`] trigger ([`RunningServer::shutdown_trigger`]), or the serving task ends.
    pub async fn wait(mut self) -> std::io::Result<()> {
        let result = (&mut self.task).await.map_err(std::io::Error::other);
        for task in self.front_tasks.drain(..) {
            task.abort();
        }
        if let Some(peer) = self.peer.take() {
            peer.task.abort();
        }
        self.drivers.stop();
        self.prober.stop();
        if let Some(control) = self.control.take() {
            control.shutdown().await;
        }
        result
    }

    /// The trigger of a graceful shutdown (see [`RunningServer::shutdown`]).
    pub fn shutdown_trigger(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Connection counters of the HTTP listener.
    pub fn serve_stats(&self) -> &ServeStats {
        &self.serve_stats
    }

    /// Shuts down gracefully, waiting at most `grace` in all: tells gRPC clients to move to
    /// another member and waits (at most 5 s, a third of `grace`) for them to go, stops accepting, lets the
    /// requests in flight finish and their connections close, then (a cluster member) waits
    /// for its sync queues to its reachable peers to drain, and stops the node's drivers.
    /// Returns what finished in time.
    pub async fn shutdown(mut self, grace: Duration) -> ShutdownReport {
        let deadline = tokio::time::Instant::now() + grace;
        // First the clients of the fronts with connections (gRPC) are told to move, while
        // everything still serves: see `crate::grpc::handover`.
        let wait = HAND_OVER_WAIT.min(grace / 3);
        for hand_over in &self.hand_overs {
            hand_over.run(self.hand_over_to.clone(), wait).await;
        }
        self.shutdown.trigger();
        let drained = tokio::time::timeout_at(deadline, &mut self.task)
            .await
            .is_ok();
        if !drained {
            self.task.abort();
        }
        // The fronts were told too (gRPC sends GOAWAY): a moment for that to go out, not the
        // whole grace, since a client's bi-stream lasts until the client closes it.
        let fronts_deadline = deadline.min(tokio::time::Instant::now() + FRONT_GRACE);
        for mut task in self.front_tasks.drain(..) {
            if tokio::time::timeout_at(fronts_deadline, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
        let flushed = match self.backend.cluster_node() {
            Some(node) => flush_syncs(node, deadline).await,
            None => true,
        };
        if let Some(peer) = self.peer.take() {
            peer.task.abort();
        }
        self.drivers.stop();
        self.prober.stop();
        // After the listener: no new write comes; the ones in flight are answered first.
        if let Some(control) = self.control.take() {
            control.shutdown().await;
        }
        let report = ShutdownReport {
            connections_drained: drained,
            syncs_flushed: flushed,
        };
        tracing::info!(
            connections_drained = drained,
            syncs_flushed = flushed,
            "nacre-server shut down"
        );
        report
    }

    /// Stops serving, and stops the node's drivers. The control plane, if any, is shut down
    /// on a task of the current runtime (use [`RunningServer::shutdown`] to wait for it).
    pub fn stop(mut self) {
        self.task.abort();
        for task in self.front_tasks.drain(..) {
            task.abort();
        }
        if let Some(peer) = self.peer.take() {
            peer.task.abort();
        }
        self.drivers.stop();
        self.prober.stop();
        if let Some(control) = self.control.take() {
            tokio::spawn(async move { control.shutdown().await });
        }
    }
}

/// What [`RunningServer::shutdown`] finished in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every connection finished its request and closed.
    pub connections_drained: bool,
    /// The sync queues to the reachable peers drained (always true for a standalone node).
    pub syncs_flushed: bool,
}

/// Waits until `node` has no sync pending for a peer it can reach, or `deadline`.
async fn flush_syncs(node: &ClusterNode, deadline: tokio::time::Instant) -> bool {
    loop {
        node.wake();
        // The members the mapper counts are the reachable ones.
        let mapper = node.mapper();
        let pending: usize = node.with_core(|core| {
            mapper
                .members()
                .iter()
                .filter(|m| *m != core.id())
                .map(|m| core.pending_for(m))
                .sum()
        });
        if pending == 0 {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(pending, "shutting down with syncs still queued");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

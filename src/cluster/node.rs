//! [`ClusterNode`]: one cluster member on tokio — a [`Registry`] plus the Distro protocol,
//! driven over a [`PeerTransport`].
//!
//! The driver is a loop around [`DistroCore`]: poll it, send what it asks for (each request in
//! its own task, with a timeout on the injected clock), feed the answers back, and sleep on the
//! clock until [`DistroCore::next_wakeup`] or until something arrives. Client operations read
//! the routing state without locking the core, forward to the responsible node, and fall back
//! to applying locally when it cannot be reached.

use super::config::DistroConfig;
use super::control_route::{ControlHandler, ControlRequest};
use super::core::{DistroCore, RoutingView};
use super::dispatch::Dispatch;
use super::error::{ClusterError, MembershipError};
use super::mapper::DistroMapper;
use super::message::{PeerRequest, PeerResponse, RemoteFailure};
use super::node_id::NodeId;
use super::preview::{compute_preview, Preview, PreviewChange, PreviewError, PreviewOptions};
use super::transport::{PeerError, PeerHandler, PeerTransport};
use crate::clock::Clock;
use crate::model::{Instance, InstanceKey, ServiceKey};
use crate::registry::{
    BeatReply, Command, CommandOutput, Registry, RegistryBuilder, RegistryReader,
};
use crate::util::{lock, next_round, TaskSlot};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

struct Inner {
    id: NodeId,
    core: Mutex<DistroCore>,
    routing: RoutingView,
    registry: Registry,
    transport: Arc<dyn PeerTransport>,
    clock: Arc<dyn Clock>,
    config: DistroConfig,
    wake: Arc<Notify>,
    task: TaskSlot,
    /// The member list, to refuse control requests from strangers without the core's lock.
    members: std::collections::BTreeSet<NodeId>,
    /// Where control-plane requests go, when the member runs a control plane.
    control: Option<Arc<dyn ControlHandler>>,
}

/// One cluster member. Cheap to clone; clones share everything.
///
/// Reads go to the local registry ([`ClusterNode::registry`]): AP, so they may lag a write
/// made on another node by up to a sync round. Writes and beats go through the node's own
/// methods, which route them to the responsible member.
#[derive(Clone)]
pub struct ClusterNode {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("id", &self.inner.id)
            .field("ready", &self.inner.routing.is_ready())
            .finish()
    }
}

/// Configures a [`ClusterNode`].
#[must_use]
pub struct ClusterNodeBuilder {
    id: NodeId,
    members: Vec<NodeId>,
    transport: Arc<dyn PeerTransport>,
    config: DistroConfig,
    registry: RegistryBuilder,
    control: Option<Arc<dyn ControlHandler>>,
}

impl ClusterNodeBuilder {
    /// Distro timing and batching.
    pub fn config(mut self, config: DistroConfig) -> Self {
        self.config = config;
        self
    }
    /// The registry's settings (clock, beat timing, limits). Its origin is set from the node
    /// id.
    pub fn registry(mut self, registry: RegistryBuilder) -> Self {
        self.registry = registry;
        self
    }
    /// The clock the node and its registry read (default: the system clock). Shorthand for
    /// setting it on [`ClusterNodeBuilder::registry`]'s builder; call it after that.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.registry = self.registry.clock(clock);
        self
    }
    /// The clock, already shared (as [`crate::transport::memory::MemoryNetwork::new`] takes
    /// it).
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.registry = self.registry.shared_clock(clock);
        self
    }
    /// The member's control plane: every [`PeerRequest::Control`] a member of the list sends
    /// is handed to it (without one, such requests are answered
    /// [`ControlReply::Unavailable`](super::ControlReply::Unavailable)).
    pub fn control(mut self, handler: Arc<dyn ControlHandler>) -> Self {
        self.control = Some(handler);
        self
    }
    /// Builds the node. Call [`ClusterNode::start`] on a tokio runtime to run it.
    ///
    /// Fails with [`MembershipError::NotAMember`] when the member list does not name the
    /// node's own id.
    pub fn build(self) -> Result<ClusterNode, MembershipError> {
        let registry = self.registry.origin(self.id.origin()).build();
        let clock = registry.clock().clone();
        let core = DistroCore::new(
            self.id.clone(),
            &self.members,
            registry.clone(),
            self.config,
            clock.now(),
        )?;
        let routing = core.routing();
        let members = self.members.iter().cloned().collect();
        let wake = Arc::new(Notify::new());
        let w = wake.clone();
        registry
            .store()
            .add_sink(Arc::new(move |_: &Arc<crate::store::ServiceSnapshot>| {
                w.notify_one()
            }));
        Ok(ClusterNode {
            inner: Arc::new(Inner {
                id: self.id,
                core: Mutex::new(core),
                routing,
                registry,
                transport: self.transport,
                clock,
                config: self.config,
                wake,
                task: TaskSlot::default(),
                members,
                control: self.control,
            }),
        })
    }
}

impl ClusterNode {
    /// A node `id` of the static member list `members` (which must name `id`: see
    /// [`ClusterNodeBuilder::build`]), reaching peers through `transport`.
    pub fn builder(
        id: NodeId,
        members: Vec<NodeId>,
        transport: Arc<dyn PeerTransport>,
    ) -> ClusterNodeBuilder {
        ClusterNodeBuilder {
            id,
            members,
            transport,
            config: DistroConfig::default(),
            registry: Registry::builder(),
            control: None,
        }
    }

    /// This node's id.
    pub fn id(&self) -> &NodeId {
        &self.inner.id
    }

    /// Every member of the static list, this one included, in id order (healthy or not: see
    /// [`ClusterNode::mapper`] for the healthy ones).
    pub fn members(&self) -> impl Iterator<Item = &NodeId> + '_ {
        self.inner.members.iter()
    }
    /// The local registry's read side: read from it, subscribe to it. Writes go through the
    /// node ([`ClusterNode::execute`], [`ClusterNode::register_instance`], ...), which routes
    /// each to the member responsible for its service.
    pub fn registry(&self) -> &RegistryReader {
        self.inner.registry.reader()
    }
    /// Loads what `persistence` holds into the node's registry and keeps it up to date (see
    /// [`Registry::attach_persistence`]). Call it once, before [`ClusterNode::start`].
    pub fn attach_persistence(
        &self,
        persistence: Arc<dyn crate::persist::Persistence>,
        policy: crate::persist::CommitPolicy,
    ) -> Result<crate::persist::LoadReport, crate::persist::PersistError> {
        self.local_registry()
            .attach_persistence(persistence, policy)
    }

    /// The local registry with its writes, for the node's own parts (the Distro core, the
    /// route's local leg, persistence).
    pub(crate) fn local_registry(&self) -> &Registry {
        &self.inner.registry
    }
    /// Whether the node has loaded its snapshot and serves.
    pub fn is_ready(&self) -> bool {
        self.inner.routing.is_ready()
    }
    /// The current mapper.
    pub fn mapper(&self) -> Arc<DistroMapper> {
        self.inner.routing.mapper()
    }
    /// What `change` would do, now (see [`compute_preview`]): the membership is read under
    /// the protocol lock, the registry after it is released. [`PreviewError::NotReady`] while
    /// the node does not serve.
    pub fn preview(&self, change: &PreviewChange) -> Result<Preview, PreviewError> {
        self.preview_with(change, &PreviewOptions::default())
    }

    /// [`ClusterNode::preview`] with what the host knows besides: subscriber counts, the
    /// instances whose beats stop, the detail limit.
    pub fn preview_with(
        &self,
        change: &PreviewChange,
        options: &PreviewOptions<'_>,
    ) -> Result<Preview, PreviewError> {
        let basis = {
            let core = lock(&self.inner.core);
            if !core.is_ready() {
                return Err(PreviewError::NotReady(self.inner.id.clone()));
            }
            core.preview_basis()
        };
        let now = self.inner.clock.now();
        compute_preview(&basis, self.registry(), change, now, options)
    }

    /// Runs `f` on the protocol state (for tests and diagnostics).
    pub fn with_core<R>(&self, f: impl FnOnce(&DistroCore) -> R) -> R {
        f(&lock(&self.inner.core))
    }

    /// Starts the driver on the current tokio runtime. Starting twice does nothing.
    pub fn start(&self) {
        self.inner.task.start(|| drive(self.inner.clone()));
    }

    /// Stops the driver (a crash, as far as peers can tell). Requests still arrive through
    /// [`ClusterNode::receive`] if the transport delivers them.
    pub fn stop(&self) {
        self.inner.task.stop();
    }

    /// Wakes the driver now (after the host changed something it should act on at once).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Executes a [`Command`]: applied here when this member is responsible for its service,
    /// forwarded to the responsible member otherwise, and applied here after all when that
    /// member cannot be reached (AP). The one route of every write; see
    /// [`crate::registry::command`].
    ///
    /// With a persistence attached, a write that touches persistent data answers once it is on
    /// disk on the member that applied it (see [`crate::persist`]).
    pub async fn execute(&self, command: Command) -> Result<CommandOutput, ClusterError> {
        let inner = &self.inner;
        let wait = inner.registry.disk_wait(&command);
        let route = inner.routing.route(command.service());
        let out = match Dispatch::begin(route, &inner.id, &inner.registry, command) {
            Dispatch::Done(result) => result,
            Dispatch::Forward(forwarding) => {
                let answer = send(inner, forwarding.owner(), forwarding.request()).await;
                forwarding.complete(&inner.registry, answer)
            }
        }?;
        // Applied here (responsible, or the AP fallback): wait for this member's commit. When
        // the owner applied it, it waited for its own before it answered, and this returns at
        // once unless replication brought changes of the service that are still pending.
        wait.done(&inner.registry).await?;
        Ok(out)
    }

    /// Registers an instance (see [`Registry::register_instance`]). Returns the revision on
    /// the node that applied it.
    pub async fn register_instance(
        &self,
        service: &ServiceKey,
        instance: Instance,
    ) -> Result<u64, ClusterError> {
        let command = Command::register(service, instance);
        Ok(self.execute(command).await?.into_revision()?)
    }

    /// Deregisters an instance; returns whether it was registered.
    pub async fn deregister_instance(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
    ) -> Result<bool, ClusterError> {
        let command = Command::deregister(service, instance);
        Ok(self.execute(command).await?.into_deregistered()?)
    }

    /// A light heartbeat; an unknown instance answers `InstanceNotFound`.
    pub async fn heartbeat(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
    ) -> Result<BeatReply, ClusterError> {
        let command = Command::light_beat(service, instance);
        Ok(self.execute(command).await?.into_beat()?)
    }

    /// A heartbeat carrying the instance's data, which re-registers it if it is unknown.
    pub async fn heartbeat_with(
        &self,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<BeatReply, ClusterError> {
        let command = Command::beat_with(service, instance);
        Ok(self.execute(command).await?.into_beat()?)
    }
}

#[async_trait::async_trait]
impl PeerHandler for ClusterNode {
    /// A forwarded write that touches persistent data is answered once this member's commit
    /// has it on disk; the wait blocks the calling thread (the HTTP peer route runs this on
    /// the blocking pool), after the protocol lock is released.
    fn receive(&self, from: &NodeId, request: PeerRequest) -> PeerResponse {
        let now = self.inner.clock.now();
        let wait = match &request {
            PeerRequest::Forward(c) => Some(self.inner.registry.disk_wait(c)),
            _ => None,
        };
        let response = lock(&self.inner.core).handle(from, request, now);
        self.inner.wake.notify_one();
        match (wait, response) {
            (Some(wait), PeerResponse::Forwarded(Ok(out))) => {
                match wait.done_blocking(&self.inner.registry) {
                    Ok(()) => PeerResponse::Forwarded(Ok(out)),
                    Err(e) => {
                        PeerResponse::Forwarded(Err(RemoteFailure::NotPersisted(e.to_string())))
                    }
                }
            }
            (_, response) => response,
        }
    }

    /// Hands a control request from a member of the list to the control plane, if the node
    /// has one; a stranger's is refused as every other request of a stranger is.
    async fn receive_control(&self, from: &NodeId, request: ControlRequest) -> PeerResponse {
        if !self.inner.members.contains(from) || *from == self.inner.id {
            return PeerResponse::Rejected(format!("{from} is not a member of this cluster"));
        }
        match &self.inner.control {
            Some(control) => PeerResponse::Control(control.receive(from, request).await),
            None => PeerResponse::Control(super::control_route::unavailable()),
        }
    }
}

async fn send(inner: &Inner, to: &NodeId, request: PeerRequest) -> Result<PeerResponse, PeerError> {
    let deadline = inner.clock.now() + inner.config.request_timeout;
    tokio::select! {
        answer = inner.transport.send(to, request) => answer,
        () = inner.clock.sleep_until(deadline) => Err(PeerError::Timeout(to.clone())),
    }
}

async fn drive(inner: Arc<Inner>) {
    loop {
        let now = inner.clock.now();
        let (out, next) = {
            let mut core = lock(&inner.core);
            let out = core.poll(now);
            (out, core.next_wakeup())
        };
        for o in out {
            let inner = inner.clone();
            tokio::spawn(async move {
                let answer = send(&inner, &o.to, o.request).await;
                let now = inner.clock.now();
                lock(&inner.core).on_response(o.id, answer, now);
                inner.wake.notify_one();
            });
        }
        next_round(&*inner.clock, now, Some(next), &inner.wake).await;
    }
}

//! [`MemoryClientTransport`]: a [`ClientTransport`] that calls nodes in the same process
//! (plain [`Registry`] nodes or [`ClusterNode`]s), with fault injection.
//!
//! It is a front like any other, only without a wire: writes and beats go through the front
//! layer's [`Backend::execute`] (so on a cluster member they are routed to the member
//! responsible for the service, exactly as over HTTP), queries are answered by
//! [`ServiceAnswer`], and pushes come from a [`PushHub`] per node. So a
//! [`crate::NamingClient`] sees the same answers over this transport as over HTTP.
//!
//! It knows a list of nodes and talks to one at a time, the *active* node. When the active
//! node is unreachable, or a cluster member answers that it does not serve yet, it moves on to
//! the next reachable one in list order (wrapping around) and stays there, as the Nacos client
//! moves along its server list. Plain registries do not replicate to each other: after a
//! failover to one of them the new node knows nothing of the client, answers its next beat
//! "not found", and the client's redo registers everything there. Cluster members replicate.
//!
//! Pushes: [`PushTransport::subscribe`] subscribes the client's [`PushSink`] on the active
//! node's hub (merge window 0: every change is pushed at once). A node that becomes
//! unreachable, or is replaced ([`Self::replace_node`]: a restart that lost everything),
//! forgets its subscribers, as a real server would; the client subscribes again before its
//! next pull.
//!
//! Faults for tests: [`Self::set_reachable`] takes a node down or up,
//! [`Self::set_push_enabled`] drops every push (so only pulls update clients),
//! [`Self::replace_node`] restarts a node with empty state.

use crate::cluster::{ClusterError, ClusterNode};
use crate::front::drain::{DrainConfig, Drainer};
use crate::front::push::{AckId, PushConfig, PushHub, PushResult, PushTarget, TargetKey};
use crate::front::{Backend, ErrorClass, ServiceAnswer};
use crate::model::{Instance, ServiceKey};
use crate::protocol::{
    BeatAnswer, BeatInfo, BeatTransport, ClientTransport, DrainAction, DrainReport, PushSink,
    PushTransport, ServiceInfo, ServiceListQuery, ServiceQuery, Taken, TransportError,
    DEFAULT_CACHE_MILLIS,
};
use crate::registry::{Command, CommandOutput, Registry, RegistryReader, ServiceList};
use crate::util::lock;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

struct Node {
    backend: Backend,
    reachable: bool,
    /// Bumped by [`MemoryClientTransport::replace_node`], so a subscription made on the old
    /// node is known to be gone.
    generation: u64,
    /// The node's push hub, made at its first subscriber; dropped (with every subscriber) when
    /// the node goes down or is replaced.
    hub: Option<PushHub>,
}

/// Where a push subscription is installed.
struct Installed {
    node: usize,
    generation: u64,
}

struct Subscription {
    sink: PushSink,
    installed: Option<Installed>,
}

struct State {
    nodes: Vec<Node>,
    active: usize,
    /// Keyed by service and [`PushSink::id`], so clients sharing the transport stay apart.
    subscriptions: HashMap<(ServiceKey, u64), Subscription>,
}

struct Inner {
    state: Mutex<State>,
    push_enabled: Arc<AtomicBool>,
    cache_millis: AtomicU64,
}

/// A client's sink behind the transport's "network": pushes are dropped while pushes are
/// disabled. A push a drain waits on counts once the client took it (its cache holds it, its
/// listeners returned: [`crate::client::Receipt`]), so a drain waits for the client to act.
struct SinkTarget {
    sink: PushSink,
    enabled: Arc<AtomicBool>,
}

impl PushTarget for SinkTarget {
    fn key(&self) -> TargetKey {
        PushTarget::key(&self.sink)
    }
    fn describe(&self) -> crate::front::push::TargetDetails {
        self.sink.describe()
    }
    fn push(&self, info: &ServiceInfo, ack: AckId) -> PushResult {
        if self.enabled.load(Ordering::Acquire) {
            PushTarget::push(&self.sink, info, ack)
        } else {
            PushResult::Delivered
        }
    }
    fn push_taking(&self, info: &ServiceInfo, ack: AckId) -> (PushResult, Option<Taken>) {
        if self.enabled.load(Ordering::Acquire) {
            PushTarget::push_taking(&self.sink, info, ack)
        } else {
            // Dropped on the "network": nobody took it.
            (PushResult::Delivered, None)
        }
    }
}

/// See the module documentation. Cheap to clone; clones share nodes, faults and
/// subscriptions, so a test keeps one clone to inject faults while a client uses another.
///
/// ```
/// use nacre::transport::memory::MemoryClientTransport;
/// use nacre::Registry;
/// let a = Registry::default();
/// let b = Registry::default();
/// let transport = MemoryClientTransport::cluster(vec![a, b]);
/// assert_eq!(transport.active_node(), Some(0));
/// transport.set_reachable(0, false);
/// assert_eq!(transport.active_node(), Some(1));
/// transport.set_reachable(1, false);
/// assert_eq!(transport.active_node(), None);
/// ```
#[derive(Clone)]
pub struct MemoryClientTransport {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MemoryClientTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryClientTransport")
            .field("nodes", &state.nodes.len())
            .field("active", &state.active)
            .field(
                "reachable",
                &state.nodes.iter().map(|n| n.reachable).collect::<Vec<_>>(),
            )
            .field("subscriptions", &state.subscriptions.len())
            .finish()
    }
}

impl MemoryClientTransport {
    /// A transport to one node.
    pub fn new(node: Registry) -> Self {
        Self::cluster(vec![node])
    }

    /// A transport to several plain registries, tried in list order. With no nodes, every
    /// call answers [`TransportError::Unreachable`].
    pub fn cluster(nodes: Vec<Registry>) -> Self {
        Self::from_backends(nodes.into_iter().map(Backend::from))
    }

    /// A transport to the members of a cluster, tried in list order. Writes and beats are
    /// routed by the member they reach; reads come from that member's registry.
    pub fn cluster_nodes(nodes: Vec<ClusterNode>) -> Self {
        Self::from_backends(nodes.into_iter().map(Backend::from))
    }

    fn from_backends(nodes: impl Iterator<Item = Backend>) -> Self {
        let nodes = nodes
            .map(|backend| Node {
                backend,
                reachable: true,
                generation: 0,
                hub: None,
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    nodes,
                    active: 0,
                    subscriptions: HashMap::new(),
                }),
                push_enabled: Arc::new(AtomicBool::new(true)),
                cache_millis: AtomicU64::new(DEFAULT_CACHE_MILLIS),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    /// Takes node `index` down (`false`) or up (`true`). A node taken down forgets its push
    /// subscribers. Returns whether there is such a node.
    pub fn set_reachable(&self, index: usize, reachable: bool) -> bool {
        let mut state = self.lock();
        let Some(node) = state.nodes.get_mut(index) else {
            return false;
        };
        node.reachable = reachable;
        if !reachable {
            forget_subscribers_of(&mut state, index);
        }
        true
    }

    /// Replaces node `index` with `registry`: a restart that lost every registration and every
    /// push subscriber. The node is reachable afterwards. Returns whether there is such a node.
    pub fn replace_node(&self, index: usize, registry: Registry) -> bool {
        let mut state = self.lock();
        let Some(node) = state.nodes.get_mut(index) else {
            return false;
        };
        node.backend = Backend::Standalone(registry);
        node.reachable = true;
        node.generation += 1;
        forget_subscribers_of(&mut state, index);
        true
    }

    /// Node `index`'s registry, reachable or not.
    pub fn node(&self, index: usize) -> Option<RegistryReader> {
        self.lock()
            .nodes
            .get(index)
            .map(|n| n.backend.registry().clone())
    }

    /// The node the next call goes to, if any is reachable.
    pub fn active_node(&self) -> Option<usize> {
        self.pick().ok().map(|(index, _)| index)
    }

    /// Turns pushes on or off (default on). Off, every push is dropped, as if the network lost
    /// it; subscriptions stay in place.
    pub fn set_push_enabled(&self, enabled: bool) {
        self.inner.push_enabled.store(enabled, Ordering::Release);
    }

    /// The `cacheMillis` answered with every [`ServiceInfo`] (default 10 000): how often
    /// clients pull.
    pub fn set_cache_millis(&self, millis: u64) {
        self.inner.cache_millis.store(millis, Ordering::Relaxed);
    }

    fn cache_millis(&self) -> u64 {
        self.inner.cache_millis.load(Ordering::Relaxed)
    }

    /// Push subscriptions installed on nodes right now.
    pub fn installed_subscriptions(&self) -> usize {
        self.lock()
            .subscriptions
            .values()
            .filter(|s| s.installed.is_some())
            .count()
    }

    /// Executes a write on the active node, moving on to the next reachable node while the one
    /// it reaches does not serve (a cluster member still starting, or unable to reach the
    /// responsible member).
    async fn execute(&self, command: Command) -> Result<CommandOutput, TransportError> {
        let count = self.lock().nodes.len();
        let mut last = None;
        for _ in 0..count.max(1) {
            let (index, backend) = self.pick()?;
            let write = backend.execute(command.clone());
            match crate::timeline::with_origin(crate::timeline::Origin::front("in-memory"), write)
                .await
            {
                Ok(out) => return Ok(out),
                Err(e) if ErrorClass::of(&e) == ErrorClass::Unavailable => {
                    last = Some(transport_error(e));
                    let mut state = self.lock();
                    state.active = (index + 1) % count.max(1);
                }
                Err(e) => return Err(transport_error(e)),
            }
        }
        Err(last.unwrap_or_else(|| TransportError::Unreachable {
            reason: "no node serves".into(),
        }))
    }

    /// The active node, moving on to the next reachable one if it is down.
    fn pick(&self) -> Result<(usize, Backend), TransportError> {
        let mut state = self.lock();
        pick_in(&mut state).map(|(i, node)| (i, node.backend.clone()))
    }
}

fn pick_in(state: &mut State) -> Result<(usize, &mut Node), TransportError> {
    let count = state.nodes.len();
    let found = (0..count)
        .map(|step| (state.active + step) % count)
        .find(|&i| state.nodes[i].reachable);
    match found {
        Some(index) => {
            state.active = index;
            Ok((index, &mut state.nodes[index]))
        }
        None => Err(TransportError::Unreachable {
            reason: format!("all {count} in-memory node(s) are down"),
        }),
    }
}

/// A front error as the client sees it: the registry's own refusal stays typed, a node that
/// does not serve is "unreachable", anything else carries the class's HTTP status, as the HTTP
/// front would answer it.
fn transport_error(err: ClusterError) -> TransportError {
    match err {
        ClusterError::Registry(e) => TransportError::Registry(e),
        other => match ErrorClass::of(&other) {
            ErrorClass::Unavailable => TransportError::Unreachable {
                reason: other.to_string(),
            },
            class => TransportError::Server {
                code: class.http_status(),
                message: other.to_string(),
            },
        },
    }
}

fn forget_subscribers_of(state: &mut State, index: usize) {
    if let Some(node) = state.nodes.get_mut(index) {
        node.hub = None;
    }
    for sub in state.subscriptions.values_mut() {
        if sub.installed.as_ref().is_some_and(|i| i.node == index) {
            sub.installed = None;
        }
    }
}

fn uninstall(nodes: &[Node], service: &ServiceKey, sub: &mut Subscription) {
    let Some(old) = sub.installed.take() else {
        return;
    };
    let Some(node) = nodes.get(old.node) else {
        return;
    };
    if node.generation == old.generation {
        if let Some(hub) = &node.hub {
            hub.unsubscribe(service, &[], &PushTarget::key(&sub.sink));
        }
    }
}

#[async_trait]
impl ClientTransport for MemoryClientTransport {
    async fn register_instance(
        &self,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<(), TransportError> {
        self.execute(Command::register(service, instance.clone()))
            .await
            .map(drop)
    }

    async fn batch_register_instance(
        &self,
        service: &ServiceKey,
        instances: &[Instance],
    ) -> Result<(), TransportError> {
        self.execute(Command::batch_register(service, instances.to_vec()))
            .await
            .map(drop)
    }

    async fn deregister_instance(
        &self,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<(), TransportError> {
        self.execute(Command::deregister(service, &instance.key()))
            .await
            .map(drop)
    }

    async fn drain_instance(
        &self,
        service: &ServiceKey,
        instance: &Instance,
        action: DrainAction,
        wait: Duration,
    ) -> Result<DrainReport, TransportError> {
        let (index, backend) = self.pick()?;
        let hub = self.lock().nodes.get(index).and_then(|n| n.hub.clone());
        let drainer = Drainer::new(hub.into_iter().collect(), DrainConfig::default())
            .with_listeners(backend.registry().clone());
        let wait = drainer
            .wait(
                Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
                None,
            )
            .map_err(|e| TransportError::Server {
                code: e.class().http_status(),
                message: e.to_string(),
            })?;
        let key = instance.key();
        let command = match action {
            DrainAction::Deregister => Command::deregister(service, &key),
            DrainAction::Disable => {
                let off = crate::InstanceUpdate {
                    enabled: Some(false),
                    ..Default::default()
                };
                Command::update(service, &key, off)
            }
        };
        let write = async {
            let write = backend.execute(command);
            crate::timeline::with_origin(crate::timeline::Origin::front("in-memory"), write)
                .await
                .map_err(transport_error)
        };
        let (_, report) = drainer.around(service, &key, wait, write).await?;
        Ok(report)
    }

    async fn query_service(&self, query: &ServiceQuery) -> Result<ServiceInfo, TransportError> {
        let (_, backend) = self.pick()?;
        Ok(ServiceAnswer::new(backend.registry(), query, self.cache_millis()).to_info())
    }

    async fn list_services(&self, query: &ServiceListQuery) -> Result<ServiceList, TransportError> {
        let (_, backend) = self.pick()?;
        Ok(backend.registry().get_service_list(
            &query.namespace,
            &query.group,
            query.page_no,
            query.page_size,
        ))
    }

    fn beats(&self) -> Option<&dyn BeatTransport> {
        Some(self)
    }

    fn pushes(&self) -> Option<&dyn PushTransport> {
        Some(self)
    }
}

#[async_trait]
impl BeatTransport for MemoryClientTransport {
    async fn send_beat(&self, beat: &BeatInfo) -> Result<BeatAnswer, TransportError> {
        let command = Command::light_beat(&beat.service, &beat.instance.key());
        let count = self.lock().nodes.len();
        for _ in 0..count.max(1) {
            let (index, backend) = self.pick()?;
            match backend.beat(command.clone()).await {
                Ok(answer) => return Ok(answer),
                Err(e) if ErrorClass::of(&e) == ErrorClass::Unavailable => {
                    let mut state = self.lock();
                    state.active = (index + 1) % count.max(1);
                }
                Err(e) => return Err(transport_error(e)),
            }
        }
        Err(TransportError::Unreachable {
            reason: "no node serves".into(),
        })
    }
}

#[async_trait]
impl PushTransport for MemoryClientTransport {
    async fn subscribe(
        &self,
        service: &ServiceKey,
        pushes: &PushSink,
    ) -> Result<(), TransportError> {
        let cache_millis = self.cache_millis();
        let mut state = self.lock();
        // Subscriptions of clients that are gone are dropped here.
        let closed: Vec<(ServiceKey, u64)> = state
            .subscriptions
            .iter()
            .filter(|(_, sub)| sub.sink.is_closed())
            .map(|(k, _)| k.clone())
            .collect();
        for key in closed {
            if let Some(mut sub) = state.subscriptions.remove(&key) {
                uninstall(&state.nodes, &key.0, &mut sub);
            }
        }
        let (index, node) = pick_in(&mut state)?;
        let generation = node.generation;
        let hub = node
            .hub
            .get_or_insert_with(|| {
                let config = PushConfig {
                    merge_window: Duration::ZERO,
                    cache_millis,
                    ..PushConfig::default()
                };
                let hub = PushHub::named(node.backend.registry().clone(), config, "in-memory");
                hub.start();
                hub
            })
            .clone();
        let key = (service.clone(), pushes.id());
        let current = state.subscriptions.get(&key).is_some_and(|sub| {
            sub.installed
                .as_ref()
                .is_some_and(|i| i.node == index && i.generation == generation)
        });
        if current {
            return Ok(());
        }
        let mut sub = state.subscriptions.remove(&key).unwrap_or(Subscription {
            sink: pushes.clone(),
            installed: None,
        });
        uninstall(&state.nodes, service, &mut sub);
        let target = SinkTarget {
            sink: pushes.clone(),
            enabled: self.inner.push_enabled.clone(),
        };
        if !hub.subscribe(service, &[], Arc::new(target)) {
            state.subscriptions.insert(key, sub);
            return Err(TransportError::Server {
                code: ErrorClass::Unavailable.http_status(),
                message: "the node's push hub is full".into(),
            });
        }
        sub.installed = Some(Installed {
            node: index,
            generation,
        });
        state.subscriptions.insert(key, sub);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        service: &ServiceKey,
        pushes: &PushSink,
    ) -> Result<(), TransportError> {
        let mut state = self.lock();
        if let Some(mut sub) = state.subscriptions.remove(&(service.clone(), pushes.id())) {
            uninstall(&state.nodes, service, &mut sub);
        }
        Ok(())
    }
}

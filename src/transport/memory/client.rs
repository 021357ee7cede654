//! [`MemoryClientTransport`]: a [`ClientTransport`] that calls [`Registry`] nodes in the same
//! process, with fault injection.
//!
//! It knows a list of nodes and talks to one at a time, the *active* node. When the active
//! node is unreachable it moves on to the next reachable one in list order (wrapping around)
//! and stays there, as the Nacos client moves along its server list. Until the cluster module
//! exists the nodes do not replicate to each other: after a failover the new node knows
//! nothing of the client, answers its next beat "not found", and the client's redo registers
//! everything there.
//!
//! Pushes: [`ClientTransport::subscribe`] subscribes to the active node's events
//! ([`Registry::subscribe`]) and forwards each as a [`ServiceInfo`] to the client's
//! [`PushSink`]. A node that becomes unreachable, or is replaced ([`Self::replace_node`]: a
//! restart that lost everything), forgets its subscribers, as a real server would; the client
//! subscribes again before its next pull.
//!
//! Against a cluster ([`Self::cluster_nodes`]) writes and beats go through each
//! [`ClusterNode`]'s own routing, so they reach the member responsible for the service (or are
//! applied locally when it cannot be reached), while reads and pushes use the node's local
//! registry, as a Nacos client reading from any server does. A node that is still loading its
//! snapshot answers "not ready", and the call moves on to the next reachable node.
//!
//! Faults for tests: [`Self::set_reachable`] takes a node down or up,
//! [`Self::set_push_enabled`] drops every push (so only pulls update clients),
//! [`Self::replace_node`] restarts a node with empty state.

use crate::client::{
    BeatAnswer, BeatInfo, ClientTransport, PushSink, ServiceInfo, ServiceListQuery, ServiceQuery,
    TransportError, DEFAULT_CACHE_MILLIS,
};
use crate::clock::Timestamp;
use crate::cluster::{ClusterError, ClusterNode};
use crate::events::{NamingEvent, SubscriptionId};
use crate::model::{Instance, ServiceKey};
use crate::node::{Registry, ServiceList};
use crate::registry::{InstancesView, RegistryError};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

struct Node {
    registry: Registry,
    /// Set when the node is a cluster member: writes go through its routing.
    cluster: Option<ClusterNode>,
    reachable: bool,
    /// Bumped by [`MemoryClientTransport::replace_node`], so a subscription made on the old
    /// registry is known to be gone.
    generation: u64,
}

/// Where a push subscription is installed.
struct Installed {
    node: usize,
    generation: u64,
    registry: Registry,
    id: SubscriptionId,
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

impl Drop for Inner {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        for sub in state.subscriptions.values_mut() {
            uninstall(sub);
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

fn uninstall(sub: &mut Subscription) {
    if let Some(old) = sub.installed.take() {
        old.registry.unsubscribe(old.id);
    }
}

impl MemoryClientTransport {
    /// A transport to one node.
    pub fn new(node: Registry) -> Self {
        Self::cluster(vec![node])
    }

    /// A transport to several nodes, tried in list order. With no nodes, every call answers
    /// [`TransportError::Unreachable`].
    pub fn cluster(nodes: Vec<Registry>) -> Self {
        let nodes = nodes
            .into_iter()
            .map(|registry| Node {
                registry,
                cluster: None,
                reachable: true,
                generation: 0,
            })
            .collect();
        Self::from_nodes(nodes)
    }

    /// A transport to the members of a cluster, tried in list order. Writes and beats are
    /// routed by the node they reach; reads come from that node's registry.
    pub fn cluster_nodes(nodes: Vec<ClusterNode>) -> Self {
        let nodes = nodes
            .into_iter()
            .map(|node| Node {
                registry: node.registry().clone(),
                cluster: Some(node),
                reachable: true,
                generation: 0,
            })
            .collect();
        Self::from_nodes(nodes)
    }

    fn from_nodes(nodes: Vec<Node>) -> Self {
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
        // Every critical section leaves the state consistent (single assignments and map
        // operations), so a poisoned lock is still usable.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
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
        node.registry = registry;
        node.reachable = true;
        node.generation += 1;
        forget_subscribers_of(&mut state, index);
        true
    }

    /// Node `index`'s registry, reachable or not.
    pub fn node(&self, index: usize) -> Option<Registry> {
        self.lock().nodes.get(index).map(|n| n.registry.clone())
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

    /// Push subscriptions installed on nodes right now.
    pub fn installed_subscriptions(&self) -> usize {
        self.lock()
            .subscriptions
            .values()
            .filter(|s| s.installed.is_some())
            .count()
    }

    /// Runs a write on the active cluster member, moving on to the next reachable member while
    /// the one it reaches is still starting. `None` when the nodes are plain registries.
    async fn on_cluster<T, F, Fut>(&self, op: F) -> Option<Result<T, TransportError>>
    where
        F: Fn(ClusterNode) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClusterError>>,
    {
        let count = self.lock().nodes.len();
        let mut last = None;
        for _ in 0..count.max(1) {
            let picked = {
                let mut state = self.lock();
                match pick_in(&mut state) {
                    Ok((i, node)) => node.cluster.clone().map(|c| (i, c)),
                    Err(e) => return Some(Err(e)),
                }
            };
            let (index, node) = picked?;
            match op(node).await {
                Ok(v) => return Some(Ok(v)),
                Err(ClusterError::NotReady(id) | ClusterError::Unreachable(id)) => {
                    last = Some(TransportError::Unreachable {
                        reason: format!("cluster node {id} does not serve"),
                    });
                    let mut state = self.lock();
                    state.active = (index + 1) % count.max(1);
                }
                Err(other) => return Some(Err(cluster_error(other))),
            }
        }
        Some(Err(last.unwrap_or_else(|| TransportError::Unreachable {
            reason: "no cluster node serves".into(),
        })))
    }

    /// The active node, moving on to the next reachable one if it is down.
    fn pick(&self) -> Result<(usize, Registry), TransportError> {
        let mut state = self.lock();
        pick_in(&mut state).map(|(i, node)| (i, node.registry.clone()))
    }

    fn info(&self, registry: &Registry, view: &InstancesView) -> ServiceInfo {
        service_info(
            view,
            self.inner.cache_millis.load(Ordering::Relaxed),
            registry.clock().now(),
        )
    }
}

fn pick_in(state: &mut State) -> Result<(usize, &Node), TransportError> {
    let count = state.nodes.len();
    let found = (0..count)
        .map(|step| (state.active + step) % count)
        .find(|&i| state.nodes[i].reachable);
    match found {
        Some(index) => {
            state.active = index;
            Ok((index, &state.nodes[index]))
        }
        None => Err(TransportError::Unreachable {
            reason: format!("all {count} in-memory node(s) are down"),
        }),
    }
}

fn cluster_error(err: ClusterError) -> TransportError {
    match err {
        ClusterError::Registry(e) => TransportError::Registry(e),
        ClusterError::NotReady(id) | ClusterError::Unreachable(id) => TransportError::Unreachable {
            reason: format!("cluster node {id} does not serve"),
        },
        ClusterError::Remote { node, message } => TransportError::Server {
            code: 500,
            message: format!("{node}: {message}"),
        },
        other => TransportError::Malformed {
            reason: other.to_string(),
        },
    }
}

fn forget_subscribers_of(state: &mut State, index: usize) {
    for sub in state.subscriptions.values_mut() {
        if sub.installed.as_ref().is_some_and(|i| i.node == index) {
            uninstall(sub);
        }
    }
}

fn service_info(view: &InstancesView, cache_millis: u64, now: Timestamp) -> ServiceInfo {
    ServiceInfo {
        service: view.service().clone(),
        clusters: view.clusters().to_vec(),
        hosts: view.to_vec(),
        cache_millis,
        last_ref_time: now.as_millis(),
        revision: view.revision(),
        reach_protection_threshold: view.protect_threshold_reached(),
    }
}

#[async_trait]
impl ClientTransport for MemoryClientTransport {
    async fn register_instance(
        &self,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<(), TransportError> {
        let routed = self
            .on_cluster(|n| {
                let (service, instance) = (service.clone(), instance.clone());
                async move { n.register_instance(&service, instance).await }
            })
            .await;
        if let Some(result) = routed {
            return result.map(|_| ());
        }
        let (_, node) = self.pick()?;
        node.register_instance(service, instance.clone())?;
        Ok(())
    }

    async fn batch_register_instance(
        &self,
        service: &ServiceKey,
        instances: &[Instance],
    ) -> Result<(), TransportError> {
        let routed = self
            .on_cluster(|n| {
                let (service, instances) = (service.clone(), instances.to_vec());
                async move { n.batch_register_instance(&service, instances).await }
            })
            .await;
        if let Some(result) = routed {
            return result.map(|_| ());
        }
        let (_, node) = self.pick()?;
        node.batch_register_instance(service, instances.to_vec())?;
        Ok(())
    }

    async fn deregister_instance(
        &self,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<(), TransportError> {
        let routed = self
            .on_cluster(|n| {
                let (service, key) = (service.clone(), instance.key());
                async move { n.deregister_instance(&service, &key).await }
            })
            .await;
        if let Some(result) = routed {
            return result.map(|_| ());
        }
        let (_, node) = self.pick()?;
        node.deregister_instance(service, &instance.key());
        Ok(())
    }

    async fn send_beat(&self, beat: &BeatInfo) -> Result<BeatAnswer, TransportError> {
        let routed = self
            .on_cluster(|n| {
                let (service, key) = (beat.service.clone(), beat.instance.key());
                async move { n.heartbeat(&service, &key).await }
            })
            .await;
        if let Some(result) = routed {
            return match result {
                Ok(reply) => Ok(BeatAnswer::Ok {
                    client_beat_interval: reply.client_beat_interval,
                    light_beat_enabled: reply.light_beat_enabled,
                }),
                Err(TransportError::Registry(RegistryError::InstanceNotFound(_))) => {
                    Ok(BeatAnswer::NotFound)
                }
                Err(e) => Err(e),
            };
        }
        let (_, node) = self.pick()?;
        match node.heartbeat(&beat.service, &beat.instance.key()) {
            Ok(reply) => Ok(BeatAnswer::Ok {
                client_beat_interval: reply.client_beat_interval,
                light_beat_enabled: reply.light_beat_enabled,
            }),
            Err(RegistryError::InstanceNotFound(_)) => Ok(BeatAnswer::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    async fn query_service(&self, query: &ServiceQuery) -> Result<ServiceInfo, TransportError> {
        let (_, node) = self.pick()?;
        let view = if query.healthy_only {
            node.select_instances(&query.service, &query.clusters, true)
        } else {
            node.get_all_instances(&query.service, &query.clusters)
        };
        Ok(self.info(&node, &view))
    }

    async fn list_services(&self, query: &ServiceListQuery) -> Result<ServiceList, TransportError> {
        let (_, node) = self.pick()?;
        Ok(node.get_service_list(
            &query.namespace,
            &query.group,
            query.page_no,
            query.page_size,
        ))
    }

    async fn subscribe(
        &self,
        service: &ServiceKey,
        pushes: &PushSink,
    ) -> Result<(), TransportError> {
        let mut state = self.lock();
        // Subscriptions of clients that are gone are dropped here.
        state.subscriptions.retain(|_, sub| {
            if sub.sink.is_closed() {
                uninstall(sub);
            }
            !sub.sink.is_closed()
        });
        let (index, node) = pick_in(&mut state)?;
        let (registry, generation) = (node.registry.clone(), node.generation);
        let sub = state
            .subscriptions
            .entry((service.clone(), pushes.id()))
            .or_insert_with(|| Subscription {
                sink: pushes.clone(),
                installed: None,
            });
        let current = sub
            .installed
            .as_ref()
            .is_some_and(|i| i.node == index && i.generation == generation);
        if current {
            return Ok(());
        }
        uninstall(sub);
        let sink = pushes.clone();
        let enabled = self.inner.push_enabled.clone();
        let cache_millis = self.inner.cache_millis.load(Ordering::Relaxed);
        // The listener holds the node's clock, not the node: a node must not keep itself alive
        // through its own subscribers.
        let clock = registry.clock().clone();
        let id = registry.subscribe(service, &[], move |event: &NamingEvent| {
            if enabled.load(Ordering::Acquire) {
                // A closed sink means the client is gone; the next `subscribe` call cleans up.
                sink.push(service_info(&event.instances, cache_millis, clock.now()));
            }
        });
        sub.installed = Some(Installed {
            node: index,
            generation,
            registry,
            id,
        });
        Ok(())
    }

    async fn unsubscribe(
        &self,
        service: &ServiceKey,
        pushes: &PushSink,
    ) -> Result<(), TransportError> {
        if let Some(mut sub) = self
            .lock()
            .subscriptions
            .remove(&(service.clone(), pushes.id()))
        {
            uninstall(&mut sub);
        }
        Ok(())
    }
}

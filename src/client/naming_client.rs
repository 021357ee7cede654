//! [`NamingClient`]: the consumer and provider side of the registry, as users of the Nacos
//! `NamingService` know it.

use super::beat::{BeatContext, Registrations};
use super::builder::{ClientConfig, NamingClientBuilder};
use super::cache::{Decision, ServiceCache};
use super::error::ClientError;
use super::failover::{DiskWriter, FailoverStore};
use super::select;
use super::stats::{ClientStats, Progress};
use crate::clock::{Clock, Timestamp};
use crate::events::{Dispatcher, EventListener, SubscriptionId};
use crate::model::{ClusterName, GroupName, Instance, NamespaceId, ServiceKey, ServiceName};
use crate::protocol::{
    ClientTransport, DrainAction, DrainReport, PushReceiver, PushSink, ServiceInfo,
    ServiceListQuery, ServiceQuery, TransportError,
};
use crate::registry::ServiceList;
use crate::util::lock;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// The longest a failing pull waits before trying again (Nacos: 60 s).
const MAX_PULL_BACKOFF: Duration = Duration::from_secs(60);

/// A client of one registry (one node or a cluster, through its [`ClientTransport`]): register
/// instances and keep them alive, discover and watch services.
///
/// Cheap to clone; clones share everything. When the last clone is dropped, the background
/// tasks (beats, pulls, pushes, disk writes) stop; registered instances are not deregistered
/// (as in Nacos, they expire on the server when their beats stop).
///
/// Reads take `subscribe`: with `true` the service is *watched* — kept in the local cache,
/// refreshed by pushes and by a pull every `cacheMillis` — and the read is answered from the
/// cache; with `false` every read asks a server. Either way, when no server answers, reads
/// are served from the cache, then from the failover directory.
///
/// See [`crate::client`] for an example.
#[derive(Clone)]
pub struct NamingClient {
    owner: Arc<Owner>,
}

/// Stops the background tasks when the last [`NamingClient`] clone goes.
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        for task in self.shared.take_tasks() {
            task.abort();
        }
    }
}

/// Why a service is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interest {
    /// A read with `subscribe = true`: watched for the client's lifetime, as in Nacos.
    Reads,
    /// One more listener.
    Listener,
}

struct Watch {
    pull: JoinHandle<()>,
    listeners: usize,
    pinned: bool,
}

struct Shared {
    config: ClientConfig,
    transport: Arc<dyn ClientTransport>,
    clock: Arc<dyn Clock>,
    runtime: Handle,
    progress: Progress,
    cache: ServiceCache,
    dispatcher: Dispatcher,
    registrations: Registrations,
    failover: Option<Arc<FailoverStore>>,
    disk: Option<DiskWriter>,
    pushes: PushSink,
    watches: Mutex<HashMap<ServiceKey, Watch>>,
    subscriptions: Mutex<HashMap<SubscriptionId, ServiceKey>>,
    /// Push, redo and disk tasks.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Set by [`NamingClient::shutdown`].
    closed: AtomicBool,
}

impl std::fmt::Debug for NamingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = &self.owner.shared;
        f.debug_struct("NamingClient")
            .field("namespace", &shared.config.namespace)
            .field("registered", &shared.registrations.len())
            .field("watched", &lock(&shared.watches).len())
            .field("stats", &shared.progress.get())
            .finish_non_exhaustive()
    }
}

impl NamingClient {
    /// Starts configuring a client that talks through `transport`.
    pub fn builder(transport: impl ClientTransport) -> NamingClientBuilder {
        NamingClientBuilder::new(Arc::new(transport))
    }

    /// Starts configuring a client with a transport that is already shared.
    pub fn builder_shared(transport: Arc<dyn ClientTransport>) -> NamingClientBuilder {
        NamingClientBuilder::new(transport)
    }

    pub(crate) fn start(
        config: ClientConfig,
        transport: Arc<dyn ClientTransport>,
        clock: Arc<dyn Clock>,
        cache_dir: Option<PathBuf>,
        delivery_threads: usize,
    ) -> Result<Self, ClientError> {
        let runtime = Handle::try_current().map_err(|_| ClientError::NoRuntime)?;
        let failover = cache_dir
            .map(FailoverStore::open)
            .transpose()?
            .map(Arc::new);
        let progress = Progress::new();
        let mut tasks = Vec::new();
        let disk = failover.as_ref().map(|store| {
            let (writer, task) = DiskWriter::spawn(store.clone(), progress.clone(), &runtime);
            tasks.push(task);
            writer
        });
        let (pushes, push_rx) = PushSink::channel();
        let registrations = Registrations::new(BeatContext {
            transport: transport.clone(),
            clock: clock.clone(),
            progress: progress.clone(),
            default_interval: config.beat_interval,
            runtime: runtime.clone(),
        });
        let shared = Arc::new(Shared {
            cache: ServiceCache::new(config.push_empty_protection),
            config,
            transport,
            clock,
            runtime: runtime.clone(),
            progress,
            dispatcher: Dispatcher::start(delivery_threads),
            registrations,
            failover,
            disk,
            pushes,
            watches: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        });
        tasks.push(runtime.spawn(push_loop(shared.clone(), push_rx)));
        tasks.push(runtime.spawn(redo_loop(shared.clone())));
        *lock(&shared.tasks) = tasks;
        Ok(Self {
            owner: Arc::new(Owner { shared }),
        })
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.owner.shared
    }

    /// The namespace this client works in.
    pub fn namespace(&self) -> &NamespaceId {
        &self.shared().config.namespace
    }

    /// The key of `service` in `group` in this client's namespace, checked.
    pub fn service_key(&self, service: &str, group: &str) -> Result<ServiceKey, ClientError> {
        Ok(ServiceKey::from_parts(
            self.namespace().clone(),
            GroupName::new(group)?,
            ServiceName::new(service)?,
        ))
    }

    // ----- registration -----

    /// Registers `instance` in `service` of `group`. An ephemeral instance then beats until it
    /// is deregistered; if the server ever answers a beat with "not found", everything this
    /// client registered is registered again.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] for a bad name. [`ClientError::Transport`] if the server
    /// refused (nothing is remembered then) or could not be reached; in the latter case the
    /// instance *is* remembered and beating, and it is registered as soon as a server answers.
    /// Deregister it to give up.
    pub async fn register_instance(
        &self,
        service: &str,
        group: &str,
        instance: Instance,
    ) -> Result<(), ClientError> {
        let key = self.open_key(service, group)?;
        self.shared()
            .registrations
            .register(&key, vec![instance], false)
            .await?;
        Ok(())
    }

    /// Registers several instances of one service in one request; each beats on its own. An
    /// empty list does nothing. Errors as [`NamingClient::register_instance`].
    pub async fn batch_register_instance(
        &self,
        service: &str,
        group: &str,
        instances: Vec<Instance>,
    ) -> Result<(), ClientError> {
        let key = self.open_key(service, group)?;
        if instances.is_empty() {
            return Ok(());
        }
        self.shared()
            .registrations
            .register(&key, instances, true)
            .await?;
        Ok(())
    }

    /// Stops the beats of `instance` (its cluster, ip and port name it) and deregisters it.
    /// Deregistering an instance that is not registered is not an error.
    pub async fn deregister_instance(
        &self,
        service: &str,
        group: &str,
        instance: &Instance,
    ) -> Result<(), ClientError> {
        let key = self.open_key(service, group)?;
        self.shared()
            .registrations
            .deregister(&key, instance)
            .await?;
        Ok(())
    }

    /// Takes `instance` out of rotation and returns when it is safe to stop it: `action`
    /// deregisters it (its beats stop, as [`Self::deregister_instance`]) or sets
    /// `enabled=false` (it stays registered and beating, listed to nobody), and the server
    /// waits up to `wait` for every subscriber of the service to take a push without it. The
    /// [`DrainReport`] says how many did, per front, and who did not: stop the instance when
    /// `drained` is true (see [`crate::front::drain`]). Nacos clients have no such call; over
    /// gRPC only deregistrations drain (Nacos' gRPC protocol has no update).
    pub async fn drain_instance(
        &self,
        service: &str,
        group: &str,
        instance: &Instance,
        action: DrainAction,
        wait: std::time::Duration,
    ) -> Result<DrainReport, ClientError> {
        let key = self.open_key(service, group)?;
        Ok(self
            .shared()
            .registrations
            .drain(&key, instance, action, wait)
            .await?)
    }

    // ----- discovery -----

    /// Every instance the server lists for `service` in `clusters` (all if empty), healthy or
    /// not: the enabled ones, as Nacos servers list them (see [`crate::front::ServiceAnswer`]).
    pub async fn get_all_instances(
        &self,
        service: &str,
        group: &str,
        clusters: &[&str],
        subscribe: bool,
    ) -> Result<Vec<Instance>, ClientError> {
        let (key, clusters) = self.target(service, group, clusters)?;
        let info = self.shared().read(&key, subscribe).await?;
        Ok(select::all(&info.hosts, &clusters))
    }

    /// The instances of `service` in `clusters` (all if empty) a consumer may call: enabled,
    /// weight above 0 and, with `healthy_only`, healthy — the same meaning as
    /// [`crate::RegistryReader::select_instances`].
    ///
    /// Unlike the Java client's `selectInstances(healthy = false)`, which lists the unhealthy
    /// instances *only*, `healthy_only = false` lists every usable instance, healthy or not.
    pub async fn select_instances(
        &self,
        service: &str,
        group: &str,
        clusters: &[&str],
        healthy_only: bool,
        subscribe: bool,
    ) -> Result<Vec<Instance>, ClientError> {
        let (key, clusters) = self.target(service, group, clusters)?;
        let info = self.shared().read(&key, subscribe).await?;
        Ok(select::usable_instances(
            &info.hosts,
            &clusters,
            healthy_only,
        ))
    }

    /// One healthy, enabled instance of `service` in `clusters` (all if empty) with weight above
    /// 0, picked at random in proportion to weight.
    ///
    /// # Errors
    /// [`ClientError::NoHealthyInstance`] when there is none, besides the read errors.
    pub async fn select_one_healthy_instance(
        &self,
        service: &str,
        group: &str,
        clusters: &[&str],
        subscribe: bool,
    ) -> Result<Instance, ClientError> {
        let (key, clusters) = self.target(service, group, clusters)?;
        let info = self.shared().read(&key, subscribe).await?;
        select::pick_healthy(&info.hosts, &clusters, fastrand::f64())
            .cloned()
            .ok_or(ClientError::NoHealthyInstance {
                service: key,
                clusters,
            })
    }

    /// One page of the service names in `group`, in name order; `page_no` starts at 1. Always
    /// asks a server.
    pub async fn get_service_list(
        &self,
        page_no: usize,
        page_size: usize,
        group: &str,
    ) -> Result<ServiceList, ClientError> {
        self.check_open()?;
        let query = ServiceListQuery {
            namespace: self.namespace().clone(),
            group: GroupName::new(group)?,
            page_no,
            page_size,
        };
        Ok(self.shared().transport.list_services(&query).await?)
    }

    // ----- events -----

    /// Calls `listener` with the instances of `service` in `clusters` (all if empty) whenever
    /// they really change, by push or pull; first with the current list once it is known. The
    /// service is watched until its last listener is removed (or for good, if it was also read
    /// with `subscribe = true`).
    ///
    /// Events are [`crate::NamingEvent`]s, as from a [`crate::Registry`]; their `revision` is
    /// the client's own count of changes, strictly increasing per listener. Listeners run on
    /// the client's delivery thread, never concurrently with themselves; a panicking listener
    /// is isolated.
    ///
    /// Succeeds even when no server answers: the listener hears of the service when one does
    /// (or at once, from the failover directory).
    pub async fn subscribe(
        &self,
        service: &str,
        group: &str,
        clusters: &[&str],
        listener: impl EventListener,
    ) -> Result<SubscriptionId, ClientError> {
        let (key, clusters) = self.target(service, group, clusters)?;
        let shared = self.shared();
        shared.watch(&key, Interest::Listener).await;
        let id = shared
            .dispatcher
            .subscribe(key.clone(), clusters, Arc::new(listener), || {
                shared.cache.snapshot(&key)
            });
        lock(&shared.subscriptions).insert(id, key.clone());
        if shared.cache.get(&key).is_none() {
            // The first answer reaches the listener through the cache; if no server answers,
            // the pull task keeps trying, so the error needs no other handling here.
            let _ = shared.fetch(&key, true).await;
        }
        Ok(id)
    }

    /// Removes a listener; returns whether it existed. No event starts for it afterwards. When
    /// it was the service's last listener (and the service was never read with
    /// `subscribe = true`), the client stops watching the service.
    pub async fn unsubscribe(&self, id: SubscriptionId) -> bool {
        let shared = self.shared();
        let Some(key) = lock(&shared.subscriptions).remove(&id) else {
            return false;
        };
        shared.dispatcher.unsubscribe(id);
        shared.release_listener(&key).await;
        true
    }

    // ----- observing -----

    /// What the background tasks have done so far.
    pub fn stats(&self) -> ClientStats {
        self.shared().progress.get()
    }

    /// Waits until `pred` holds for the [`ClientStats`], and returns them. With a
    /// [`crate::ManualClock`]: advance the clock, then wait for the effect.
    ///
    /// ```
    /// # use nacre::client::NamingClient;
    /// # use nacre::transport::memory::MemoryClientTransport;
    /// # use nacre::{Instance, ManualClock, Registry};
    /// # use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let clock = ManualClock::new();
    /// let node = Registry::builder().clock(clock.clone()).build();
    /// let client = NamingClient::builder(MemoryClientTransport::new(node))
    ///     .clock(clock.clone())
    ///     .build()
    ///     .unwrap();
    /// client.register_instance("orders", "DEFAULT_GROUP", Instance::new("10.0.0.1", 80).unwrap())
    ///     .await
    ///     .unwrap();
    /// clock.advance(Duration::from_secs(5));
    /// let stats = client.wait_until(|s| s.beats_sent >= 1, Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(stats.beat_failures, 0);
    /// # });
    /// ```
    pub async fn wait_until(
        &self,
        pred: impl FnMut(&ClientStats) -> bool,
        timeout: Duration,
    ) -> Result<ClientStats, ClientError> {
        let progress = &self.shared().progress;
        match progress.wait_until(pred, timeout).await {
            Some(stats) => Ok(stats),
            None => Err(ClientError::WaitTimedOut {
                timeout,
                stats: Box::new(progress.get()),
            }),
        }
    }

    /// Blocks the calling thread until every change so far has reached every listener (or
    /// `timeout` passes); returns whether delivery settled. For tests and orderly shutdown.
    pub fn wait_for_events(&self, timeout: Duration) -> bool {
        self.shared().dispatcher.wait_idle(timeout)
    }

    /// Stops the beats and pulls, waits for a disk write in progress and cancels the push
    /// subscriptions. Registered instances are not deregistered (their beats stop, so the
    /// server expires ephemeral ones). Final: every later call, on this handle or a clone,
    /// answers [`ClientError::Closed`].
    pub async fn shutdown(&self) {
        let shared = self.shared();
        shared.closed.store(true, Ordering::Release);
        let watched = shared.watched();
        let tasks = shared.take_tasks();
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            // Resolves once the task is gone; the error is the cancellation itself.
            let _ = task.await;
        }
        // A disk write already handed to the blocking pool outlives its task: let it end.
        if let Some(disk) = &shared.disk {
            disk.settled().await;
        }
        for key in watched {
            if let Some(p) = shared.transport.pushes() {
                let _ = p.unsubscribe(&key, &shared.pushes).await;
            }
        }
    }

    fn check_open(&self) -> Result<(), ClientError> {
        if self.shared().closed.load(Ordering::Acquire) {
            return Err(ClientError::Closed);
        }
        Ok(())
    }

    /// [`NamingClient::service_key`], for a call that needs the client running.
    fn open_key(&self, service: &str, group: &str) -> Result<ServiceKey, ClientError> {
        self.check_open()?;
        self.service_key(service, group)
    }

    fn target(
        &self,
        service: &str,
        group: &str,
        clusters: &[&str],
    ) -> Result<(ServiceKey, Vec<ClusterName>), ClientError> {
        let key = self.open_key(service, group)?;
        let clusters = clusters
            .iter()
            .map(|c| ClusterName::new(c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((key, clusters))
    }
}

impl Shared {
    fn query(&self, key: &ServiceKey) -> ServiceQuery {
        ServiceQuery {
            service: key.clone(),
            clusters: Vec::new(),
            healthy_only: false,
        }
    }

    /// A read: from the cache (watching the service) or straight from a server, with the
    /// cache and then the failover directory standing in when no server answers.
    async fn read(
        self: &Arc<Self>,
        key: &ServiceKey,
        subscribe: bool,
    ) -> Result<Arc<ServiceInfo>, ClientError> {
        if subscribe {
            self.watch(key, Interest::Reads).await;
            if let Some(info) = self.cache.get(key) {
                return Ok(info);
            }
        }
        self.fetch(key, subscribe).await
    }

    /// Asks a server for `key`, taking the answer into the cache if `into_cache`. When no
    /// server answers, the cached copy (a push may have arrived meanwhile) or else the
    /// failover copy stands in; the failover copy is taken into the cache if the service is
    /// watched.
    async fn fetch(
        &self,
        key: &ServiceKey,
        into_cache: bool,
    ) -> Result<Arc<ServiceInfo>, ClientError> {
        let answer = if into_cache {
            self.refresh(key).await
        } else {
            let query = self.transport.query_service(&self.query(key)).await;
            query.map(|info| Arc::new(super::cache::normalize(info)))
        };
        match answer {
            Ok(info) => Ok(info),
            Err(cause) if cause.is_unreachable() => match self.cache.get(key) {
                Some(info) => Ok(info),
                None => {
                    let info = self.load_failover(key, cause).await?;
                    Ok(self.apply(info, false))
                }
            },
            Err(e) => Err(e.into()),
        }
    }

    /// One query, taken into the cache.
    async fn refresh(&self, key: &ServiceKey) -> Result<Arc<ServiceInfo>, TransportError> {
        let info = self.transport.query_service(&self.query(key)).await?;
        Ok(self.apply(info, true))
    }

    /// Takes an answer into the cache; on a real change, tells listeners and (for answers from
    /// a server) the failover writer. Returns the cached content afterwards.
    fn apply(&self, info: ServiceInfo, from_server: bool) -> Arc<ServiceInfo> {
        self.apply_revision(info, from_server).0
    }

    /// [`Self::apply`], with the cache's revision of the service when it changed.
    fn apply_revision(
        &self,
        info: ServiceInfo,
        from_server: bool,
    ) -> (Arc<ServiceInfo>, Option<u64>) {
        let mut revision = None;
        let applied = self.cache.apply(info, |info, snapshot| {
            revision = Some(snapshot.revision());
            self.dispatcher.publish(snapshot);
            if let (true, Some(disk)) = (from_server, &self.disk) {
                disk.queue(info.clone());
            }
        });
        match applied.decision {
            d if d.is_change() => self.progress.update(|s| s.cache_changes += 1),
            Decision::EmptyIgnored => self.progress.update(|s| s.empty_updates_ignored += 1),
            _ => {}
        }
        (applied.current, revision)
    }

    /// The failover copy of `key`, or [`ClientError::Unavailable`] with `cause`. A failover
    /// file that cannot be read or trusted counts as missing.
    async fn load_failover(
        &self,
        key: &ServiceKey,
        cause: TransportError,
    ) -> Result<ServiceInfo, ClientError> {
        let unavailable = || ClientError::Unavailable {
            service: key.clone(),
            cause: Box::new(cause.clone()),
        };
        let Some(store) = self.failover.clone() else {
            return Err(unavailable());
        };
        let wanted = key.clone();
        let loaded = tokio::task::spawn_blocking(move || store.load(&wanted)).await;
        match loaded {
            Ok(Ok(Some(info))) => {
                self.progress.update(|s| s.failover_reads += 1);
                Ok(info)
            }
            _ => Err(unavailable()),
        }
    }

    /// Makes sure `key` is watched (cache slot, pull task, push subscription) and records
    /// why.
    async fn watch(self: &Arc<Self>, key: &ServiceKey, interest: Interest) {
        let created = {
            let mut watches = lock(&self.watches);
            let created = !watches.contains_key(key);
            let watch = watches.entry(key.clone()).or_insert_with(|| {
                self.cache.watch(key);
                let first = self.clock.now() + self.config.pull_interval;
                Watch {
                    pull: self
                        .runtime
                        .spawn(pull_loop(self.clone(), key.clone(), first)),
                    listeners: 0,
                    pinned: false,
                }
            });
            match interest {
                Interest::Reads => watch.pinned = true,
                Interest::Listener => watch.listeners += 1,
            }
            created
        };
        if created {
            // If no server answers, the pull task renews the subscription on every try.
            if let Some(p) = self.transport.pushes() {
                let _ = p.subscribe(key, &self.pushes).await;
            }
        }
    }

    /// One listener of `key` fewer; stops watching when nothing else needs the service.
    async fn release_listener(&self, key: &ServiceKey) {
        let ended = {
            let mut watches = lock(&self.watches);
            let Some(watch) = watches.get_mut(key) else {
                return;
            };
            watch.listeners = watch.listeners.saturating_sub(1);
            if watch.listeners > 0 || watch.pinned {
                return;
            }
            // Dropped from the cache under the same lock that creates watches, so a concurrent
            // `watch` of this service cannot lose its cache slot.
            self.cache.unwatch(key);
            watches.remove(key)
        };
        if let Some(watch) = ended {
            watch.pull.abort();
            // A `watch` of this service racing with this call may lose its push subscription
            // here; its first pull renews it.
            if let Some(p) = self.transport.pushes() {
                let _ = p.unsubscribe(key, &self.pushes).await;
            }
        }
    }

    fn watched(&self) -> Vec<ServiceKey> {
        lock(&self.watches).keys().cloned().collect()
    }

    /// The pull interval for `key`: the server's `cacheMillis`, else the configured default.
    fn pull_interval(&self, key: &ServiceKey) -> Duration {
        self.cache
            .get(key)
            .and_then(|info| info.cache_duration())
            .unwrap_or(self.config.pull_interval)
    }

    /// Every background task (push, redo, disk, pulls, beats), handed over to be stopped. The
    /// watches go with their pull tasks.
    fn take_tasks(&self) -> Vec<JoinHandle<()>> {
        let mut tasks: Vec<JoinHandle<()>> = lock(&self.tasks).drain(..).collect();
        tasks.extend(lock(&self.watches).drain().map(|(_, w)| w.pull));
        tasks.extend(self.registrations.take_beats());
        tasks
    }
}

/// Refreshes one watched service every `cacheMillis`, backing off while it fails.
async fn pull_loop(shared: Arc<Shared>, key: ServiceKey, first: Timestamp) {
    let mut next = first;
    let mut failures: u32 = 0;
    loop {
        shared.clock.sleep_until(next).await;
        // Renew the push subscription first (a restarted or new server may not have it), so no
        // change made between the answer and the renewal is missed.
        if let Some(p) = shared.transport.pushes() {
            let _ = p.subscribe(&key, &shared.pushes).await;
        }
        let ok = shared.refresh(&key).await.is_ok();
        let base = shared.pull_interval(&key);
        failures = if ok { 0 } else { failures.saturating_add(1) };
        next = shared.clock.now() + backoff(base, failures);
        shared.progress.update(|s| {
            s.pulls += 1;
            if !ok {
                s.pull_failures += 1;
            }
        });
    }
}

/// `base` doubled per failure in a row, at most [`MAX_PULL_BACKOFF`] (or `base`, if longer).
fn backoff(base: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.min(16);
    base.saturating_mul(factor).min(MAX_PULL_BACKOFF.max(base))
}

/// Takes pushes into the cache. A push that came with a receipt (its transport acks once the
/// client took it) is taken once the cache holds it and every listener of the service has
/// returned from the change, or when the transport stops waiting (each bounds its wait: a
/// listener that hangs must not hold its ack back past the server's ack timeout).
async fn push_loop(shared: Arc<Shared>, mut pushes: PushReceiver) {
    while let Some((info, receipt)) = pushes.recv_with_receipt().await {
        let service = info.service.clone();
        // `apply` ignores services no longer watched.
        let (_, revision) = shared.apply_revision(info, true);
        shared.progress.update(|s| s.pushes += 1);
        if let (Some(mut receipt), Some(revision)) = (receipt, revision) {
            let weak = Arc::downgrade(&shared);
            shared.runtime.spawn(async move {
                if let Some(shared) = weak.upgrade() {
                    tokio::select! {
                        () = shared.dispatcher.until_delivered(&service, revision) => {}
                        () = receipt.closed() => {}
                    }
                }
                drop(receipt);
            });
        }
    }
}

/// Redoes every registration (and renews every push subscription) when a beat found the
/// server had forgotten an instance.
async fn redo_loop(shared: Arc<Shared>) {
    loop {
        shared.registrations.redo_requested().await;
        shared.registrations.redo().await;
        for key in shared.watched() {
            if let Some(p) = shared.transport.pushes() {
                let _ = p.subscribe(&key, &shared.pushes).await;
            }
        }
        shared.progress.update(|s| s.redos += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(10);
        assert_eq!(backoff(base, 0), base);
        assert_eq!(backoff(base, 1), Duration::from_secs(20));
        assert_eq!(backoff(base, 2), Duration::from_secs(40));
        assert_eq!(backoff(base, 3), MAX_PULL_BACKOFF);
        assert_eq!(backoff(base, u32::MAX), MAX_PULL_BACKOFF);
        let long = Duration::from_secs(120);
        assert_eq!(backoff(long, 5), long);
    }
}

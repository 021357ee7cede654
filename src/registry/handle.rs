//! [`Registry`]: one registry node — store, health checks and events behind one handle.

use super::builder::RegistryBuilder;
use super::counters::Counters;
use super::limit_log::LimitLog;
use super::reader::RegistryReader;
use crate::clock::{Clock, Timestamp};
use crate::events::Dispatcher;
use crate::health::{self, BeatTimeouts, HealthConfig, HealthDriver, SweepReport};
use crate::model::{Instance, InstanceKey, Limits, ServiceKey, ServiceName};
use crate::store::{
    Collected, InstanceUpdate, ServiceSettings, ServiceSnapshot, Store, StoreError,
};
use std::sync::Arc;
use std::time::Duration;

/// What a heartbeat answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BeatReply {
    /// How often the client should beat (its `preserved.heart.beat.interval`, else the
    /// registry's default). Nacos' `clientBeatInterval`.
    pub client_beat_interval: Duration,
    /// Whether the client may send light beats (without the instance data). Always true: a
    /// light beat for an unknown instance answers [`StoreError::InstanceNotFound`] and the
    /// client then sends its data.
    pub light_beat_enabled: bool,
    /// Whether this beat re-created an instance that had been evicted.
    pub reregistered: bool,
}

/// One page of service names, from [`RegistryReader::get_service_list`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceList {
    /// How many services the namespace and group hold in all.
    pub count: usize,
    /// The names on this page, in name order.
    pub services: Vec<ServiceName>,
}

pub(super) struct Inner {
    pub(super) store: Arc<Store>,
    pub(super) dispatcher: Arc<Dispatcher>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) health: HealthConfig,
    pub(super) limits: Limits,
    pub(super) limit_log: LimitLog,
    /// The persistence, once attached (see [`crate::persist`] and `registry/durable.rs`).
    pub(super) journal: std::sync::OnceLock<crate::persist::Journal>,
    /// What [`RegistryReader::stats`] reads.
    pub(super) counters: Counters,
    /// The operators' overrides, once attached (see `registry/overrides.rs`).
    pub(super) overrides: std::sync::OnceLock<Arc<dyn super::overrides::InstanceOverrides>>,
    /// Where persistent writes go, once attached (see `registry/controlled.rs`).
    pub(super) route: std::sync::OnceLock<Arc<dyn super::controlled::PersistentRoute>>,
    /// Every instance's history (see [`crate::timeline`] and `registry/history.rs`).
    pub(super) timeline: crate::timeline::Timeline,
}

/// A registry node: register, beat, query, subscribe. Cheap to clone (one `Arc`); clones share
/// everything.
///
/// ```
/// use nacre::{Instance, InstanceKey, ManualClock, Registry, ServiceKey};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let registry = Registry::builder().clock(clock.clone()).build();
/// let orders = ServiceKey::named("orders").unwrap();
/// registry.register_instance(&orders, Instance::new("10.0.0.1", 8080).unwrap()).unwrap();
///
/// // No beat for 15 s: unhealthy. No beat for 30 s: gone.
/// clock.advance(Duration::from_secs(15));
/// registry.check_health();
/// let all = registry.get_all_instances(&orders, &[]);
/// assert!(!all.iter().next().unwrap().healthy());
/// clock.advance(Duration::from_secs(15));
/// registry.check_health();
/// assert!(registry.get_all_instances(&orders, &[]).is_empty());
/// ```
///
/// A registry is its read side, a [`RegistryReader`] (queries, subscriptions, counts), plus
/// the writes: it dereferences to the reader, so every read method is called on it directly.
/// A cluster member hands out only the reader ([`crate::cluster::ClusterNode::registry`]), so
/// that its writes take the member's route.
#[derive(Clone)]
pub struct Registry {
    pub(super) reader: RegistryReader,
}

impl std::ops::Deref for Registry {
    type Target = RegistryReader;
    fn deref(&self) -> &RegistryReader {
        &self.reader
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("services", &self.inner.store.service_count())
            .field("health", &self.inner.health)
            .field("limits", &self.inner.limits)
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl Registry {
    /// Starts configuring a registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    pub(crate) fn from_builder(b: RegistryBuilder) -> Self {
        let dispatcher = Arc::new(Dispatcher::start(b.delivery_threads));
        let store = Arc::new(Store::new(b.origin));
        let sink = dispatcher.clone();
        store.add_sink(Arc::new(move |snap: &Arc<ServiceSnapshot>| {
            sink.publish(snap)
        }));
        Self {
            reader: RegistryReader {
                inner: Arc::new(Inner {
                    store,
                    dispatcher,
                    clock: b.clock,
                    health: b.health,
                    limits: b.limits,
                    limit_log: LimitLog::default(),
                    journal: std::sync::OnceLock::new(),
                    counters: Counters::default(),
                    overrides: std::sync::OnceLock::new(),
                    route: std::sync::OnceLock::new(),
                    timeline: crate::timeline::Timeline::new(b.timeline),
                }),
            },
        }
    }

    /// The read side alone.
    pub fn reader(&self) -> &RegistryReader {
        &self.reader
    }

    /// The store, shared (for the persistence committer).
    pub(super) fn shared_store(&self) -> &Arc<Store> {
        &self.inner.store
    }
    /// Where the persistence's journal goes once attached.
    pub(super) fn journal_slot(&self) -> &std::sync::OnceLock<crate::persist::Journal> {
        &self.inner.journal
    }
    /// Passes `result` through, logging a refusal by a limit (rate-limited: see
    /// [`super::limit_log`]).
    fn noted<T>(&self, result: Result<T, StoreError>, now: Timestamp) -> Result<T, StoreError> {
        if let Err(e) = &result {
            self.inner.limit_log.note(e, now);
        }
        result
    }

    // ----- writes -----

    /// Registers `instance` in `service` (creating the service if needed), or replaces the data
    /// of the instance with the same cluster, ip and port. Counts as a beat. Returns the
    /// service's revision afterwards.
    pub fn register_instance(
        &self,
        service: &ServiceKey,
        instance: Instance,
    ) -> Result<u64, StoreError> {
        self.register_noted(service, instance, false)
    }

    /// [`Registry::register_instance`], recorded in the timeline as a beat's re-creation when
    /// `by_beat`.
    fn register_noted(
        &self,
        service: &ServiceKey,
        mut instance: Instance,
        by_beat: bool,
    ) -> Result<u64, StoreError> {
        self.overlay(service, &mut instance);
        let now = self.inner.clock.now();
        let key = instance.key();
        let before = self.before(service, &key);
        let shape = (instance.enabled(), !instance.ephemeral());
        let result = self
            .inner
            .store
            .register(service, instance, &self.inner.limits, now);
        if result.is_ok() {
            self.inner.counters.registered(1);
            self.note_registered(service, &key, shape, before, now, by_beat);
        }
        self.noted(result, now)
    }

    /// Registers several instances in one step: all or none, one revision, one event.
    pub fn batch_register_instance(
        &self,
        service: &ServiceKey,
        instances: Vec<Instance>,
    ) -> Result<u64, StoreError> {
        self.register_owned(service, instances, 0)
    }

    /// Registers `instances` as published by one client connection, named by `owner` (a tag
    /// the front gives each connection, above 0): like [`Registry::batch_register_instance`],
    /// and each instance remembers, on this node, the connection that registered it last.
    /// [`Registry::deregister_for`] then removes it only for that connection.
    ///
    /// Nacos 2.x keeps what each client publishes apart, so a client's disconnect withdraws
    /// only its own publication. nacre keeps one record per instance and this tag beside it:
    /// when a client reconnects through another member and registers again, the stale
    /// connection's close on the first member no longer removes the instance cluster-wide.
    pub fn register_for(
        &self,
        service: &ServiceKey,
        instances: Vec<Instance>,
        owner: u64,
    ) -> Result<u64, StoreError> {
        self.register_owned(service, instances, owner)
    }

    /// A batch registration by `owner` (0: no connection).
    fn register_owned(
        &self,
        service: &ServiceKey,
        mut instances: Vec<Instance>,
        owner: u64,
    ) -> Result<u64, StoreError> {
        for instance in &mut instances {
            self.overlay(service, instance);
        }
        let now = self.inner.clock.now();
        let count = instances.len();
        let noted: Vec<_> = instances
            .iter()
            .map(|i| {
                let key = i.key();
                let before = self.before(service, &key);
                (key, (i.enabled(), !i.ephemeral()), before)
            })
            .collect();
        let result =
            self.inner
                .store
                .batch_register(service, instances, owner, &self.inner.limits, now);
        if result.is_ok() {
            self.inner.counters.registered(count);
            for (key, shape, before) in noted {
                self.note_registered(service, &key, shape, before, now, false);
            }
        }
        self.noted(result, now)
    }

    /// Removes an instance the connection `owner` registered, unless another connection
    /// registered it since ([`Registry::register_for`]); an instance no connection is known
    /// to have registered here is removed. Returns whether it was removed.
    pub fn deregister_for(&self, service: &ServiceKey, instance: &InstanceKey, owner: u64) -> bool {
        self.deregister_owned(service, instance, Some(owner))
    }

    /// A deregistration, for `owner` only when given.
    fn deregister_owned(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
        owner: Option<u64>,
    ) -> bool {
        let now = self.inner.clock.now();
        let before = self.before(service, instance);
        let removed = self
            .inner
            .store
            .deregister(service, instance, owner, now)
            .is_some();
        if removed {
            self.inner.counters.deregistered();
            self.note_removed(service, instance, before, owner.is_some(), now);
        }
        removed
    }

    /// Removes an instance. Returns whether it was registered (removing an unknown instance is
    /// not an error, as in Nacos).
    pub fn deregister_instance(&self, service: &ServiceKey, instance: &InstanceKey) -> bool {
        self.deregister_owned(service, instance, None)
    }

    /// Changes weight, enabled flag and/or metadata of a registered instance.
    pub fn update_instance(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
        update: InstanceUpdate,
    ) -> Result<u64, StoreError> {
        let now = self.inner.clock.now();
        let before = self.before(service, instance);
        let result =
            self.inner
                .store
                .update_instance(service, instance, update, &self.inner.limits, now);
        if result.is_ok() {
            self.note_updated(service, instance, before, now);
        }
        self.noted(result, now)
    }

    /// Sets the health of a persistent instance, as an operator or a health checker outside
    /// nacre does (Nacos' `PUT /nacos/v1/ns/health/instance`). The health of an ephemeral
    /// instance follows its beats: it is refused with [`StoreError::HealthFollowsBeats`]. An
    /// unknown instance answers [`StoreError::InstanceNotFound`]. Returns the service's
    /// revision afterwards.
    ///
    /// ```
    /// use nacre::{Instance, Registry, StoreError, ServiceKey};
    /// let registry = Registry::default();
    /// let db = ServiceKey::named("db")?;
    /// let primary = Instance::builder("10.0.0.9", 5432).ephemeral(false).build()?;
    /// registry.register_instance(&db, primary.clone())?;
    /// registry.set_instance_health(&db, &primary.key(), false)?;
    /// assert!(!registry.get_all_instances(&db, &[]).iter().next().unwrap().healthy());
    ///
    /// let web = Instance::new("10.0.0.1", 80)?; // ephemeral: its beats decide
    /// registry.register_instance(&db, web.clone())?;
    /// let refused = registry.set_instance_health(&db, &web.key(), false);
    /// assert!(matches!(refused, Err(StoreError::HealthFollowsBeats(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_instance_health(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
        healthy: bool,
    ) -> Result<u64, StoreError> {
        let now = self.inner.clock.now();
        // Read for the timeline only.
        let was = self
            .timeline_on()
            .then(|| self.inner.store.load(service))
            .flatten()
            .and_then(|s| s.entry(instance).map(|e| e.healthy()));
        let result = self
            .inner
            .store
            .set_persistent_health(service, instance, healthy, now);
        if result.is_ok() && was != Some(healthy) {
            self.note_health(service, instance, healthy, true, now);
        }
        result
    }

    /// A light heartbeat: records the beat; a beat that reaches an unhealthy instance makes it
    /// healthy again at once. An unknown instance answers [`StoreError::InstanceNotFound`]
    /// (Nacos' code 20404), telling the client to send its data again.
    ///
    /// Allocates nothing and copies no snapshot unless health flips.
    pub fn heartbeat(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
    ) -> Result<BeatReply, StoreError> {
        let now = self.inner.clock.now();
        let Some(hit) = self.inner.store.beat(service, instance, now) else {
            return Err(StoreError::InstanceNotFound(instance.instance_id(service)));
        };
        self.inner.counters.beat();
        if !hit.was_healthy && hit.ephemeral {
            self.inner.store.set_healthy(service, instance, true, now);
            self.note_health(service, instance, true, false, now);
        }
        Ok(self.reply(hit.overrides, false))
    }

    /// Notes that a beat for this instance passed through this node on its way to the node
    /// responsible for it: the local copy's last-beat time moves forward (one atomic store;
    /// nothing else changes). The merge rule compares last-beat times, so a relaying node's
    /// copy is never mistaken for a silent one.
    pub fn note_relayed_beat(&self, service: &ServiceKey, instance: &InstanceKey) {
        self.inner
            .store
            .beat(service, instance, self.inner.clock.now());
    }

    /// A heartbeat that carries the instance's data: like [`Registry::heartbeat`], but if the
    /// instance is unknown (evicted, or lost in a restart) it is registered again.
    pub fn heartbeat_with(
        &self,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<BeatReply, StoreError> {
        match self.heartbeat(service, &instance.key()) {
            Err(StoreError::InstanceNotFound(_)) => {
                let mut fresh = instance.clone();
                fresh.set_healthy(true);
                let overrides = fresh.timing_overrides();
                self.register_noted(service, fresh, true)?;
                Ok(self.reply(overrides, true))
            }
            other => other,
        }
    }

    fn reply(&self, overrides: crate::model::TimingOverrides, reregistered: bool) -> BeatReply {
        BeatReply {
            client_beat_interval: BeatTimeouts::resolve(overrides, &self.inner.health)
                .beat_interval,
            light_beat_enabled: true,
            reregistered,
        }
    }

    /// Creates an empty service with settings (protect threshold, metadata). Its settings
    /// count as set explicitly: it stays when it has no instances (see
    /// [`Limits::empty_service_expiry`]).
    pub fn create_service(
        &self,
        service: &ServiceKey,
        settings: ServiceSettings,
    ) -> Result<u64, StoreError> {
        let now = self.inner.clock.now();
        let result = self
            .inner
            .store
            .create_service(service, settings, &self.inner.limits, now);
        self.noted(result, now)
    }

    /// Replaces a service's settings. Changed settings count as set explicitly: the service
    /// then stays when it has no instances.
    pub fn update_service(
        &self,
        service: &ServiceKey,
        settings: ServiceSettings,
    ) -> Result<u64, StoreError> {
        let now = self.inner.clock.now();
        let result = self
            .inner
            .store
            .update_service(service, settings, &self.inner.limits, now);
        self.noted(result, now)
    }

    /// Removes a service that holds no instances.
    pub fn remove_service(&self, service: &ServiceKey) -> Result<u64, StoreError> {
        self.inner
            .store
            .remove_service(service, false, self.inner.clock.now())
    }

    // ----- health -----

    /// Runs one health sweep at the clock's current time.
    pub fn check_health(&self) -> SweepReport {
        self.check_health_at(self.inner.clock.now())
    }

    /// Runs one health sweep as if the time were `now`.
    pub fn check_health_at(&self, now: Timestamp) -> SweepReport {
        self.check_health_where(now, |_| true)
    }

    /// Runs one health sweep at `now` over the services `include` accepts (a cluster node
    /// judges only the services it is responsible for): evicts silent instances and removes
    /// services empty for [`Limits::empty_service_expiry`]. Then drops, everywhere, the
    /// tombstones older than [`HealthConfig::tombstone_ttl`], and the removed services whose
    /// removal is that old (see [`crate::store`]).
    pub fn check_health_where(
        &self,
        now: Timestamp,
        mut include: impl FnMut(&ServiceKey) -> bool,
    ) -> SweepReport {
        self.check_health_with_grace(now, |k| include(k).then_some(Timestamp::ZERO))
    }

    /// [`Registry::check_health_where`] with a grace period per service: `scope` answers
    /// `None` to skip a service, or `Some(since)` to judge it counting no silence before
    /// `since` (see [`health::sweep`]). A cluster node gives the services it takes over such
    /// a grace, instead of pretending it heard beats it did not.
    pub fn check_health_with_grace(
        &self,
        now: Timestamp,
        scope: impl FnMut(&ServiceKey) -> Option<Timestamp>,
    ) -> SweepReport {
        let retention = now - self.inner.health.tombstone_ttl;
        self.sweep_and_collect(now, scope, Some(retention)).0
    }

    /// [`Registry::check_health_with_grace`], collecting removals of persistent data only up
    /// to `durable_older_than` (none when `None`): a cluster member gives the horizon up to
    /// which every member has had them (see [`crate::store`], "Removals of persistent data").
    /// Also says what the collection dropped and held.
    pub(crate) fn sweep_and_collect(
        &self,
        now: Timestamp,
        scope: impl FnMut(&ServiceKey) -> Option<Timestamp>,
        durable_older_than: Option<Timestamp>,
    ) -> (SweepReport, Collected) {
        let report = health::sweep(
            &self.inner.store,
            &self.inner.health,
            &self.inner.limits,
            now,
            scope,
        );
        crate::health::log_sweep(&report);
        self.note_sweep(&report, now);
        self.inner
            .counters
            .swept(report.marked_unhealthy.len(), report.removed.len());
        let collected = self
            .inner
            .store
            .collect_tombstones(now - self.inner.health.tombstone_ttl, durable_older_than);
        if collected.services > 0 {
            if let Some(journal) = self.inner.journal.get() {
                journal.forget_retired();
            }
        }
        if collected.tombstones > 0 || collected.services > 0 {
            tracing::debug!(
                tombstones = collected.tombstones,
                services = collected.services,
                held = collected.held,
                "collected tombstones past their retention"
            );
        }
        (report, collected)
    }

    /// Starts the health driver on the current tokio runtime: it sweeps, then sleeps on the
    /// registry's clock until the next deadline (at least [`HealthConfig::min_sweep_gap`], at
    /// most [`HealthConfig::check_interval`]).
    pub fn spawn_health_driver(&self) -> HealthDriver {
        let me = self.clone();
        let health = &self.inner.health;
        HealthDriver::spawn(
            self.inner.clock.clone(),
            (health.min_sweep_gap, health.check_interval),
            move |now| me.check_health_at(now),
        )
    }
}

//! [`RegistryReader`]: the read side of a [`Registry`] — queries, subscriptions, counts,
//! snapshots — and nothing that writes. A [`Registry`] dereferences to it; a cluster member
//! hands out only this side ([`crate::cluster::ClusterNode::registry`]), so a write cannot
//! skip the member's route by going to its local registry.

use super::counters::RegistryStats;
use super::handle::{Inner, ServiceList};
use crate::clock::Clock;
use crate::events::{EventListener, SubscriptionId};
use crate::health::HealthConfig;
use crate::model::{ClusterName, GroupName, Instance, Limits, NamespaceId, ServiceKey};
use crate::store::{InstancesView, Selection, ServiceSnapshot, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// The read side of a registry: see the module documentation. Cheap to clone (one `Arc`).
///
/// ```
/// use nacre::{Instance, Registry, RegistryReader, ServiceKey};
/// let registry = Registry::default();
/// let orders = ServiceKey::named("orders")?;
/// registry.register_instance(&orders, Instance::new("10.0.0.1", 8080)?)?;
/// let reader: RegistryReader = registry.reader().clone();
/// assert_eq!(reader.get_all_instances(&orders, &[]).len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RegistryReader {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for RegistryReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryReader")
            .field("services", &self.inner.store.service_count())
            .finish()
    }
}

impl From<super::Registry> for RegistryReader {
    fn from(registry: super::Registry) -> Self {
        registry.reader().clone()
    }
}

impl From<&super::Registry> for RegistryReader {
    fn from(registry: &super::Registry) -> Self {
        registry.reader().clone()
    }
}

impl RegistryReader {
    /// The underlying store (snapshots, change sinks).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    /// The clock this registry reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }
    /// The beat timing in force.
    pub fn health_config(&self) -> &HealthConfig {
        &self.inner.health
    }
    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }
    /// What this registry has done since it started: registrations, beats, evictions (see
    /// [`RegistryStats`]).
    pub fn stats(&self) -> RegistryStats {
        self.inner.counters.snapshot()
    }

    // ----- reads -----

    /// Every instance of `service` in `clusters` (all clusters if empty), whatever its state.
    pub fn get_all_instances(
        &self,
        service: &ServiceKey,
        clusters: &[ClusterName],
    ) -> InstancesView {
        self.view(service, clusters, Selection::All)
    }

    /// The instances a consumer may call: enabled, weight above 0 and, with `healthy_only`,
    /// healthy. When the healthy share is at or below the service's protect threshold, a
    /// healthy-only query returns every usable instance instead and the view says
    /// [`InstancesView::protect_threshold_reached`].
    pub fn select_instances(
        &self,
        service: &ServiceKey,
        clusters: &[ClusterName],
        healthy_only: bool,
    ) -> InstancesView {
        let selection = if healthy_only {
            Selection::Healthy
        } else {
            Selection::Usable
        };
        self.view(service, clusters, selection)
    }

    /// One healthy instance, picked at random in proportion to weight.
    pub fn select_one_healthy_instance(
        &self,
        service: &ServiceKey,
        clusters: &[ClusterName],
    ) -> Result<Arc<Instance>, StoreError> {
        self.select_instances(service, clusters, true)
            .pick_weighted()
            .cloned()
            .ok_or_else(|| StoreError::NoHealthyInstance {
                service: service.clone(),
                clusters: clusters.to_vec(),
            })
    }

    fn view(
        &self,
        service: &ServiceKey,
        clusters: &[ClusterName],
        sel: Selection,
    ) -> InstancesView {
        InstancesView::new(service, self.inner.store.load(service), clusters, sel)
    }

    /// The current snapshot of a service.
    pub fn service(&self, service: &ServiceKey) -> Option<Arc<ServiceSnapshot>> {
        self.inner.store.load(service)
    }

    /// The service's revision, if it exists.
    pub fn revision(&self, service: &ServiceKey) -> Option<u64> {
        self.inner.store.read(service, ServiceSnapshot::revision)
    }

    /// One page of the service names in `namespace` and `group`, in name order. `page_no`
    /// starts at 1, as in Nacos; a page past the end is empty.
    pub fn get_service_list(
        &self,
        namespace: &NamespaceId,
        group: &GroupName,
        page_no: usize,
        page_size: usize,
    ) -> ServiceList {
        let keys = self.inner.store.live_keys_in(namespace, group);
        let keys = keys.as_slice();
        let start = page_no
            .saturating_sub(1)
            .saturating_mul(page_size)
            .min(keys.len());
        let services = keys[start..]
            .iter()
            .take(page_size)
            .map(|k| k.service().clone())
            .collect();
        ServiceList {
            count: keys.len(),
            services,
        }
    }

    // ----- events -----

    /// Subscribes `listener` to changes of `service` in `clusters` (all if empty). The current
    /// state arrives first if the service exists. See [`crate::events`].
    pub fn subscribe(
        &self,
        service: &ServiceKey,
        clusters: &[ClusterName],
        listener: impl EventListener,
    ) -> SubscriptionId {
        let store = &self.inner.store;
        self.inner.dispatcher.subscribe(
            service.clone(),
            clusters.to_vec(),
            Arc::new(listener),
            || store.load(service),
        )
    }

    /// A subscription [`RegistryReader::listeners`] does not list: a push hub's watch of a service
    /// (its subscribers are listed by the hub).
    pub(crate) fn subscribe_unlisted(
        &self,
        service: &ServiceKey,
        listener: impl EventListener,
    ) -> SubscriptionId {
        let store = &self.inner.store;
        self.inner.dispatcher.subscribe_as(
            service.clone(),
            Vec::new(),
            Arc::new(listener),
            false,
            || store.load(service),
        )
    }

    /// The in-process listeners of `service` ([`RegistryReader::subscribe`]): the id and clusters
    /// of each.
    pub fn listeners(&self, service: &ServiceKey) -> Vec<(SubscriptionId, Vec<ClusterName>)> {
        self.inner.dispatcher.listeners(service)
    }

    /// The event dispatcher (for the registry's drains).
    pub(crate) fn dispatcher(&self) -> &crate::events::Dispatcher {
        &self.inner.dispatcher
    }

    /// Cancels a subscription; returns whether it existed.
    pub fn unsubscribe(&self, id: SubscriptionId) -> bool {
        self.inner.dispatcher.unsubscribe(id)
    }

    /// Snapshots waiting for the event dispatcher: at most one per service that has listeners,
    /// however fast the writes come (a burst is coalesced to its newest state; see
    /// [`crate::events`]). For operators and tests.
    pub fn event_backlog(&self) -> usize {
        self.inner.dispatcher.backlog()
    }

    /// Blocks until every change so far has reached every listener (or `timeout` passes);
    /// returns whether delivery settled. For tests and orderly shutdown.
    pub fn wait_for_events(&self, timeout: Duration) -> bool {
        self.inner.dispatcher.wait_idle(timeout)
    }
}

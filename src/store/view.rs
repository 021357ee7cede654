//! [`InstancesView`]: the answer to a query, sharing the snapshot it was read from.

use super::snapshot::ServiceSnapshot;
use crate::model::{ClusterName, Instance, ServiceKey};
use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// Which instances a view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Every instance, whatever its state (`get_all_instances`).
    All,
    /// Enabled instances with weight above 0, healthy or not (`select_instances` with
    /// `healthy_only = false`, as the Nacos client filters).
    Usable,
    /// Enabled, healthy instances with weight above 0 (`select_instances` with
    /// `healthy_only = true`), unless the protect threshold was reached, in which case the view
    /// shows [`Selection::Usable`] instead and says so in
    /// [`InstancesView::protect_threshold_reached`]. The healthy share is counted over enabled
    /// instances whatever their weight, as the Nacos server counts it before its client drops
    /// weight-0 instances.
    Healthy,
}

impl Selection {
    #[inline]
    fn accepts(self, instance: &Instance) -> bool {
        match self {
            Selection::All => true,
            Selection::Usable => instance.enabled() && instance.weight() > 0.0,
            Selection::Healthy => {
                instance.enabled() && instance.weight() > 0.0 && instance.healthy()
            }
        }
    }
}

/// The instances of one service that a query asked for.
///
/// Making a view copies nothing: it holds an `Arc` to the snapshot that was current when it was
/// made and filters lazily as you iterate. It stays valid (and unchanged) however the registry
/// moves on; ask again for fresh data.
#[derive(Clone)]
pub struct InstancesView {
    source: Source,
    clusters: Vec<ClusterName>,
    selection: Selection,
    protected: bool,
}

/// What a view reads: the snapshot, or (for a service that does not exist) just its key, so
/// making a view of an existing service bumps one reference count, not four.
#[derive(Clone)]
enum Source {
    Live(Arc<ServiceSnapshot>),
    Missing(ServiceKey),
}

impl InstancesView {
    pub(crate) fn new(
        service: &ServiceKey,
        snapshot: Option<Arc<ServiceSnapshot>>,
        clusters: &[ClusterName],
        selection: Selection,
    ) -> Self {
        let source = match snapshot {
            Some(s) => Source::Live(s),
            None => Source::Missing(service.clone()),
        };
        let mut view = Self {
            source,
            clusters: clusters.to_vec(),
            selection,
            protected: false,
        };
        if selection == Selection::Healthy {
            view.apply_protect_threshold();
        }
        view
    }

    fn apply_protect_threshold(&mut self) {
        let Some(snap) = self.snapshot().map(|s| &**s) else {
            return;
        };
        let (mut healthy, mut enabled) = (0usize, 0usize);
        for (_, cluster) in snap.clusters().filter(|(n, _)| self.wants(n)) {
            healthy += cluster.healthy;
            enabled += cluster.enabled;
        }
        if enabled == 0 {
            return;
        }
        let share = healthy as f64 / enabled as f64;
        if share <= f64::from(snap.settings().protect_threshold) {
            self.protected = true;
            self.selection = Selection::Usable;
        }
    }

    fn wants(&self, cluster: &ClusterName) -> bool {
        self.clusters.is_empty() || self.clusters.contains(cluster)
    }

    /// The service asked about.
    pub fn service(&self) -> &ServiceKey {
        match &self.source {
            Source::Live(s) => s.key(),
            Source::Missing(k) => k,
        }
    }

    /// The clusters asked for; empty means all.
    pub fn clusters(&self) -> &[ClusterName] {
        &self.clusters
    }

    /// Whether the service exists.
    pub fn service_exists(&self) -> bool {
        self.snapshot().is_some()
    }

    /// The revision of the snapshot this view reads (0 if the service does not exist).
    pub fn revision(&self) -> u64 {
        self.snapshot().map_or(0, |s| s.revision())
    }

    /// The snapshot behind this view, if the service exists.
    pub fn snapshot(&self) -> Option<&Arc<ServiceSnapshot>> {
        match &self.source {
            Source::Live(s) => Some(s),
            Source::Missing(_) => None,
        }
    }

    /// True when a healthy-only query hit the service's protect threshold and so shows every
    /// usable instance, healthy or not (Nacos' "protect threshold reached").
    pub fn protect_threshold_reached(&self) -> bool {
        self.protected
    }

    /// The instances, ordered by cluster then endpoint.
    ///
    /// The iterator is a plain struct with no destructor, so `view.iter()...` borrow-checks
    /// even as the last expression of the block that owns `view`.
    ///
    /// ```
    /// use nacre::{Instance, Registry, ServiceKey};
    /// let registry = Registry::default();
    /// let orders = ServiceKey::named("orders").unwrap();
    /// registry.register_instance(&orders, Instance::new("10.0.0.1", 80).unwrap()).unwrap();
    /// let ports: u32 = {
    ///     let view = registry.select_instances(&orders, &[], true);
    ///     view.iter().map(|i| u32::from(i.port())).sum()
    /// };
    /// assert_eq!(ports, 80);
    /// ```
    pub fn iter(&self) -> Iter<'_> {
        let flat: &[Arc<Instance>] = match self.snapshot() {
            Some(s) => s.instances_flat(),
            None => &[],
        };
        Iter {
            inner: flat.iter(),
            clusters: &self.clusters,
            selection: self.selection,
        }
    }

    /// How many instances the view shows (walks them).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the view shows no instance.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Copies the instances out.
    pub fn to_vec(&self) -> Vec<Instance> {
        self.iter().map(|i| Instance::clone(i)).collect()
    }

    /// Picks one instance at random, in proportion to weight (instances of weight 0 are never
    /// picked). `unit` is the random draw, in `0.0..1.0`: pass your own random number to make
    /// the choice reproducible.
    pub fn pick_weighted_with(&self, unit: f64) -> Option<&Arc<Instance>> {
        pick_by_weight(|| self.iter(), unit)
    }

    /// Picks one instance at random, in proportion to weight, with a thread-local generator.
    pub fn pick_weighted(&self) -> Option<&Arc<Instance>> {
        self.pick_weighted_with(fastrand::f64())
    }

    /// Whether this view shows the same instances (same data, same order) as `other`.
    pub fn same_instances(&self, other: &InstancesView) -> bool {
        let mut a = self.iter();
        let mut b = other.iter();
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                (Some(x), Some(y)) if Arc::ptr_eq(x, y) || x == y => {}
                _ => return false,
            }
        }
    }
}

/// Picks one of `candidates` in proportion to weight; `unit` is a random draw in `0.0..1.0`.
/// Instances of weight 0 are never picked; `None` when the weights sum to nothing.
///
/// `candidates` is called twice (once to sum the weights, once to walk them) and must yield the
/// same instances both times. Shared by [`InstancesView::pick_weighted_with`] and the client's
/// selection over its cached instance lists.
pub(crate) fn pick_by_weight<'a, T, I>(candidates: impl Fn() -> I, unit: f64) -> Option<&'a T>
where
    T: Borrow<Instance> + 'a,
    I: Iterator<Item = &'a T>,
{
    let total: f64 = candidates()
        .map(|i| Borrow::<Instance>::borrow(i).weight())
        .sum();
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    let mut target = unit.clamp(0.0, 1.0) * total;
    let mut last = None;
    for inst in candidates() {
        let weight = Borrow::<Instance>::borrow(inst).weight();
        if weight <= 0.0 {
            continue;
        }
        if target < weight {
            return Some(inst);
        }
        target -= weight;
        last = Some(inst);
    }
    // Rounding can leave `target` a hair above the last weight.
    last
}

impl fmt::Debug for InstancesView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstancesView")
            .field("service", self.service())
            .field("revision", &self.revision())
            .field("clusters", &self.clusters)
            .field("protect_threshold_reached", &self.protected)
            .field("instances", &self.iter().collect::<Vec<_>>())
            .finish()
    }
}

impl<'a> IntoIterator for &'a InstancesView {
    type Item = &'a Arc<Instance>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The instances of an [`InstancesView`], from [`InstancesView::iter`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    inner: std::slice::Iter<'a, Arc<Instance>>,
    /// The clusters asked for; empty means all.
    clusters: &'a [ClusterName],
    selection: Selection,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Arc<Instance>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (clusters, selection) = (self.clusters, self.selection);
        self.inner.by_ref().find(|i| {
            (clusters.is_empty() || clusters.contains(i.cluster())) && selection.accepts(i)
        })
    }
}

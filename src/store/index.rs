//! [`Store`]: every service's current snapshot, behind `ArcSwap`, and the reads of it. The
//! write path is `write.rs`; the operations built on it (register, beat, ...) are `ops.rs`.
//!
//! Layout: an index (a persistent hash map, itself behind `ArcSwap`) from [`ServiceKey`] to a
//! per-service cell; each cell holds the service's current [`ServiceSnapshot`] behind its own
//! `ArcSwap` plus a writer mutex. Reads load the index and then the cell's snapshot: two atomic
//! loads, no lock.

use super::snapshot::ServiceSnapshot;
use super::version::{Version, VersionClock};
use crate::clock::Timestamp;
use crate::model::{NamespaceId, ServiceKey};
use crate::util::lock;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

pub(super) type ServiceIndex = imbl::GenericHashMap<
    ServiceKey,
    Arc<ServiceCell>,
    foldhash::fast::RandomState,
    imbl::shared_ptr::DefaultSharedPtr,
>;

/// Something told of every published change, in revision order per service.
pub type ChangeSink = Arc<dyn Fn(&Arc<ServiceSnapshot>) + Send + Sync>;

#[derive(Debug)]
pub(super) struct ServiceCell {
    pub(super) snapshot: ArcSwap<ServiceSnapshot>,
    /// The writer lock. Holds `true` once the cell is retired (out of the index): a writer
    /// that finds it so starts again from the index.
    pub(super) write_lock: Mutex<bool>,
    pub(super) hint: SweepHint,
}

/// The live services of one namespace and group, in name order ([`Store::live_keys_in`]).
#[derive(Debug, Clone)]
pub struct LiveKeys {
    keys: Arc<[ServiceKey]>,
    start: usize,
    end: usize,
}

impl LiveKeys {
    /// How many there are.
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
    /// Them all, in name order.
    pub fn as_slice(&self) -> &[ServiceKey] {
        &self.keys[self.start..self.end]
    }
}

/// What `Store::collect_tombstones` dropped (a health sweep reports it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Tombstones of instances.
    pub tombstones: usize,
    /// Removed services taken out of the index (their tombstones counted above).
    pub services: usize,
    /// Removals of persistent data past the retention that were kept because a member may
    /// still hold the data (see [`crate::store`], "Removals of persistent data"): durable
    /// tombstones, and removed services kept whole (one each, plus their durable tombstones).
    pub held: usize,
}

/// What the last health sweep learned about one service: "at revision `r`, no instance changes
/// state before `due`". Beats only push deadlines later and every other change bumps the
/// revision, so while the revision stands the hint stays true and the sweep can skip the
/// service without walking its instances.
#[derive(Debug, Default)]
pub struct SweepHint(Mutex<Option<(u64, Timestamp)>>);

impl SweepHint {
    /// The hint, if any.
    pub fn get(&self) -> Option<(u64, Timestamp)> {
        *lock(&self.0)
    }
    /// Records a hint.
    pub(crate) fn set(&self, revision: u64, due: Timestamp) {
        *lock(&self.0) = Some((revision, due));
    }
}

/// The registry's storage: see the module documentation.
pub struct Store {
    pub(super) index: ArcSwap<ServiceIndex>,
    pub(super) index_lock: Mutex<()>,
    pub(super) sinks: ArcSwap<Vec<ChangeSink>>,
    pub(super) versions: VersionClock,
    /// Live services per namespace (namespaces with none are absent).
    pub(super) live: Mutex<HashMap<NamespaceId, usize>>,
    /// No retired cell had a higher revision: new cells start here.
    pub(super) revision_floor: AtomicU64,
    /// Whether writes record which instances they touched (only replication needs it).
    pub(super) track_touched: std::sync::atomic::AtomicBool,
    pub(super) no_touches: Arc<Vec<crate::model::InstanceKey>>,
    /// Every service key in order, with the index it was made from: valid while the index is
    /// that one (see [`Store::keys_after`]).
    pub(super) sorted: Mutex<Option<SortedKeys>>,
    /// Bumped whenever a service comes to life or is removed (the index may stay the same).
    pub(super) live_generation: AtomicU64,
    /// Every live service key in order, with the index and live generation it was made from
    /// (see [`Store::live_keys_in`]).
    pub(super) sorted_live: Mutex<Option<SortedLive>>,
    /// Whether the control plane holds the persistent instances (see `controlled.rs`).
    pub(super) control_owned: std::sync::atomic::AtomicBool,
}

/// The live keys of one version of the index and of the live set, sorted.
type SortedLive = (Arc<ServiceIndex>, u64, Arc<[ServiceKey]>);

/// The keys of one version of the index, sorted.
type SortedKeys = (Arc<ServiceIndex>, Arc<[ServiceKey]>);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("services", &self.index.load().len())
            .finish()
    }
}

/// What a write closure reports back.
#[derive(Debug)]
pub struct Written<R> {
    /// The closure's own result.
    pub value: R,
    /// The service's revision after the write.
    pub revision: u64,
    /// Whether a new snapshot was published.
    pub changed: bool,
}

impl Default for Store {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Store {
    /// An empty store whose writes carry `origin` in their [`Version`]s (give every node of a
    /// cluster a different one).
    pub(crate) fn new(origin: u64) -> Self {
        Self {
            index: ArcSwap::from_pointee(ServiceIndex::default()),
            index_lock: Mutex::new(()),
            sinks: ArcSwap::from_pointee(Vec::new()),
            versions: VersionClock::new(origin),
            live: Mutex::new(HashMap::new()),
            revision_floor: AtomicU64::new(0),
            track_touched: std::sync::atomic::AtomicBool::new(false),
            no_touches: Arc::new(Vec::new()),
            sorted: Mutex::new(None),
            live_generation: AtomicU64::new(0),
            sorted_live: Mutex::new(None),
            control_owned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// From now on every write records the instances it touched in its snapshot
    /// ([`ServiceSnapshot::touched`]), for replication. Off by default: a single node has no use
    /// for it and saves two allocations per write.
    pub(crate) fn track_touched(&self) {
        self.track_touched
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// The origin id stamped on this store's writes.
    pub fn origin(&self) -> u64 {
        self.versions.origin()
    }

    /// A fresh version for a write at `now`.
    pub(crate) fn next_version(&self, now: Timestamp) -> Version {
        self.versions.next(now)
    }

    /// Tells the version clock about a version seen from a peer.
    pub(crate) fn observe_version(&self, v: Version) {
        self.versions.observe(v);
    }

    /// Adds a sink told of every published change from now on.
    pub(crate) fn add_sink(&self, sink: ChangeSink) {
        self.sinks.rcu(|old| {
            let mut v = Vec::clone(old);
            v.push(sink.clone());
            v
        });
    }

    /// The current snapshot of `key`, if the service exists. Lock-free; one reference count.
    pub fn load(&self, key: &ServiceKey) -> Option<Arc<ServiceSnapshot>> {
        let index = self.index.load();
        let snap = index.get(key)?.snapshot.load_full();
        (!snap.removed).then_some(snap)
    }

    /// The current snapshot of `key` even if it records the service's removal (replication
    /// needs those; readers should use [`Store::load`]).
    pub fn load_any(&self, key: &ServiceKey) -> Option<Arc<ServiceSnapshot>> {
        let index = self.index.load();
        index.get(key).map(|c| c.snapshot.load_full())
    }

    /// Every service key the store has a cell for: live services, and removed ones whose
    /// tombstones are still kept.
    pub fn all_keys(&self) -> Vec<ServiceKey> {
        self.index.load().keys().cloned().collect()
    }

    /// The first `max` service keys after `after` (all of them with `None`), in key order:
    /// what a peer's snapshot chunk needs. The sorted list of keys is made once per version of
    /// the index (which changes only when a service is created or taken out) and kept, so the
    /// chunks of a restart cost a binary search each, not a sort of every key (with 100k
    /// services, sorting all keys for each of 100 chunks was most of a restart).
    pub fn keys_after(&self, after: Option<&ServiceKey>, max: usize) -> Vec<ServiceKey> {
        let keys = self.sorted_keys();
        let from = after.map_or(0, |a| keys.partition_point(|k| k <= a));
        keys[from..].iter().take(max).cloned().collect()
    }

    fn sorted_keys(&self) -> Arc<[ServiceKey]> {
        let index = self.index.load_full();
        let mut cached = lock(&self.sorted);
        if let Some((of, keys)) = &*cached {
            if Arc::ptr_eq(of, &index) {
                return keys.clone();
            }
        }
        let mut keys: Vec<ServiceKey> = index.keys().cloned().collect();
        keys.sort_unstable();
        let keys: Arc<[ServiceKey]> = keys.into();
        *cached = Some((index, keys.clone()));
        keys
    }

    /// The live services of `namespace` and `group`, in name order, as one slice of a sorted
    /// list of every live key: listing a page costs a binary search, not a walk and a sort of
    /// every service. The list is made again only after a service came to life or was removed
    /// (the live generation) or the index changed, so a flood of list requests costs nothing
    /// more than their pages; Nacos walks and sorts the group's services for each request.
    pub fn live_keys_in(
        &self,
        namespace: &NamespaceId,
        group: &crate::model::GroupName,
    ) -> LiveKeys {
        let keys = self.sorted_live_keys();
        let start = keys.partition_point(|k| (k.namespace(), k.group()) < (namespace, group));
        let end = start
            + keys[start..].partition_point(|k| (k.namespace(), k.group()) == (namespace, group));
        LiveKeys { keys, start, end }
    }

    /// The live services of `namespace`, in key order (group, then name): the same sorted list
    /// as [`Store::live_keys_in`], cut at the namespace.
    pub fn live_keys_of(&self, namespace: &NamespaceId) -> LiveKeys {
        let keys = self.sorted_live_keys();
        let start = keys.partition_point(|k| k.namespace() < namespace);
        let end = start + keys[start..].partition_point(|k| k.namespace() == namespace);
        LiveKeys { keys, start, end }
    }

    fn sorted_live_keys(&self) -> Arc<[ServiceKey]> {
        use std::sync::atomic::Ordering;
        let mut cached = lock(&self.sorted_live);
        // Read under the lock, so a list made here is never older than one it replaces.
        let generation = self.live_generation.load(Ordering::Acquire);
        let index = self.index.load_full();
        if let Some((of, at, keys)) = &*cached {
            if *at == generation && Arc::ptr_eq(of, &index) {
                return keys.clone();
            }
        }
        let mut keys: Vec<ServiceKey> = index
            .iter()
            .filter(|(_, cell)| !cell.snapshot.load().removed)
            .map(|(key, _)| key.clone())
            .collect();
        keys.sort_unstable();
        let keys: Arc<[ServiceKey]> = keys.into();
        *cached = Some((index, generation, keys.clone()));
        keys
    }

    /// Runs `f` on the current snapshot of `key` without taking a reference count (the fastest
    /// read; `f` should be short).
    pub fn read<R>(&self, key: &ServiceKey, f: impl FnOnce(&ServiceSnapshot) -> R) -> Option<R> {
        let index = self.index.load();
        let snap = index.get(key)?.snapshot.load();
        (!snap.removed).then(|| f(&snap))
    }

    /// Every existing service's current snapshot, in no particular order.
    pub fn snapshots(&self) -> Vec<Arc<ServiceSnapshot>> {
        let index = self.index.load_full();
        index
            .values()
            .map(|c| c.snapshot.load_full())
            .filter(|s| !s.removed)
            .collect()
    }

    /// Calls `f` for each existing service's current snapshot without collecting them.
    pub fn for_each(&self, mut f: impl FnMut(&ServiceSnapshot)) {
        let index = self.index.load_full();
        for cell in index.values() {
            let snap = cell.snapshot.load();
            if !snap.removed {
                f(&snap);
            }
        }
    }

    /// Like [`Store::for_each`], with each service's [`SweepHint`].
    pub fn for_each_hinted(&self, mut f: impl FnMut(&ServiceSnapshot, &SweepHint)) {
        let index = self.index.load_full();
        for cell in index.values() {
            let snap = cell.snapshot.load();
            if !snap.removed {
                f(&snap, &cell.hint);
            }
        }
    }

    /// Number of existing services.
    pub fn service_count(&self) -> usize {
        lock(&self.live).values().sum()
    }

    /// Number of existing services in `namespace`.
    pub fn services_in(&self, namespace: &NamespaceId) -> usize {
        lock(&self.live).get(namespace).copied().unwrap_or(0)
    }

    /// Number of namespaces that hold at least one service.
    pub fn namespace_count(&self) -> usize {
        lock(&self.live).len()
    }

    /// The namespaces that hold at least one service, in id order (at most
    /// [`crate::Limits::max_namespaces`]).
    pub fn namespaces(&self) -> Vec<NamespaceId> {
        let mut ids: Vec<NamespaceId> = lock(&self.live).keys().cloned().collect();
        ids.sort_unstable();
        ids
    }

    pub(super) fn cell(&self, key: &ServiceKey) -> Option<Arc<ServiceCell>> {
        self.index.load().get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Instance, Limits};

    #[test]
    fn keys_after_pages_in_key_order_and_sees_services_created_since() {
        let store = Store::new(1);
        let limits = Limits::default();
        let add = |name: &str| {
            let key = ServiceKey::named(name).unwrap();
            let inst = Instance::new("10.0.0.1", 80).unwrap();
            store
                .register(&key, inst, &limits, Timestamp::ZERO)
                .unwrap();
            key
        };
        let keys: Vec<ServiceKey> = ["d", "a", "c", "e", "b"].iter().map(|n| add(n)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(store.keys_after(None, 2), sorted[..2]);
        assert_eq!(store.keys_after(Some(&sorted[1]), 2), sorted[2..4]);
        assert_eq!(
            store.keys_after(Some(&sorted[4]), 2),
            Vec::<ServiceKey>::new()
        );
        assert_eq!(store.keys_after(None, 0), Vec::<ServiceKey>::new());
        // A service created after the keys were sorted is in the next answer.
        let late = add("bb");
        assert_eq!(store.keys_after(Some(&sorted[1]), 1), vec![late]);
        // A cursor that is not a key itself starts after where it would be.
        let between = ServiceKey::named("cc").unwrap();
        assert_eq!(store.keys_after(Some(&between), 5), sorted[3..]);
    }

    #[test]
    fn live_keys_follow_services_coming_and_going_without_a_walk_per_read() {
        let store = Store::new(1);
        let limits = Limits::default();
        let at = |ns: &str, group: &str, name: &str| ServiceKey::new(ns, group, name).unwrap();
        let add = |key: &ServiceKey| {
            let inst = Instance::new("10.0.0.1", 80).unwrap();
            store.register(key, inst, &limits, Timestamp::ZERO).unwrap();
        };
        let names = |ns: &str, group: &str| -> Vec<String> {
            let ns = crate::model::NamespaceId::new(ns).unwrap();
            let group = crate::model::GroupName::new(group).unwrap();
            let keys = store.live_keys_in(&ns, &group);
            keys.as_slice()
                .iter()
                .map(|k| k.service().to_string())
                .collect()
        };
        for key in [
            at("a", "G", "z"),
            at("a", "G", "m"),
            at("a", "H", "b"),
            at("b", "G", "a"),
        ] {
            add(&key);
        }
        assert_eq!(names("a", "G"), ["m", "z"]);
        assert_eq!(names("a", "H"), ["b"]);
        assert!(names("c", "G").is_empty());
        // The same list serves reads until a service comes or goes.
        let ns = crate::model::NamespaceId::new("a").unwrap();
        let group = crate::model::GroupName::new("G").unwrap();
        let first = store.live_keys_in(&ns, &group);
        let again = store.live_keys_in(&ns, &group);
        assert!(Arc::ptr_eq(&first.keys, &again.keys));
        add(&at("a", "G", "k"));
        assert_eq!(names("a", "G"), ["k", "m", "z"]);
        // A removed service leaves the list though its cell stays in the index.
        store
            .remove_service(&at("a", "G", "m"), true, Timestamp::ZERO)
            .unwrap();
        assert_eq!(names("a", "G"), ["k", "z"]);
    }
}

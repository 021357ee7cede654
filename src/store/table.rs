//! [`Store`]: every service's current snapshot, behind `ArcSwap`, and the copy-on-write write
//! path.
//!
//! Layout: an index (a persistent hash map, itself behind `ArcSwap`) from [`ServiceKey`] to a
//! per-service cell; each cell holds the service's current [`ServiceSnapshot`] behind its own
//! `ArcSwap` plus a writer mutex.
//!
//! - Reads load the index and then the cell's snapshot: two atomic loads, no lock.
//! - Writes to one service take only that service's writer mutex, clone its snapshot (O(1)),
//!   change the clone (O(log n)) and publish it with one store. Other services are not touched.
//! - Creating a service takes the index lock and publishes a new index (O(log s)).
//! - Removing a service publishes a snapshot marked removed; the cell stays in the index, with
//!   the tombstones of its instances, so replication can tell peers and stale copies cannot
//!   bring it back. [`Store::collect_tombstones`] takes it out of the index once the removal
//!   and every tombstone in it are older than the retention it is given (see
//!   [`crate::store`] for the bound this sets). A cell taken out is *retired*: a writer that
//!   was waiting on its lock finds it so and starts again from the index, and revisions of
//!   cells created later start above those of every retired cell, so a subscriber never sees a
//!   service's revision go backwards.
//! - A write that would create a service but creates nothing (refused, or not a change)
//!   retires the cell it made at once, so refused writes leave nothing behind.
//! - The store counts live services per namespace (every write that creates or removes a
//!   service updates the count under the service's lock), so the caps of [`Limits`] are
//!   checked in O(1) and exactly: [`Store::write_admitted`] refuses a creation that would go
//!   over one.
//!
//! After each published change, while still holding the writer mutex, the store calls its
//! change sinks with the new snapshot, so every sink sees one service's changes in revision
//! order. Sinks must not block: the event dispatcher's sink only pushes onto a channel.

use super::snapshot::{ServiceSettings, ServiceSnapshot, Tombstone};
use super::version::{Version, VersionClock};
use crate::clock::Timestamp;
use crate::model::{LimitExceeded, Limits, NamespaceId, ServiceKey};
use crate::util::lock;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

type ServiceIndex = imbl::GenericHashMap<
    ServiceKey,
    Arc<ServiceCell>,
    foldhash::fast::RandomState,
    imbl::shared_ptr::DefaultSharedPtr,
>;

/// Something told of every published change, in revision order per service.
pub type ChangeSink = Arc<dyn Fn(&Arc<ServiceSnapshot>) + Send + Sync>;

#[derive(Debug)]
struct ServiceCell {
    snapshot: ArcSwap<ServiceSnapshot>,
    /// The writer lock. Holds `true` once the cell is retired (out of the index): a writer
    /// that finds it so starts again from the index.
    write_lock: Mutex<bool>,
    hint: SweepHint,
}

/// Which cells a write may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Live services only.
    Live,
    /// Live services, and removed or new ones (which the write may bring to life).
    Create,
}

/// What `Store::collect_tombstones` dropped (a health sweep reports it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Tombstones of instances.
    pub tombstones: usize,
    /// Removed services taken out of the index (their tombstones counted above).
    pub services: usize,
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
    index: ArcSwap<ServiceIndex>,
    index_lock: Mutex<()>,
    sinks: ArcSwap<Vec<ChangeSink>>,
    versions: VersionClock,
    /// Live services per namespace (namespaces with none are absent).
    live: Mutex<HashMap<NamespaceId, usize>>,
    /// No retired cell had a higher revision: new cells start here.
    revision_floor: AtomicU64,
    /// Whether writes record which instances they touched (only replication needs it).
    track_touched: std::sync::atomic::AtomicBool,
    no_touches: Arc<Vec<crate::model::InstanceKey>>,
    /// Every service key in order, with the index it was made from: valid while the index is
    /// that one (see [`Store::keys_after`]).
    sorted: Mutex<Option<SortedKeys>>,
}

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

    fn cell(&self, key: &ServiceKey) -> Option<Arc<ServiceCell>> {
        self.index.load().get(key).cloned()
    }

    fn cell_or_create(&self, key: &ServiceKey) -> Arc<ServiceCell> {
        if let Some(cell) = self.cell(key) {
            return cell;
        }
        let _guard = lock(&self.index_lock);
        let current = self.index.load_full();
        if let Some(cell) = current.get(key) {
            return cell.clone();
        }
        let mut empty = ServiceSnapshot::empty(key.clone(), ServiceSettings::default());
        empty.removed = true;
        empty.meta_removed = true;
        empty.revision = self.revision_floor.load(Ordering::Acquire);
        let cell = Arc::new(ServiceCell {
            snapshot: ArcSwap::from_pointee(empty),
            write_lock: Mutex::new(false),
            hint: SweepHint::default(),
        });
        let mut next = ServiceIndex::clone(&current);
        next.insert(key.clone(), cell.clone());
        self.index.store(Arc::new(next));
        cell
    }

    /// Changes one service.
    ///
    /// `f` gets a private copy of the current snapshot (marked `removed` if the service does not
    /// exist yet) and returns its result plus whether it changed anything. If it did, the copy is
    /// published with the next revision and the sinks are told. With `create == false` and no
    /// such service, `f` is not called and `Ok(None)` comes back.
    ///
    /// No cap of [`Limits`] is checked here: replicated records and internal changes come this
    /// way. Client writes that may create a service use [`Store::write_admitted`].
    pub(crate) fn write<R, E>(
        &self,
        key: &ServiceKey,
        create: bool,
        f: impl FnOnce(&mut ServiceSnapshot) -> Result<(R, bool), E>,
    ) -> Result<Option<Written<R>>, E> {
        let reach = if create { Reach::Create } else { Reach::Live };
        self.write_inner(key, reach, |_, _| Ok(()), f)
    }

    /// Like [`Store::write`] with `create == true`, but a write that would create the service
    /// is refused with [`LimitExceeded`] if its namespace holds
    /// [`Limits::max_services_per_namespace`] services already, or if it is a new namespace
    /// and [`Limits::max_namespaces`] namespaces hold services already. The check and the count
    /// are one step, so concurrent creations cannot pass a cap together.
    pub(crate) fn write_admitted<R, E: From<LimitExceeded>>(
        &self,
        key: &ServiceKey,
        limits: &Limits,
        f: impl FnOnce(&mut ServiceSnapshot) -> Result<(R, bool), E>,
    ) -> Result<Option<Written<R>>, E> {
        self.write_inner(
            key,
            Reach::Create,
            |live, namespace| admit(live, namespace, limits).map_err(E::from),
            f,
        )
    }

    fn write_inner<R, E>(
        &self,
        key: &ServiceKey,
        reach: Reach,
        admit: impl FnOnce(&HashMap<NamespaceId, usize>, &NamespaceId) -> Result<(), E>,
        f: impl FnOnce(&mut ServiceSnapshot) -> Result<(R, bool), E>,
    ) -> Result<Option<Written<R>>, E> {
        // A retired cell sends the writer back to the index, where a new cell (or nothing)
        // stands.
        loop {
            let cell = if reach == Reach::Create {
                self.cell_or_create(key)
            } else {
                match self.cell(key) {
                    Some(cell) => cell,
                    None => return Ok(None),
                }
            };
            let mut guard = lock_cell(&cell);
            if guard.is_retired() {
                continue;
            }
            // The snapshot this write replaces is dropped after the lock is let go: when it
            // was the last reference, freeing what only it held (a whole cluster, after a
            // bulk rebuild) is not time the next writer waits for.
            let current = cell.snapshot.load_full();
            let result = self.write_locked(key, reach, (&cell, &mut guard, &current), admit, f);
            drop(guard);
            drop(current);
            return result;
        }
    }

    /// The body of a write, on a cell whose write lock (`guard`) is held and not retired;
    /// `current` is the cell's snapshot, loaded under that lock.
    fn write_locked<R, E>(
        &self,
        key: &ServiceKey,
        reach: Reach,
        (cell, guard, current): (&Arc<ServiceCell>, &mut CellGuard<'_>, &Arc<ServiceSnapshot>),
        admit: impl FnOnce(&HashMap<NamespaceId, usize>, &NamespaceId) -> Result<(), E>,
        f: impl FnOnce(&mut ServiceSnapshot) -> Result<(R, bool), E>,
    ) -> Result<Option<Written<R>>, E> {
        if current.removed && reach == Reach::Live {
            return Ok(None);
        }
        let mut next = ServiceSnapshot::clone(current);
        next.tracking = self.track_touched.load(Ordering::Acquire);
        next.touched = if next.tracking {
            Arc::new(Vec::new())
        } else {
            self.no_touches.clone()
        };
        next.meta_touched = false;
        next.flat = std::sync::OnceLock::new();
        next.memo = super::snapshot::Memo::default();
        let (value, changed) = match f(&mut next) {
            Ok(done) => done,
            Err(e) => {
                self.retire_unborn(key, cell, guard, current);
                return Err(e);
            }
        };
        if !changed {
            self.retire_unborn(key, cell, guard, current);
            return Ok(Some(Written {
                value,
                revision: current.revision,
                changed: false,
            }));
        }
        let namespace = key.namespace();
        match (current.removed, next.removed) {
            (true, false) => {
                let mut live = lock(&self.live);
                if let Err(e) = admit(&live, namespace) {
                    drop(live);
                    self.retire_unborn(key, cell, guard, current);
                    return Err(e);
                }
                *live.entry(namespace.clone()).or_default() += 1;
            }
            (false, true) => {
                let mut live = lock(&self.live);
                if let Some(n) = live.get_mut(namespace) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        live.remove(namespace);
                    }
                }
            }
            _ => {}
        }
        next.revision = current.revision + 1;
        let revision = next.revision;
        let next = Arc::new(next);
        cell.snapshot.store(next.clone());
        for sink in self.sinks.load().iter() {
            sink(&next);
        }
        Ok(Some(Written {
            value,
            revision,
            changed: true,
        }))
    }

    /// Takes a cell that holds nothing to remember (a service that was not created after all:
    /// removed, without tombstones, and never given a service-level version) out of the index.
    /// `guard` is the cell's write lock.
    fn retire_unborn(
        &self,
        key: &ServiceKey,
        cell: &Arc<ServiceCell>,
        guard: &mut CellGuard<'_>,
        snap: &ServiceSnapshot,
    ) {
        if snap.removed && snap.tombstones.is_empty() && snap.meta_version == Version::default() {
            self.retire(key, cell, guard, snap.revision);
        }
    }

    /// Takes `cell` out of the index (if it is still there) and marks it retired. The caller
    /// holds its write lock (`guard`) and has checked that it may go.
    fn retire(
        &self,
        key: &ServiceKey,
        cell: &Arc<ServiceCell>,
        guard: &mut CellGuard<'_>,
        revision: u64,
    ) {
        let _index = lock(&self.index_lock);
        // Before the index changes, so a cell created for the same key after it starts above.
        self.revision_floor.fetch_max(revision, Ordering::AcqRel);
        let current = self.index.load_full();
        if current.get(key).is_some_and(|c| Arc::ptr_eq(c, cell)) {
            let mut next = ServiceIndex::clone(&current);
            next.remove(key);
            self.index.store(Arc::new(next));
        }
        guard.retire();
    }

    /// Drops the tombstones of live services recorded at or before `older_than`, and takes out
    /// of the index every removed service whose removal and tombstones are all that old (a
    /// removed service keeps every tombstone until it goes as a whole, so nothing of it can
    /// come back earlier than the retention after its removal). Returns what went.
    ///
    /// The horizon is the caller's retention: a tombstone is what stops a stale copy of the
    /// instance or service, replicated from a peer that has not heard of the removal, from
    /// bringing it back. See [`crate::store`] for the bound this sets.
    pub(crate) fn collect_tombstones(&self, older_than: Timestamp) -> Collected {
        let old = |t: &Tombstone| t.removed_at <= older_than;
        let expired = |s: &ServiceSnapshot| {
            s.removed
                && s.removed_at.is_none_or(|t| t <= older_than)
                && s.tombstones.values().all(old)
        };
        let mut out = Collected::default();
        let index = self.index.load_full();
        for (key, cell) in index.iter() {
            let snap = cell.snapshot.load();
            if snap.removed {
                if !expired(&snap) {
                    continue;
                }
                let mut guard = lock_cell(cell);
                if guard.is_retired() {
                    continue;
                }
                let snap = cell.snapshot.load_full();
                if expired(&snap) {
                    self.retire(key, cell, &mut guard, snap.revision);
                    out.services += 1;
                    out.tombstones += snap.tombstones.len();
                }
            } else if snap.tombstones.values().any(old) {
                let dropped = self.write_inner(
                    key,
                    Reach::Live,
                    |_, _| Ok(()),
                    |snap: &mut ServiceSnapshot| {
                        let due: Vec<_> = snap
                            .tombstones
                            .iter()
                            .filter(|(_, t)| old(t))
                            .map(|(k, _)| k.clone())
                            .collect();
                        for k in &due {
                            snap.tombstones.remove(k);
                        }
                        Ok::<_, std::convert::Infallible>((due.len(), !due.is_empty()))
                    },
                );
                if let Ok(Some(w)) = dropped {
                    out.tombstones += w.value;
                }
            }
        }
        out
    }
}

/// A service cell's write lock, held.
struct CellGuard<'a>(std::sync::MutexGuard<'a, bool>);

impl CellGuard<'_> {
    fn is_retired(&self) -> bool {
        *self.0
    }
    fn retire(&mut self) {
        *self.0 = true;
    }
}

fn lock_cell(cell: &ServiceCell) -> CellGuard<'_> {
    CellGuard(lock(&cell.write_lock))
}

/// The caps a new service must fit: [`Limits::max_services_per_namespace`] and
/// [`Limits::max_namespaces`], against the live count of each namespace.
fn admit(
    live: &HashMap<NamespaceId, usize>,
    namespace: &NamespaceId,
    limits: &Limits,
) -> Result<(), LimitExceeded> {
    match live.get(namespace) {
        Some(&n) if n >= limits.max_services_per_namespace => Err(LimitExceeded::Services {
            namespace: namespace.clone(),
            max: limits.max_services_per_namespace,
        }),
        None if live.len() >= limits.max_namespaces => Err(LimitExceeded::Namespaces {
            namespace: namespace.clone(),
            max: limits.max_namespaces,
        }),
        None if limits.max_services_per_namespace == 0 => Err(LimitExceeded::Services {
            namespace: namespace.clone(),
            max: 0,
        }),
        _ => Ok(()),
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
}

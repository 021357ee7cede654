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
//! - Removing a service publishes a snapshot marked removed; the cell stays in the index so the
//!   service's revision keeps counting up if it is created again (subscribers then never see a
//!   revision go backwards).
//!
//! After each published change, while still holding the writer mutex, the store calls its
//! change sinks with the new snapshot, so every sink sees one service's changes in revision
//! order. Sinks must not block: the event dispatcher's sink only pushes onto a channel.

use super::snapshot::{ServiceSettings, ServiceSnapshot};
use super::version::{Version, VersionClock};
use crate::clock::Timestamp;
use crate::model::ServiceKey;
use crate::util::lock;
use arc_swap::ArcSwap;
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
    write_lock: Mutex<()>,
    hint: SweepHint,
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
    pub fn set(&self, revision: u64, due: Timestamp) {
        *lock(&self.0) = Some((revision, due));
    }
}

/// The registry's storage: see the module documentation.
pub struct Store {
    index: ArcSwap<ServiceIndex>,
    index_lock: Mutex<()>,
    sinks: ArcSwap<Vec<ChangeSink>>,
    versions: VersionClock,
    /// Whether writes record which instances they touched (only replication needs it).
    track_touched: std::sync::atomic::AtomicBool,
    no_touches: Arc<Vec<crate::model::InstanceKey>>,
}

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
    pub fn new(origin: u64) -> Self {
        Self {
            index: ArcSwap::from_pointee(ServiceIndex::default()),
            index_lock: Mutex::new(()),
            sinks: ArcSwap::from_pointee(Vec::new()),
            versions: VersionClock::new(origin),
            track_touched: std::sync::atomic::AtomicBool::new(false),
            no_touches: Arc::new(Vec::new()),
        }
    }

    /// From now on every write records the instances it touched in its snapshot
    /// ([`ServiceSnapshot::touched`]), for replication. Off by default: a single node has no use
    /// for it and saves two allocations per write.
    pub fn track_touched(&self) {
        self.track_touched
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// The origin id stamped on this store's writes.
    pub fn origin(&self) -> u64 {
        self.versions.origin()
    }

    /// A fresh version for a write at `now`.
    pub fn next_version(&self, now: Timestamp) -> Version {
        self.versions.next(now)
    }

    /// Tells the version clock about a version seen from a peer.
    pub(crate) fn observe_version(&self, v: Version) {
        self.versions.observe(v);
    }

    /// Adds a sink told of every published change from now on.
    pub fn add_sink(&self, sink: ChangeSink) {
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

    /// Every service key the store has a cell for, removed services included.
    pub fn all_keys(&self) -> Vec<ServiceKey> {
        self.index.load().keys().cloned().collect()
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
        let index = self.index.load_full();
        index
            .values()
            .filter(|c| !c.snapshot.load().removed)
            .count()
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
        let cell = Arc::new(ServiceCell {
            snapshot: ArcSwap::from_pointee(empty),
            write_lock: Mutex::new(()),
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
    pub fn write<R, E>(
        &self,
        key: &ServiceKey,
        create: bool,
        f: impl FnOnce(&mut ServiceSnapshot) -> Result<(R, bool), E>,
    ) -> Result<Option<Written<R>>, E> {
        let cell = if create {
            self.cell_or_create(key)
        } else {
            match self.cell(key) {
                Some(cell) => cell,
                None => return Ok(None),
            }
        };
        let _guard = lock(&cell.write_lock);
        let current = cell.snapshot.load_full();
        if current.removed && !create {
            return Ok(None);
        }
        let mut next = ServiceSnapshot::clone(&current);
        next.tracking = self
            .track_touched
            .load(std::sync::atomic::Ordering::Acquire);
        next.touched = if next.tracking {
            Arc::new(Vec::new())
        } else {
            self.no_touches.clone()
        };
        next.meta_touched = false;
        next.flat = std::sync::OnceLock::new();
        let (value, changed) = f(&mut next)?;
        if !changed {
            return Ok(Some(Written {
                value,
                revision: current.revision,
                changed: false,
            }));
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
}

//! The copy-on-write write path of the [`Store`]: one service's writer lock, a private copy of
//! its snapshot, one publish, the change sinks told in revision order; creating and retiring
//! service cells; the namespace caps; collecting tombstones.
//!
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

use super::index::{ServiceCell, ServiceIndex};
use super::snapshot::{ServiceSettings, ServiceSnapshot, Tombstone};
use super::version::Version;
use super::{Collected, Store, SweepHint, Written};
use crate::clock::Timestamp;
use crate::model::{LimitExceeded, Limits, NamespaceId, ServiceKey};
use crate::util::lock;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// Which cells a write may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Live services only.
    Live,
    /// Live services, and removed or new ones (which the write may bring to life).
    Create,
}

impl Store {
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
        let comes_or_goes = current.removed != next.removed;
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
        if comes_or_goes {
            // After the store: a listing made from now on sees the new state.
            self.live_generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
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
    ///
    /// Removals of persistent data ([`Tombstone::durable`] tombstones, and removed services
    /// holding one or whose own removal is durable) go only once also recorded at or before
    /// `durable_older_than`, and not at all when it is `None`; those kept past `older_than` are
    /// counted in [`Collected::held`]. A cluster member gives a horizon that says every member
    /// has had the removal (see [`crate::store`], "Removals of persistent data"); a standalone
    /// node gives `older_than` itself.
    pub(crate) fn collect_tombstones(
        &self,
        older_than: Timestamp,
        durable_older_than: Option<Timestamp>,
    ) -> Collected {
        let old = |t: &Tombstone| t.removed_at <= older_than;
        let reached = |at: Timestamp| durable_older_than.is_some_and(|h| at <= h);
        let held = |t: &Tombstone| t.durable && !reached(t.removed_at);
        let due = |t: &Tombstone| old(t) && !held(t);
        let expired = |s: &ServiceSnapshot| {
            s.removed
                && s.removed_at.is_none_or(|t| t <= older_than)
                && s.tombstones.values().all(old)
        };
        let kept = |s: &ServiceSnapshot| {
            (s.durable_removal && !s.removed_at.map_or(durable_older_than.is_some(), reached))
                || s.tombstones.values().any(held)
        };
        let mut out = Collected::default();
        let index = self.index.load_full();
        for (key, cell) in index.iter() {
            let snap = cell.snapshot.load();
            if snap.removed {
                if !expired(&snap) {
                    continue;
                }
                if kept(&snap) {
                    out.held += 1 + snap.tombstones.values().filter(|t| held(t)).count();
                    continue;
                }
                let mut guard = lock_cell(cell);
                if guard.is_retired() {
                    continue;
                }
                let snap = cell.snapshot.load_full();
                if expired(&snap) && !kept(&snap) {
                    self.retire(key, cell, &mut guard, snap.revision);
                    out.services += 1;
                    out.tombstones += snap.tombstones.len();
                }
            } else {
                out.held += snap
                    .tombstones
                    .values()
                    .filter(|t| old(t) && held(t))
                    .count();
                if !snap.tombstones.values().any(due) {
                    continue;
                }
                let dropped = self.write_inner(
                    key,
                    Reach::Live,
                    |_, _| Ok(()),
                    |snap: &mut ServiceSnapshot| {
                        let gone: Vec<_> = snap
                            .tombstones
                            .iter()
                            .filter(|(_, t)| due(t))
                            .map(|(k, _)| k.clone())
                            .collect();
                        for k in &gone {
                            snap.tombstones.remove(k);
                        }
                        Ok::<_, std::convert::Infallible>((gone.len(), !gone.is_empty()))
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
pub(super) fn admit(
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

//! Immutable snapshots of one service: [`ServiceSnapshot`] and its per-cluster maps.
//!
//! A snapshot is never changed once published. Writers clone it (cheap: the maps inside are
//! persistent B-trees, which share all untouched nodes: each cluster's instances in a
//! `ChunkMap`, the tombstones in an `imbl` map; the few clusters are a small vector whose
//! copy is a reference count per cluster), change the clone, and publish it
//! with one `ArcSwap` store. Changing one instance therefore copies O(log n) tree nodes, not
//! the whole service: registering 100k instances one by one stays linear overall.

use super::chunk_map::ChunkMap;
use super::cluster_map::ClusterMap;
use super::liveness::Liveness;
use super::version::Version;
use crate::clock::Timestamp;
use crate::model::{ClusterName, Endpoint, Instance, InstanceKey, ServiceKey, TimingOverrides};
use imbl::OrdMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Service-level settings, as in Nacos' service API.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSettings {
    /// When the healthy share of the instances asked for is at or below this (0.0 to 1.0), a
    /// healthy-only query returns all of them instead, so a failing service is not starved down
    /// to its last healthy instance. Default 0.0.
    pub protect_threshold: f32,
    /// Free-form service metadata.
    pub metadata: BTreeMap<String, String>,
}

/// One instance as stored: its data, its shared liveness cell, the version of the client
/// write that produced this data and the version of its latest change (see
/// [`crate::store::join`]).
///
/// The flags a health sweep reads for every instance are copied into the entry
/// (`Hot`), so a sweep over a million instances reads the tree's leaves and the liveness
/// cells, not every instance's data behind its pointer (that read was most of a cold sweep).
#[derive(Debug, Clone)]
pub struct InstanceEntry {
    pub(crate) instance: Arc<Instance>,
    pub(crate) liveness: Arc<Liveness>,
    pub(crate) written: Version,
    pub(crate) version: Version,
    hot: Hot,
}

/// Copies of the instance's flags that a sweep reads, kept beside the pointer to it.
#[derive(Debug, Clone, Copy)]
struct Hot {
    ephemeral: bool,
    healthy: bool,
    /// Whether any `preserved.*` timing is set (else the registry's defaults apply).
    custom_timing: bool,
}

impl Hot {
    fn of(instance: &Instance) -> Self {
        Self {
            ephemeral: instance.ephemeral(),
            healthy: instance.healthy(),
            custom_timing: instance.timing_overrides() != TimingOverrides::default(),
        }
    }
}

/// Why an instance was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RemovalReason {
    /// Its client (or an operator) deregistered it: only a later client write brings it back.
    Deregistered,
    /// It stopped beating and was evicted: a copy that heard a later beat brings it back.
    Expired,
}

/// What is left of a removed instance, kept for a bounded time (see
/// [`crate::HealthConfig::tombstone_ttl`]) so a stale copy arriving from a peer cannot bring
/// it back. An evicted instance keeps its data: should a peer have heard a later beat, the
/// instance is live again with the newest data anyone wrote (see [`crate::store::join`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Tombstone {
    /// The version of the client write behind the data (or of the deregistration).
    pub written: Version,
    /// The version of the latest change to that data.
    pub version: Version,
    /// The last beat known of.
    pub last_beat: Timestamp,
    /// The data, for an evicted instance; `None` when deregistered.
    pub data: Option<Arc<Instance>>,
    /// The eviction claim: no beat heard after this time.
    pub evicted: Option<Timestamp>,
    /// When this node recorded the removal (local time, for collection).
    pub removed_at: Timestamp,
    /// Whether the removal concerns persistent data: the removed instance was persistent (or
    /// this node learnt of the removal from a disk row or a snapshot, knowing nothing else of
    /// the instance). A member's disk may still hold such an instance live, so in a cluster
    /// this tombstone outlives the retention until every member has been up for it (see
    /// [`crate::store`], "Removals of persistent data").
    pub durable: bool,
}

impl Tombstone {
    /// What is left of `entry` evicted for silence at `now`: its data, and the claim that no
    /// beat came after its last one.
    pub(crate) fn evicted(entry: &InstanceEntry, now: Timestamp) -> Self {
        let last_beat = entry.liveness.last_beat();
        Self {
            written: entry.written,
            version: entry.version,
            last_beat,
            data: Some(entry.instance.clone()),
            evicted: Some(last_beat),
            removed_at: now,
            durable: !entry.ephemeral(),
        }
    }

    /// Why the instance is gone.
    pub fn reason(&self) -> RemovalReason {
        if self.data.is_some() {
            RemovalReason::Expired
        } else {
            RemovalReason::Deregistered
        }
    }
}

impl InstanceEntry {
    /// An entry for `instance`.
    pub(crate) fn new(
        instance: Arc<Instance>,
        liveness: Arc<Liveness>,
        written: Version,
        version: Version,
    ) -> Self {
        let hot = Hot::of(&instance);
        Self {
            instance,
            liveness,
            written,
            version,
            hot,
        }
    }
    /// A copy with the health flag set to `healthy`, a health flip made at `version`: the
    /// client write behind the data stays this entry's (see [`crate::store::join`]), and
    /// every other field of the data is shared with this copy's.
    pub(crate) fn with_health(&self, healthy: bool, version: Version) -> Self {
        let mut next = Instance::clone(&self.instance);
        next.set_healthy(healthy);
        Self::new(Arc::new(next), self.liveness.clone(), self.written, version)
    }
    /// Whether the instance is ephemeral (same as `instance().ephemeral()`, without reading
    /// the instance).
    pub fn ephemeral(&self) -> bool {
        self.hot.ephemeral
    }
    /// Whether the instance is healthy (same as `instance().healthy()`, without reading it).
    pub fn healthy(&self) -> bool {
        self.hot.healthy
    }
    /// The version of the latest change to this data (the client write, or a later health
    /// flip).
    pub fn version(&self) -> Version {
        self.version
    }
    /// The version of the client write that produced this data.
    pub fn written(&self) -> Version {
        self.written
    }
    /// The instance.
    pub fn instance(&self) -> &Arc<Instance> {
        &self.instance
    }
    /// Its liveness cell (time of the last beat).
    pub fn liveness(&self) -> &Liveness {
        &self.liveness
    }
    /// Its `preserved.*` timing overrides.
    pub fn overrides(&self) -> TimingOverrides {
        if self.hot.custom_timing {
            self.instance.timing_overrides()
        } else {
            TimingOverrides::default()
        }
    }
}

/// The instances of one cluster, with counts kept up to date by every write so that the
/// protect threshold can be checked without walking the instances.
#[derive(Debug, Clone, Default)]
pub struct ClusterSnapshot {
    pub(crate) instances: ChunkMap<Endpoint, InstanceEntry>,
    /// Enabled instances.
    pub(crate) enabled: usize,
    /// Enabled and healthy instances.
    pub(crate) healthy: usize,
    /// Persistent (non-ephemeral) instances: what [`crate::persist`] keeps on disk.
    pub(crate) persistent: usize,
}

impl ClusterSnapshot {
    /// The instances by endpoint, in endpoint order.
    pub fn instances(&self) -> impl Iterator<Item = &InstanceEntry> + '_ {
        self.instances.values()
    }
    /// Number of instances.
    pub fn len(&self) -> usize {
        self.instances.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    fn count(&mut self, instance: &Instance, sign: isize) {
        if !instance.ephemeral() {
            self.persistent = self.persistent.wrapping_add_signed(sign);
        }
        if instance.enabled() {
            self.enabled = self.enabled.wrapping_add_signed(sign);
            if instance.healthy() {
                self.healthy = self.healthy.wrapping_add_signed(sign);
            }
        }
    }

    /// A cluster of `entries`, sorted by endpoint with none twice, built in one pass.
    pub(crate) fn from_sorted(
        entries: impl IntoIterator<Item = (Endpoint, InstanceEntry)>,
    ) -> Self {
        let mut counts = Self::default();
        let instances = ChunkMap::from_sorted(entries.into_iter().inspect(|(_, entry)| {
            counts.count(&entry.instance, 1);
        }));
        Self {
            instances,
            ..counts
        }
    }

    pub(crate) fn insert(&mut self, entry: InstanceEntry) -> Option<InstanceEntry> {
        self.count(&entry.instance, 1);
        let old = self
            .instances
            .insert(entry.instance.endpoint().clone(), entry);
        if let Some(old) = &old {
            self.count(&old.instance, -1);
        }
        old
    }

    pub(crate) fn remove(&mut self, endpoint: &Endpoint) -> Option<InstanceEntry> {
        let old = self.instances.remove(endpoint);
        if let Some(old) = &old {
            self.count(&old.instance, -1);
        }
        old
    }
}

/// One published state of a service. Cheap to hold: readers keep an `Arc` to it for as long as
/// they like while writers publish newer ones.
#[derive(Debug, Clone)]
pub struct ServiceSnapshot {
    pub(crate) key: ServiceKey,
    pub(crate) revision: u64,
    pub(crate) settings: Arc<ServiceSettings>,
    pub(crate) clusters: ClusterMap,
    pub(crate) instance_count: usize,
    /// Set when the service was removed (or not created yet): the store keeps the cell so
    /// revisions keep counting up, but readers see no service. Follows from the two fields
    /// below and the instances (see [`ServiceSnapshot::settle_removal`]).
    pub(crate) removed: bool,
    /// Whether the latest service-level write (at `meta_version`) removed the service (or
    /// none was made yet).
    pub(crate) meta_removed: bool,
    /// Removed instances, kept for a bounded time (see [`Tombstone`]).
    pub(crate) tombstones: OrdMap<InstanceKey, Tombstone>,
    /// Whether the settings were set explicitly (`create_service`, `update_service`): such a
    /// service is never removed for being empty.
    pub(crate) explicit: bool,
    /// When the service last became empty or was created (local time); meaningful only while
    /// it holds no instance. `None` until then.
    pub(crate) empty_since: Option<Timestamp>,
    /// When this node recorded the service's removal (local time), for collecting it.
    pub(crate) removed_at: Option<Timestamp>,
    /// Whether the service's removal concerns persistent data (its settings were explicit, or
    /// the removal came from a disk row or a snapshot with nothing else known): such a removed
    /// service outlives the retention in a cluster until every member has been up for it, like
    /// a [`Tombstone::durable`] tombstone. Set when the removal is recorded, cleared by a live
    /// service-level write.
    pub(crate) durable_removal: bool,
    /// Version of the service-level state (settings, removal).
    pub(crate) meta_version: Version,
    /// Instances changed by the local write that produced this snapshot (not by merges of
    /// replicated data): what replication has to send on.
    pub(crate) touched: Arc<Vec<InstanceKey>>,
    /// Whether that local write changed the service-level state.
    pub(crate) meta_touched: bool,
    /// Whether writes to this draft record touched keys (set by the store per write).
    pub(crate) tracking: bool,
    /// Every instance in order (cluster, then endpoint), built on the first read of this
    /// snapshot and reset by every write: read-mostly services iterate a slice, not a tree.
    pub(crate) flat: std::sync::OnceLock<Arc<[Arc<Instance>]>>,
    /// What readers derived from this snapshot and keep for the next reader (see
    /// [`ServiceSnapshot::memo`]); a copy made for a write starts empty.
    pub(crate) memo: Memo,
}

/// Values readers derived from one snapshot, by key: at most [`MEMO_ENTRIES`]. Cloning gives an
/// empty memo, so a snapshot copied for a write never carries what was derived from the old
/// state.
#[derive(Default)]
pub(crate) struct Memo(std::sync::Mutex<Vec<(u64, Arc<dyn std::any::Any + Send + Sync>)>>);

/// How many derived values one snapshot keeps ([`ServiceSnapshot::memo`]); more are made and
/// not kept.
pub const MEMO_ENTRIES: usize = 8;

impl Clone for Memo {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |m| m.len());
        write!(f, "Memo({n} entries)")
    }
}

impl ServiceSnapshot {
    pub(crate) fn empty(key: ServiceKey, settings: ServiceSettings) -> Self {
        Self {
            key,
            revision: 0,
            settings: Arc::new(settings),
            clusters: ClusterMap::default(),
            instance_count: 0,
            removed: false,
            meta_removed: false,
            tombstones: OrdMap::new(),
            explicit: false,
            empty_since: None,
            removed_at: None,
            durable_removal: false,
            meta_version: Version::default(),
            touched: Arc::new(Vec::new()),
            meta_touched: false,
            tracking: false,
            flat: std::sync::OnceLock::new(),
            memo: Memo::default(),
        }
    }

    /// A snapshot holding `instances` (a later one with the same cluster and endpoint replaces
    /// an earlier one) at `revision`, each with a fresh liveness cell at `at`. For consumers that
    /// receive instance lists rather than writes (the client cache feeds its event dispatcher
    /// with these); never stored in a registry.
    pub(crate) fn from_instances(
        key: ServiceKey,
        revision: u64,
        instances: impl IntoIterator<Item = Instance>,
        at: Timestamp,
    ) -> Self {
        let mut snap = Self::empty(key, ServiceSettings::default());
        snap.revision = revision;
        for instance in instances {
            snap.put_merged(InstanceEntry::new(
                Arc::new(instance),
                Arc::new(Liveness::new(at)),
                Version::default(),
                Version::default(),
            ));
        }
        snap
    }

    /// The service this is a snapshot of.
    pub fn key(&self) -> &ServiceKey {
        &self.key
    }
    /// The service's revision: bumped by one with every published change.
    pub fn revision(&self) -> u64 {
        self.revision
    }
    /// Whether this snapshot records the removal of the service (sinks see these; readers never
    /// do).
    pub fn is_removed(&self) -> bool {
        self.removed
    }
    /// The service settings.
    pub fn settings(&self) -> &ServiceSettings {
        &self.settings
    }
    /// Whether the settings were set explicitly ([`crate::Registry::create_service`] or
    /// [`crate::Registry::update_service`], here or on a peer): such a service stays when it
    /// has no instances; one created by a registration is removed
    /// [`crate::Limits::empty_service_expiry`] after its last instance left.
    pub fn has_explicit_settings(&self) -> bool {
        self.explicit
    }
    /// When the service last became empty (or was created), by this node's clock; meaningful
    /// only while it holds no instance.
    pub fn empty_since(&self) -> Option<Timestamp> {
        self.empty_since
    }
    /// When this node recorded the service's removal, by its clock (`None` for a live
    /// service, or one this node never saw live or removed).
    pub fn removed_at(&self) -> Option<Timestamp> {
        self.removed_at
    }
    /// Number of instances in all clusters.
    pub fn instance_count(&self) -> usize {
        self.instance_count
    }
    /// Number of persistent (non-ephemeral) instances in all clusters: O(clusters), from
    /// counts every write keeps up to date.
    pub fn persistent_count(&self) -> usize {
        self.clusters.values().map(|c| c.persistent).sum()
    }
    /// The cluster names that have instances, in order.
    pub fn cluster_names(&self) -> impl Iterator<Item = &ClusterName> + '_ {
        self.clusters.keys()
    }
    /// One cluster.
    pub fn cluster(&self, name: &ClusterName) -> Option<&ClusterSnapshot> {
        self.clusters.get(name)
    }
    /// Every cluster, in name order.
    pub fn clusters(&self) -> impl Iterator<Item = (&ClusterName, &ClusterSnapshot)> + '_ {
        self.clusters.iter()
    }
    /// One instance entry.
    pub fn entry(&self, key: &InstanceKey) -> Option<&InstanceEntry> {
        self.clusters
            .get(&key.cluster)?
            .instances
            .get(&key.endpoint)
    }
    /// Every instance, ordered by cluster then endpoint, as a slice shared by all readers of
    /// this snapshot. The first reader builds it (concurrent first readers may each build one;
    /// one is kept, nobody waits on another), later readers just load it.
    pub fn instances_flat(&self) -> &[Arc<Instance>] {
        if let Some(flat) = self.flat.get() {
            return flat;
        }
        let built: Arc<[Arc<Instance>]> = self.entries().map(|e| e.instance.clone()).collect();
        let _ = self.flat.set(built);
        self.flat.get().map_or(&[], |f| f)
    }

    /// A value derived from this snapshot, kept with it for later readers: the one stored under
    /// `key` if it is a `T`, else `make()`'s (kept if fewer than [`MEMO_ENTRIES`] are). Fronts
    /// keep a serialized answer here, so serving an unchanged service again costs a lookup,
    /// not a walk over its instances; the next write publishes a snapshot with an empty memo.
    /// `key` should name the derivation and its inputs (a hash of the query shape, say); a
    /// value of another type under the same key is not returned.
    pub fn memo<T: Send + Sync + 'static>(&self, key: u64, make: impl FnOnce() -> T) -> Arc<T> {
        let found = self.memo.0.lock().ok().and_then(|m| {
            m.iter()
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.clone().downcast::<T>().ok())
        });
        if let Some(v) = found {
            return v;
        }
        let made = Arc::new(make());
        if let Ok(mut m) = self.memo.0.lock() {
            if m.len() < MEMO_ENTRIES && !m.iter().any(|(k, _)| *k == key) {
                m.push((key, made.clone()));
            }
        }
        made
    }

    /// Every instance entry, ordered by cluster then endpoint.
    pub fn entries(&self) -> impl Iterator<Item = &InstanceEntry> + '_ {
        self.clusters.values().flat_map(|c| c.instances.values())
    }

    /// Instances the local write behind this snapshot changed (empty for merges).
    pub fn touched(&self) -> &[InstanceKey] {
        &self.touched
    }
    /// Whether the local write behind this snapshot changed service-level state.
    pub fn meta_touched(&self) -> bool {
        self.meta_touched
    }
    /// Version of the service-level state.
    pub fn meta_version(&self) -> Version {
        self.meta_version
    }
    /// Tombstones of recently removed instances.
    pub fn tombstones(&self) -> impl Iterator<Item = (&InstanceKey, &Tombstone)> + '_ {
        self.tombstones.iter()
    }

    pub(crate) fn touch(&mut self, key: InstanceKey) {
        if self.tracking {
            Arc::make_mut(&mut self.touched).push(key);
        }
    }

    /// Stores an entry written locally: clears any tombstone and records the key as touched.
    pub(crate) fn insert(&mut self, entry: InstanceEntry) -> Option<InstanceEntry> {
        let key = self.tracking.then(|| entry.instance.key());
        let old = self.put_merged(entry);
        if let Some(key) = key {
            self.touch(key);
        }
        old
    }

    /// Sets one live instance's health flag, in place: a health flip made at `version` (the
    /// client write behind the data stays, see [`crate::store::join`]). Looks the instance up
    /// once and shares every other field of its data with the old copy, so a sweep that flips
    /// a whole service costs one pass, not a copy of the service per instance. Returns whether
    /// the flag changed.
    pub(crate) fn flip_health(
        &mut self,
        key: &InstanceKey,
        healthy: bool,
        version: Version,
    ) -> bool {
        let Some(cluster) = self.clusters.get_mut(&key.cluster) else {
            return false;
        };
        let Some(entry) = cluster.instances.get_mut(&key.endpoint) else {
            return false;
        };
        if entry.instance.healthy() == healthy {
            return false;
        }
        *entry = entry.with_health(healthy, version);
        if entry.instance.enabled() {
            if healthy {
                cluster.healthy += 1;
            } else {
                cluster.healthy = cluster.healthy.saturating_sub(1);
            }
        }
        self.touch(key.clone());
        true
    }

    /// Stores an entry that came from a peer: clears any tombstone, touches nothing.
    pub(crate) fn put_merged(&mut self, entry: InstanceEntry) -> Option<InstanceEntry> {
        if !self.tombstones.is_empty() {
            self.tombstones.remove(&entry.instance.key());
        }
        let cluster = entry.instance.cluster().clone();
        let old = self.clusters.get_or_default(cluster).insert(entry);
        if old.is_none() {
            self.instance_count += 1;
        }
        old
    }

    /// Records a removal that came from a peer: drops the live entry (if any) and keeps the
    /// tombstone, touching nothing.
    pub(crate) fn tombstone_merged(&mut self, key: &InstanceKey, tombstone: Tombstone) {
        self.remove(key, tombstone.removed_at);
        self.tombstones.insert(key.clone(), tombstone);
    }

    /// Makes the removed flag what the replicated state says, at `now`: the service is
    /// removed when its latest service-level write removed it and it holds no live instance.
    /// Instances that arrive from a peer keep a removed service alive (they were written by a
    /// node that had not heard of the removal), and it goes again once they have left. A
    /// function of the merged state, so every node that holds the same state agrees, whatever
    /// order it heard things in. Returns whether the flag changed.
    pub(crate) fn settle_removal(&mut self, now: Timestamp) -> bool {
        let removed = self.meta_removed && self.instance_count == 0;
        if removed == self.removed {
            return false;
        }
        if removed {
            self.mark_removed(now);
        } else {
            self.revive(now);
        }
        true
    }

    /// Makes a removed (or not yet created) service live at `now`; a live one is left as it
    /// is. Returns whether it was removed. The service-level write that revives it (if any)
    /// is the caller's.
    pub(crate) fn revive(&mut self, now: Timestamp) -> bool {
        if !self.removed {
            return false;
        }
        self.removed = false;
        self.removed_at = None;
        self.empty_since = Some(now);
        true
    }

    /// Gives the service explicit `settings`, written at `version`, at `now`: live again if it
    /// was removed, no removal pending. Whether the write is touched (replicated) is the
    /// caller's.
    pub(crate) fn set_explicit(
        &mut self,
        settings: ServiceSettings,
        version: Version,
        now: Timestamp,
    ) {
        self.revive(now);
        self.meta_removed = false;
        self.durable_removal = false;
        self.explicit = true;
        self.settings = Arc::new(settings);
        self.meta_version = version;
    }

    /// Marks the service removed at `now`: its settings go back to the defaults and are no
    /// longer explicit (a removal of explicit settings is durable, see
    /// [`ServiceSnapshot::durable_removal`]). The caller removes the instances first.
    pub(crate) fn mark_removed(&mut self, now: Timestamp) {
        self.durable_removal |= self.explicit;
        self.removed = true;
        self.meta_removed = true;
        self.removed_at = Some(now);
        self.explicit = false;
        self.settings = Arc::new(ServiceSettings::default());
    }

    /// Removes an instance deregistered by a write at `version`, and leaves a tombstone.
    pub(crate) fn remove_deregistered(
        &mut self,
        key: &InstanceKey,
        version: Version,
        now: Timestamp,
    ) -> Option<InstanceEntry> {
        let old = self.remove(key, now)?;
        let tombstone = Tombstone {
            written: version,
            version,
            last_beat: old.liveness.last_beat(),
            data: None,
            evicted: None,
            removed_at: now,
            durable: !old.ephemeral(),
        };
        self.tombstones.insert(key.clone(), tombstone);
        self.touch(key.clone());
        Some(old)
    }

    /// Removes an instance evicted for silence, and leaves a tombstone that keeps its data and
    /// claims that no beat came after its last one.
    pub(crate) fn remove_evicted(
        &mut self,
        key: &InstanceKey,
        now: Timestamp,
    ) -> Option<InstanceEntry> {
        let old = self.remove(key, now)?;
        self.tombstones
            .insert(key.clone(), Tombstone::evicted(&old, now));
        self.touch(key.clone());
        Some(old)
    }

    /// Drops a live entry; if it was the last one, the service is empty from `now`.
    pub(crate) fn remove(&mut self, key: &InstanceKey, now: Timestamp) -> Option<InstanceEntry> {
        let cluster = self.clusters.get_mut(&key.cluster)?;
        let old = cluster.remove(&key.endpoint)?;
        if cluster.is_empty() {
            self.clusters.remove(&key.cluster);
        }
        self.instance_count -= 1;
        if self.instance_count == 0 {
            self.empty_since = Some(now);
        }
        Some(old)
    }
}

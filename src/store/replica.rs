//! Replication data: [`ServiceRecord`]s out of a snapshot, merged into a store, and the
//! checksums peers compare.
//!
//! A record carries live instances *and* tombstones, each with its [`Version`] and the last
//! beat its sender knows of; [`Store::merge`] checks each against [`MergeRules`] (refusing what
//! a client write could not do, and clamping beat times from the future), applies the rule in
//! [`super::merge`] instance by instance and reports the instances where the local copy won,
//! so the caller can send them back. Merges do not mark anything as touched, so they are never
//! replicated again as if they were local writes (no echo).

use super::admit::{MergeRules, RecordRefusal, Refusal};
use super::index::Store;
use super::liveness::Liveness;
use super::merge::{join, RecordFacts, Side};
use super::snapshot::{InstanceEntry, RemovalReason, ServiceSettings, ServiceSnapshot, Tombstone};
use super::version::Version;
use super::StoreError;
use crate::clock::Timestamp;
use crate::model::{Instance, InstanceKey, ServiceKey};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One instance as replicated: what the sender knows of it, live or removed (see
/// [`super::join`] for how the parts merge).
///
/// Serializes as an object with these field names in human-readable formats (JSON), and in a
/// compact tuple in binary ones (the peer wire format): the data without the endpoint and
/// cluster the key already names, and times as differences from `written` (see
/// `replica_wire.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    /// Cluster and endpoint.
    pub key: InstanceKey,
    /// Version of the client write behind `data` (a registration, an update, or the
    /// deregistration when `data` is `None`).
    pub written: Version,
    /// Version of the latest change to `data`: `written`, or a later health flip.
    pub version: Version,
    /// The latest beat the sender knows of.
    pub last_beat: Timestamp,
    /// The data; `None` when deregistered.
    pub data: Option<Instance>,
    /// An eviction claim: no beat was heard after this time. The instance is live when it has
    /// data and its last beat is later than this.
    pub evicted: Option<Timestamp>,
}

impl InstanceRecord {
    /// The merge facts of this record.
    pub fn facts(&self) -> RecordFacts {
        RecordFacts {
            written: self.written,
            version: self.version,
            last_beat: self.last_beat,
            has_data: self.data.is_some(),
            evicted: self.evicted,
        }
        .normalized()
    }

    /// Whether the record says the instance is live.
    pub fn is_live(&self) -> bool {
        self.facts().is_live()
    }

    /// Why the record says the instance is gone, if it does.
    pub fn removal(&self) -> Option<RemovalReason> {
        match (&self.data, self.is_live()) {
            (_, true) => None,
            (None, false) => Some(RemovalReason::Deregistered),
            (Some(_), false) => Some(RemovalReason::Expired),
        }
    }
}

/// Service-level state as replicated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceMeta {
    /// Settings.
    pub settings: ServiceSettings,
    /// Whether the service was removed.
    pub removed: bool,
    /// Whether the settings were set explicitly (see
    /// [`ServiceSnapshot::has_explicit_settings`]). Absent on the wire means `false`.
    #[serde(default)]
    pub explicit: bool,
    /// Version of the last change to the above.
    pub version: Version,
}

/// Some or all instances of one service, as replicated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// The service.
    pub key: ServiceKey,
    /// Its service-level state.
    pub meta: ServiceMeta,
    /// The instances carried (live and removed).
    pub instances: Vec<InstanceRecord>,
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergeOutcome {
    /// Instances whose incoming copy was applied.
    pub applied: usize,
    /// Instances where the local copy won and differs: send these back.
    pub local_newer: Vec<InstanceKey>,
    /// Whether the local service-level state won and differs.
    pub meta_local_newer: bool,
    /// The revision published, if anything changed.
    pub revision: Option<u64>,
    /// Records refused by the [`MergeRules`]; the rest of the record was merged.
    pub refused: Vec<Refusal>,
    /// Beat times that were further ahead of this node's clock than the allowed skew, and were
    /// clamped to it.
    pub beats_clamped: usize,
}

impl ServiceSnapshot {
    /// The replicated form of one instance (live or tombstone), if known and not held by the
    /// control plane (Distro and the member's own disk leave those to the control plane's log:
    /// see `controlled.rs`).
    pub fn instance_record(&self, key: &InstanceKey) -> Option<InstanceRecord> {
        if let Some(e) = self.entry(key) {
            if e.version.is_control() || e.written.is_control() {
                return None;
            }
            return Some(InstanceRecord {
                key: key.clone(),
                written: e.written,
                version: e.version,
                last_beat: e.liveness.last_beat(),
                data: Some(Instance::clone(&e.instance)),
                evicted: None,
            });
        }
        let tombstone = self.tombstones.get(key)?;
        if tombstone.version.is_control() {
            return None;
        }
        Some(tombstone).map(|t| InstanceRecord {
            key: key.clone(),
            written: t.written,
            version: t.version,
            last_beat: t.last_beat,
            data: t.data.as_deref().cloned(),
            evicted: t.evicted,
        })
    }

    /// The service-level state.
    pub fn meta(&self) -> ServiceMeta {
        ServiceMeta {
            settings: ServiceSettings::clone(&self.settings),
            removed: self.meta_removed,
            explicit: self.explicit,
            version: self.meta_version,
        }
    }

    /// A record of the given instances, or of every instance and tombstone if `keys` is `None`.
    pub fn to_record(&self, keys: Option<&[InstanceKey]>) -> ServiceRecord {
        let instances = match keys {
            Some(keys) => keys
                .iter()
                .filter_map(|k| self.instance_record(k))
                .collect(),
            None => self
                .entries()
                .map(|e| e.instance.key())
                .chain(self.tombstones.keys().cloned())
                .filter_map(|k| self.instance_record(&k))
                .collect(),
        };
        ServiceRecord {
            key: self.key.clone(),
            meta: self.meta(),
            instances,
        }
    }

    /// A checksum of the live state (instances and versions, service-level version), equal on
    /// two nodes exactly when they hold the same live data. Tombstones and beat times are left
    /// out: they legitimately differ between nodes; so are the instances the control plane
    /// holds, which Distro does not replicate.
    ///
    /// Worked out once per snapshot and kept with it ([`ServiceSnapshot::memo`]), so a verify
    /// round walks the instances only of the services written since the last one.
    pub fn checksum(&self) -> u64 {
        /// The memo key: "checksum" in ASCII.
        const CHECKSUM: u64 = 0x6368_6563_6b73_756d;
        *self.memo(CHECKSUM, || self.compute_checksum())
    }

    fn compute_checksum(&self) -> u64 {
        let mut h = Fnv::new();
        h.u64(self.meta_version.stamp);
        h.u64(self.meta_version.origin);
        h.u64(u64::from(self.removed));
        for e in self.entries().filter(|e| !e.version.is_control()) {
            let inst = &e.instance;
            h.bytes(inst.cluster().as_str().as_bytes());
            h.bytes(inst.ip().as_str().as_bytes());
            h.u64(u64::from(inst.port()));
            h.u64(e.version.stamp);
            h.u64(e.version.origin);
        }
        h.finish()
    }
}

/// FNV-1a, 64 bit: stable across processes and platforms, unlike `std`'s seeded hasher.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    pub(crate) fn byte(&mut self, b: u8) {
        self.0 ^= u64::from(b);
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.byte(*b);
        }
        // A separator, so ("ab","c") and ("a","bc") differ.
        self.byte(0xff);
    }
    pub(crate) fn u64(&mut self, v: u64) {
        for b in v.to_le_bytes() {
            self.byte(b);
        }
    }
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// What this node knows of one instance: its facts and its data, if any.
fn local_slot(
    snap: &ServiceSnapshot,
    key: &InstanceKey,
) -> Option<(RecordFacts, Option<Arc<Instance>>)> {
    if let Some(e) = snap.entry(key) {
        let facts = RecordFacts {
            written: e.written,
            version: e.version,
            last_beat: e.liveness.last_beat(),
            has_data: true,
            evicted: None,
        };
        return Some((facts, Some(e.instance.clone())));
    }
    snap.tombstones.get(key).map(|t| {
        let facts = RecordFacts {
            written: t.written,
            version: t.version,
            last_beat: t.last_beat,
            has_data: t.data.is_some(),
            evicted: t.evicted,
        };
        (facts.normalized(), t.data.clone())
    })
}

impl Store {
    /// Merges a replicated record into this store (see the module documentation), as a node
    /// whose clock reads `now`. Each instance record, and the service-level state, is checked
    /// against `rules` first: what fails is left out and reported in
    /// [`MergeOutcome::refused`], the rest is merged. Creates the service if the record brings
    /// live instances or a live service-level state.
    ///
    /// A removal this node knows nothing else about (no live copy, no tombstone: a
    /// deregistration carries no data) is taken as one of ephemeral data; see
    /// [`Store::merge_durable`] for records that may hold removals of persistent data.
    pub(crate) fn merge(
        &self,
        record: ServiceRecord,
        rules: &MergeRules,
        now: Timestamp,
    ) -> MergeOutcome {
        self.merge_with(record, rules, now, false)
    }

    /// [`Store::merge`] for records that may hold removals of persistent data: a disk row
    /// being loaded, a snapshot chunk from a peer. A removal this node knows nothing else
    /// about is taken as durable ([`Tombstone::durable`]), so it is kept as long as its
    /// sender kept it, not collected after the retention while a member may still hold the
    /// instance on disk.
    pub(crate) fn merge_durable(
        &self,
        record: ServiceRecord,
        rules: &MergeRules,
        now: Timestamp,
    ) -> MergeOutcome {
        self.merge_with(record, rules, now, true)
    }

    fn merge_with(
        &self,
        record: ServiceRecord,
        rules: &MergeRules,
        now: Timestamp,
        unknown_is_durable: bool,
    ) -> MergeOutcome {
        let key = record.key.clone();
        let mut refused = Vec::new();
        let meta_ok = match rules.check_meta(&record.meta, now) {
            Ok(()) => true,
            Err(reason) => {
                refused.push(Refusal {
                    instance: None,
                    reason,
                });
                false
            }
        };
        let controlled = self.persistent_is_controlled();
        let mut instances = Vec::with_capacity(record.instances.len());
        for rec in record.instances {
            let checked = rules.check_instance(&rec, now).and_then(|()| {
                let persistent = rec.data.as_ref().is_some_and(|d| !d.ephemeral());
                if rec.written.is_control()
                    || rec.version.is_control()
                    || (controlled && persistent)
                {
                    Err(RecordRefusal::ControlOwned)
                } else {
                    Ok(())
                }
            });
            match checked {
                Ok(()) => instances.push(rec),
                Err(reason) => refused.push(Refusal {
                    instance: Some(rec.key),
                    reason,
                }),
            }
        }
        if meta_ok {
            self.observe_version(record.meta.version);
        }
        for r in &instances {
            self.observe_version(r.version);
        }
        let meta = record.meta;
        let written = self.write(&key, true, |snap| {
            let mut out = MergeOutcome::default();
            let mut changed = false;
            for mut rec in instances {
                let (last_beat, clamped) = rules.clamp_beat(rec.last_beat, now);
                rec.last_beat = last_beat;
                out.beats_clamped += usize::from(clamped);
                if let Some(e) = rec.evicted {
                    // A claim from the future would outlive every beat: clamp it like a beat.
                    let (e, clamped) = rules.clamp_beat(e, now);
                    rec.evicted = Some(e);
                    out.beats_clamped += usize::from(clamped);
                }
                let incoming = rec.facts();
                let local = local_slot(snap, &rec.key);
                if local.as_ref().is_some_and(|(facts, data)| {
                    facts.version.is_control()
                        || (controlled && data.as_ref().is_some_and(|d| !d.ephemeral()))
                }) {
                    // The control plane's log decides this instance (see `controlled.rs`).
                    continue;
                }
                let (joined, side) = match &local {
                    Some((facts, _)) => join(facts, &incoming),
                    None => (incoming, Side::Incoming),
                };
                // The peer should hear back when this node knows better.
                if joined.register_order() != incoming.register_order()
                    || joined.is_live() != incoming.is_live()
                {
                    out.local_newer.push(rec.key.clone());
                }
                let data = match side {
                    Side::Incoming => rec.data.map(Arc::new),
                    Side::Local => local.as_ref().and_then(|(_, d)| d.clone()),
                };
                let was_live = snap.entry(&rec.key).is_some();
                if joined.is_live() {
                    let Some(instance) = data else { continue };
                    if let Some(e) = snap.entry(&rec.key) {
                        e.liveness.beat(joined.last_beat);
                        if side == Side::Local {
                            // Only a later beat learnt: nothing to publish.
                            continue;
                        }
                    }
                    let max = rules.limits.max_instances_per_service;
                    if !was_live && snap.instance_count >= max {
                        out.local_newer.retain(|k| *k != rec.key);
                        out.refused.push(Refusal {
                            instance: Some(rec.key),
                            reason: RecordRefusal::TooManyInstances {
                                would_hold: snap.instance_count + 1,
                                max,
                            },
                        });
                        continue;
                    }
                    let liveness = match snap.entry(&rec.key) {
                        Some(e) => e.liveness.clone(),
                        None => Arc::new(Liveness::new(joined.last_beat)),
                    };
                    snap.put_merged(InstanceEntry::new(
                        instance,
                        liveness,
                        joined.written,
                        joined.version,
                    ));
                } else {
                    // What this node knew of the instance says whether its removal concerns
                    // persistent data; failing that, the data the removal carries, or where
                    // the record comes from.
                    let known = snap
                        .entry(&rec.key)
                        .map(|e| !e.ephemeral())
                        .or_else(|| snap.tombstones.get(&rec.key).map(|t| t.durable));
                    let durable = known.unwrap_or(unknown_is_durable)
                        || data.as_ref().is_some_and(|d| !d.ephemeral());
                    let tombstone = Tombstone {
                        written: joined.written,
                        version: joined.version,
                        last_beat: joined.last_beat,
                        data,
                        evicted: joined.evicted,
                        removed_at: now,
                        durable,
                    };
                    let known = snap.tombstones.get(&rec.key);
                    if known.is_some_and(|t| {
                        Tombstone {
                            removed_at: now,
                            ..t.clone()
                        } == tombstone
                    }) {
                        continue;
                    }
                    snap.tombstone_merged(&rec.key, tombstone);
                }
                changed = true;
                out.applied += 1;
            }
            if !meta_ok {
                // Refused: neither applied nor answered with the local copy.
            } else if meta.version.is_control() || snap.meta_version.is_control() {
                // The control plane's log decides these settings (see `controlled.rs`).
            } else if meta.version > snap.meta_version {
                // A removal of explicit settings (or one this node knows nothing else of, from
                // a disk row or a snapshot) is durable; a live service-level write clears it.
                snap.durable_removal = meta.removed
                    && (snap.durable_removal
                        || snap.explicit
                        || (unknown_is_durable && snap.meta_version == Version::default()));
                snap.meta_removed = meta.removed;
                // A removal's settings are the defaults, whatever the record says: a node that
                // marks the service removed later (its last instance gone) resets them too.
                snap.settings = Arc::new(if meta.removed {
                    ServiceSettings::default()
                } else {
                    meta.settings
                });
                snap.explicit = meta.explicit && !meta.removed;
                snap.meta_version = meta.version;
                if meta.removed && snap.removed && snap.removed_at.is_none() {
                    // A service this node never saw live: its removal is collected from now.
                    snap.removed_at = Some(now);
                }
                changed = true;
            } else if meta.version < snap.meta_version {
                out.meta_local_newer = true;
            }
            changed |= snap.settle_removal(now);
            Ok::<_, StoreError>((out, changed))
        });
        let mut out = match written {
            Ok(Some(w)) => {
                let mut out = w.value;
                out.revision = w.changed.then_some(w.revision);
                out
            }
            _ => MergeOutcome::default(),
        };
        refused.append(&mut out.refused);
        out.refused = refused;
        out
    }
}

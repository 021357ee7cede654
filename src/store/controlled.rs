//! Persistent instances held by the control plane: [`Store::apply_controlled`] makes a
//! service's persistent instances exactly what the control plane's log holds, and
//! [`Store::hand_persistent_to_control`] stops Distro from moving persistent data.
//!
//! With a control plane, a persistent instance is written to the Raft log, and every member
//! applies the log to its own store: the same instances, at the same [`Version`]s (stamped
//! with [`CONTROL_ORIGIN`] by the log, not by a member's clock). Distro leaves them alone:
//! a record of one is never sent ([`ServiceSnapshot::instance_record`] has none for it), never
//! counted in a checksum, and one arriving from a peer is refused
//! ([`super::RecordRefusal::ControlOwned`]); once the store is handed to the control plane, a
//! peer's record of any persistent data is refused too. So a member back from a long outage
//! cannot bring back a persistent instance deleted meanwhile: its copy is replaced by the
//! log's, never merged.
//!
//! The write is authoritative, not a merge: whatever versions the store holds, the instances
//! given are stored and every other persistent instance of the service that the control plane
//! made (and, with `purge_legacy`, every one written before it held them) is removed. Its
//! tombstone is not durable: the log is the record of the removal, and no peer sends the
//! instance back.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::index::Store;
use super::liveness::Liveness;
use super::snapshot::{InstanceEntry, ServiceSnapshot, Tombstone};
use super::version::{Version, CONTROL_ORIGIN};
use crate::clock::Timestamp;
use crate::model::{Instance, InstanceKey, ServiceKey};

/// One persistent instance as the control plane's log holds it: its data and the versions
/// the log gave its last client write and its last change.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlledInstance {
    /// The instance (persistent).
    pub instance: Instance,
    /// The log's stamp of the client write behind the data.
    pub written: u64,
    /// The log's stamp of the last change (the write, or a later health change).
    pub version: u64,
}

impl ControlledInstance {
    fn versions(&self) -> (Version, Version) {
        let v = |stamp| Version {
            stamp,
            origin: CONTROL_ORIGIN,
        };
        (v(self.written), v(self.version))
    }
}

impl Store {
    /// From now on a peer's record of persistent data is refused by every merge: the control
    /// plane holds it (see the module documentation).
    pub(crate) fn hand_persistent_to_control(&self) {
        self.control_owned.store(true, Ordering::Release);
    }

    /// Whether [`Store::hand_persistent_to_control`] was called.
    pub(crate) fn persistent_is_controlled(&self) -> bool {
        self.control_owned.load(Ordering::Acquire)
    }

    /// Makes the persistent instances of `service` exactly `instances` (each already checked
    /// by the control plane), removing the other persistent instances the control plane made
    /// and, with `purge_legacy`, those written before it held them; `removal` stamps the
    /// removals. Returns the service's revision if anything changed.
    pub(crate) fn apply_controlled(
        &self,
        service: &ServiceKey,
        instances: &[ControlledInstance],
        purge_legacy: bool,
        removal: u64,
        now: Timestamp,
    ) -> Option<u64> {
        if let Some(latest) = instances.iter().map(|i| i.version).max() {
            self.observe_version(Version {
                stamp: latest.max(removal),
                origin: 0,
            });
        }
        let create = !instances.is_empty();
        let written = self.write(service, create, |snap| {
            let keep: HashSet<InstanceKey> = instances.iter().map(|i| i.instance.key()).collect();
            let mut changed = false;
            let gone: Vec<InstanceKey> = snap
                .entries()
                .filter(|e| !e.ephemeral() && (e.version().is_control() || purge_legacy))
                .map(|e| e.instance().key())
                .filter(|k| !keep.contains(k))
                .collect();
            for key in gone {
                remove(snap, &key, removal, now);
                changed = true;
            }
            for wanted in instances {
                changed |= put(snap, wanted, now);
            }
            changed |= snap.settle_removal(now);
            Ok::<_, std::convert::Infallible>(((), changed))
        });
        match written {
            Ok(Some(w)) if w.changed => Some(w.revision),
            _ => None,
        }
    }
}

/// Stores `wanted` unless the same data at the same versions is there; returns whether it
/// changed the snapshot.
fn put(snap: &mut ServiceSnapshot, wanted: &ControlledInstance, now: Timestamp) -> bool {
    let key = wanted.instance.key();
    let (written, version) = wanted.versions();
    let liveness = match snap.entry(&key) {
        Some(e) if e.written() == written && e.version() == version => {
            if **e.instance() == wanted.instance {
                return false;
            }
            e.liveness.clone()
        }
        Some(e) => e.liveness.clone(),
        None => Arc::new(Liveness::new(now)),
    };
    snap.put_merged(InstanceEntry::new(
        Arc::new(wanted.instance.clone()),
        liveness,
        written,
        version,
    ));
    true
}

/// Removes the live entry at `key`, leaving a tombstone stamped `removal` by the control plane.
fn remove(snap: &mut ServiceSnapshot, key: &InstanceKey, removal: u64, now: Timestamp) {
    let last_beat = snap
        .entry(key)
        .map(|e| e.liveness().last_beat())
        .unwrap_or(now);
    let stamp = Version {
        stamp: removal,
        origin: CONTROL_ORIGIN,
    };
    snap.tombstone_merged(
        key,
        Tombstone {
            written: stamp,
            version: stamp,
            last_beat,
            data: None,
            evicted: None,
            removed_at: now,
            durable: false,
        },
    );
}

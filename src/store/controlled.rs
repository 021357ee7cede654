//! Persistent instances held by the control plane: [`Store::apply_controlled`] makes a
//! service's persistent instances exactly what the control plane's log holds, and
//! [`Store::hand_persistent_to_control`] stops Distro from moving persistent data.
//!
//! With a control plane, a persistent instance is written to the Raft log, and every member
//! applies the log to its own store: the same instances, at the same [`Version`]s (stamped
//! with [`super::CONTROL_ORIGIN`] by the log, not by a member's clock). Distro leaves them alone:
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
use super::snapshot::{InstanceEntry, ServiceSettings, ServiceSnapshot, Tombstone};
use super::version::Version;
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

/// A service's settings as the control plane's log holds them, for
/// [`crate::registry::Registry::apply_controlled`].
#[derive(Debug, Clone, PartialEq)]
pub enum ControlledSettings {
    /// The log holds these settings, last changed at this stamp.
    Held(ServiceSettings, u64),
    /// The log holds none: settings it made earlier are removed (settings it never made are
    /// left to Distro).
    NotHeld,
}

impl ControlledInstance {
    fn versions(&self) -> (Version, Version) {
        (
            Version::control(self.written),
            Version::control(self.version),
        )
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
        settings: &ControlledSettings,
        purge_legacy: bool,
        removal: u64,
        now: Timestamp,
    ) -> Option<u64> {
        // The log's last stamp: at least every version it gives here.
        self.observe_version(Version::control(removal));
        let create = !instances.is_empty() || matches!(settings, ControlledSettings::Held(..));
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
            changed |= set_settings(snap, settings, removal, now);
            changed |= snap.settle_removal(now);
            Ok::<_, std::convert::Infallible>(((), changed))
        });
        match written {
            Ok(Some(w)) if w.changed => Some(w.revision),
            _ => None,
        }
    }
}

/// Makes the service-level state what the log says; returns whether it changed anything.
fn set_settings(
    snap: &mut ServiceSnapshot,
    settings: &ControlledSettings,
    removal: u64,
    now: Timestamp,
) -> bool {
    match settings {
        ControlledSettings::Held(settings, stamp) => {
            let version = Version::control(*stamp);
            if snap.meta_version == version && !snap.meta_removed && snap.explicit {
                return false;
            }
            snap.set_explicit(settings.clone(), version, now);
            true
        }
        ControlledSettings::NotHeld => {
            if !snap.meta_version.is_control() || snap.meta_removed {
                return false;
            }
            snap.meta_removed = true;
            snap.explicit = false;
            snap.settings = Arc::new(ServiceSettings::default());
            snap.meta_version = Version::control(removal);
            if snap.instance_count == 0 {
                snap.mark_removed(now);
            }
            true
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
    let stamp = Version::control(removal);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{InstanceRecord, MergeRules, RecordRefusal, ServiceMeta, ServiceRecord};
    use crate::{Limits, ManualClock, Registry, ServiceSettings};

    const NOT_HELD: ControlledSettings = ControlledSettings::NotHeld;

    fn db() -> ServiceKey {
        ServiceKey::named("db").unwrap()
    }

    fn primary(ip: &str) -> Instance {
        Instance::builder(ip, 5432)
            .ephemeral(false)
            .build()
            .unwrap()
    }

    fn held(ip: &str, stamp: u64) -> ControlledInstance {
        ControlledInstance {
            instance: primary(ip),
            written: stamp,
            version: stamp,
        }
    }

    /// A peer's record of `instance` live, at `version`.
    fn record(instance: &Instance, version: Version) -> ServiceRecord {
        ServiceRecord {
            key: db(),
            meta: ServiceMeta {
                settings: ServiceSettings::default(),
                removed: false,
                explicit: false,
                version: Version::default(),
            },
            instances: vec![InstanceRecord {
                key: instance.key(),
                written: version,
                version,
                last_beat: crate::Timestamp::from_micros(1),
                data: Some(instance.clone()),
                evicted: None,
            }],
        }
    }

    #[test]
    fn the_log_decides_and_distro_neither_sends_counts_nor_takes_what_it_holds() {
        let clock = ManualClock::new();
        let registry = Registry::builder().clock(clock.clone()).build();
        let store = registry.store();
        let now = clock.now();
        let ephemeral = Instance::new("10.0.0.1", 80).unwrap();
        registry
            .register_instance(&db(), ephemeral.clone())
            .unwrap();
        let sum_before = registry.service(&db()).unwrap().checksum();

        assert!(store
            .apply_controlled(&db(), &[held("10.0.0.9", 100)], &NOT_HELD, false, 100, now)
            .is_some());
        let snap = registry.service(&db()).unwrap();
        assert!(snap.entry(&primary("10.0.0.9").key()).is_some());
        assert!(snap.instance_record(&primary("10.0.0.9").key()).is_none());
        assert!(snap.instance_record(&ephemeral.key()).is_some());
        assert_eq!(
            snap.checksum(),
            sum_before,
            "the log's instance is not in the sum"
        );
        // Applying the same again changes nothing.
        assert!(store
            .apply_controlled(&db(), &[held("10.0.0.9", 100)], &NOT_HELD, false, 100, now)
            .is_none());

        // A peer's copy of it, however new, is refused; so is any persistent record once the
        // store is handed to the control plane.
        store.hand_persistent_to_control();
        let rules = MergeRules::new(Limits::default());
        let newer = Version {
            stamp: now.as_micros(),
            origin: 7,
        };
        let out = store.merge(record(&primary("10.0.0.9"), newer), &rules, now);
        assert_eq!(out.applied, 0);
        assert!(out
            .refused
            .iter()
            .all(|r| r.reason == RecordRefusal::ControlOwned));
        let other = store.merge(record(&primary("10.0.0.8"), newer), &rules, now);
        assert_eq!(other.refused[0].reason, RecordRefusal::ControlOwned);
        assert!(registry
            .service(&db())
            .unwrap()
            .entry(&primary("10.0.0.8").key())
            .is_none());
        // Ephemeral data still merges.
        let eph = Instance::new("10.0.0.2", 80).unwrap();
        assert_eq!(store.merge(record(&eph, newer), &rules, now).applied, 1);

        // The log drops it: removed here, the ephemeral instances untouched.
        store.apply_controlled(&db(), &[], &NOT_HELD, false, 200, now);
        let snap = registry.service(&db()).unwrap();
        assert!(snap.entry(&primary("10.0.0.9").key()).is_none());
        assert_eq!(snap.instance_count(), 2);
    }

    #[test]
    fn what_the_store_held_from_before_goes_only_once_the_log_has_imported() {
        let clock = ManualClock::new();
        let registry = Registry::builder().clock(clock.clone()).build();
        let store = registry.store();
        let now = clock.now();
        registry
            .register_instance(&db(), primary("10.0.0.5"))
            .unwrap();
        store.apply_controlled(&db(), &[held("10.0.0.9", 100)], &NOT_HELD, false, 100, now);
        assert_eq!(registry.legacy_persistent().len(), 1);
        store.apply_controlled(&db(), &[held("10.0.0.9", 100)], &NOT_HELD, true, 100, now);
        assert!(registry.legacy_persistent().is_empty());
        let snap = registry.service(&db()).unwrap();
        assert_eq!(snap.instance_count(), 1);
        assert!(snap.entry(&primary("10.0.0.9").key()).is_some());
    }

    #[test]
    fn the_logs_settings_are_set_kept_from_distro_and_removed() {
        let clock = ManualClock::new();
        let registry = Registry::builder().clock(clock.clone()).build();
        let store = registry.store();
        let now = clock.now();
        let settings = ServiceSettings {
            protect_threshold: 0.4,
            ..ServiceSettings::default()
        };
        let held = ControlledSettings::Held(settings.clone(), 100);
        assert!(store
            .apply_controlled(&db(), &[], &held, false, 100, now)
            .is_some());
        let snap = registry.service(&db()).unwrap();
        assert!(!snap.is_removed() && snap.has_explicit_settings());
        assert_eq!(*snap.settings(), settings);
        assert!(snap.meta_version().is_control());

        // A peer's settings, however new, do not replace the log's.
        let mut peer = record(&Instance::new("10.0.0.2", 80).unwrap(), Version::default());
        peer.instances.clear();
        peer.meta = ServiceMeta {
            settings: ServiceSettings::default(),
            removed: false,
            explicit: true,
            version: Version {
                stamp: now.as_micros(),
                origin: 7,
            },
        };
        let out = store.merge(peer, &MergeRules::new(Limits::default()), now);
        assert!(!out.meta_local_newer);
        assert_eq!(*registry.service(&db()).unwrap().settings(), settings);

        // The log dropped them: back to the defaults, and the empty service removed.
        store.apply_controlled(&db(), &[], &NOT_HELD, false, 200, now);
        let snap = registry.store().load_any(&db()).unwrap();
        assert!(snap.is_removed());
        assert!(!snap.has_explicit_settings());
    }
}

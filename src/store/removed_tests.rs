//! Removed services and their tombstones: a removed service is kept as a tombstone for the
//! retention (`HealthConfig::tombstone_ttl`), so a stale peer record cannot bring it back, and
//! is collected after it; removals of persistent data are kept past it while the collection
//! is told to hold them (a cluster member missing a peer).

use crate::store::{InstanceRecord, ServiceMeta, ServiceRecord};
use crate::{HealthConfig, Instance, ManualClock, Registry, ServiceKey, ServiceSettings};
use std::time::Duration;

fn registry_on(clock: &ManualClock) -> Registry {
    Registry::builder().clock(clock.clone()).build()
}

fn key(service: &str) -> ServiceKey {
    ServiceKey::named(service).unwrap()
}

fn inst(ip: &str) -> Instance {
    Instance::new(ip, 8080).unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn settings_meta(version: crate::store::Version, explicit: bool) -> ServiceMeta {
    ServiceMeta {
        settings: ServiceSettings {
            protect_threshold: 0.3,
            ..ServiceSettings::default()
        },
        removed: false,
        explicit,
        version,
    }
}

/// A peer's record of `instance` as live, written at `version`, last heard at `beat`.
fn stale_live(
    service: &ServiceKey,
    instance: &Instance,
    version: crate::store::Version,
    beat: crate::Timestamp,
) -> ServiceRecord {
    ServiceRecord {
        key: service.clone(),
        meta: ServiceMeta {
            settings: ServiceSettings::default(),
            removed: false,
            explicit: false,
            version: crate::store::Version::default(),
        },
        instances: vec![InstanceRecord {
            key: instance.key(),
            written: version,
            version,
            last_beat: beat,
            data: Some(instance.clone()),
            evicted: None,
        }],
    }
}

#[test]
fn a_removed_service_is_collected_after_the_tombstone_retention() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let ttl = HealthConfig::default().tombstone_ttl;
    let orders = key("orders");
    registry
        .register_instance(&orders, inst("10.0.0.1"))
        .unwrap();
    registry.deregister_instance(&orders, &inst("10.0.0.1").key());
    registry.remove_service(&orders).unwrap();
    let removed_at = clock.now();
    registry.check_health_at(removed_at + ttl - Duration::from_micros(1));
    assert!(registry.store().all_keys().contains(&orders));
    registry.check_health_at(removed_at + ttl);
    assert!(registry.store().all_keys().is_empty());

    // A thousand services made and removed leave nothing behind after the retention.
    for i in 0..1000 {
        let k = key(&format!("s{i}"));
        registry.register_instance(&k, inst("10.0.0.1")).unwrap();
        registry.deregister_instance(&k, &inst("10.0.0.1").key());
    }
    clock.advance(secs(60));
    assert_eq!(registry.check_health().removed_services.len(), 1000);
    assert_eq!(registry.store().all_keys().len(), 1000);
    clock.advance(ttl);
    registry.check_health();
    assert!(registry.store().all_keys().is_empty());
}

#[test]
fn within_the_retention_a_stale_peer_record_cannot_bring_a_removed_service_back() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let orders = key("orders");
    let a = inst("10.0.0.1");
    registry.register_instance(&orders, a.clone()).unwrap();
    let snap = registry.service(&orders).unwrap();
    let live = snap.instance_record(&a.key()).unwrap();
    let meta_then = snap.meta_version();
    registry.deregister_instance(&orders, &a.key());
    clock.advance(secs(60));
    assert_eq!(registry.check_health().removed_services.len(), 1);

    // The peer's copies from before the removal: the live instance, and the live service.
    clock.advance(secs(299));
    registry.check_health();
    let store = registry.store();
    store.merge(
        stale_live(&orders, &a, live.version, live.last_beat),
        &rules(),
        clock.now(),
    );
    store.merge(
        ServiceRecord {
            key: orders.clone(),
            meta: settings_meta(meta_then, true),
            instances: vec![],
        },
        &rules(),
        clock.now(),
    );
    assert!(registry.service(&orders).is_none());
}

/// After the retention, a stale peer record brings back the same for a removed service (whose
/// cell is collected) as for a live service whose instance tombstone was collected: the
/// ephemeral instance, which the next sweep evicts again, taking the removed service with it.
#[test]
fn after_the_retention_a_stale_ephemeral_record_goes_again_at_once_as_it_always_did() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let ttl = HealthConfig::default().tombstone_ttl;
    let gone = key("gone");
    let live = key("live");
    let a = inst("10.0.0.1");
    let b = inst("10.0.0.2");
    registry.register_instance(&gone, a.clone()).unwrap();
    registry.register_instance(&live, a.clone()).unwrap();
    registry.register_instance(&live, b.clone()).unwrap();
    let stale_gone = registry
        .service(&gone)
        .unwrap()
        .instance_record(&a.key())
        .unwrap();
    let stale_live_rec = registry
        .service(&live)
        .unwrap()
        .instance_record(&a.key())
        .unwrap();
    registry.deregister_instance(&gone, &a.key());
    registry.deregister_instance(&live, &a.key());
    // `live` keeps a beating instance, b, throughout.
    let step = |d: Duration| {
        clock.advance(d);
        registry.heartbeat(&live, &b.key()).unwrap();
        registry.check_health()
    };
    assert_eq!(step(secs(60)).removed_services, vec![gone.clone()]);
    for _ in 0..ttl.as_secs() / 10 {
        step(secs(10));
    }
    assert!(!registry.store().all_keys().contains(&gone));
    assert_eq!(registry.service(&live).unwrap().tombstones().count(), 0);

    for (service, rec) in [(&gone, &stale_gone), (&live, &stale_live_rec)] {
        registry.store().merge(
            stale_live(service, &a, rec.version, rec.last_beat),
            &rules(),
            clock.now(),
        );
        assert!(registry
            .service(service)
            .is_some_and(|s| s.entry(&a.key()).is_some()));
    }
    // Their last beat is older than the delete timeout: the next sweep evicts both.
    let report = registry.check_health();
    let mut evicted: Vec<_> = report
        .removed
        .iter()
        .map(|(s, i)| (s.clone(), i.clone()))
        .collect();
    evicted.sort();
    assert_eq!(
        evicted,
        vec![(gone.clone(), a.key()), (live.clone(), a.key())]
    );
    // And the service the stale record kept alive goes with it: its latest service-level
    // write (as far as this node knows) never created it, and no instance is left.
    assert!(registry.service(&gone).is_none());
    assert_eq!(registry.get_all_instances(&live, &[]).to_vec(), vec![b]);
}

#[test]
fn a_tombstone_only_record_for_an_unknown_service_is_kept_then_collected() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let orders = key("orders");
    let a = inst("10.0.0.1");
    let deregistered = crate::store::Version {
        stamp: clock.now().as_micros(),
        origin: 7,
    };
    let tombstone = ServiceRecord {
        key: orders.clone(),
        meta: ServiceMeta {
            settings: ServiceSettings::default(),
            removed: true,
            explicit: false,
            version: crate::store::Version::default(),
        },
        instances: vec![InstanceRecord {
            key: a.key(),
            written: deregistered,
            version: deregistered,
            last_beat: clock.now(),
            data: None,
            evicted: None,
        }],
    };
    registry.store().merge(tombstone, &rules(), clock.now());
    assert!(registry.service(&orders).is_none());
    assert!(registry.store().all_keys().contains(&orders));
    clock.advance(HealthConfig::default().tombstone_ttl);
    registry.check_health();
    assert!(registry.store().all_keys().is_empty());
}

fn persistent(ip: &str) -> Instance {
    Instance::builder(ip, 5432)
        .ephemeral(false)
        .build()
        .unwrap()
}

#[test]
fn removals_of_persistent_data_are_held_past_the_retention_and_others_are_not() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let ttl = HealthConfig::default().tombstone_ttl;
    let (db, web, cfg) = (key("db"), key("web"), key("cfg"));
    let (p, q, e) = (
        persistent("10.0.0.1"),
        persistent("10.0.0.2"),
        inst("10.0.0.3"),
    );
    registry.register_instance(&db, p.clone()).unwrap();
    registry.register_instance(&db, q.clone()).unwrap();
    registry.register_instance(&web, e.clone()).unwrap();
    registry.register_instance(&web, inst("10.0.0.4")).unwrap();
    registry
        .create_service(&cfg, ServiceSettings::default())
        .unwrap();
    registry.deregister_instance(&db, &p.key());
    registry.deregister_instance(&web, &e.key());
    registry.remove_service(&cfg).unwrap();
    let store = registry.store();
    let tomb = |s: &ServiceKey, k: crate::InstanceKey| {
        let snap = store.load_any(s).unwrap();
        let found = snap
            .tombstones()
            .find(|(t, _)| **t == k)
            .map(|(_, t)| t.clone());
        found
    };
    assert!(tomb(&db, p.key()).unwrap().durable);
    assert!(!tomb(&web, e.key()).unwrap().durable);

    let later = clock.now() + ttl;
    let held = store.collect_tombstones(later, None);
    // The ephemeral tombstone goes; the persistent one and the explicit service stay.
    assert_eq!((held.tombstones, held.services, held.held), (1, 0, 2));
    assert!(tomb(&db, p.key()).is_some());
    assert!(tomb(&web, e.key()).is_none());
    assert!(store.load_any(&cfg).is_some());
    // Stale copies of both are still refused, however late.
    let stale = stale_live(&db, &p, crate::store::Version::default(), clock.now());
    store.merge(stale, &rules(), later);
    assert!(registry
        .get_all_instances(&db, &[])
        .iter()
        .all(|i| i.key() != p.key()));
    // Released, they go.
    // Reached by a horizon before their removal, they stay; at it, they go.
    let before = clock.now() - secs(1);
    assert_eq!(store.collect_tombstones(later, Some(before)).held, 2);
    let released = store.collect_tombstones(later, Some(clock.now()));
    assert_eq!(
        (released.tombstones, released.services, released.held),
        (1, 1, 0)
    );
    assert!(tomb(&db, p.key()).is_none());
    assert!(store.load_any(&cfg).is_none());
}

#[test]
fn a_removal_learnt_from_a_disk_row_or_a_snapshot_with_nothing_else_known_is_durable() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let (db, cfg) = (key("db"), key("cfg"));
    let a = inst("10.0.0.1");
    let removed = crate::store::Version {
        stamp: clock.now().as_micros(),
        origin: 7,
    };
    let tombstone = |service: &ServiceKey| ServiceRecord {
        key: service.clone(),
        meta: ServiceMeta {
            settings: ServiceSettings::default(),
            removed: true,
            explicit: false,
            version: removed,
        },
        instances: vec![InstanceRecord {
            key: a.key(),
            written: removed,
            version: removed,
            last_beat: clock.now(),
            data: None,
            evicted: None,
        }],
    };
    let store = registry.store();
    store.merge(tombstone(&db), &rules(), clock.now());
    store.merge_durable(tombstone(&cfg), &rules(), clock.now());
    let durable = |s: &ServiceKey| {
        store
            .load_any(s)
            .unwrap()
            .tombstones()
            .all(|(_, t)| t.durable)
    };
    assert!(!durable(&db));
    assert!(durable(&cfg));
    let later = clock.now() + HealthConfig::default().tombstone_ttl;
    let out = store.collect_tombstones(later, None);
    assert_eq!((out.services, out.held), (1, 2));
    assert!(store.load_any(&db).is_none());
    assert!(store.load_any(&cfg).is_some());
}

/// The merge rules of a node with the default limits.
fn rules() -> crate::store::MergeRules {
    crate::store::MergeRules::new(crate::Limits::default())
}

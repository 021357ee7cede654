//! Resource bounds (issue 11, item 3), through the public API: caps on services, namespaces and
//! service metadata, ranges for the `preserved.*` timings, removal of empty services, collection
//! of removed services, bounded event delivery, and a rate-limited log of refusals.

mod common;

use common::{inst, key, registry_on, secs};
use nacre::cluster::{
    ClusterError, Dispatch, DistroConfig, DistroCore, NodeId, PeerRequest, PeerResponse,
    RemoteFailure, Route,
};
use nacre::front::ErrorClass;
use nacre::model::{
    LimitExceeded, TimingRange, PRESERVED_HEART_BEAT_INTERVAL, PRESERVED_HEART_BEAT_TIMEOUT,
    PRESERVED_IP_DELETE_TIMEOUT,
};
use nacre::store::{InstanceRecord, ServiceMeta, ServiceRecord};
use nacre::{
    Command, HealthConfig, Instance, InstanceUpdate, Limits, ManualClock, NamingEvent, Registry,
    RegistryError, ServiceKey, ServiceSettings, ValidationError,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn registry_with(clock: &ManualClock, limits: Limits) -> Registry {
    Registry::builder()
        .clock(clock.clone())
        .limits(limits)
        .build()
}

fn in_ns(namespace: &str, service: &str) -> ServiceKey {
    ServiceKey::new(namespace, "DEFAULT_GROUP", service).unwrap()
}

fn metadata(size: usize) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("k".to_owned(), "v".repeat(size - 1));
    m
}

// ----- caps -----

#[test]
fn a_new_service_over_the_namespace_cap_is_refused_and_nothing_stored_is_lost() {
    let clock = ManualClock::new();
    let registry = registry_with(
        &clock,
        Limits {
            max_services_per_namespace: 2,
            ..Limits::default()
        },
    );
    let a = key("a");
    let b = key("b");
    registry.register_instance(&a, inst("10.0.0.1")).unwrap();
    registry
        .create_service(&b, ServiceSettings::default())
        .unwrap();
    let rev_a = registry.revision(&a);

    // Every way of creating a third service is refused, naming the limit.
    let c = key("c");
    let refusals = [
        registry
            .register_instance(&c, inst("10.0.0.2"))
            .unwrap_err(),
        registry
            .batch_register_instance(&c, vec![inst("10.0.0.2")])
            .unwrap_err(),
        registry
            .heartbeat_with(&c, &inst("10.0.0.2"))
            .map(|_| 0)
            .unwrap_err(),
        registry
            .create_service(&c, ServiceSettings::default())
            .unwrap_err(),
    ];
    for err in refusals {
        assert_eq!(
            err,
            RegistryError::Limit(LimitExceeded::Services {
                namespace: c.namespace().clone(),
                max: 2,
            })
        );
        assert_eq!(err.limit(), Some("max_services_per_namespace"));
        assert!(err.to_string().contains("max_services_per_namespace"));
    }
    assert!(registry.service(&c).is_none());
    // A refused creation leaves no trace in the store, however often it is tried.
    assert!(!registry.store().all_keys().contains(&c));

    // What was stored is untouched, and writes into existing services still work.
    assert_eq!(registry.revision(&a), rev_a);
    registry.register_instance(&a, inst("10.0.0.3")).unwrap();
    registry.register_instance(&b, inst("10.0.0.3")).unwrap();
    assert_eq!(registry.get_all_instances(&a, &[]).len(), 2);
    // Another namespace has its own count.
    registry
        .register_instance(&in_ns("dev", "c"), inst("10.0.0.2"))
        .unwrap();
    // Removing a service makes room.
    registry
        .create_service(&key("d"), ServiceSettings::default())
        .unwrap_err();
    assert!(registry.deregister_instance(&b, &inst("10.0.0.3").key()));
    registry.remove_service(&b).unwrap();
    registry.register_instance(&c, inst("10.0.0.2")).unwrap();
    assert_eq!(registry.store().services_in(c.namespace()), 2);
}

#[test]
fn a_new_namespace_over_the_namespace_count_cap_is_refused() {
    let clock = ManualClock::new();
    let registry = registry_with(
        &clock,
        Limits {
            max_namespaces: 2,
            ..Limits::default()
        },
    );
    registry
        .register_instance(&in_ns("public", "a"), inst("10.0.0.1"))
        .unwrap();
    registry
        .register_instance(&in_ns("dev", "a"), inst("10.0.0.1"))
        .unwrap();
    let err = registry
        .register_instance(&in_ns("test", "a"), inst("10.0.0.1"))
        .unwrap_err();
    assert!(matches!(
        &err,
        RegistryError::Limit(LimitExceeded::Namespaces { namespace, max: 2 })
            if namespace.as_str() == "test"
    ));
    assert!(err.to_string().contains("max_namespaces"), "{err}");
    assert_eq!(registry.store().namespace_count(), 2);
    // More services in a namespace that exists are fine.
    registry
        .register_instance(&in_ns("dev", "b"), inst("10.0.0.1"))
        .unwrap();
    // A namespace whose last service went no longer counts.
    let public_a = in_ns("public", "a");
    registry.deregister_instance(&public_a, &inst("10.0.0.1").key());
    registry.remove_service(&public_a).unwrap();
    registry
        .register_instance(&in_ns("test", "a"), inst("10.0.0.1"))
        .unwrap();
}

#[test]
fn concurrent_creations_cannot_pass_the_cap_together() {
    let clock = ManualClock::new();
    let registry = registry_with(
        &clock,
        Limits {
            max_services_per_namespace: 50,
            ..Limits::default()
        },
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let registry = registry.clone();
            std::thread::spawn(move || {
                (0..100)
                    .filter(|i| {
                        registry
                            .register_instance(&key(&format!("s-{t}-{i}")), inst("10.0.0.1"))
                            .is_ok()
                    })
                    .count()
            })
        })
        .collect();
    let created: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(created, 50);
    assert_eq!(registry.store().service_count(), 50);
}

#[test]
fn service_metadata_over_the_limit_is_refused_on_create_and_update() {
    let clock = ManualClock::new();
    let registry = registry_with(
        &clock,
        Limits {
            max_service_metadata_bytes: 16,
            ..Limits::default()
        },
    );
    let orders = key("orders");
    let big = ServiceSettings {
        metadata: metadata(17),
        ..ServiceSettings::default()
    };
    let err = registry.create_service(&orders, big.clone()).unwrap_err();
    assert_eq!(
        err,
        RegistryError::Invalid(ValidationError::ServiceMetadataTooLarge { size: 17, max: 16 })
    );
    assert!(err.to_string().contains("max_service_metadata_bytes"));
    assert!(registry.service(&orders).is_none());

    let fits = ServiceSettings {
        metadata: metadata(16),
        ..ServiceSettings::default()
    };
    let rev = registry.create_service(&orders, fits.clone()).unwrap();
    assert!(matches!(
        registry.update_service(&orders, big),
        Err(RegistryError::Invalid(
            ValidationError::ServiceMetadataTooLarge { .. }
        ))
    ));
    assert_eq!(registry.revision(&orders), Some(rev));
    assert_eq!(registry.service(&orders).unwrap().settings(), &fits);
}

#[test]
fn preserved_timings_outside_their_ranges_are_refused_naming_the_key() {
    let clock = ManualClock::new();
    let registry = registry_with(&clock, Limits::default());
    let orders = key("orders");
    for (key_name, bad) in [
        (PRESERVED_HEART_BEAT_INTERVAL, "100"),
        (PRESERVED_HEART_BEAT_INTERVAL, "60001"),
        (PRESERVED_HEART_BEAT_TIMEOUT, "1"),
        (PRESERVED_IP_DELETE_TIMEOUT, "3600001"),
        // A delete timeout of years would make the instance practically immortal.
        (PRESERVED_IP_DELETE_TIMEOUT, "99999999999"),
    ] {
        let instance = Instance::builder("10.0.0.1", 80)
            .metadata(key_name, bad)
            .build()
            .unwrap();
        for err in [
            registry
                .register_instance(&orders, instance.clone())
                .unwrap_err(),
            registry
                .heartbeat_with(&orders, &instance)
                .map(|_| 0)
                .unwrap_err(),
        ] {
            match &err {
                RegistryError::Invalid(ValidationError::TimingOutOfRange { key, .. }) => {
                    assert_eq!(*key, key_name)
                }
                other => panic!("{key_name}={bad}: {other:?}"),
            }
            assert!(err.to_string().contains(key_name), "{err}");
        }
    }
    assert!(registry.service(&orders).is_none());

    // Through an update of a stored instance, too; the stored one stays as it was.
    let kept = Instance::new("10.0.0.1", 80).unwrap();
    registry.register_instance(&orders, kept.clone()).unwrap();
    let mut meta = BTreeMap::new();
    meta.insert(PRESERVED_HEART_BEAT_TIMEOUT.to_owned(), "10".to_owned());
    let err = registry
        .update_instance(
            &orders,
            &kept.key(),
            InstanceUpdate {
                metadata: Some(meta),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.limit(), Some("beat_timeout_range"));
    assert_eq!(
        registry.get_all_instances(&orders, &[]).to_vec(),
        vec![kept]
    );

    // The ranges are configurable.
    let wide = registry_with(
        &clock,
        Limits {
            beat_timeout_range: TimingRange::new(Duration::from_millis(1), secs(10)),
            ..Limits::default()
        },
    );
    let quick = Instance::builder("10.0.0.1", 80)
        .metadata(PRESERVED_HEART_BEAT_TIMEOUT, "1")
        .build()
        .unwrap();
    wide.register_instance(&orders, quick).unwrap();
}

// ----- empty services -----

#[test]
fn an_empty_service_is_removed_60s_after_its_last_instance_left() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let orders = key("orders");
    registry
        .register_instance(&orders, inst("10.0.0.1"))
        .unwrap();
    registry
        .register_instance(&orders, inst("10.0.0.2"))
        .unwrap();
    clock.advance(secs(10));
    registry.deregister_instance(&orders, &inst("10.0.0.1").key());
    clock.advance(secs(10));
    registry.deregister_instance(&orders, &inst("10.0.0.2").key());
    let left = clock.now();

    let report = registry.check_health_at(left);
    assert_eq!(report.next_due, Some(left + secs(60)));
    let report = registry.check_health_at(left + secs(60) - Duration::from_micros(1));
    assert!(report.removed_services.is_empty());
    assert!(registry.service(&orders).is_some());

    let report = registry.check_health_at(left + secs(60));
    assert_eq!(report.removed_services, vec![orders.clone()]);
    assert!(registry.service(&orders).is_none());
    assert_eq!(registry.store().service_count(), 0);
    assert_eq!(report.next_due, None);
}

#[test]
fn a_service_whose_last_instance_was_evicted_goes_60s_after_the_eviction() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let orders = key("orders");
    registry
        .register_instance(&orders, inst("10.0.0.1"))
        .unwrap();
    clock.advance(secs(30));
    assert_eq!(registry.check_health().removed.len(), 1);
    clock.advance(secs(59));
    assert!(registry.check_health().removed_services.is_empty());
    clock.advance(secs(1));
    assert_eq!(registry.check_health().removed_services, vec![orders]);
}

#[test]
fn a_registration_before_the_deadline_keeps_the_service_and_restarts_the_wait() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let orders = key("orders");
    registry
        .register_instance(&orders, inst("10.0.0.1"))
        .unwrap();
    registry.deregister_instance(&orders, &inst("10.0.0.1").key());
    clock.advance(secs(59));
    registry.check_health();
    registry
        .register_instance(&orders, inst("10.0.0.1"))
        .unwrap();
    clock.advance(secs(1));
    assert!(registry.check_health().removed_services.is_empty());
    registry.deregister_instance(&orders, &inst("10.0.0.1").key());
    clock.advance(secs(59));
    assert!(registry.check_health().removed_services.is_empty());
    assert!(registry.service(&orders).is_some());
    clock.advance(secs(1));
    assert_eq!(registry.check_health().removed_services, vec![orders]);
}

#[test]
fn services_with_explicit_settings_stay_when_empty() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    // Created empty on purpose.
    let created = key("created");
    registry
        .create_service(&created, ServiceSettings::default())
        .unwrap();
    // Created by a registration, then given settings.
    let updated = key("updated");
    registry
        .register_instance(&updated, inst("10.0.0.1"))
        .unwrap();
    registry
        .update_service(
            &updated,
            ServiceSettings {
                protect_threshold: 0.5,
                ..ServiceSettings::default()
            },
        )
        .unwrap();
    registry.deregister_instance(&updated, &inst("10.0.0.1").key());
    // Created by a registration only: goes.
    let implicit = key("implicit");
    registry
        .register_instance(&implicit, inst("10.0.0.1"))
        .unwrap();
    registry.deregister_instance(&implicit, &inst("10.0.0.1").key());
    // A batch of nothing makes an empty service too: it goes like any other.
    let batch = key("batch");
    registry.batch_register_instance(&batch, vec![]).unwrap();

    clock.advance(secs(3600));
    let mut removed = registry.check_health().removed_services;
    removed.sort();
    assert_eq!(removed, vec![batch, implicit]);
    assert!(registry.service(&created).unwrap().has_explicit_settings());
    assert!(registry.service(&updated).is_some());
}

#[test]
fn the_expiry_is_configurable_and_can_be_turned_off() {
    let clock = ManualClock::new();
    let orders = key("orders");
    let soon = registry_with(
        &clock,
        Limits {
            empty_service_expiry: Some(secs(5)),
            ..Limits::default()
        },
    );
    let never = registry_with(
        &clock,
        Limits {
            empty_service_expiry: None,
            ..Limits::default()
        },
    );
    for r in [&soon, &never] {
        r.register_instance(&orders, inst("10.0.0.1")).unwrap();
        r.deregister_instance(&orders, &inst("10.0.0.1").key());
    }
    clock.advance(secs(5));
    assert_eq!(soon.check_health().removed_services, vec![orders.clone()]);
    clock.advance(secs(86_400));
    assert!(never.check_health().removed_services.is_empty());
    assert!(never.service(&orders).is_some());
}

#[tokio::test]
async fn the_health_driver_wakes_for_the_empty_service_deadline() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let orders = key("orders");
    registry
        .register_instance(&orders, inst("10.0.0.1"))
        .unwrap();
    registry.deregister_instance(&orders, &inst("10.0.0.1").key());
    let mut driver = registry.spawn_health_driver();
    let deadline = clock.now() + secs(60);
    // Step the clock by the driver's own 5 s cap; the sweep at exactly 60 s removes it.
    while clock.now() < deadline {
        clock.advance(secs(5));
        driver.wait_for_sweep_at(clock.now()).await;
    }
    assert!(registry.service(&orders).is_none());
}

#[test]
fn subscribers_hear_of_the_removal_and_revisions_keep_rising_when_it_comes_back() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let orders = key("orders");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    registry.subscribe(&orders, &[], move |e: &NamingEvent| {
        log.lock().unwrap().push((e.revision, e.instances.len()));
    });
    registry
        .register_instance(&orders, inst("10.0.0.1"))
        .unwrap();
    registry.deregister_instance(&orders, &inst("10.0.0.1").key());
    clock.advance(secs(60));
    registry.check_health();
    // Past the tombstone retention, the removed service itself is collected.
    clock.advance(secs(300));
    registry.check_health();
    assert!(!registry.store().all_keys().contains(&orders));
    registry
        .register_instance(&orders, inst("10.0.0.2"))
        .unwrap();
    assert!(registry.wait_for_events(secs(5)));
    let seen = seen.lock().unwrap().clone();
    let revisions: Vec<u64> = seen.iter().map(|(r, _)| *r).collect();
    assert!(
        revisions.windows(2).all(|w| w[0] < w[1]),
        "revisions must rise: {seen:?}"
    );
    assert_eq!(seen.last().map(|(_, n)| *n), Some(1));
}

// ----- removed services and their tombstones -----

fn settings_meta(version: nacre::store::Version, explicit: bool) -> ServiceMeta {
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
    version: nacre::store::Version,
    beat: nacre::Timestamp,
) -> ServiceRecord {
    ServiceRecord {
        key: service.clone(),
        meta: ServiceMeta {
            settings: ServiceSettings::default(),
            removed: false,
            explicit: false,
            version: nacre::store::Version::default(),
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

/// What a stale peer record can bring back after the retention, for a removed service (whose
/// cell is now collected) and, side by side, for a live service whose instance tombstone was
/// collected (which the store always allowed): the same, and an ephemeral instance goes again
/// at the next sweep, taking the removed service with it.
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
    let deregistered = nacre::store::Version {
        stamp: clock.now().as_micros(),
        origin: 7,
    };
    let tombstone = ServiceRecord {
        key: orders.clone(),
        meta: ServiceMeta {
            settings: ServiceSettings::default(),
            removed: true,
            explicit: false,
            version: nacre::store::Version::default(),
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

// ----- replication -----

#[test]
fn in_a_cluster_the_owner_removes_an_empty_service_and_every_member_follows() {
    use nacre::transport::memory::{SimConfig, Simulation};
    let mut sim = Simulation::with_nodes(3, 11, SimConfig::default());
    sim.run_for(secs(1));
    let orders = key("orders");
    let members = sim.members().to_vec();
    let owner = sim
        .core(&members[0])
        .unwrap()
        .routing()
        .mapper()
        .owner(&orders)
        .unwrap()
        .clone();
    let other = members.iter().find(|m| **m != owner).unwrap().clone();
    sim.register(&other, &orders, inst("10.0.0.1")).unwrap();
    sim.run_for(secs(2));
    sim.deregister(&other, &orders, &inst("10.0.0.1").key())
        .unwrap();
    sim.run_for(secs(30));
    for m in &members {
        assert!(sim.registry(m).unwrap().service(&orders).is_some(), "{m}");
    }
    sim.run_for(secs(35));
    for m in &members {
        let registry = sim.registry(m).unwrap();
        assert!(registry.service(&orders).is_none(), "{m} still has it");
        // One removal, made by the owner and replicated.
        let removed = registry.store().load_any(&orders).unwrap();
        assert_eq!(removed.meta_version().origin, owner.origin(), "{m}");
    }
}

#[test]
fn a_limit_refused_by_the_owner_reaches_the_forwarding_member_typed() {
    let clock = ManualClock::new();
    let n1 = NodeId::new("n1").unwrap();
    let n2 = NodeId::new("n2").unwrap();
    let owner_registry = Registry::builder()
        .clock(clock.clone())
        .origin(n1.origin())
        .limits(Limits {
            max_namespaces: 1,
            ..Limits::default()
        })
        .build();
    let mut owner = DistroCore::new(
        n1.clone(),
        &[n1.clone(), n2.clone()],
        owner_registry,
        DistroConfig::default(),
        clock.now(),
    )
    .unwrap();
    // Let the owner load an (empty) snapshot from n2, so it serves.
    for out in owner.poll(clock.now()) {
        if matches!(out.request, PeerRequest::Snapshot { .. }) {
            owner.on_response(
                out.id,
                Ok(PeerResponse::Chunk {
                    records: vec![],
                    next: None,
                }),
                clock.now(),
            );
        }
    }
    assert!(owner.is_ready());
    owner
        .registry()
        .register_instance(&key("orders"), inst("10.0.0.1"))
        .unwrap();

    let forwarder = Registry::builder().clock(clock.clone()).build();
    let dev = in_ns("dev", "orders");
    let Dispatch::Forward(fwd) = Dispatch::begin(
        Route::Forward(n1.clone()),
        &n2,
        &forwarder,
        Command::register(&dev, inst("10.0.0.1")),
    ) else {
        panic!("should forward");
    };
    let answer = owner.handle(&n2, fwd.request(), clock.now());
    assert!(matches!(
        answer,
        PeerResponse::Forwarded(Err(RemoteFailure::Limit(LimitExceeded::Namespaces { .. })))
    ));
    let err = fwd.complete(&forwarder, Ok(answer)).unwrap_err();
    assert!(matches!(
        err,
        ClusterError::Registry(RegistryError::Limit(LimitExceeded::Namespaces { .. }))
    ));
    assert_eq!(ErrorClass::of(&err), ErrorClass::OverLimit);
    assert_eq!(ErrorClass::of(&err).http_status(), 429);
    // Not applied on the forwarding member either.
    assert!(forwarder.service(&dev).is_none());
}

// ----- events -----

#[test]
fn event_backlog_stays_at_one_snapshot_per_watched_service_under_a_write_burst() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let orders = key("orders");
    // A large service with many listeners makes each dispatch far slower than a write.
    let base: Vec<Instance> = (0..20_000u32)
        .map(|i| Instance::new(&format!("10.1.{}.{}", i / 256, i % 256), 80).unwrap())
        .collect();
    registry.batch_register_instance(&orders, base).unwrap();
    let last_lens: Vec<Arc<AtomicUsize>> = (0..8).map(|_| Arc::default()).collect();
    for last in &last_lens {
        let last = last.clone();
        registry.subscribe(&orders, &[], move |e: &NamingEvent| {
            last.store(e.instances.len(), Ordering::Relaxed);
        });
    }
    assert!(registry.wait_for_events(secs(30)));

    let mut peak = 0;
    for i in 0..2_000u32 {
        let ip = format!("10.9.{}.{}", i / 256, i % 256);
        registry
            .register_instance(&orders, Instance::new(&ip, 80).unwrap())
            .unwrap();
        peak = peak.max(registry.event_backlog());
    }
    assert!(
        peak <= 1,
        "one watched service, but {peak} snapshots waited for the dispatcher"
    );
    assert!(registry.wait_for_events(secs(60)));
    assert_eq!(registry.event_backlog(), 0);
    // Coalesced, never lost: every listener ends at the newest state.
    for last in &last_lens {
        assert_eq!(last.load(Ordering::Relaxed), 22_000);
    }
}

// ----- logs -----

/// A tracing subscriber that keeps every event as `LEVEL message field=value ...`.
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!(" {value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(event.metadata().level().to_string());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Runs `f` with a [`Capture`] as this thread's subscriber and returns what it logged.
///
/// tracing caches, per call site, whether any subscriber wants it. While a single subscriber
/// is registered, that is decided by the default of whichever thread reaches the call site
/// first, so a test running in parallel without a subscriber could switch a call site off for
/// this one. A second subscriber, registered once and kept for the whole run, makes tracing
/// ask every registered subscriber instead.
fn captured(f: impl FnOnce()) -> Vec<String> {
    static KEEP: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    KEEP.get_or_init(|| tracing::Dispatch::new(Capture(Arc::default())));
    let lines = Arc::new(Mutex::new(Vec::new()));
    tracing::subscriber::with_default(Capture(lines.clone()), f);
    let lines = lines.lock().unwrap().clone();
    lines
}

#[test]
fn refusals_by_a_limit_are_logged_at_warn_at_most_once_a_minute_per_limit() {
    let lines = captured(|| {
        let clock = ManualClock::new();
        let registry = registry_with(
            &clock,
            Limits {
                max_services_per_namespace: 1,
                max_service_metadata_bytes: 4,
                ..Limits::default()
            },
        );
        let orders = key("orders");
        registry
            .register_instance(&orders, inst("10.0.0.1"))
            .unwrap();
        // A client hammering the cap: one line.
        for i in 0..1000 {
            registry
                .register_instance(&key(&format!("s{i}")), inst("10.0.0.1"))
                .unwrap_err();
        }
        // Another limit has its own line.
        let big = ServiceSettings {
            metadata: metadata(5),
            ..ServiceSettings::default()
        };
        registry.update_service(&orders, big).unwrap_err();
        // Refusals that are not limits are not logged here.
        registry
            .create_service(&orders, ServiceSettings::default())
            .unwrap_err();
        clock.advance(secs(59));
        registry
            .register_instance(&key("late"), inst("10.0.0.1"))
            .unwrap_err();
        clock.advance(secs(1));
        registry
            .register_instance(&key("later"), inst("10.0.0.1"))
            .unwrap_err();
    });
    let warns: Vec<&String> = lines.iter().filter(|l| l.starts_with("WARN")).collect();
    assert_eq!(warns.len(), 3, "{warns:#?}");
    assert!(
        warns[0].contains("limit=\"max_services_per_namespace\""),
        "{}",
        warns[0]
    );
    assert!(warns[0].contains("unlogged_since_last=0"), "{}", warns[0]);
    assert!(
        warns[1].contains("max_service_metadata_bytes"),
        "{}",
        warns[1]
    );
    assert!(
        warns[2].contains("max_services_per_namespace"),
        "{}",
        warns[2]
    );
    assert!(
        warns[2].contains("unlogged_since_last=1000"),
        "{}",
        warns[2]
    );
}

#[test]
fn a_sweep_logs_one_summary_line_for_the_empty_services_it_removes() {
    let lines = captured(|| {
        let clock = ManualClock::new();
        let registry = registry_on(&clock);
        for i in 0..100 {
            let k = key(&format!("s{i}"));
            registry.register_instance(&k, inst("10.0.0.1")).unwrap();
            registry.deregister_instance(&k, &inst("10.0.0.1").key());
        }
        clock.advance(secs(60));
        assert_eq!(registry.check_health().removed_services.len(), 100);
    });
    let infos: Vec<&String> = lines.iter().filter(|l| l.starts_with("INFO")).collect();
    assert_eq!(infos.len(), 1, "{infos:#?}");
    assert!(infos[0].contains("services=100"), "{}", infos[0]);
}

/// The merge rules of a node with the default limits.
fn rules() -> nacre::store::MergeRules {
    nacre::store::MergeRules::new(nacre::Limits::default())
}

//! Caps, through the public API: on services per namespace, on namespaces, on service
//! metadata, and the ranges of the `preserved.*` timings. A refusal names the limit, and nothing
//! stored is lost.

use crate::common::{in_ns, inst, key, registry_with, secs};
use crate::metadata;
use nacre::model::{
    LimitExceeded, TimingRange, PRESERVED_HEART_BEAT_INTERVAL, PRESERVED_HEART_BEAT_TIMEOUT,
    PRESERVED_IP_DELETE_TIMEOUT,
};
use nacre::{
    Instance, InstanceUpdate, Limits, ManualClock, ServiceSettings, StoreError, ValidationError,
};
use std::collections::BTreeMap;
use std::time::Duration;

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
            StoreError::Limit(LimitExceeded::Services {
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
        StoreError::Limit(LimitExceeded::Namespaces { namespace, max: 2 })
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
        StoreError::Invalid(ValidationError::ServiceMetadataTooLarge { size: 17, max: 16 })
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
        Err(StoreError::Invalid(
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
                StoreError::Invalid(ValidationError::TimingOutOfRange { key, .. }) => {
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

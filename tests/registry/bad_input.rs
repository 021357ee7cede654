//! Every class of bad input gets a typed error naming what was wrong, never a panic, and never
//! loses what is already stored.

use nacre::model::{LimitExceeded, NameKind};
use nacre::{
    Instance, InstanceId, InstanceKey, InstanceUpdate, Limits, ManualClock, Registry, ServiceKey,
    ServiceSettings, StoreError, ValidationError,
};
use std::collections::BTreeMap;

fn registry() -> Registry {
    Registry::builder().clock(ManualClock::new()).build()
}

#[test]
fn empty_names_are_refused_with_the_kind_of_name() {
    assert_eq!(
        ServiceKey::new("", "g", "s").unwrap_err(),
        ValidationError::EmptyName {
            kind: NameKind::Namespace
        }
    );
    assert_eq!(
        ServiceKey::new("public", "", "s").unwrap_err(),
        ValidationError::EmptyName {
            kind: NameKind::Group
        }
    );
    assert_eq!(
        ServiceKey::named("").unwrap_err(),
        ValidationError::EmptyName {
            kind: NameKind::Service
        }
    );
    assert!(matches!(
        Instance::builder("10.0.0.1", 80).cluster("").build(),
        Err(ValidationError::EmptyName {
            kind: NameKind::Cluster
        })
    ));
}

#[test]
fn separator_inside_group_or_service_is_refused() {
    let err = ServiceKey::new("public", "a@@b", "s").unwrap_err();
    assert!(matches!(
        err,
        ValidationError::ContainsSeparator {
            kind: NameKind::Group,
            ..
        }
    ));
    let err = ServiceKey::named("x@@y").unwrap_err();
    assert!(matches!(
        err,
        ValidationError::ContainsSeparator {
            kind: NameKind::Service,
            ..
        }
    ));
    assert!(err.to_string().contains("`@@`"));
}

#[test]
fn overlong_names_report_length_and_limit() {
    let long = "s".repeat(600);
    match ServiceKey::named(&long).unwrap_err() {
        ValidationError::NameTooLong {
            len, max, value, ..
        } => {
            assert_eq!(len, 600);
            assert_eq!(max, nacre::model::MAX_NAME_LEN);
            assert!(
                value.len() < 100,
                "error messages carry an excerpt, not the whole value"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn white_space_and_control_characters_are_refused() {
    assert!(matches!(
        ServiceKey::named("or ders"),
        Err(ValidationError::BadCharacter { ch: ' ', .. })
    ));
    assert!(matches!(
        ServiceKey::named("orders\n"),
        Err(ValidationError::BadCharacter { ch: '\n', .. })
    ));
    assert!(matches!(
        Instance::builder("10.0.0.1", 80).cluster("a,b").build(),
        Err(ValidationError::BadCharacter { ch: ',', .. })
    ));
}

#[test]
fn port_zero_is_refused() {
    assert_eq!(
        Instance::new("10.0.0.1", 0).unwrap_err(),
        ValidationError::ZeroPort
    );
    assert_eq!(
        InstanceKey::in_default_cluster("10.0.0.1", 0).unwrap_err(),
        ValidationError::ZeroPort
    );
}

#[test]
fn nan_negative_infinite_and_huge_weights_are_refused() {
    for w in [
        f64::NAN,
        -1.0,
        -0.0001,
        f64::INFINITY,
        f64::NEG_INFINITY,
        10_000.5,
    ] {
        let err = Instance::builder("10.0.0.1", 80)
            .weight(w)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ValidationError::BadWeight { .. }),
            "weight {w}: {err:?}"
        );
    }
    assert!(Instance::builder("10.0.0.1", 80)
        .weight(0.0)
        .build()
        .is_ok());
    assert!(Instance::builder("10.0.0.1", 80)
        .weight(10_000.0)
        .build()
        .is_ok());
}

#[test]
fn bad_addresses_are_refused_and_good_ones_accepted() {
    for bad in [
        "",
        "300.1.1.1",
        "10.0.0",
        "a b",
        "-lead.example",
        "x..y",
        "under score?",
        "::g",
    ] {
        assert!(
            matches!(Instance::new(bad, 80), Err(ValidationError::BadHost(_))),
            "{bad:?} should be refused"
        );
    }
    for good in [
        "10.0.0.1",
        "::1",
        "fe80::1",
        "orders-1.svc.cluster.local",
        "localhost",
    ] {
        assert!(
            Instance::new(good, 80).is_ok(),
            "{good:?} should be accepted"
        );
    }
}

#[test]
fn oversized_metadata_is_refused_by_the_registry_and_nothing_stored_is_lost() {
    let registry = Registry::builder()
        .clock(ManualClock::new())
        .limits(Limits {
            max_metadata_bytes: 64,
            ..Limits::default()
        })
        .build();
    let key = ServiceKey::named("orders").unwrap();
    let kept = Instance::builder("10.0.0.1", 80)
        .metadata("v", "1")
        .build()
        .unwrap();
    let rev = registry.register_instance(&key, kept.clone()).unwrap();

    let big = Instance::builder("10.0.0.2", 80)
        .metadata("blob", &"x".repeat(100))
        .build()
        .unwrap();
    let err = registry.register_instance(&key, big).unwrap_err();
    assert_eq!(
        err,
        StoreError::Invalid(ValidationError::MetadataTooLarge { size: 104, max: 64 })
    );
    // Same through an update of the stored instance.
    let mut meta = BTreeMap::new();
    meta.insert("blob".to_owned(), "y".repeat(100));
    let err = registry
        .update_instance(
            &key,
            &kept.key(),
            InstanceUpdate {
                metadata: Some(meta),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Invalid(ValidationError::MetadataTooLarge { .. })
    ));

    assert_eq!(registry.revision(&key), Some(rev));
    assert_eq!(registry.get_all_instances(&key, &[]).to_vec(), vec![kept]);
}

#[test]
fn bad_timing_metadata_is_refused() {
    for value in ["abc", "-5", "0", ""] {
        let err = Instance::builder("10.0.0.1", 80)
            .metadata(nacre::model::PRESERVED_HEART_BEAT_TIMEOUT, value)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ValidationError::BadTimingMetadata { .. }),
            "{value:?}"
        );
    }
}

#[test]
fn a_batch_with_one_bad_instance_stores_nothing() {
    let registry = Registry::builder()
        .clock(ManualClock::new())
        .limits(Limits {
            max_metadata_bytes: 8,
            ..Limits::default()
        })
        .build();
    let key = ServiceKey::named("orders").unwrap();
    let good = Instance::new("10.0.0.1", 80).unwrap();
    let bad = Instance::builder("10.0.0.2", 80)
        .metadata("k", "123456789")
        .build()
        .unwrap();
    assert!(registry
        .batch_register_instance(&key, vec![good, bad])
        .is_err());
    assert!(registry.service(&key).is_none());
}

#[test]
fn too_many_instances_are_refused() {
    let registry = Registry::builder()
        .clock(ManualClock::new())
        .limits(Limits {
            max_instances_per_service: 2,
            ..Limits::default()
        })
        .build();
    let key = ServiceKey::named("orders").unwrap();
    registry
        .register_instance(&key, Instance::new("10.0.0.1", 80).unwrap())
        .unwrap();
    registry
        .register_instance(&key, Instance::new("10.0.0.2", 80).unwrap())
        .unwrap();
    // Re-registering an existing one is fine; a third is not.
    registry
        .register_instance(&key, Instance::new("10.0.0.2", 80).unwrap())
        .unwrap();
    let err = registry
        .register_instance(&key, Instance::new("10.0.0.3", 80).unwrap())
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Limit(LimitExceeded::Instances {
            would_hold: 3,
            max: 2,
            ..
        })
    ));
    assert_eq!(registry.get_all_instances(&key, &[]).len(), 2);
}

#[test]
fn bad_protect_thresholds_are_refused() {
    let registry = registry();
    let key = ServiceKey::named("orders").unwrap();
    for t in [-0.1f32, 1.5, f32::NAN] {
        let err = registry
            .create_service(
                &key,
                ServiceSettings {
                    protect_threshold: t,
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(matches!(
            err,
            StoreError::Invalid(ValidationError::BadProtectThreshold(_))
        ));
    }
    assert!(registry.service(&key).is_none());
}

#[test]
fn grouped_names_parse_like_nacos() {
    let k = ServiceKey::from_grouped("public", "orders").unwrap();
    assert_eq!(k.group().as_str(), "DEFAULT_GROUP");
    let k = ServiceKey::from_grouped("dev", "billing@@invoices").unwrap();
    assert_eq!(
        (
            k.namespace().as_str(),
            k.group().as_str(),
            k.service().as_str()
        ),
        ("dev", "billing", "invoices")
    );
    assert_eq!(k.grouped_name(), "billing@@invoices");
    for bad in ["@@s", "g@@", "a@@b@@c", "@@"] {
        assert!(ServiceKey::from_grouped("public", bad).is_err(), "{bad:?}");
    }
}

#[test]
fn instance_ids_round_trip_and_garbage_is_refused() {
    let key = ServiceKey::from_grouped("public", "billing@@invoices").unwrap();
    let inst = Instance::builder("fe80::1", 9000)
        .cluster("hz")
        .build()
        .unwrap();
    let id = inst.instance_id(&key);
    assert_eq!(id.to_string(), "fe80::1#9000#hz#billing@@invoices");
    assert_eq!(id.to_string().parse::<InstanceId>().unwrap(), id);
    for bad in [
        "",
        "1.2.3.4",
        "1.2.3.4#80#DEFAULT",
        "1.2.3.4#x#DEFAULT#g@@s",
        "1.2.3.4#80#a b#g@@s",
        "1.2.3.4#70000#D#g@@s",
    ] {
        assert!(
            matches!(
                bad.parse::<InstanceId>(),
                Err(ValidationError::BadInstanceId { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn garbage_on_the_wire_is_refused_by_serde() {
    let ok: Instance = serde_json::from_str(r#"{"ip":"10.0.0.1","port":8080}"#).unwrap();
    assert_eq!(
        (ok.weight(), ok.healthy(), ok.enabled(), ok.ephemeral()),
        (1.0, true, true, true)
    );
    assert_eq!(ok.cluster().as_str(), "DEFAULT");
    let round: Instance = serde_json::from_str(&serde_json::to_string(&ok).unwrap()).unwrap();
    assert_eq!(round, ok);
    let json = serde_json::to_value(&ok).unwrap();
    assert_eq!(json["clusterName"], "DEFAULT");

    for bad in [
        r#"{"ip":"10.0.0.1","port":0}"#,
        r#"{"ip":"10.0.0.1","port":70000}"#,
        r#"{"ip":"not an ip","port":80}"#,
        r#"{"ip":"10.0.0.1","port":80,"weight":-3}"#,
        r#"{"ip":"10.0.0.1","port":80,"clusterName":"a#b"}"#,
        r#"{"port":80}"#,
        r#"[1,2,3]"#,
        "\u{0}\u{1}garbage",
    ] {
        assert!(serde_json::from_str::<Instance>(bad).is_err(), "{bad:?}");
    }
    assert!(serde_json::from_str::<ServiceKey>(
        r#"{"namespace":"public","group":"a@@b","service":"s"}"#
    )
    .is_err());
    assert!(serde_json::from_str::<InstanceId>(r#""1.2.3.4#80#DEFAULT#g@@s""#).is_ok());
    assert!(serde_json::from_str::<InstanceId>(r#""1.2.3.4#0#DEFAULT#g@@s""#).is_err());
}

#[test]
fn updating_or_beating_an_unknown_instance_is_a_typed_not_found() {
    let registry = registry();
    let key = ServiceKey::named("orders").unwrap();
    let ghost = InstanceKey::in_default_cluster("10.9.9.9", 1).unwrap();
    let err = registry
        .update_instance(&key, &ghost, InstanceUpdate::default())
        .unwrap_err();
    assert_eq!(err, StoreError::InstanceNotFound(ghost.instance_id(&key)));
    assert!(matches!(
        registry.heartbeat(&key, &ghost),
        Err(StoreError::InstanceNotFound(_))
    ));
    assert!(!registry.deregister_instance(&key, &ghost));
    assert!(matches!(
        registry.select_one_healthy_instance(&key, &[]),
        Err(StoreError::NoHealthyInstance { .. })
    ));
}

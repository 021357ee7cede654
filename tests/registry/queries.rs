//! Reads through the public API: filters, the protect threshold, weighted selection, namespaces
//! and paging.

use crate::common::{inst, setup};
use nacre::{
    ClusterName, GroupName, Instance, InstanceUpdate, NamespaceId, ServiceKey, ServiceSettings,
    StoreError,
};
use std::collections::BTreeMap;
use std::time::Duration;

fn ips(view: &nacre::InstancesView) -> Vec<String> {
    view.iter().map(|i| i.ip().to_string()).collect()
}

#[test]
fn select_instances_filters_by_cluster_health_enabled_and_weight() {
    let (clock, registry, key) = setup();
    registry
        .batch_register_instance(
            &key,
            vec![
                Instance::builder("10.0.0.1", 80)
                    .cluster("a")
                    .build()
                    .unwrap(),
                Instance::builder("10.0.0.2", 80)
                    .cluster("a")
                    .enabled(false)
                    .build()
                    .unwrap(),
                Instance::builder("10.0.0.3", 80)
                    .cluster("a")
                    .weight(0.0)
                    .build()
                    .unwrap(),
                Instance::builder("10.0.0.4", 80)
                    .cluster("b")
                    .build()
                    .unwrap(),
                Instance::builder("10.0.0.5", 80)
                    .cluster("c")
                    .build()
                    .unwrap(),
            ],
        )
        .unwrap();
    // Make 10.0.0.5 unhealthy: everyone else beats.
    clock.advance(Duration::from_secs(15));
    for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"] {
        let cluster = if ip == "10.0.0.4" { "b" } else { "a" };
        registry
            .heartbeat(&key, &nacre::InstanceKey::new(cluster, ip, 80).unwrap())
            .unwrap();
    }
    registry.check_health();

    let all = registry.get_all_instances(&key, &[]);
    assert_eq!(
        ips(&all),
        ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"]
    );
    let usable = registry.select_instances(&key, &[], false);
    assert_eq!(ips(&usable), ["10.0.0.1", "10.0.0.4", "10.0.0.5"]);
    let healthy = registry.select_instances(&key, &[], true);
    assert_eq!(ips(&healthy), ["10.0.0.1", "10.0.0.4"]);
    assert!(!healthy.protect_threshold_reached());

    let ab = [
        ClusterName::new("a").unwrap(),
        ClusterName::new("b").unwrap(),
    ];
    assert_eq!(
        ips(&registry.select_instances(&key, &ab, true)),
        ["10.0.0.1", "10.0.0.4"]
    );
    let c = [ClusterName::new("c").unwrap()];
    assert_eq!(ips(&registry.get_all_instances(&key, &c)), ["10.0.0.5"]);
    let none = [ClusterName::new("zz").unwrap()];
    assert!(registry.get_all_instances(&key, &none).is_empty());
}

#[test]
fn protect_threshold_returns_all_instances_when_the_healthy_share_is_at_or_below_it() {
    let (clock, registry, key) = setup();
    registry
        .create_service(
            &key,
            ServiceSettings {
                protect_threshold: 0.5,
                ..Default::default()
            },
        )
        .unwrap();
    // A long delete timeout keeps unhealthy instances around for the whole test.
    let insts: Vec<Instance> = (1..=4)
        .map(|i| {
            Instance::builder(&format!("10.0.0.{i}"), 80)
                .metadata(nacre::model::PRESERVED_IP_DELETE_TIMEOUT, "600000")
                .build()
                .unwrap()
        })
        .collect();
    registry
        .batch_register_instance(&key, insts.clone())
        .unwrap();

    // 3 of 4 healthy (75% > 50%): healthy-only means healthy only.
    clock.advance(Duration::from_secs(15));
    for i in &insts[..3] {
        registry.heartbeat(&key, &i.key()).unwrap();
    }
    registry.check_health();
    let v = registry.select_instances(&key, &[], true);
    assert_eq!(v.len(), 3);
    assert!(!v.protect_threshold_reached());

    // 2 of 4 healthy (50% ≤ 50%): protection returns all 4.
    clock.advance(Duration::from_secs(15));
    for i in &insts[..2] {
        registry.heartbeat(&key, &i.key()).unwrap();
    }
    registry.check_health();
    let v = registry.select_instances(&key, &[], true);
    assert!(v.protect_threshold_reached());
    assert_eq!(v.len(), 4);
    assert_eq!(
        v.iter().filter(|i| i.healthy()).count(),
        2,
        "the view keeps the true health flags"
    );
    // select_one then picks among all of them, as Nacos clients do under protection.
    assert!(registry.select_one_healthy_instance(&key, &[]).is_ok());
}

#[test]
fn with_the_default_threshold_zero_an_all_unhealthy_service_still_answers() {
    let (clock, registry, key) = setup();
    registry
        .register_instance(&key, Instance::new("10.0.0.1", 80).unwrap())
        .unwrap();
    clock.advance(Duration::from_secs(15));
    registry.check_health();
    // 0 healthy of 1: 0.0 <= 0.0, so the Nacos rule returns everything.
    let v = registry.select_instances(&key, &[], true);
    assert!(v.protect_threshold_reached());
    assert_eq!(v.len(), 1);
    assert!(!v.iter().next().unwrap().healthy());
}

#[test]
fn weighted_selection_follows_the_weights() {
    let (_clock, registry, key) = setup();
    let weights = [1.0, 2.0, 3.0, 4.0, 0.0];
    for (i, w) in weights.iter().enumerate() {
        let inst = Instance::builder(&format!("10.0.0.{}", i + 1), 80)
            .weight(*w)
            .build()
            .unwrap();
        registry.register_instance(&key, inst).unwrap();
    }
    let view = registry.select_instances(&key, &[], true);
    // A seeded xorshift draws the units, so the run is reproducible.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut unit = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let draws = 100_000;
    let mut counts = BTreeMap::new();
    for _ in 0..draws {
        let picked = view.pick_weighted_with(unit()).unwrap();
        *counts.entry(picked.ip().to_string()).or_insert(0usize) += 1;
    }
    assert_eq!(counts.get("10.0.0.5"), None, "weight 0 is never picked");
    for (i, w) in weights[..4].iter().enumerate() {
        let expected = draws as f64 * w / 10.0;
        let got = counts[&format!("10.0.0.{}", i + 1)] as f64;
        // Five standard deviations of a binomial: fails by chance about once in 3 million.
        let sd = (draws as f64 * (w / 10.0) * (1.0 - w / 10.0)).sqrt();
        assert!(
            (got - expected).abs() < 5.0 * sd,
            "weight {w}: {got} vs {expected}"
        );
    }
    // The thread-local path covers every positive weight too.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..2_000 {
        seen.insert(
            registry
                .select_one_healthy_instance(&key, &[])
                .unwrap()
                .ip()
                .to_string(),
        );
    }
    assert_eq!(seen.len(), 4);
}

#[test]
fn select_one_skips_disabled_zero_weight_and_unhealthy_instances() {
    let (clock, registry, key) = setup();
    registry
        .create_service(
            &key,
            ServiceSettings {
                protect_threshold: 0.0,
                ..Default::default()
            },
        )
        .unwrap();
    registry
        .register_instance(
            &key,
            Instance::builder("10.0.0.1", 80)
                .enabled(false)
                .build()
                .unwrap(),
        )
        .unwrap();
    registry
        .register_instance(
            &key,
            Instance::builder("10.0.0.2", 80)
                .weight(0.0)
                .build()
                .unwrap(),
        )
        .unwrap();
    assert!(matches!(
        registry.select_one_healthy_instance(&key, &[]),
        Err(StoreError::NoHealthyInstance { .. })
    ));
    let good = Instance::new("10.0.0.3", 80).unwrap();
    registry.register_instance(&key, good.clone()).unwrap();
    for _ in 0..100 {
        assert_eq!(
            registry
                .select_one_healthy_instance(&key, &[])
                .unwrap()
                .ip()
                .as_str(),
            "10.0.0.3"
        );
    }
    let _ = clock;
}

#[test]
fn namespaces_and_groups_are_isolated() {
    let (_clock, registry, _) = setup();
    let prod = ServiceKey::new("prod", "DEFAULT_GROUP", "orders").unwrap();
    let dev = ServiceKey::new("dev", "DEFAULT_GROUP", "orders").unwrap();
    let other_group = ServiceKey::new("prod", "billing", "orders").unwrap();
    registry
        .register_instance(&prod, Instance::new("10.0.0.1", 80).unwrap())
        .unwrap();
    registry
        .register_instance(&dev, Instance::new("10.0.0.2", 80).unwrap())
        .unwrap();
    registry
        .register_instance(&other_group, Instance::new("10.0.0.3", 80).unwrap())
        .unwrap();
    assert_eq!(ips(&registry.get_all_instances(&prod, &[])), ["10.0.0.1"]);
    assert_eq!(ips(&registry.get_all_instances(&dev, &[])), ["10.0.0.2"]);
    assert_eq!(
        ips(&registry.get_all_instances(&other_group, &[])),
        ["10.0.0.3"]
    );
    assert!(registry.deregister_instance(
        &dev,
        &nacre::InstanceKey::in_default_cluster("10.0.0.2", 80).unwrap()
    ));
    assert_eq!(registry.get_all_instances(&prod, &[]).len(), 1);
    assert!(!registry.deregister_instance(
        &prod,
        &nacre::InstanceKey::in_default_cluster("10.0.0.2", 80).unwrap()
    ));
}

#[test]
fn service_list_is_paged_sorted_and_scoped_to_namespace_and_group() {
    let (_clock, registry, _) = setup();
    for i in 0..25 {
        let key = ServiceKey::new("public", "DEFAULT_GROUP", &format!("svc-{i:02}")).unwrap();
        registry
            .register_instance(&key, Instance::new("10.0.0.1", 80).unwrap())
            .unwrap();
    }
    registry
        .register_instance(
            &ServiceKey::new("dev", "DEFAULT_GROUP", "x").unwrap(),
            Instance::new("10.0.0.1", 80).unwrap(),
        )
        .unwrap();
    registry
        .register_instance(
            &ServiceKey::new("public", "g2", "y").unwrap(),
            Instance::new("10.0.0.1", 80).unwrap(),
        )
        .unwrap();
    let ns = NamespaceId::default();
    let group = GroupName::default();
    let page1 = registry.get_service_list(&ns, &group, 1, 10);
    assert_eq!(page1.count, 25);
    let names: Vec<&str> = page1.services.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        (0..10).map(|i| format!("svc-{i:02}")).collect::<Vec<_>>()
    );
    let page3 = registry.get_service_list(&ns, &group, 3, 10);
    assert_eq!(page3.services.len(), 5);
    assert_eq!(page3.services[0].as_str(), "svc-20");
    assert!(registry
        .get_service_list(&ns, &group, 4, 10)
        .services
        .is_empty());
    assert_eq!(
        registry
            .get_service_list(&NamespaceId::new("dev").unwrap(), &group, 1, 10)
            .count,
        1
    );
    assert_eq!(
        registry
            .get_service_list(&ns, &GroupName::new("g2").unwrap(), 1, 10)
            .count,
        1
    );
}

#[test]
fn update_changes_weight_enabled_and_metadata_and_keeps_liveness() {
    let (clock, registry, key) = setup();
    let inst = Instance::new("10.0.0.1", 80).unwrap();
    registry.register_instance(&key, inst.clone()).unwrap();
    clock.advance(Duration::from_secs(10));
    let mut meta = BTreeMap::new();
    meta.insert("version".to_owned(), "2".to_owned());
    let rev = registry
        .update_instance(
            &key,
            &inst.key(),
            InstanceUpdate {
                weight: Some(7.5),
                enabled: Some(false),
                metadata: Some(meta.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(rev, 2);
    let got = registry.get_all_instances(&key, &[]).to_vec().remove(0);
    assert_eq!(
        (got.weight(), got.enabled(), got.metadata()),
        (7.5, false, &meta)
    );
    // An update is not a beat: the instance still goes unhealthy 15 s after registering.
    clock.advance(Duration::from_secs(5));
    registry.check_health();
    assert!(!registry
        .get_all_instances(&key, &[])
        .iter()
        .next()
        .unwrap()
        .healthy());
    // A bad weight is refused and nothing changes.
    assert!(registry
        .update_instance(
            &key,
            &inst.key(),
            InstanceUpdate {
                weight: Some(f64::NAN),
                ..Default::default()
            }
        )
        .is_err());
    assert_eq!(
        registry
            .get_all_instances(&key, &[])
            .iter()
            .next()
            .unwrap()
            .weight(),
        7.5
    );
}

#[test]
fn an_update_can_lay_metadata_over_the_current_one() {
    let (_clock, registry, key) = setup();
    let inst = Instance::builder("10.0.0.1", 80)
        .metadata("zone", "a")
        .metadata("version", "1")
        .build()
        .unwrap();
    registry.register_instance(&key, inst.clone()).unwrap();
    let mut meta = BTreeMap::new();
    meta.insert("version".to_owned(), "2".to_owned());
    meta.insert("owner".to_owned(), "team-b".to_owned());
    registry
        .update_instance(
            &key,
            &inst.key(),
            InstanceUpdate {
                metadata: Some(meta),
                merge_metadata: true,
                ..Default::default()
            },
        )
        .unwrap();
    let got = registry.get_all_instances(&key, &[]).to_vec().remove(0);
    let pairs: Vec<(&str, &str)> = got
        .metadata()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [("owner", "team-b"), ("version", "2"), ("zone", "a")]
    );
}

#[test]
fn a_view_is_a_stable_snapshot_while_the_registry_moves_on() {
    let (_clock, registry, key) = setup();
    registry
        .register_instance(&key, Instance::new("10.0.0.1", 80).unwrap())
        .unwrap();
    let before = registry.get_all_instances(&key, &[]);
    registry
        .register_instance(&key, Instance::new("10.0.0.2", 80).unwrap())
        .unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(before.revision(), 1);
    assert_eq!(registry.get_all_instances(&key, &[]).len(), 2);
}

#[test]
fn service_settings_and_removal() {
    let (_clock, registry, key) = setup();
    registry
        .create_service(&key, ServiceSettings::default())
        .unwrap();
    assert!(matches!(
        registry.create_service(&key, ServiceSettings::default()),
        Err(StoreError::ServiceExists(_))
    ));
    let mut meta = BTreeMap::new();
    meta.insert("owner".to_owned(), "team-a".to_owned());
    registry
        .update_service(
            &key,
            ServiceSettings {
                protect_threshold: 0.3,
                metadata: meta.clone(),
            },
        )
        .unwrap();
    let snap = registry.service(&key).unwrap();
    assert_eq!(snap.settings().protect_threshold, 0.3);
    assert_eq!(snap.settings().metadata, meta);
    let inst = Instance::new("10.0.0.1", 80).unwrap();
    registry.register_instance(&key, inst.clone()).unwrap();
    assert!(matches!(
        registry.remove_service(&key),
        Err(StoreError::ServiceNotEmpty { instances: 1, .. })
    ));
    registry.deregister_instance(&key, &inst.key());
    registry.remove_service(&key).unwrap();
    assert!(registry.service(&key).is_none());
    assert!(matches!(
        registry.remove_service(&key),
        Err(StoreError::ServiceNotFound(_))
    ));
    assert!(matches!(
        registry.update_service(&key, ServiceSettings::default()),
        Err(StoreError::ServiceNotFound(_))
    ));
}

#[test]
fn a_hundred_thousand_single_registrations_into_one_service_all_land() {
    // Linear growth is measured in benches/; this pins correctness at that size.
    let (_clock, registry, key) = setup();
    for i in 0..100_000u32 {
        let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        registry
            .register_instance(&key, Instance::new(&ip, 80).unwrap())
            .unwrap();
    }
    let snap = registry.service(&key).unwrap();
    assert_eq!(snap.instance_count(), 100_000);
    assert_eq!(snap.revision(), 100_000);
    assert_eq!(registry.select_instances(&key, &[], true).len(), 100_000);
}

/// What a connection registered is removed for that connection only while no other connection
/// registered it since; an instance no connection is known to own is removed as asked.
#[test]
fn a_connection_withdraws_only_what_it_still_owns() {
    let (_clock, registry, orders) = setup();
    let instance = inst("10.0.0.1");
    let key = instance.key();
    registry
        .register_for(&orders, vec![instance.clone()], 1)
        .unwrap();
    // The same client registers again through another connection (the same data).
    registry
        .register_for(&orders, vec![instance.clone()], 2)
        .unwrap();
    assert!(
        !registry.deregister_for(&orders, &key, 1),
        "the old connection no longer owns it"
    );
    assert_eq!(registry.get_all_instances(&orders, &[]).len(), 1);
    assert!(registry.deregister_for(&orders, &key, 2));
    assert!(registry.get_all_instances(&orders, &[]).is_empty());
    // Registered by no connection (v1): a connection's withdrawal removes it.
    registry.register_instance(&orders, instance).unwrap();
    assert!(registry.deregister_for(&orders, &key, 7));
}

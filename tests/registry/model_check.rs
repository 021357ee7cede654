//! proptest: random sequences of operations on the registry match a simple `BTreeMap` model at
//! every step, timing rules included.

use nacre::{Instance, InstanceKey, InstanceUpdate, ManualClock, Registry, ServiceKey};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Register {
        svc: usize,
        ip: u8,
        cluster: usize,
        weight: u8,
        enabled: bool,
    },
    Deregister {
        svc: usize,
        ip: u8,
        cluster: usize,
    },
    Beat {
        svc: usize,
        ip: u8,
        cluster: usize,
    },
    SetWeight {
        svc: usize,
        ip: u8,
        cluster: usize,
        weight: u8,
    },
    Advance {
        secs: u8,
    },
    Sweep,
}

const CLUSTERS: [&str; 2] = ["DEFAULT", "hz"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..6u8, 0..2usize, 0..5u8, any::<bool>())
            .prop_map(|(svc, ip, cluster, weight, enabled)| Op::Register { svc, ip, cluster, weight, enabled }),
        1 => (0..3usize, 0..6u8, 0..2usize).prop_map(|(svc, ip, cluster)| Op::Deregister { svc, ip, cluster }),
        3 => (0..3usize, 0..6u8, 0..2usize).prop_map(|(svc, ip, cluster)| Op::Beat { svc, ip, cluster }),
        1 => (0..3usize, 0..6u8, 0..2usize, 0..5u8).prop_map(|(svc, ip, cluster, weight)| Op::SetWeight { svc, ip, cluster, weight }),
        3 => (0..12u8).prop_map(|secs| Op::Advance { secs }),
        2 => Just(Op::Sweep),
    ]
}

#[derive(Debug, Clone, PartialEq)]
struct ModelInst {
    weight: f64,
    enabled: bool,
    healthy: bool,
    last_beat: u64,
}

type Model = BTreeMap<usize, BTreeMap<(String, u8), ModelInst>>;

fn ik(ip: u8, cluster: usize) -> InstanceKey {
    InstanceKey::new(CLUSTERS[cluster], &format!("10.0.0.{ip}"), 80).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        // Failures are kept beside this file (`model_check.proptest-regressions`). The default
        // keeps them in a tree beside the nearest directory holding a main.rs, which here is
        // tests/proptest-regressions/.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn registry_matches_a_btreemap_model(ops in proptest::collection::vec(op(), 1..80)) {
        let clock = ManualClock::new();
        let registry = Registry::builder().clock(clock.clone()).build();
        let keys: Vec<ServiceKey> = (0..3).map(|i| ServiceKey::named(&format!("svc{i}")).unwrap()).collect();
        let mut model: Model = BTreeMap::new();
        let mut now = 0u64; // seconds since start

        for op in ops {
            match op {
                Op::Register { svc, ip, cluster, weight, enabled } => {
                    let inst = Instance::builder(&format!("10.0.0.{ip}"), 80)
                        .cluster(CLUSTERS[cluster]).weight(f64::from(weight)).enabled(enabled)
                        .build().unwrap();
                    registry.register_instance(&keys[svc], inst).unwrap();
                    model.entry(svc).or_default().insert(
                        (CLUSTERS[cluster].to_owned(), ip),
                        ModelInst { weight: f64::from(weight), enabled, healthy: true, last_beat: now },
                    );
                }
                Op::Deregister { svc, ip, cluster } => {
                    let removed = registry.deregister_instance(&keys[svc], &ik(ip, cluster));
                    let expected = model.get_mut(&svc).and_then(|m| m.remove(&(CLUSTERS[cluster].to_owned(), ip))).is_some();
                    prop_assert_eq!(removed, expected);
                }
                Op::Beat { svc, ip, cluster } => {
                    let got = registry.heartbeat(&keys[svc], &ik(ip, cluster));
                    match model.get_mut(&svc).and_then(|m| m.get_mut(&(CLUSTERS[cluster].to_owned(), ip))) {
                        Some(m) => { prop_assert!(got.is_ok()); m.last_beat = now; m.healthy = true; }
                        None => prop_assert!(got.is_err()),
                    }
                }
                Op::SetWeight { svc, ip, cluster, weight } => {
                    let got = registry.update_instance(&keys[svc], &ik(ip, cluster), InstanceUpdate { weight: Some(f64::from(weight)), ..Default::default() });
                    match model.get_mut(&svc).and_then(|m| m.get_mut(&(CLUSTERS[cluster].to_owned(), ip))) {
                        Some(m) => { prop_assert!(got.is_ok()); m.weight = f64::from(weight); }
                        None => prop_assert!(got.is_err()),
                    }
                }
                Op::Advance { secs } => {
                    clock.advance(Duration::from_secs(u64::from(secs)));
                    now += u64::from(secs);
                }
                Op::Sweep => {
                    registry.check_health();
                    for insts in model.values_mut() {
                        insts.retain(|_, m| now - m.last_beat < 30);
                        for m in insts.values_mut() {
                            if now - m.last_beat >= 15 { m.healthy = false; }
                        }
                    }
                }
            }
            // Compare every service with the model after every step.
            for (svc, key) in keys.iter().enumerate() {
                let got: BTreeMap<(String, u8), (f64, bool, bool)> = registry
                    .get_all_instances(key, &[])
                    .iter()
                    .map(|i| {
                        let last = i.ip().as_str().rsplit('.').next().unwrap().parse::<u8>().unwrap();
                        ((i.cluster().to_string(), last), (i.weight(), i.enabled(), i.healthy()))
                    })
                    .collect();
                let want: BTreeMap<(String, u8), (f64, bool, bool)> = model
                    .get(&svc)
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), (v.weight, v.enabled, v.healthy))).collect())
                    .unwrap_or_default();
                prop_assert_eq!(&got, &want, "service {} after step", svc);
                // Healthy-only selection agrees with the model too (threshold 0, so when nothing
                // usable is healthy, protection returns all usable instances).
                // The share is counted over enabled instances whatever their weight, as the
                // Nacos server does before its client drops weight-0 instances.
                let enabled_healthy = want.values().filter(|v| v.1 && v.2).count();
                let usable = want.values().filter(|v| v.1 && v.0 > 0.0).count();
                let usable_healthy = want.values().filter(|v| v.1 && v.0 > 0.0 && v.2).count();
                let selected = registry.select_instances(key, &[], true).len();
                if enabled_healthy == 0 { prop_assert_eq!(selected, usable); } else { prop_assert_eq!(selected, usable_healthy); }
            }
        }
    }
}

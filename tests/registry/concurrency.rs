//! Concurrent writers and readers on real threads end in exactly the expected state, and readers
//! never see a torn or backwards snapshot.

use nacre::{Instance, InstanceKey, ManualClock, Registry, ServiceKey};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

#[test]
fn concurrent_writers_and_readers_end_in_the_exact_expected_state() {
    let registry = Registry::builder().clock(ManualClock::new()).build();
    let services: Vec<ServiceKey> = (0..3)
        .map(|i| ServiceKey::named(&format!("svc-{i}")).unwrap())
        .collect();
    let writers = 4;
    let per_writer = 300;
    let stop = AtomicBool::new(false);

    std::thread::scope(|s| {
        // Readers: revisions never go backwards and the instance count always matches the
        // snapshot's own count.
        for _ in 0..2 {
            let registry = registry.clone();
            let services = services.clone();
            let stop = &stop;
            s.spawn(move || {
                let mut last = vec![0u64; services.len()];
                while !stop.load(Ordering::Relaxed) {
                    for (i, key) in services.iter().enumerate() {
                        let view = registry.get_all_instances(key, &[]);
                        assert!(view.revision() >= last[i], "revision went backwards");
                        last[i] = view.revision();
                        if let Some(snap) = view.snapshot() {
                            assert_eq!(view.len(), snap.instance_count());
                        }
                    }
                }
            });
        }
        let mut handles = Vec::new();
        for w in 0..writers {
            let registry = registry.clone();
            let services = services.clone();
            handles.push(s.spawn(move || {
                for i in 0..per_writer {
                    let key = &services[i % services.len()];
                    let inst = Instance::builder(&format!("10.{w}.{}.{}", i / 256, i % 256), 80)
                        .weight(1.0 + (i % 5) as f64)
                        .build()
                        .unwrap();
                    registry.register_instance(key, inst).unwrap();
                    // Every third one is deregistered again, by the same writer.
                    if i % 3 == 0 {
                        let ik = InstanceKey::in_default_cluster(
                            &format!("10.{w}.{}.{}", i / 256, i % 256),
                            80,
                        )
                        .unwrap();
                        assert!(registry.deregister_instance(key, &ik));
                    }
                }
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });

    let mut expected: Vec<BTreeSet<String>> = vec![BTreeSet::new(); services.len()];
    for w in 0..writers {
        for i in 0..per_writer {
            if i % 3 != 0 {
                expected[i % services.len()].insert(format!("10.{w}.{}.{}", i / 256, i % 256));
            }
        }
    }
    for (i, key) in services.iter().enumerate() {
        let got: BTreeSet<String> = registry
            .get_all_instances(key, &[])
            .iter()
            .map(|inst| inst.ip().to_string())
            .collect();
        assert_eq!(got, expected[i], "service {key}");
        // Each write that changed something bumped the revision by exactly one.
        let writes = (0..writers * per_writer)
            .filter(|n| (n % per_writer) % services.len() == i)
            .count();
        let deletes = (0..writers)
            .flat_map(|_| 0..per_writer)
            .filter(|n| n % services.len() == i && n % 3 == 0)
            .count();
        assert_eq!(registry.revision(key), Some((writes + deletes) as u64));
    }
}

#[test]
fn concurrent_beats_and_sweeps_never_evict_a_beating_instance() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let key = ServiceKey::named("orders").unwrap();
    let insts: Vec<Instance> = (0..64)
        .map(|i| Instance::new(&format!("10.0.0.{i}"), 80).unwrap())
        .collect();
    registry
        .batch_register_instance(&key, insts.clone())
        .unwrap();

    // Time advances 1 s per round; beaters beat every instance each round before the sweep
    // runs, so no instance is ever silent for 15 s.
    for _round in 0..60 {
        clock.advance(std::time::Duration::from_secs(1));
        std::thread::scope(|s| {
            for chunk in insts.chunks(16) {
                let registry = registry.clone();
                let key = key.clone();
                s.spawn(move || {
                    for inst in chunk {
                        registry.heartbeat(&key, &inst.key()).unwrap();
                    }
                });
            }
            let registry = registry.clone();
            s.spawn(move || {
                registry.check_health();
            });
        });
    }
    let view = registry.get_all_instances(&key, &[]);
    assert_eq!(view.len(), 64);
    assert!(view.iter().all(|i| i.healthy()));
}

/// A sweep that finds a whole service silent rebuilds it off the writer lock; writes and beats
/// that land meanwhile must all survive it: new instances stay, re-registrations keep their
/// data, deregistrations stay gone, and an instance that beat during the sweep ends healthy.
#[test]
fn a_mass_flip_never_loses_a_write_or_a_beat_made_during_it() {
    let ip = |i: usize| format!("10.0.{}.{}", i / 256, i % 256);
    for round in 0..6 {
        let clock = ManualClock::new();
        let registry = Registry::builder().clock(clock.clone()).build();
        let key = ServiceKey::named("mass").unwrap();
        let insts: Vec<Instance> = (0..2000)
            .map(|i| Instance::new(&ip(i), 80).unwrap())
            .collect();
        registry
            .batch_register_instance(&key, insts.clone())
            .unwrap();
        clock.advance(std::time::Duration::from_secs(15));

        std::thread::scope(|s| {
            let (registry, key) = (&registry, &key);
            s.spawn(move || {
                for i in 0..100 {
                    let fresh = Instance::new(&format!("172.16.0.{i}"), 80).unwrap();
                    registry.register_instance(key, fresh).unwrap();
                    let again = Instance::builder(&ip(i), 80).weight(2.0).build().unwrap();
                    registry.register_instance(key, again).unwrap();
                    registry
                        .deregister_instance(key, &Instance::new(&ip(100 + i), 80).unwrap().key());
                }
            });
            s.spawn(move || {
                for i in 300..400 {
                    registry
                        .heartbeat(key, &Instance::new(&ip(i), 80).unwrap().key())
                        .unwrap();
                }
            });
            s.spawn(move || {
                registry.check_health();
            });
        });

        let view = registry.get_all_instances(&key, &[]);
        let by_ip: std::collections::BTreeMap<String, std::sync::Arc<Instance>> = view
            .iter()
            .map(|i| (i.ip().as_str().to_string(), i.clone()))
            .collect();
        assert_eq!(by_ip.len(), 2000, "round {round}: 100 gone, 100 new");
        for i in 0..100 {
            let fresh = &by_ip[&format!("172.16.0.{i}")];
            assert!(
                fresh.healthy(),
                "round {round}: a new instance stays healthy"
            );
            let again = &by_ip[&ip(i)];
            assert_eq!(
                again.weight(),
                2.0,
                "round {round}: a re-registration keeps its data"
            );
            assert!(again.healthy(), "round {round}: and its health");
            assert!(
                !by_ip.contains_key(&ip(100 + i)),
                "round {round}: deregistered stays gone"
            );
        }
        for i in 300..400 {
            assert!(
                by_ip[&ip(i)].healthy(),
                "round {round}: {} beat during the sweep",
                ip(i)
            );
        }
        let silent = (200..2000).filter(|i| !(300..400).contains(i));
        for i in silent {
            assert!(
                !by_ip[&ip(i)].healthy(),
                "round {round}: {} is silent",
                ip(i)
            );
        }
        let healthy = registry.select_instances(&key, &[], true);
        assert_eq!(
            healthy.len(),
            300,
            "round {round}: the counts agree with the instances"
        );
    }
}

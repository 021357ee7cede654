//! Distro replication scenarios, on the deterministic simulator (ManualClock, no sleeps).

use crate::common::secs;
use nacre::cluster::{ClusterError, NodeId};
use nacre::transport::memory::{registry_contents, LinkFaults, SimConfig, Simulation};
use nacre::{Command, Instance, NamingEvent, ServiceKey, StoreError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn booted(n: usize, seed: u64) -> Simulation {
    let mut sim = Simulation::with_nodes(n, seed, SimConfig::default());
    sim.run_for(secs(1));
    for id in sim.members().to_vec() {
        assert!(
            sim.core(&id).unwrap().is_ready(),
            "{id} should serve after booting"
        );
    }
    sim
}

fn inst(i: u32) -> Instance {
    Instance::new(&format!("10.0.{}.{}", i / 256, i % 256), 8080).unwrap()
}

fn assert_all_equal(sim: &Simulation) {
    assert_eq!(
        sim.stalls(),
        0,
        "a node asked to be woken with nothing to do"
    );
    let alive = sim.alive();
    let first = registry_contents(sim.registry(&alive[0]).unwrap());
    for id in &alive[1..] {
        let other = registry_contents(sim.registry(id).unwrap());
        assert_eq!(first, other, "{} and {id} differ", alive[0]);
    }
}

fn present_healthy(sim: &Simulation, node: &NodeId, key: &ServiceKey, instance: &Instance) -> bool {
    sim.registry(node)
        .and_then(|r| r.service(key))
        .and_then(|s| s.entry(&instance.key()).map(|e| e.instance().healthy()))
        .unwrap_or(false)
}

/// The node that is not responsible for `key` (the first such).
fn non_owner(sim: &Simulation, key: &ServiceKey) -> NodeId {
    let any = &sim.alive()[0];
    let mapper = sim.core(any).unwrap().routing().mapper();
    let owner = mapper.owner(key).unwrap().clone();
    sim.alive().into_iter().find(|n| *n != owner).unwrap()
}

fn owner(sim: &Simulation, key: &ServiceKey) -> NodeId {
    let any = &sim.alive()[0];
    sim.core(any)
        .unwrap()
        .routing()
        .mapper()
        .owner(key)
        .unwrap()
        .clone()
}

#[test]
fn a_registration_on_any_node_is_visible_on_all_within_sync_delay_plus_one_batch() {
    for n in [3, 5] {
        let mut sim = booted(n, 1);
        let members = sim.members().to_vec();
        for (i, via) in members.iter().enumerate() {
            let key = ServiceKey::named(&format!("svc-{n}-{i}")).unwrap();
            let instance = inst(i as u32);
            sim.register(via, &key, instance.clone()).unwrap();
            // One sync delay (1 s) plus a moment for the batch to land.
            sim.run_for(secs(1) + Duration::from_millis(10));
            for node in &members {
                assert!(
                    present_healthy(&sim, node, &key, &instance),
                    "{n} nodes: {key} not on {node}"
                );
            }
        }
        assert_all_equal(&sim);
    }
}

#[test]
fn a_thousand_registrations_go_out_in_one_batch_before_the_delay() {
    let mut sim = booted(3, 2);
    let via = sim.members()[0].clone();
    let key = ServiceKey::named("big").unwrap();
    // Registered on the owner so all 1000 changes sit in one queue.
    let owner = owner(&sim, &key);
    for i in 0..1000 {
        sim.register(&owner, &key, inst(i)).unwrap();
    }
    sim.run_for(Duration::from_millis(10));
    for node in sim.members().to_vec() {
        let n = sim
            .registry(&node)
            .unwrap()
            .get_all_instances(&key, &[])
            .len();
        assert_eq!(
            n, 1000,
            "{node} has {n}: a full batch goes out without waiting"
        );
    }
    let _ = via;
}

#[test]
fn beats_through_a_non_responsible_node_keep_an_instance_healthy() {
    let mut sim = booted(3, 3);
    let key = ServiceKey::named("orders").unwrap();
    let via = non_owner(&sim, &key);
    let instance = inst(1);
    sim.register(&via, &key, instance.clone()).unwrap();
    for _ in 0..36 {
        sim.run_for(secs(5));
        sim.heartbeat(&via, &key, &instance.key()).unwrap();
    }
    for node in sim.members().to_vec() {
        assert!(
            present_healthy(&sim, &node, &key, &instance),
            "lost on {node}"
        );
    }
    // And when the beats stop, the owner evicts it everywhere.
    sim.run_for(secs(31));
    sim.run_for(secs(2));
    for node in sim.members().to_vec() {
        assert!(
            sim.registry(&node)
                .unwrap()
                .get_all_instances(&key, &[])
                .is_empty(),
            "{node}"
        );
    }
}

#[test]
fn a_light_beat_for_an_unknown_instance_is_not_found_through_any_node() {
    let mut sim = booted(3, 4);
    let key = ServiceKey::named("orders").unwrap();
    let via = non_owner(&sim, &key);
    let err = sim.heartbeat(&via, &key, &inst(9).key()).unwrap_err();
    assert!(
        matches!(err, ClusterError::Registry(StoreError::InstanceNotFound(_))),
        "{err:?}"
    );
    // A beat with data re-registers it, on the owner, and it replicates.
    assert!(
        sim.heartbeat_with(&via, &key, &inst(9))
            .unwrap()
            .reregistered
    );
    sim.run_for(secs(2));
    assert_all_equal(&sim);
}

#[test]
fn setting_a_persistent_instance_health_through_any_node_replicates_and_ephemeral_is_refused() {
    let mut sim = booted(3, 5);
    let key = ServiceKey::named("db").unwrap();
    let via = non_owner(&sim, &key);
    let primary = Instance::builder("10.0.0.9", 5432)
        .ephemeral(false)
        .build()
        .unwrap();
    sim.register(&via, &key, primary.clone()).unwrap();
    sim.execute(&via, Command::set_health(&key, &primary.key(), false))
        .unwrap();
    sim.run_for(secs(2));
    for node in sim.members().to_vec() {
        let snap = sim.registry(&node).unwrap().service(&key).unwrap();
        let entry = snap.entry(&primary.key()).unwrap();
        assert!(!entry.instance().healthy(), "still healthy on {node}");
    }
    assert_all_equal(&sim);
    // Persistent instances are not judged by beats: a minute of silence changes nothing.
    sim.run_for(secs(60));
    assert!(!present_healthy(&sim, &via, &key, &primary));
    assert!(sim.registry(&via).unwrap().service(&key).is_some());

    let web = inst(1);
    sim.register(&via, &key, web.clone()).unwrap();
    let err = sim
        .execute(&via, Command::set_health(&key, &web.key(), false))
        .unwrap_err();
    assert!(
        err.to_string().contains("health check is still working"),
        "{err}"
    );
    let err = sim
        .execute(&via, Command::set_health(&key, &inst(2).key(), true))
        .unwrap_err();
    assert!(
        matches!(err, ClusterError::Registry(StoreError::InstanceNotFound(_))),
        "{err:?}"
    );
}

#[test]
fn a_crash_moves_responsibility_and_nothing_heartbeating_is_evicted() {
    let mut sim = booted(3, 5);
    let key = ServiceKey::named("orders").unwrap();
    let doomed = owner(&sim, &key);
    let via = non_owner(&sim, &key);
    let instances: Vec<Instance> = (0..10).map(inst).collect();
    for i in &instances {
        sim.register(&via, &key, i.clone()).unwrap();
    }
    sim.run_for(secs(2));
    sim.crash(&doomed);
    // The client keeps beating through its node for two minutes; for the first seconds the
    // forwards to the crashed owner fail and the beats are applied locally.
    for _ in 0..24 {
        for i in &instances {
            sim.heartbeat_with(&via, &key, i).unwrap();
        }
        sim.run_for(secs(5));
    }
    let new_owner = owner(&sim, &key);
    assert_ne!(new_owner, doomed, "responsibility moved");
    for node in sim.alive() {
        for i in &instances {
            assert!(
                present_healthy(&sim, &node, &key, i),
                "{} lost on {node}",
                i.ip()
            );
        }
    }
    assert!(sim.core(&new_owner).unwrap().stats().grace_periods > 0 || new_owner == via);
    assert_all_equal(&sim);
}

#[test]
fn a_partition_keeps_both_sides_serving_and_heals_into_one_state() {
    let mut sim = booted(5, 6);
    let m = sim.members().to_vec();
    let (left, right) = (
        vec![m[0].clone(), m[1].clone()],
        vec![m[2].clone(), m[3].clone(), m[4].clone()],
    );
    let key = ServiceKey::named("orders").unwrap();
    // One instance registered before the split, beating through the left side only.
    let old = inst(1);
    sim.register(&left[0], &key, old.clone()).unwrap();
    sim.run_for(secs(2));

    sim.faults().partition(&[&left, &right]);
    let on_left = inst(2);
    let on_right = inst(3);
    sim.register(&left[1], &key, on_left.clone()).unwrap();
    sim.register(&right[0], &key, on_right.clone()).unwrap();
    for _ in 0..12 {
        sim.run_for(secs(5));
        sim.heartbeat_with(&left[0], &key, &old).unwrap();
        sim.heartbeat_with(&left[1], &key, &on_left).unwrap();
        sim.heartbeat_with(&right[0], &key, &on_right).unwrap();
    }
    // Both sides served writes; the right side evicted `old`, which it no longer hears.
    assert!(present_healthy(&sim, &left[0], &key, &on_left));
    assert!(present_healthy(&sim, &right[2], &key, &on_right));
    assert!(!present_healthy(&sim, &right[2], &key, &old));

    sim.faults().heal();
    // Convergence bound: peers are seen again within a ping round, and the next beat and sync
    // (or verify) settle the rest.
    for _ in 0..4 {
        sim.run_for(secs(5));
        sim.heartbeat_with(&left[0], &key, &old).unwrap();
        sim.heartbeat_with(&left[1], &key, &on_left).unwrap();
        sim.heartbeat_with(&right[0], &key, &on_right).unwrap();
    }
    assert_all_equal(&sim);
    for node in &m {
        for i in [&old, &on_left, &on_right] {
            assert!(
                present_healthy(&sim, node, &key, i),
                "{} missing on {node} after heal",
                i.ip()
            );
        }
    }
}

#[test]
fn a_restarted_node_loads_the_snapshot_before_it_serves() {
    let mut sim = booted(3, 7);
    let key = ServiceKey::named("orders").unwrap();
    let via = sim.members()[0].clone();
    for i in 0..50 {
        sim.register(&via, &key, inst(i)).unwrap();
    }
    sim.run_for(secs(2));
    let victim = sim.members()[2].clone();
    sim.crash(&victim);
    sim.run_for(secs(10));
    sim.restart(&victim);
    assert!(matches!(
        sim.register(&victim, &key, inst(99)),
        Err(ClusterError::NotReady(_))
    ));
    assert!(sim
        .registry(&victim)
        .unwrap()
        .get_all_instances(&key, &[])
        .is_empty());
    sim.run_for(Duration::from_millis(100));
    assert!(sim.core(&victim).unwrap().is_ready());
    assert_eq!(
        sim.registry(&victim)
            .unwrap()
            .get_all_instances(&key, &[])
            .len(),
        50
    );
}

#[test]
fn a_starting_node_keeps_asking_until_a_peer_answers() {
    let mut sim = booted(3, 8);
    let key = ServiceKey::named("orders").unwrap();
    sim.register(&sim.members()[0].clone(), &key, inst(1))
        .unwrap();
    sim.run_for(secs(2));
    let m = sim.members().to_vec();
    sim.crash(&m[2]);
    sim.restart(&m[2]);
    sim.faults()
        .partition(&[&[m[2].clone()], &[m[0].clone(), m[1].clone()]]);
    sim.run_for(secs(20));
    assert!(
        !sim.core(&m[2]).unwrap().is_ready(),
        "nobody answered: still loading"
    );
    sim.faults().heal();
    sim.run_for(secs(4));
    assert!(sim.core(&m[2]).unwrap().is_ready());
    assert_eq!(
        sim.registry(&m[2])
            .unwrap()
            .get_all_instances(&key, &[])
            .len(),
        1
    );
}

#[test]
fn subscribers_on_every_node_get_the_events() {
    let mut sim = booted(3, 9);
    let key = ServiceKey::named("orders").unwrap();
    let seen: Arc<Mutex<Vec<(String, usize)>>> = Arc::new(Mutex::new(Vec::new()));
    for node in sim.members().to_vec() {
        let seen = seen.clone();
        let name = node.to_string();
        sim.registry(&node)
            .unwrap()
            .subscribe(&key, &[], move |e: &NamingEvent| {
                seen.lock().unwrap().push((name.clone(), e.instances.len()));
            });
    }
    sim.register(&sim.members()[1].clone(), &key, inst(1))
        .unwrap();
    sim.run_for(secs(2));
    for node in sim.members().to_vec() {
        assert!(sim.registry(&node).unwrap().wait_for_events(secs(5)));
    }
    let seen = seen.lock().unwrap();
    for node in sim.members() {
        assert!(
            seen.contains(&(node.to_string(), 1)),
            "{node} missed the event: {seen:?}"
        );
    }
}

#[test]
fn a_deregistration_replicates_and_a_stale_copy_cannot_bring_it_back() {
    let mut sim = booted(3, 10);
    let key = ServiceKey::named("orders").unwrap();
    let m = sim.members().to_vec();
    let i = inst(1);
    sim.register(&m[0], &key, i.clone()).unwrap();
    sim.run_for(secs(2));
    // Cut node 3 off, deregister on the others, then heal: node 3's stale live copy loses.
    sim.faults()
        .partition(&[&[m[0].clone(), m[1].clone()], &[m[2].clone()]]);
    sim.run_for(secs(6));
    let via = if owner(&sim, &key) == m[2] {
        m[0].clone()
    } else {
        owner(&sim, &key)
    };
    assert!(sim.deregister(&via, &key, &i.key()).unwrap());
    sim.run_for(secs(2));
    sim.faults().heal();
    sim.run_for(secs(15));
    assert_all_equal(&sim);
    for node in &m {
        assert!(
            sim.registry(node)
                .unwrap()
                .get_all_instances(&key, &[])
                .is_empty(),
            "{node}"
        );
    }
}

#[test]
fn lossy_links_only_delay_convergence() {
    let mut sim = booted(3, 11);
    sim.faults().set_default(LinkFaults {
        drop_rate: 0.3,
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(50),
    });
    let key = ServiceKey::named("orders").unwrap();
    let instances: Vec<Instance> = (0..20).map(inst).collect();
    let via = sim.members()[0].clone();
    for i in &instances {
        sim.register(&via, &key, i.clone()).unwrap();
    }
    for _ in 0..6 {
        sim.run_for(secs(5));
        for i in &instances {
            sim.heartbeat_with(&via, &key, i).unwrap();
        }
    }
    sim.faults().clear_link_faults();
    sim.run_for(secs(8));
    assert_all_equal(&sim);
    assert_eq!(
        registry_contents(sim.registry(&via).unwrap())[&key].len(),
        20
    );
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let run = |seed| {
        let mut sim = booted(3, seed);
        sim.faults().set_default(LinkFaults {
            drop_rate: 0.2,
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(30),
        });
        let key = ServiceKey::named("orders").unwrap();
        for i in 0..10 {
            let via = sim.members()[i % 3].clone();
            sim.register(&via, &key, inst(i as u32)).unwrap();
            sim.run_for(Duration::from_millis(700));
        }
        let stats = sim.stats();
        let states: Vec<_> = sim
            .members()
            .iter()
            .map(|n| registry_contents(sim.registry(n).unwrap()))
            .collect();
        (stats, states)
    };
    assert_eq!(run(42), run(42));
}

#[test]
fn the_new_owner_gives_a_grace_period_before_judging_instances_it_never_heard() {
    // Three nodes: the client beats through `relay`; the service is owned by `doomed`; when
    // `doomed` crashes, responsibility moves to `heir`, which never saw a single beat (its copy
    // of the last beat is from the registration, a minute ago). It sweeps as soon as it takes
    // over; without a grace period it would evict at once.
    let mut sim = booted(3, 12);
    let m = sim.members().to_vec();
    let (relay, doomed, heir) = (m[0].clone(), m[1].clone(), m[2].clone());
    let without = nacre::cluster::DistroMapper::new(vec![relay.clone(), heir.clone()]);
    let key = (0..1000)
        .map(|i| ServiceKey::named(&format!("svc-{i}")).unwrap())
        .find(|k| owner(&sim, k) == doomed && without.owner(k) == Some(&heir))
        .expect("some service moves from `doomed` to `heir`");
    let instance = inst(1);
    sim.register(&relay, &key, instance.clone()).unwrap();
    for _ in 0..12 {
        sim.run_for(secs(5));
        sim.heartbeat(&relay, &key, &instance.key()).unwrap();
    }
    sim.crash(&doomed);
    for second in 0..60 {
        if second % 5 == 0 {
            sim.heartbeat_with(&relay, &key, &instance).unwrap();
        }
        sim.run_for(secs(1));
        for node in [&relay, &heir] {
            assert!(
                present_healthy(&sim, node, &key, &instance),
                "{second}s after the crash: missing or unhealthy on {node}"
            );
        }
    }
    assert_eq!(owner(&sim, &key), heir);
    assert!(sim.core(&heir).unwrap().stats().grace_periods > 0);
}

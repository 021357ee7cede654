//! Events through the public API: what fires, with which revision, and isolation between
//! listeners.

use crate::common::setup;
use nacre::{ClusterName, Instance, InstanceUpdate, NamingEvent};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
struct Seen {
    revision: u64,
    endpoints: Vec<(String, bool)>,
}

fn recorder() -> (
    Arc<Mutex<Vec<Seen>>>,
    impl Fn(&NamingEvent) + Send + Sync + 'static,
) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let listener = move |e: &NamingEvent| {
        let endpoints = e
            .instances
            .iter()
            .map(|i| (format!("{}:{}", i.ip(), i.port()), i.healthy()))
            .collect();
        sink.lock().unwrap().push(Seen {
            revision: e.revision,
            endpoints,
        });
    };
    (log, listener)
}

fn ep(s: &str, healthy: bool) -> (String, bool) {
    (s.to_owned(), healthy)
}

#[test]
fn register_deregister_flip_and_evict_each_emit_an_event_with_its_revision() {
    let (clock, registry, key) = setup();
    let (log, listener) = recorder();
    registry.subscribe(&key, &[], listener);

    let a = Instance::new("10.0.0.1", 80).unwrap();
    let b = Instance::new("10.0.0.2", 80).unwrap();
    let r1 = registry.register_instance(&key, a.clone()).unwrap();
    assert!(registry.wait_for_events(SETTLE));
    let r2 = registry.register_instance(&key, b.clone()).unwrap();
    assert!(registry.wait_for_events(SETTLE));
    assert!(registry.deregister_instance(&key, &b.key()));
    assert!(registry.wait_for_events(SETTLE));
    let r3 = registry.revision(&key).unwrap();
    clock.advance(Duration::from_secs(15));
    registry.check_health();
    assert!(registry.wait_for_events(SETTLE));
    let r4 = registry.revision(&key).unwrap();
    registry.heartbeat(&key, &a.key()).unwrap();
    assert!(registry.wait_for_events(SETTLE));
    let r5 = registry.revision(&key).unwrap();
    clock.advance(Duration::from_secs(30));
    registry.check_health();
    assert!(registry.wait_for_events(SETTLE));
    let r6 = registry.revision(&key).unwrap();

    let seen = log.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            Seen {
                revision: r1,
                endpoints: vec![ep("10.0.0.1:80", true)]
            },
            Seen {
                revision: r2,
                endpoints: vec![ep("10.0.0.1:80", true), ep("10.0.0.2:80", true)]
            },
            Seen {
                revision: r3,
                endpoints: vec![ep("10.0.0.1:80", true)]
            },
            Seen {
                revision: r4,
                endpoints: vec![ep("10.0.0.1:80", false)]
            },
            Seen {
                revision: r5,
                endpoints: vec![ep("10.0.0.1:80", true)]
            },
            Seen {
                revision: r6,
                endpoints: vec![]
            },
        ]
    );
    assert_eq!((r1, r2, r3, r4, r5, r6), (1, 2, 3, 4, 5, 6));
}

#[test]
fn a_new_subscriber_first_gets_the_current_state() {
    let (_clock, registry, key) = setup();
    registry
        .register_instance(&key, Instance::new("10.0.0.1", 80).unwrap())
        .unwrap();
    let (log, listener) = recorder();
    registry.subscribe(&key, &[], listener);
    assert!(registry.wait_for_events(SETTLE));
    assert_eq!(
        *log.lock().unwrap(),
        vec![Seen {
            revision: 1,
            endpoints: vec![ep("10.0.0.1:80", true)]
        }]
    );
}

#[test]
fn subscribing_to_a_missing_service_waits_for_its_first_instance() {
    let (_clock, registry, key) = setup();
    let (log, listener) = recorder();
    registry.subscribe(&key, &[], listener);
    assert!(registry.wait_for_events(SETTLE));
    assert!(log.lock().unwrap().is_empty());
    registry
        .register_instance(&key, Instance::new("10.0.0.1", 80).unwrap())
        .unwrap();
    assert!(registry.wait_for_events(SETTLE));
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[test]
fn cluster_filters_only_see_their_clusters_and_only_real_changes() {
    let (_clock, registry, key) = setup();
    let hz = ClusterName::new("hz").unwrap();
    let (log, listener) = recorder();
    registry.subscribe(&key, std::slice::from_ref(&hz), listener);

    let in_hz = Instance::builder("10.0.0.1", 80)
        .cluster("hz")
        .build()
        .unwrap();
    let in_sh = Instance::builder("10.0.0.2", 80)
        .cluster("sh")
        .build()
        .unwrap();
    registry.register_instance(&key, in_hz.clone()).unwrap();
    assert!(registry.wait_for_events(SETTLE));
    registry.register_instance(&key, in_sh).unwrap();
    assert!(registry.wait_for_events(SETTLE));
    registry
        .update_instance(
            &key,
            &in_hz.key(),
            InstanceUpdate {
                weight: Some(5.0),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(registry.wait_for_events(SETTLE));

    let seen = log.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        2,
        "the change in cluster `sh` is not news to an `hz` subscriber: {seen:?}"
    );
    assert_eq!(seen[0].revision, 1);
    assert_eq!(seen[1].revision, 3);
}

#[test]
fn unsubscribe_stops_events() {
    let (_clock, registry, key) = setup();
    let (log, listener) = recorder();
    let id = registry.subscribe(&key, &[], listener);
    registry
        .register_instance(&key, Instance::new("10.0.0.1", 80).unwrap())
        .unwrap();
    assert!(registry.wait_for_events(SETTLE));
    assert!(registry.unsubscribe(id));
    assert!(!registry.unsubscribe(id));
    registry
        .register_instance(&key, Instance::new("10.0.0.2", 80).unwrap())
        .unwrap();
    assert!(registry.wait_for_events(SETTLE));
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[test]
fn a_panicking_listener_does_not_stop_the_others_or_itself() {
    let (_clock, registry, key) = setup();
    let calls = Arc::new(Mutex::new(0));
    let c = calls.clone();
    registry.subscribe(&key, &[], move |_e: &NamingEvent| {
        *c.lock().unwrap() += 1;
        panic!("listener bug");
    });
    let (log, listener) = recorder();
    registry.subscribe(&key, &[], listener);
    for i in 1..=3 {
        registry
            .register_instance(&key, Instance::new(&format!("10.0.0.{i}"), 80).unwrap())
            .unwrap();
        assert!(registry.wait_for_events(SETTLE));
    }
    assert_eq!(log.lock().unwrap().len(), 3);
    assert_eq!(
        *calls.lock().unwrap(),
        3,
        "the panicking listener keeps getting events"
    );
}

#[test]
fn a_slow_listener_gets_the_latest_state_not_a_backlog_and_does_not_hold_up_others() {
    let (_clock, registry, key) = setup();
    // The slow listener blocks on its first event until the test lets it go.
    let gate = Arc::new(Barrier::new(2));
    let entered = Arc::new(AtomicBool::new(false));
    let slow_log = Arc::new(Mutex::new(Vec::new()));
    {
        let gate = gate.clone();
        let entered = entered.clone();
        let slow_log = slow_log.clone();
        registry.subscribe(&key, &[], move |e: &NamingEvent| {
            slow_log
                .lock()
                .unwrap()
                .push((e.revision, e.instances.len()));
            if !entered.swap(true, Ordering::SeqCst) {
                gate.wait();
            }
        });
    }
    let (fast_log, listener) = recorder();
    registry.subscribe(&key, &[], listener);

    registry
        .register_instance(&key, Instance::new("10.0.0.1", 80).unwrap())
        .unwrap();
    // Wait until the slow listener is stuck inside its first event.
    while !entered.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    for i in 2..=50 {
        registry
            .register_instance(&key, Instance::new(&format!("10.0.0.{i}"), 80).unwrap())
            .unwrap();
    }
    // The fast listener is served by the other delivery thread meanwhile.
    let deadline = std::time::Instant::now() + SETTLE;
    while fast_log.lock().unwrap().last().map(|s| s.revision) != Some(50) {
        assert!(
            std::time::Instant::now() < deadline,
            "fast listener starved"
        );
        std::thread::yield_now();
    }
    gate.wait();
    assert!(registry.wait_for_events(SETTLE));
    let slow = slow_log.lock().unwrap().clone();
    assert_eq!(
        slow,
        vec![(1, 1), (50, 50)],
        "one event while blocked, then only the latest state"
    );
    let fast: Vec<u64> = fast_log
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.revision)
        .collect();
    assert!(
        fast.windows(2).all(|w| w[0] < w[1]),
        "revisions in order: {fast:?}"
    );
}

#[test]
fn revisions_are_strictly_increasing_under_concurrent_writers() {
    let (_clock, registry, key) = setup();
    let (log, listener) = recorder();
    registry.subscribe(&key, &[], listener);
    std::thread::scope(|s| {
        for t in 0..4 {
            let registry = registry.clone();
            let key = key.clone();
            s.spawn(move || {
                for i in 0..100 {
                    let inst = Instance::new(&format!("10.{t}.0.{i}"), 80).unwrap();
                    registry.register_instance(&key, inst).unwrap();
                }
            });
        }
    });
    assert!(registry.wait_for_events(SETTLE));
    let seen = log.lock().unwrap().clone();
    assert!(seen.windows(2).all(|w| w[0].revision < w[1].revision));
    let last = seen.last().unwrap();
    assert_eq!(last.revision, 400);
    assert_eq!(
        last.endpoints.len(),
        400,
        "the final event carries the final state"
    );
}

#[test]
fn removing_a_service_tells_subscribers_and_revisions_keep_counting() {
    let (_clock, registry, key) = setup();
    let (log, listener) = recorder();
    registry.subscribe(&key, &[], listener);
    let a = Instance::new("10.0.0.1", 80).unwrap();
    registry.register_instance(&key, a.clone()).unwrap();
    assert!(registry.wait_for_events(SETTLE));
    registry.deregister_instance(&key, &a.key());
    assert!(registry.wait_for_events(SETTLE));
    registry.remove_service(&key).unwrap();
    assert!(registry.service(&key).is_none());
    assert!(registry.wait_for_events(SETTLE));
    registry.register_instance(&key, a).unwrap();
    assert!(registry.wait_for_events(SETTLE));
    let revs: Vec<u64> = log.lock().unwrap().iter().map(|s| s.revision).collect();
    assert_eq!(revs.first(), Some(&1));
    assert_eq!(
        revs.last(),
        Some(&4),
        "re-created service continues from its old revision"
    );
    assert!(revs.windows(2).all(|w| w[0] < w[1]));
}

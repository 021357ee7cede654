//! Every beat timing rule at its boundary, with a ManualClock: no real sleeps.

use crate::common::{ms, setup};
use nacre::model::{
    PRESERVED_HEART_BEAT_INTERVAL, PRESERVED_HEART_BEAT_TIMEOUT, PRESERVED_IP_DELETE_TIMEOUT,
};
use nacre::{Instance, InstanceKey, ManualClock, Registry, ServiceKey, StoreError};
use std::time::Duration;

fn state(registry: &Registry, key: &ServiceKey, ik: &InstanceKey) -> Option<bool> {
    registry
        .service(key)?
        .entry(ik)
        .map(|e| e.instance().healthy())
}

#[test]
fn instance_is_healthy_at_14_999s_and_unhealthy_at_15s_without_beat() {
    let (clock, registry, key) = setup();
    let inst = Instance::new("10.0.0.1", 8080).unwrap();
    let ik = inst.key();
    registry.register_instance(&key, inst).unwrap();

    clock.advance(ms(14_999));
    let report = registry.check_health();
    assert!(report.marked_unhealthy.is_empty());
    assert_eq!(state(&registry, &key, &ik), Some(true));
    assert_eq!(report.next_due, Some(clock.now() + ms(1)));

    clock.advance(ms(1));
    let report = registry.check_health();
    assert_eq!(report.marked_unhealthy, vec![(key.clone(), ik.clone())]);
    assert_eq!(state(&registry, &key, &ik), Some(false));
}

#[test]
fn instance_is_removed_at_30s_without_beat_and_not_at_29_999s() {
    let (clock, registry, key) = setup();
    let inst = Instance::new("10.0.0.1", 8080).unwrap();
    let ik = inst.key();
    registry.register_instance(&key, inst).unwrap();

    clock.advance(ms(29_999));
    registry.check_health();
    assert_eq!(state(&registry, &key, &ik), Some(false));

    clock.advance(ms(1));
    let report = registry.check_health();
    assert_eq!(report.removed, vec![(key.clone(), ik.clone())]);
    assert_eq!(state(&registry, &key, &ik), None);
    assert_eq!(report.next_due, None, "nothing left to judge");
}

#[test]
fn a_sweep_that_comes_late_removes_without_marking_first() {
    let (clock, registry, key) = setup();
    registry
        .register_instance(&key, Instance::new("10.0.0.1", 8080).unwrap())
        .unwrap();
    clock.advance(Duration::from_secs(45));
    let report = registry.check_health();
    assert!(report.marked_unhealthy.is_empty());
    assert_eq!(report.removed.len(), 1);
}

#[test]
fn beats_keep_an_instance_healthy_for_simulated_minutes() {
    let (clock, registry, key) = setup();
    let inst = Instance::new("10.0.0.1", 8080).unwrap();
    let ik = inst.key();
    registry.register_instance(&key, inst).unwrap();
    let rev = registry.revision(&key).unwrap();
    for _ in 0..120 {
        clock.advance(Duration::from_secs(5));
        let reply = registry.heartbeat(&key, &ik).unwrap();
        assert_eq!(reply.client_beat_interval, Duration::from_secs(5));
        assert!(reply.light_beat_enabled);
        let report = registry.check_health();
        assert!(report.marked_unhealthy.is_empty() && report.removed.is_empty());
    }
    assert_eq!(state(&registry, &key, &ik), Some(true));
    assert_eq!(
        registry.revision(&key),
        Some(rev),
        "beats publish no snapshot"
    );
}

#[test]
fn a_beat_makes_an_unhealthy_instance_healthy_again_at_once() {
    let (clock, registry, key) = setup();
    let inst = Instance::new("10.0.0.1", 8080).unwrap();
    let ik = inst.key();
    registry.register_instance(&key, inst).unwrap();
    clock.advance(Duration::from_secs(20));
    registry.check_health();
    assert_eq!(state(&registry, &key, &ik), Some(false));
    let before = registry.revision(&key).unwrap();

    registry.heartbeat(&key, &ik).unwrap();
    assert_eq!(state(&registry, &key, &ik), Some(true));
    assert_eq!(registry.revision(&key), Some(before + 1));
    // And its clock restarted: 14.999 s later it is still healthy.
    clock.advance(ms(14_999));
    registry.check_health();
    assert_eq!(state(&registry, &key, &ik), Some(true));
}

#[test]
fn metadata_overrides_change_each_timeout() {
    let (clock, registry, key) = setup();
    let inst = Instance::builder("10.0.0.1", 8080)
        .metadata(PRESERVED_HEART_BEAT_INTERVAL, "1000")
        .metadata(PRESERVED_HEART_BEAT_TIMEOUT, "3000")
        .metadata(PRESERVED_IP_DELETE_TIMEOUT, "6000")
        .build()
        .unwrap();
    let ik = inst.key();
    let plain = Instance::new("10.0.0.2", 8080).unwrap();
    registry.register_instance(&key, inst).unwrap();
    registry.register_instance(&key, plain.clone()).unwrap();

    let reply = registry.heartbeat(&key, &ik).unwrap();
    assert_eq!(reply.client_beat_interval, ms(1000));
    assert_eq!(
        registry
            .heartbeat(&key, &plain.key())
            .unwrap()
            .client_beat_interval,
        ms(5000)
    );

    clock.advance(ms(2_999));
    registry.check_health();
    assert_eq!(state(&registry, &key, &ik), Some(true));
    clock.advance(ms(1));
    registry.check_health();
    assert_eq!(state(&registry, &key, &ik), Some(false));
    clock.advance(ms(2_999));
    registry.check_health();
    assert_eq!(state(&registry, &key, &ik), Some(false));
    clock.advance(ms(1));
    registry.check_health();
    assert_eq!(state(&registry, &key, &ik), None);
    // The instance without overrides is untouched at 6 s.
    assert_eq!(state(&registry, &key, &plain.key()), Some(true));
}

#[test]
fn only_ephemeral_instances_are_judged_by_beats() {
    let (clock, registry, key) = setup();
    let persistent = Instance::builder("10.0.0.1", 8080)
        .ephemeral(false)
        .build()
        .unwrap();
    registry
        .register_instance(&key, persistent.clone())
        .unwrap();
    clock.advance(Duration::from_secs(3600));
    let report = registry.check_health();
    assert_eq!(report.instances, 0);
    assert_eq!(state(&registry, &key, &persistent.key()), Some(true));
}

#[test]
fn a_bare_beat_for_an_unknown_instance_says_not_found_and_a_beat_with_data_reregisters() {
    let (clock, registry, key) = setup();
    let inst = Instance::builder("10.0.0.1", 8080)
        .weight(2.0)
        .build()
        .unwrap();
    registry.register_instance(&key, inst.clone()).unwrap();
    clock.advance(Duration::from_secs(30));
    registry.check_health();
    assert_eq!(state(&registry, &key, &inst.key()), None);

    let err = registry.heartbeat(&key, &inst.key()).unwrap_err();
    assert_eq!(err, StoreError::InstanceNotFound(inst.instance_id(&key)));
    assert!(err
        .to_string()
        .contains("10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@orders"));

    let reply = registry.heartbeat_with(&key, &inst).unwrap();
    assert!(reply.reregistered);
    let back = registry.get_all_instances(&key, &[]).to_vec();
    assert_eq!(back, vec![inst.clone()]);
    // A second beat with data is an ordinary beat.
    assert!(!registry.heartbeat_with(&key, &inst).unwrap().reregistered);
}

#[test]
fn reregistering_refreshes_the_beat_time() {
    let (clock, registry, key) = setup();
    let inst = Instance::new("10.0.0.1", 8080).unwrap();
    registry.register_instance(&key, inst.clone()).unwrap();
    clock.advance(Duration::from_secs(10));
    let rev = registry.revision(&key).unwrap();
    assert_eq!(
        registry.register_instance(&key, inst.clone()).unwrap(),
        rev,
        "same data: no new revision"
    );
    clock.advance(Duration::from_secs(10));
    registry.check_health();
    assert_eq!(state(&registry, &key, &inst.key()), Some(true));
}

#[test]
fn custom_default_timing_applies_to_instances_without_overrides() {
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .clock(clock.clone())
        .health(nacre::HealthConfig {
            beat_interval: Duration::from_secs(1),
            beat_timeout: Duration::from_secs(3),
            delete_timeout: Duration::from_secs(4),
            check_interval: Duration::from_secs(1),
            ..nacre::HealthConfig::default()
        })
        .build();
    let key = ServiceKey::named("orders").unwrap();
    let inst = Instance::new("10.0.0.1", 8080).unwrap();
    registry.register_instance(&key, inst.clone()).unwrap();
    assert_eq!(
        registry
            .heartbeat(&key, &inst.key())
            .unwrap()
            .client_beat_interval,
        Duration::from_secs(1)
    );
    clock.advance(Duration::from_secs(3));
    assert_eq!(registry.check_health().marked_unhealthy.len(), 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(registry.check_health().removed.len(), 1);
}

#[tokio::test]
async fn the_health_driver_wakes_exactly_at_each_deadline_on_the_manual_clock() {
    let (clock, registry, key) = setup();
    let inst = Instance::new("10.0.0.1", 8080).unwrap();
    let ik = inst.key();
    let mut driver = registry.spawn_health_driver();
    let t0 = clock.now();
    driver.wait_for_sweep_at(t0).await;
    registry.register_instance(&key, inst).unwrap();

    // The driver sleeps on the manual clock; walk time forward as a real clock would, one
    // wake-up at a time, and check the state at each stop.
    let mut woke_at = Vec::new();
    while clock.now() < t0 + Duration::from_secs(31) {
        let next = loop {
            if let Some(at) = clock.next_wakeup() {
                break at;
            }
            tokio::task::yield_now().await;
        };
        clock.set(next);
        driver.wait_for_sweep_at(next).await;
        woke_at.push(next.saturating_since(t0));
        if next == t0 + Duration::from_secs(15) {
            assert_eq!(
                state(&registry, &key, &ik),
                Some(false),
                "unhealthy at exactly 15 s"
            );
        }
        if next < t0 + Duration::from_secs(15) {
            assert_eq!(state(&registry, &key, &ik), Some(true));
        }
    }
    assert!(
        woke_at.contains(&Duration::from_secs(15)),
        "woke at {woke_at:?}"
    );
    assert!(
        woke_at.contains(&Duration::from_secs(30)),
        "woke at {woke_at:?}"
    );
    assert_eq!(state(&registry, &key, &ik), None, "removed at 30 s");
    driver.stop();
}

#[test]
fn a_sweep_skips_services_with_nothing_due_and_still_catches_the_deadline() {
    let (clock, registry, key) = setup();
    let inst = Instance::new("10.0.0.1", 8080).unwrap();
    registry.register_instance(&key, inst.clone()).unwrap();
    assert_eq!(
        registry.check_health().instances,
        1,
        "first sweep walks the service"
    );
    clock.advance(Duration::from_secs(5));
    let report = registry.check_health();
    assert_eq!(
        report.instances, 0,
        "nothing changed and nothing is due: skipped"
    );
    assert_eq!(report.next_due, Some(clock.now() + Duration::from_secs(10)));
    // A beat moves the real deadline later; the hint is still a safe lower bound.
    registry.heartbeat(&key, &inst.key()).unwrap();
    clock.advance(Duration::from_secs(10));
    let report = registry.check_health();
    assert_eq!(
        report.instances, 1,
        "at the hinted deadline the service is walked again"
    );
    assert!(
        report.marked_unhealthy.is_empty(),
        "the beat at 5 s keeps it healthy at 15 s"
    );
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        registry.check_health().marked_unhealthy.len(),
        1,
        "20 s: 15 s after the beat"
    );
}

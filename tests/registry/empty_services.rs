//! Empty services: a service whose last instance left (or was evicted) is removed 60 s later
//! unless it has explicit settings or gets an instance back; the expiry is configurable, the
//! health driver wakes for it, and subscribers hear of the removal.

use crate::common::{inst, key, registry_on, registry_with, secs};
use nacre::{Limits, ManualClock, NamingEvent, ServiceSettings};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

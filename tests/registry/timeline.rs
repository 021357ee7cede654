//! The instance timeline as the registry records it: each write and each sweep verdict, with
//! the numbers behind it (how long the instance was silent, against which timeout), the origin
//! a front put in scope, and the beats summarized when read.

use nacre::timeline::{with_origin_sync, Event, Origin};
use nacre::{Instance, InstanceKey, InstanceUpdate, ManualClock, Registry, ServiceKey};
use std::time::Duration;

fn kinds(registry: &Registry, service: &ServiceKey, key: &InstanceKey) -> Vec<Event> {
    registry
        .instance_timeline(service, key)
        .events
        .iter()
        .map(|e| e.event)
        .collect()
}

#[test]
fn a_life_reads_as_its_story() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let orders = ServiceKey::named("orders").unwrap();
    let inst = Instance::new("10.0.0.1", 8080).unwrap();
    let key = inst.key();
    let grpc = Origin::front("grpc")
        .connection("c-1")
        .addr("10.0.0.1:50001");
    with_origin_sync(grpc.clone(), || {
        registry.register_instance(&orders, inst.clone()).unwrap()
    });
    let off = InstanceUpdate {
        enabled: Some(false),
        ..Default::default()
    };
    with_origin_sync(Origin::front("http").identity(Some("ops".into())), || {
        registry.update_instance(&orders, &key, off).unwrap()
    });
    // Its client goes: 17 s of silence at the first sweep after the beat timeout.
    clock.advance(Duration::from_secs(17));
    registry.check_health();
    clock.advance(Duration::from_secs(14));
    registry.check_health();
    assert!(
        registry.get_all_instances(&orders, &[]).is_empty(),
        "evicted"
    );
    // It comes back by a beat carrying its data (a v1 client's redo).
    registry.heartbeat_with(&orders, &inst).unwrap();

    assert_eq!(
        kinds(&registry, &orders, &key),
        vec![
            Event::Registered,
            Event::Disabled,
            Event::Silent {
                silent_ms: 17_000,
                timeout_ms: 15_000
            },
            Event::Evicted {
                silent_ms: 31_000,
                timeout_ms: 30_000
            },
            Event::ReregisteredByBeat,
        ]
    );
    let story = registry.instance_timeline(&orders, &key);
    assert_eq!(story.events[0].origin.as_deref(), Some(&grpc));
    assert_eq!(
        story.events[1]
            .origin
            .as_ref()
            .and_then(|o| o.identity.as_deref()),
        Some("ops")
    );
    assert_eq!(
        story.events[3]
            .origin
            .as_ref()
            .and_then(|o| o.front.as_deref()),
        Some("sweep")
    );
    assert_eq!(
        story.events[2].event.describe(),
        "unhealthy: no beat for 17 s (beat timeout 15 s)"
    );
    assert!(story.registered);
    assert_eq!(story.last_beat, Some(clock.now().as_millis()));
    assert_eq!(story.beat_interval_ms, Some(5_000));
    let json = serde_json::to_value(&story).unwrap();
    assert_eq!(
        json["events"][3]["text"],
        "evicted: no beat for 31 s (delete timeout 30 s)"
    );

    // A deregistration, then a registration again: it "came back".
    registry.deregister_instance(&orders, &key);
    registry.register_instance(&orders, inst.clone()).unwrap();
    let last: Vec<Event> = kinds(&registry, &orders, &key)
        .into_iter()
        .rev()
        .take(2)
        .collect();
    assert_eq!(
        last,
        vec![Event::Reregistered { returned: true }, Event::Deregistered]
    );
}

#[test]
fn a_beat_that_revives_an_unhealthy_instance_and_a_connection_close_are_recorded() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let orders = ServiceKey::named("orders").unwrap();
    let inst = Instance::new("10.0.0.1", 8080).unwrap();
    let key = inst.key();
    registry
        .register_for(&orders, vec![inst.clone()], 7)
        .unwrap();
    clock.advance(Duration::from_secs(16));
    registry.check_health();
    registry.heartbeat(&orders, &key).unwrap();
    // A beat that changes nothing records nothing.
    registry.heartbeat(&orders, &key).unwrap();
    assert!(registry.deregister_for(&orders, &key, 7));
    assert_eq!(
        kinds(&registry, &orders, &key),
        vec![
            Event::Registered,
            Event::Silent {
                silent_ms: 16_000,
                timeout_ms: 15_000
            },
            Event::Healthy,
            Event::ConnectionClosed,
        ]
    );
    let gone = registry.instance_timeline(&orders, &key);
    assert!(!gone.registered);
    assert_eq!(gone.last_beat, None);
}

#[test]
fn a_mass_flip_records_at_most_the_per_sweep_budget() {
    let clock = ManualClock::new();
    let config = nacre::timeline::TimelineConfig {
        per_sweep: 3,
        ..Default::default()
    };
    let registry = Registry::builder()
        .clock(clock.clone())
        .timeline(config)
        .build();
    let orders = ServiceKey::named("orders").unwrap();
    let all: Vec<Instance> = (1..=5)
        .map(|i| Instance::new("10.0.0.1", 8000 + i).unwrap())
        .collect();
    registry
        .batch_register_instance(&orders, all.clone())
        .unwrap();
    clock.advance(Duration::from_secs(16));
    let report = registry.check_health();
    assert_eq!(report.marked_unhealthy.len(), 5);
    let recorded = all
        .iter()
        .filter(|i| {
            kinds(&registry, &orders, &i.key())
                .iter()
                .any(|e| matches!(e, Event::Silent { .. }))
        })
        .count();
    assert_eq!(
        recorded, 3,
        "the first three verdicts of the sweep, no more"
    );
}

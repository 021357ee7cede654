//! The failure preview as a pure function: owner moves, detection, the grace from the
//! takeover, scenarios, bounds and errors, on a plain registry and a hand-made membership.
//! `preview_sim_tests.rs` checks the same predictions against the simulated cluster.

use super::*;
use crate::clock::ManualClock;
use crate::model::{Instance, PRESERVED_HEART_BEAT_TIMEOUT, PRESERVED_IP_DELETE_TIMEOUT};
use crate::registry::Registry;

const START: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

fn ids(names: &[&str]) -> Vec<NodeId> {
    names.iter().map(|n| id(n)).collect()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn svc(i: usize) -> ServiceKey {
    ServiceKey::named(&format!("svc-{i}")).unwrap()
}

/// The first of the services `svc(0..40)` that `before` owns among n1, n2 and n3 and `after`
/// owns once n2 stopped.
fn owned_by(before: &str, after: &str) -> ServiceKey {
    let three = DistroMapper::new(ids(&["n1", "n2", "n3"]));
    let two = DistroMapper::new(ids(&["n1", "n3"]));
    (0..40)
        .map(svc)
        .find(|k| three.owner(k) == Some(&id(before)) && two.owner(k) == Some(&id(after)))
        .expect("one of 40 services")
}

/// A registry on a manual clock with `services` services of one instance each (10.0.0.i),
/// registered at the clock's start.
fn registry(services: usize) -> (Registry, ManualClock) {
    let clock = ManualClock::starting_at(START);
    let registry = Registry::builder()
        .clock(clock.clone())
        .delivery_threads(1)
        .build();
    for i in 0..services {
        let ip = format!("10.0.{}.{}", i / 250, i % 250 + 1);
        registry
            .register_instance(&svc(i), Instance::new(&ip, 8080).unwrap())
            .unwrap();
    }
    (registry, clock)
}

/// n1's view of a 3-member cluster, every member up; n2 last heard `n2_heard_ago` before `now`.
fn basis(now: Timestamp, n2_heard_ago: Duration) -> PreviewBasis {
    PreviewBasis {
        me: id("n1"),
        members: ids(&["n1", "n2", "n3"]),
        owners: DistroMapper::new(ids(&["n1", "n2", "n3"])),
        last_heard: [(id("n2"), now - n2_heard_ago), (id("n3"), now)].into(),
        peer_down_after: Duration::from_secs(5),
        ping_interval: Duration::from_secs(1),
    }
}

fn stop(member: &str) -> PreviewChange {
    PreviewChange::Stop { member: id(member) }
}

fn at(t: Timestamp, now: Timestamp) -> At {
    At::of(t, now)
}

#[test]
fn a_stop_moves_what_the_two_owner_tables_disagree_on_with_grace_from_detection() {
    let (registry, clock) = registry(40);
    clock.advance(ms(2_000));
    let now = clock.now();
    let basis = basis(now, ms(300));
    let preview = compute_preview(
        &basis,
        &registry,
        &stop("n2"),
        now,
        &PreviewOptions::default(),
    )
    .unwrap();

    let three = DistroMapper::new(ids(&["n1", "n2", "n3"]));
    let two = DistroMapper::new(ids(&["n1", "n3"]));
    let moved: Vec<ServiceKey> = (0..40)
        .map(svc)
        .filter(|k| three.owner(k) != two.owner(k))
        .collect();
    assert!(moved.iter().any(|k| three.owner(k) == Some(&id("n2"))));
    assert!(
        moved.iter().any(|k| three.owner(k) != Some(&id("n2"))),
        "services also move between members that stay"
    );
    assert_eq!(preview.owners_before, ids(&["n1", "n2", "n3"]));
    assert_eq!(preview.owners_after, ids(&["n1", "n3"]));
    assert_eq!(preview.totals.services, 40);
    assert_eq!(preview.totals.services_moved, moved.len());
    assert_eq!(preview.totals.instances_moved, moved.len());
    let listed: Vec<ServiceRef> = preview.services.iter().map(|s| s.service.clone()).collect();
    let mut expected: Vec<ServiceRef> = moved.iter().map(ServiceRef::from).collect();
    expected.sort();
    assert_eq!(listed, expected);
    for s in &preview.services {
        let key = ServiceKey::named(&s.service.name).unwrap();
        assert_eq!(Some(&s.old_owner), three.owner(&key));
        assert_eq!(Some(&s.new_owner), two.owner(&key));
        assert!(s.moved);
        assert_eq!((s.instances, s.ephemeral), (1, 1));
    }

    // n2 was last heard 300 ms ago: noticed 4.7 s from now, within [4 s, 6 s].
    let detection = preview.detection.unwrap();
    assert_eq!(detection.expected.in_ms, 4_700);
    assert_eq!(detection.earliest.in_ms, 4_000);
    assert_eq!(detection.latest.in_ms, 6_000);
    assert_eq!(detection.last_heard_ms_ago, Some(300));
    assert_eq!(preview.takeover, detection.expected);
    let takeover = now + ms(4_700);

    // Beats stopping now: 15 s and 30 s after the takeover, by the new owner, whoever owned
    // the service before (beats last heard 2 s ago count for nothing under the grace).
    assert_eq!(preview.instances.len(), moved.len());
    for i in &preview.instances {
        let key = ServiceKey::named(&i.service.name).unwrap();
        let new = two.owner(&key).unwrap();
        let fate = &i.if_beats_stop;
        let unhealthy = fate.unhealthy.as_ref().unwrap();
        assert_eq!(unhealthy.at, at(takeover + ms(15_000), now));
        assert_eq!(&unhealthy.by, new);
        assert_eq!(fate.removed.at, at(takeover + ms(30_000), now));
        assert_eq!(&fate.removed.by, new);
        // Beats reach the owner only: n1 knows its own; the others' are assumed until now.
        let assumed = three.owner(&key) != Some(&id("n1"));
        assert_eq!(i.last_beat_assumed, assumed);
        let last = if assumed { now } else { START };
        assert_eq!(i.last_beat_epoch_ms, last.as_millis());
    }
    let worst = preview.totals.if_beats_stop;
    assert_eq!((worst.unhealthy, worst.removed), (moved.len(), moved.len()));
    assert_eq!(worst.services_pushed, moved.len());
    assert_eq!(worst.subscribers_pushed, None);
    assert_eq!(worst.first_change.unwrap().in_ms, 19_700);
    assert_eq!(worst.last_change.unwrap().in_ms, 34_700);
    assert_eq!(preview.totals.expected, Outcome::default());
}

#[test]
fn a_surviving_old_owner_judges_until_it_notices_and_the_grace_delays_the_removal() {
    let (registry, clock) = registry(40);
    // A service moving from n1 (this member, which stays) to n3: its instance was last heard
    // at START, 12 s before now, so n1 marks it at 15 s, before it notices n2's stop (at
    // 17 s); n3 removes it 30 s after its takeover, not 30 s after the last beat.
    let key = owned_by("n1", "n3");
    clock.advance(ms(12_000));
    let now = clock.now();
    let preview = compute_preview(
        &basis(now, ms(0)),
        &registry,
        &stop("n2"),
        now,
        &PreviewOptions::default(),
    )
    .unwrap();
    let name = key.service().as_str();
    let forecast = preview
        .instances
        .iter()
        .find(|i| i.service.name == name)
        .unwrap();
    assert!(!forecast.last_beat_assumed);
    let fate = &forecast.if_beats_stop;
    let unhealthy = fate.unhealthy.as_ref().unwrap();
    assert_eq!((unhealthy.at.in_ms, &unhealthy.by), (3_000, &id("n1")));
    assert_eq!(
        (fate.removed.at.in_ms, &fate.removed.by),
        (35_000, &id("n3"))
    );
    // The same instance on a service n2 owned: n2 judges nothing from now on, and n3 or n1
    // count its silence from the takeover.
    let three = DistroMapper::new(ids(&["n1", "n2", "n3"]));
    let from_n2 = preview
        .instances
        .iter()
        .find(|i| ServiceKey::named(&i.service.name).is_ok_and(|k| three.is_owner(&id("n2"), &k)))
        .unwrap();
    let fate = &from_n2.if_beats_stop;
    assert_eq!(fate.unhealthy.as_ref().unwrap().at.in_ms, 20_000);
    assert_eq!(fate.removed.at.in_ms, 35_000);
    assert!(from_n2.last_beat_assumed);
}

#[test]
fn the_instance_named_as_losing_its_beats_is_forecast_on_a_service_that_stays() {
    let (registry, clock) = registry(40);
    let stays = owned_by("n1", "n1");
    // A second instance with its own timeouts (3 s, 6 s), beating until 1 s ago.
    let custom = Instance::builder("10.9.9.9", 9000)
        .metadata(PRESERVED_HEART_BEAT_TIMEOUT, "3000")
        .metadata(PRESERVED_IP_DELETE_TIMEOUT, "6000")
        .build()
        .unwrap();
    clock.advance(ms(4_000));
    registry.register_instance(&stays, custom).unwrap();
    clock.advance(ms(1_000));
    let now = clock.now();
    let bound = custom_key();
    let beats_stop = |k: &ServiceKey, i: &InstanceKey| *k == stays && *i == bound;
    let subscribers = |k: &ServiceKey| if *k == stays { 7 } else { 2 };
    let options = PreviewOptions {
        subscribers: Some(&subscribers),
        beats_stop: Some(&beats_stop),
        ..PreviewOptions::default()
    };
    let preview =
        compute_preview(&basis(now, ms(0)), &registry, &stop("n2"), now, &options).unwrap();

    let listed = preview
        .services
        .iter()
        .find(|s| s.service.name == stays.service().as_str())
        .unwrap();
    assert!(!listed.moved);
    assert_eq!(
        (listed.old_owner.clone(), listed.new_owner.clone()),
        (id("n1"), id("n1"))
    );
    assert_eq!(
        (listed.instances, listed.beats_stop),
        (1, 1),
        "only the named one"
    );
    assert_eq!(listed.subscribers, Some(7));
    assert_eq!(listed.first_change_expected.unwrap().in_ms, 2_000);
    let forecast = preview.instances.first().unwrap();
    assert_eq!((forecast.ip.as_str(), forecast.port), ("10.9.9.9", 9000));
    assert!(forecast.beats_stop && !forecast.last_beat_assumed);
    let fate = &forecast.if_beats_stop;
    assert_eq!(fate.unhealthy.as_ref().unwrap().at.in_ms, 2_000);
    assert_eq!(
        (fate.removed.at.in_ms, &fate.removed.by),
        (5_000, &id("n1"))
    );

    let expected = preview.totals.expected;
    assert_eq!((expected.unhealthy, expected.removed), (1, 1));
    assert_eq!(expected.services_pushed, 1);
    assert_eq!(expected.subscribers_pushed, Some(7));
    let worst = preview.totals.if_beats_stop;
    let moved = preview.totals.services_moved;
    assert_eq!(worst.services_pushed, moved + 1);
    assert_eq!(worst.subscribers_pushed, Some(2 * moved as u64 + 7));
    assert_eq!(preview.totals.beats_stop, 1);
    assert_eq!(preview.totals.instances_forecast, moved + 1);
}

#[test]
fn a_replica_counts_from_now_for_a_healthy_instance_and_from_the_flip_for_an_unhealthy_one() {
    let (registry, clock) = registry(40);
    let stays = owned_by("n3", "n3");
    // Everything registered at START is unhealthy by START + 16 s; then one more instance.
    clock.advance(ms(16_000));
    registry.check_health_where(clock.now(), |_| true);
    registry
        .register_instance(&stays, Instance::new("10.9.9.9", 9000).unwrap())
        .unwrap();
    clock.advance(ms(2_000));
    let now = clock.now();
    let on_stays = |k: &ServiceKey, _: &InstanceKey| *k == stays;
    let options = PreviewOptions {
        beats_stop: Some(&on_stays),
        ..PreviewOptions::default()
    };
    let preview =
        compute_preview(&basis(now, ms(0)), &registry, &stop("n2"), now, &options).unwrap();
    let of = |port: u16| {
        preview
            .instances
            .iter()
            .find(|i| i.service.name == stays.service().as_str() && i.port == port)
            .unwrap()
    };
    let (silent, beating) = (of(8080), of(9000));
    assert!(!silent.healthy && !silent.last_beat_assumed);
    assert_eq!(silent.last_beat_epoch_ms, START.as_millis());
    assert_eq!(silent.if_beats_stop.unhealthy, None);
    let removed = &silent.if_beats_stop.removed;
    assert_eq!((removed.at.in_ms, &removed.by), (12_000, &id("n3")));
    assert!(beating.healthy && beating.last_beat_assumed);
    assert_eq!(beating.last_beat_epoch_ms, now.as_millis());
    let fate = &beating.if_beats_stop;
    assert_eq!(fate.unhealthy.as_ref().unwrap().at.in_ms, 15_000);
    assert_eq!(
        (fate.removed.at.in_ms, &fate.removed.by),
        (30_000, &id("n3"))
    );
}

fn custom_key() -> InstanceKey {
    InstanceKey::in_default_cluster("10.9.9.9", 9000).unwrap()
}

#[test]
fn a_planned_member_list_is_in_force_now() {
    let (registry, clock) = registry(60);
    clock.advance(ms(1_000));
    let now = clock.now();
    let plan = PreviewChange::Members {
        members: ids(&["n4", "n3", "n1", "n2", "n4"]),
    };
    let preview = compute_preview(
        &basis(now, ms(0)),
        &registry,
        &plan,
        now,
        &PreviewOptions::default(),
    )
    .unwrap();
    let three = DistroMapper::new(ids(&["n1", "n2", "n3"]));
    let four = DistroMapper::new(ids(&["n1", "n2", "n3", "n4"]));
    let moved = (0..60)
        .map(svc)
        .filter(|k| three.owner(k) != four.owner(k))
        .count();
    assert_eq!(preview.owners_after, ids(&["n1", "n2", "n3", "n4"]));
    assert_eq!(preview.totals.services_moved, moved);
    assert!(preview.services.iter().any(|s| s.new_owner == id("n4")));
    assert_eq!(preview.detection, None);
    assert_eq!(preview.takeover.in_ms, 0);
    for i in &preview.instances {
        assert_eq!(i.if_beats_stop.unhealthy.as_ref().unwrap().at.in_ms, 15_000);
        assert_eq!(i.if_beats_stop.removed.at.in_ms, 30_000);
    }
}

#[test]
fn the_lists_are_capped_and_the_totals_are_not() {
    let (registry, clock) = registry(200);
    let now = clock.now();
    let options = PreviewOptions {
        detail_limit: 3,
        ..PreviewOptions::default()
    };
    let preview =
        compute_preview(&basis(now, ms(0)), &registry, &stop("n2"), now, &options).unwrap();
    assert_eq!(preview.detail_limit, 3);
    assert_eq!((preview.services.len(), preview.instances.len()), (3, 3));
    assert!(preview.totals.services_moved > 3);
    assert_eq!(
        preview.totals.instances_forecast,
        preview.totals.services_moved
    );
    let huge = PreviewOptions {
        detail_limit: usize::MAX,
        ..PreviewOptions::default()
    };
    let preview = compute_preview(&basis(now, ms(0)), &registry, &stop("n2"), now, &huge).unwrap();
    assert_eq!(preview.detail_limit, MAX_DETAIL_LIMIT);
}

#[test]
fn the_answer_is_camel_case_json() {
    let (registry, clock) = registry(10);
    let now = clock.now();
    let preview = compute_preview(
        &basis(now, ms(0)),
        &registry,
        &stop("n2"),
        now,
        &PreviewOptions::default(),
    )
    .unwrap();
    let json = serde_json::to_value(&preview).unwrap();
    assert_eq!(
        json["change"],
        serde_json::json!({"kind": "stop", "member": "n2"})
    );
    assert_eq!(json["detection"]["expected"]["inMs"], 5_000);
    assert_eq!(
        json["detection"]["expected"]["epochMs"],
        START.as_millis() + 5_000
    );
    assert_eq!(json["rules"]["unhealthyAfterMs"], 15_000);
    assert_eq!(json["ownersAfter"], serde_json::json!(["n1", "n3"]));
    let service = &json["services"][0];
    for field in [
        "oldOwner",
        "newOwner",
        "firstChangeIfBeatsStop",
        "subscribers",
    ] {
        assert!(service.get(field).is_some(), "{field} in {service}");
    }
    assert!(service["service"]["name"]
        .as_str()
        .unwrap()
        .starts_with("svc-"));
    let instance = &json["instances"][0];
    assert!(instance["ifBeatsStop"]["removed"]["at"]["inMs"].is_u64());
    assert!(instance["lastBeatAssumed"].is_boolean());
    let change: PreviewChange =
        serde_json::from_str(r#"{"kind":"members","members":["n1","n3"]}"#).unwrap();
    assert_eq!(
        change,
        PreviewChange::Members {
            members: ids(&["n1", "n3"])
        }
    );
}

#[test]
fn what_cannot_be_previewed_says_why() {
    let (registry, clock) = registry(5);
    let now = clock.now();
    let none = PreviewOptions::default();
    let run = |basis: &PreviewBasis, change: &PreviewChange| {
        compute_preview(basis, &registry, change, now, &none).unwrap_err()
    };
    let full = basis(now, ms(0));
    let err = run(&full, &stop("n9"));
    assert_eq!(
        err,
        PreviewError::UnknownMember {
            member: id("n9"),
            members: ids(&["n1", "n2", "n3"])
        }
    );
    assert!(err.to_string().contains("members: [n1, n2, n3]"), "{err}");
    let n3_down = PreviewBasis {
        owners: DistroMapper::new(ids(&["n1", "n2"])),
        ..full.clone()
    };
    assert_eq!(
        run(&n3_down, &stop("n3")),
        PreviewError::NotServing(id("n3"))
    );
    let alone = PreviewBasis {
        owners: DistroMapper::new(ids(&["n1"])),
        ..full.clone()
    };
    assert_eq!(run(&alone, &stop("n1")), PreviewError::NoMemberLeft);
    let empty = PreviewChange::Members { members: vec![] };
    assert_eq!(run(&full, &empty), PreviewError::NoMemberLeft);
    let starting = PreviewBasis {
        owners: DistroMapper::new(vec![]),
        ..full
    };
    assert_eq!(
        run(&starting, &stop("n2")),
        PreviewError::NotReady(id("n1"))
    );
}

//! The timeline's bounds, its origin and member, and its file.

use super::*;
use crate::timeline::{with_origin_sync, Event, Origin};

fn orders() -> ServiceKey {
    ServiceKey::named("orders").unwrap()
}

fn at(port: u16) -> InstanceKey {
    InstanceKey::in_default_cluster("10.0.0.1", port).unwrap()
}

fn t(ms: u64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + ms)
}

#[test]
fn entries_are_kept_oldest_first_within_both_bounds() {
    let timeline = Timeline::new(TimelineConfig {
        per_instance: 3,
        instances: 2,
        ..TimelineConfig::default()
    });
    for (i, event) in [
        Event::Registered,
        Event::Disabled,
        Event::Enabled,
        Event::Deregistered,
    ]
    .into_iter()
    .enumerate()
    {
        timeline.record(&orders(), &at(1), t(i as u64), event, false);
    }
    let kinds: Vec<Event> = timeline
        .entries(&orders(), &at(1))
        .iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        kinds,
        vec![Event::Disabled, Event::Enabled, Event::Deregistered],
        "the oldest went first"
    );
    timeline.record(&orders(), &at(2), t(10), Event::Registered, false);
    // A third instance: the one whose history changed least recently (port 1) goes.
    timeline.record(&orders(), &at(1), t(11), Event::Registered, false);
    timeline.record(&orders(), &at(3), t(12), Event::Registered, false);
    assert_eq!(timeline.len(), 2);
    assert!(timeline.entries(&orders(), &at(2)).is_empty());
    assert_eq!(timeline.entries(&orders(), &at(1)).len(), 3);
    assert_eq!(
        timeline.last_event(&orders(), &at(3)),
        Some(Event::Registered)
    );
}

#[test]
fn an_entry_says_who_asked_and_on_which_member() {
    let timeline = Timeline::default();
    timeline.record(&orders(), &at(1), t(0), Event::Registered, false);
    timeline.set_member("10.0.0.9:8848");
    let origin = Origin::front("grpc")
        .connection("c-7")
        .addr("10.0.0.1:50000");
    with_origin_sync(origin.clone(), || {
        timeline.record(&orders(), &at(1), t(1), Event::Deregistered, false)
    });
    let entries = timeline.entries(&orders(), &at(1));
    assert_eq!(entries[0].origin, None, "nothing in scope: a library call");
    assert_eq!(entries[0].member, None);
    assert_eq!(entries[1].origin.as_deref(), Some(&origin));
    assert_eq!(entries[1].member.as_deref(), Some("10.0.0.9:8848"));
}

#[test]
fn zero_instances_turns_it_off() {
    let timeline = Timeline::new(TimelineConfig {
        per_instance: 16,
        instances: 0,
        ..TimelineConfig::default()
    });
    timeline.record(&orders(), &at(1), t(0), Event::Registered, false);
    assert!(timeline.is_empty());
}

#[test]
fn persistent_entries_survive_in_the_file_and_garbage_lines_are_skipped() {
    let dir = std::env::temp_dir().join(format!("nacre-timeline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("timeline.jsonl");
    {
        let timeline = Timeline::default();
        assert_eq!(timeline.attach_file(&path).unwrap(), 0);
        timeline.record(&orders(), &at(1), t(0), Event::Registered, true);
        timeline.record(&orders(), &at(2), t(1), Event::Registered, false);
        with_origin_sync(Origin::front("http").identity(Some("ops".into())), || {
            timeline.record(&orders(), &at(1), t(2), Event::Disabled, true)
        });
    }
    // A torn line, as a crash mid-write leaves.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"namespace\":\"pub");
    std::fs::write(&path, text).unwrap();

    let restarted = Timeline::default();
    assert_eq!(restarted.attach_file(&path).unwrap(), 2);
    let entries = restarted.entries(&orders(), &at(1));
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].event, Event::Disabled);
    assert_eq!(
        entries[1]
            .origin
            .as_ref()
            .and_then(|o| o.identity.as_deref()),
        Some("ops")
    );
    assert!(
        restarted.entries(&orders(), &at(2)).is_empty(),
        "an ephemeral instance's history is not kept on disk"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_file_is_rewritten_from_memory_when_it_grows_past_its_bound() {
    let dir = std::env::temp_dir().join(format!("nacre-timeline-c-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("timeline.jsonl");
    let timeline = Timeline::new(TimelineConfig {
        per_instance: 2,
        instances: 4,
        ..TimelineConfig::default()
    });
    timeline.attach_file(&path).unwrap();
    for i in 0..3000u64 {
        timeline.record(
            &orders(),
            &at(1 + (i % 8) as u16),
            t(i),
            Event::Updated,
            true,
        );
    }
    let lines = std::fs::read_to_string(&path).unwrap().lines().count();
    assert!(lines <= 1024 + 8, "compacted: {lines} lines");
    let restarted = Timeline::new(TimelineConfig {
        per_instance: 2,
        instances: 4,
        ..TimelineConfig::default()
    });
    restarted.attach_file(&path).unwrap();
    assert_eq!(restarted.len(), 4);
    assert_eq!(
        restarted.entries(&orders(), &at(8)).last().map(|e| e.at),
        Some(t(2999).as_millis())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! What a node accepts from its peers, driven by hand: invalid records refused while the rest
//! of their batch merges, versions from the future refused (so no version clock saturates),
//! beat times from the future clamped (so no instance outlives its client for ever).

use super::test_support::*;
use crate::cluster::PeerResponse;
use crate::model::{Instance, InstanceKey, ServiceKey};
use crate::store::ServiceRecord;
use std::time::Duration;

fn sync(node: &mut Node, from: &str, records: Vec<ServiceRecord>) -> PeerResponse {
    let now = node.clock.now();
    node.sync_from(from, records, now)
}

#[test]
fn invalid_records_are_refused_and_the_rest_of_the_batch_merges() {
    let mut node = Node::ready("n1", &["n1", "n2"], quiet_config());
    let orders = ServiceKey::named("orders").unwrap();
    let billing = ServiceKey::named("billing").unwrap();
    let mut record = record_from(
        "n2",
        &node.clock,
        &orders,
        &[("10.0.0.1", 80), ("10.0.0.2", 80), ("10.0.0.3", 80)],
    );
    // One instance over the metadata limit (4 KiB by default)...
    let fat = Instance::builder("10.0.0.1", 80)
        .metadata("blob", &"x".repeat(8 * 1024))
        .build()
        .unwrap();
    record.instances[0].data = Some(fat);
    // ...and one sent under another instance's key.
    record.instances[1].key = InstanceKey::in_default_cluster("10.9.9.9", 80).unwrap();
    let other = record_from("n2", &node.clock, &billing, &[("10.0.1.1", 80)]);

    assert_eq!(
        sync(&mut node, "n2", vec![record, other]),
        PeerResponse::Ack
    );
    assert_eq!(node.instance_count(&orders), 1, "only the valid one");
    assert_eq!(node.instance_count(&billing), 1);
    let stats = node.core.stats();
    assert_eq!(stats.records_refused, 2);
    assert_eq!(stats.records_applied, 2);
}

#[test]
fn a_version_from_the_far_future_is_refused_and_does_not_saturate_the_version_clock() {
    let mut node = Node::ready("n1", &["n1", "n2"], quiet_config());
    let now = node.clock.now();
    let orders = ServiceKey::named("orders").unwrap();
    let mut record = record_from("n2", &node.clock, &orders, &[("10.0.0.1", 80)]);
    record.instances[0].version.stamp = u64::MAX;
    record.meta.version.stamp = u64::MAX;
    record.meta.settings.protect_threshold = 0.5;

    sync(&mut node, "n2", vec![record]);
    assert_eq!(node.instance_count(&orders), 0);
    assert_eq!(
        node.core.stats().records_refused,
        2,
        "the instance and the settings"
    );

    // Local writes still get versions from this node's clock, and a later write from n2 (at
    // its real clock) still wins over anything.
    let version = node.core.registry().store().next_version(now);
    assert!(
        version.stamp <= (now + Duration::from_secs(1)).as_micros(),
        "{version:?}"
    );
    let fresh = record_from("n2", &node.clock, &orders, &[("10.0.0.1", 80)]);
    sync(&mut node, "n2", vec![fresh]);
    assert_eq!(node.instance_count(&orders), 1);
}

#[test]
fn a_version_within_the_allowed_skew_is_accepted() {
    let mut node = Node::ready("n1", &["n1", "n2"], quiet_config());
    let now = node.clock.now();
    let skew = node.core.config().max_clock_skew;
    let orders = ServiceKey::named("orders").unwrap();
    let mut record = record_from("n2", &node.clock, &orders, &[("10.0.0.1", 80)]);
    record.instances[0].version.stamp = (now + skew).as_micros();
    sync(&mut node, "n2", vec![record]);
    assert_eq!(node.instance_count(&orders), 1);
    assert_eq!(node.core.stats().records_refused, 0);
}

#[test]
fn a_beat_from_the_far_future_is_clamped_so_the_instance_still_expires() {
    let mut node = Node::ready("n1", &["n1", "n2"], quiet_config());
    let t0 = node.clock.now();
    let skew = node.core.config().max_clock_skew;
    // A service this node owns and health-checks.
    let mine = node.service_owned_by("n1");
    let mut record = record_from("n2", &node.clock, &mine, &[("10.0.0.1", 80)]);
    record.instances[0].last_beat = t0 + Duration::from_secs(10 * 365 * 24 * 3600);

    sync(&mut node, "n2", vec![record]);
    assert_eq!(node.instance_count(&mine), 1);
    assert_eq!(node.core.stats().beats_clamped, 1);
    let snap = node.core.registry().service(&mine).unwrap();
    let entry = snap.entries().next().unwrap();
    assert_eq!(entry.liveness().last_beat(), t0 + skew);

    // Removed 30 s (the delete timeout) after the clamped beat, not ten years later.
    let delete = node.core.registry().health_config().delete_timeout;
    node.core.poll(t0 + skew + delete + Duration::from_secs(1));
    assert_eq!(node.instance_count(&mine), 0);
}

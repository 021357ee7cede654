//! Replication, driven by hand: local changes queued per peer and sent as sync batches,
//! failures retried, acks clearing, incoming records merged without echo.

use super::test_support::*;
use super::Outgoing;
use crate::cluster::{DistroConfig, PeerError, PeerRequest, PeerResponse};
use crate::model::{InstanceKey, ServiceKey};
use crate::store::ServiceRecord;
use std::time::Duration;

fn key(ip: &str, port: u16) -> InstanceKey {
    InstanceKey::in_default_cluster(ip, port).unwrap()
}

fn sync_records(o: &Outgoing) -> &[ServiceRecord] {
    match &o.request {
        PeerRequest::Sync { records } => records,
        other => panic!("not a sync: {other:?}"),
    }
}

#[test]
fn a_local_registration_is_queued_for_each_peer_and_sent_after_the_sync_delay() {
    let config = quiet_config();
    let mut node = Node::ready("n1", &["n1", "n2", "n3"], config);
    let t0 = node.t0;
    let orders = ServiceKey::named("orders").unwrap();
    node.register(&orders, "10.0.0.1", 8080);

    assert!(matching(&node.core.poll(t0), is_sync).is_empty());
    assert_eq!(node.core.pending_for(&id("n2")), 1);
    assert_eq!(node.core.pending_for(&id("n3")), 1);
    assert_eq!(node.core.next_wakeup(), t0 + config.sync_delay);
    let just_before = t0 + config.sync_delay - Duration::from_millis(1);
    assert!(matching(&node.core.poll(just_before), is_sync).is_empty());

    let out = node.core.poll(t0 + config.sync_delay);
    assert_eq!(targets(&out, is_sync), ["n2", "n3"]);
    for sync in matching(&out, is_sync) {
        let records = sync_records(sync);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].key, orders);
        assert_eq!(records[0].instances.len(), 1);
        assert_eq!(records[0].instances[0].key, key("10.0.0.1", 8080));
    }
    assert_eq!(node.core.stats().syncs_sent, 2);
    assert_eq!(node.core.pending_for(&id("n2")), 0);
}

#[test]
fn changes_that_fill_a_batch_are_sent_at_once() {
    let config = DistroConfig {
        batch_count: 2,
        ..quiet_config()
    };
    let mut node = Node::ready("n1", &["n1", "n2"], config);
    let t0 = node.t0;
    let orders = ServiceKey::named("orders").unwrap();
    node.register(&orders, "10.0.0.1", 8080);
    assert!(matching(&node.core.poll(t0), is_sync).is_empty());
    node.register(&orders, "10.0.0.2", 8080);
    assert_eq!(node.core.pending_for(&id("n2")), 1, "not yet collected");

    let out = node.core.poll(t0);
    let sync = only(&out, is_sync);
    assert_eq!(sync.to, id("n2"));
    assert_eq!(sync_records(sync)[0].instances.len(), 2);
}

#[test]
fn a_failed_sync_is_queued_again_and_retried_after_the_retry_delay() {
    let config = quiet_config();
    let mut node = Node::ready("n1", &["n1", "n2"], config);
    let t0 = node.t0;
    let orders = ServiceKey::named("orders").unwrap();
    node.register(&orders, "10.0.0.1", 8080);
    node.core.poll(t0);
    let t1 = t0 + config.sync_delay;
    let out = node.core.poll(t1);
    let first = only(&out, is_sync).id;

    let t2 = t1 + Duration::from_millis(500);
    node.core
        .on_response(first, Err(PeerError::Timeout(id("n2"))), t2);
    assert_eq!(node.core.stats().syncs_failed, 1);
    let n2 = node.core.peer_stats()[&id("n2")];
    assert_eq!((n2.batches, n2.records, n2.failures), (1, 1, 1));
    assert_eq!(node.core.pending_for(&id("n2")), 1);
    assert_eq!(node.core.next_wakeup(), t2 + config.retry_delay);
    let just_before = t2 + config.retry_delay - Duration::from_millis(1);
    assert!(matching(&node.core.poll(just_before), is_sync).is_empty());

    let out = node.core.poll(t2 + config.retry_delay);
    let again = only(&out, is_sync);
    assert_eq!(again.to, id("n2"));
    assert_ne!(again.id, first);
    assert_eq!(sync_records(again)[0].key, orders);
    assert_eq!(node.core.stats().syncs_sent, 2);
}

#[test]
fn an_answer_other_than_ack_counts_as_a_failed_sync() {
    let config = quiet_config();
    let mut node = Node::ready("n1", &["n1", "n2"], config);
    let t0 = node.t0;
    node.register(&ServiceKey::named("orders").unwrap(), "10.0.0.1", 8080);
    node.core.poll(t0);
    let out = node.core.poll(t0 + config.sync_delay);
    let sync = only(&out, is_sync).id;
    node.core.on_response(
        sync,
        Ok(PeerResponse::Rejected("who?".into())),
        t0 + config.sync_delay,
    );
    assert_eq!(node.core.stats().syncs_failed, 1);
    assert_eq!(node.core.pending_for(&id("n2")), 1);
}

#[test]
fn an_ack_clears_the_batch_and_lets_the_next_one_go() {
    let config = quiet_config();
    let mut node = Node::ready("n1", &["n1", "n2"], config);
    let t0 = node.t0;
    let orders = ServiceKey::named("orders").unwrap();
    node.register(&orders, "10.0.0.1", 8080);
    node.core.poll(t0);
    let t1 = t0 + config.sync_delay;
    let out = node.core.poll(t1);
    let first = only(&out, is_sync).id;

    // While the batch is out, the next change waits for its answer.
    node.register(&orders, "10.0.0.2", 8080);
    node.core.poll(t1);
    let t2 = t1 + config.sync_delay;
    assert!(matching(&node.core.poll(t2), is_sync).is_empty());
    assert_eq!(node.core.pending_for(&id("n2")), 1);

    node.core.on_response(first, Ok(PeerResponse::Ack), t2);
    assert_eq!(node.core.stats().syncs_failed, 0);
    let out = node.core.poll(t2);
    let next = only(&out, is_sync);
    let records = sync_records(next);
    assert_eq!(
        records[0].instances.len(),
        1,
        "only the new change, not the acked one"
    );
    assert_eq!(records[0].instances[0].key, key("10.0.0.2", 8080));
    node.core.on_response(next.id, Ok(PeerResponse::Ack), t2);
    assert_eq!(node.core.pending_for(&id("n2")), 0);
    assert!(matching(&node.core.poll(t2 + Duration::from_secs(60)), is_sync).is_empty());
}

#[test]
fn merged_incoming_records_are_not_echoed_back() {
    let config = quiet_config();
    let mut node = Node::ready("n1", &["n1", "n2", "n3"], config);
    let t0 = node.t0;
    let orders = ServiceKey::named("orders").unwrap();
    let record = record_from("n2", &node.clock, &orders, &[("10.0.0.7", 9000)]);

    let answer = node.sync_from("n2", vec![record], t0);
    assert_eq!(answer, PeerResponse::Ack);
    assert_eq!(node.instance_count(&orders), 1);
    assert_eq!(node.core.stats().records_applied, 1);

    node.core.poll(t0);
    assert_eq!(node.core.pending_for(&id("n2")), 0);
    assert_eq!(node.core.pending_for(&id("n3")), 0);
    let later = t0 + config.sync_delay + config.retry_delay;
    assert!(matching(&node.core.poll(later), is_sync).is_empty());
    assert_eq!(node.core.stats().syncs_sent, 0);
}

#[test]
fn a_queue_past_its_bound_is_dropped_and_verify_repairs_the_peer() {
    let config = DistroConfig {
        max_pending_per_peer: 3,
        verify_interval: Duration::from_secs(5),
        ..quiet_config()
    };
    let mut n1 = Node::ready("n1", &["n1", "n2"], config);
    let mut n2 = Node::ready("n2", &["n1", "n2"], config);
    let t0 = n1.t0;
    let mine = n1.service_owned_by("n1");
    for port in 1..=4 {
        n1.register(&mine, "10.0.0.1", port);
    }
    let out = n1.core.poll(t0);
    assert!(matching(&out, is_sync).is_empty());
    assert_eq!(n1.core.pending_for(&id("n2")), 0, "dropped, not sent");
    assert_eq!(n1.core.stats().queue_overflows, 1);

    // The repair path: n1's bucket sums reach n2, which names the bucket that differs; n1
    // lists that bucket's services, and n2 fetches what differs.
    let t1 = t0 + config.verify_interval;
    let out = n1.core.poll(t1);
    let verify = only(&out, is_verify);
    let answer = n2.core.handle(&id("n1"), verify.request.clone(), t1);
    assert!(matches!(answer, PeerResponse::Differ { ref buckets } if buckets.len() == 1));
    n1.core.on_response(verify.id, Ok(answer), t1);
    let out = n1.core.poll(t1);
    let detail = only(&out, is_verify);
    assert!(matches!(detail.request, PeerRequest::VerifyServices { .. }));
    assert_eq!(
        n2.core.handle(&id("n1"), detail.request.clone(), t1),
        PeerResponse::Ack
    );
    let out = n2.core.poll(t1);
    let fetch = only(&out, is_fetch);
    let answer = n1.core.handle(&id("n2"), fetch.request.clone(), t1);
    n2.core.on_response(fetch.id, Ok(answer), t1);
    assert_eq!(n2.instance_count(&mine), 4);
}

//! Verify, driven by hand: checksums out, differing checksums leading to fetches, fetched
//! records merged, unlisted services pushed back.

use super::test_support::*;
use crate::cluster::{DistroConfig, PeerRequest, PeerResponse};
use crate::model::ServiceKey;
use std::time::Duration;

/// Verify with the full list of checksums (`verify_buckets = 0`); the bucketed rounds are in
/// `verify_bucket_tests.rs`.
fn verify_config() -> DistroConfig {
    DistroConfig {
        verify_interval: Duration::from_secs(5),
        verify_buckets: 0,
        ..quiet_config()
    }
}

fn checksum(node: &Node, service: &ServiceKey) -> u64 {
    node.core.registry().service(service).unwrap().checksum()
}

#[test]
fn checksums_are_sent_every_verify_interval_for_owned_services_only() {
    let config = verify_config();
    let mut node = Node::ready("n1", &["n1", "n2"], config);
    let t0 = node.t0;
    let mine = node.service_owned_by("n1");
    let theirs = node.service_owned_by("n2");
    node.register(&mine, "10.0.0.1", 8080);
    node.register(&theirs, "10.0.0.2", 8080);

    assert!(matching(&node.core.poll(t0), is_verify).is_empty());
    let before = t0 + config.verify_interval - Duration::from_millis(1);
    assert!(matching(&node.core.poll(before), is_verify).is_empty());

    let t1 = t0 + config.verify_interval;
    let out = node.core.poll(t1);
    let verify = only(&out, is_verify);
    assert_eq!(verify.to, id("n2"));
    let expected = vec![(mine.clone(), checksum(&node, &mine))];
    assert_eq!(
        verify.request,
        PeerRequest::Verify {
            checksums: expected.clone()
        }
    );
    node.core.on_response(verify.id, Ok(PeerResponse::Ack), t1);

    let before = t1 + config.verify_interval - Duration::from_millis(1);
    assert!(matching(&node.core.poll(before), is_verify).is_empty());
    let out = node.core.poll(t1 + config.verify_interval);
    let again = only(&out, is_verify);
    assert_eq!(
        again.request,
        PeerRequest::Verify {
            checksums: expected
        }
    );
}

#[test]
fn an_incoming_verify_with_a_differing_checksum_leads_to_a_fetch_at_the_next_poll() {
    let mut node = Node::ready("n1", &["n1", "n2"], verify_config());
    let t0 = node.t0;
    let theirs = node.service_owned_by("n2");
    let answer = node.core.handle(
        &id("n2"),
        PeerRequest::Verify {
            checksums: vec![(theirs.clone(), 42)],
        },
        t0,
    );
    assert_eq!(answer, PeerResponse::Ack);

    let out = node.core.poll(t0);
    let fetch = only(&out, is_fetch);
    assert_eq!(fetch.to, id("n2"));
    assert_eq!(
        fetch.request,
        PeerRequest::Fetch {
            services: vec![theirs]
        }
    );
    assert!(
        matching(&node.core.poll(t0), is_fetch).is_empty(),
        "asked once"
    );
}

#[test]
fn a_matching_checksum_leads_to_no_fetch() {
    let mut node = Node::ready("n1", &["n1", "n2"], verify_config());
    let t0 = node.t0;
    let theirs = node.service_owned_by("n2");
    let record = record_from("n2", &node.clock, &theirs, &[("10.0.0.2", 8080)]);
    node.sync_from("n2", vec![record], t0);
    let sum = checksum(&node, &theirs);
    node.core.handle(
        &id("n2"),
        PeerRequest::Verify {
            checksums: vec![(theirs, sum)],
        },
        t0,
    );
    assert!(matching(&node.core.poll(t0), is_fetch).is_empty());
}

#[test]
fn records_answering_a_fetch_are_merged() {
    let mut node = Node::ready("n1", &["n1", "n2"], verify_config());
    let t0 = node.t0;
    let theirs = node.service_owned_by("n2");
    node.core.handle(
        &id("n2"),
        PeerRequest::Verify {
            checksums: vec![(theirs.clone(), 42)],
        },
        t0,
    );
    let out = node.core.poll(t0);
    let fetch = only(&out, is_fetch).id;
    let record = record_from(
        "n2",
        &node.clock,
        &theirs,
        &[("10.0.0.2", 8080), ("10.0.0.3", 8080)],
    );
    node.core
        .on_response(fetch, Ok(PeerResponse::Records(vec![record])), t0);

    assert_eq!(node.instance_count(&theirs), 2);
    assert_eq!(node.core.stats().services_fetched, 1);
    assert_eq!(node.core.stats().records_applied, 2);
    // The record was complete: nothing to tell n2 back, and nothing echoes.
    node.core.poll(t0);
    assert_eq!(node.core.pending_for(&id("n2")), 0);
}

#[test]
fn a_node_still_loading_ignores_checksums() {
    let mut node = Node::fresh("n1", &["n1", "n2"], verify_config());
    let t0 = node.t0;
    let theirs = ServiceKey::named("orders").unwrap();
    let answer = node.core.handle(
        &id("n2"),
        PeerRequest::Verify {
            checksums: vec![(theirs, 42)],
        },
        t0,
    );
    assert_eq!(answer, PeerResponse::Ack);
    let out = node.core.poll(t0);
    node.core.on_response(
        only(&out, is_snapshot).id,
        Ok(PeerResponse::Chunk {
            records: Vec::new(),
            next: None,
        }),
        t0,
    );
    assert!(node.core.is_ready());
    assert!(matching(&node.core.poll(t0), is_fetch).is_empty());
}

#[test]
fn a_service_the_sender_owns_but_did_not_list_is_sent_to_it_in_full() {
    let config = verify_config();
    let mut node = Node::ready("n1", &["n1", "n2", "n3"], config);
    let t0 = node.t0;
    let theirs = node.service_owned_by("n2");
    // Learned from n3, so not queued for anyone.
    let record = record_from(
        "n3",
        &node.clock,
        &theirs,
        &[("10.0.0.2", 8080), ("10.0.0.3", 8080)],
    );
    node.sync_from("n3", vec![record], t0);
    assert_eq!(node.core.pending_for(&id("n2")), 0);

    node.core.handle(
        &id("n2"),
        PeerRequest::Verify {
            checksums: Vec::new(),
        },
        t0,
    );
    assert_eq!(node.core.pending_for(&id("n2")), 1);
    assert_eq!(node.core.pending_for(&id("n3")), 0);
    let out = node.core.poll(t0 + config.sync_delay);
    let sync = only(&out, is_sync);
    assert_eq!(sync.to, id("n2"));
    let PeerRequest::Sync { records } = &sync.request else {
        unreachable!()
    };
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key, theirs);
    assert_eq!(records[0].instances.len(), 2, "the whole service");
}

#[test]
fn a_verify_fetch_asks_for_a_bounded_chunk_of_services_at_a_time() {
    let config = DistroConfig {
        fetch_chunk_services: 2,
        ..verify_config()
    };
    let mut node = Node::ready("n1", &["n1", "n2"], config);
    let t0 = node.t0;
    // Five services n2 reports that n1 does not have: all five differ.
    let checksums: Vec<(ServiceKey, u64)> = (0..5)
        .map(|i| (ServiceKey::named(&format!("svc-{i}")).unwrap(), 42))
        .collect();
    let answer = node
        .core
        .handle(&id("n2"), PeerRequest::Verify { checksums }, t0);
    assert_eq!(answer, PeerResponse::Ack);
    let mut asked = Vec::new();
    for expected in [2, 2, 1] {
        let out = node.core.poll(t0);
        let fetch = only(&out, is_fetch);
        let PeerRequest::Fetch { services } = &fetch.request else {
            panic!("not a fetch");
        };
        assert_eq!(services.len(), expected);
        asked.extend(services.iter().cloned());
        // One fetch per peer at a time: nothing more until it is answered.
        assert!(matching(&node.core.poll(t0), is_fetch).is_empty());
        node.core
            .on_response(fetch.id, Ok(PeerResponse::Records(Vec::new())), t0);
    }
    assert_eq!(asked.len(), 5);
    assert!(matching(&node.core.poll(t0), is_fetch).is_empty());
}

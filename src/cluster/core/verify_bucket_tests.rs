//! Bucketed verify, driven by hand: bucket sums out, differing buckets answered, the services
//! of those buckets sent, and the receiver fetching or pushing back within them only.

use super::test_support::*;
use crate::cluster::buckets::{bucket_of, BucketSums};
use crate::cluster::{DistroConfig, PeerRequest, PeerResponse};
use crate::model::ServiceKey;
use std::time::Duration;

const BUCKETS: usize = 8;

fn config() -> DistroConfig {
    DistroConfig {
        verify_interval: Duration::from_secs(5),
        verify_buckets: BUCKETS,
        ..quiet_config()
    }
}

fn sums(services: &[(ServiceKey, u64)]) -> Vec<u64> {
    let mut sums = BucketSums::new(BUCKETS);
    for (k, c) in services {
        sums.add(k, *c);
    }
    sums.into_sums()
}

fn checksum(node: &Node, service: &ServiceKey) -> u64 {
    node.core.registry().service(service).unwrap().checksum()
}

fn bucket(service: &ServiceKey) -> u32 {
    bucket_of(service, BUCKETS) as u32
}

#[test]
fn an_owner_sends_one_sum_per_bucket_then_the_services_of_the_buckets_that_differ() {
    let config = config();
    let mut node = Node::ready("n1", &["n1", "n2"], config);
    let mine = node.service_owned_by("n1");
    let theirs = node.service_owned_by("n2");
    node.register(&mine, "10.0.0.1", 8080);
    node.register(&theirs, "10.0.0.2", 8080);

    let t1 = node.t0 + config.verify_interval;
    let out = node.core.poll(t1);
    let verify = only(&out, is_verify);
    assert_eq!(verify.to, id("n2"));
    let expected = sums(&[(mine.clone(), checksum(&node, &mine))]);
    assert_eq!(
        verify.request,
        PeerRequest::VerifyBuckets {
            sums: expected.clone()
        },
        "the owned service only, in its bucket"
    );
    assert_eq!(expected.iter().filter(|s| **s != 0).count(), 1);

    // n2 finds that bucket differing (and names one that does not exist, which is ignored).
    let answer = PeerResponse::Differ {
        buckets: vec![bucket(&mine), BUCKETS as u32],
    };
    node.core.on_response(verify.id, Ok(answer), t1);
    let out = node.core.poll(t1);
    let detail = only(&out, is_verify);
    assert_eq!(
        detail.request,
        PeerRequest::VerifyServices {
            buckets: BUCKETS as u32,
            covered: vec![bucket(&mine)],
            checksums: vec![(mine.clone(), checksum(&node, &mine))],
        }
    );
    node.core.on_response(detail.id, Ok(PeerResponse::Ack), t1);
    assert!(
        matching(&node.core.poll(t1), is_verify).is_empty(),
        "sent once"
    );
}

#[test]
fn agreeing_buckets_are_answered_with_ack_and_lead_to_nothing() {
    let mut node = Node::ready("n1", &["n1", "n2"], config());
    let t0 = node.t0;
    let theirs = node.service_owned_by("n2");
    let record = record_from("n2", &node.clock, &theirs, &[("10.0.0.2", 8080)]);
    node.sync_from("n2", vec![record], t0);
    let sum = checksum(&node, &theirs);
    let answer = node.core.handle(
        &id("n2"),
        PeerRequest::VerifyBuckets {
            sums: sums(&[(theirs, sum)]),
        },
        t0,
    );
    assert_eq!(answer, PeerResponse::Ack);
    assert_eq!(node.core.stats().buckets_differing, 0);
    assert!(matching(&node.core.poll(t0), is_fetch).is_empty());
}

#[test]
fn a_differing_bucket_is_named_and_its_differing_services_fetched() {
    let mut node = Node::ready("n1", &["n1", "n2"], config());
    let t0 = node.t0;
    let theirs = node.service_owned_by("n2");
    let answer = node.core.handle(
        &id("n2"),
        PeerRequest::VerifyBuckets {
            sums: sums(&[(theirs.clone(), 42)]),
        },
        t0,
    );
    assert_eq!(
        answer,
        PeerResponse::Differ {
            buckets: vec![bucket(&theirs)]
        }
    );
    assert_eq!(node.core.stats().buckets_differing, 1);
    assert!(
        matching(&node.core.poll(t0), is_fetch).is_empty(),
        "nothing fetched before the services are listed"
    );

    // A service listed outside the covered buckets is not the sender's to list: ignored.
    let stray = (0..1000)
        .map(|i| ServiceKey::named(&format!("stray-{i}")).unwrap())
        .find(|k| bucket(k) != bucket(&theirs))
        .unwrap();
    node.core.handle(
        &id("n2"),
        PeerRequest::VerifyServices {
            buckets: BUCKETS as u32,
            covered: vec![bucket(&theirs)],
            checksums: vec![(theirs.clone(), 42), (stray, 7)],
        },
        t0,
    );
    let out = node.core.poll(t0);
    let fetch = only(&out, is_fetch);
    assert_eq!(
        fetch.request,
        PeerRequest::Fetch {
            services: vec![theirs]
        }
    );
}

#[test]
fn services_the_sender_owns_but_did_not_list_are_pushed_back_within_the_covered_buckets_only() {
    let config = config();
    let mut node = Node::ready("n1", &["n1", "n2", "n3"], config);
    let t0 = node.t0;
    let theirs = node.service_owned_by("n2");
    // Learned from n3, so not queued for anyone.
    let record = record_from("n3", &node.clock, &theirs, &[("10.0.0.2", 8080)]);
    node.sync_from("n3", vec![record], t0);
    // n2 has nothing: every sum is 0, and the bucket of `theirs` differs.
    let answer = node.core.handle(
        &id("n2"),
        PeerRequest::VerifyBuckets {
            sums: vec![0; BUCKETS],
        },
        t0,
    );
    assert_eq!(
        answer,
        PeerResponse::Differ {
            buckets: vec![bucket(&theirs)]
        }
    );
    // A list covering another bucket says nothing about `theirs`.
    let other = (bucket(&theirs) + 1) % BUCKETS as u32;
    node.core.handle(
        &id("n2"),
        PeerRequest::VerifyServices {
            buckets: BUCKETS as u32,
            covered: vec![other],
            checksums: Vec::new(),
        },
        t0,
    );
    assert_eq!(node.core.pending_for(&id("n2")), 0);
    // The list of its bucket, without it: sent back in full.
    node.core.handle(
        &id("n2"),
        PeerRequest::VerifyServices {
            buckets: BUCKETS as u32,
            covered: vec![bucket(&theirs)],
            checksums: Vec::new(),
        },
        t0,
    );
    assert_eq!(node.core.pending_for(&id("n2")), 1);
    let out = node.core.poll(t0 + config.sync_delay);
    let sync = only(&out, is_sync);
    let PeerRequest::Sync { records } = &sync.request else {
        unreachable!()
    };
    assert_eq!(records[0].key, theirs);
}

#[test]
fn bucket_messages_of_impossible_sizes_are_not_compared() {
    let mut node = Node::ready("n1", &["n1", "n2"], config());
    let t0 = node.t0;
    for sums in [
        Vec::new(),
        vec![1; crate::cluster::buckets::MAX_BUCKETS + 1],
    ] {
        let answer = node
            .core
            .handle(&id("n2"), PeerRequest::VerifyBuckets { sums }, t0);
        assert_eq!(answer, PeerResponse::Ack);
    }
    let answer = node.core.handle(
        &id("n2"),
        PeerRequest::VerifyServices {
            buckets: 0,
            covered: vec![0],
            checksums: vec![(ServiceKey::named("a").unwrap(), 1)],
        },
        t0,
    );
    assert_eq!(answer, PeerResponse::Ack);
    assert!(matching(&node.core.poll(t0), is_fetch).is_empty());
}

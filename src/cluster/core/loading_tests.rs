//! The Loading phase, driven by hand: snapshot requests, their answers, and the retry round.

use super::test_support::*;
use crate::cluster::{
    Dispatch, DistroConfig, DistroMapper, PeerError, PeerRequest, PeerResponse, Route,
};
use crate::model::ServiceKey;
use crate::registry::Command;
use std::time::Duration;

#[test]
fn a_fresh_node_asks_peers_for_a_snapshot_in_id_order() {
    // Members listed out of order: the asking order is by id all the same.
    let mut node = Node::fresh("n2", &["n3", "n1", "n2", "n4"], quiet_config());
    let t0 = node.t0;
    assert!(!node.core.is_ready());
    assert_eq!(
        node.core.route(&ServiceKey::named("orders").unwrap()),
        Route::NotReady
    );

    let out = node.core.poll(t0);
    assert_eq!(targets(&out, is_snapshot), ["n1"]);
    // One request at a time: until it is answered, nobody else is asked.
    assert!(matching(&node.core.poll(t0), is_snapshot).is_empty());

    let ask = only(&out, is_snapshot).id;
    node.core
        .on_response(ask, Err(PeerError::Timeout(id("n1"))), t0);
    let out = node.core.poll(t0);
    assert_eq!(targets(&out, is_snapshot), ["n3"]);

    let ask = only(&out, is_snapshot).id;
    node.core.on_response(ask, Ok(PeerResponse::NotReady), t0);
    let out = node.core.poll(t0);
    assert_eq!(targets(&out, is_snapshot), ["n4"]);
    assert!(!node.core.is_ready());
}

#[test]
fn a_records_answer_makes_the_node_ready_and_merges_them() {
    let mut node = Node::fresh("n1", &["n1", "n2", "n3"], quiet_config());
    let t0 = node.t0;
    let orders = ServiceKey::named("orders").unwrap();
    let record = record_from(
        "n2",
        &node.clock,
        &orders,
        &[("10.0.0.1", 8080), ("10.0.0.2", 8080)],
    );

    let out = node.core.poll(t0);
    let ask = only(&out, is_snapshot);
    assert_eq!(ask.to, id("n2"));
    let t1 = t0 + Duration::from_millis(30);
    node.core.on_response(
        ask.id,
        Ok(PeerResponse::Chunk {
            records: vec![record],
            next: None,
        }),
        t1,
    );

    assert!(node.core.is_ready());
    assert!(node.core.routing().is_ready());
    assert_eq!(node.instance_count(&orders), 2);
    assert_eq!(node.core.stats().records_applied, 2);
    // Every member is in the mapper, and n3 was never asked.
    assert_eq!(
        node.core.routing().mapper().members(),
        ids(&["n1", "n2", "n3"])
    );
    assert!(matching(&node.core.poll(t1), is_snapshot).is_empty());
}

#[test]
fn not_ready_from_every_peer_makes_the_node_ready_and_empty() {
    let mut node = Node::fresh("n1", &["n1", "n2", "n3"], quiet_config());
    let t0 = node.t0;
    let out = node.core.poll(t0);
    node.core
        .on_response(only(&out, is_snapshot).id, Ok(PeerResponse::NotReady), t0);
    assert!(!node.core.is_ready(), "n3 has not answered yet");

    let out = node.core.poll(t0);
    let ask = only(&out, is_snapshot);
    assert_eq!(ask.to, id("n3"));
    node.core
        .on_response(ask.id, Ok(PeerResponse::NotReady), t0);

    assert!(node.core.is_ready());
    assert!(node.core.registry().store().all_keys().is_empty());
    assert_eq!(node.core.stats().records_applied, 0);
    // The peers that said they are starting conclude the same: they stay in the owner table.
    assert_eq!(
        node.core.routing().mapper().members(),
        ids(&["n1", "n2", "n3"])
    );
}

#[test]
fn a_write_on_a_fresh_node_before_any_ping_goes_to_its_real_owner() {
    // A fresh cluster: every peer answers the snapshot request with "starting too", and no
    // ping has been answered yet.
    let mut node = Node::fresh("n1", &["n1", "n2", "n3"], quiet_config());
    let t0 = node.t0;
    for _ in 0..2 {
        let out = node.core.poll(t0);
        let ask = only(&out, is_snapshot).id;
        node.core.on_response(ask, Ok(PeerResponse::NotReady), t0);
    }
    assert!(node.core.is_ready());

    // Who really owns it: the owner table of the whole cluster.
    let everyone = DistroMapper::new(ids(&["n1", "n2", "n3"]));
    let theirs = (0..1000)
        .map(|i| ServiceKey::named(&format!("svc-{i}")).unwrap())
        .find(|k| everyone.is_owner(&id("n2"), k))
        .unwrap();
    let command = Command::register(&theirs, instance("10.0.0.1", 8080));
    match node.core.dispatch(command) {
        Dispatch::Forward(forwarding) => assert_eq!(forwarding.owner(), &id("n2")),
        Dispatch::Done(done) => panic!("applied on n1 instead of going to n2: {done:?}"),
    }
    assert_eq!(node.instance_count(&theirs), 0);
}

#[test]
fn a_node_that_starts_serving_tells_every_peer_at_once() {
    let config = quiet_config();
    let mut node = Node::fresh("n1", &["n1", "n2", "n3"], config);
    let t0 = node.t0;
    let is_ping = |ready: bool| move |o: &&super::Outgoing| matches!(o.request, PeerRequest::Ping { ready: r } if r == ready);
    let out = node.core.poll(t0);
    assert_eq!(out.iter().filter(is_ping(false)).count(), 2);
    let ask = only(&out, is_snapshot).id;
    let t1 = t0 + Duration::from_millis(10);
    node.core.on_response(
        ask,
        Ok(PeerResponse::Chunk {
            records: Vec::new(),
            next: None,
        }),
        t1,
    );
    assert!(node.core.is_ready());

    // Long before the next ping round, and although the first pings are unanswered.
    assert!(
        node.core.next_wakeup() <= t1,
        "the host is asked to poll now"
    );
    let out = node.core.poll(t1);
    let told: Vec<_> = out
        .iter()
        .filter(is_ping(true))
        .map(|o| o.to.as_str())
        .collect();
    assert_eq!(told, ["n2", "n3"]);
    assert!(
        !node.core.poll(t1).iter().any(|o| is_ping(true)(&o)),
        "once only"
    );
}

#[test]
fn a_peer_that_fails_does_not_stop_a_starting_one_from_making_the_cluster_ready_after_the_wait() {
    let config = quiet_config();
    let mut node = Node::fresh("n1", &["n1", "n2", "n3"], config);
    // A round that ends once loading has lasted `empty_start_after`.
    let t = node.t0 + config.empty_start_after;
    let out = node.core.poll(t);
    node.core.on_response(
        only(&out, is_snapshot).id,
        Err(PeerError::Unreachable(id("n2"))),
        t,
    );
    let out = node.core.poll(t);
    node.core
        .on_response(only(&out, is_snapshot).id, Ok(PeerResponse::NotReady), t);
    assert!(node.core.is_ready());
}

#[test]
fn no_answer_from_anyone_starts_a_new_round_after_the_retry_delay() {
    let config = quiet_config();
    let mut node = Node::fresh("n1", &["n1", "n2", "n3"], config);
    let t0 = node.t0;
    let t1 = t0 + Duration::from_millis(200);
    for peer in ["n2", "n3"] {
        let out = node.core.poll(t1);
        let ask = only(&out, is_snapshot);
        assert_eq!(ask.to, id(peer));
        node.core
            .on_response(ask.id, Err(PeerError::Timeout(id(peer))), t1);
    }
    assert!(!node.core.is_ready());
    assert_eq!(node.core.next_wakeup(), t1 + config.retry_delay);
    let just_before = t1 + config.retry_delay - Duration::from_millis(1);
    assert!(matching(&node.core.poll(just_before), is_snapshot).is_empty());

    let out = node.core.poll(t1 + config.retry_delay);
    assert_eq!(
        targets(&out, is_snapshot),
        ["n2"],
        "the new round starts over"
    );
    assert!(!node.core.is_ready());
}

#[test]
fn a_snapshot_request_is_answered_only_by_a_ready_node() {
    let mut loading = Node::fresh("n1", &["n1", "n2"], quiet_config());
    let t0 = loading.t0;
    assert_eq!(
        loading
            .core
            .handle(&id("n2"), PeerRequest::Snapshot { after: None }, t0),
        PeerResponse::NotReady
    );

    let mut ready = Node::ready("n1", &["n1", "n2"], quiet_config());
    let orders = ServiceKey::named("orders").unwrap();
    ready.register(&orders, "10.0.0.1", 8080);
    let PeerResponse::Chunk { records, next } =
        ready
            .core
            .handle(&id("n2"), PeerRequest::Snapshot { after: None }, t0)
    else {
        panic!("a ready node gives its snapshot");
    };
    assert_eq!(next, None, "one small service: one chunk");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key, orders);
    assert_eq!(records[0].instances.len(), 1);
}

#[test]
fn one_peer_starting_and_one_timing_out_does_not_make_the_node_ready_empty() {
    // The timed-out peer may be the one that holds the data: serving empty now would lose it
    // (and answer clients "no instances"). The node asks again, after the retry delay.
    let config = quiet_config();
    let mut node = Node::fresh("n1", &["n1", "n2", "n3"], config);
    let t0 = node.t0;
    let out = node.core.poll(t0);
    let ask = only(&out, is_snapshot);
    assert_eq!(ask.to, id("n2"));
    node.core
        .on_response(ask.id, Ok(PeerResponse::NotReady), t0);
    let out = node.core.poll(t0);
    let ask = only(&out, is_snapshot);
    assert_eq!(ask.to, id("n3"));
    node.core
        .on_response(ask.id, Err(PeerError::Timeout(id("n3"))), t0);
    assert!(!node.core.is_ready(), "n3 did not answer: it may hold data");
    assert!(matching(&node.core.poll(t0), is_snapshot).is_empty());

    // A new round after the retry delay; n3 answers with its data this time.
    let t1 = t0 + config.retry_delay;
    assert!(node.core.next_wakeup() <= t1);
    let out = node.core.poll(t1);
    let ask = only(&out, is_snapshot);
    assert_eq!(ask.to, id("n2"));
    node.core
        .on_response(ask.id, Ok(PeerResponse::NotReady), t1);
    let out = node.core.poll(t1);
    let ask = only(&out, is_snapshot);
    assert_eq!(ask.to, id("n3"));
    let orders = ServiceKey::named("orders").unwrap();
    let record = record_from("n3", &node.clock, &orders, &[("10.0.0.1", 8080)]);
    node.core.on_response(
        ask.id,
        Ok(PeerResponse::Chunk {
            records: vec![record],
            next: None,
        }),
        t1,
    );
    assert!(node.core.is_ready());
    assert_eq!(node.instance_count(&orders), 1);
}

#[test]
fn a_peer_that_never_answers_delays_an_empty_start_only_for_a_bounded_time() {
    // Liveness: a fresh cluster with one member down for good still starts, once the wait
    // (`DistroConfig::empty_start_after`) is over.
    let config = quiet_config();
    let mut node = Node::fresh("n1", &["n1", "n2", "n3"], config);
    let mut now = node.t0;
    let deadline = node.t0 + config.empty_start_after;
    while !node.core.is_ready() {
        assert!(
            now <= deadline + config.retry_delay,
            "still loading at {now:?}"
        );
        now = now.max(node.core.next_wakeup());
        let out = node.core.poll(now);
        let ask = only(&out, is_snapshot);
        let answer = if ask.to == id("n2") {
            Ok(PeerResponse::NotReady)
        } else {
            Err(PeerError::Timeout(id("n3")))
        };
        node.core.on_response(ask.id, answer, now);
    }
    assert!(now >= deadline, "served empty before the bound");
    assert!(node.core.registry().store().all_keys().is_empty());
}

#[test]
fn a_snapshot_is_answered_in_bounded_chunks_in_key_order() {
    let config = DistroConfig {
        snapshot_chunk_instances: 4,
        ..quiet_config()
    };
    let mut ready = Node::ready("n1", &["n1", "n2"], config);
    let t0 = ready.t0;
    // 10 services of 2 instances each: chunks of 2 services.
    for i in 0..10 {
        let key = ServiceKey::named(&format!("svc-{i:02}")).unwrap();
        ready.register(&key, "10.0.0.1", 8080);
        ready.register(&key, "10.0.0.2", 8080);
    }
    let mut after = None;
    let mut seen = Vec::new();
    let mut chunks = 0;
    loop {
        let PeerResponse::Chunk { records, next } =
            ready
                .core
                .handle(&id("n2"), PeerRequest::Snapshot { after }, t0)
        else {
            panic!("a ready node gives its snapshot");
        };
        chunks += 1;
        let instances: usize = records.iter().map(|r| r.instances.len()).sum();
        assert!(instances <= 4, "chunk over budget: {instances}");
        seen.extend(records.into_iter().map(|r| r.key));
        match next {
            Some(key) => after = Some(key),
            None => break,
        }
    }
    let expected: Vec<ServiceKey> = (0..10)
        .map(|i| ServiceKey::named(&format!("svc-{i:02}")).unwrap())
        .collect();
    assert_eq!(seen, expected, "every service once, in key order");
    assert_eq!(chunks, 5);
}

#[test]
fn a_loading_node_asks_for_every_chunk_and_is_ready_only_after_the_last() {
    let mut node = Node::fresh("n1", &["n1", "n2", "n3"], quiet_config());
    let t0 = node.t0;
    let orders = ServiceKey::named("orders").unwrap();
    let users = ServiceKey::named("users").unwrap();
    let first = record_from("n2", &node.clock, &orders, &[("10.0.0.1", 8080)]);
    let second = record_from("n2", &node.clock, &users, &[("10.0.0.2", 8080)]);

    let out = node.core.poll(t0);
    let ask = only(&out, is_snapshot);
    assert_eq!(ask.to, id("n2"));
    let next = Some(orders.clone());
    node.core.on_response(
        ask.id,
        Ok(PeerResponse::Chunk {
            records: vec![first],
            next: next.clone(),
        }),
        t0,
    );
    assert!(!node.core.is_ready(), "more chunks to come");
    assert_eq!(node.instance_count(&orders), 1, "merged as it arrives");

    // The next chunk, from the same peer, at once.
    assert!(node.core.next_wakeup() <= t0);
    let out = node.core.poll(t0);
    let ask = only(&out, is_snapshot);
    assert_eq!(ask.to, id("n2"));
    assert_eq!(ask.request, PeerRequest::Snapshot { after: next });
    node.core.on_response(
        ask.id,
        Ok(PeerResponse::Chunk {
            records: vec![second],
            next: None,
        }),
        t0,
    );
    assert!(node.core.is_ready());
    assert_eq!(node.instance_count(&users), 1);
}

#[test]
fn a_peer_failing_mid_snapshot_does_not_make_the_node_ready() {
    let config = quiet_config();
    let mut node = Node::fresh("n1", &["n1", "n2", "n3"], config);
    let t0 = node.t0;
    let orders = ServiceKey::named("orders").unwrap();
    let first = record_from("n2", &node.clock, &orders, &[("10.0.0.1", 8080)]);
    let out = node.core.poll(t0);
    let ask = only(&out, is_snapshot);
    node.core.on_response(
        ask.id,
        Ok(PeerResponse::Chunk {
            records: vec![first],
            next: Some(orders.clone()),
        }),
        t0,
    );
    let out = node.core.poll(t0);
    let ask = only(&out, is_snapshot);
    node.core
        .on_response(ask.id, Err(PeerError::Timeout(id("n2"))), t0);
    // n3 is asked from the start, and says it is starting: n2 may hold more, so no serving.
    let out = node.core.poll(t0);
    let ask = only(&out, is_snapshot);
    assert_eq!(ask.to, id("n3"));
    assert_eq!(ask.request, PeerRequest::Snapshot { after: None });
    node.core
        .on_response(ask.id, Ok(PeerResponse::NotReady), t0);
    assert!(!node.core.is_ready());
}

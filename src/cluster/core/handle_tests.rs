//! Requests and answers outside any one phase: strangers, pings, forwarded commands, unknown
//! ids, and peers going down (the mapper rebuild and its grace period).

use super::test_support::*;
use super::RequestId;
use crate::clock::{ManualClock, Timestamp};
use crate::cluster::{DistroConfig, PeerRequest, PeerResponse, Route};
use crate::model::ServiceKey;
use crate::registry::{Command, CommandOutput, Registry};
use crate::HealthConfig;
use std::time::Duration;

#[test]
fn requests_from_a_non_member_are_rejected_and_change_nothing() {
    let mut node = Node::ready("n1", &["n1", "n2"], quiet_config());
    let t0 = node.t0;
    let orders = ServiceKey::named("orders").unwrap();
    let record = record_from("zz", &node.clock, &orders, &[("10.0.0.9", 80)]);
    let answer = node.sync_from("zz", vec![record], t0);
    assert_eq!(
        answer,
        PeerResponse::Rejected("zz is not a member of this cluster".into())
    );
    assert_eq!(node.instance_count(&orders), 0);
    assert!(matches!(
        node.core
            .handle(&id("zz"), PeerRequest::Ping { ready: true }, t0),
        PeerResponse::Rejected(_)
    ));
    assert_eq!(node.core.routing().mapper().members(), ids(&["n1", "n2"]));
}

#[test]
fn a_forwarded_command_on_a_node_still_loading_answers_not_ready() {
    let mut node = Node::fresh("n1", &["n1", "n2"], quiet_config());
    let orders = ServiceKey::named("orders").unwrap();
    let command = Command::register(&orders, instance("10.0.0.1", 8080));
    let answer = node
        .core
        .handle(&id("n2"), PeerRequest::Forward(command), node.t0);
    assert_eq!(answer, PeerResponse::NotReady);
    assert_eq!(node.instance_count(&orders), 0);
}

#[test]
fn a_forwarded_command_on_a_ready_node_is_applied_and_replicated() {
    let mut node = Node::ready("n1", &["n1", "n2", "n3"], quiet_config());
    let orders = node.service_owned_by("n1");
    let command = Command::register(&orders, instance("10.0.0.1", 8080));
    let answer = node
        .core
        .handle(&id("n2"), PeerRequest::Forward(command), node.t0);
    assert!(
        matches!(
            answer,
            PeerResponse::Forwarded(Ok(CommandOutput::Revision(_)))
        ),
        "{answer:?}"
    );
    assert_eq!(node.instance_count(&orders), 1);
    node.core.poll(node.t0);
    assert_eq!(node.core.pending_for(&id("n3")), 1);
}

#[test]
fn a_ping_is_answered_with_whether_this_node_serves() {
    let mut loading = Node::fresh("n1", &["n1", "n2"], quiet_config());
    let ping = PeerRequest::Ping { ready: true };
    assert_eq!(
        loading.core.handle(&id("n2"), ping.clone(), loading.t0),
        PeerResponse::Pong { ready: false }
    );
    let mut ready = Node::ready("n1", &["n1", "n2"], quiet_config());
    assert_eq!(
        ready.core.handle(&id("n2"), ping, ready.t0),
        PeerResponse::Pong { ready: true }
    );
}

#[test]
fn a_peer_that_says_it_is_not_ready_leaves_the_mapper_until_it_is() {
    let mut node = Node::ready("n1", &["n1", "n2", "n3"], quiet_config());
    let t0 = node.t0;
    node.core
        .handle(&id("n2"), PeerRequest::Ping { ready: false }, t0);
    assert_eq!(node.core.routing().mapper().members(), ids(&["n1", "n3"]));
    let t1 = t0 + Duration::from_secs(1);
    node.core
        .handle(&id("n2"), PeerRequest::Ping { ready: true }, t1);
    assert_eq!(
        node.core.routing().mapper().members(),
        ids(&["n1", "n2", "n3"])
    );
}

#[test]
fn every_peer_is_pinged_each_ping_interval_unless_its_last_ping_is_unanswered() {
    let config = DistroConfig {
        ping_interval: Duration::from_secs(1),
        ..quiet_config()
    };
    let mut node = Node::fresh("n1", &["n1", "n2", "n3"], config);
    let t0 = node.t0;
    let is_ping = |o: &super::Outgoing| matches!(o.request, PeerRequest::Ping { ready: false });
    let out = node.core.poll(t0);
    assert_eq!(targets(&out, is_ping), ["n2", "n3"]);
    assert!(matching(&node.core.poll(t0 + Duration::from_millis(999)), is_ping).is_empty());

    let to_n2 = out.iter().find(|o| o.to == id("n2")).unwrap().id;
    node.core
        .on_response(to_n2, Ok(PeerResponse::Pong { ready: true }), t0);
    let out = node.core.poll(t0 + config.ping_interval);
    assert_eq!(targets(&out, is_ping), ["n2"], "n3 has not answered yet");
}

#[test]
fn answers_to_unknown_request_ids_are_ignored() {
    let mut node = Node::ready("n1", &["n1", "n2"], quiet_config());
    let before = node.core.stats();
    node.core.on_response(
        RequestId(9_999),
        Err(crate::cluster::PeerError::Timeout(id("n2"))),
        node.t0,
    );
    assert_eq!(node.core.stats(), before);
    assert!(node.core.is_ready());
}

#[test]
fn a_node_with_no_peers_is_ready_at_once_and_sends_nothing() {
    let mut node = Node::fresh("n1", &["n1"], quiet_config());
    assert!(node.core.is_ready());
    let orders = ServiceKey::named("orders").unwrap();
    assert_eq!(node.core.route(&orders), Route::Local);
    node.register(&orders, "10.0.0.1", 8080);
    assert!(node.core.poll(node.t0 + Duration::from_secs(60)).is_empty());
}

#[test]
fn a_silent_peer_goes_down_and_its_services_come_here_with_a_grace_period() {
    let config = DistroConfig {
        peer_down_after: Duration::from_secs(5),
        ..quiet_config()
    };
    let mut node = Node::ready("n1", &["n1", "n2"], config);
    let t0 = node.t0;
    let theirs = node.service_owned_by("n2");
    let mine = node.service_owned_by("n1");
    assert_eq!(node.core.route(&theirs), Route::Forward(id("n2")));
    let record = record_from("n2", &node.clock, &theirs, &[("10.0.0.2", 8080)]);
    node.sync_from("n2", vec![record], t0);
    node.register(&mine, "10.0.0.1", 8080);
    let grace_before = node.core.stats().grace_periods;

    let before_down = t0 + config.peer_down_after - Duration::from_millis(1);
    node.core.poll(before_down);
    assert_eq!(node.core.route(&theirs), Route::Forward(id("n2")));

    let down = t0 + config.peer_down_after;
    node.core.poll(down);
    assert_eq!(node.core.routing().mapper().members(), ids(&["n1"]));
    assert_eq!(node.core.route(&theirs), Route::Local);
    assert_eq!(
        node.core.stats().grace_periods,
        grace_before + 1,
        "only the service taken over"
    );
    // The beat time stays what this node heard; the sweep counts silence from the takeover.
    let held = node.core.registry().service(&theirs).unwrap();
    assert_eq!(held.entries().next().unwrap().liveness().last_beat(), t0);
    let state = |node: &mut Node, at: Duration| {
        node.core.poll(down + at);
        let snap = node.core.registry().service(&theirs).unwrap();
        let healthy = snap.entries().next().map(|e| e.instance().healthy());
        healthy
    };
    let ms = Duration::from_millis;
    assert_eq!(state(&mut node, ms(14_999)), Some(true));
    assert_eq!(state(&mut node, ms(15_000)), Some(false));
    assert_eq!(state(&mut node, ms(29_999)), Some(false));
    assert_eq!(state(&mut node, ms(30_000)), None);
}

#[test]
fn sweeps_are_at_least_the_minimum_gap_apart() {
    // The default health config: sweeps at least 1 s apart.
    let mut node = Node::fresh_with("n1", &["n1"], quiet_config(), HealthConfig::default());
    let t0 = node.t0;
    let ms = Duration::from_millis;
    node.core.poll(t0);
    let orders = node.service_owned_by("n1");
    node.register(&orders, "10.0.0.1", 8080);
    let healthy = |node: &Node| {
        let snap = node.core.registry().service(&orders).unwrap();
        let healthy = snap.entries().next().map(|e| e.instance().healthy());
        healthy
    };
    // A sweep at 14.5 s finds nothing due and says the instance is due at 15 s; the poll at
    // 15 s is within the gap, so the verdict waits for the poll at 15.5 s.
    node.core.poll(t0 + ms(14_500));
    node.core.poll(t0 + ms(15_000));
    assert_eq!(healthy(&node), Some(true), "within 1 s of the last sweep");
    node.core.poll(t0 + ms(15_499));
    assert_eq!(healthy(&node), Some(true));
    node.core.poll(t0 + ms(15_500));
    assert_eq!(healthy(&node), Some(false), "1 s after the last sweep");
}

/// Node n2 (responsible for `service`) with its own clock from `t0`: one instance registered
/// at `t0`, then what `then` does to it; returns the registry.
fn old_owner(service: &ServiceKey, then: impl FnOnce(&Registry, &ManualClock)) -> Registry {
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .clock(clock.clone())
        .origin(id("n2").origin())
        .delivery_threads(1)
        .build();
    registry
        .register_instance(service, instance("10.0.0.2", 8080))
        .unwrap();
    then(&registry, &clock);
    registry
}

/// n1 holds n2's copy from `t0` (last beat `t0`), then takes `service` over when n2 goes
/// silent at `t0` + 5 s.
fn taken_over(service_of: impl FnOnce(&Node) -> ServiceKey) -> (Node, ServiceKey, Timestamp) {
    let config = DistroConfig {
        peer_down_after: Duration::from_secs(5),
        ..quiet_config()
    };
    let mut node = Node::ready("n1", &["n1", "n2"], config);
    let service = service_of(&node);
    let copy = old_owner(&service, |_, _| {}).service(&service).unwrap();
    let t0 = node.t0;
    let sync = PeerRequest::Sync {
        records: vec![copy.to_record(None)],
    };
    node.core.handle(&id("n2"), sync, t0);
    let down = t0 + Duration::from_secs(5);
    node.core.poll(down);
    assert_eq!(node.core.route(&service), Route::Local);
    (node, service, down)
}

#[test]
fn a_takeover_grace_loses_to_an_eviction_the_old_owner_made() {
    // n2 heard beats until t0 + 2 s and evicted the instance 30 s later; n1 took the service
    // over at t0 + 5 s, after that last beat. Beating every instance at the takeover (as
    // nacre once did) made n1's copy look fresher than the eviction and brought it back.
    let (mut node, service, down) = taken_over(|n| n.service_owned_by("n2"));
    let t0 = node.t0;
    let evicted = old_owner(&service, |r, clock| {
        clock.advance(Duration::from_secs(2));
        let key = instance("10.0.0.2", 8080).key();
        r.heartbeat(&service, &key).unwrap();
        clock.advance(Duration::from_secs(30));
        assert_eq!(r.check_health().removed.len(), 1);
    });
    let record = evicted.service(&service).unwrap().to_record(None);
    let answer = node.sync_from("n2", vec![record], t0 + Duration::from_secs(33));
    assert!(matches!(answer, PeerResponse::Ack), "{answer:?}");
    assert_eq!(node.instance_count(&service), 0, "the eviction stands");
    // Nothing this node does later brings it back.
    for secs in [34, 40, 60, 120] {
        let out = node.core.poll(t0 + Duration::from_secs(secs));
        assert_eq!(node.instance_count(&service), 0, "at {secs} s: {out:?}");
    }
    let _ = down;
}

#[test]
fn a_health_flip_by_the_new_owner_never_outranks_a_deregistration_it_missed() {
    // The client deregistered on n2 at t0 + 3 s; n1, which took the service over at t0 + 5 s
    // without hearing of it, marks its stale copy unhealthy 15 s later: a newer write than the
    // deregistration, but not a newer client write.
    let (mut node, service, down) = taken_over(|n| n.service_owned_by("n2"));
    let t0 = node.t0;
    node.core.poll(down + Duration::from_secs(15));
    let flipped = node.core.registry().service(&service).unwrap();
    assert!(!flipped.entries().next().unwrap().instance().healthy());
    let deregistered = old_owner(&service, |r, clock| {
        clock.advance(Duration::from_secs(3));
        let key = instance("10.0.0.2", 8080).key();
        assert!(r.deregister_instance(&service, &key));
    });
    // n1 hears of the deregistration: its flipped copy goes.
    let record = deregistered.service(&service).unwrap().to_record(None);
    node.sync_from("n2", vec![record], t0 + Duration::from_secs(21));
    assert_eq!(node.instance_count(&service), 0);
    // And n2, sent the flipped copy, keeps the deregistration.
    let rules = crate::store::MergeRules::new(crate::model::Limits::default());
    let outcome = deregistered.store().merge(
        flipped.to_record(None),
        &rules,
        t0 + Duration::from_secs(21),
    );
    assert_eq!(outcome.applied, 0, "{outcome:?}");
    assert_eq!(deregistered.service(&service).unwrap().instance_count(), 0);
}

#[test]
fn a_node_whose_id_is_not_in_its_member_list_is_refused_at_start() {
    let registry = crate::registry::Registry::builder()
        .delivery_threads(1)
        .build();
    let now = crate::clock::Timestamp::from_millis(0);
    let err = super::DistroCore::new(id("n3"), &ids(&["n1", "n2"]), registry, quiet_config(), now)
        .unwrap_err();
    assert!(
        matches!(err, crate::cluster::MembershipError::NotAMember { ref me, .. } if *me == id("n3")),
        "{err:?}"
    );
}

#[test]
fn a_rejected_answer_is_not_contact_and_the_refusing_peer_goes_down() {
    let config = DistroConfig {
        ping_interval: Duration::from_secs(1),
        peer_down_after: Duration::from_secs(5),
        ..quiet_config()
    };
    let mut node = Node::fresh("n1", &["n1", "n2"], config);
    let t0 = node.t0;
    let is_ping = |o: &super::Outgoing| matches!(o.request, PeerRequest::Ping { .. });
    let pings = |out: &[super::Outgoing]| -> Vec<RequestId> {
        matching(out, is_ping).iter().map(|o| o.id).collect()
    };
    let out = node.core.poll(t0);
    let ask = only(&out, is_snapshot).id;
    node.core.on_response(
        ask,
        Ok(PeerResponse::Chunk {
            records: Vec::new(),
            next: None,
        }),
        t0,
    );
    // From now on n2 answers every ping with a refusal (it does not list n1, or its cluster
    // secret differs).
    let mut pending = pings(&out);
    let mut t = t0;
    while t < t0 + config.peer_down_after {
        for ping in pending.drain(..) {
            let refusal = PeerResponse::Rejected("n1 is not a member of this cluster".into());
            node.core.on_response(ping, Ok(refusal), t);
        }
        t = t + config.ping_interval;
        pending = pings(&node.core.poll(t));
    }
    assert_eq!(node.core.routing().mapper().members(), ids(&["n1"]));
    assert!(node.core.stats().rejections >= 5, "{:?}", node.core.stats());
    // An answer that is not a refusal is contact again.
    node.core
        .on_response(pending[0], Ok(PeerResponse::Pong { ready: true }), t);
    assert_eq!(node.core.routing().mapper().members(), ids(&["n1", "n2"]));
}

//! Drains in the push hub's policy, stepped with explicit times: who is waited for, which
//! pushes clear a drain, acks, subscribers that leave, the bound.

use super::state::PushState;
use super::state_tests::{orders, t0, Recorder};
use super::{PushConfig, PushResult, PushTarget};
use crate::protocol::ServiceInfo;
use crate::{ClusterName, Instance, InstanceKey, ServiceKey};
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

/// The service's answer listing `ips` (10.0.0.x:80) in cluster `DEFAULT`.
fn listing(ips: &'static [u8]) -> impl FnMut(&ServiceKey, &[ClusterName]) -> ServiceInfo {
    move |service, _| {
        let hosts = ips
            .iter()
            .map(|i| Instance::new(&format!("10.0.0.{i}"), 80).unwrap())
            .collect();
        ServiceInfo::new(service.clone(), hosts)
    }
}

fn first() -> InstanceKey {
    InstanceKey::in_default_cluster("10.0.0.1", 80).unwrap()
}

fn config() -> PushConfig {
    PushConfig {
        merge_window: Duration::ZERO,
        ..PushConfig::default()
    }
}

#[test]
fn a_drain_waits_for_the_ack_of_a_push_without_the_instance() {
    let now = t0();
    let mut state = PushState::new(config());
    let acking = Recorder::new("acking", PushResult::AwaitingAck);
    let local = Recorder::new("local", PushResult::Delivered);
    let elsewhere = Recorder::new("other-cluster", PushResult::AwaitingAck);
    state.subscribe(&orders(), &[], acking.clone(), now);
    state.subscribe(&orders(), &[], local.clone(), now);
    let other = ClusterName::new("OTHER").unwrap();
    state.subscribe(&orders(), &[other], elsewhere.clone(), now);
    state.poll(now, listing(&[1, 2]));
    assert!(state.ack(&acking.key(), acking.last_ack()));

    let drain = state.begin_drain(&orders(), &first(), now).unwrap();
    assert!(!state.drain_settled(drain));
    // A push still listing the instance (built before the write reached this node) clears
    // nothing, even acked.
    state.poll(now, listing(&[1, 2]));
    assert_eq!(acking.pushes().len(), 2, "begin_drain schedules a push");
    assert!(state.ack(&acking.key(), acking.last_ack()));
    assert!(!state.drain_settled(drain));
    // The write lands: the next push lacks it. The in-process target takes it on the spot,
    // the acking one once it acks.
    state.changed(&orders(), now + MS);
    state.poll(now + MS, listing(&[2]));
    assert!(!state.drain_settled(drain), "not acked yet");
    assert!(state.take_drain_progress(), "the local target took it");
    assert!(state.ack(&acking.key(), acking.last_ack()));
    assert!(state.drain_settled(drain));
    let (outcome, pending) = state.finish_drain(drain);
    assert_eq!(
        (outcome.subscribers, outcome.acked, outcome.gone),
        (2, 2, 0),
        "the OTHER cluster's subscriber never saw the instance: not waited for"
    );
    assert!(pending.is_empty());
}

#[test]
fn a_subscriber_that_leaves_is_gone_and_one_that_never_acks_is_pending() {
    let now = t0();
    let mut state = PushState::new(config());
    let leaving = Recorder::new("leaving", PushResult::AwaitingAck);
    let silent = Recorder::new("silent", PushResult::AwaitingAck);
    let late = Recorder::new("late", PushResult::AwaitingAck);
    state.subscribe(&orders(), &[], leaving.clone(), now);
    state.subscribe(&orders(), &[], silent.clone(), now);
    state.poll(now, listing(&[1]));

    let drain = state.begin_drain(&orders(), &first(), now).unwrap();
    // A subscriber joining during the drain gets the current state and is not waited for.
    state.subscribe(&orders(), &[], late.clone(), now);
    state.poll(now, listing(&[]));
    assert_eq!(late.pushes().len(), 1);
    state.remove_target(&leaving.key());
    assert!(!state.drain_settled(drain));
    let (outcome, pending) = state.finish_drain(drain);
    assert_eq!(
        (outcome.subscribers, outcome.acked, outcome.gone),
        (2, 0, 1)
    );
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].addr, "silent");
    // Finished: a late ack changes nothing and the drain is forgotten.
    assert!(state.ack(&silent.key(), silent.last_ack()));
    assert_eq!(state.finish_drain(drain).0.subscribers, 0);
}

#[test]
fn a_drain_of_a_service_nobody_watches_is_settled_at_once() {
    let now = t0();
    let mut state = PushState::new(config());
    let drain = state.begin_drain(&orders(), &first(), now).unwrap();
    assert!(state.drain_settled(drain));
    assert_eq!(state.next_wakeup(), None, "no push scheduled for nobody");
    assert_eq!(state.finish_drain(drain).0.subscribers, 0);
}

#[test]
fn drains_beyond_the_bound_are_refused() {
    let now = t0();
    let mut state = PushState::new(PushConfig {
        max_drains: 2,
        ..config()
    });
    let a = state.begin_drain(&orders(), &first(), now);
    let b = state.begin_drain(&orders(), &first(), now);
    assert!(a.is_some() && b.is_some());
    assert!(state.begin_drain(&orders(), &first(), now).is_none());
    let _ = state.finish_drain(a.unwrap());
    assert!(
        state.begin_drain(&orders(), &first(), now).is_some(),
        "a finished drain frees its place"
    );
}

#[test]
fn while_a_drain_waits_the_service_is_pushed_without_the_merge_window() {
    let now = t0();
    let mut state = PushState::new(PushConfig::default()); // 500 ms
    let t = Recorder::new("t", PushResult::AwaitingAck);
    state.subscribe(&orders(), &[], t.clone(), now);
    state.poll(now, listing(&[1]));
    state.changed(&orders(), now);
    assert_eq!(state.next_wakeup(), Some(now + 500 * MS), "merged as usual");
    let drain = state.begin_drain(&orders(), &first(), now + MS).unwrap();
    assert_eq!(
        state.next_wakeup(),
        Some(now + MS),
        "the merged push moved up"
    );
    state.poll(now + MS, listing(&[1]));
    state.changed(&orders(), now + 2 * MS); // the deregistration
    assert_eq!(state.next_wakeup(), Some(now + 2 * MS));
    state.poll(now + 2 * MS, listing(&[]));
    assert!(state.ack(&t.key(), t.last_ack()));
    assert!(state.drain_settled(drain));
    let _ = state.finish_drain(drain);
    state.changed(&orders(), now + 3 * MS);
    assert_eq!(
        state.next_wakeup(),
        Some(now + 503 * MS),
        "the window is back once the drain ended"
    );
}

#[test]
fn a_retried_push_clears_a_drain_when_acked() {
    let now = t0();
    let mut state = PushState::new(PushConfig {
        ack_timeout: 100 * MS,
        retries: 1,
        ..config()
    });
    let slow = Recorder::new("slow", PushResult::AwaitingAck);
    state.subscribe(&orders(), &[], slow.clone(), now);
    state.poll(now, listing(&[1]));
    let drain = state.begin_drain(&orders(), &first(), now).unwrap();
    state.poll(now, listing(&[]));
    // The first push's ack never comes; the retry's does.
    state.poll(now + 100 * MS, listing(&[]));
    assert_eq!(slow.pushes().len(), 3);
    assert!(state.ack(&slow.key(), slow.last_ack()));
    assert!(state.drain_settled(drain));
}

#[test]
fn an_in_process_client_counts_once_it_took_the_push_not_when_handed_it() {
    let now = t0();
    let mut state = PushState::new(config());
    let (sink, mut pushes) = crate::protocol::PushSink::channel();
    let sink = std::sync::Arc::new(sink);
    state.subscribe(&orders(), &[], sink.clone(), now);
    state.poll(now, listing(&[1]));
    assert!(
        state.take_taking().is_empty(),
        "no drain: handed over as ever"
    );
    let drain = state.begin_drain(&orders(), &first(), now).unwrap();
    state.poll(now, listing(&[]));
    let taking = state.take_taking();
    assert_eq!(taking.len(), 1);
    assert!(
        !state.drain_settled(drain),
        "handed to the client, not taken yet"
    );
    assert_eq!(
        state.stats().acked,
        2,
        "delivered as far as the hub's acks go"
    );
    // The client takes it (drops its receipt); the driver then counts it.
    let (_, before) = block_on(pushes.recv_with_receipt()).unwrap();
    assert!(
        before.is_none(),
        "the push before the drain wants no receipt"
    );
    let (info, receipt) = block_on(pushes.recv_with_receipt()).unwrap();
    assert!(info.hosts.is_empty());
    drop(receipt.expect("a receipt"));
    for t in taking {
        block_on(t.taken);
        state.drain_taken(&t.clears, &t.sub);
    }
    assert!(state.drain_settled(drain));
}

/// Runs `f` to completion on a throwaway runtime.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_client_that_never_takes_the_push_is_let_go_when_the_drain_ends() {
    use crate::{ManualClock, Registry};
    block_on(async {
        let clock = ManualClock::new();
        let registry = Registry::builder().clock(clock.clone()).build();
        let hub = super::PushHub::new(registry.clone(), config());
        hub.start();
        let db = orders();
        registry
            .register_instance(&db, Instance::new("10.0.0.1", 80).unwrap())
            .unwrap();
        let (sink, mut pushes) = crate::protocol::PushSink::channel();
        hub.subscribe(&db, &[], std::sync::Arc::new(sink));
        assert!(pushes.recv().await.is_some());
        let ticket = hub.begin_drain(&db, &first());
        registry.deregister_instance(&db, &first());
        let deadline = clock.now() + Duration::from_secs(5);
        let waiting = tokio::spawn(ticket.wait_until(deadline));
        // The client is handed the push and keeps its receipt: it never takes it.
        let (info, receipt) = pushes.recv_with_receipt().await.unwrap();
        assert!(info.hosts.is_empty());
        let mut receipt = receipt.expect("a receipt while the drain waits");
        clock.advance(Duration::from_secs(5));
        let front = waiting.await.unwrap();
        assert_eq!((front.subscribers, front.acked), (1, 0));
        // The hub stopped waiting for it: the receipt says so.
        tokio::time::timeout(Duration::from_secs(10), receipt.closed())
            .await
            .expect("the hub let go of the push once the drain ended");
    });
}

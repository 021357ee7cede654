//! The push hub's policy, [`PushState`], stepped with explicit times: merge window, acks and
//! retries, failures, expiry, closed targets, the hub's limit.

use super::state::PushState;
use super::{AckId, PushConfig, PushResult, PushTarget, TargetKey};
use crate::protocol::ServiceInfo;
use crate::{Instance, ManualClock, ServiceKey, Timestamp};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A target that records every push and answers as told.
pub(super) struct Recorder {
    key: TargetKey,
    answer: Mutex<PushResult>,
    seen: Mutex<Vec<(AckId, usize)>>,
    source: Option<std::net::IpAddr>,
}

impl Recorder {
    pub(super) fn new(name: &str, answer: PushResult) -> Arc<Self> {
        Arc::new(Self {
            key: TargetKey::new(name),
            answer: Mutex::new(answer),
            seen: Mutex::new(Vec::new()),
            source: None,
        })
    }
    /// A target pushing to `ip` (as a UDP target does).
    fn at(name: &str, ip: [u8; 4]) -> Arc<Self> {
        Arc::new(Self {
            key: TargetKey::new(name),
            answer: Mutex::new(PushResult::Delivered),
            seen: Mutex::new(Vec::new()),
            source: Some(std::net::IpAddr::from(ip)),
        })
    }
    pub(super) fn pushes(&self) -> Vec<(AckId, usize)> {
        self.seen.lock().unwrap().clone()
    }
    pub(super) fn last_ack(&self) -> AckId {
        self.pushes().last().unwrap().0
    }
}

impl PushTarget for Recorder {
    fn key(&self) -> TargetKey {
        self.key.clone()
    }
    fn push(&self, info: &ServiceInfo, ack: AckId) -> PushResult {
        self.seen.lock().unwrap().push((ack, info.hosts.len()));
        self.answer.lock().unwrap().clone()
    }
    fn source(&self) -> Option<std::net::IpAddr> {
        self.source
    }
}

pub(super) fn orders() -> ServiceKey {
    ServiceKey::named("orders").unwrap()
}

fn answer(n: usize) -> impl FnMut(&ServiceKey, &[crate::ClusterName]) -> ServiceInfo {
    move |service, _| {
        let hosts = (0..n)
            .map(|i| Instance::new(&format!("10.0.0.{}", i + 1), 80).unwrap())
            .collect();
        ServiceInfo::new(service.clone(), hosts)
    }
}

pub(super) fn t0() -> Timestamp {
    ManualClock::new().now()
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn changes_within_the_merge_window_make_one_push() {
    let now = t0();
    let mut state = PushState::new(PushConfig::default()); // 500 ms
    let target = Recorder::new("t", PushResult::Delivered);
    assert!(state.subscribe(&orders(), &[], target.clone(), now));
    state.poll(now, answer(0)); // the fresh subscriber gets the current state
    assert_eq!(target.pushes().len(), 1);

    state.changed(&orders(), now);
    state.changed(&orders(), now + 100 * MS);
    state.changed(&orders(), now + 499 * MS);
    assert_eq!(state.next_wakeup(), Some(now + 500 * MS));
    state.poll(now + 499 * MS, answer(2));
    assert_eq!(target.pushes().len(), 1, "nothing before the window closes");
    state.poll(now + 500 * MS, answer(2));
    assert_eq!(target.pushes().len(), 2, "one push for three changes");
    assert_eq!(
        target.pushes()[1].1,
        2,
        "with the data current at push time"
    );
    assert_eq!(state.next_wakeup(), None);
    assert_eq!(state.stats().pushes, 2);
    assert_eq!(state.stats().acked, 2);
}

#[test]
fn a_zero_merge_window_pushes_at_the_next_poll() {
    let now = t0();
    let config = PushConfig {
        merge_window: Duration::ZERO,
        ..PushConfig::default()
    };
    let mut state = PushState::new(config);
    let target = Recorder::new("t", PushResult::Delivered);
    state.subscribe(&orders(), &[], target.clone(), now);
    state.poll(now, answer(0));
    state.changed(&orders(), now);
    assert_eq!(state.next_wakeup(), Some(now));
    state.poll(now, answer(1));
    assert_eq!(target.pushes().len(), 2);
}

#[test]
fn an_unacked_push_is_retried_after_the_ack_timeout_then_counts_as_failed() {
    let now = t0();
    let config = PushConfig {
        retries: 1,
        max_failures: 2,
        ..PushConfig::default()
    };
    let mut state = PushState::new(config);
    let target = Recorder::new("udp:10.0.0.9:5000", PushResult::AwaitingAck);
    state.subscribe(&orders(), &[], target.clone(), now);
    state.poll(now, answer(1));
    assert_eq!(state.in_flight(), 1);
    assert_eq!(state.next_wakeup(), Some(now + Duration::from_secs(5)));

    state.poll(now + Duration::from_secs(5), answer(1));
    assert_eq!(target.pushes().len(), 2, "retried once");
    assert_eq!(state.stats().retried, 1);
    state.poll(now + Duration::from_secs(10), answer(1));
    assert_eq!(target.pushes().len(), 2, "no second retry");
    assert_eq!(state.stats().failed, 1);
    assert_eq!(
        state.subscription_count(),
        1,
        "one failure is not enough to drop it"
    );

    // The next change fails the same way: the second failure in a row drops the target.
    state.changed(&orders(), now + Duration::from_secs(10));
    state.poll(now + Duration::from_secs(11), answer(1));
    state.poll(now + Duration::from_secs(16), answer(1));
    state.poll(now + Duration::from_secs(21), answer(1));
    assert_eq!(state.stats().failed, 2);
    assert_eq!(state.subscription_count(), 0);
    assert_eq!(state.stats().targets_dropped, 1);
    assert!(!state.is_watched(&orders()));
}

#[test]
fn an_ack_settles_the_push_and_resets_the_failures() {
    let now = t0();
    let mut state = PushState::new(PushConfig::default());
    let target = Recorder::new("t", PushResult::AwaitingAck);
    state.subscribe(&orders(), &[], target.clone(), now);
    state.poll(now, answer(1));
    let ack = target.last_ack();
    assert!(
        !state.ack(&TargetKey::new("someone else"), ack),
        "acks are per target"
    );
    assert!(state.ack(&target.key(), ack));
    assert!(!state.ack(&target.key(), ack), "an ack counts once");
    assert_eq!(state.in_flight(), 0);
    assert_eq!(state.next_wakeup(), None);
    state.poll(now + Duration::from_secs(60), answer(1));
    assert_eq!(target.pushes().len(), 1, "nothing to retry");
}

#[test]
fn a_newer_push_replaces_the_one_waiting_for_its_ack() {
    let now = t0();
    let mut state = PushState::new(PushConfig {
        merge_window: Duration::ZERO,
        ..PushConfig::default()
    });
    let target = Recorder::new("t", PushResult::AwaitingAck);
    state.subscribe(&orders(), &[], target.clone(), now);
    state.poll(now, answer(1));
    state.changed(&orders(), now + MS);
    state.poll(now + MS, answer(2));
    assert_eq!(state.in_flight(), 1, "only the newest push waits");
    assert!(state.ack(&target.key(), target.last_ack()));
}

/// A target that never acks, of a service that changes every second (more often than the
/// ack timeout): each push replaces the one before it, but the wait runs from the first one,
/// so the target is retried, counted as failed and dropped as it is for a quiet service.
/// (Before, each replacement restarted the wait, and such a target was never dropped.)
#[test]
fn a_target_that_never_acks_a_busy_service_still_fails_and_is_dropped() {
    let start = t0();
    let config = PushConfig {
        merge_window: Duration::ZERO,
        ..PushConfig::default() // ack timeout 5 s, 1 retry, dropped after 3 failures
    };
    let mut state = PushState::new(config);
    let silent = Recorder::new("silent", PushResult::AwaitingAck);
    state.subscribe(&orders(), &[], silent.clone(), start);
    state.poll(start, answer(1));
    let mut now = start;
    for second in 1..=60 {
        now = start + Duration::from_secs(second);
        state.changed(&orders(), now);
        state.poll(now, answer(1));
        if state.stats().targets_dropped > 0 {
            break;
        }
    }
    let stats = state.stats();
    assert_eq!(stats.failed, 3, "{stats:?}");
    assert_eq!(stats.targets_dropped, 1, "{stats:?}");
    // Three failures, each after a push and its one retry, 5 s apart: 30 s.
    assert_eq!(now, start + Duration::from_secs(30), "{stats:?}");
    assert_eq!(state.subscription_count(), 0);
}

/// The same stream of changes to a target that acks each push: never a retry or a failure.
#[test]
fn a_target_that_acks_a_busy_service_never_fails() {
    let start = t0();
    let mut state = PushState::new(PushConfig {
        merge_window: Duration::ZERO,
        ..PushConfig::default()
    });
    let client = Recorder::new("acks", PushResult::AwaitingAck);
    state.subscribe(&orders(), &[], client.clone(), start);
    state.poll(start, answer(1));
    for second in 1..=60 {
        let now = start + Duration::from_secs(second);
        state.changed(&orders(), now);
        state.poll(now, answer(1));
        assert!(state.ack(&client.key(), client.last_ack()));
    }
    let stats = state.stats();
    assert_eq!(
        (stats.retried, stats.failed, stats.targets_dropped),
        (0, 0, 0)
    );
    assert_eq!(stats.acked, 60);
}

#[test]
fn subscriptions_expire_unless_renewed() {
    let now = t0();
    let mut state = PushState::new(PushConfig {
        subscription_ttl: Some(Duration::from_secs(10)),
        ..PushConfig::default()
    });
    let renewed = Recorder::new("renewed", PushResult::Delivered);
    let silent = Recorder::new("silent", PushResult::Delivered);
    state.subscribe(&orders(), &[], renewed.clone(), now);
    state.subscribe(&orders(), &[], silent.clone(), now);
    assert_eq!(state.subscription_count(), 2);
    state.subscribe(
        &orders(),
        &[],
        renewed.clone(),
        now + Duration::from_secs(6),
    );
    assert_eq!(
        state.subscription_count(),
        2,
        "a renewal is not a new subscription"
    );
    state.poll(now + Duration::from_secs(10), answer(0));
    let left: Vec<TargetKey> = state
        .subscribers(&orders())
        .into_iter()
        .map(|s| s.target)
        .collect();
    assert_eq!(left, [renewed.key()]);
    assert_eq!(state.stats().expired, 1);
    state.poll(now + Duration::from_secs(16), answer(0));
    assert_eq!(state.subscription_count(), 0);
}

#[test]
fn subscribers_are_keyed_by_service_clusters_and_target() {
    let now = t0();
    let mut state = PushState::new(PushConfig::default());
    let target = Recorder::new("t", PushResult::Delivered);
    let a = ["a".parse().unwrap()];
    state.subscribe(&orders(), &[], target.clone(), now);
    state.subscribe(&orders(), &a, target.clone(), now);
    state.subscribe(
        &ServiceKey::named("payments").unwrap(),
        &[],
        target.clone(),
        now,
    );
    assert_eq!(state.subscription_count(), 3);
    assert!(state.unsubscribe(&orders(), &a, &target.key()));
    assert!(!state.unsubscribe(&orders(), &a, &target.key()));
    assert_eq!(state.subscription_count(), 2);
}

#[test]
fn a_closed_target_is_dropped_with_all_its_subscriptions() {
    let now = t0();
    let mut state = PushState::new(PushConfig::default());
    let gone = Recorder::new("gone", PushResult::Closed);
    state.subscribe(&orders(), &[], gone.clone(), now);
    state.subscribe(
        &ServiceKey::named("payments").unwrap(),
        &[],
        gone.clone(),
        now,
    );
    state.poll(now, answer(0));
    assert_eq!(state.subscription_count(), 0);
    assert_eq!(state.stats().targets_dropped, 1);
}

#[test]
fn the_hub_is_full_at_its_limit() {
    let now = t0();
    let mut state = PushState::new(PushConfig {
        max_subscriptions: 1,
        ..PushConfig::default()
    });
    assert!(state.subscribe(
        &orders(),
        &[],
        Recorder::new("a", PushResult::Delivered),
        now
    ));
    assert!(!state.subscribe(
        &orders(),
        &[],
        Recorder::new("b", PushResult::Delivered),
        now
    ));
    assert_eq!(state.stats().refused, 1);
}

/// Before, ack ids counted up from 1: a subscriber that saw its own id could forge the acks of
/// the pushes to another target (its address is all a UDP ack carries besides the id).
#[test]
fn ack_ids_cannot_be_guessed_from_ones_own() {
    let now = t0();
    let mut state = PushState::new(PushConfig::default());
    let attacker = Recorder::new("attacker", PushResult::AwaitingAck);
    let victim = Recorder::new("victim", PushResult::AwaitingAck);
    assert!(state.subscribe(&orders(), &[], attacker.clone(), now));
    assert!(state.subscribe(&orders(), &[], victim.clone(), now));
    state.poll(now, answer(1));
    let seen = attacker.last_ack().0;
    let victim_key = TargetKey::new("victim");
    for guess in seen.saturating_sub(1000)..seen.saturating_add(1000) {
        assert!(
            !state.ack(&victim_key, AckId(guess)),
            "guessed the victim's ack {guess} from {seen}"
        );
    }
    let real = victim.last_ack();
    assert!(
        real.0 < 1 << 53,
        "a JavaScript client reads it back exactly"
    );
    assert!(state.ack(&victim_key, real));
}

/// Before, one host could subscribe (a UDP port per query) until the hub was full for everyone.
#[test]
fn one_source_holds_at_most_its_share_of_subscriptions() {
    let now = t0();
    let mut state = PushState::new(PushConfig {
        max_subscriptions_per_source: 2,
        subscription_ttl: Some(Duration::from_secs(10)),
        ..PushConfig::default()
    });
    let service = |n: usize| ServiceKey::named(&format!("s{n}")).unwrap();
    let a1 = Recorder::at("udp:10.0.0.1:1", [10, 0, 0, 1]);
    let a2 = Recorder::at("udp:10.0.0.1:2", [10, 0, 0, 1]);
    assert!(state.subscribe(&service(1), &[], a1.clone(), now));
    assert!(state.subscribe(&service(2), &[], a2.clone(), now));
    // Renewing one held is fine; a third from the same host is not.
    assert!(state.subscribe(&service(1), &[], a1.clone(), now));
    assert!(!state.subscribe(&service(3), &[], a1.clone(), now));
    // Another host has its own share.
    let b = Recorder::at("udp:10.0.0.2:1", [10, 0, 0, 2]);
    assert!(state.subscribe(&service(3), &[], b, now));
    // An unsubscription frees a place; so does expiry.
    assert!(state.unsubscribe(&service(2), &[], &TargetKey::new("udp:10.0.0.1:2")));
    assert!(state.subscribe(&service(4), &[], a2.clone(), now));
    state.poll(now + Duration::from_secs(11), answer(0));
    assert!(state.subscribe(&service(5), &[], a1.clone(), now + Duration::from_secs(11)));
    assert!(state.subscribe(&service(6), &[], a2, now + Duration::from_secs(11)));
    // And dropping a target frees its places.
    state.remove_target(&TargetKey::new("udp:10.0.0.1:1"));
    assert!(state.subscribe(&service(7), &[], a1, now + Duration::from_secs(11)));
}

/// The hub keeps what is due in ordered indexes beside its maps (so a wake-up costs what is
/// due, not a walk over every subscription): under a long random mix of subscriptions,
/// renewals, cancellations, changes, acks, failures and dropped targets, the indexes always
/// agree with the maps.
#[test]
fn the_schedule_stays_in_step_with_the_subscriptions() {
    let mut rng = fastrand::Rng::with_seed(20);
    let mut now = t0();
    let mut state = PushState::new(PushConfig {
        subscription_ttl: Some(Duration::from_secs(3)),
        ack_timeout: Duration::from_secs(1),
        merge_window: Duration::from_millis(300),
        retries: 1,
        max_failures: 2,
        ..PushConfig::default()
    });
    let answers = [
        PushResult::AwaitingAck,
        PushResult::Delivered,
        PushResult::Failed("x".into()),
    ];
    let targets: Vec<Arc<Recorder>> = (0..6)
        .map(|i| Recorder::new(&format!("t{i}"), answers[i % 3].clone()))
        .collect();
    let service = |n: usize| ServiceKey::named(&format!("s{n}")).unwrap();
    for step in 0..5_000 {
        let t = &targets[rng.usize(..targets.len())];
        let s = service(rng.usize(..8));
        match rng.u8(..10) {
            0..=2 => {
                state.subscribe(&s, &[], t.clone(), now);
            }
            3 => {
                state.unsubscribe(&s, &[], &t.key);
            }
            4 | 5 => state.changed(&s, now),
            6 => {
                if let Some((ack, _)) = t.pushes().last() {
                    state.ack(&t.key, *ack);
                }
            }
            7 => {
                state.remove_target(&t.key);
            }
            _ => {
                state.poll(now, answer(1));
            }
        }
        now = now + Duration::from_millis(rng.u64(0..400));
        assert_eq!(
            state.next_wakeup(),
            state.next_wakeup_by_walking(),
            "step {step}"
        );
    }
    assert!(state.stats().pushes > 1000, "{:?}", state.stats());
}

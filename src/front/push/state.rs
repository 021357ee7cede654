//! [`PushState`]: the push hub's policy as a plain state machine. It never sleeps and never
//! reads a clock: every method takes `now`, [`PushState::poll`] does what is due and
//! [`PushState::next_wakeup`] says when to call it again.

use super::drain::{DrainId, DrainOutcome, Drains};
use super::schedule::{Schedule, SubKey};
use super::target::{AckId, PushResult, PushTarget, TargetDetails, TargetKey};
use super::{PushConfig, PushStats};
use crate::clock::Timestamp;
use crate::model::{ClusterName, InstanceKey, ServiceKey};
use crate::protocol::ServiceInfo;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// A push to make this round: target (with its key, computed once at subscription), service,
/// clusters, and how often it was sent before.
type Due = (
    TargetKey,
    Arc<dyn PushTarget>,
    ServiceKey,
    Vec<ClusterName>,
    u32,
);
type Shape = (ServiceKey, Vec<ClusterName>);

struct Sub {
    target: Arc<dyn PushTarget>,
    expires: Option<Timestamp>,
    /// A push for this subscriber alone is due (a fresh subscriber gets the current state).
    fresh: bool,
}

#[derive(Default)]
struct Watched {
    subs: BTreeMap<SubKey, Sub>,
    /// When the merged push of this service is due.
    due: Option<Timestamp>,
}

struct InFlight {
    key: TargetKey,
    target: Arc<dyn PushTarget>,
    service: ServiceKey,
    clusters: Vec<ClusterName>,
    deadline: Timestamp,
    attempts: u32,
    /// The drains this push clears once acked.
    clears: Vec<DrainId>,
}

/// A push delivered on the spot that drains count once the client took it.
pub(super) struct Taking {
    pub(super) taken: crate::protocol::Taken,
    pub(super) clears: Arc<[DrainId]>,
    pub(super) sub: SubKey,
}

/// One subscription, as [`super::PushHub::subscribers`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberInfo {
    /// The target.
    pub target: TargetKey,
    /// The clusters it asked for (empty: all).
    pub clusters: Vec<ClusterName>,
    /// When it expires unless renewed.
    pub expires: Option<Timestamp>,
    /// What the target says of itself.
    pub details: TargetDetails,
}

/// The hub's state: see the module documentation of [`crate::front::push`].
pub(super) struct PushState {
    config: PushConfig,
    services: BTreeMap<ServiceKey, Watched>,
    count: usize,
    in_flight: HashMap<AckId, InFlight>,
    /// The push in flight per target, service and clusters: a newer push replaces it.
    latest: HashMap<(TargetKey, Shape), AckId>,
    failures: HashMap<TargetKey, u32>,
    /// Subscriptions per source address ([`PushTarget::source`]).
    by_source: HashMap<std::net::IpAddr, usize>,
    /// What is due when, in step with the maps above.
    schedule: Schedule,
    /// Drains waiting for acks (see `drain.rs`).
    drains: Drains,
    /// Pushes delivered on the spot that a drain counts once the client took them: the
    /// driver waits for each.
    taking: Vec<Taking>,
    stats: PushStats,
}

/// One subscription of `sub` is gone: its source's count goes down.
fn release(by_source: &mut HashMap<std::net::IpAddr, usize>, sub: &Sub) {
    if let Some(ip) = sub.target.source() {
        if let Some(n) = by_source.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                by_source.remove(&ip);
            }
        }
    }
}

impl std::fmt::Debug for PushState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushState")
            .field("services", &self.services.len())
            .field("subscriptions", &self.count)
            .field("in_flight", &self.in_flight.len())
            .field("stats", &self.stats)
            .finish()
    }
}

/// What changed in the set of watched services, for the driver to follow on the registry.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Watch {
    pub(crate) started: Option<ServiceKey>,
    pub(crate) stopped: Vec<ServiceKey>,
}

impl PushState {
    /// An empty hub state.
    pub(super) fn new(config: PushConfig) -> Self {
        Self {
            config,
            services: BTreeMap::new(),
            count: 0,
            in_flight: HashMap::new(),
            latest: HashMap::new(),
            failures: HashMap::new(),
            by_source: HashMap::new(),
            schedule: Schedule::default(),
            drains: Drains::default(),
            taking: Vec::new(),
            stats: PushStats::default(),
        }
    }

    /// The configuration.
    pub(super) fn config(&self) -> &PushConfig {
        &self.config
    }
    /// Counters.
    pub(super) fn stats(&self) -> PushStats {
        self.stats
    }
    /// Subscriptions in force.
    pub(super) fn subscription_count(&self) -> usize {
        self.count
    }
    /// Pushes waiting for their ack.
    #[cfg(test)]
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Subscribes `target` to `service` in `clusters`, or renews that subscription. A new one
    /// gets the current state at the next [`PushState::poll`]. Returns `false` when refused at
    /// [`PushConfig::max_subscriptions`].
    #[cfg(test)]
    pub(super) fn subscribe(
        &mut self,
        service: &ServiceKey,
        clusters: &[ClusterName],
        target: Arc<dyn PushTarget>,
        now: Timestamp,
    ) -> bool {
        self.subscribe_watch(service, clusters, target, now)
            .is_some()
    }

    pub(crate) fn subscribe_watch(
        &mut self,
        service: &ServiceKey,
        clusters: &[ClusterName],
        target: Arc<dyn PushTarget>,
        now: Timestamp,
    ) -> Option<Watch> {
        let expires = self.config.subscription_ttl.map(|ttl| now + ttl);
        let key = (target.key(), clusters.to_vec());
        let new_service = !self.services.contains_key(service);
        if let Some(sub) = self
            .services
            .get_mut(service)
            .and_then(|w| w.subs.get_mut(&key))
        {
            sub.target = target;
            if sub.expires != expires {
                if let Some(old) = sub.expires {
                    self.schedule.unexpire(old, service, &key);
                }
                if let Some(at) = expires {
                    self.schedule.expires(at, service, &key);
                }
                sub.expires = expires;
            }
            return Some(Watch::default());
        }
        if self.count >= self.config.max_subscriptions {
            self.stats.refused += 1;
            return None;
        }
        let source = target.source();
        if let Some(ip) = source {
            let held = self.by_source.entry(ip).or_default();
            if *held >= self.config.max_subscriptions_per_source {
                self.stats.refused += 1;
                return None;
            }
            *held += 1;
        }
        if let Some(at) = expires {
            self.schedule.expires(at, service, &key);
        }
        self.schedule.fresh(service);
        let watched = self.services.entry(service.clone()).or_default();
        watched.subs.insert(
            key,
            Sub {
                target,
                expires,
                fresh: true,
            },
        );
        self.count += 1;
        Some(Watch {
            started: new_service.then(|| service.clone()),
            stopped: Vec::new(),
        })
    }

    /// Cancels `target`'s subscription to `service` in `clusters`; returns whether it existed.
    #[cfg(test)]
    pub(super) fn unsubscribe(
        &mut self,
        service: &ServiceKey,
        clusters: &[ClusterName],
        target: &TargetKey,
    ) -> bool {
        self.unsubscribe_watch(service, clusters, target).0
    }

    pub(crate) fn unsubscribe_watch(
        &mut self,
        service: &ServiceKey,
        clusters: &[ClusterName],
        target: &TargetKey,
    ) -> (bool, Watch) {
        let mut watch = Watch::default();
        let Some(watched) = self.services.get_mut(service) else {
            return (false, watch);
        };
        let key = (target.clone(), clusters.to_vec());
        let removed = watched.subs.remove(&key);
        if let Some(sub) = &removed {
            release(&mut self.by_source, sub);
            if let Some(at) = sub.expires {
                self.schedule.unexpire(at, service, &key);
            }
            self.drains.gone(service, &key);
        }
        let found = removed.is_some();
        if found {
            self.count -= 1;
            if watched.subs.is_empty() {
                if let Some(at) = watched.due {
                    self.schedule.push_done(service, at);
                }
                self.services.remove(service);
                watch.stopped.push(service.clone());
            }
        }
        (found, watch)
    }

    /// Drops `target` with every subscription it holds; returns the services nobody watches
    /// any more.
    pub(crate) fn remove_target(&mut self, target: &TargetKey) -> Vec<ServiceKey> {
        let mut stopped = Vec::new();
        let mut removed = 0;
        let by_source = &mut self.by_source;
        let schedule = &mut self.schedule;
        self.services.retain(|service, watched| {
            let before = watched.subs.len();
            watched.subs.retain(|key, sub| {
                let keep = key.0 != *target;
                if !keep {
                    release(by_source, sub);
                    if let Some(at) = sub.expires {
                        schedule.unexpire(at, service, key);
                    }
                }
                keep
            });
            removed += before - watched.subs.len();
            if watched.subs.is_empty() {
                if let Some(at) = watched.due {
                    schedule.push_done(service, at);
                }
                stopped.push(service.clone());
                false
            } else {
                true
            }
        });
        self.count -= removed;
        let gone: Vec<(AckId, Timestamp)> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.key == *target)
            .map(|(id, f)| (*id, f.deadline))
            .collect();
        for (id, deadline) in gone {
            self.in_flight.remove(&id);
            self.schedule.undeadline(deadline, id);
        }
        self.latest.retain(|(t, _), _| t != target);
        self.failures.remove(target);
        self.drains.target_gone(target);
        stopped
    }

    /// `service` changed at `now`: its push is due at the end of the merge window (a push
    /// already scheduled takes this change along). While a drain waits on the service, the
    /// push goes at once: someone is waiting to stop an instance, and merging saves nothing
    /// then.
    pub(super) fn changed(&mut self, service: &ServiceKey, now: Timestamp) {
        let draining = self.drains.waits_on(service);
        if let Some(watched) = self.services.get_mut(service) {
            let at = if draining {
                now
            } else {
                now + self.config.merge_window
            };
            match watched.due {
                Some(due) if due <= at => {}
                Some(due) => {
                    self.schedule.push_done(service, due);
                    watched.due = Some(at);
                    self.schedule.push_due(service, at);
                }
                None => {
                    watched.due = Some(at);
                    self.schedule.push_due(service, at);
                }
            }
        }
    }

    /// `target` acked push `ack`; returns whether that push was waiting.
    /// An ack id no push in flight has: random, so a sender forging a target's address cannot
    /// guess the ids of its pushes and ack what never arrived; below 2^53, so a JavaScript
    /// client reads it back exactly.
    fn fresh_ack(&self) -> AckId {
        loop {
            let id = AckId(fastrand::u64(1..(1 << 53)));
            if !self.in_flight.contains_key(&id) {
                return id;
            }
        }
    }

    pub(super) fn ack(&mut self, target: &TargetKey, ack: AckId) -> bool {
        match self.in_flight.get(&ack) {
            Some(f) if f.key == *target => {}
            _ => return false,
        }
        if let Some(f) = self.in_flight.remove(&ack) {
            self.schedule.undeadline(f.deadline, ack);
            let sub = (target.clone(), f.clusters);
            self.drains.acked(&f.clears, &sub);
            let (target, clusters) = sub;
            self.latest.remove(&(target, (f.service, clusters)));
        }
        self.failures.remove(target);
        self.stats.acked += 1;
        true
    }

    /// Begins a drain of `instance` of `service` (see `drain.rs`) at `now`: it waits for the
    /// subscriptions that can see the instance, and the service's push is scheduled, so a
    /// push without the instance follows even if the write changed nothing here. `None` when
    /// [`PushConfig::max_drains`] are in progress.
    pub(super) fn begin_drain(
        &mut self,
        service: &ServiceKey,
        instance: &InstanceKey,
        now: Timestamp,
    ) -> Option<DrainId> {
        if self.drains.len() >= self.config.max_drains {
            return None;
        }
        let waiting = self
            .services
            .get(service)
            .map_or_else(Default::default, |w| {
                w.subs
                    .keys()
                    .filter(|(_, clusters)| {
                        clusters.is_empty() || clusters.contains(&instance.cluster)
                    })
                    .cloned()
                    .collect()
            });
        let id = self.drains.begin(service, instance, waiting);
        self.changed(service, now);
        Some(id)
    }

    /// Whether drain `id` waits for nobody any more.
    pub(super) fn drain_settled(&self, id: DrainId) -> bool {
        self.drains.settled(id)
    }

    /// Ends drain `id`: what it came to, and what each subscription still waited for says of
    /// itself.
    pub(super) fn finish_drain(&mut self, id: DrainId) -> (DrainOutcome, Vec<TargetDetails>) {
        let outcome = self.drains.finish(id);
        let subs = outcome
            .service
            .as_ref()
            .and_then(|service| self.services.get(service));
        let details = outcome
            .waiting
            .iter()
            .take(crate::protocol::DRAIN_PENDING_LISTED)
            .map(|key| {
                subs.and_then(|w| w.subs.get(key)).map_or_else(
                    || TargetDetails {
                        addr: key.0.to_string(),
                        ..TargetDetails::default()
                    },
                    |sub| sub.target.describe(),
                )
            })
            .collect();
        (outcome, details)
    }

    /// The pushes drains count once taken, for the driver to wait on.
    pub(super) fn take_taking(&mut self) -> Vec<Taking> {
        std::mem::take(&mut self.taking)
    }

    /// Subscription `sub` took a push that clears `drains`.
    pub(super) fn drain_taken(&mut self, drains: &[DrainId], sub: &SubKey) {
        self.drains.acked(drains, sub);
    }

    /// Whether any of `drains` is still in progress.
    pub(super) fn drains_pending(&self, drains: &[DrainId]) -> bool {
        self.drains.any_pending(drains)
    }

    /// Whether a drain made progress since the last call.
    pub(super) fn take_drain_progress(&mut self) -> bool {
        self.drains.take_progress()
    }

    /// When [`PushState::poll`] has something to do next, if ever.
    pub(super) fn next_wakeup(&self) -> Option<Timestamp> {
        self.schedule.next()
    }

    /// [`PushState::next_wakeup`] the slow way, from the maps themselves: what the schedule
    /// must agree with.
    #[cfg(test)]
    pub(super) fn next_wakeup_by_walking(&self) -> Option<Timestamp> {
        let due = self.services.values().filter_map(|w| w.due);
        let expiries = self
            .services
            .values()
            .flat_map(|w| w.subs.values().filter_map(|s| s.expires));
        let deadlines = self.in_flight.values().map(|f| f.deadline);
        due.chain(expiries).chain(deadlines).min()
    }

    /// Does what is due at `now`: expires subscriptions, sends due pushes (fresh subscribers
    /// included), resends unacked ones past their deadline, and drops targets that keep
    /// failing. `answer` makes the data for a service and clusters (it is asked once per shape
    /// and round). Returns the services nobody watches any more.
    pub(super) fn poll(
        &mut self,
        now: Timestamp,
        mut answer: impl FnMut(&ServiceKey, &[ClusterName]) -> ServiceInfo,
    ) -> Vec<ServiceKey> {
        let mut stopped = self.expire(now);
        // One answer per shape and round, shared by every target of that shape.
        let mut answers: HashMap<Shape, Arc<ServiceInfo>> = HashMap::new();
        let mut info = |service: &ServiceKey, clusters: &[ClusterName]| -> Arc<ServiceInfo> {
            answers
                .entry((service.clone(), clusters.to_vec()))
                .or_insert_with(|| Arc::new(answer(service, clusters)))
                .clone()
        };
        // With it, while drains are in progress, the drains it clears (see `drain.rs`).
        let mut clearing: HashMap<Shape, Arc<[DrainId]>> = HashMap::new();
        let mut sends: Vec<Due> = Vec::new();
        // The services whose merged push is due: every subscriber; then the fresh ones.
        let due = self.schedule.take_due(now);
        let fresh = self.schedule.take_fresh();
        for (service, all) in due
            .into_iter()
            .map(|s| (s, true))
            .chain(fresh.into_iter().map(|s| (s, false)))
        {
            let Some(watched) = self.services.get_mut(&service) else {
                continue;
            };
            if all {
                watched.due = None;
            }
            for ((key, clusters), sub) in &mut watched.subs {
                if all || sub.fresh {
                    sub.fresh = false;
                    let target = sub.target.clone();
                    sends.push((key.clone(), target, service.clone(), clusters.clone(), 0));
                }
            }
        }
        let overdue = self.schedule.take_overdue(now);
        let mut failed_targets = Vec::new();
        for id in overdue {
            let Some(f) = self.in_flight.remove(&id) else {
                continue;
            };
            let key = f.key;
            self.latest
                .remove(&(key.clone(), (f.service.clone(), f.clusters.clone())));
            if f.attempts <= self.config.retries {
                self.stats.retried += 1;
                sends.push((key, f.target, f.service, f.clusters, f.attempts));
            } else {
                self.stats.failed += 1;
                failed_targets.push(key);
            }
        }
        // Targets dropped in this round get none of their remaining pushes.
        let mut dropped: HashSet<TargetKey> = HashSet::new();
        for (key, target, service, clusters, attempts) in sends {
            if dropped.contains(&key) {
                continue;
            }
            let data = info(&service, &clusters);
            let clears: Arc<[DrainId]> = if self.drains.len() == 0 {
                Arc::from([])
            } else {
                clearing
                    .entry((service.clone(), clusters.clone()))
                    .or_insert_with(|| self.drains.cleared_by(&service, &data).into())
                    .clone()
            };
            let ack = self.fresh_ack();
            self.stats.pushes += 1;
            let (result, taken) = if clears.is_empty() {
                (target.push(&data, ack), None)
            } else {
                target.push_taking(&data, ack)
            };
            match result {
                PushResult::Delivered => {
                    self.stats.acked += 1;
                    self.failures.remove(&key);
                    if !clears.is_empty() {
                        let sub = (key, clusters);
                        match taken {
                            Some(taken) => self.taking.push(Taking { taken, clears, sub }),
                            None => self.drains.acked(&clears, &sub),
                        }
                    }
                }
                PushResult::AwaitingAck => {
                    let shape = (service.clone(), clusters.clone());
                    let mut deadline = now + self.config.ack_timeout;
                    let mut attempts = attempts + 1;
                    if let Some(old) = self.latest.insert((key.clone(), shape), ack) {
                        // A newer push replaces one still waiting for its ack; the wait goes
                        // on from the older one's deadline and count, so a target that never
                        // acks fails under a stream of changes as surely as under one.
                        if let Some(older) = self.in_flight.remove(&old) {
                            self.schedule.undeadline(older.deadline, old);
                            deadline = deadline.min(older.deadline);
                            attempts = attempts.max(older.attempts);
                        }
                    }
                    self.schedule.deadline(deadline, ack);
                    self.in_flight.insert(
                        ack,
                        InFlight {
                            key,
                            target,
                            service,
                            clusters,
                            deadline,
                            attempts,
                            clears: clears.to_vec(),
                        },
                    );
                }
                PushResult::Closed => {
                    self.stats.targets_dropped += 1;
                    stopped.extend(self.remove_target(&key));
                    dropped.insert(key);
                }
                PushResult::Failed(_) => {
                    self.stats.failed += 1;
                    failed_targets.push(key);
                }
            }
        }
        for key in failed_targets {
            let n = self.failures.entry(key.clone()).or_insert(0);
            *n += 1;
            if *n >= self.config.max_failures {
                self.stats.targets_dropped += 1;
                if let Some(target) = self.target(&key) {
                    target.dropped();
                }
                stopped.extend(self.remove_target(&key));
            }
        }
        stopped
    }

    fn target(&self, key: &TargetKey) -> Option<Arc<dyn PushTarget>> {
        self.services
            .values()
            .flat_map(|w| w.subs.iter())
            .find(|((t, _), _)| t == key)
            .map(|(_, sub)| sub.target.clone())
    }

    fn expire(&mut self, now: Timestamp) -> Vec<ServiceKey> {
        let mut stopped = Vec::new();
        let mut expired = 0;
        for (at, service, key) in self.schedule.take_expired(now) {
            let Some(watched) = self.services.get_mut(&service) else {
                continue;
            };
            // Renewed since (its expiry moved), or gone: nothing to do.
            if watched.subs.get(&key).is_none_or(|s| s.expires != Some(at)) {
                continue;
            }
            if let Some(sub) = watched.subs.remove(&key) {
                release(&mut self.by_source, &sub);
                self.drains.gone(&service, &key);
                expired += 1;
            }
            if watched.subs.is_empty() {
                if let Some(due) = watched.due {
                    self.schedule.push_done(&service, due);
                }
                self.services.remove(&service);
                stopped.push(service);
            }
        }
        self.count -= expired;
        self.stats.expired += expired as u64;
        stopped
    }

    /// The subscriptions to `service`.
    pub(super) fn subscribers(&self, service: &ServiceKey) -> Vec<SubscriberInfo> {
        self.services.get(service).map_or_else(Vec::new, |w| {
            w.subs
                .iter()
                .map(|((target, clusters), sub)| SubscriberInfo {
                    target: target.clone(),
                    clusters: clusters.clone(),
                    expires: sub.expires,
                    details: sub.target.describe(),
                })
                .collect()
        })
    }

    /// Whether anyone watches `service`.
    pub(super) fn is_watched(&self, service: &ServiceKey) -> bool {
        self.services.contains_key(service)
    }
}

//! [`Drains`]: the drains a push hub is waiting on, kept beside [`super::state::PushState`].
//!
//! A drain names an instance of a service. When it begins, it takes the service's
//! subscriptions that can see the instance (subscribed to its cluster, or to every cluster) as
//! the ones to wait for; a subscription joining later is sent the current state as a fresh
//! subscriber and is not waited for. A push *clears* a drain when its data does not list the
//! instance (deregistered, or disabled: answers list enabled instances only); the drain counts
//! a subscription as acked when it takes such a push — on the spot
//! ([`super::PushResult::Delivered`]) or by its ack. A push that still lists the instance
//! (built before the write, or on a member the write has not reached yet) clears nothing, so a
//! drain can never be satisfied by stale data. A subscription that goes away while waited for
//! counts as gone: it cannot be pushed any more.
//!
//! Deciding by the data rather than by a revision makes the rule hold on a cluster member as
//! well, where the write is applied by the owner and reaches this member's registry a sync
//! round later: the drain waits for that round too.

use super::schedule::SubKey;
use super::target::TargetKey;
use crate::model::{InstanceKey, ServiceKey};
use crate::protocol::ServiceInfo;
use std::collections::{BTreeSet, HashMap};

/// Names one drain within a hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct DrainId(pub(crate) u64);

struct Pending {
    service: ServiceKey,
    instance: InstanceKey,
    subscribers: usize,
    waiting: BTreeSet<SubKey>,
    acked: usize,
    gone: usize,
}

/// What a drain came to: counts, and the subscriptions still waited for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DrainOutcome {
    pub(crate) service: Option<ServiceKey>,
    pub(crate) subscribers: usize,
    pub(crate) acked: usize,
    pub(crate) gone: usize,
    pub(crate) waiting: Vec<SubKey>,
}

/// See the module documentation.
#[derive(Default)]
pub(super) struct Drains {
    next: u64,
    pending: HashMap<DrainId, Pending>,
    /// Set when a drain made progress; the hub wakes its waiters and clears it.
    progressed: bool,
}

impl Drains {
    /// Drains in progress.
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Begins a drain of `instance` waiting for `waiting`.
    pub(super) fn begin(
        &mut self,
        service: &ServiceKey,
        instance: &InstanceKey,
        waiting: BTreeSet<SubKey>,
    ) -> DrainId {
        self.next += 1;
        let id = DrainId(self.next);
        self.pending.insert(
            id,
            Pending {
                service: service.clone(),
                instance: instance.clone(),
                subscribers: waiting.len(),
                waiting,
                acked: 0,
                gone: 0,
            },
        );
        id
    }

    /// Whether a drain of `service` is in progress.
    pub(super) fn waits_on(&self, service: &ServiceKey) -> bool {
        !self.pending.is_empty() && self.pending.values().any(|p| p.service == *service)
    }

    /// Whether drain `id` waits for nobody any more (or does not exist).
    pub(super) fn settled(&self, id: DrainId) -> bool {
        self.pending.get(&id).is_none_or(|p| p.waiting.is_empty())
    }

    /// Whether any of `drains` is still in progress.
    pub(super) fn any_pending(&self, drains: &[DrainId]) -> bool {
        drains.iter().any(|id| self.pending.contains_key(id))
    }

    /// Ends drain `id`, with what it came to (an end counts as progress: what waited on the
    /// drain learns it ended).
    pub(super) fn finish(&mut self, id: DrainId) -> DrainOutcome {
        let ended = self.pending.remove(&id);
        self.progressed |= ended.is_some();
        ended.map_or_else(DrainOutcome::default, |p| DrainOutcome {
            service: Some(p.service),
            subscribers: p.subscribers,
            acked: p.acked,
            gone: p.gone,
            waiting: p.waiting.into_iter().collect(),
        })
    }

    /// The drains of `service` that a push of `info` clears (it does not list their
    /// instance). Empty, without allocating, when no drain is in progress.
    pub(super) fn cleared_by(&self, service: &ServiceKey, info: &ServiceInfo) -> Vec<DrainId> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        self.pending
            .iter()
            .filter(|(_, p)| p.service == *service)
            .filter(|(_, p)| {
                !info.hosts.iter().any(|h| {
                    *h.endpoint() == p.instance.endpoint && *h.cluster() == p.instance.cluster
                })
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Subscription `sub` took a push that clears `drains`.
    pub(super) fn acked(&mut self, drains: &[DrainId], sub: &SubKey) {
        for id in drains {
            if let Some(p) = self.pending.get_mut(id) {
                if p.waiting.remove(sub) {
                    p.acked += 1;
                    self.progressed = true;
                }
            }
        }
    }

    /// Subscription `sub` of `service` went away.
    pub(super) fn gone(&mut self, service: &ServiceKey, sub: &SubKey) {
        for p in self.pending.values_mut() {
            if p.service == *service && p.waiting.remove(sub) {
                p.gone += 1;
                self.progressed = true;
            }
        }
    }

    /// Every subscription of `target` went away.
    pub(super) fn target_gone(&mut self, target: &TargetKey) {
        for p in self.pending.values_mut() {
            let before = p.waiting.len();
            p.waiting.retain(|(t, _)| t != target);
            let gone = before - p.waiting.len();
            if gone > 0 {
                p.gone += gone;
                self.progressed = true;
            }
        }
    }

    /// Whether a drain made progress since the last call.
    pub(super) fn take_progress(&mut self) -> bool {
        std::mem::take(&mut self.progressed)
    }
}

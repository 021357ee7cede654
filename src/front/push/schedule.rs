//! [`Schedule`]: what [`super::state::PushState`] has to do and when, kept in ordered
//! indexes beside its maps, so that a wake-up costs the work that is due, not a walk over
//! every subscription. Before, each poll walked every service and subscription (to find the
//! due pushes and the fresh subscribers, and again to expire), and each wake-up computation
//! walked them all a third time, under the hub's lock: with 100 000 subscriptions that was
//! most of a push round.
//!
//! Each index mirrors one field of the state, and the state keeps them in step: a service's
//! merged push (`due`), a service with subscribers that have not had their first push
//! (`fresh`), a subscription's expiry (`expiries`), a push's ack deadline (`deadlines`).

use super::target::{AckId, TargetKey};
use crate::clock::Timestamp;
use crate::model::{ClusterName, ServiceKey};
use std::collections::BTreeSet;

/// A subscription's key within its service: target and clusters.
pub(super) type SubKey = (TargetKey, Vec<ClusterName>);

/// See the module documentation.
#[derive(Debug, Default)]
pub(super) struct Schedule {
    due: BTreeSet<(Timestamp, ServiceKey)>,
    fresh: BTreeSet<ServiceKey>,
    expiries: BTreeSet<(Timestamp, ServiceKey, SubKey)>,
    deadlines: BTreeSet<(Timestamp, AckId)>,
}

/// Takes every entry of `set` at or before `now`, in order.
fn take_until<T: Ord + Clone>(set: &mut BTreeSet<T>, due: impl Fn(&T) -> bool) -> Vec<T> {
    let mut out = Vec::new();
    while let Some(first) = set.first() {
        if !due(first) {
            break;
        }
        if let Some(first) = set.pop_first() {
            out.push(first);
        }
    }
    out
}

impl Schedule {
    /// `service`'s merged push is due at `at`.
    pub(super) fn push_due(&mut self, service: &ServiceKey, at: Timestamp) {
        self.due.insert((at, service.clone()));
    }
    /// `service`'s merged push due at `at` is no longer scheduled.
    pub(super) fn push_done(&mut self, service: &ServiceKey, at: Timestamp) {
        self.due.remove(&(at, service.clone()));
    }
    /// The services whose merged push is due at `now`, taken off the schedule.
    pub(super) fn take_due(&mut self, now: Timestamp) -> Vec<ServiceKey> {
        take_until(&mut self.due, |(t, _)| *t <= now)
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    }

    /// `service` has a subscriber waiting for its first push.
    pub(super) fn fresh(&mut self, service: &ServiceKey) {
        self.fresh.insert(service.clone());
    }
    /// The services with fresh subscribers, taken off the schedule.
    pub(super) fn take_fresh(&mut self) -> Vec<ServiceKey> {
        std::mem::take(&mut self.fresh).into_iter().collect()
    }

    /// A subscription expires at `at`.
    pub(super) fn expires(&mut self, at: Timestamp, service: &ServiceKey, sub: &SubKey) {
        self.expiries.insert((at, service.clone(), sub.clone()));
    }
    /// A subscription's expiry at `at` no longer holds (renewed or gone).
    pub(super) fn unexpire(&mut self, at: Timestamp, service: &ServiceKey, sub: &SubKey) {
        self.expiries.remove(&(at, service.clone(), sub.clone()));
    }
    /// The subscriptions expiring at `now`, taken off the schedule.
    pub(super) fn take_expired(&mut self, now: Timestamp) -> Vec<(Timestamp, ServiceKey, SubKey)> {
        take_until(&mut self.expiries, |(t, _, _)| *t <= now)
    }

    /// Push `ack` waits for its ack until `at`.
    pub(super) fn deadline(&mut self, at: Timestamp, ack: AckId) {
        self.deadlines.insert((at, ack));
    }
    /// Push `ack`, waiting until `at`, waits no more.
    pub(super) fn undeadline(&mut self, at: Timestamp, ack: AckId) {
        self.deadlines.remove(&(at, ack));
    }
    /// The pushes whose ack deadline has passed at `now`, taken off the schedule.
    pub(super) fn take_overdue(&mut self, now: Timestamp) -> Vec<AckId> {
        take_until(&mut self.deadlines, |(t, _)| *t <= now)
            .into_iter()
            .map(|(_, id)| id)
            .collect()
    }

    /// When something is next due (fresh subscribers aside: whoever adds one wakes the hub).
    pub(super) fn next(&self) -> Option<Timestamp> {
        [
            self.due.first().map(|(t, _)| *t),
            self.expiries.first().map(|(t, _, _)| *t),
            self.deadlines.first().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

//! Drains over the registry's own listeners: the in-process subscribers a
//! [`crate::front::drain`] waits for beside the push hubs' (see there for the rule).
//!
//! A listener counts as having taken the change when its [`EventListener`] has *returned*
//! from an event whose instance list shows the instance nowhere enabled (deregistered, or
//! disabled: events list disabled instances too, as disabled). One that never saw the instance
//! (its last event lacks it, nothing pending) counts at once. One that unsubscribes is gone.
//!
//! [`EventListener`]: super::EventListener

use super::event::SubscriptionId;
use crate::model::{InstanceKey, ServiceKey};
use crate::store::InstancesView;
use std::collections::{BTreeSet, HashMap};

/// Names one listener drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerDrainId(pub(crate) u64);

/// What a listener drain came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerDrainOutcome {
    /// Listeners that could see the instance when the drain began.
    pub subscribers: usize,
    /// Those that were handed (and returned from) an event without it.
    pub acked: usize,
    /// Those that unsubscribed first.
    pub gone: usize,
    /// Those still waited for.
    pub pending: Vec<SubscriptionId>,
}

struct Pending {
    service: ServiceKey,
    instance: InstanceKey,
    subscribers: usize,
    waiting: BTreeSet<SubscriptionId>,
    acked: usize,
    gone: usize,
}

/// Whether `view` lists `instance` enabled.
pub(crate) fn shows(view: &InstancesView, instance: &InstanceKey) -> bool {
    view.iter().any(|i| {
        i.enabled() && *i.endpoint() == instance.endpoint && *i.cluster() == instance.cluster
    })
}

/// The drains in progress, kept by the dispatcher.
#[derive(Default)]
pub(crate) struct ListenerDrains {
    next: u64,
    pending: HashMap<ListenerDrainId, Pending>,
}

impl ListenerDrains {
    /// Drains in progress.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Begins a drain of `instance` waiting for `waiting`; `already` had nothing to take.
    pub(crate) fn begin(
        &mut self,
        service: &ServiceKey,
        instance: &InstanceKey,
        waiting: BTreeSet<SubscriptionId>,
        already: usize,
    ) -> ListenerDrainId {
        self.next += 1;
        let id = ListenerDrainId(self.next);
        self.pending.insert(
            id,
            Pending {
                service: service.clone(),
                instance: instance.clone(),
                subscribers: waiting.len() + already,
                waiting,
                acked: already,
                gone: 0,
            },
        );
        id
    }

    /// Whether drain `id` waits for nobody (or does not exist).
    pub(crate) fn settled(&self, id: ListenerDrainId) -> bool {
        self.pending.get(&id).is_none_or(|p| p.waiting.is_empty())
    }

    /// Ends drain `id`.
    pub(crate) fn finish(&mut self, id: ListenerDrainId) -> ListenerDrainOutcome {
        self.pending
            .remove(&id)
            .map_or_else(ListenerDrainOutcome::default, |p| ListenerDrainOutcome {
                subscribers: p.subscribers,
                acked: p.acked,
                gone: p.gone,
                pending: p.waiting.into_iter().collect(),
            })
    }

    /// Listener `sub` of `service` returned from an event showing `view`. Returns whether a
    /// drain made progress.
    pub(crate) fn delivered(
        &mut self,
        sub: SubscriptionId,
        service: &ServiceKey,
        view: &InstancesView,
    ) -> bool {
        let mut progress = false;
        for p in self.pending.values_mut() {
            if p.service == *service && p.waiting.contains(&sub) && !shows(view, &p.instance) {
                p.waiting.remove(&sub);
                p.acked += 1;
                progress = true;
            }
        }
        progress
    }

    /// Listener `sub` unsubscribed. Returns whether a drain made progress.
    pub(crate) fn gone(&mut self, sub: SubscriptionId) -> bool {
        let mut progress = false;
        for p in self.pending.values_mut() {
            if p.waiting.remove(&sub) {
                p.gone += 1;
                progress = true;
            }
        }
        progress
    }
}

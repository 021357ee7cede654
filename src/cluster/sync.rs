//! [`SyncQueue`]: what one peer still has to be told, batched, delayed and retried.
//!
//! Pure state: it holds *which* instances changed, not their data. The data is read from the
//! current snapshot when a batch goes out, so a retry always carries the newest version and an
//! older change is superseded for free. A change waits [`DistroConfig::sync_delay`] so others
//! can join it, unless [`DistroConfig::batch_count`] changes are already waiting; a failed batch
//! goes back into the queue and waits [`DistroConfig::retry_delay`].
//!
//! The queue is bounded by [`DistroConfig::max_pending_per_peer`]: the core checks it at every
//! poll and, past the bound, drops what waits ([`SyncQueue::drop_pending`]); the periodic
//! verify and fetch then repair the peer's copy.

use super::config::DistroConfig;
use crate::clock::Timestamp;
use crate::model::{InstanceKey, ServiceKey};
use std::collections::{BTreeMap, BTreeSet};

/// The changes of one service waiting for one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PendingService {
    /// Changed instances.
    pub keys: BTreeSet<InstanceKey>,
    /// Whether the service-level state changed.
    pub meta: bool,
    /// Whether to send the whole service (all instances and tombstones).
    pub full: bool,
}

impl PendingService {
    fn weight(&self) -> usize {
        self.keys.len().max(1)
    }
    fn absorb(&mut self, other: PendingService) {
        self.keys.extend(other.keys);
        self.meta |= other.meta;
        self.full |= other.full;
    }
}

/// One batch taken from a [`SyncQueue`].
pub(crate) type Batch = Vec<(ServiceKey, PendingService)>;

/// The changes waiting for one peer.
#[derive(Debug, Clone, Default)]
pub(crate) struct SyncQueue {
    pending: BTreeMap<ServiceKey, PendingService>,
    weight: usize,
    first_at: Option<Timestamp>,
    retry_at: Option<Timestamp>,
    in_flight: bool,
}

impl SyncQueue {
    /// Queues changes.
    pub(crate) fn add(&mut self, service: ServiceKey, change: PendingService, now: Timestamp) {
        // A service not waiting yet weighs nothing (an empty slot would weigh one).
        let before = self.pending.get(&service).map_or(0, PendingService::weight);
        let slot = self.pending.entry(service).or_default();
        self.weight -= before.min(self.weight);
        let was_empty = slot.keys.is_empty() && !slot.meta && !slot.full;
        slot.absorb(change);
        self.weight += slot.weight();
        if was_empty && self.first_at.is_none() {
            self.first_at = Some(now);
        }
    }

    /// Whether nothing waits.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Number of changed instances waiting (a service-level change counts as one).
    pub(crate) fn len(&self) -> usize {
        self.weight
    }

    /// Whether a batch is out and not yet answered.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// When the next batch may go out, if anything waits and nothing is in flight.
    pub(crate) fn due_at(&self, config: &DistroConfig) -> Option<Timestamp> {
        if self.in_flight || self.pending.is_empty() {
            return None;
        }
        let first = self.first_at?;
        let ready = if self.weight >= config.batch_count {
            first
        } else {
            first + config.sync_delay
        };
        Some(self.retry_at.map_or(ready, |r| r.max(ready)))
    }

    /// Takes the next batch (at most `batch_count` instances) if it is due at `now`.
    pub(crate) fn take(&mut self, now: Timestamp, config: &DistroConfig) -> Option<Batch> {
        if self.due_at(config)? > now {
            return None;
        }
        let mut batch = Vec::new();
        let mut room = config.batch_count.max(1);
        while room > 0 {
            let Some(mut entry) = self.pending.first_entry() else {
                break;
            };
            let slot = entry.get_mut();
            if slot.weight() <= room {
                room -= slot.weight();
                self.weight -= slot.weight().min(self.weight);
                let (k, v) = entry.remove_entry();
                batch.push((k, v));
            } else {
                // Split a large service across batches.
                let mut part = PendingService::default();
                while room > 0 {
                    let Some(k) = slot.keys.pop_first() else {
                        break;
                    };
                    part.keys.insert(k);
                    room -= 1;
                    self.weight -= 1.min(self.weight);
                }
                batch.push((entry.key().clone(), part));
            }
        }
        if self.pending.is_empty() {
            self.first_at = None;
        }
        self.in_flight = true;
        Some(batch)
    }

    /// Whether more than [`DistroConfig::max_pending_per_peer`] changed instances wait.
    pub(crate) fn over_bound(&self, config: &DistroConfig) -> bool {
        self.weight > config.max_pending_per_peer
    }

    /// Forgets every change that waits (not the batch in flight, whose answer is still
    /// expected) and returns how many changed instances that was.
    pub(crate) fn drop_pending(&mut self) -> usize {
        let dropped = self.weight;
        self.pending.clear();
        self.weight = 0;
        self.first_at = None;
        self.retry_at = None;
        dropped
    }

    /// The batch out was applied by the peer.
    pub(crate) fn ack(&mut self) {
        self.in_flight = false;
        self.retry_at = None;
    }

    /// The batch out failed: it goes back into the queue and waits `retry_delay`.
    pub(crate) fn fail(&mut self, batch: Batch, now: Timestamp, config: &DistroConfig) {
        self.in_flight = false;
        for (service, change) in batch {
            self.add(service, change, now);
        }
        if self.first_at.is_none() && !self.pending.is_empty() {
            self.first_at = Some(now);
        }
        self.retry_at = Some(now + config.retry_delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn change(n: u16) -> PendingService {
        PendingService {
            keys: (1..=n)
                .map(|p| InstanceKey::in_default_cluster("10.0.0.1", p).unwrap())
                .collect(),
            meta: false,
            full: false,
        }
    }

    fn key(s: &str) -> ServiceKey {
        ServiceKey::named(s).unwrap()
    }

    #[test]
    fn a_change_waits_the_sync_delay() {
        let cfg = DistroConfig::default();
        let t0 = Timestamp::from_millis(10_000);
        let mut q = SyncQueue::default();
        q.add(key("a"), change(1), t0);
        assert_eq!(q.due_at(&cfg), Some(t0 + Duration::from_secs(1)));
        assert!(q.take(t0 + Duration::from_millis(999), &cfg).is_none());
        let b = q.take(t0 + Duration::from_secs(1), &cfg).unwrap();
        assert_eq!(b.len(), 1);
        assert!(q.in_flight() && q.due_at(&cfg).is_none());
    }

    #[test]
    fn a_full_batch_goes_at_once_and_large_services_are_split() {
        let cfg = DistroConfig {
            batch_count: 10,
            ..DistroConfig::default()
        };
        let t0 = Timestamp::from_millis(0);
        let mut q = SyncQueue::default();
        q.add(key("a"), change(25), t0);
        assert_eq!(q.due_at(&cfg), Some(t0));
        let b1 = q.take(t0, &cfg).unwrap();
        assert_eq!(b1[0].1.keys.len(), 10);
        q.ack();
        let b2 = q.take(t0, &cfg).unwrap();
        assert_eq!(b2[0].1.keys.len(), 10);
        q.ack();
        // 5 left: below the batch count, so they wait for the delay again.
        assert_eq!(q.len(), 5);
        assert_eq!(q.due_at(&cfg), Some(t0 + cfg.sync_delay));
    }

    #[test]
    fn len_counts_the_changed_instances_of_every_service() {
        let t0 = Timestamp::from_millis(0);
        let mut q = SyncQueue::default();
        q.add(key("a"), change(1), t0);
        q.add(key("b"), change(1), t0);
        q.add(key("c"), change(3), t0);
        assert_eq!(q.len(), 5);
        q.add(key("c"), change(4), t0);
        assert_eq!(q.len(), 6, "the same instances are not counted twice");
    }

    #[test]
    fn a_queue_past_its_bound_can_be_dropped_whole() {
        let cfg = DistroConfig {
            max_pending_per_peer: 10,
            ..DistroConfig::default()
        };
        let t0 = Timestamp::from_millis(0);
        let mut q = SyncQueue::default();
        q.add(key("a"), change(6), t0);
        q.add(key("b"), change(4), t0);
        assert!(!q.over_bound(&cfg), "at the bound is not past it");
        q.add(key("c"), change(1), t0);
        assert!(q.over_bound(&cfg));
        assert_eq!(q.drop_pending(), 11);
        assert!(q.is_empty());
        assert_eq!(q.len(), 0);
        assert_eq!(q.due_at(&cfg), None);
        q.add(key("d"), change(1), t0);
        assert_eq!(q.due_at(&cfg), Some(t0 + cfg.sync_delay));
    }

    #[test]
    fn a_failed_batch_is_retried_after_the_retry_delay_merged_with_newer_changes() {
        let cfg = DistroConfig::default();
        let t0 = Timestamp::from_millis(0);
        let mut q = SyncQueue::default();
        q.add(key("a"), change(2), t0);
        let b = q.take(t0 + cfg.sync_delay, &cfg).unwrap();
        let t1 = t0 + Duration::from_secs(2);
        q.add(key("a"), change(3), t1);
        q.fail(b, t1, &cfg);
        assert_eq!(q.len(), 3, "the same instances are not counted twice");
        assert_eq!(q.due_at(&cfg), Some(t1 + cfg.retry_delay));
        let again = q.take(t1 + cfg.retry_delay, &cfg).unwrap();
        assert_eq!(again[0].1.keys.len(), 3);
        q.ack();
        assert!(q.is_empty());
    }
}

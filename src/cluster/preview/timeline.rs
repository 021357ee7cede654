//! The failure preview's timeline: when survivors notice a stop ([`detect`]), and when the
//! verdicts of an instance whose beats stop fall due ([`Judging::fate`]), as the old and the
//! new owner's sweeps give them (see the module documentation of `preview.rs`).

use super::answer::{At, Detection, Fate, PredictedEvent};
use super::PreviewBasis;
use crate::clock::Timestamp;
use crate::cluster::NodeId;
use crate::health::BeatTimeouts;
use std::collections::BTreeMap;
use std::time::Duration;

pub(super) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// At most `limit` entries, keeping the smallest keys.
pub(super) struct Top<K, V> {
    limit: usize,
    entries: BTreeMap<K, V>,
}

impl<K: Ord, V> Top<K, V> {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            limit,
            entries: BTreeMap::new(),
        }
    }
    /// Whether an entry of `key` would be kept.
    pub(super) fn admits(&self, key: &K) -> bool {
        self.limit > 0
            && (self.entries.len() < self.limit
                || self.entries.last_key_value().is_some_and(|(k, _)| key < k))
    }
    pub(super) fn insert(&mut self, key: K, value: V) {
        self.entries.insert(key, value);
        if self.entries.len() > self.limit {
            self.entries.pop_last();
        }
    }
    pub(super) fn into_values(self) -> Vec<V> {
        self.entries.into_values().collect()
    }
}

/// Who judges a service's instances, and when: the old owner until `old_until`, the new one
/// from `from`, counting no silence before it.
pub(super) struct Judging<'a> {
    pub(super) now: Timestamp,
    pub(super) old: &'a NodeId,
    pub(super) old_until: Timestamp,
    pub(super) new: &'a NodeId,
    pub(super) from: Timestamp,
}

impl Judging<'_> {
    /// The verdicts for an instance last heard at `last`, if no beat comes again.
    pub(super) fn fate(&self, last: Timestamp, healthy: bool, t: &BeatTimeouts) -> Fate {
        let marks = t.unhealthy_after < t.remove_after;
        let event = |at: Timestamp, by: &NodeId| PredictedEvent {
            at: At::of(at.max(self.now), self.now),
            by: by.clone(),
        };
        let mut unhealthy = None;
        let mut healthy = healthy;
        if self.old_until > self.now {
            if healthy && marks && last + t.unhealthy_after < self.old_until {
                unhealthy = Some(event(last + t.unhealthy_after, self.old));
                healthy = false;
            }
            if last + t.remove_after < self.old_until {
                let removed = event(last + t.remove_after, self.old);
                return Fate { unhealthy, removed };
            }
        }
        let base = last.max(self.from);
        if healthy && marks {
            unhealthy = Some(event(base + t.unhealthy_after, self.new));
        }
        let removed = event(base + t.remove_after, self.new);
        Fate { unhealthy, removed }
    }
}

/// When the survivors notice that `member` stopped at `now`.
pub(super) fn detect(
    basis: &PreviewBasis,
    member: &NodeId,
    now: Timestamp,
) -> (Detection, Timestamp) {
    let down = basis.peer_down_after;
    let ping = basis.ping_interval;
    let heard = basis.last_heard.get(member).map(|t| (*t).min(now));
    let expected = (heard.unwrap_or(now) + down).max(now);
    let earliest = expected.min(now + down.saturating_sub(ping)).max(now);
    let latest = now + down + ping;
    let detection = Detection {
        expected: At::of(expected, now),
        earliest: At::of(earliest, now),
        latest: At::of(latest, now),
        last_heard_ms_ago: heard.map(|h| ms(now.saturating_since(h))),
    };
    (detection, expected)
}

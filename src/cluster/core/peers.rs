//! Who is up and who owns what: pings, hearing from peers (and being refused by them),
//! rebuilding the [`DistroMapper`](crate::cluster::DistroMapper) with a grace period for
//! services this node takes over, and the health sweep over the services this node owns (and
//! only those), after which the tombstones past the retention are collected: those of
//! persistent data only once every peer has been up and serving for a whole retention
//! (`Membership::not_serving_for`) and has been heard from a whole retention after the
//! removal (`Membership::heard_from_all_at`; a peer that went silent is not yet down for
//! `peer_down_after`), because a peer that was not may still hold the removed data live on its
//! disk (see [`crate::store`], "Removals of persistent data"). A retention shorter than the
//! time a removal takes to reach a member that is up (`DistroConfig::removal_reach`, three
//! verify rounds and a retry) counts as that time here.
//!
//! The grace is a per-service time before which the sweep counts no silence
//! ([`crate::Registry::check_health_with_grace`]), not a beat given to every instance of a
//! service taken over: such an invented beat would outweigh evictions made by the previous
//! owner, and bring evicted instances back on every member.

use super::{DistroCore, Outgoing, Refusing, Sent};
use crate::clock::Timestamp;
use crate::cluster::message::PeerRequest;
use crate::cluster::node_id::NodeId;
use crate::health::next_sweep_at;
use std::sync::Arc;
use std::time::Duration;

/// A peer that keeps refusing this node is logged at `warn` at most this often (at `debug` in
/// between).
const REFUSAL_WARN_EVERY: Duration = Duration::from_secs(60);

impl DistroCore {
    /// Pings every peer once per `ping_interval`, unless a ping to it is still out; right after
    /// this node starts serving, pings every peer at once to say so, so peers put it in their
    /// owner tables without waiting for a ping round.
    pub(super) fn poll_pings(&mut self, out: &mut Vec<Outgoing>, peers: &[NodeId], now: Timestamp) {
        if now < self.next_ping && !self.announce {
            return;
        }
        let announce = std::mem::take(&mut self.announce);
        for p in peers {
            if announce || !self.in_flight(p, |s| matches!(s, Sent::Ping)) {
                let ready = self.is_ready();
                self.request(out, p, PeerRequest::Ping { ready }, Sent::Ping);
            }
        }
        self.next_ping = now + self.config.ping_interval;
    }

    /// `peer` answered this node with a refusal (it does not count this node as a member, or
    /// its cluster secret differs). Not contact: the peer goes down here if that is all it
    /// says. Logged at `warn` once, then at most every [`REFUSAL_WARN_EVERY`].
    pub(super) fn refused_by(&mut self, peer: &NodeId, reason: &str, now: Timestamp) {
        self.stats.rejections += 1;
        let me = self.me.clone();
        let entry = self.refusing.entry(peer.clone());
        let state = entry.or_insert(Refusing {
            count: 0,
            warned_at: Timestamp::ZERO,
        });
        state.count += 1;
        if state.count == 1 || now.saturating_since(state.warned_at) >= REFUSAL_WARN_EVERY {
            state.warned_at = now;
            tracing::warn!(
                %peer,
                refusals = state.count,
                reason,
                "peer refuses this node ({me}): check that every member lists every member, this one included, and that all share one cluster secret"
            );
        } else {
            tracing::debug!(%peer, refusals = state.count, reason, "peer refused this node again");
        }
    }

    /// `peer` answered with something other than a refusal.
    pub(super) fn accepted_by(&mut self, peer: &NodeId) {
        if let Some(state) = self.refusing.remove(peer) {
            tracing::info!(%peer, refusals = state.count, "peer accepts this node again");
        }
    }

    /// `peer` spoke at `now` (a request, or an answer); `ready` if it said whether it serves.
    pub(super) fn heard_from(&mut self, peer: &NodeId, ready: Option<bool>, now: Timestamp) {
        if self.membership.heard(peer, ready, now) {
            self.rebuild_mapper(now);
        }
    }

    /// Rebuilds the mapper from the membership, if it changed. Services that become this node's
    /// responsibility get a grace period.
    pub(super) fn rebuild_mapper(&mut self, now: Timestamp) {
        let ready = self.is_ready();
        let next = self.membership.mapper(ready);
        let before = self.routing.mapper.load_full();
        if *before == next {
            return;
        }
        // Services this node takes over: their last-beat times here may be stale, so their
        // sweep counts no silence before now. Services it no longer owns lose their grace.
        let store = self.registry.store();
        let mut grace = 0;
        store.for_each(|snap| {
            let key = snap.key();
            if next.is_owner(&self.me, key) && !before.is_owner(&self.me, key) {
                self.grace.insert(key.clone(), now);
                grace += 1;
            }
        });
        let me = &self.me;
        self.grace.retain(|k, _| next.is_owner(me, k));
        self.stats.grace_periods += grace;
        self.routing.mapper.store(Arc::new(next));
        // Judge newly owned services at once (instances that died with their old owner should
        // not wait for the next periodic sweep); the grace period above protects the rest.
        self.next_health = now;
    }

    /// Records how many removals of persistent data the last collection kept past the
    /// retention, and logs when keeping them for a missing member starts (`warn`, naming the
    /// members waited for) and when it ends (`info`). A removal kept only until the next
    /// contact with every member (a second or so) is counted, not logged.
    fn note_held(&mut self, held: usize, missing: &[NodeId], span: Duration) {
        self.stats.removals_held = held as u64;
        if held > 0 && !missing.is_empty() && !self.held_announced {
            self.held_announced = true;
            let waiting_for: Vec<String> = missing.iter().map(ToString::to_string).collect();
            tracing::warn!(
                held,
                waiting_for = %waiting_for.join(","),
                serving_for = ?span,
                "keeping removals of persistent data past the tombstone retention until every \
                 member has been serving for a whole retention (a member that was down may still \
                 hold them live on its disk); a member gone for good must be taken out of every \
                 member's list"
            );
        } else if held == 0 && self.held_announced {
            self.held_announced = false;
            tracing::info!(
                "every member has been up for a whole retention: removals of persistent data \
                 kept past it are collected"
            );
        }
    }

    /// Runs the health sweep over owned services when it is due.
    pub(super) fn poll_health(&mut self, now: Timestamp) {
        if now < self.next_health {
            return;
        }
        let mapper = self.routing.mapper();
        let me = self.me.clone();
        let grace = &self.grace;
        let retention = self.registry.health_config().tombstone_ttl;
        // A removal of persistent data has reached every peer once each has been serving for a
        // whole retention, and been heard from a whole retention after the removal; or for as
        // long as a removal takes to reach a member that is up, should the retention be
        // shorter.
        let span = retention.max(self.config.removal_reach());
        let missing = self.membership.not_serving_for(now, span);
        let durable_older_than = missing
            .is_empty()
            .then(|| self.membership.heard_from_all_at(now) - span);
        let (report, collected) = self.registry.sweep_and_collect(
            now,
            |k| {
                mapper
                    .is_owner(&me, k)
                    .then(|| grace.get(k).copied().unwrap_or(Timestamp::ZERO))
            },
            durable_older_than,
        );
        self.note_held(collected.held, &missing, span);
        // A grace older than the longest delete timeout an instance may ask for can no longer
        // change a verdict.
        let longest = (self.registry.limits().delete_timeout_range.max)
            .max(self.registry.health_config().delete_timeout);
        self.grace
            .retain(|_, since| now.saturating_since(*since) <= longest);
        let health = self.registry.health_config();
        self.next_health = next_sweep_at(
            now,
            report.next_due,
            health.min_sweep_gap,
            health.check_interval,
        );
        self.last_sweep = report;
        // The sweep's own changes are local writes: queue them now rather than next poll.
        self.collect_changes(now);
    }
}

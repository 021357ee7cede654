//! Replication: local changes go into one [`SyncQueue`](crate::cluster::SyncQueue) per peer
//! and out as [`PeerRequest::Sync`] batches built from the current data; incoming records are
//! checked against [`MergeRules`] (the registry's limits and
//! [`DistroConfig::max_clock_skew`](crate::cluster::DistroConfig::max_clock_skew)) and merged
//! into the store. A merge marks nothing as touched, so merged data is never sent on (no
//! echo); only what the local copy knows better is queued back to the sender.
//!
//! A queue past [`DistroConfig::max_pending_per_peer`](crate::cluster::DistroConfig::max_pending_per_peer)
//! is dropped at the next poll; verify and fetch repair the peer's copy.
//!
//! Logged (`tracing`): failed syncs at `debug` (the peer going down is what gets a `warn`),
//! dropped queues and refused records at `warn`, clamped beat times at `warn` once per peer
//! and at `debug` after that.

use super::{DistroCore, Outgoing, Sent};
use crate::clock::Timestamp;
use crate::cluster::message::{PeerRequest, PeerResponse};
use crate::cluster::node_id::NodeId;
use crate::cluster::sync::{Batch, PendingService};
use crate::cluster::transport::PeerError;
use crate::store::{MergeRules, ServiceRecord};
use std::collections::BTreeSet;

/// How records from a peer arrived, for [`DistroCore::merge_all`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Received {
    /// A sync batch: changed instances only.
    Sync,
    /// The answer to a verify fetch: whole services.
    Fetched,
    /// A snapshot chunk, while loading: whole services.
    Snapshot,
}

impl DistroCore {
    /// Moves the local changes published since the last call into every peer's queue.
    pub(super) fn collect_changes(&mut self, now: Timestamp) {
        while let Ok(snap) = self.changes.try_recv() {
            let change = PendingService {
                keys: snap.touched().iter().cloned().collect(),
                meta: snap.meta_touched(),
                full: false,
            };
            for q in self.queues.values_mut() {
                q.add(snap.key().clone(), change.clone(), now);
            }
        }
    }

    /// Drops every queue that grew past `max_pending_per_peer`.
    pub(super) fn bound_queues(&mut self) {
        for (peer, q) in &mut self.queues {
            if q.over_bound(&self.config) {
                let dropped = q.drop_pending();
                self.stats.queue_overflows += 1;
                tracing::warn!(
                    %peer,
                    dropped,
                    bound = self.config.max_pending_per_peer,
                    "sync queue overflowed and was dropped; verify and fetch will repair the peer's copy"
                );
            }
        }
    }

    /// Sends each peer that is up the batch its queue has due.
    pub(super) fn poll_sync(&mut self, out: &mut Vec<Outgoing>, peers: &[NodeId], now: Timestamp) {
        for p in peers {
            if !self.membership.is_up(p) {
                continue;
            }
            let Some(batch) = self
                .queues
                .get_mut(p)
                .and_then(|q| q.take(now, &self.config))
            else {
                continue;
            };
            let records = self.records_for(&batch);
            self.stats.syncs_sent += 1;
            let peer = self.peer_stats.entry(p.clone()).or_default();
            peer.batches += 1;
            peer.records += records.len() as u64;
            self.request(out, p, PeerRequest::Sync { records }, Sent::Sync(batch));
        }
    }

    fn records_for(&self, batch: &Batch) -> Vec<ServiceRecord> {
        let store = self.registry.store();
        batch
            .iter()
            .filter_map(|(service, change)| {
                let snap = store.load_any(service)?;
                Some(if change.full {
                    snap.to_record(None)
                } else {
                    let keys: Vec<_> = change.keys.iter().cloned().collect();
                    snap.to_record(Some(&keys))
                })
            })
            .collect()
    }

    /// The answer to a sync batch: an ack clears it; anything else puts it back, to be retried
    /// after `retry_delay`.
    pub(super) fn on_sync_answer(
        &mut self,
        peer: &NodeId,
        batch: Batch,
        result: Result<PeerResponse, PeerError>,
        now: Timestamp,
    ) {
        match result {
            Ok(PeerResponse::Ack) => {
                if let Some(q) = self.queues.get_mut(peer) {
                    q.ack();
                }
            }
            other => {
                self.stats.syncs_failed += 1;
                self.peer_stats.entry(peer.clone()).or_default().failures += 1;
                let why = match &other {
                    Ok(PeerResponse::Rejected(reason)) => format!("refused: {reason}"),
                    Ok(PeerResponse::NotReady) => "not serving yet".to_owned(),
                    Ok(_) => "an answer that is not an ack".to_owned(),
                    Err(e) => e.to_string(),
                };
                tracing::debug!(
                    %peer,
                    services = batch.len(),
                    retry_in = ?self.config.retry_delay,
                    why = crate::model::excerpt(&why),
                    "sync failed; retrying with the current data"
                );
                if let Some(q) = self.queues.get_mut(peer) {
                    q.fail(batch, now, &self.config);
                }
            }
        }
    }

    /// A peer's sync batch: merge it, and acknowledge.
    pub(super) fn answer_sync(
        &mut self,
        from: &NodeId,
        records: Vec<ServiceRecord>,
        now: Timestamp,
    ) -> PeerResponse {
        self.merge_all(from, records, Received::Sync, now);
        PeerResponse::Ack
    }

    /// Merges records from `from`, queueing back to it what the local copy knows better. A
    /// fetched or snapshot record holds the whole service, so what it does not mention is
    /// queued back too; a snapshot's removals this node knows nothing else of are taken as
    /// durable (see [`crate::store::Tombstone::durable`]): the sender may be keeping them for
    /// a member that was down.
    pub(super) fn merge_all(
        &mut self,
        from: &NodeId,
        records: Vec<ServiceRecord>,
        received: Received,
        now: Timestamp,
    ) {
        let full = received != Received::Sync;
        let store = self.registry.store();
        let rules = MergeRules {
            limits: *self.registry.limits(),
            max_skew: self.config.max_clock_skew,
        };
        let (mut refused, mut clamped) = (0usize, 0usize);
        let mut first_refusal = None;
        for record in records {
            let service = record.key.clone();
            let incoming: Option<BTreeSet<_>> =
                full.then(|| record.instances.iter().map(|r| r.key.clone()).collect());
            let outcome = match received {
                Received::Snapshot => store.merge_durable(record, &rules, now),
                Received::Sync | Received::Fetched => store.merge(record, &rules, now),
            };
            self.stats.records_applied += outcome.applied as u64;
            refused += outcome.refused.len();
            clamped += outcome.beats_clamped;
            if first_refusal.is_none() {
                first_refusal = outcome
                    .refused
                    .first()
                    .map(|r| format!("{service}: {}", r.reason));
            }
            let mut back = PendingService {
                keys: outcome.local_newer.into_iter().collect(),
                meta: outcome.meta_local_newer,
                full: false,
            };
            // In a full record, what the sender does not mention at all is news to it.
            if let (Some(incoming), Some(snap)) = (incoming, store.load_any(&service)) {
                for e in snap.entries() {
                    let k = e.instance().key();
                    if !incoming.contains(&k) {
                        back.keys.insert(k);
                    }
                }
            }
            if !back.keys.is_empty() || back.meta {
                if let Some(q) = self.queues.get_mut(from) {
                    q.add(service, back, now);
                }
            }
        }
        self.stats.records_refused += refused as u64;
        self.stats.beats_clamped += clamped as u64;
        if let Some(first) = first_refusal {
            tracing::warn!(
                peer = %from,
                refused,
                first = %first,
                "refused records from a peer; merged the rest"
            );
        }
        if clamped > 0 {
            let skew = self.config.max_clock_skew;
            if self.skew_warned.insert(from.clone()) {
                tracing::warn!(
                    peer = %from,
                    clamped,
                    max_skew = ?skew,
                    "peer sent beat times from too far ahead (is its clock fast?); clamped them to this node's clock plus the allowed skew"
                );
            } else {
                tracing::debug!(peer = %from, clamped, "clamped beat times from a peer");
            }
        }
    }
}

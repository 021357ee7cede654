//! The Loading phase: a starting node asks its peers in turn, in id order, for a full snapshot
//! and serves only once one gives it (`become_ready`).
//!
//! The snapshot comes in chunks. A [`PeerRequest::Snapshot`] carries a cursor, `after` (the
//! last service key received, `None` at first); the peer answers a [`PeerResponse::Chunk`] of
//! whole services in key order after it, about [`DistroConfig::snapshot_chunk_instances`]
//! instances, with `next`: the cursor for the next request, `None` on the last chunk. The
//! loading node merges each chunk as it arrives, asks the same peer for the next one at once,
//! and serves only after the last. A peer that fails mid-way counts as not answering (what it
//! sent stays merged); the next peer is asked from the start. So neither side builds or holds
//! the whole registry as one message, and the answering node's protocol lock is held for one
//! chunk at a time. Members must run the same version: an older node neither sends nor
//! understands the cursor.
//!
//! A chunk's removals that the loading node knows nothing else of are merged as durable
//! ([`crate::store::Tombstone::durable`]): the answering node may be keeping them for a member
//! that was down, and the loading node keeps them as long. What the loading node's own disk
//! holds was loaded before it asks (`Registry::attach_persistence`), so a stale disk copy
//! meets the peer's tombstones in the merge, before the node serves.
//!
//! The ready rule. Serving empty is legitimate only when a round proves there is nothing to
//! load: *every* peer answered that it is starting too (a fresh cluster, or every node
//! restarted). A peer that times out or cannot be reached may be the one that holds the data,
//! so a round where some say "starting" and others do not answer ends with a new round after
//! [`DistroConfig::retry_delay`], as does a round where nobody answers. Liveness: once loading
//! has lasted [`DistroConfig::empty_start_after`] (30 s by default), a round where some peer
//! said "starting" and the rest did not answer makes the node serve empty, with a warning, so
//! that a fresh cluster with one member down for good still starts. Also the other side:
//! answering a peer's [`PeerRequest::Snapshot`].
//!
//! In the fresh-cluster case the peers that said "starting" reach the same verdict by the same
//! rule, so they are taken as serving too and stay in the owner table (as every member is at
//! start), instead of leaving every service on this node until the next ping round says
//! otherwise. And a node that starts serving pings every peer at once, so they put it back in
//! their owner tables within a round trip.
//!
//! [`DistroConfig::retry_delay`]: crate::cluster::DistroConfig::retry_delay
//! [`DistroConfig::empty_start_after`]: crate::cluster::DistroConfig::empty_start_after
//! [`DistroConfig::snapshot_chunk_instances`]: crate::cluster::DistroConfig::snapshot_chunk_instances

use super::replicate::Received;
use super::{DistroCore, Outgoing, Phase, Sent};
use crate::clock::Timestamp;
use crate::cluster::message::{PeerRequest, PeerResponse};
use crate::cluster::node_id::NodeId;
use crate::cluster::transport::PeerError;
use crate::model::ServiceKey;
use std::sync::atomic::Ordering;

impl DistroCore {
    /// While loading: asks the next peer for a snapshot, if no request is out and the round's
    /// start (`next_attempt`) has come.
    pub(super) fn poll_loading(
        &mut self,
        out: &mut Vec<Outgoing>,
        peers: &[NodeId],
        now: Timestamp,
    ) {
        let Phase::Loading {
            next_attempt,
            asking,
            starting,
            failed,
            resume,
            ..
        } = &mut self.phase
        else {
            return;
        };
        if asking.is_none() {
            // The next chunk from the peer that is sending its snapshot, at once.
            if let Some((peer, after)) = resume.clone() {
                *asking = Some(peer.clone());
                let request = PeerRequest::Snapshot { after: Some(after) };
                self.request(out, &peer, request, Sent::Snapshot);
                return;
            }
        }
        if asking.is_none() && now >= *next_attempt {
            // Ask the first peer, in id order, not yet asked this round.
            let target = peers
                .iter()
                .find(|p| !starting.contains(*p) && !failed.contains(*p))
                .cloned();
            if let Some(t) = target {
                *asking = Some(t.clone());
                self.request(
                    out,
                    &t,
                    PeerRequest::Snapshot { after: None },
                    Sent::Snapshot,
                );
            }
        }
    }

    /// A peer asked for everything, one chunk at a time: only a node that serves has a snapshot
    /// to give. The chunk holds whole services in key order after `after`, until about
    /// `snapshot_chunk_instances` instances; each is read from the store's lock-free snapshot.
    pub(super) fn answer_snapshot(&self, after: Option<&ServiceKey>) -> PeerResponse {
        if !self.is_ready() {
            return PeerResponse::NotReady;
        }
        let store = self.registry.store();
        let budget = self.config.snapshot_chunk_instances.max(1);
        // Every service counts at least one instance against the budget, so a chunk never
        // holds more than `budget` services; one more tells whether any remain.
        let keys = store.keys_after(after, budget.saturating_add(1));
        // Keys may have been cut at `budget + 1`: then more may follow even if some of these
        // were gone by the time they were read.
        let cut = keys.len() > budget;
        let mut records = Vec::new();
        let mut instances = 0usize;
        let mut last = None;
        for key in keys {
            if instances >= budget {
                // More remain: the next chunk starts after the last key sent.
                return PeerResponse::Chunk {
                    records,
                    next: last,
                };
            }
            if let Some(snap) = store.load_any(&key) {
                let record = snap.to_record(None);
                instances += record.instances.len().max(1);
                records.push(record);
            }
            last = Some(key);
        }
        PeerResponse::Chunk {
            records,
            next: if cut { last } else { None },
        }
    }

    /// The answer to a snapshot request: records make this node ready; "not ready" or a
    /// failure moves on to the next peer, and ends the round once every peer was asked.
    pub(super) fn on_snapshot_answer(
        &mut self,
        peer: NodeId,
        result: Result<PeerResponse, PeerError>,
        now: Timestamp,
    ) {
        let answer = match result {
            Ok(PeerResponse::Chunk { records, next }) => Some(Some((records, next))),
            Ok(PeerResponse::NotReady) => Some(None),
            _ => None,
        };
        let Phase::Loading {
            since,
            resume,
            next_attempt,
            asking,
            starting,
            failed,
        } = &mut self.phase
        else {
            return;
        };
        *asking = None;
        *resume = None;
        match answer {
            Some(Some((records, Some(next)))) => {
                // More to come from this peer: merge this chunk and ask for the next one.
                if let Phase::Loading { resume, .. } = &mut self.phase {
                    *resume = Some((peer.clone(), next));
                }
                self.merge_all(&peer, records, Received::Snapshot, now);
                return;
            }
            Some(Some((records, None))) => {
                let services = records.len();
                self.merge_all(&peer, records, Received::Snapshot, now);
                tracing::info!(%peer, services, "loaded the last snapshot chunk; this node serves");
                self.become_ready(now);
                return;
            }
            Some(None) => {
                starting.insert(peer);
            }
            None => {
                failed.insert(peer);
            }
        }
        let round_over = self
            .membership
            .peers()
            .all(|p| starting.contains(p) || failed.contains(p));
        if round_over {
            let waited = now.saturating_since(*since);
            let proven_empty = failed.is_empty();
            let gave_up = waited >= self.config.empty_start_after;
            if !starting.is_empty() && (proven_empty || gave_up) {
                // Everyone answered that they are starting too (a fresh cluster, or every node
                // restarted): there is no snapshot to wait for. They conclude the same, so
                // they serve as of now too: keep them in the owner table. Or some did not
                // answer, for longer than the bounded wait: serve empty all the same.
                let starting = std::mem::take(starting);
                if proven_empty {
                    tracing::info!(
                        starting = starting.len(),
                        "every peer is starting too; this node serves, empty"
                    );
                } else {
                    tracing::warn!(
                        starting = starting.len(),
                        unreachable = failed.len(),
                        ?waited,
                        "peers did not answer the snapshot request for longer than \
                         empty_start_after; this node serves EMPTY and gets their data only \
                         through replication and verify once they are back"
                    );
                }
                for p in &starting {
                    self.membership.presume_ready(p);
                }
                self.become_ready(now);
                return;
            }
            // Nobody answered, or some did not while the others are starting (one that did
            // not answer may hold the data): a new round after the retry delay.
            tracing::debug!(
                starting = starting.len(),
                unreachable = failed.len(),
                retry_in = ?self.config.retry_delay,
                "no snapshot yet; trying again"
            );
            starting.clear();
            failed.clear();
            *next_attempt = now + self.config.retry_delay;
        }
    }

    /// Leaves the Loading phase: serve, take over owned services, verify from now on, and tell
    /// every peer at the next poll.
    pub(super) fn become_ready(&mut self, now: Timestamp) {
        self.phase = Phase::Ready;
        self.announce = true;
        // So that next_wakeup asks for the poll that sends those pings.
        self.next_ping = self.next_ping.min(now);
        self.routing.ready.store(true, Ordering::Release);
        // Everything this node now owns gets a grace period (rebuild_mapper sees every owned
        // service as new, since the mapper before did not include this node).
        self.rebuild_mapper(now);
        self.next_health = now;
        self.next_verify = now + self.config.verify_interval;
    }
}

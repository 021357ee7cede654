//! Verify: every `verify_interval` a ready node sends each peer that is up the checksums of
//! the services it owns; the receiver compares them with its own copy,
//! fetches ([`PeerRequest::Fetch`]) the services that differ at its next poll, and merges the
//! records that come back, in chunks of at most [`DistroConfig::fetch_chunk_services`]
//! services per request, one request per peer at a time. Also the other side: answering a
//! peer's fetch.
//!
//! ## Buckets
//!
//! With [`DistroConfig::verify_buckets`] `= n > 0` (the default) the checksums go in two
//! steps, so that a round costs what differs rather than what exists:
//!
//! 1. the owner sends [`PeerRequest::VerifyBuckets`]: its services hashed into `n` buckets,
//!    one sum per bucket (`crate::cluster::buckets`);
//! 2. the receiver sums its own copies of the services the sender owns (by its own mapper) the
//!    same way and answers [`PeerResponse::Differ`] with the buckets that differ, or `Ack`;
//! 3. at its next poll the owner sends [`PeerRequest::VerifyServices`]: the per-service
//!    checksums of those buckets;
//! 4. the receiver treats them as a [`PeerRequest::Verify`] confined to those buckets: it
//!    fetches the services whose checksums differ or that it lacks, and queues back in full
//!    the services of those buckets that the sender owns but did not list.
//!
//! Between nodes that agree a round is `n` numbers each way (empty buckets are one byte); a
//! difference costs the services of its bucket, about `services / n`. The guarantees are the
//! full list's: a service that differs makes its bucket differ (except with probability about
//! 2^-64 per round), and within a differing bucket the comparison is the full list's. The CPU
//! cost per round is O(services) small steps on both sides (each adds up its services'
//! checksums); a checksum is kept with its snapshot, so only the services written since the
//! last round are hashed again. Keeping the bucket sums up to date on every write would make
//! it O(changes); not done yet.
//!
//! Differences from Nacos: Nacos' Distro verify sends every checksum in every round (and in
//! 2.x, one message per client); there is no bucketing.
//!
//! [`DistroConfig::fetch_chunk_services`]: crate::cluster::DistroConfig::fetch_chunk_services
//! [`DistroConfig::verify_buckets`]: crate::cluster::DistroConfig::verify_buckets

use super::replicate::Received;
use super::{DistroCore, Outgoing, Sent};
use crate::clock::Timestamp;
use crate::cluster::buckets::{bucket_of, BucketSums, MAX_BUCKETS};
use crate::cluster::message::{PeerRequest, PeerResponse};
use crate::cluster::node_id::NodeId;
use crate::cluster::sync::PendingService;
use crate::cluster::transport::PeerError;
use crate::model::ServiceKey;
use std::collections::BTreeSet;

impl DistroCore {
    /// Sends checksums of owned services to every peer that is up, when verify is due.
    pub(super) fn poll_verify(
        &mut self,
        out: &mut Vec<Outgoing>,
        peers: &[NodeId],
        now: Timestamp,
    ) {
        if now < self.next_verify {
            return;
        }
        self.next_verify = now + self.config.verify_interval;
        let to: Vec<NodeId> = peers
            .iter()
            .filter(|p| {
                self.membership.is_up(p) && !self.in_flight(p, |s| matches!(s, Sent::Verify))
            })
            .cloned()
            .collect();
        if to.is_empty() {
            return;
        }
        let buckets = self.config.verify_buckets.min(MAX_BUCKETS);
        let request = if buckets == 0 {
            PeerRequest::Verify {
                checksums: self.owned_checksums(|_| true),
            }
        } else {
            let mapper = self.routing.mapper();
            let mut sums = BucketSums::new(buckets);
            self.registry.store().for_each(|snap| {
                if mapper.is_owner(&self.me, snap.key()) {
                    sums.add(snap.key(), snap.checksum());
                }
            });
            PeerRequest::VerifyBuckets {
                sums: sums.into_sums(),
            }
        };
        for p in &to {
            self.request(out, p, request.clone(), Sent::Verify);
        }
    }

    /// `(service, checksum)` of the services this node owns that `keep` accepts.
    fn owned_checksums(&self, keep: impl Fn(&ServiceKey) -> bool) -> Vec<(ServiceKey, u64)> {
        let mapper = self.routing.mapper();
        let mut checksums = Vec::new();
        self.registry.store().for_each(|snap| {
            if mapper.is_owner(&self.me, snap.key()) && keep(snap.key()) {
                checksums.push((snap.key().clone(), snap.checksum()));
            }
        });
        checksums
    }

    /// A peer's answer to a verify: the buckets it found differing, if any, are sent service
    /// by service at the next poll.
    pub(super) fn on_verify_answer(
        &mut self,
        peer: NodeId,
        result: Result<PeerResponse, PeerError>,
    ) {
        if let Ok(PeerResponse::Differ { buckets }) = result {
            let count = self.config.verify_buckets.min(MAX_BUCKETS);
            let buckets: Vec<u32> = buckets
                .into_iter()
                .filter(|b| (*b as usize) < count)
                .collect();
            if count > 0 && !buckets.is_empty() {
                self.verify_detail.insert(peer, (count as u32, buckets));
            }
        }
    }

    /// Sends the per-service checksums of the buckets peers found differing.
    pub(super) fn poll_verify_detail(&mut self, out: &mut Vec<Outgoing>) {
        let wanted = std::mem::take(&mut self.verify_detail);
        for (p, (count, covered)) in wanted {
            if !self.membership.is_up(&p) || self.in_flight(&p, |s| matches!(s, Sent::Verify)) {
                continue;
            }
            let set: BTreeSet<u32> = covered.iter().copied().collect();
            let checksums =
                self.owned_checksums(|k| set.contains(&(bucket_of(k, count as usize) as u32)));
            let req = PeerRequest::VerifyServices {
                buckets: count,
                covered,
                checksums,
            };
            self.request(out, &p, req, Sent::Verify);
        }
    }

    /// A peer's bucket sums: the buckets where this node's copy of the peer's services sums
    /// differently. Compared only once this node serves.
    pub(super) fn answer_verify_buckets(&mut self, from: &NodeId, sums: &[u64]) -> PeerResponse {
        if !self.is_ready() || sums.is_empty() || sums.len() > MAX_BUCKETS {
            return PeerResponse::Ack;
        }
        let mapper = self.routing.mapper();
        let mut mine = BucketSums::new(sums.len());
        self.registry.store().for_each(|snap| {
            if mapper.is_owner(from, snap.key()) {
                mine.add(snap.key(), snap.checksum());
            }
        });
        let buckets = mine.differing(sums);
        if buckets.is_empty() {
            return PeerResponse::Ack;
        }
        self.stats.buckets_differing += buckets.len() as u64;
        PeerResponse::Differ { buckets }
    }

    /// A peer's per-service checksums of some buckets: compared as a full list would be,
    /// within those buckets.
    pub(super) fn answer_verify_services(
        &mut self,
        from: &NodeId,
        buckets: u32,
        covered: &[u32],
        checksums: Vec<(ServiceKey, u64)>,
        now: Timestamp,
    ) -> PeerResponse {
        let count = buckets as usize;
        if !self.is_ready() || count == 0 || count > MAX_BUCKETS {
            return PeerResponse::Ack;
        }
        let covered: BTreeSet<u32> = covered.iter().copied().collect();
        let within = |k: &ServiceKey| covered.contains(&(bucket_of(k, count) as u32));
        // A service outside the covered buckets is not the sender's to list here.
        let checksums = checksums.into_iter().filter(|(k, _)| within(k)).collect();
        self.compare(from, checksums, within, now);
        PeerResponse::Ack
    }

    /// Sends the fetches `compare` asked for, one per peer at a time.
    pub(super) fn poll_fetches(&mut self, out: &mut Vec<Outgoing>) {
        let wanted = std::mem::take(&mut self.fetch_wanted);
        for (p, services) in wanted {
            if self.in_flight(&p, |s| matches!(s, Sent::Fetch)) {
                self.fetch_wanted.insert(p, services);
                continue;
            }
            // At most `fetch_chunk_services` per request; the rest wait for the answer.
            let mut services = services;
            let rest = match services
                .iter()
                .nth(self.config.fetch_chunk_services.max(1))
                .cloned()
            {
                Some(first_left) => services.split_off(&first_left),
                None => BTreeSet::new(),
            };
            if !rest.is_empty() {
                self.fetch_wanted.insert(p.clone(), rest);
            }
            let req = PeerRequest::Fetch {
                services: services.into_iter().collect(),
            };
            self.request(out, &p, req, Sent::Fetch);
        }
    }

    /// A peer's checksums: compared only once this node serves (before that its copy is not
    /// worth comparing).
    pub(super) fn answer_verify(
        &mut self,
        from: &NodeId,
        checksums: Vec<(ServiceKey, u64)>,
        now: Timestamp,
    ) -> PeerResponse {
        if self.is_ready() {
            self.compare(from, checksums, |_| true, now);
        }
        PeerResponse::Ack
    }

    /// Verify: fetch services whose checksums differ; push back services the sender is
    /// responsible for (by this node's mapper) but did not mention, among those `scope`
    /// accepts (what the sender's list covers).
    fn compare(
        &mut self,
        from: &NodeId,
        checksums: Vec<(ServiceKey, u64)>,
        scope: impl Fn(&ServiceKey) -> bool,
        now: Timestamp,
    ) {
        let store = self.registry.store();
        let mut listed = BTreeSet::new();
        for (service, sum) in checksums {
            let local = store.load_any(&service).map(|s| s.checksum());
            if local != Some(sum) {
                self.fetch_wanted
                    .entry(from.clone())
                    .or_default()
                    .insert(service.clone());
            }
            listed.insert(service);
        }
        let mapper = self.routing.mapper();
        let mut unlisted = Vec::new();
        store.for_each(|snap| {
            if mapper.is_owner(from, snap.key())
                && !listed.contains(snap.key())
                && snap.instance_count() > 0
                && scope(snap.key())
            {
                unlisted.push(snap.key().clone());
            }
        });
        if let Some(q) = self.queues.get_mut(from) {
            for service in unlisted {
                q.add(
                    service,
                    PendingService {
                        full: true,
                        ..PendingService::default()
                    },
                    now,
                );
            }
        }
    }

    /// A peer wants these services in full.
    pub(super) fn answer_fetch(&self, services: &[ServiceKey]) -> PeerResponse {
        let store = self.registry.store();
        PeerResponse::Records(
            services
                .iter()
                .filter_map(|s| store.load_any(s))
                .map(|s| s.to_record(None))
                .collect(),
        )
    }

    /// The answer to a fetch: merge the records, in full.
    pub(super) fn on_fetch_answer(
        &mut self,
        peer: &NodeId,
        result: Result<PeerResponse, PeerError>,
        now: Timestamp,
    ) {
        if let Ok(PeerResponse::Records(records)) = result {
            self.stats.services_fetched += records.len() as u64;
            self.merge_all(peer, records, Received::Fetched, now);
        }
    }
}

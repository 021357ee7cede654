//! Verify: every `verify_interval` a ready node sends each peer that is up the checksums of
//! the services it owns; the receiver compares them with its own copy,
//! fetches ([`PeerRequest::Fetch`]) the services that differ at its next poll, and merges the
//! records that come back, in chunks of at most [`DistroConfig::fetch_chunk_services`]
//! services per request, one request per peer at a time. Also the other side: answering a
//! peer's fetch.
//!
//! [`DistroConfig::fetch_chunk_services`]: crate::cluster::DistroConfig::fetch_chunk_services

use super::{DistroCore, Outgoing, Sent};
use crate::clock::Timestamp;
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
        let mapper = self.routing.mapper();
        let mut checksums = Vec::new();
        self.registry.store().for_each(|snap| {
            if mapper.is_owner(&self.me, snap.key()) {
                checksums.push((snap.key().clone(), snap.checksum()));
            }
        });
        for p in peers {
            if self.membership.is_up(p) && !self.in_flight(p, |s| matches!(s, Sent::Verify)) {
                let req = PeerRequest::Verify {
                    checksums: checksums.clone(),
                };
                self.request(out, p, req, Sent::Verify);
            }
        }
        self.next_verify = now + self.config.verify_interval;
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
            self.compare(from, checksums, now);
        }
        PeerResponse::Ack
    }

    /// Verify: fetch services whose checksums differ; push back services the sender is
    /// responsible for (by this node's mapper) but did not mention.
    fn compare(&mut self, from: &NodeId, checksums: Vec<(ServiceKey, u64)>, now: Timestamp) {
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
            self.merge_all(peer, records, true, now);
        }
    }
}

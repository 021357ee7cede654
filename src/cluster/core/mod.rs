//! [`DistroCore`]: the Distro protocol as a sans-IO state machine.
//!
//! No networking code, no OS time: it never sleeps, never opens a socket and never reads a
//! clock. Like quinn-proto's `Connection`, it is driven entirely from outside, through four
//! calls:
//!
//! - [`DistroCore::handle`]: the host calls it when a peer's request arrives, and sends back
//!   the [`PeerResponse`] it returns;
//! - [`DistroCore::on_response`]: the host calls it when the answer to one of the core's own
//!   requests arrives, or when sending it failed or timed out;
//! - [`DistroCore::poll`]: the host calls it after either of the above, after every local
//!   write to the registry (the tokio driver hooks a store sink for this), and whenever
//!   [`DistroCore::next_wakeup`] comes, and sends every [`Outgoing`] it returns;
//! - [`DistroCore::next_wakeup`]: the host calls it after `poll` to learn when to call `poll`
//!   again if nothing arrives before.
//!
//! Every call takes `now` from the host. The tokio driver ([`super::ClusterNode`]) and the
//! deterministic simulator ([`crate::transport::memory::Simulation`]) are both thin loops around
//! it, which is what makes seeded fault schedules replayable.
//!
//! What it does, in the order `poll` does it, and where each part lives:
//! 1. `replicate`: collects local changes (the store's sink pushes every published snapshot
//!    onto a channel) into one [`SyncQueue`] per peer, and drops a queue that grew past
//!    [`DistroConfig::max_pending_per_peer`] (verify repairs the peer). Merges of replicated
//!    data touch nothing and are not sent on, so nothing echoes; what arrives is checked
//!    first ([`crate::store::MergeRules`], in `handle` and in answers, not in `poll`).
//! 2. `peers`: judges peer liveness (a refusal is not contact) and rebuilds the
//!    [`DistroMapper`] when it changes.
//!    Services that become this node's responsibility get a grace period: their health
//!    sweep counts no silence before the takeover, because this node's copy of their last
//!    beat may be stale (beats go to the responsible node only). The beat times themselves
//!    are left alone, so an eviction records only beats really heard, and a grace can never
//!    outweigh an eviction (or a deregistration) made elsewhere. Pings every peer.
//! 3. `loading`: while starting, asks peers in turn for a full snapshot, chunk by chunk (a
//!    cursor per request, see `loading`), and serves only once one has sent its last chunk
//!    (or once every peer answered that it is starting too: a fresh cluster; a peer that did
//!    not answer may hold the data, so "starting" from some and silence from others means
//!    asking again, until `DistroConfig::empty_start_after`).
//! 4. `verify`: sends checksums of its own services (bucketed: one sum per bucket, then the
//!    services of the buckets a peer finds differing), and fetches services whose checksums
//!    differ; then `replicate` sends due sync batches.
//! 5. `peers`: runs health checks for the services it is responsible for, and only those,
//!    then collects the tombstones past the retention, keeping those of persistent data while
//!    some member has not been up and serving for a whole retention (see [`crate::store`],
//!    "Removals of persistent data").
//!
//! This file holds the state, the accessors and the four calls above, which dispatch to the
//! phase files.
//!

mod loading;
mod peers;
mod replicate;
mod verify;

#[cfg(test)]
mod admit_tests;
#[cfg(test)]
mod handle_tests;
#[cfg(test)]
mod loading_tests;
#[cfg(test)]
mod replicate_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod verify_bucket_tests;
#[cfg(test)]
mod verify_tests;

use super::config::DistroConfig;
use super::dispatch::{answer_forward, Dispatch, Forwarding};
use super::error::{ClusterError, MembershipError};
use super::mapper::DistroMapper;
use super::membership::Membership;
use super::message::{PeerRequest, PeerResponse};
use super::node_id::NodeId;
use super::sync::{Batch, SyncQueue};
use super::transport::PeerError;
use crate::clock::Timestamp;
use crate::health::SweepReport;
use crate::model::ServiceKey;
use crate::registry::{Command, CommandOutput, Registry, RegistryReader};
use crate::store::ServiceSnapshot;
use arc_swap::ArcSwap;
use crossbeam_channel::{unbounded, Receiver};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Names one request this node sent, to match its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A request for the driver to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Match the answer with this.
    pub id: RequestId,
    /// The peer.
    pub to: NodeId,
    /// What to send.
    pub request: PeerRequest,
}

#[derive(Debug)]
enum Sent {
    Ping,
    Sync(Batch),
    Verify,
    Fetch,
    Snapshot,
}

#[derive(Debug)]
enum Phase {
    /// Loading a snapshot. In each round every peer is asked in turn until one gives its
    /// snapshot; `starting` holds those that answered "starting too", `failed` those that did
    /// not answer; `since` is when loading began.
    Loading {
        since: Timestamp,
        /// A peer that is sending its snapshot chunk by chunk, and the last key received.
        resume: Option<(NodeId, ServiceKey)>,
        next_attempt: Timestamp,
        asking: Option<NodeId>,
        starting: BTreeSet<NodeId>,
        failed: BTreeSet<NodeId>,
    },
    Ready,
}

/// How routing a client operation should go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// This node is responsible: apply here.
    Local,
    /// Forward to the responsible peer; apply here if it cannot be reached.
    Forward(NodeId),
    /// This node does not serve yet.
    NotReady,
}

/// Counters, for tests, benchmarks and operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CoreStats {
    /// Sync batches sent.
    pub syncs_sent: u64,
    /// Sync batches that failed and were queued again.
    pub syncs_failed: u64,
    /// Instance records merged from peers and applied.
    pub records_applied: u64,
    /// Services fetched because checksums differed.
    pub services_fetched: u64,
    /// Verify buckets (see [`DistroConfig::verify_buckets`]) this node found differing from a
    /// peer's, each then compared service by service.
    pub buckets_differing: u64,
    /// Times a grace period was given to a service that became this node's responsibility.
    pub grace_periods: u64,
    /// Records from peers refused by the merge rules (see [`crate::store::MergeRules`]).
    pub records_refused: u64,
    /// Beat times from peers that were too far ahead of this node's clock and were clamped.
    pub beats_clamped: u64,
    /// Times a peer's sync queue grew past [`DistroConfig::max_pending_per_peer`] and was
    /// dropped.
    pub queue_overflows: u64,
    /// Answers that refused this node ([`PeerResponse::Rejected`]).
    pub rejections: u64,
    /// Removals of persistent data past the tombstone retention that the last health sweep
    /// kept, because some member had not been up for a whole retention (a gauge, not a
    /// counter; see [`crate::store`], "Removals of persistent data").
    pub removals_held: u64,
}

/// Sync counters of one peer, from [`DistroCore::peer_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerSyncStats {
    /// Sync batches sent to this peer (a retry is a new batch).
    pub batches: u64,
    /// Service records those batches carried.
    pub records: u64,
    /// Sync batches this peer did not acknowledge (refused, not ready, or not reached); they
    /// are retried.
    pub failures: u64,
}

/// Routing state shared with the driver's client path, read without locking the core.
#[derive(Debug, Clone)]
pub struct RoutingView {
    me: NodeId,
    mapper: Arc<ArcSwap<DistroMapper>>,
    ready: Arc<AtomicBool>,
}

impl RoutingView {
    /// Where an operation on `service` should go.
    pub fn route(&self, service: &ServiceKey) -> Route {
        if !self.ready.load(Ordering::Acquire) {
            return Route::NotReady;
        }
        match self.mapper.load().owner(service) {
            Some(owner) if *owner != self.me => Route::Forward(owner.clone()),
            _ => Route::Local,
        }
    }
    /// Whether this node serves.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
    /// The current mapper.
    pub fn mapper(&self) -> Arc<DistroMapper> {
        self.mapper.load_full()
    }
}

/// The Distro protocol state of one node: see the module documentation.
pub struct DistroCore {
    me: NodeId,
    config: DistroConfig,
    registry: Registry,
    membership: Membership,
    routing: RoutingView,
    queues: BTreeMap<NodeId, SyncQueue>,
    changes: Receiver<Arc<ServiceSnapshot>>,
    phase: Phase,
    next_ping: Timestamp,
    next_verify: Timestamp,
    next_health: Timestamp,
    sent: HashMap<RequestId, (NodeId, Sent)>,
    next_id: u64,
    fetch_wanted: BTreeMap<NodeId, BTreeSet<ServiceKey>>,
    /// Peers that answered a bucketed verify with differing buckets: the bucket count and the
    /// buckets, whose per-service checksums go to the peer at the next poll.
    verify_detail: BTreeMap<NodeId, (u32, Vec<u32>)>,
    stats: CoreStats,
    /// Sync counters per peer (see [`DistroCore::peer_stats`]).
    peer_stats: BTreeMap<NodeId, PeerSyncStats>,
    last_sweep: SweepReport,
    /// Peers that refuse this node, and when that was last logged at `warn`.
    refusing: BTreeMap<NodeId, Refusing>,
    /// Peers already warned about for sending times from too far ahead.
    skew_warned: BTreeSet<NodeId>,
    /// Services this node took over, and when: their health sweep counts no silence before
    /// that time (see `peers.rs`).
    grace: HashMap<ServiceKey, Timestamp>,
    /// Whether the next ping round goes out at once, to every peer, to say this node serves.
    announce: bool,
    /// Whether keeping removals of persistent data for a missing member was logged, and its
    /// end not yet (see `peers.rs`).
    held_announced: bool,
}

/// A peer that answers this node with [`PeerResponse::Rejected`].
#[derive(Debug, Clone, Copy)]
struct Refusing {
    /// Refusals in a row.
    count: u64,
    /// When the last `warn` was logged.
    warned_at: Timestamp,
}

impl std::fmt::Debug for DistroCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DistroCore")
            .field("me", &self.me)
            .field("ready", &self.routing.is_ready())
            .field("mapper", &self.routing.mapper().members())
            .finish()
    }
}

impl DistroCore {
    /// A node `me` of the static member list `members`, over `registry` (whose origin should be
    /// `me.origin()`). A node whose list names no peer is ready at once; otherwise it starts by
    /// loading a snapshot. Every member starts in the owner table.
    ///
    /// Fails with [`MembershipError::NotAMember`] when `members` does not name `me`.
    pub fn new(
        me: NodeId,
        members: &[NodeId],
        registry: Registry,
        config: DistroConfig,
        now: Timestamp,
    ) -> Result<Self, MembershipError> {
        let membership = Membership::new(me.clone(), members, now)?;
        let (tx, changes) = unbounded();
        // The timeline names this member in what it records.
        registry.timeline().set_member(&me.to_string());
        registry.store().track_touched();
        registry
            .store()
            .add_sink(Arc::new(move |snap: &Arc<ServiceSnapshot>| {
                if !snap.touched().is_empty() || snap.meta_touched() {
                    // The core may be gone (node shutting down); then nothing needs sending.
                    let _ = tx.send(snap.clone());
                }
            }));
        let alone = membership.peers().next().is_none();
        let routing = RoutingView {
            me: me.clone(),
            mapper: Arc::new(ArcSwap::from_pointee(membership.mapper(alone))),
            ready: Arc::new(AtomicBool::new(alone)),
        };
        let queues = membership
            .peers()
            .map(|p| (p.clone(), SyncQueue::default()))
            .collect();
        let phase = if alone {
            Phase::Ready
        } else {
            Phase::Loading {
                since: now,
                resume: None,
                next_attempt: now,
                asking: None,
                starting: BTreeSet::new(),
                failed: BTreeSet::new(),
            }
        };
        Ok(Self {
            me,
            config,
            registry,
            membership,
            routing,
            queues,
            changes,
            phase,
            next_ping: now,
            next_verify: now + config.verify_interval,
            next_health: now,
            sent: HashMap::new(),
            next_id: 1,
            fetch_wanted: BTreeMap::new(),
            verify_detail: BTreeMap::new(),
            stats: CoreStats::default(),
            peer_stats: BTreeMap::new(),
            last_sweep: SweepReport::default(),
            refusing: BTreeMap::new(),
            grace: HashMap::new(),
            skew_warned: BTreeSet::new(),
            announce: false,
            held_announced: false,
        })
    }

    /// This node's id.
    pub fn id(&self) -> &NodeId {
        &self.me
    }
    /// The read side of the registry this core replicates. Writes take the core's route:
    /// [`DistroCore::dispatch`], then [`DistroCore::complete`] for a forwarded one.
    pub fn registry(&self) -> &RegistryReader {
        self.registry.reader()
    }
    /// Routes a client write as this member must (see [`Dispatch`]): applied here when this
    /// member is responsible for its service, refused while it does not serve, or to be
    /// forwarded to the responsible member. For a [`Dispatch::Forward`], send
    /// [`Forwarding::request`] to [`Forwarding::owner`] and hand the answer to
    /// [`DistroCore::complete`].
    pub fn dispatch(&self, command: Command) -> Dispatch {
        let route = self.route(command.service());
        Dispatch::begin(route, &self.me, &self.registry, command)
    }
    /// Finishes a forwarded write with the owner's answer (see [`Forwarding`]): its result,
    /// or, when the owner could not take it, the write applied here (AP).
    pub fn complete(
        &self,
        forwarding: Forwarding,
        answer: Result<PeerResponse, PeerError>,
    ) -> Result<CommandOutput, ClusterError> {
        forwarding.complete(&self.registry, answer)
    }
    /// The routing state, to share with a client path.
    pub fn routing(&self) -> RoutingView {
        self.routing.clone()
    }
    /// Whether this node serves.
    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }
    /// Counters.
    pub fn stats(&self) -> CoreStats {
        self.stats
    }
    /// Sync counters of each peer this node has sent a sync batch to, in id order.
    pub fn peer_stats(&self) -> &BTreeMap<NodeId, PeerSyncStats> {
        &self.peer_stats
    }
    /// What the last health sweep did.
    pub fn last_sweep(&self) -> &SweepReport {
        &self.last_sweep
    }
    /// Changed instances still waiting to be sent to `peer`.
    pub fn pending_for(&self, peer: &NodeId) -> usize {
        self.queues.get(peer).map_or(0, SyncQueue::len)
    }
    /// The configuration.
    pub fn config(&self) -> &DistroConfig {
        &self.config
    }
    /// Who is a member and when each peer was last heard from (for the failure preview).
    pub(crate) fn membership(&self) -> &Membership {
        &self.membership
    }

    fn request(&mut self, out: &mut Vec<Outgoing>, to: &NodeId, request: PeerRequest, kind: Sent) {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.sent.insert(id, (to.clone(), kind));
        out.push(Outgoing {
            id,
            to: to.clone(),
            request,
        });
    }

    fn in_flight(&self, to: &NodeId, pred: impl Fn(&Sent) -> bool) -> bool {
        self.sent.values().any(|(p, s)| p == to && pred(s))
    }

    /// When the core next needs [`DistroCore::poll`], if nothing arrives before. The host calls
    /// it after every `poll` and sets its timer to the answer (which may already be past: then
    /// poll at once).
    pub fn next_wakeup(&self) -> Timestamp {
        let mut next = self.next_ping;
        if let Phase::Loading {
            next_attempt,
            asking,
            ..
        } = &self.phase
        {
            if asking.is_none() {
                next = next.min(*next_attempt);
            }
        } else {
            next = next.min(self.next_verify).min(self.next_health);
            // Queues of peers that are down wait for the peer (the next ping finds out), so
            // their due times must not wake the node: it could do nothing about them.
            for (peer, q) in &self.queues {
                if !self.membership.is_up(peer) {
                    continue;
                }
                if let Some(due) = q.due_at(&self.config) {
                    next = next.min(due);
                }
            }
            if !self.fetch_wanted.is_empty() || !self.verify_detail.is_empty() {
                next = next.min(self.next_ping);
            }
        }
        // A silent peer is marked down the moment it has been silent for `peer_down_after`,
        // not at the next ping up to a ping interval later: its services move (and the failure
        // preview's detection time holds) to the poll. While pongs come, this lies ahead of
        // the next ping and wakes nothing.
        if let Some(down) = self.membership.next_down(self.config.peer_down_after) {
            next = next.min(down);
        }
        next
    }

    /// Hands back the requests due at `now`, for the host to send. The host calls it when
    /// [`DistroCore::next_wakeup`] comes, after every [`DistroCore::handle`] and
    /// [`DistroCore::on_response`] (either may have made something due), and after every local
    /// write: local changes are only collected here, and their `sync_delay` counts from the
    /// poll that collects them, which `next_wakeup` cannot foresee.
    pub fn poll(&mut self, now: Timestamp) -> Vec<Outgoing> {
        let mut out = Vec::new();
        self.collect_changes(now);
        self.bound_queues();
        if self.membership.refresh(now, self.config.peer_down_after) {
            self.rebuild_mapper(now);
        }
        let peers: Vec<NodeId> = self.membership.peers().cloned().collect();
        self.poll_pings(&mut out, &peers, now);
        if !self.is_ready() {
            self.poll_loading(&mut out, &peers, now);
            return out;
        }
        self.poll_verify(&mut out, &peers, now);
        self.poll_verify_detail(&mut out);
        self.poll_fetches(&mut out);
        self.poll_sync(&mut out, &peers, now);
        self.poll_health(now);
        out
    }

    /// Answers a request from `from` that arrived at `now`. The host calls it for every
    /// request a peer sends, sends the answer back, then calls [`DistroCore::poll`].
    pub fn handle(&mut self, from: &NodeId, request: PeerRequest, now: Timestamp) -> PeerResponse {
        if !self.membership.is_peer(from) {
            return PeerResponse::Rejected(format!("{from} is not a member of this cluster"));
        }
        let ready_hint = match &request {
            PeerRequest::Ping { ready } => Some(*ready),
            PeerRequest::Snapshot { .. } => Some(false),
            _ => None,
        };
        self.heard_from(from, ready_hint, now);
        match request {
            PeerRequest::Ping { .. } => PeerResponse::Pong {
                ready: self.is_ready(),
            },
            PeerRequest::Sync { records } => self.answer_sync(from, records, now),
            PeerRequest::Verify { checksums } => self.answer_verify(from, checksums, now),
            PeerRequest::VerifyBuckets { sums } => self.answer_verify_buckets(from, &sums),
            PeerRequest::VerifyServices {
                buckets,
                covered,
                checksums,
            } => self.answer_verify_services(from, buckets, &covered, checksums, now),
            PeerRequest::Fetch { services } => self.answer_fetch(&services),
            PeerRequest::Snapshot { after } => self.answer_snapshot(after.as_ref()),
            PeerRequest::Forward(command) => {
                // Recorded in the timeline as the forwarding member's.
                let origin = crate::timeline::Origin::front("peer").addr(from);
                let ready = self.is_ready();
                crate::timeline::with_origin_sync(origin, || {
                    answer_forward(&self.registry, ready, command)
                })
            }
            // The core runs no control plane: a host hands control requests to
            // `PeerHandler::receive_control`, and one that does not gets this refusal.
            PeerRequest::Control(_) => {
                PeerResponse::Control(crate::cluster::control_route::unavailable())
            }
        }
    }

    /// Takes the answer (or failure) to the request this core sent as `id`. The host calls it
    /// once per [`Outgoing`], with the peer's answer, or with the [`PeerError`] when the peer
    /// could not be reached or did not answer within [`DistroConfig::request_timeout`]; then it
    /// calls [`DistroCore::poll`]. Unknown ids are ignored.
    pub fn on_response(
        &mut self,
        id: RequestId,
        result: Result<PeerResponse, PeerError>,
        now: Timestamp,
    ) {
        let Some((peer, kind)) = self.sent.remove(&id) else {
            return;
        };
        match &result {
            // A refusal is not contact: a peer that does not count this node as a member must
            // not count as up here either, or the two would split the services between them
            // and neither would health-check the other's share.
            Ok(PeerResponse::Rejected(reason)) => self.refused_by(&peer, reason, now),
            Ok(resp) => {
                let ready = match resp {
                    PeerResponse::Pong { ready } => Some(*ready),
                    PeerResponse::NotReady => Some(false),
                    _ => None,
                };
                self.accepted_by(&peer);
                self.heard_from(&peer, ready, now);
            }
            Err(_) => {}
        }
        match kind {
            Sent::Ping => {}
            Sent::Verify => self.on_verify_answer(peer, result),
            Sent::Sync(batch) => self.on_sync_answer(&peer, batch, result, now),
            Sent::Fetch => self.on_fetch_answer(&peer, result, now),
            Sent::Snapshot => self.on_snapshot_answer(peer, result, now),
        }
    }

    /// Where an operation on `service` should go.
    pub fn route(&self, service: &ServiceKey) -> Route {
        self.routing.route(service)
    }
}

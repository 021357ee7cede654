//! [`DistroCore`]: the Distro protocol as a sans-IO state machine.
//!
//! It never sleeps, never opens a socket and never reads a clock. The driver hands it `now`,
//! the requests that arrive ([`DistroCore::handle`]) and the answers to its own requests
//! ([`DistroCore::on_response`]); it hands back what to send ([`DistroCore::poll`]) and when to
//! call it again ([`DistroCore::next_wakeup`]). The tokio driver ([`super::ClusterNode`]) and
//! the deterministic simulator ([`crate::transport::memory::Simulation`]) are both thin loops
//! around it, which is what makes seeded fault schedules replayable.
//!
//! What it does, in the order `poll` does it:
//! 1. Collects local changes (the store's sink pushes every published snapshot onto a channel)
//!    into one [`SyncQueue`] per peer. Merges of replicated data touch nothing and are not
//!    sent on, so nothing echoes.
//! 2. Judges peer liveness and rebuilds the [`DistroMapper`] when it changes. Services that
//!    become this node's responsibility get a fresh grace period: every instance counts as
//!    having beaten just now, because this node's copy of their last beat may be stale.
//! 3. While starting, asks peers in turn for a full snapshot, and serves only once one answers
//!    (or once every peer answered that it is starting too: a fresh cluster).
//! 4. Pings every peer, sends checksums of its own services (verify), fetches services whose
//!    checksums differ, and sends due sync batches.
//! 5. Runs health checks for the services it is responsible for, and only those.

use super::config::DistroConfig;
use super::dispatch::answer_forward;
use super::mapper::DistroMapper;
use super::membership::Membership;
use super::message::{PeerRequest, PeerResponse};
use super::node_id::NodeId;
use super::sync::{Batch, PendingService, SyncQueue};
use super::transport::PeerError;
use crate::clock::Timestamp;
use crate::health::SweepReport;
use crate::model::ServiceKey;
use crate::registry::Registry;
use crate::store::{ServiceRecord, ServiceSnapshot};
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
    /// not answer.
    Loading {
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
pub struct CoreStats {
    /// Sync batches sent.
    pub syncs_sent: u64,
    /// Sync batches that failed and were queued again.
    pub syncs_failed: u64,
    /// Instance records merged from peers and applied.
    pub records_applied: u64,
    /// Services fetched because checksums differed.
    pub services_fetched: u64,
    /// Times a grace period was given to a service that became this node's responsibility.
    pub grace_periods: u64,
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
    stats: CoreStats,
    last_sweep: SweepReport,
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
    /// loading a snapshot.
    pub fn new(
        me: NodeId,
        members: &[NodeId],
        registry: Registry,
        config: DistroConfig,
        now: Timestamp,
    ) -> Self {
        let (tx, changes) = unbounded();
        registry.store().track_touched();
        registry
            .store()
            .add_sink(Arc::new(move |snap: &Arc<ServiceSnapshot>| {
                if !snap.touched().is_empty() || snap.meta_touched() {
                    // The core may be gone (node shutting down); then nothing needs sending.
                    let _ = tx.send(snap.clone());
                }
            }));
        let membership = Membership::new(me.clone(), members, now);
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
                next_attempt: now,
                asking: None,
                starting: BTreeSet::new(),
                failed: BTreeSet::new(),
            }
        };
        Self {
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
            stats: CoreStats::default(),
            last_sweep: SweepReport::default(),
        }
    }

    /// This node's id.
    pub fn id(&self) -> &NodeId {
        &self.me
    }
    /// The registry this core replicates.
    pub fn registry(&self) -> &Registry {
        &self.registry
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

    /// When the core next needs [`DistroCore::poll`], if nothing arrives before.
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
            if !self.fetch_wanted.is_empty() {
                next = next.min(self.next_ping);
            }
        }
        next
    }

    fn collect_changes(&mut self, now: Timestamp) {
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

    fn rebuild_mapper(&mut self, now: Timestamp) {
        let ready = self.is_ready();
        let next = self.membership.mapper(ready);
        let before = self.routing.mapper.load_full();
        if *before == next {
            return;
        }
        // Services this node takes over: their last-beat times here may be stale.
        let store = self.registry.store();
        let mut grace = 0;
        store.for_each(|snap| {
            let key = snap.key();
            if next.is_owner(&self.me, key) && !before.is_owner(&self.me, key) {
                for e in snap.entries() {
                    e.liveness().beat(now);
                }
                grace += 1;
            }
        });
        self.stats.grace_periods += grace;
        self.routing.mapper.store(Arc::new(next));
        // Judge newly owned services at once (instances that died with their old owner should
        // not wait for the next periodic sweep); the grace period above protects the rest.
        self.next_health = now;
    }

    /// Hands back the requests due at `now`. Call it when [`DistroCore::next_wakeup`] comes,
    /// and after anything arrives.
    pub fn poll(&mut self, now: Timestamp) -> Vec<Outgoing> {
        let mut out = Vec::new();
        self.collect_changes(now);
        if self.membership.refresh(now, self.config.peer_down_after) {
            self.rebuild_mapper(now);
        }
        let peers: Vec<NodeId> = self.membership.peers().cloned().collect();

        if now >= self.next_ping {
            for p in &peers {
                if !self.in_flight(p, |s| matches!(s, Sent::Ping)) {
                    let ready = self.is_ready();
                    self.request(&mut out, p, PeerRequest::Ping { ready }, Sent::Ping);
                }
            }
            self.next_ping = now + self.config.ping_interval;
        }

        if let Phase::Loading {
            next_attempt,
            asking,
            starting,
            failed,
        } = &mut self.phase
        {
            if asking.is_none() && now >= *next_attempt {
                // Ask the first peer, in id order, not yet asked this round.
                let target = peers
                    .iter()
                    .find(|p| !starting.contains(*p) && !failed.contains(*p))
                    .cloned();
                if let Some(t) = target {
                    *asking = Some(t.clone());
                    self.request(&mut out, &t, PeerRequest::Snapshot, Sent::Snapshot);
                }
            }
            return out;
        }

        if now >= self.next_verify {
            let mapper = self.routing.mapper();
            let mut checksums = Vec::new();
            self.registry.store().for_each(|snap| {
                if mapper.is_owner(&self.me, snap.key()) {
                    checksums.push((snap.key().clone(), snap.checksum()));
                }
            });
            for p in &peers {
                if self.membership.is_up(p) && !self.in_flight(p, |s| matches!(s, Sent::Verify)) {
                    let req = PeerRequest::Verify {
                        checksums: checksums.clone(),
                    };
                    self.request(&mut out, p, req, Sent::Verify);
                }
            }
            self.next_verify = now + self.config.verify_interval;
        }

        let wanted = std::mem::take(&mut self.fetch_wanted);
        for (p, services) in wanted {
            if self.in_flight(&p, |s| matches!(s, Sent::Fetch)) {
                self.fetch_wanted.insert(p, services);
                continue;
            }
            let req = PeerRequest::Fetch {
                services: services.into_iter().collect(),
            };
            self.request(&mut out, &p, req, Sent::Fetch);
        }

        for p in &peers {
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
            self.request(
                &mut out,
                p,
                PeerRequest::Sync { records },
                Sent::Sync(batch),
            );
        }

        if now >= self.next_health {
            let mapper = self.routing.mapper();
            let me = self.me.clone();
            let report = self
                .registry
                .check_health_where(now, |k| mapper.is_owner(&me, k));
            let cap = now + self.registry.health_config().check_interval;
            self.next_health = report
                .next_due
                .map_or(cap, |d| d.min(cap))
                .max(now + std::time::Duration::from_micros(1));
            self.last_sweep = report;
            // The sweep's own changes are local writes: queue them now rather than next poll.
            self.collect_changes(now);
        }
        out
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

    fn merge_all(
        &mut self,
        from: &NodeId,
        records: Vec<ServiceRecord>,
        full: bool,
        now: Timestamp,
    ) {
        let store = self.registry.store();
        for record in records {
            let service = record.key.clone();
            let incoming: Option<BTreeSet<_>> =
                full.then(|| record.instances.iter().map(|r| r.key.clone()).collect());
            let outcome = store.merge(record, now);
            self.stats.records_applied += outcome.applied as u64;
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
    }

    fn become_ready(&mut self, now: Timestamp) {
        self.phase = Phase::Ready;
        self.routing.ready.store(true, Ordering::Release);
        // Everything this node now owns gets a grace period (rebuild_mapper sees every owned
        // service as new, since the mapper before did not include this node).
        self.rebuild_mapper(now);
        self.next_health = now;
        self.next_verify = now + self.config.verify_interval;
    }

    /// Answers a request from `from` that arrived at `now`.
    pub fn handle(&mut self, from: &NodeId, request: PeerRequest, now: Timestamp) -> PeerResponse {
        if !self.membership.is_peer(from) {
            return PeerResponse::Rejected(format!("{from} is not a member of this cluster"));
        }
        let ready_hint = match &request {
            PeerRequest::Ping { ready } => Some(*ready),
            PeerRequest::Snapshot => Some(false),
            _ => None,
        };
        if self.membership.heard(from, ready_hint, now) {
            self.rebuild_mapper(now);
        }
        match request {
            PeerRequest::Ping { .. } => PeerResponse::Pong {
                ready: self.is_ready(),
            },
            PeerRequest::Sync { records } => {
                self.merge_all(from, records, false, now);
                PeerResponse::Ack
            }
            PeerRequest::Verify { checksums } => {
                if self.is_ready() {
                    self.compare(from, checksums, now);
                }
                PeerResponse::Ack
            }
            PeerRequest::Fetch { services } => {
                let store = self.registry.store();
                PeerResponse::Records(
                    services
                        .iter()
                        .filter_map(|s| store.load_any(s))
                        .map(|s| s.to_record(None))
                        .collect(),
                )
            }
            PeerRequest::Snapshot => {
                if !self.is_ready() {
                    return PeerResponse::NotReady;
                }
                let store = self.registry.store();
                PeerResponse::Records(
                    store
                        .all_keys()
                        .iter()
                        .filter_map(|k| store.load_any(k))
                        .map(|s| s.to_record(None))
                        .collect(),
                )
            }
            PeerRequest::Forward(command) => {
                answer_forward(&self.registry, self.is_ready(), command)
            }
        }
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

    /// Takes the answer (or failure) to a request this core sent.
    pub fn on_response(
        &mut self,
        id: RequestId,
        result: Result<PeerResponse, PeerError>,
        now: Timestamp,
    ) {
        let Some((peer, kind)) = self.sent.remove(&id) else {
            return;
        };
        if let Ok(resp) = &result {
            let ready = match resp {
                PeerResponse::Pong { ready } => Some(*ready),
                PeerResponse::NotReady => Some(false),
                _ => None,
            };
            if self.membership.heard(&peer, ready, now) {
                self.rebuild_mapper(now);
            }
        }
        match kind {
            Sent::Ping | Sent::Verify => {}
            Sent::Sync(batch) => match result {
                Ok(PeerResponse::Ack) => {
                    if let Some(q) = self.queues.get_mut(&peer) {
                        q.ack();
                    }
                }
                _ => {
                    self.stats.syncs_failed += 1;
                    if let Some(q) = self.queues.get_mut(&peer) {
                        q.fail(batch, now, &self.config);
                    }
                }
            },
            Sent::Fetch => {
                if let Ok(PeerResponse::Records(records)) = result {
                    self.stats.services_fetched += records.len() as u64;
                    self.merge_all(&peer, records, true, now);
                }
            }
            Sent::Snapshot => {
                let answer = match result {
                    Ok(PeerResponse::Records(records)) => Some(Some(records)),
                    Ok(PeerResponse::NotReady) => Some(None),
                    _ => None,
                };
                let Phase::Loading {
                    next_attempt,
                    asking,
                    starting,
                    failed,
                } = &mut self.phase
                else {
                    return;
                };
                *asking = None;
                match answer {
                    Some(Some(records)) => {
                        self.merge_all(&peer, records, true, now);
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
                    if !starting.is_empty() {
                        // Everyone who answered is starting too (a fresh cluster, or every
                        // node restarted): there is no snapshot to wait for.
                        self.become_ready(now);
                        return;
                    }
                    // Nobody answered: a new round after the retry delay.
                    starting.clear();
                    failed.clear();
                    *next_attempt = now + self.config.retry_delay;
                }
            }
        }
    }

    /// Where an operation on `service` should go.
    pub fn route(&self, service: &ServiceKey) -> Route {
        self.routing.route(service)
    }
}

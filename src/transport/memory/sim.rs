//! [`Simulation`]: a whole cluster in one thread, driven as a discrete-event simulation on a
//! [`ManualClock`], with the faults of a [`FaultModel`]. Given the same seed and the same calls,
//! every run is identical, so a failing fault schedule can be replayed from its seed.
//!
//! It drives the same [`DistroCore`] as [`crate::cluster::ClusterNode`], minus tokio: messages
//! become timed events, and the loop jumps the clock from one event or wake-up to the next.
//! Client operations ([`Simulation::execute`] and friends) route exactly as a node does: apply
//! locally when responsible, else forward, and apply locally if the responsible node cannot be
//! reached.

use super::faults::{Delivery, FaultModel};
use super::network::{json_len, NetStats};
use crate::clock::{Clock, ManualClock, Timestamp};
use crate::cluster::{encoded_len, request_json_len, request_len};
use crate::cluster::{
    ClusterError, Dispatch, DistroConfig, DistroCore, NodeId, PeerError, PeerRequest, PeerResponse,
    RequestId,
};
use crate::health::HealthConfig;
use crate::model::{Instance, InstanceKey, ServiceKey};
use crate::persist::{CommitPolicy, LoadReport, PersistError, Persistence};
use crate::registry::{BeatReply, Command, CommandOutput, Registry, RegistryReader};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Settings of a [`Simulation`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SimConfig {
    /// Distro timing for every node.
    pub distro: DistroConfig,
    /// Beat timing for every node.
    pub health: HealthConfig,
    /// Whether to count the bytes of every message, in the binary peer format and as JSON
    /// ([`NetStats::bytes`], [`NetStats::json_bytes`]); costs two serializations each.
    pub measure_bytes: bool,
}

struct SimNode {
    core: DistroCore,
    /// The core's registry with its writes, for [`Simulation::attach_persistence`].
    registry: Registry,
    incarnation: u64,
}

enum Event {
    Request {
        from: NodeId,
        from_incarnation: u64,
        to: NodeId,
        id: RequestId,
        request: PeerRequest,
        delay: Duration,
    },
    Response {
        to: NodeId,
        incarnation: u64,
        id: RequestId,
        result: Result<PeerResponse, PeerError>,
    },
}

/// A simulated cluster: see the module documentation.
pub struct Simulation {
    clock: ManualClock,
    shared_clock: Arc<dyn Clock>,
    members: Vec<NodeId>,
    faults: FaultModel,
    config: SimConfig,
    nodes: BTreeMap<NodeId, SimNode>,
    incarnations: BTreeMap<NodeId, u64>,
    events: BTreeMap<(Timestamp, u64), Event>,
    seq: u64,
    stats: NetStats,
    stalls: u64,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("now", &self.clock.now())
            .field("alive", &self.nodes.keys().collect::<Vec<_>>())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Simulation {
    /// A cluster of `members`, all starting now on a fresh [`ManualClock`], with fault
    /// randomness from `seed`.
    pub fn new(members: &[NodeId], seed: u64, config: SimConfig) -> Self {
        let clock = ManualClock::new();
        let mut sim = Self {
            shared_clock: Arc::new(clock.clone()),
            clock,
            members: members.to_vec(),
            faults: FaultModel::new(seed),
            config,
            nodes: BTreeMap::new(),
            incarnations: BTreeMap::new(),
            events: BTreeMap::new(),
            seq: 0,
            stats: NetStats::default(),
            stalls: 0,
        };
        for id in members {
            sim.boot(id);
        }
        sim
    }

    /// `n` members named `node-1` … `node-n`.
    pub fn with_nodes(n: usize, seed: u64, config: SimConfig) -> Self {
        let ids: Vec<NodeId> = (1..=n)
            .filter_map(|i| NodeId::new(&format!("node-{i}")).ok())
            .collect();
        Self::new(&ids, seed, config)
    }

    fn boot(&mut self, id: &NodeId) {
        let registry = Registry::builder()
            .shared_clock(self.shared_clock.clone())
            .health(self.config.health)
            .delivery_threads(1)
            .origin(id.origin())
            .build();
        // Only ids from the member list are booted (`new` and `restart` see to it), so the
        // list always names this one; a stranger would simply not run.
        let Ok(core) = DistroCore::new(
            id.clone(),
            &self.members,
            registry.clone(),
            self.config.distro,
            self.clock.now(),
        ) else {
            return;
        };
        let incarnation = self.incarnations.entry(id.clone()).or_insert(0);
        *incarnation += 1;
        let incarnation = *incarnation;
        self.nodes.insert(
            id.clone(),
            SimNode {
                core,
                registry,
                incarnation,
            },
        );
    }

    /// The clock every node reads.
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }
    /// The current simulated time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
    /// All members, crashed or not.
    pub fn members(&self) -> &[NodeId] {
        &self.members
    }
    /// The members that are running.
    pub fn alive(&self) -> Vec<NodeId> {
        self.nodes.keys().cloned().collect()
    }
    /// A running node's registry, its read side: writes go through [`Simulation::execute`],
    /// which routes them as a node does.
    pub fn registry(&self, id: &NodeId) -> Option<&RegistryReader> {
        self.nodes.get(id).map(|n| n.core.registry())
    }
    /// A running node's protocol state.
    pub fn core(&self, id: &NodeId) -> Option<&DistroCore> {
        self.nodes.get(id).map(|n| &n.core)
    }
    /// The network's faults, to change them.
    pub fn faults(&mut self) -> &mut FaultModel {
        &mut self.faults
    }
    /// Traffic so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }
    /// Wake-ups at which no node had anything to do (should stay 0; see `run_until`).
    pub fn stalls(&self) -> u64 {
        self.stalls
    }

    /// Gives the running node `id` a [`Persistence`], as `nacre-server --data-dir` does: what
    /// it holds is loaded now ([`Registry::attach_persistence`]), and every change of
    /// persistent data is committed to it from then on. Call it right after the node boots
    /// ([`Simulation::new`], [`Simulation::restart`]) and before running, as a host attaches
    /// its store before the node starts; keep the store, to attach it again after a
    /// [`Simulation::crash`] (which stops the node as a process stops: what is pending is
    /// committed first). `None` when `id` is not running.
    ///
    /// The committer runs on a thread of its own, in real time; what it writes is a function
    /// of the registry's state, so runs stay reproducible.
    pub fn attach_persistence(
        &mut self,
        id: &NodeId,
        persistence: Arc<dyn Persistence>,
    ) -> Option<Result<LoadReport, PersistError>> {
        let node = self.nodes.get(id)?;
        Some(
            node.registry
                .attach_persistence(persistence, CommitPolicy::default()),
        )
    }

    /// Waits (in real time, at most the commit policy's wait) until what node `id` holds of
    /// `service` is on the disk attached to it ([`crate::Registry::wait_persisted`]): the
    /// journal commits on a thread of its own, in real time, so a simulated crash right after
    /// a write may otherwise come before the write's commit, as a real crash before the
    /// write's answer would. `None` when the node is not running.
    pub fn wait_persisted(
        &self,
        id: &NodeId,
        service: &ServiceKey,
    ) -> Option<Result<(), crate::persist::NotPersisted>> {
        Some(self.nodes.get(id)?.registry.wait_persisted(service))
    }

    /// Crashes a node: its state is lost and nothing reaches it.
    pub fn crash(&mut self, id: &NodeId) {
        self.nodes.remove(id);
        self.faults.crash(id);
    }

    /// Restarts a crashed node with empty state: it loads a snapshot from a peer before it
    /// serves.
    pub fn restart(&mut self, id: &NodeId) {
        if self.nodes.contains_key(id) || !self.members.contains(id) {
            return;
        }
        self.faults.restart(id);
        self.boot(id);
    }

    fn schedule(&mut self, at: Timestamp, event: Event) {
        self.seq += 1;
        self.events.insert((at, self.seq), event);
    }

    fn dispatch(&mut self, from: &NodeId, incarnation: u64, out: Vec<crate::cluster::Outgoing>) {
        let now = self.clock.now();
        let timeout = self.config.distro.request_timeout;
        for o in out {
            self.stats.requests += 1;
            match self.faults.decide(from, &o.to) {
                Delivery::Deliver(delay) => self.schedule(
                    now + delay,
                    Event::Request {
                        from: from.clone(),
                        from_incarnation: incarnation,
                        to: o.to,
                        id: o.id,
                        request: o.request,
                        delay,
                    },
                ),
                Delivery::Drop => self.schedule(
                    now + timeout,
                    Event::Response {
                        to: from.clone(),
                        incarnation,
                        id: o.id,
                        result: Err(PeerError::Timeout(o.to)),
                    },
                ),
                Delivery::Unreachable => self.schedule(
                    now + timeout,
                    Event::Response {
                        to: from.clone(),
                        incarnation,
                        id: o.id,
                        result: Err(PeerError::Unreachable(o.to)),
                    },
                ),
            }
        }
    }

    fn process(&mut self, event: Event) {
        let now = self.clock.now();
        match event {
            Event::Request {
                from,
                from_incarnation,
                to,
                id,
                request,
                delay,
            } => {
                let reachable = self.faults.can_reach(&from, &to);
                let measure = self.config.measure_bytes;
                let request_bytes = measure.then(|| Self::sizes(&from, &request));
                let answer = match self.nodes.get_mut(&to) {
                    Some(node) if reachable => {
                        let response = node.core.handle(&from, request, now);
                        self.stats.delivered += 1;
                        if let Some(sizes) = request_bytes {
                            self.count(sizes, &response);
                        }
                        Ok(response)
                    }
                    _ => Err(PeerError::Unreachable(to.clone())),
                };
                let at = match &answer {
                    Ok(_) => now + delay,
                    Err(_) => now + self.config.distro.request_timeout,
                };
                self.schedule(
                    at,
                    Event::Response {
                        to: from,
                        incarnation: from_incarnation,
                        id,
                        result: answer.map_err(|_| PeerError::Timeout(to)),
                    },
                );
            }
            Event::Response {
                to,
                incarnation,
                id,
                result,
            } => {
                if let Some(node) = self.nodes.get_mut(&to) {
                    if node.incarnation == incarnation {
                        node.core.on_response(id, result, now);
                    }
                }
            }
        }
    }

    /// The binary and JSON sizes of a request in its envelope.
    fn sizes(from: &NodeId, request: &PeerRequest) -> (u64, u64) {
        (request_len(from, request), request_json_len(from, request))
    }

    /// Counts a delivered request of `sizes` and its answer.
    fn count(&mut self, sizes: (u64, u64), response: &PeerResponse) {
        self.stats.bytes += sizes.0 + encoded_len(response);
        self.stats.json_bytes += sizes.1 + json_len(response);
    }

    /// Runs the cluster until `deadline`, processing every message and timer on the way.
    pub fn run_until(&mut self, deadline: Timestamp) {
        loop {
            let now = self.clock.now();
            let mut progressed = false;
            while let Some(entry) = self.events.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let event = entry.remove();
                self.process(event);
                progressed = true;
            }
            let ids: Vec<NodeId> = self.nodes.keys().cloned().collect();
            for id in &ids {
                let Some(node) = self.nodes.get_mut(id) else {
                    continue;
                };
                let out = node.core.poll(now);
                let incarnation = node.incarnation;
                if !out.is_empty() {
                    progressed = true;
                    self.dispatch(id, incarnation, out);
                }
            }
            let next_event = self.events.keys().next().map(|(t, _)| *t);
            let next_wake = self.nodes.values().map(|n| n.core.next_wakeup()).min();
            let mut next = match (next_event, next_wake) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                // Nothing runs and nothing is in flight (every node crashed): time just passes.
                (None, None) => {
                    self.clock.set(deadline.max(now));
                    return;
                }
            };
            if next <= now && !progressed {
                // A node asked to be woken now but had nothing to do: a bug in its wake-up
                // bookkeeping. Step on, and count it so tests can insist on zero.
                self.stalls += 1;
                next = now + Duration::from_micros(1);
            }
            if next > deadline {
                self.clock.set(deadline);
                return;
            }
            self.clock.set(next);
        }
    }

    /// Runs the cluster for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let deadline = self.clock.now() + d;
        self.run_until(deadline);
    }

    /// A client operation sent to node `via`, routed as a real node routes it: the same
    /// [`Dispatch`] as [`crate::cluster::ClusterNode::execute`], with the forward delivered
    /// through the simulated network at once (subject to its faults).
    pub fn execute(
        &mut self,
        via: &NodeId,
        command: Command,
    ) -> Result<CommandOutput, ClusterError> {
        let now = self.clock.now();
        let node = self
            .nodes
            .get(via)
            .ok_or_else(|| ClusterError::Unreachable(via.clone()))?;
        let forwarding = match node.core.dispatch(command) {
            Dispatch::Done(result) => return result,
            Dispatch::Forward(forwarding) => forwarding,
        };
        let owner = forwarding.owner().clone();
        self.stats.requests += 1;
        let answer = match self.faults.decide(via, &owner) {
            Delivery::Deliver(_) => match self.nodes.get_mut(&owner) {
                Some(node) => {
                    self.stats.delivered += 1;
                    let request = forwarding.request();
                    let measure = self.config.measure_bytes;
                    let request_bytes = measure.then(|| Self::sizes(via, &request));
                    let response = node.core.handle(via, request, now);
                    if let Some(sizes) = request_bytes {
                        self.stats.bytes += sizes.0 + encoded_len(&response);
                        self.stats.json_bytes += sizes.1 + json_len(&response);
                    }
                    Ok(response)
                }
                None => Err(PeerError::Unreachable(owner)),
            },
            Delivery::Drop => Err(PeerError::Timeout(owner)),
            Delivery::Unreachable => Err(PeerError::Unreachable(owner)),
        };
        let node = self
            .nodes
            .get(via)
            .ok_or_else(|| ClusterError::Unreachable(via.clone()))?;
        node.core.complete(forwarding, answer)
    }

    /// Registers through `via`.
    pub fn register(
        &mut self,
        via: &NodeId,
        service: &ServiceKey,
        instance: Instance,
    ) -> Result<u64, ClusterError> {
        Ok(self
            .execute(via, Command::register(service, instance))?
            .into_revision()?)
    }

    /// Deregisters through `via`.
    pub fn deregister(
        &mut self,
        via: &NodeId,
        service: &ServiceKey,
        instance: &InstanceKey,
    ) -> Result<bool, ClusterError> {
        Ok(self
            .execute(via, Command::deregister(service, instance))?
            .into_deregistered()?)
    }

    /// A heartbeat carrying the instance's data, through `via`.
    pub fn heartbeat_with(
        &mut self,
        via: &NodeId,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<BeatReply, ClusterError> {
        Ok(self
            .execute(via, Command::beat_with(service, instance))?
            .into_beat()?)
    }

    /// A light heartbeat through `via`.
    pub fn heartbeat(
        &mut self,
        via: &NodeId,
        service: &ServiceKey,
        instance: &InstanceKey,
    ) -> Result<BeatReply, ClusterError> {
        Ok(self
            .execute(via, Command::light_beat(service, instance))?
            .into_beat()?)
    }
}

/// Everything a registry holds, comparable across nodes: service → instances (data and health),
/// ordered.
pub fn registry_contents(registry: &RegistryReader) -> BTreeMap<ServiceKey, Vec<Instance>> {
    let mut out = BTreeMap::new();
    for snap in registry.store().snapshots() {
        let instances: Vec<Instance> = snap
            .entries()
            .map(|e| Instance::clone(e.instance()))
            .collect();
        if !instances.is_empty() {
            out.insert(snap.key().clone(), instances);
        }
    }
    out
}

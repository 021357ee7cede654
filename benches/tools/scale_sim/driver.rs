//! The driver of `benches/tools/scale_sim.rs`: `DistroCore`s on one `ManualClock`, every
//! message through the binary peer codec, delivered at once; per-node traffic and CPU
//! accounting.

use nacre::cluster::{
    decode_message, distro_hash, encode_message, encode_request, request_len, ClusterError,
    Dispatch, DistroConfig, DistroCore, Envelope, NodeId, Outgoing, PeerError, PeerRequest,
    PeerResponse,
};
use nacre::store::{ServiceRecord, StoreError};
use nacre::{Clock, Command, Instance, InstanceKey, ManualClock, Registry, ServiceKey, Timestamp};
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The driver polls the nodes at most this often (and at every beat step). A node's health
/// sweep asks to run again as soon as its earliest per-service hint falls due, which under a
/// steady beat load over many services is almost at once; a driver that polled whenever asked
/// would spend all its time sweeping (see the BENCHMARKS section), so this bounds it, as a
/// host polling on a 100 ms timer would.
pub(crate) const MIN_STEP: Duration = Duration::from_millis(100);

/// Message kinds, as counted.
pub(crate) const KINDS: [&str; 6] = ["ping", "sync", "verify", "fetch", "snapshot", "forward"];

fn kind(request: &PeerRequest) -> usize {
    match request {
        PeerRequest::Ping { .. } => 0,
        PeerRequest::Sync { .. } => 1,
        PeerRequest::Verify { .. }
        | PeerRequest::VerifyBuckets { .. }
        | PeerRequest::VerifyServices { .. } => 2,
        PeerRequest::Fetch { .. } => 3,
        PeerRequest::Snapshot { .. } => 4,
        PeerRequest::Forward(_) | PeerRequest::Control(_) => 5,
    }
}

/// Where client beats arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BeatMode {
    /// At the node responsible for the instance's service.
    Owner,
    /// At a random ready node, which forwards them.
    Any,
}

#[derive(Debug, Default, Clone, Copy)]
struct Count {
    msgs: u64,
    bytes: u64,
}

/// One node's traffic (as the sender of requests, by kind) and CPU.
#[derive(Debug, Default, Clone)]
struct NodeStats {
    sent: [Count; 6],
    bytes_out: u64,
    bytes_in: u64,
    cpu: Duration,
}

#[derive(Debug, Default, Clone, Copy)]
struct BeatStats {
    beats: u64,
    forwarded: u64,
    not_found: u64,
    refused: u64,
}

/// CPU time (user + system) of this process so far, from `/proc/self/stat` (zero where
/// unavailable); with the wall time beside it, the share of a core the run really got.
pub(crate) fn process_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The fields after the command name, which is in parentheses.
            let rest = s.rsplit_once(')')?.1.to_owned();
            let f: Vec<u64> = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|x| x.parse().ok())
                .collect();
            Some(f.iter().sum::<u64>())
        })
        .unwrap_or(0);
    // Linux reports in USER_HZ, 100 per second on every common configuration.
    Duration::from_millis(ticks * 10)
}

/// The resident set size of this process, from `/proc/self/statm` (0 where unavailable).
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

pub(crate) struct Sim {
    clock: ManualClock,
    shared: Arc<dyn Clock>,
    ids: Vec<NodeId>,
    config: DistroConfig,
    cores: Vec<Option<DistroCore>>,
    stats: Vec<NodeStats>,
    beats: BeatStats,
    mode: BeatMode,
    rng: fastrand::Rng,
}

impl Sim {
    pub(crate) fn new(ids: Vec<NodeId>, config: DistroConfig, mode: BeatMode, seed: u64) -> Self {
        let clock = ManualClock::new();
        let mut sim = Sim {
            shared: Arc::new(clock.clone()),
            clock,
            stats: vec![NodeStats::default(); ids.len()],
            cores: (0..ids.len()).map(|_| None).collect(),
            ids,
            config,
            beats: BeatStats::default(),
            mode,
            rng: fastrand::Rng::with_seed(seed),
        };
        for i in 0..sim.ids.len() {
            sim.restart(i);
        }
        sim
    }

    pub(crate) fn shared_clock(&self) -> Arc<dyn Clock> {
        self.shared.clone()
    }
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Starts node `i` empty (a restart after [`Sim::crash`]).
    pub(crate) fn restart(&mut self, i: usize) {
        let registry = Registry::builder()
            .shared_clock(self.shared.clone())
            .origin(self.ids[i].origin())
            .delivery_threads(1)
            .build();
        self.cores[i] = DistroCore::new(
            self.ids[i].clone(),
            &self.ids,
            registry,
            self.config,
            self.clock.now(),
        )
        .ok();
    }

    /// Drops node `i` with all its state.
    pub(crate) fn crash(&mut self, i: usize) {
        self.cores[i] = None;
    }

    pub(crate) fn is_ready(&self, i: usize) -> bool {
        self.cores[i].as_ref().is_some_and(DistroCore::is_ready)
    }
    pub(crate) fn all_ready(&self) -> bool {
        (0..self.ids.len()).all(|i| self.is_ready(i))
    }

    fn index(&self, id: &NodeId) -> Option<usize> {
        self.ids.iter().position(|x| x == id)
    }

    /// Delivers everything due now, and what that makes due, until every node is quiet.
    pub(crate) fn pump(&mut self) -> Result<(), Box<dyn Error>> {
        loop {
            let now = self.clock.now();
            let mut quiet = true;
            for i in 0..self.ids.len() {
                let Some(core) = self.cores[i].as_mut() else {
                    continue;
                };
                let t = Instant::now();
                let out = core.poll(now);
                self.stats[i].cpu += t.elapsed();
                for o in out {
                    quiet = false;
                    let answer = self.send(i, &o.to, &o.request, now)?;
                    self.answered(i, o, answer, now);
                }
            }
            if quiet {
                return Ok(());
            }
        }
    }

    fn answered(
        &mut self,
        i: usize,
        o: Outgoing,
        answer: Result<PeerResponse, PeerError>,
        now: Timestamp,
    ) {
        if let Some(core) = self.cores[i].as_mut() {
            let t = Instant::now();
            core.on_response(o.id, answer, now);
            self.stats[i].cpu += t.elapsed();
        }
    }

    /// Sends `request` from node `i` to `to` through the codec and returns the decoded answer.
    fn send(
        &mut self,
        i: usize,
        to: &NodeId,
        request: &PeerRequest,
        now: Timestamp,
    ) -> Result<Result<PeerResponse, PeerError>, Box<dyn Error>> {
        let t = Instant::now();
        let bytes = encode_request(&self.ids[i], request)?;
        self.stats[i].cpu += t.elapsed();
        let Some(j) = self.index(to) else {
            return Ok(Err(PeerError::Unreachable(to.clone())));
        };
        let Some(core) = self.cores[j].as_mut() else {
            // A crashed node: the connection is refused at once.
            return Ok(Err(PeerError::Unreachable(to.clone())));
        };
        let t = Instant::now();
        let envelope: Envelope = decode_message(&bytes)?;
        let response = core.handle(&envelope.from, envelope.request, now);
        let answer_bytes = encode_message(&response)?;
        self.stats[j].cpu += t.elapsed();
        let t = Instant::now();
        let answer: PeerResponse = decode_message(&answer_bytes)?;
        self.stats[i].cpu += t.elapsed();
        let (req, ans) = (bytes.len() as u64, answer_bytes.len() as u64);
        let k = kind(request);
        self.stats[i].sent[k].msgs += 1;
        self.stats[i].sent[k].bytes += req + ans;
        self.stats[i].bytes_out += req;
        self.stats[i].bytes_in += ans;
        self.stats[j].bytes_in += req;
        self.stats[j].bytes_out += ans;
        Ok(Ok(answer))
    }

    /// Runs every node until `until`, waking at each node's next wake-up.
    pub(crate) fn run_until(&mut self, until: Timestamp) -> Result<(), Box<dyn Error>> {
        loop {
            self.pump()?;
            let now = self.clock.now();
            let next = self
                .cores
                .iter()
                .flatten()
                .map(DistroCore::next_wakeup)
                .min()
                .unwrap_or(until)
                .max(now + MIN_STEP);
            if next >= until {
                self.clock.set(until);
                return Ok(());
            }
            self.clock.set(next);
        }
    }

    /// A ready node, to read the responsible node of a service from.
    fn any_ready(&self) -> Option<usize> {
        (0..self.ids.len()).find(|i| self.is_ready(*i))
    }

    fn owner_of(&self, service: &ServiceKey) -> Option<usize> {
        let core = self.cores[self.any_ready()?].as_ref()?;
        let mapper = core.routing().mapper();
        let owner = mapper.owner(service)?;
        self.index(owner).filter(|j| self.is_ready(*j))
    }

    /// A client command arriving at node `via`, routed as a node routes it.
    fn execute(
        &mut self,
        via: usize,
        command: Command,
    ) -> Result<nacre::CommandOutput, Box<dyn Error>> {
        let now = self.clock.now();
        let core = self.cores[via].as_ref().ok_or("no such node")?;
        let t = Instant::now();
        let dispatch = core.dispatch(command);
        self.stats[via].cpu += t.elapsed();
        let forwarding = match dispatch {
            Dispatch::Done(result) => return Ok(result?),
            Dispatch::Forward(f) => f,
        };
        let owner = forwarding.owner().clone();
        let answer = self.send(via, &owner, &forwarding.request(), now)?;
        let core = self.cores[via].as_ref().ok_or("no such node")?;
        Ok(core.complete(forwarding, answer)?)
    }

    /// Registers `instances` of `service` through its responsible node.
    pub(crate) fn register(
        &mut self,
        service: &ServiceKey,
        instances: Vec<Instance>,
    ) -> Result<(), Box<dyn Error>> {
        let via = self.owner_of(service).ok_or("no ready node")?;
        self.execute(via, Command::batch_register(service, instances))?;
        Ok(())
    }

    /// One client beat for `ip:port` of `service`, arriving where the beat mode says.
    pub(crate) fn beat(
        &mut self,
        service: &ServiceKey,
        ip: &str,
        port: u16,
    ) -> Result<(), Box<dyn Error>> {
        let ready: Vec<usize> = (0..self.ids.len()).filter(|i| self.is_ready(*i)).collect();
        if ready.is_empty() {
            return Err("no ready node".into());
        }
        let random = ready[self.rng.usize(..ready.len())];
        let via = match self.mode {
            BeatMode::Owner => self.owner_of(service).unwrap_or(random),
            BeatMode::Any => random,
        };
        let forwarded = !matches!(
            self.cores[via].as_ref().map(|c| c.route(service)),
            Some(nacre::cluster::Route::Local)
        );
        self.beats.beats += 1;
        self.beats.forwarded += u64::from(forwarded);
        let key = InstanceKey::in_default_cluster(ip, port)?;
        match self.execute(via, Command::light_beat(service, &key)) {
            Ok(_) => Ok(()),
            Err(e) => match e.downcast_ref::<ClusterError>() {
                Some(ClusterError::Registry(StoreError::InstanceNotFound(_))) => {
                    // The client sends its data again, which re-registers the instance.
                    self.beats.not_found += 1;
                    let instance = Instance::new(ip, port)?;
                    self.execute(via, Command::beat_with(service, &instance))?;
                    Ok(())
                }
                Some(_) => {
                    self.beats.refused += 1;
                    Ok(())
                }
                None => Err(e),
            },
        }
    }

    pub(crate) fn beat_stats(&self) -> String {
        let b = self.beats;
        format!(
            "{} sent, {} forwarded, {} answered not found (resent with data), {} refused",
            b.beats, b.forwarded, b.not_found, b.refused
        )
    }

    pub(crate) fn reset_stats(&mut self) {
        for s in &mut self.stats {
            *s = NodeStats::default();
        }
        self.beats = BeatStats::default();
    }

    pub(crate) fn cpu(&self, i: usize) -> Duration {
        self.stats[i].cpu
    }
    pub(crate) fn bytes_in(&self, i: usize) -> u64 {
        self.stats[i].bytes_in
    }

    /// Messages (requests; each has an answer) and bytes (both ways) per second over `secs`.
    pub(crate) fn print_traffic(&self, secs: f64) {
        let per_s = |x: u64| x as f64 / secs;
        let mut total = [Count::default(); 6];
        for (i, s) in self.stats.iter().enumerate() {
            let msgs: u64 = s.sent.iter().map(|c| c.msgs).sum();
            let share = if secs >= 1.0 {
                format!(" ({:.1} % of one core)", s.cpu.as_secs_f64() / secs * 100.0)
            } else {
                String::new()
            };
            println!(
                "  {}: sends {:>8.1} msgs/s; bytes out {:>10.0} B/s, in {:>10.0} B/s; busy {:.2} s{share}",
                self.ids[i],
                per_s(msgs),
                per_s(s.bytes_out),
                per_s(s.bytes_in),
                s.cpu.as_secs_f64(),
            );
            for (t, c) in total.iter_mut().zip(s.sent) {
                t.msgs += c.msgs;
                t.bytes += c.bytes;
            }
        }
        let msgs: u64 = total.iter().map(|c| c.msgs).sum();
        let bytes: u64 = total.iter().map(|c| c.bytes).sum();
        println!(
            "  all nodes: {:.1} msgs/s, {:.0} B/s (requests and answers)",
            per_s(msgs),
            per_s(bytes)
        );
        for (name, c) in KINDS.iter().zip(total) {
            if c.msgs > 0 {
                println!(
                    "    {name:<8} {:>9.1} msgs/s {:>11.0} B/s",
                    per_s(c.msgs),
                    per_s(c.bytes)
                );
            }
        }
    }

    /// Instances held per node (`None` for a crashed node).
    pub(crate) fn instance_counts(&self) -> Vec<Option<usize>> {
        self.cores
            .iter()
            .map(|c| {
                c.as_ref().map(|c| {
                    let mut n = 0;
                    c.registry().store().for_each(|s| n += s.instance_count());
                    n
                })
            })
            .collect()
    }

    /// Services, instances and a digest of every service's checksum, per node.
    fn digest(core: &DistroCore) -> (usize, usize, u64) {
        let (mut services, mut instances, mut digest) = (0, 0, 0u64);
        core.registry().store().for_each(|s| {
            if s.instance_count() > 0 {
                services += 1;
                instances += s.instance_count();
                digest = digest.wrapping_add(distro_hash(s.key()) ^ s.checksum().rotate_left(17));
            }
        });
        (services, instances, digest)
    }

    /// Whether every node runs and holds the same data.
    pub(crate) fn identical(&self) -> bool {
        let mut first = None;
        for c in &self.cores {
            let Some(c) = c else { return false };
            let d = Self::digest(c);
            if *first.get_or_insert(d) != d {
                return false;
            }
        }
        true
    }

    /// Every service of node `i` as a full record.
    pub(crate) fn records(&self, i: usize) -> Vec<ServiceRecord> {
        self.cores[i].as_ref().map_or_else(Vec::new, |c| {
            let mut out = Vec::new();
            c.registry()
                .store()
                .for_each(|s| out.push(s.to_record(None)));
            out
        })
    }

    /// The bytes one round of the full-list verify would send from every node to every peer:
    /// each node's owned services with their checksums, in the binary format.
    pub(crate) fn full_list_verify_bytes(&self) -> u64 {
        let mut total = 0;
        for (i, core) in self.cores.iter().enumerate() {
            let Some(core) = core else { continue };
            let mapper = core.routing().mapper();
            let mut checksums = Vec::new();
            core.registry().store().for_each(|s| {
                if mapper.is_owner(&self.ids[i], s.key()) {
                    checksums.push((s.key().clone(), s.checksum()));
                }
            });
            let request = PeerRequest::Verify { checksums };
            total += request_len(&self.ids[i], &request) * (self.ids.len() as u64 - 1);
        }
        total
    }
}

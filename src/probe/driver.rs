//! [`Prober`]: the thin async driver around the [`super::policy`]. It reads which persistent
//! instances this member checks, starts the probes that are due (at most
//! [`ProbeConfig::max_concurrent`] at once), feeds their outcomes to the policy and writes the
//! verdicts through [`Backend::execute`]. It sleeps on the injected [`Clock`].

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use super::check::{http_client, probe, Probed};
use super::deny::DenyList;
use super::policy::{ProbeState, ProbeTiming};
use super::settings::{CheckSettings, Checker};
use crate::clock::{Clock, Timestamp};
use crate::front::Backend;
use crate::model::{Host, InstanceKey, ServiceKey};
use crate::registry::Command;

/// The prober's bounds and timing.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Nacos' timing and thresholds.
    pub timing: ProbeTiming,
    /// The most probes running at once (64); due probes wait for a place.
    pub max_concurrent: usize,
    /// The most one probe may take, resolution, connect and answer together (500 ms, Nacos'
    /// TCP connect timeout and its HTTP checks' connect and read timeouts).
    pub timeout: Duration,
    /// Addresses never probed.
    pub deny: DenyList,
    /// How often the instances to check are read again (1 s).
    pub rescan: Duration,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            timing: ProbeTiming::default(),
            max_concurrent: DEFAULT_MAX_CONCURRENT_PROBES,
            timeout: DEFAULT_PROBE_TIMEOUT,
            deny: DenyList::default(),
            rescan: Duration::from_secs(1),
        }
    }
}

/// The default of [`ProbeConfig::max_concurrent`].
pub const DEFAULT_MAX_CONCURRENT_PROBES: usize = 64;
/// The default of [`ProbeConfig::timeout`].
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// What the prober did so far.
#[derive(Debug, Default)]
struct Counts {
    finished: AtomicU64,
    denied: AtomicU64,
    verdicts: AtomicU64,
}

/// A running prober; dropping it (or [`Prober::stop`]) stops it, probes in flight included.
#[derive(Debug)]
pub struct Prober {
    task: JoinHandle<()>,
    counts: Arc<Counts>,
}

impl Prober {
    /// Spawns the prober on the current tokio runtime: it checks the persistent instances of
    /// `backend` (on a cluster member, of the services this member is responsible for), each
    /// cluster as `settings` says, sleeping on `clock`.
    pub fn spawn(
        backend: Backend,
        settings: Arc<dyn CheckSettings>,
        clock: Arc<dyn Clock>,
        config: ProbeConfig,
    ) -> Prober {
        let counts = Arc::new(Counts::default());
        let driver = Driver {
            backend,
            settings,
            clock,
            limit: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            deny: Arc::new(config.deny.clone()),
            config,
            http: http_client(),
            counts: counts.clone(),
            states: HashMap::new(),
            schedule: BTreeSet::new(),
            targets: HashMap::new(),
            rng: fastrand::Rng::new(),
        };
        Prober {
            task: tokio::spawn(driver.run()),
            counts,
        }
    }

    /// Probes finished so far (denied ones included), their verdicts written.
    pub fn probes_finished(&self) -> u64 {
        self.counts.finished.load(Ordering::Acquire)
    }

    /// Probes not run because the address was denied.
    pub fn probes_denied(&self) -> u64 {
        self.counts.denied.load(Ordering::Acquire)
    }

    /// Health changes written so far.
    pub fn verdicts(&self) -> u64 {
        self.counts.verdicts.load(Ordering::Acquire)
    }

    /// Stops the prober.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Key = (ServiceKey, InstanceKey);

/// Where and how to probe one instance.
#[derive(Debug, Clone)]
struct Target {
    host: Host,
    port: u16,
    checker: Checker,
}

struct Driver {
    backend: Backend,
    settings: Arc<dyn CheckSettings>,
    clock: Arc<dyn Clock>,
    config: ProbeConfig,
    limit: Arc<Semaphore>,
    deny: Arc<DenyList>,
    http: reqwest::Client,
    counts: Arc<Counts>,
    states: HashMap<Key, ProbeState>,
    /// The instances waiting for their next probe, by when it is due (none in flight).
    schedule: BTreeSet<(Timestamp, Key)>,
    targets: HashMap<Key, Target>,
    rng: fastrand::Rng,
}

impl Driver {
    async fn run(mut self) {
        let (done_tx, mut done) = mpsc::unbounded_channel::<(Key, Probed)>();
        let mut next_scan = self.clock.now();
        loop {
            let now = self.clock.now();
            if now >= next_scan {
                self.scan(now);
                next_scan = now + self.config.rescan;
            }
            let saturated = self.start_due(now, &done_tx);
            let wake = match self.schedule.first() {
                Some((due, _)) if !saturated => (*due).min(next_scan),
                _ => next_scan,
            };
            tokio::select! {
                () = self.clock.sleep_until(wake) => {}
                Some((key, probed)) = done.recv() => {
                    self.finish(key, probed).await;
                    while let Ok((key, probed)) = done.try_recv() {
                        self.finish(key, probed).await;
                    }
                }
            }
        }
    }

    /// Whether this member checks `service`: always when standalone, else when it is the
    /// service's Distro owner (as Nacos' `HealthCheckResponsibleInterceptor` decides).
    fn owns(&self, service: &ServiceKey) -> bool {
        self.owner_check()(service)
    }

    /// [`Driver::owns`] with the mapper loaded once, for a whole scan.
    fn owner_check(&self) -> impl Fn(&ServiceKey) -> bool {
        let mapper = self
            .backend
            .cluster_node()
            .map(|n| (n.mapper(), n.id().clone()));
        move |service| match &mapper {
            None => true,
            Some((mapper, me)) => mapper.is_owner(me, service),
        }
    }

    /// Reads the persistent instances to check, and brings the states in line with them.
    fn scan(&mut self, now: Timestamp) {
        let mut targets = HashMap::new();
        let settings = self.settings.clone();
        let owns = self.owner_check();
        self.backend.registry().store().for_each(|service| {
            if service.persistent_count() == 0 || !owns(service.key()) {
                return;
            }
            for (name, cluster) in service.clusters() {
                if cluster.persistent == 0 {
                    continue;
                }
                let check = settings.check_of(service.key(), name);
                if !check.probes() {
                    continue;
                }
                for entry in cluster.instances().filter(|e| !e.ephemeral()) {
                    let instance = entry.instance();
                    let endpoint = instance.endpoint();
                    let target = Target {
                        host: endpoint.ip.clone(),
                        port: check.port_for(endpoint.port),
                        checker: check.checker.clone(),
                    };
                    targets.insert((service.key().clone(), instance.key()), target);
                }
            }
        });
        let (timing, rng) = (self.config.timing, &mut self.rng);
        self.states.retain(|key, state| {
            let keep = targets.contains_key(key);
            if !keep {
                self.schedule.remove(&(state.next_due(), key.clone()));
            }
            keep
        });
        for key in targets.keys() {
            if !self.states.contains_key(key) {
                let jitter = (rng.u32(0..1_000_000), rng.u32(0..1_000_000));
                let state = ProbeState::new(now, &timing, jitter);
                self.schedule.insert((state.next_due(), key.clone()));
                self.states.insert(key.clone(), state);
            }
        }
        self.targets = targets;
    }

    /// Starts the probes due at `now`, as many as there are places; answers whether the
    /// places ran out.
    fn start_due(&mut self, now: Timestamp, done: &mpsc::UnboundedSender<(Key, Probed)>) -> bool {
        while let Some((due, key)) = self.schedule.first().cloned() {
            if due > now {
                return false;
            }
            let Ok(permit) = self.limit.clone().try_acquire_owned() else {
                return true;
            };
            self.schedule.remove(&(due, key.clone()));
            let (Some(state), Some(target)) = (self.states.get_mut(&key), self.targets.get(&key))
            else {
                continue;
            };
            if state.in_flight() {
                continue;
            }
            state.start();
            let (target, deny, http) = (target.clone(), self.deny.clone(), self.http.clone());
            let (timeout, done) = (self.config.timeout, done.clone());
            tokio::spawn(async move {
                let probed = probe(
                    &target.host,
                    target.port,
                    &target.checker,
                    &deny,
                    timeout,
                    &http,
                )
                .await;
                drop(permit);
                // The driver may have stopped; then nobody waits for the outcome.
                let _ = done.send((key, probed));
            });
        }
        false
    }

    /// Feeds one probe's outcome to the policy, and writes the verdict.
    async fn finish(&mut self, key: Key, probed: Probed) {
        let now = self.clock.now();
        let healthy = self
            .backend
            .registry()
            .service(&key.0)
            .and_then(|s| s.entry(&key.1).map(|e| (e.ephemeral(), e.healthy())));
        let mut why = None;
        let verdict = match (self.states.get_mut(&key), healthy) {
            // A state made again while this probe ran (the instance left and came back) did
            // not start it: the outcome is not its.
            (Some(state), _) if !state.in_flight() => None,
            (Some(state), Some((false, healthy))) => {
                let verdict = match probed {
                    Probed::Done(outcome) => {
                        why = Some(outcome);
                        state.finish(healthy, outcome, now, &self.config.timing)
                    }
                    Probed::Denied(ip) => {
                        self.counts.denied.fetch_add(1, Ordering::AcqRel);
                        tracing::debug!(
                            service = %key.0.grouped_name(), instance = %key.1.endpoint, %ip,
                            "probe: the address is denied; the instance keeps its health"
                        );
                        state.skip(now, &self.config.timing);
                        None
                    }
                };
                self.schedule.insert((state.next_due(), key.clone()));
                verdict
            }
            // Gone, or no longer persistent: the next scan forgets it.
            _ => None,
        };
        if let Some(healthy) = verdict.filter(|_| self.owns(&key.0)) {
            // Recorded in the instance's timeline with what the probe found.
            let mut origin = crate::timeline::Origin::front("probe");
            origin.reason = why.map(|o| o.describe());
            crate::timeline::with_origin(origin, self.write(&key, healthy)).await;
        }
        self.counts.finished.fetch_add(1, Ordering::AcqRel);
    }

    async fn write(&self, (service, instance): &Key, healthy: bool) {
        let command = Command::set_health(service, instance, healthy);
        match self.backend.execute(command).await {
            Ok(_) => {
                self.counts.verdicts.fetch_add(1, Ordering::AcqRel);
                tracing::debug!(
                    service = %service.grouped_name(), instance = %instance.endpoint, healthy,
                    "probe: health changed"
                );
            }
            Err(e) => tracing::debug!(
                service = %service.grouped_name(), instance = %instance.endpoint, error = %e,
                "probe: the health change was not written; the next probes try again"
            ),
        }
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;

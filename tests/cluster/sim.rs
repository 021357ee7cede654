//! Seeded random fault schedules against a simulated cluster.
//!
//! Each schedule: 3 or 5 nodes; clients that register, beat every 5 s through "their" node
//! (failing over to the next node when it is down or starting), and sometimes stop or
//! deregister; 150 s of random faults (partitions, heals, crashes, restarts, lossy and slow
//! links); then the network heals, crashed nodes restart, and after a settling period the
//! checks run:
//! - throughout, faults included, every second: a client that has beaten through the same node
//!   for 12 s or more is present on that node (an eviction made where its beats did not
//!   arrive never deletes it where they did);
//! - for 30 s at the end, every second: every client still beating is present and healthy on
//!   every node (nothing that beats in time is evicted or left unhealthy);
//! - at the end: all nodes hold exactly the same data, and every instance whose client stopped
//!   or deregistered long enough ago is gone everywhere;
//! - throughout, every second: **no resurrection**. Once a node knows that the instance of a
//!   client that deregistered or stopped is gone (it holds its deregistration, or an eviction
//!   claiming no beat after the client's last one), the instance is never live on that node
//!   again, unless the node restarted (and so forgot). Ownership flaps all along: partitions,
//!   nodes cut off alone for a few seconds, crashes and restarts all move services between
//!   nodes.
//!
//! Alone: `cargo test --test cluster sim::`. `NACRE_SIM_SEEDS=N` runs N schedules (default
//! 200); `NACRE_SIM_SEED=S` replays one, and `NACRE_SIM_TRACE=1` prints, every second, each
//! instance on each node (H healthy, u unhealthy, . missing, x node down) and each node's
//! readiness and mapper.

use crate::common::secs;
use nacre::cluster::{ClusterError, NodeId};
use nacre::store::RemovalReason;
use nacre::transport::memory::{registry_contents, LinkFaults, SimConfig, Simulation};
use nacre::{Instance, ServiceKey, Timestamp};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
enum ClientState {
    Beating,
    Stopped(u64),
    Deregistered(u64),
}

struct Client {
    service: ServiceKey,
    instance: Instance,
    server: usize,
    state: ClientState,
    /// When a beat (or the registration) of this client was last taken.
    last_beat: Option<Timestamp>,
    /// The node that took this client's beats, and since when (seconds).
    sticky: Option<(NodeId, u64)>,
}

/// Sends one client operation, failing over to the next node while the chosen one is down or
/// starting, as a real client does. Returns the node that took it.
fn with_failover<T>(
    sim: &mut Simulation,
    client: &mut Client,
    mut op: impl FnMut(&mut Simulation, &NodeId) -> Result<T, ClusterError>,
) -> Option<NodeId> {
    let members = sim.members().to_vec();
    for _ in 0..members.len() {
        let via = members[client.server % members.len()].clone();
        match op(sim, &via) {
            Ok(_) => return Some(via),
            Err(ClusterError::NotReady(_)) | Err(ClusterError::Unreachable(_)) => {
                client.server = (client.server + 1) % members.len();
            }
            Err(_) => return Some(via),
        }
    }
    None
}

/// Runs one schedule; returns how many times a node learnt that a removed instance was gone
/// (each then checked for resurrection until the end).
fn run_schedule(seed: u64) -> Result<usize, String> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5EED);
    let n = if rng.bool() { 3 } else { 5 };
    let mut sim = Simulation::with_nodes(n, seed, SimConfig::default());
    let members = sim.members().to_vec();
    sim.run_for(secs(1));
    let services: Vec<ServiceKey> = (0..4)
        .map(|i| ServiceKey::named(&format!("svc-{i}")).unwrap())
        .collect();
    let mut clients: Vec<Client> = Vec::new();
    let mut next_ip = 1u32;
    let mut new_client = |rng: &mut fastrand::Rng, clients: &mut Vec<Client>| {
        let instance =
            Instance::builder(&format!("10.1.{}.{}", next_ip / 256, next_ip % 256), 8080)
                .weight(f64::from(rng.u8(1..5)))
                .build()
                .unwrap();
        next_ip += 1;
        clients.push(Client {
            service: services[rng.usize(..services.len())].clone(),
            instance,
            server: rng.usize(..n),
            state: ClientState::Beating,
            last_beat: None,
            sticky: None,
        });
    };
    for _ in 0..10 {
        new_client(&mut rng, &mut clients);
    }
    for c in clients.iter_mut() {
        register(&mut sim, c);
    }

    let start = sim.now();
    let elapsed = |sim: &Simulation| sim.now().saturating_since(start).as_secs();
    let mut crashed: Vec<NodeId> = Vec::new();
    let mut restarted_at: std::collections::BTreeMap<NodeId, u64> = Default::default();
    let beat_all = |sim: &mut Simulation,
                    clients: &mut Vec<Client>,
                    restarted_at: &std::collections::BTreeMap<NodeId, u64>,
                    second: u64| {
        for (i, c) in clients.iter_mut().enumerate() {
            if c.state == ClientState::Beating && (second + i as u64).is_multiple_of(5) {
                let (svc, inst) = (c.service.clone(), c.instance.clone());
                let mut taken = None;
                let took = with_failover(sim, c, |s, via| {
                    let r = s.heartbeat_with(via, &svc, &inst);
                    if r.is_ok() {
                        taken = Some(s.now());
                    }
                    r
                });
                if taken.is_some() {
                    c.last_beat = taken;
                }
                if let Some(node) = took {
                    let restarted = restarted_at.get(&node).copied().unwrap_or(0);
                    let keep =
                        matches!(&c.sticky, Some((n, since)) if *n == node && *since > restarted);
                    if !keep {
                        c.sticky = Some((node, second));
                    }
                }
            }
        }
    };
    // The sticky check: a client beating through the same node for 12 s is there.
    let trace = std::env::var("NACRE_SIM_TRACE").is_ok();
    let check_sticky = |sim: &Simulation,
                        clients: &Vec<Client>,
                        restarted_at: &std::collections::BTreeMap<NodeId, u64>,
                        second: u64|
     -> Result<(), String> {
        if trace {
            let mut line = format!("{second:>3}s");
            for c in clients {
                line.push_str(&format!(
                    " {}:",
                    c.instance.ip().as_str().rsplit('.').next().unwrap_or("?")
                ));
                for node in sim.members() {
                    let st = match sim
                        .registry(node)
                        .and_then(|r| r.service(&c.service))
                        .and_then(|s| s.entry(&c.instance.key()).map(|e| e.instance().healthy()))
                    {
                        Some(true) => 'H',
                        Some(false) => 'u',
                        None => {
                            if sim.core(node).is_some() {
                                '.'
                            } else {
                                'x'
                            }
                        }
                    };
                    line.push(st);
                }
                if let Some((n, _)) = &c.sticky {
                    line.push_str(&format!("@{}", n.as_str().trim_start_matches("node-")));
                }
            }
            for node in sim.members() {
                if let Some(core) = sim.core(node) {
                    line.push_str(&format!(
                        " [{}:{}{:?}]",
                        node.as_str().trim_start_matches("node-"),
                        if core.is_ready() { "R" } else { "L" },
                        core.routing()
                            .mapper()
                            .members()
                            .iter()
                            .map(|m| m.as_str().trim_start_matches("node-").to_string())
                            .collect::<Vec<_>>()
                    ));
                }
            }
            eprintln!("{line}");
        }
        for c in clients.iter().filter(|c| c.state == ClientState::Beating) {
            let Some((node, since)) = &c.sticky else {
                continue;
            };
            if second < since + 12 || !sim.core(node).is_some_and(|core| core.is_ready()) {
                continue;
            }
            // A node that restarted since lost what it had; it is judged again once the client
            // has stuck to it anew.
            if restarted_at.get(node).is_some_and(|r| r >= since) {
                continue;
            }
            let present = sim
                .registry(node)
                .and_then(|r| r.service(&c.service))
                .is_some_and(|s| s.entry(&c.instance.key()).is_some());
            if !present {
                return Err(format!(
                    "at {second}s: {} of {} beats through {node} since {since}s but is missing there",
                    c.instance.ip(),
                    c.service
                ));
            }
        }
        Ok(())
    };

    let mut graves = Graves::default();
    let mut heal_at: Option<u64> = None;
    // Phase 1: faults.
    for second in 0..150u64 {
        let roll = rng.f64();
        if roll < 0.03 {
            let mut shuffled = members.clone();
            rng.shuffle(&mut shuffled);
            let cut = rng.usize(1..n);
            let (a, b) = shuffled.split_at(cut);
            sim.faults().partition(&[a, b]);
            if std::env::var("NACRE_SIM_TRACE").is_ok() {
                eprintln!("{second}s partition {a:?} | {b:?}");
            }
        } else if roll < 0.07 {
            sim.faults().heal();
            if std::env::var("NACRE_SIM_TRACE").is_ok() {
                eprintln!("{second}s heal");
            }
        } else if roll < 0.09 && crashed.len() + 1 < n {
            let alive = sim.alive();
            let victim = alive[rng.usize(..alive.len())].clone();
            sim.crash(&victim);
            if std::env::var("NACRE_SIM_TRACE").is_ok() {
                eprintln!("{second}s crash {victim}");
            }
            crashed.push(victim);
        } else if roll < 0.13 && !crashed.is_empty() {
            let back = crashed.swap_remove(rng.usize(..crashed.len()));
            sim.restart(&back);
            if std::env::var("NACRE_SIM_TRACE").is_ok() {
                eprintln!("{second}s restart {back}");
            }
            restarted_at.insert(back, second);
        } else if roll < 0.16 {
            sim.faults().set_default(LinkFaults {
                drop_rate: rng.f64() * 0.3,
                delay: Duration::from_millis(rng.u64(0..100)),
                jitter: Duration::from_millis(rng.u64(0..100)),
            });
        } else if roll < 0.20 {
            sim.faults().clear_link_faults();
        } else if roll < 0.23 {
            // One node cut off alone for a few seconds (a pause, a flapping link): ownership
            // moves away from it and back.
            let victim = members[rng.usize(..n)].clone();
            let rest: Vec<NodeId> = members.iter().filter(|m| **m != victim).cloned().collect();
            sim.faults()
                .partition(&[std::slice::from_ref(&victim), &rest]);
            heal_at = Some(second + rng.u64(2..9));
            if trace {
                eprintln!("{second}s isolate {victim}");
            }
        }
        if heal_at == Some(second) {
            sim.faults().heal();
            heal_at = None;
        }
        let churn = rng.f64();
        if churn < 0.015 {
            let beating: Vec<usize> = (0..clients.len())
                .filter(|i| clients[*i].state == ClientState::Beating)
                .collect();
            if let Some(&i) = beating.get(rng.usize(..beating.len().max(1))) {
                clients[i].state = ClientState::Stopped(elapsed(&sim));
            }
        } else if churn < 0.03 {
            let beating: Vec<usize> = (0..clients.len())
                .filter(|i| clients[*i].state == ClientState::Beating)
                .collect();
            if let Some(&i) = beating.get(rng.usize(..beating.len().max(1))) {
                let c = &mut clients[i];
                let (svc, key) = (c.service.clone(), c.instance.key());
                let mut done = false;
                with_failover(&mut sim, c, |s, via| {
                    let r = s.deregister(via, &svc, &key);
                    done |= r.is_ok();
                    r
                });
                if done {
                    c.state = ClientState::Deregistered(elapsed(&sim));
                }
            }
        } else if churn < 0.05 {
            new_client(&mut rng, &mut clients);
            let c = clients.last_mut().unwrap();
            register(&mut sim, c);
        }
        beat_all(&mut sim, &mut clients, &restarted_at, second);
        sim.run_for(secs(1));
        check_sticky(&sim, &clients, &restarted_at, second + 1)?;
        graves.check(&sim, &clients, &restarted_at, second + 1)?;
    }

    // Phase 2: calm. Everything heals and restarts; clients keep beating.
    sim.faults().heal();
    sim.faults().clear_link_faults();
    for id in crashed.drain(..) {
        sim.restart(&id);
        restarted_at.insert(id, 150);
    }
    let calm_from = elapsed(&sim);
    for second in 150..190u64 {
        beat_all(&mut sim, &mut clients, &restarted_at, second);
        sim.run_for(secs(1));
        check_sticky(&sim, &clients, &restarted_at, second + 1)?;
        graves.check(&sim, &clients, &restarted_at, second + 1)?;
    }

    // Phase 3: every second, every beating client is present and healthy everywhere.
    for second in 190..220u64 {
        beat_all(&mut sim, &mut clients, &restarted_at, second);
        sim.run_for(secs(1));
        check_sticky(&sim, &clients, &restarted_at, second + 1)?;
        graves.check(&sim, &clients, &restarted_at, second + 1)?;
        for c in clients.iter().filter(|c| c.state == ClientState::Beating) {
            for node in &members {
                let healthy = sim
                    .registry(node)
                    .and_then(|r| r.service(&c.service))
                    .and_then(|s| s.entry(&c.instance.key()).map(|e| e.instance().healthy()));
                if healthy != Some(true) {
                    return Err(format!(
                        "at {}s: beating instance {} of {} is {} on {node}",
                        elapsed(&sim),
                        c.instance.ip(),
                        c.service,
                        if healthy.is_some() {
                            "unhealthy"
                        } else {
                            "missing"
                        }
                    ));
                }
            }
        }
    }

    // Final: one state everywhere; what stopped long enough ago is gone.
    let end = elapsed(&sim);
    let reference = registry_contents(sim.registry(&members[0]).ok_or("node-1 is not running")?);
    for node in &members[1..] {
        let other = registry_contents(sim.registry(node).ok_or(format!("{node} is not running"))?);
        if other != reference {
            return Err(format!(
                "{} and {node} hold different data:\n{reference:#?}\nvs\n{other:#?}",
                members[0]
            ));
        }
    }
    for c in &clients {
        let gone_by = match c.state {
            ClientState::Beating => continue,
            // Evicted 30 s after its last beat, then a few sync rounds.
            ClientState::Stopped(t) => t.max(calm_from) + 40,
            ClientState::Deregistered(t) => t.max(calm_from) + 20,
        };
        if gone_by > end {
            continue;
        }
        let present = reference
            .get(&c.service)
            .is_some_and(|list| list.iter().any(|i| i.key() == c.instance.key()));
        if present {
            return Err(format!(
                "{} of {} ({:?}) is still registered at {end}s",
                c.instance.ip(),
                c.service,
                c.state
            ));
        }
    }
    if sim.stalls() != 0 {
        return Err(format!("{} stalled wake-ups", sim.stalls()));
    }
    Ok(graves.known.len())
}

/// Registers `c` through its node (failing over), and notes the time as its last beat.
fn register(sim: &mut Simulation, c: &mut Client) {
    let (svc, inst) = (c.service.clone(), c.instance.clone());
    let mut taken = None;
    with_failover(sim, c, |s, via| {
        let r = s.register(via, &svc, inst.clone());
        if r.is_ok() {
            taken = Some(s.now());
        }
        r
    });
    if taken.is_some() {
        c.last_beat = taken;
    }
}

/// The resurrection check: which node knows, since which second, that the instance of a
/// client that deregistered or stopped is gone.
#[derive(Default)]
struct Graves {
    known: BTreeMap<(usize, NodeId), u64>,
}

impl Graves {
    fn check(
        &mut self,
        sim: &Simulation,
        clients: &[Client],
        restarted_at: &BTreeMap<NodeId, u64>,
        second: u64,
    ) -> Result<(), String> {
        // A node that restarted forgot what it knew.
        self.known
            .retain(|(_, node), since| restarted_at.get(node).is_none_or(|r| r < since));
        for (i, c) in clients.iter().enumerate() {
            if c.state == ClientState::Beating {
                continue;
            }
            for node in sim.members() {
                let Some(snap) = sim
                    .registry(node)
                    .and_then(|r| r.store().load_any(&c.service))
                else {
                    continue;
                };
                let key = c.instance.key();
                if snap.entry(&key).is_some() && !snap.is_removed() {
                    if let Some(since) = self.known.get(&(i, node.clone())) {
                        return Err(format!(
                            "at {second}s: {} of {} ({:?}) is live again on {node}, which knew \
                             it was gone since {since}s",
                            c.instance.ip(),
                            c.service,
                            c.state
                        ));
                    }
                    continue;
                }
                let knows =
                    snap.tombstones()
                        .find(|(k, _)| **k == key)
                        .is_some_and(|(_, t)| match t.reason() {
                            RemovalReason::Deregistered => true,
                            // No copy can have heard a later beat than the client's last.
                            RemovalReason::Expired => {
                                t.evicted.is_some_and(|e| Some(e) >= c.last_beat)
                            }
                        });
                if knows {
                    self.known.entry((i, node.clone())).or_insert(second);
                }
            }
        }
        Ok(())
    }
}

#[test]
fn random_fault_schedules_never_lose_a_beating_instance_never_resurrect_one_and_converge() {
    let seeds: Vec<u64> = match std::env::var("NACRE_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("NACRE_SIM_SEED must be a number")],
        Err(_) => {
            let count = std::env::var("NACRE_SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(200u64);
            (1..=count).collect()
        }
    };
    let mut failures = Vec::new();
    let mut graves = 0;
    for seed in &seeds {
        match run_schedule(*seed) {
            Ok(known) => graves += known,
            Err(why) => {
                failures.push(format!(
                "seed {seed}: {why}\n  replay: NACRE_SIM_SEED={seed} cargo test --test cluster sim::"
            ));
                if failures.len() >= 3 {
                    break;
                }
            }
        }
    }
    eprintln!(
        "{} schedules: {graves} removals known to a node and watched for resurrection, {} failed",
        seeds.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} schedules failed:\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n")
    );
}

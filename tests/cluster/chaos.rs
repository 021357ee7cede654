//! Chaos test with real processes: three `nacre-server` members on loopback, clients
//! that register, beat and deregister through random members, and real faults — a member
//! killed with SIGKILL and restarted, another paused with SIGSTOP past the peer timeout, and
//! deregistrations made while a member is down. At the end, on every member:
//! - every instance whose client kept beating is present and healthy;
//! - every instance deregistered with an `ok` is gone;
//! - the members' data are equal.
//!
//! It prints the operations, the faults and the number lost (which must be 0).
//!
//! The short run (about a minute) is part of `cargo test` (alone: `cargo test --all-features
//! --test cluster chaos::`); `NACRE_CHAOS_ROUNDS=N` repeats the fault cycle N times
//! (`tests/chaos/run.sh --long` runs 10). `NACRE_CHAOS_SEED` fixes the random choices.

use super::members::{three_members, wait_ready};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SERVICES: usize = 4;
/// Instances for one round (more for longer runs, so every round has some to deregister).
const INSTANCES: usize = 48;
const BEAT: Duration = Duration::from_millis(1000);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Registered, beating.
    Live,
    /// Deregistration asked for, not confirmed yet.
    Leaving,
    /// Deregistered with an `ok`.
    Gone,
}

struct Instance {
    service: String,
    ip: String,
    fate: Fate,
}

#[derive(Default)]
struct Counts {
    registers: u64,
    beats: u64,
    deregisters: u64,
    failed_calls: u64,
}

struct World {
    http: reqwest::Client,
    ports: Vec<u16>,
    /// Members that are up and not paused: where clients send their calls.
    usable: Mutex<Vec<bool>>,
    instances: Mutex<Vec<Instance>>,
    counts: Mutex<Counts>,
    seed: Mutex<fastrand::Rng>,
}

impl World {
    fn pick(&self) -> Vec<u16> {
        let usable = self.usable.lock().unwrap().clone();
        let mut order: Vec<u16> = self
            .ports
            .iter()
            .zip(usable)
            .filter(|(_, up)| *up)
            .map(|(p, _)| *p)
            .collect();
        self.seed.lock().unwrap().shuffle(&mut order);
        order
    }

    /// Sends `method path?query` to random usable members until one answers 200; returns
    /// the body.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
    ) -> Option<String> {
        for port in self.pick() {
            let url = format!("http://127.0.0.1:{port}{path}");
            let answer = self
                .http
                .request(method.clone(), &url)
                .query(query)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            match answer {
                Ok(a) if a.status().is_success() => return a.text().await.ok(),
                _ => self.counts.lock().unwrap().failed_calls += 1,
            }
        }
        None
    }
}

fn params(service: &str, ip: &str) -> Vec<(&'static str, String)> {
    vec![
        ("serviceName", service.to_owned()),
        ("ip", ip.to_owned()),
        ("port", "8080".to_owned()),
    ]
}

/// One client: registers its instance, beats it every second until told to leave, then
/// deregisters it until a member says `ok`.
async fn client(world: Arc<World>, index: usize) {
    let (service, ip) = {
        let all = world.instances.lock().unwrap();
        (all[index].service.clone(), all[index].ip.clone())
    };
    while world
        .call(
            reqwest::Method::POST,
            "/nacos/v1/ns/instance",
            &params(&service, &ip),
        )
        .await
        .is_none()
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    world.counts.lock().unwrap().registers += 1;
    let beat = format!(
        r#"{{"ip":"{ip}","port":8080,"serviceName":"{service}","cluster":"DEFAULT","weight":1}}"#
    );
    loop {
        let fate = world.instances.lock().unwrap()[index].fate;
        match fate {
            Fate::Live => {
                let mut q = params(&service, &ip);
                q.push(("beat", beat.clone()));
                if world
                    .call(reqwest::Method::PUT, "/nacos/v1/ns/instance/beat", &q)
                    .await
                    .is_some()
                {
                    world.counts.lock().unwrap().beats += 1;
                }
                tokio::time::sleep(BEAT).await;
            }
            Fate::Leaving => {
                if world
                    .call(
                        reqwest::Method::DELETE,
                        "/nacos/v1/ns/instance",
                        &params(&service, &ip),
                    )
                    .await
                    .is_some()
                {
                    world.counts.lock().unwrap().deregisters += 1;
                    world.instances.lock().unwrap()[index].fate = Fate::Gone;
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Fate::Gone => return,
        }
    }
}

/// Asks `n` random live instances to leave.
fn deregister_some(world: &World, n: usize) -> usize {
    let mut all = world.instances.lock().unwrap();
    let mut live: Vec<usize> = (0..all.len())
        .filter(|i| all[*i].fate == Fate::Live)
        .collect();
    world.seed.lock().unwrap().shuffle(&mut live);
    for i in live.iter().take(n) {
        all[*i].fate = Fate::Leaving;
    }
    live.len().min(n)
}

/// What a member holds: per service, `ip:port_healthy` entries (raw health, whatever the
/// protect threshold says).
async fn holdings(world: &World, port: u16) -> Option<BTreeMap<String, BTreeSet<String>>> {
    let mut out = BTreeMap::new();
    for s in 0..SERVICES {
        let service = format!("chaos-{s}");
        let url = format!("http://127.0.0.1:{port}/nacos/v1/ns/instance/statuses");
        let answer = world
            .http
            .get(&url)
            .query(&[("key", format!("public##DEFAULT_GROUP@@{service}"))])
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let v: serde_json::Value = answer.json().await.ok()?;
        let ips: BTreeSet<String> = v["ips"]
            .as_array()?
            .iter()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect();
        out.insert(service, ips);
    }
    Some(out)
}

/// What every member should hold.
fn expected(world: &World) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = (0..SERVICES)
        .map(|s| (format!("chaos-{s}"), BTreeSet::new()))
        .collect();
    for i in world.instances.lock().unwrap().iter() {
        if i.fate == Fate::Live {
            if let Some(set) = out.get_mut(&i.service) {
                set.insert(format!("{}:8080_true", i.ip));
            }
        }
    }
    out
}

fn set_usable(world: &World, index: usize, usable: bool) {
    world.usable.lock().unwrap()[index] = usable;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_survive_kills_pauses_and_deregistrations_while_down() {
    let rounds: usize = std::env::var("NACRE_CHAOS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let seed: u64 = std::env::var("NACRE_CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    // Each round deregisters up to 8; keep live ones for every round, and some to the end.
    let instances = INSTANCES.max(rounds * 8 + 16);
    println!("chaos: seed {seed}, {rounds} round(s), {instances} instances");
    let dir = std::env::temp_dir().join(format!("nacre-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a log directory");
    let binary = dir.join("nacre-server");
    std::fs::copy(env!("CARGO_BIN_EXE_nacre-server"), &binary).expect("the binary copies");
    let mut members = three_members(&binary, &dir);
    let ports: Vec<u16> = members.iter().map(|m| m.port).collect();
    let world = Arc::new(World {
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client"),
        ports: ports.clone(),
        usable: Mutex::new(vec![true; 3]),
        instances: Mutex::new(
            (0..instances)
                .map(|i| Instance {
                    service: format!("chaos-{}", i % SERVICES),
                    ip: format!("10.7.{}.{}", i / 200, i % 200 + 1),
                    fate: Fate::Live,
                })
                .collect(),
        ),
        counts: Mutex::new(Counts::default()),
        seed: Mutex::new(fastrand::Rng::with_seed(seed)),
    });
    for m in &mut members {
        m.start();
    }
    for m in &members {
        wait_ready(&world.http, m).await;
    }
    let clients: Vec<_> = (0..instances)
        .map(|i| tokio::spawn(client(world.clone(), i)))
        .collect();
    let mut faults: Vec<String> = Vec::new();
    let started = Instant::now();
    let at = |secs: f64| started + Duration::from_secs_f64(secs);
    let mut offset = 0.0;
    for round in 0..rounds {
        let (killed, paused) = {
            let mut rng = world.seed.lock().unwrap();
            let k = rng.usize(0..3);
            (k, (k + 1 + rng.usize(0..2)) % 3)
        };
        tokio::time::sleep_until(at(offset + 5.0).into()).await;
        set_usable(&world, killed, false);
        members[killed].kill();
        faults.push(format!("round {round}: SIGKILL :{}", ports[killed]));
        // Deregistrations while it is down.
        tokio::time::sleep_until(at(offset + 6.0).into()).await;
        let n = deregister_some(&world, 4);
        faults.push(format!(
            "round {round}: {n} deregistrations while :{} is down",
            ports[killed]
        ));
        tokio::time::sleep_until(at(offset + 12.0).into()).await;
        members[killed].start();
        faults.push(format!("round {round}: restart :{}", ports[killed]));
        wait_ready(&world.http, &members[killed]).await;
        set_usable(&world, killed, true);
        tokio::time::sleep_until(at(offset + 16.0).into()).await;
        set_usable(&world, paused, false);
        members[paused].signal("-STOP");
        faults.push(format!("round {round}: SIGSTOP :{} for 8 s", ports[paused]));
        tokio::time::sleep_until(at(offset + 18.0).into()).await;
        let n = deregister_some(&world, 4);
        faults.push(format!(
            "round {round}: {n} deregistrations while :{} is paused",
            ports[paused]
        ));
        tokio::time::sleep_until(at(offset + 24.0).into()).await;
        members[paused].signal("-CONT");
        set_usable(&world, paused, true);
        faults.push(format!("round {round}: SIGCONT :{}", ports[paused]));
        offset += 26.0;
    }

    // Settle: every member must converge on what the clients did.
    let want = expected(&world);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last: Vec<Option<BTreeMap<String, BTreeSet<String>>>> = Vec::new();
    let converged = loop {
        // Deregistrations still being retried change what is expected.
        let want_now = expected(&world);
        let mut seen = Vec::new();
        for p in &ports {
            seen.push(holdings(&world, *p).await);
        }
        let leaving = world
            .instances
            .lock()
            .unwrap()
            .iter()
            .any(|i| i.fate == Fate::Leaving);
        if !leaving && seen.iter().all(|s| s.as_ref() == Some(&want_now)) {
            break true;
        }
        last = seen;
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let want = if converged { expected(&world) } else { want };
    for c in &clients {
        c.abort();
    }
    let counts = world.counts.lock().unwrap();
    let all = world.instances.lock().unwrap();
    let gone: BTreeSet<String> = all
        .iter()
        .filter(|i| i.fate == Fate::Gone)
        .map(|i| format!("{}:8080", i.ip))
        .collect();
    println!(
        "chaos: {} registers, {} beats, {} deregisters, {} failed calls (to members down or paused), {} s",
        counts.registers,
        counts.beats,
        counts.deregisters,
        counts.failed_calls,
        started.elapsed().as_secs()
    );
    for f in &faults {
        println!("chaos: fault: {f}");
    }
    let mut lost = 0;
    let mut resurrected = 0;
    if !converged {
        for (m, held) in ports.iter().zip(&last) {
            let Some(held) = held else {
                println!("chaos: member :{m} did not answer");
                continue;
            };
            for (service, want_set) in &want {
                let have = held.get(service).cloned().unwrap_or_default();
                for missing in want_set.difference(&have) {
                    lost += 1;
                    println!("chaos: :{m} {service}: missing or unhealthy {missing}");
                }
                for extra in have.difference(want_set) {
                    let addr = extra.rsplit_once('_').map_or(extra.as_str(), |(a, _)| a);
                    if gone.contains(addr) {
                        resurrected += 1;
                    }
                    println!("chaos: :{m} {service}: unexpected {extra}");
                }
            }
        }
    }
    println!("chaos: lost {lost}, resurrected {resurrected}, converged {converged}");
    let logs: Vec<String> = members
        .iter()
        .map(|m| format!("{} (started {} times)", m.log.display(), m.starts))
        .collect();
    assert!(
        converged,
        "the members did not converge within 60 s; logs: {logs:?}"
    );
    drop(members);
    let _ = std::fs::remove_dir_all(&dir);
}

//! Distro replication cost, in the deterministic simulator: for 3 and 5 nodes and 10k and 100k
//! instances registered in one burst through random nodes, how long (simulated time) until
//! every node holds the same data, and how many messages and bytes that took per
//! registration: bytes in the binary peer format (what the HTTP transport sends) and, beside
//! them in the same run, the same messages as JSON (what it sent before). The baseline, run
//! beside each figure, is the same protocol with batching turned off (`sync_delay = 0`,
//! `batch_count = 1`: every change sent on its own, as a naive replicator would).
//!
//! `cargo bench --bench cluster` (add `-- --quick` to skip the 100k runs).

use nacre::cluster::{DistroConfig, NodeId};
use nacre::transport::memory::{SimConfig, Simulation};
use nacre::{Instance, ServiceKey};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

struct Outcome {
    converge: Duration,
    messages: f64,
    bytes: f64,
    json_bytes: f64,
    wall: Duration,
}

fn checksums(sim: &Simulation, node: &NodeId) -> BTreeMap<ServiceKey, u64> {
    sim.registry(node)
        .map(|r| {
            r.store()
                .snapshots()
                .iter()
                .map(|s| (s.key().clone(), s.checksum()))
                .collect()
        })
        .unwrap_or_default()
}

fn run(nodes: usize, instances: u32, distro: DistroConfig) -> Outcome {
    let wall = Instant::now();
    let config = SimConfig {
        distro,
        measure_bytes: true,
        ..SimConfig::default()
    };
    let mut sim = Simulation::with_nodes(nodes, 42, config);
    sim.run_for(Duration::from_secs(2));
    let members = sim.members().to_vec();
    let services: Vec<ServiceKey> = (0..100)
        .map(|i| ServiceKey::named(&format!("svc-{i}")).unwrap())
        .collect();
    let mut rng = fastrand::Rng::with_seed(7);
    // Idle traffic (pings, verify) over the same kind of window, to subtract.
    let before_idle = sim.stats();
    sim.run_for(Duration::from_secs(2));
    let idle_per_sec = |a: u64, b: u64| (b - a) as f64 / 2.0;
    let after_idle = sim.stats();
    let idle_msgs = idle_per_sec(before_idle.requests, after_idle.requests);
    let idle_bytes = idle_per_sec(before_idle.bytes, after_idle.bytes);
    let idle_json = idle_per_sec(before_idle.json_bytes, after_idle.json_bytes);

    let start = sim.now();
    let base = sim.stats();
    for i in 0..instances {
        let via = members[rng.usize(..members.len())].clone();
        let service = &services[(i % 100) as usize];
        let inst = Instance::new(
            &format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
            8080,
        )
        .unwrap();
        sim.register(&via, service, inst).unwrap();
    }
    let step = Duration::from_millis(50);
    loop {
        sim.run_for(step);
        let first = checksums(&sim, &members[0]);
        let total: usize = sim.registry(&members[0]).map_or(0, |r| {
            r.store()
                .snapshots()
                .iter()
                .map(|s| s.instance_count())
                .sum()
        });
        if total == instances as usize && members[1..].iter().all(|m| checksums(&sim, m) == first) {
            break;
        }
        assert!(
            sim.now().saturating_since(start) < Duration::from_secs(120),
            "did not converge"
        );
    }
    let converge = sim.now().saturating_since(start);
    let end = sim.stats();
    let secs = converge.as_secs_f64();
    let messages = (end.requests - base.requests) as f64 - idle_msgs * secs;
    let bytes = (end.bytes - base.bytes) as f64 - idle_bytes * secs;
    let json_bytes = (end.json_bytes - base.json_bytes) as f64 - idle_json * secs;
    Outcome {
        converge,
        messages: messages / f64::from(instances),
        bytes: bytes / f64::from(instances),
        json_bytes: json_bytes / f64::from(instances),
        wall: wall.elapsed(),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[u32] = if quick { &[10_000] } else { &[10_000, 100_000] };
    let batched = DistroConfig::default();
    let unbatched = DistroConfig {
        sync_delay: Duration::ZERO,
        batch_count: 1,
        ..DistroConfig::default()
    };
    println!("Distro replication, burst of registrations through random nodes (simulated time; bytes: binary wire format, and the same messages as JSON)");
    println!(
        "{:<6} {:>8} | {:>11} {:>9} {:>10} {:>10} | {:>11} {:>9} {:>10} {:>10} | {:>9} {:>9} {:>9}",
        "nodes",
        "instances",
        "converge",
        "msgs/reg",
        "bytes/reg",
        "json b/reg",
        "base conv.",
        "msgs/reg",
        "bytes/reg",
        "json b/reg",
        "msgs x",
        "bytes x",
        "json/bin"
    );
    for &nodes in &[3usize, 5] {
        for &n in sizes {
            let ours = run(nodes, n, batched);
            let base = run(nodes, n, unbatched);
            println!(
                "{:<6} {:>8} | {:>9.2} s {:>9.3} {:>10.1} {:>10.1} | {:>9.2} s {:>9.3} {:>10.1} {:>10.1} | {:>8.1}x {:>8.2}x {:>8.2}x   (wall {:.1} s + {:.1} s)",
                nodes,
                n,
                ours.converge.as_secs_f64(),
                ours.messages,
                ours.bytes,
                ours.json_bytes,
                base.converge.as_secs_f64(),
                base.messages,
                base.bytes,
                base.json_bytes,
                base.messages / ours.messages,
                base.bytes / ours.bytes,
                ours.json_bytes / ours.bytes,
                ours.wall.as_secs_f64(),
                base.wall.as_secs_f64(),
            );
        }
    }
}

//! Scale, simulated: a 5-node cluster holding `SERVICES` x `PER_SERVICE` instances (default
//! 100 000 x 10 = 1M) under a steady beat load, then one node restarted empty. Reported:
//!
//! - **steady state**: peer messages and bytes per second of simulated time over a window,
//!   in total, per node and per message kind, and the CPU each node spent (its `poll`,
//!   `handle`, `on_response` and its share of the codec, timed on the wall clock);
//! - **memory per node**: live heap bytes, from a counting global allocator
//!   (`benches/support/alloc.rs`): what the cluster kept after filling and settling, divided by
//!   the node count, and what one node gave back when it was dropped; the process RSS beside;
//! - **restart**: node-3 is dropped (a crash: its state is lost) and a new, empty node-3 starts
//!   at once under the same id; the beats go on. Timed until it is ready, and until all nodes
//!   hold identical data (same services, instance counts and per-service checksums).
//!
//! Baselines in the same run: the heap of the same instances as plain values in a
//! `HashMap<ServiceKey, Vec<Instance>>`; the binary bytes of the whole data set (every service
//! as a full record: the least a restart must receive); merging those records into an empty
//! store (no cluster); and the bytes one round of the full-list verify
//! (`verify_buckets = 0`) would send in this state.
//!
//! Five `DistroCore`s on one `ManualClock`, driven by hand in one thread as in
//! `benches/tools/verify_cost.rs`: every message goes through the binary peer codec
//! (`encode_request`, `decode_message`, `encode_message`) and is delivered at once (zero
//! latency, no sockets, no loss). The clock jumps from one wake-up or beat step to the next,
//! so simulated time says what the protocol's timers allow, and wall time says what the work
//! cost on this machine's one thread; both are printed.
//!
//! Beats: every instance beats every `BEAT_SECS` (Nacos: 5 s), spread evenly, in steps of
//! 100 ms. `owner` (default): each beat arrives at the node responsible for it (as a v1 client
//! whose server list is that node would send it); `any`: at a random ready node, which forwards
//! it (a `Forward` message) to the responsible one, as Nacos v1 clients choosing a random
//! server do. A beat answered "not found" is resent with the instance's data (re-registering
//! it), as a client does.
//!
//! ```text
//! # 100000 services x 10, window 30 s, beats to the owner:
//! cargo bench --all-features --bench scale_sim
//! # services, per service, window (s), beats:
//! cargo bench --all-features --bench scale_sim -- 10000 10 20 any
//! ```

#[path = "../support/alloc.rs"]
mod alloc;
#[path = "../support/cli.rs"]
mod cli;
#[path = "scale_sim/driver.rs"]
mod driver;
#[path = "../support/replica.rs"]
mod replica;

use alloc::heap_use_of;
use driver::{process_cpu, rss_bytes, BeatMode, Sim};
use nacre::cluster::{encoded_len, DistroConfig, NodeId};
use nacre::store::ServiceRecord;
use nacre::{Instance, Registry, ServiceKey};
use std::collections::HashMap;
use std::error::Error;
use std::time::{Duration, Instant};

const NODES: usize = 5;
const BEAT_SECS: u64 = 5;
const STEP: Duration = Duration::from_millis(100);

fn ip(g: usize) -> String {
    format!("10.{}.{}.{}", (g >> 16) & 255, (g >> 8) & 255, g & 255)
}

fn mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = cli::args();
    let services: usize = args
        .first()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let per: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(10);
    let window: u64 = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(30);
    let mode = match args.get(3).map(String::as_str) {
        None | Some("owner") => BeatMode::Owner,
        Some("any") => BeatMode::Any,
        Some(other) => return Err(format!("beats `{other}`: expected owner or any").into()),
    };
    let total = services * per;
    println!(
        "{NODES} nodes, {services} services x {per} = {total} instances, beats every {BEAT_SECS} s ({mode:?}), window {window} s"
    );

    // The client side: keys to beat with, built before anything is measured.
    let keys: Vec<ServiceKey> = (0..services)
        .map(|s| ServiceKey::named(&format!("svc-{s:06}")))
        .collect::<Result<_, _>>()?;
    let ids: Vec<NodeId> = (1..=NODES)
        .map(|i| NodeId::new(&format!("10.0.0.{i}:8848")))
        .collect::<Result<_, _>>()?;
    let rss0 = rss_bytes();

    // Baseline: the same instances as plain values in a hash map.
    let (plain, plain_use) = heap_use_of(|| -> Result<_, Box<dyn Error>> {
        let mut map: HashMap<ServiceKey, Vec<Instance>> = HashMap::with_capacity(services);
        for (s, key) in keys.iter().enumerate() {
            let list = (0..per)
                .map(|k| Instance::new(&ip(s * per + k), 8080))
                .collect::<Result<Vec<_>, _>>()?;
            map.insert(key.clone(), list);
        }
        Ok(map)
    });
    drop(plain?);

    let mut sim = Sim::new(ids.clone(), DistroConfig::default(), mode, 7);
    sim.run_until(sim.now() + Duration::from_millis(100))?;
    if !sim.all_ready() {
        return Err("the fresh cluster did not start".into());
    }

    // Fill: each service registered as one batch through its responsible node.
    let fill_wall = Instant::now();
    let fill_sim = sim.now();
    let (filled, fill_use) = heap_use_of(|| -> Result<(), Box<dyn Error>> {
        for (s, key) in keys.iter().enumerate() {
            let list = (0..per)
                .map(|k| Instance::new(&ip(s * per + k), 8080))
                .collect::<Result<Vec<_>, _>>()?;
            sim.register(key, list)?;
            if s % 1000 == 999 {
                sim.pump()?;
            }
        }
        // Let every sync batch go out and settle.
        sim.run_until(sim.now() + Duration::from_secs(3))?;
        Ok(())
    });
    filled?;
    let counts = sim.instance_counts();
    println!(
        "filled in {:.1} s wall, {:.1} s simulated; instances per node {counts:?}",
        fill_wall.elapsed().as_secs_f64(),
        sim.now().saturating_since(fill_sim).as_secs_f64(),
    );
    if counts.iter().any(|c| *c != Some(total)) {
        return Err("not every node holds every instance after the fill".into());
    }

    // Warm up the beat load (every instance beats once or more, a few verify rounds), then
    // measure a window.
    let beats_per_step = (total as u64 * STEP.as_millis() as u64 / (BEAT_SECS * 1000)) as usize;
    let mut cursor = 0usize;
    let mut beat_for = |sim: &mut Sim, d: Duration| -> Result<(), Box<dyn Error>> {
        let end = sim.now() + d;
        while sim.now() < end {
            for _ in 0..beats_per_step {
                let (s, k) = (cursor / per % services, cursor % per);
                sim.beat(&keys[s], &ip(s * per + k), 8080)?;
                cursor = (cursor + 1) % total;
            }
            let next = sim.now() + STEP;
            sim.run_until(next)?;
        }
        Ok(())
    };
    beat_for(&mut sim, Duration::from_secs(2 * BEAT_SECS))?;
    sim.reset_stats();
    let wall = Instant::now();
    let cpu0 = process_cpu();
    beat_for(&mut sim, Duration::from_secs(window))?;
    let wall = wall.elapsed();
    let cpu = process_cpu() - cpu0;
    println!(
        "\nSteady state: {window} s simulated in {:.1} s wall, one thread for all {NODES} nodes, which got {:.1} s of CPU ({:.0} % of the wall time; the busy times below are wall times, so they count the rest as busy too)",
        wall.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() / wall.as_secs_f64() * 100.0
    );
    sim.print_traffic(window as f64);
    println!("beats: {}", sim.beat_stats());

    let rss = rss_bytes();
    let heap = fill_use.net_bytes as f64;
    println!("\nMemory (live heap, counting allocator):");
    println!(
        "  cluster after fill and settle: {} for {NODES} nodes = {} per node = {:.0} B per instance per node ({} allocations)",
        mb(heap),
        mb(heap / NODES as f64),
        heap / NODES as f64 / total as f64,
        fill_use.allocations
    );
    println!(
        "  baseline, plain HashMap<ServiceKey, Vec<Instance>>: {} = {:.0} B per instance",
        mb(plain_use.net_bytes as f64),
        plain_use.net_bytes as f64 / total as f64
    );
    println!(
        "  process RSS {} (was {} before the cluster; includes the client's keys)",
        mb(rss as f64),
        mb(rss0 as f64)
    );

    // Baselines from the data set itself: its records, their wire size, merging them.
    let records: Vec<ServiceRecord> = sim.records(0);
    let data_bytes: u64 = records.iter().map(encoded_len).sum();
    let full_list = sim.full_list_verify_bytes();
    let empty = Registry::builder()
        .shared_clock(sim.shared_clock())
        .delivery_threads(1)
        .build();
    let merge_wall = Instant::now();
    drop(replica::load_snapshot(empty.clone(), records, sim.now())?);
    let merge_wall = merge_wall.elapsed();
    drop(empty);
    println!(
        "  full-list verify (baseline protocol) would send {} per round from all nodes, {}/s at one round per {} s",
        mb(full_list as f64),
        mb(full_list as f64 / DistroConfig::default().verify_interval.as_secs_f64()),
        DistroConfig::default().verify_interval.as_secs()
    );

    // Restart node-3: dropped with its state, then a new empty one under the same id.
    let victim = 2;
    let ((), crash_use) = heap_use_of(|| sim.crash(victim));
    sim.reset_stats();
    let start_sim = sim.now();
    let start_wall = Instant::now();
    let cpu0 = process_cpu();
    sim.restart(victim);
    let mut ready: Option<(Duration, Duration)> = None;
    let mut converged: Option<(Duration, Duration)> = None;
    let mut checking = Duration::ZERO;
    let limit = Duration::from_secs(120);
    while converged.is_none() && sim.now().saturating_since(start_sim) < limit {
        beat_for(&mut sim, STEP)?;
        let at = (
            sim.now().saturating_since(start_sim),
            start_wall.elapsed() - checking,
        );
        if ready.is_none() && sim.is_ready(victim) {
            ready = Some(at);
        }
        if ready.is_some() {
            let t = Instant::now();
            if sim.identical() {
                converged = Some(at);
            }
            checking += t.elapsed();
        }
    }
    let victim_cpu = sim.cpu(victim);
    let cpu = process_cpu() - cpu0;
    let wall = start_wall.elapsed();
    let restart_bytes = sim.bytes_in(victim);
    println!("\nRestart of {} (crash: state dropped; new empty node under the same id at once, beats going on):", ids[victim]);
    println!(
        "  the dropped node gave back {} of heap",
        mb(-crash_use.net_bytes as f64)
    );
    match ready {
        Some((s, w)) => println!(
            "  ready after {:.2} s simulated, {:.2} s wall",
            s.as_secs_f64(),
            w.as_secs_f64()
        ),
        None => println!("  NOT ready within {} s simulated", limit.as_secs()),
    }
    match converged {
        Some((s, w)) => println!(
            "  all {NODES} identical after {:.2} s simulated, {:.2} s wall (checks excluded, {:.2} s); the new node busy {:.2} s; bytes it received {}",
            s.as_secs_f64(),
            w.as_secs_f64(),
            checking.as_secs_f64(),
            victim_cpu.as_secs_f64(),
            mb(restart_bytes as f64)
        ),
        None => println!("  NOT converged within {} s simulated", limit.as_secs()),
    }
    println!(
        "  baseline: the data set is {} as full records (the least a restart receives); merging them into an empty store took {:.2} s",
        mb(data_bytes as f64),
        merge_wall.as_secs_f64()
    );
    println!(
        "  the process got {:.1} s of CPU in the {:.1} s wall of the restart ({:.0} %)",
        cpu.as_secs_f64(),
        wall.as_secs_f64(),
        cpu.as_secs_f64() / wall.as_secs_f64() * 100.0
    );
    println!("  instances per node now {:?}", sim.instance_counts());
    println!("  traffic during the restart:");
    sim.print_traffic(sim.now().saturating_since(start_sim).as_secs_f64());
    Ok(())
}

//! Mass health flips in one service. `N` instances of one service stop beating; one sweep marks
//! them all unhealthy (15 s), a later one evicts them all (30 s).
//!
//! Two runs on fresh registries: the first times both sweeps alone; in the second a thread
//! keeps registering (and deregistering) one more instance into that service while the sweeps
//! run, and its longest single write is how long a write waits behind them (the sweeps take
//! longer there, sharing the cores with that writer). Beside them, the baseline in the same
//! run: rebuilding a plain `Vec` of the same instances with the flag flipped (one pass, one
//! allocation).
//!
//! Run with `cargo bench --bench mass_flip -- 200000` (the system allocator), or with
//! `--features server` for nacre-server's allocator.

/// With feature `server`, nacre-server's allocator (mimalloc); else the system's, as an
/// embedding host would have by default.
#[cfg(feature = "server")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../support/cli.rs"]
mod cli;

use nacre::{Instance, ManualClock, Registry, ServiceKey};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An instance as a plain registry would keep it in a `Vec`.
#[derive(Clone)]
#[allow(dead_code)]
struct Row {
    ip: Arc<str>,
    port: u16,
    cluster: Arc<str>,
    weight: f64,
    healthy: bool,
    metadata: BTreeMap<String, String>,
}

fn instances(n: usize) -> Result<Vec<Instance>, Box<dyn std::error::Error>> {
    (0..n)
        .map(|i| {
            let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 0xff, i & 0xff);
            Ok(Instance::new(&ip, 8080)?)
        })
        .collect()
}

/// What one run measured.
struct Run {
    unhealthy: Duration,
    evicted: Duration,
    /// The writer's longest write and its number of writes, when it ran.
    writer: Option<(Duration, usize)>,
}

/// Registers `all` into a fresh registry and times both sweeps, with a writer beside them if
/// `with_writer`.
fn run(all: &[Instance], with_writer: bool) -> Result<Run, Box<dyn std::error::Error>> {
    let n = all.len();
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .clock(clock.clone())
        .timeline(cli::timeline())
        .build();
    let service = ServiceKey::named("mass")?;
    for chunk in all.chunks(10_000) {
        registry.batch_register_instance(&service, chunk.to_vec())?;
    }
    registry.wait_for_events(Duration::from_secs(60));

    let done = Arc::new(AtomicBool::new(false));
    let writer = with_writer.then(|| {
        let (registry, service, done) = (registry.clone(), service.clone(), done.clone());
        std::thread::spawn(move || -> Result<(Duration, usize), String> {
            let extra = Instance::new("192.168.0.1", 9090).map_err(|e| e.to_string())?;
            let key = extra.key();
            let (mut longest, mut writes) = (Duration::ZERO, 0);
            while !done.load(Ordering::Acquire) {
                let started = Instant::now();
                registry
                    .register_instance(&service, extra.clone())
                    .map_err(|e| e.to_string())?;
                longest = longest.max(started.elapsed());
                registry.deregister_instance(&service, &key);
                writes += 1;
            }
            Ok((longest, writes))
        })
    });

    clock.advance(Duration::from_secs(15));
    let started = Instant::now();
    let report = registry.check_health();
    let unhealthy = started.elapsed();
    if std::env::var("MASS_FLIP_PAUSE").is_ok() {
        // Lets a profiler attach after the setup (`perf record -D`); the first sweep only.
        done.store(true, Ordering::Release);
        eprintln!("marked unhealthy in {unhealthy:?}");
        std::process::exit(0);
    }
    assert!(report.marked_unhealthy.len() >= n);

    clock.advance(Duration::from_secs(15));
    let started = Instant::now();
    let report = registry.check_health();
    let evicted = started.elapsed();
    assert!(report.removed.len() >= n);
    done.store(true, Ordering::Release);
    let writer = match writer {
        Some(w) => Some(w.join().map_err(|_| "writer panicked")??),
        None => None,
    };
    Ok(Run {
        unhealthy,
        evicted,
        writer,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = cli::args()
        .first()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200_000);
    let all = instances(n)?;

    // The baseline: one pass building the flipped list, as plain rows.
    let rows: Vec<Row> = all
        .iter()
        .map(|i| Row {
            ip: i.ip().as_str().into(),
            port: i.port(),
            cluster: i.cluster().as_str().into(),
            weight: i.weight(),
            healthy: true,
            metadata: i.metadata().clone(),
        })
        .collect();
    let started = Instant::now();
    let flipped: Vec<Row> = rows
        .iter()
        .map(|r| Row {
            healthy: false,
            ..r.clone()
        })
        .collect();
    let baseline = started.elapsed();
    assert_eq!(flipped.len(), n);
    drop((rows, flipped));

    let alone = run(&all, false)?;
    let busy = run(&all, true)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (longest, writes) = busy.writer.unwrap_or_default();
    println!(
        "{n} instances, sweeps alone: mark unhealthy {:.1} ms ({:.0} ns each), evict {:.1} ms; \
         baseline (flip a Vec) {:.1} ms",
        ms(alone.unhealthy),
        alone.unhealthy.as_secs_f64() * 1e9 / n as f64,
        ms(alone.evicted),
        ms(baseline),
    );
    println!(
        "with a writer beside them: mark unhealthy {:.1} ms, evict {:.1} ms; \
         its longest write {:.1} ms ({writes} writes)",
        ms(busy.unhealthy),
        ms(busy.evicted),
        ms(longest),
    );
    Ok(())
}

//! Issue 13 target 2: mass health flips in one service. `N` instances of one service stop
//! beating; one sweep marks them all unhealthy (15 s), a later one evicts them all (30 s).
//! Timed: each sweep, and a registration into that service made while the first sweep runs
//! (how long a write waits behind it). Beside them, the baseline in the same run: rebuilding
//! a plain `Vec` of the same instances with the flag flipped (one pass, one allocation).
//!
//! Run with `cargo run --release --example mass_flip -- 200000`.

use nacre::{Instance, ManualClock, Registry, ServiceKey};
use std::collections::BTreeMap;
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200_000);
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let service = ServiceKey::named("mass")?;
    let all = instances(n)?;
    let started = Instant::now();
    for chunk in all.chunks(10_000) {
        registry.batch_register_instance(&service, chunk.to_vec())?;
    }
    registry.wait_for_events(Duration::from_secs(60));
    eprintln!("registered {n} in {:?}", started.elapsed());

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

    if std::env::var("MASS_FLIP_PAUSE").is_ok() {
        // Lets a profiler attach after the setup (`perf record -D`).
        std::thread::sleep(Duration::from_secs(2));
    }
    // A writer registers one more instance into the service while the sweep runs.
    clock.advance(Duration::from_secs(15));
    let writer = {
        let registry = registry.clone();
        let service = service.clone();
        std::thread::spawn(move || -> Result<Duration, String> {
            std::thread::sleep(Duration::from_millis(1));
            let started = Instant::now();
            let extra = Instance::new("192.168.0.1", 9090).map_err(|e| e.to_string())?;
            registry
                .register_instance(&service, extra)
                .map_err(|e| e.to_string())?;
            Ok(started.elapsed())
        })
    };
    let started = Instant::now();
    let report = registry.check_health();
    let unhealthy = started.elapsed();
    let waited = writer.join().map_err(|_| "writer panicked")??;
    assert_eq!(report.marked_unhealthy.len(), n);
    if std::env::var("MASS_FLIP_PAUSE").is_ok() {
        eprintln!("marked unhealthy in {unhealthy:?}");
        return Ok(());
    }

    clock.advance(Duration::from_secs(15));
    let started = Instant::now();
    let report = registry.check_health();
    let evicted = started.elapsed();
    assert_eq!(report.removed.len(), n);

    println!(
        "{n} instances: mark unhealthy {:.1} ms ({:.0} ns each), evict {:.1} ms; \
         a registration during the first sweep took {:.1} ms; baseline (flip a Vec) {:.1} ms",
        unhealthy.as_secs_f64() * 1e3,
        unhealthy.as_secs_f64() * 1e9 / n as f64,
        evicted.as_secs_f64() * 1e3,
        waited.as_secs_f64() * 1e3,
        baseline.as_secs_f64() * 1e3,
    );
    Ok(())
}

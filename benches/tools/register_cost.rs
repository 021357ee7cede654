//! What one registration costs. Registers fresh instances into a service of 1,000, 100 at a
//! time (timed), deregistering them again between rounds (untimed), as `benches/registry.rs`
//! does; then 100k registrations one by one into an empty service.
//!
//! Run with `cargo bench --bench register_cost -- 2000` (rounds of 100).

#[path = "../support/cli.rs"]
mod cli;

use nacre::{Instance, InstanceKey, ManualClock, Registry, ServiceKey};
use std::time::{Duration, Instant};

fn instance(n: usize) -> Result<Instance, nacre::ValidationError> {
    Instance::new(
        &format!("10.{}.{}.{}", n >> 16, (n >> 8) & 0xff, n & 0xff),
        8080,
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = cli::args()
        .first()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2000);
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .clock(clock.clone())
        .timeline(cli::timeline())
        .build();
    let service = ServiceKey::named("one-k")?;
    let existing = (0..1_000).map(instance).collect::<Result<Vec<_>, _>>()?;
    registry.batch_register_instance(&service, existing)?;
    let fresh = (1_000..1_100)
        .map(instance)
        .collect::<Result<Vec<_>, _>>()?;
    let keys: Vec<InstanceKey> = fresh.iter().map(Instance::key).collect();
    let mut timed = Duration::ZERO;
    for _ in 0..rounds {
        let batch = fresh.clone();
        let started = Instant::now();
        for i in batch {
            registry.register_instance(&service, i)?;
        }
        timed += started.elapsed();
        for k in &keys {
            registry.deregister_instance(&service, k);
        }
        registry.wait_for_events(Duration::from_secs(60));
    }
    let per = timed.as_secs_f64() * 1e9 / (rounds * fresh.len()) as f64;

    let load = ServiceKey::named("load")?;
    let many = (0..100_000).map(instance).collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    for i in many {
        registry.register_instance(&load, i)?;
    }
    let load_time = started.elapsed();
    println!(
        "registration into a 1k-instance service: {per:.0} ns; 100k one by one: {:.1} ms",
        load_time.as_secs_f64() * 1e3
    );
    Ok(())
}

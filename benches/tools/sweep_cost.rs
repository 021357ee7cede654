//! A cold health sweep over 1M instances (10,000 services of 100, all fresh, nothing due): the
//! first sweep after they were registered walks every instance, where later ones skip services
//! by their hints. Three sweeps, each on a freshly filled registry; prints each and the median.
//! The baseline (a `RwLock<HashMap>` registry whose every sweep is a full walk) is in
//! `cargo bench --bench registry -- health_sweep`.
//!
//! Run with `cargo bench --bench sweep_cost` (or `-- SERVICES PER_SERVICE`), with the system
//! allocator; add `--features server` for nacre-server's allocator.

/// With feature `server`, nacre-server's allocator (mimalloc); else the system's, as an
/// embedding host would have by default.
#[cfg(feature = "server")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../support/cli.rs"]
mod cli;

use nacre::{Instance, ManualClock, Registry, ServiceKey};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = cli::args().into_iter();
    let services: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let per_service: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);
    let template = (0..per_service)
        .map(|n| {
            Instance::new(
                &format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
                8080,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut times = Vec::new();
    for _ in 0..3 {
        let clock = ManualClock::new();
        let registry = Registry::builder().clock(clock.clone()).build();
        for s in 0..services {
            registry.batch_register_instance(
                &ServiceKey::named(&format!("service-{s}"))?,
                template.clone(),
            )?;
        }
        let at = clock.now() + Duration::from_secs(1);
        let started = Instant::now();
        let report = registry.check_health_at(at);
        times.push(started.elapsed());
        assert_eq!(report.instances, services * per_service);
    }
    let ms: Vec<String> = times
        .iter()
        .map(|t| format!("{:.1}", t.as_secs_f64() * 1e3))
        .collect();
    times.sort();
    println!(
        "cold sweep over {} instances ({services} services): {} ms; median {:.1} ms",
        services * per_service,
        ms.join(", "),
        times[1].as_secs_f64() * 1e3
    );
    Ok(())
}

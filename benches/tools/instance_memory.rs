//! Where the memory of one instance goes. Live heap bytes per instance,
//! from a counting global allocator (`benches/support/alloc.rs`), for `N` instances (default
//! 200 000) in services of `PER` (default 10):
//!
//! - the `Instance` values alone, in a `Vec` (the baseline: the data itself), without metadata
//!   and with the three `preserved.*` timing keys `benches/scale/run.sh` registers with;
//! - registered in a `Registry` (as the responsible node holds them), both ways;
//! - merged from peer records into an empty store (as every other node holds them).
//!
//! ```text
//! cargo bench --all-features --bench instance_memory                    # 200 000
//! cargo bench --all-features --bench instance_memory -- 20000 1000      # N, PER
//! ```

#[path = "../support/alloc.rs"]
mod alloc;
#[path = "../support/cli.rs"]
mod cli;
#[path = "../support/replica.rs"]
mod replica;

use alloc::heap_use_of;
use nacre::store::ServiceRecord;
use nacre::{Instance, ManualClock, Registry, ServiceKey};
use std::error::Error;

fn instance(g: usize, metadata: bool) -> Result<Instance, nacre::ValidationError> {
    let ip = format!("10.{}.{}.{}", (g >> 16) & 255, (g >> 8) & 255, g & 255);
    let b = Instance::builder(&ip, 8080);
    let b = if metadata {
        b.metadata("preserved.heart.beat.interval", "30000")
            .metadata("preserved.heart.beat.timeout", "90000")
            .metadata("preserved.ip.delete.timeout", "180000")
    } else {
        b
    };
    b.build()
}

fn row(what: &str, net: i64, allocations: u64, n: usize) {
    println!(
        "{what:<58} {:>6.0} B/instance {:>6.2} allocations/instance",
        net as f64 / n as f64,
        allocations as f64 / n as f64
    );
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = cli::args();
    let n: usize = args
        .first()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200_000);
    let per: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(10);
    let keys: Vec<ServiceKey> = (0..n.div_ceil(per))
        .map(|s| ServiceKey::named(&format!("svc-{s:06}")))
        .collect::<Result<_, _>>()?;
    println!(
        "{n} instances, {per} per service; size_of::<Instance>() = {} B",
        std::mem::size_of::<Instance>()
    );
    for metadata in [false, true] {
        let label = if metadata {
            "with the 3 preserved.* keys"
        } else {
            "no metadata"
        };
        let (values, used) = heap_use_of(|| {
            (0..n)
                .map(|g| instance(g, metadata))
                .collect::<Result<Vec<_>, _>>()
        });
        drop(values?);
        row(
            &format!("Instance values in a Vec ({label}; the baseline)"),
            used.net_bytes,
            used.allocations,
            n,
        );

        // The responsible node's copy: the instances built (as a front parses them) and
        // registered, one batch per service.
        let clock = ManualClock::new();
        let registry = Registry::builder()
            .clock(clock.clone())
            .delivery_threads(1)
            .build();
        let (done, used) = heap_use_of(|| -> Result<(), Box<dyn Error>> {
            for (s, key) in keys.iter().enumerate() {
                let batch = (s * per..((s + 1) * per).min(n))
                    .map(|g| instance(g, metadata))
                    .collect::<Result<Vec<_>, _>>()?;
                registry.batch_register_instance(key, batch)?;
            }
            Ok(())
        });
        done?;
        row(
            &format!("registered in a Registry ({label})"),
            used.net_bytes,
            used.allocations,
            n,
        );

        // A peer's copy: the records through the wire format, merged into an empty store.
        let mut records: Vec<ServiceRecord> = Vec::new();
        registry
            .store()
            .for_each(|s| records.push(s.to_record(None)));
        let bytes: Vec<Vec<u8>> = records
            .iter()
            .map(nacre::cluster::encode_message)
            .collect::<Result<_, _>>()?;
        drop(records);
        drop(registry);
        let peer = Registry::builder()
            .clock(clock.clone())
            .delivery_threads(1)
            .build();
        let (done, used) = heap_use_of(|| -> Result<(), Box<dyn Error>> {
            let records = bytes
                .iter()
                .map(|b| nacre::cluster::decode_message::<ServiceRecord>(b))
                .collect::<Result<Vec<_>, _>>()?;
            drop(replica::load_snapshot(peer.clone(), records, clock.now())?);
            Ok(())
        });
        done?;
        row(
            &format!("merged from peer records ({label})"),
            used.net_bytes,
            used.allocations,
            n,
        );
    }
    Ok(())
}

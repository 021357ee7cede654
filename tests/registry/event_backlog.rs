//! The event backlog is bounded: under a write burst, at most one snapshot per watched service
//! waits for the dispatcher, and every listener still ends at the newest state.

use crate::common::{key, registry_on, secs};
use nacre::{Instance, ManualClock, NamingEvent};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn event_backlog_stays_at_one_snapshot_per_watched_service_under_a_write_burst() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let orders = key("orders");
    // A large service with many listeners makes each dispatch far slower than a write.
    let base: Vec<Instance> = (0..20_000u32)
        .map(|i| Instance::new(&format!("10.1.{}.{}", i / 256, i % 256), 80).unwrap())
        .collect();
    registry.batch_register_instance(&orders, base).unwrap();
    let last_lens: Vec<Arc<AtomicUsize>> = (0..8).map(|_| Arc::default()).collect();
    for last in &last_lens {
        let last = last.clone();
        registry.subscribe(&orders, &[], move |e: &NamingEvent| {
            last.store(e.instances.len(), Ordering::Relaxed);
        });
    }
    assert!(registry.wait_for_events(secs(30)));

    let mut peak = 0;
    for i in 0..2_000u32 {
        let ip = format!("10.9.{}.{}", i / 256, i % 256);
        registry
            .register_instance(&orders, Instance::new(&ip, 80).unwrap())
            .unwrap();
        peak = peak.max(registry.event_backlog());
    }
    assert!(
        peak <= 1,
        "one watched service, but {peak} snapshots waited for the dispatcher"
    );
    assert!(registry.wait_for_events(secs(60)));
    assert_eq!(registry.event_backlog(), 0);
    // Coalesced, never lost: every listener ends at the newest state.
    for last in &last_lens {
        assert_eq!(last.load(Ordering::Relaxed), 22_000);
    }
}

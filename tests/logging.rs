//! What nacre logs through `tracing` (the library installs no subscriber; this test installs
//! one for the duration of a call): one line per health sweep that evicted something, and
//! nothing for a quiet one.
#![cfg(feature = "http")]

mod common;

use common::{inst, key, registry_on};
use nacre::ManualClock;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with a subscriber that records INFO and above; returns the text.
fn logged(f: impl FnOnce()) -> String {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = buffer.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn a_sweep_that_evicts_logs_a_summary_and_a_quiet_one_logs_nothing() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let orders = key("orders");
    for ip in ["10.0.0.1", "10.0.0.2"] {
        registry.register_instance(&orders, inst(ip)).unwrap();
    }
    let quiet = logged(|| {
        registry.check_health();
    });
    assert_eq!(quiet, "");
    clock.advance(Duration::from_secs(16));
    let unhealthy = logged(|| {
        registry.check_health();
    });
    assert!(
        unhealthy.contains("health sweep: 2 marked unhealthy") && unhealthy.contains("0 removed"),
        "{unhealthy}"
    );
    assert!(
        unhealthy.contains("DEFAULT_GROUP@@orders#10.0.0.1:8080"),
        "{unhealthy}"
    );
    clock.advance(Duration::from_secs(15));
    let removed = logged(|| {
        registry.check_health();
    });
    assert!(removed.contains("2 removed"), "{removed}");
}

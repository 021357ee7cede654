//! What nacre logs through `tracing` (the library installs no subscriber; these tests install
//! one on their own thread for the duration of a call): refusals by a limit at warn, at most
//! once a minute per limit; one summary line for the empty services a sweep removes; and one
//! line per health sweep that evicted something, nothing for a quiet one.

use crate::common::{inst, key, registry_on, registry_with, secs};
use crate::metadata;
use nacre::{Limits, ManualClock, ServiceSettings};
use std::sync::{Arc, Mutex};

/// A tracing subscriber that keeps every event as `LEVEL message field=value ...`.
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!(" {value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(event.metadata().level().to_string());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Makes every call site ask the subscriber of the thread that reaches it; call it before
/// installing a thread's subscriber.
///
/// tracing caches, per call site, whether any subscriber wants it. While a single subscriber
/// is registered, that is decided by the default of whichever thread reaches the call site
/// first, so another test of this binary, running in parallel without a subscriber (the
/// sweeps and refusals of the other registry tests reach the same call sites), could switch a
/// call site off for these. A second subscriber, registered once and kept for the whole run,
/// makes tracing ask every registered subscriber instead.
fn keep_call_sites_open() {
    static KEEP: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    KEEP.get_or_init(|| tracing::Dispatch::new(Capture(Arc::default())));
}

/// Runs `f` with a [`Capture`] as this thread's subscriber and returns what it logged.
fn captured(f: impl FnOnce()) -> Vec<String> {
    keep_call_sites_open();
    let lines = Arc::new(Mutex::new(Vec::new()));
    tracing::subscriber::with_default(Capture(lines.clone()), f);
    let lines = lines.lock().unwrap().clone();
    lines
}

#[test]
fn refusals_by_a_limit_are_logged_at_warn_at_most_once_a_minute_per_limit() {
    let lines = captured(|| {
        let clock = ManualClock::new();
        let registry = registry_with(
            &clock,
            Limits {
                max_services_per_namespace: 1,
                max_service_metadata_bytes: 4,
                ..Limits::default()
            },
        );
        let orders = key("orders");
        registry
            .register_instance(&orders, inst("10.0.0.1"))
            .unwrap();
        // A client hammering the cap: one line.
        for i in 0..1000 {
            registry
                .register_instance(&key(&format!("s{i}")), inst("10.0.0.1"))
                .unwrap_err();
        }
        // Another limit has its own line.
        let big = ServiceSettings {
            metadata: metadata(5),
            ..ServiceSettings::default()
        };
        registry.update_service(&orders, big).unwrap_err();
        // Refusals that are not limits are not logged here.
        registry
            .create_service(&orders, ServiceSettings::default())
            .unwrap_err();
        clock.advance(secs(59));
        registry
            .register_instance(&key("late"), inst("10.0.0.1"))
            .unwrap_err();
        clock.advance(secs(1));
        registry
            .register_instance(&key("later"), inst("10.0.0.1"))
            .unwrap_err();
    });
    let warns: Vec<&String> = lines.iter().filter(|l| l.starts_with("WARN")).collect();
    assert_eq!(warns.len(), 3, "{warns:#?}");
    assert!(
        warns[0].contains("limit=\"max_services_per_namespace\""),
        "{}",
        warns[0]
    );
    assert!(warns[0].contains("unlogged_since_last=0"), "{}", warns[0]);
    assert!(
        warns[1].contains("max_service_metadata_bytes"),
        "{}",
        warns[1]
    );
    assert!(
        warns[2].contains("max_services_per_namespace"),
        "{}",
        warns[2]
    );
    assert!(
        warns[2].contains("unlogged_since_last=1000"),
        "{}",
        warns[2]
    );
}

#[test]
fn a_sweep_logs_one_summary_line_for_the_empty_services_it_removes() {
    let lines = captured(|| {
        let clock = ManualClock::new();
        let registry = registry_on(&clock);
        for i in 0..100 {
            let k = key(&format!("s{i}"));
            registry.register_instance(&k, inst("10.0.0.1")).unwrap();
            registry.deregister_instance(&k, &inst("10.0.0.1").key());
        }
        clock.advance(secs(60));
        assert_eq!(registry.check_health().removed_services.len(), 100);
    });
    let infos: Vec<&String> = lines.iter().filter(|l| l.starts_with("INFO")).collect();
    assert_eq!(infos.len(), 1, "{infos:#?}");
    assert!(infos[0].contains("services=100"), "{}", infos[0]);
}

/// A writer into a shared buffer, for a `tracing_subscriber::fmt` subscriber.
#[cfg(feature = "http")]
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

#[cfg(feature = "http")]
impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with the `fmt` subscriber a host would install (feature `http` brings
/// `tracing-subscriber`), recording INFO and above, as this thread's subscriber; returns the
/// text.
#[cfg(feature = "http")]
fn logged(f: impl FnOnce()) -> String {
    keep_call_sites_open();
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

#[cfg(feature = "http")]
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
    clock.advance(secs(16));
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
    clock.advance(secs(15));
    let removed = logged(|| {
        registry.check_health();
    });
    assert!(removed.contains("2 removed"), "{removed}");
}

//! [`RegistryStats`]: what a registry has done since it started, counted with one relaxed
//! atomic add per event (no lock, no allocation), for operators and the `metrics` feature.
//!
//! Counted where the write is applied: a registration or beat that a cluster member forwards
//! to the member responsible for the service counts there, not on the member it passed
//! through; replicated data merged from peers counts nowhere (it is not a client's act).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a [`super::Registry`], from [`super::RegistryReader::stats`]. Each only grows.
///
/// ```
/// use nacre::{Instance, InstanceKey, Registry, ServiceKey};
/// let registry = Registry::default();
/// let orders = ServiceKey::named("orders")?;
/// registry.register_instance(&orders, Instance::new("10.0.0.1", 8080)?)?;
/// registry.heartbeat(&orders, &InstanceKey::in_default_cluster("10.0.0.1", 8080)?)?;
/// let stats = registry.stats();
/// assert_eq!((stats.registrations, stats.beats), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryStats {
    /// Instances registered (each instance of a batch counts; a beat that re-creates an
    /// evicted instance counts as a registration too).
    pub registrations: u64,
    /// Instances deregistered by a client or the host (evictions are counted apart).
    pub deregistrations: u64,
    /// Heartbeats taken for a registered instance (beats for an unknown instance are not).
    pub beats: u64,
    /// Instances the health check marked unhealthy for want of beats.
    pub marked_unhealthy: u64,
    /// Instances the health check removed for want of beats.
    pub evictions: u64,
}

/// The atomics behind [`RegistryStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    registrations: AtomicU64,
    deregistrations: AtomicU64,
    beats: AtomicU64,
    marked_unhealthy: AtomicU64,
    evictions: AtomicU64,
}

impl Counters {
    pub(super) fn registered(&self, n: usize) {
        self.registrations.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub(super) fn deregistered(&self) {
        self.deregistrations.fetch_add(1, Ordering::Relaxed);
    }
    pub(super) fn beat(&self) {
        self.beats.fetch_add(1, Ordering::Relaxed);
    }
    pub(super) fn swept(&self, marked_unhealthy: usize, evicted: usize) {
        if marked_unhealthy > 0 {
            self.marked_unhealthy
                .fetch_add(marked_unhealthy as u64, Ordering::Relaxed);
        }
        if evicted > 0 {
            self.evictions.fetch_add(evicted as u64, Ordering::Relaxed);
        }
    }
    pub(super) fn snapshot(&self) -> RegistryStats {
        RegistryStats {
            registrations: self.registrations.load(Ordering::Relaxed),
            deregistrations: self.deregistrations.load(Ordering::Relaxed),
            beats: self.beats.load(Ordering::Relaxed),
            marked_unhealthy: self.marked_unhealthy.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

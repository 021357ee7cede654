//! [`RegistryBuilder`]: clock, timing, limits and event threads for a [`Registry`].

use super::handle::Registry;
use crate::clock::{Clock, SystemClock};
use crate::health::HealthConfig;
use crate::model::Limits;
use std::sync::Arc;

/// Configures a [`Registry`]. Every setting has a default: the system clock, the Nacos beat
/// timing, the default [`Limits`], two event delivery threads.
///
/// ```
/// use nacre::{HealthConfig, ManualClock, Registry};
/// use std::time::Duration;
/// let clock = ManualClock::new();
/// let registry = Registry::builder()
///     .clock(clock.clone())
///     .health(HealthConfig { beat_timeout: Duration::from_secs(10), ..HealthConfig::default() })
///     .build();
/// assert_eq!(registry.health_config().beat_timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RegistryBuilder {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) health: HealthConfig,
    pub(crate) limits: Limits,
    pub(crate) delivery_threads: usize,
    pub(crate) origin: u64,
    pub(crate) timeline: crate::timeline::TimelineConfig,
}

impl Default for RegistryBuilder {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock::new()),
            health: HealthConfig::default(),
            limits: Limits::default(),
            delivery_threads: 2,
            origin: 0,
            timeline: crate::timeline::TimelineConfig::default(),
        }
    }
}

impl RegistryBuilder {
    /// The clock to read time from (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// The clock, already shared.
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    /// Beat timing (default: Nacos' 5 s / 15 s / 30 s).
    pub fn health(mut self, health: HealthConfig) -> Self {
        self.health = health;
        self
    }
    /// Size limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
    /// Threads that call event listeners (default 2, at least 1). A slow listener holds one of
    /// them while it runs.
    pub fn delivery_threads(mut self, n: usize) -> Self {
        self.delivery_threads = n.max(1);
        self
    }

    /// The origin id stamped on this registry's writes (see [`crate::store::Version`]).
    /// Every node of a cluster needs a different one; the cluster layer sets it from the node
    /// id.
    pub fn origin(mut self, origin: u64) -> Self {
        self.origin = origin;
        self
    }

    /// The bounds of the instance timeline (default 16 entries for each of at most 20 000
    /// instances; see [`crate::timeline`]).
    pub fn timeline(mut self, config: crate::timeline::TimelineConfig) -> Self {
        self.timeline = config;
        self
    }

    /// Builds the registry and starts its event threads. The health driver is not started:
    /// call [`Registry::spawn_health_driver`] on a tokio runtime, or step it by hand with
    /// [`Registry::check_health`].
    ///
    /// # Panics
    /// If the operating system cannot start the event threads.
    pub fn build(self) -> Registry {
        Registry::from_builder(self)
    }
}

//! [`HealthConfig`]: the beat timing rules, with the Nacos defaults.

use std::time::Duration;

/// Beat timing for ephemeral instances. Defaults are Nacos': beat every 5 s, unhealthy after
/// 15 s without a beat, removed after 30 s. Each instance may override the three durations
/// through its `preserved.*` metadata keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    /// How often clients are told to beat (answered to every beat).
    pub beat_interval: Duration,
    /// Silence after which an instance is marked unhealthy.
    pub beat_timeout: Duration,
    /// Silence after which an instance is removed.
    pub delete_timeout: Duration,
    /// The longest the health driver waits between sweeps. It also wakes exactly when the
    /// earliest known deadline falls due, so this only bounds how late an instance registered
    /// with a very short timeout override can be judged.
    pub check_interval: Duration,
    /// The shortest time between two sweeps of the health driver (default 1 s). The driver
    /// wakes when the earliest deadline falls due, and with many services beating steadily
    /// some deadline falls due every millisecond; without a floor it would sweep back to back.
    /// A verdict is therefore up to this late (Nacos checks every 5 s, so up to 5 s there).
    pub min_sweep_gap: Duration,
    /// How long the record of a removed instance (its tombstone), and a removed service, is
    /// kept, so that a stale copy replicated from a peer cannot bring it back (default 300 s;
    /// `nacre-server --tombstone-ttl`). A stale ephemeral copy that arrives later is evicted
    /// again by its missing beats. In a cluster, a removal of persistent data is kept past it
    /// until every member has been up for a whole retention, so a member that was down longer
    /// brings nothing removed back from its disk. See [`crate::store`] for the bound.
    pub tombstone_ttl: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            beat_interval: Duration::from_secs(5),
            beat_timeout: Duration::from_secs(15),
            delete_timeout: Duration::from_secs(30),
            check_interval: Duration::from_secs(5),
            min_sweep_gap: Duration::from_secs(1),
            tombstone_ttl: Duration::from_secs(300),
        }
    }
}

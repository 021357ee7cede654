//! The push hub: who wants to hear of which service, and getting every change to them.
//!
//! A front that can push (the in-memory client transport, gRPC streams, UDP for v1 clients) registers [`PushTarget`]s with a [`PushHub`]; the hub watches the registry,
//! and pushes the service's [`crate::front::ServiceAnswer`] (as a
//! [`crate::protocol::ServiceInfo`]) to every target subscribed to it. A front adds a target
//! type; it never writes a push path of its own.
//!
//! - **Subscriptions** are keyed by service, clusters and target ([`TargetKey`]). Subscribing
//!   again renews one; with [`PushConfig::subscription_ttl`] one that is not renewed in time
//!   expires (Nacos 1.x's UDP targets live 10 s past their last query), without it one lives
//!   until it is cancelled or its target closes.
//! - **Merge window**: the first change of a service schedules one push
//!   [`PushConfig::merge_window`] later; further changes within the window ride along (Nacos:
//!   500 ms for gRPC, 1 s for UDP). 0 pushes at once.
//! - **Acks**: a target either takes a push on the spot ([`PushResult::Delivered`]: the
//!   in-process sink) or answers later through [`PushHub::ack`]. An unacked push is sent again
//!   (with the data current by then) after [`PushConfig::ack_timeout`], up to
//!   [`PushConfig::retries`] times; then it counts as a failure, and a target with
//!   [`PushConfig::max_failures`] failures in a row is dropped with all its subscriptions.
//!   A newer push of the same service to the same target replaces one still waiting, but the
//!   wait runs on from the older one's deadline and count: a target that never acks a service
//!   changing faster than the ack timeout fails as one of a quiet service does. (Nacos 1.x
//!   waits for every push apart; it never drops a UDP target for missing acks.)
//! - A new subscriber gets the current state at once, as Nacos pushes to a fresh subscriber.
//!
//! The policy is `PushState` (crate-private, `state.rs`), a plain state machine that takes
//! `now`, tested beside it with explicit times; [`PushHub`] is its
//! thin driver on tokio, sleeping on the registry's clock, so every timing rule is tested with
//! a [`crate::ManualClock`].

mod drain;
mod hub;
mod memo;
mod schedule;
mod state;
mod target;

pub use hub::{DrainTicket, PushHub};
pub use memo::RoundMemo;
pub use state::SubscriberInfo;
pub use target::{AckId, PushResult, PushTarget, TargetDetails, TargetKey, IN_PROCESS_AGENT};

use std::time::Duration;

/// Timing and bounds of a [`PushHub`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushConfig {
    /// Changes of one service within this window are pushed once (default 500 ms, Nacos'
    /// gRPC push delay; 0 pushes every change at once).
    pub merge_window: Duration,
    /// How long a push waits for its ack before it is sent again (default 5 s).
    pub ack_timeout: Duration,
    /// How often an unacked push is sent again before it counts as failed (default 1).
    pub retries: u32,
    /// Failed pushes in a row after which a target is dropped (default 3).
    pub max_failures: u32,
    /// A subscription not renewed for this long expires (default: never).
    pub subscription_ttl: Option<Duration>,
    /// The `cacheMillis` put into pushed answers (default 10 000: a pushed client pulls
    /// rarely).
    pub cache_millis: u64,
    /// At most this many subscriptions; more are refused (default 100 000).
    pub max_subscriptions: usize,
    /// At most this many subscriptions of targets at one source address
    /// ([`PushTarget::source`]: UDP targets; default 5 000); more from it are refused, so one
    /// host cannot fill the hub for every other client. Nacos has no such bound.
    pub max_subscriptions_per_source: usize,
    /// At most this many drains wait on the hub at once (default 1 000); a drain beyond
    /// them does not wait for this hub's subscribers and says so (see
    /// [`PushHub::begin_drain`]).
    pub max_drains: usize,
}

/// The default of [`PushConfig::max_drains`].
pub const DEFAULT_MAX_DRAINS: usize = 1_000;

/// The default of [`PushConfig::max_subscriptions`]: subscriptions one hub holds in total.
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 100_000;

/// The default cap of subscriptions one client's connection holds in a hub that pushes over
/// connections (the gRPC front's `max_subscriptions_per_connection`), and of one source
/// address's targets ([`PushConfig::max_subscriptions_per_source`]).
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 5_000;

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            merge_window: Duration::from_millis(500),
            ack_timeout: Duration::from_secs(5),
            retries: 1,
            max_failures: 3,
            subscription_ttl: None,
            cache_millis: crate::protocol::DEFAULT_CACHE_MILLIS,
            max_subscriptions: DEFAULT_MAX_SUBSCRIPTIONS,
            max_subscriptions_per_source: DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
            max_drains: DEFAULT_MAX_DRAINS,
        }
    }
}

/// Counters of a [`PushHub`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushStats {
    /// Pushes sent, retries included.
    pub pushes: u64,
    /// Pushes taken: delivered on the spot, or acked.
    pub acked: u64,
    /// Pushes sent again for want of an ack.
    pub retried: u64,
    /// Pushes that failed (no ack after every retry, or the target refused them).
    pub failed: u64,
    /// Targets dropped for failing, or because they closed.
    pub targets_dropped: u64,
    /// Subscriptions that expired.
    pub expired: u64,
    /// Subscriptions refused at [`PushConfig::max_subscriptions`].
    pub refused: u64,
}

#[cfg(test)]
#[path = "drain_tests.rs"]
mod drain_tests;
#[cfg(test)]
#[path = "state_tests.rs"]
mod state_tests;

//! Beat checking: which ephemeral instances turn unhealthy or are removed, and when.
//!
//! - [`policy`] is pure: [`judge`] takes the last beat, the health flag, the instance's
//!   [`BeatTimeouts`] and `now`, and returns a [`Verdict`]; [`next_deadline`] says when the
//!   verdict will next change. Every boundary is testable to the microsecond with no clock.
//! - [`sweep()`] applies the policy to a [`crate::store::Store`]: a read-only pass, then one
//!   copy-on-write step per service that changes, with verdicts re-checked under the writer lock
//!   (or, for a cluster in which many instances are due, one rebuild prepared without the lock
//!   and installed under it).
//! - [`HealthDriver`] runs sweeps on tokio and sleeps (on the injected [`crate::Clock`]) until
//!   the earliest deadline the last sweep reported, capped at
//!   [`HealthConfig::check_interval`] and at least [`HealthConfig::min_sweep_gap`] (1 s) after
//!   the last sweep. Nacos sweeps on a fixed 5 s period, so an instance can be judged up to 5 s
//!   late; here at most 1 s. The floor matters at scale: with tens of thousands of services
//!   beating steadily some deadline falls due every millisecond, and a driver that woke for
//!   each would sweep back to back (a full core per node in a simulated 1M-instance cluster).
//!
//! A beat that reaches an unhealthy instance makes it healthy again at once (that is the
//! beat path in [`crate::Registry::heartbeat`], not the sweep). Only ephemeral instances are
//! judged; persistent ones keep whatever health they were given.
//!
//! ## Empty services
//!
//! The sweep also removes services that have held no instance for
//! [`crate::Limits::empty_service_expiry`] (60 s by default), as Nacos 2.x's
//! `EmptyServiceAutoCleanerV2` does, unless their settings were set explicitly
//! ([`crate::Registry::create_service`], [`crate::Registry::update_service`]). The deadline
//! ([`empty_service_deadline`]) is one more deadline of the sweep: the driver wakes for it, and
//! the [`crate::store::SweepHint`] of an empty service says when it falls due, so waiting empty
//! services cost nothing per sweep. The removal is a write like [`crate::Registry::remove_service`]
//! (a new service-level version, replicated to peers); in a cluster only the member
//! responsible for the service sweeps it, so the removal is owner-driven like evictions.
//!
//! Nacos' cleaner runs every 60 s and measures from the service's last change, so a service
//! goes 60 to 120 s after its last instance; here it goes at 60 s. Nacos also removes a
//! service made in the console once it has been empty for that long; nacre keeps it.
//!
//! A sweep that removes empty services logs one `info` line for all of them (how many, and the
//! first), never one line per service.

mod config;
mod driver;
pub(crate) use driver::log_sweep;
pub mod policy;
mod sweep;

pub use config::HealthConfig;
pub use driver::HealthDriver;
pub use policy::{
    empty_service_deadline, judge, next_deadline, next_sweep_at, BeatTimeouts, Verdict,
};
pub use sweep::{sweep, SweepReport};

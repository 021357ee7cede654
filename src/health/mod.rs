//! Beat checking: which ephemeral instances turn unhealthy or are removed, and when.
//!
//! - [`policy`] is pure: [`judge`] takes the last beat, the health flag, the instance's
//!   [`BeatTimeouts`] and `now`, and returns a [`Verdict`]; [`next_deadline`] says when the
//!   verdict will next change. Every boundary is testable to the microsecond with no clock.
//! - [`sweep()`] applies the policy to a [`crate::store::Store`]: a read-only pass, then one
//!   copy-on-write step per service that changes, with verdicts re-checked under the writer lock.
//! - [`HealthDriver`] runs sweeps on tokio and sleeps (on the injected [`crate::Clock`]) until
//!   the earliest deadline the last sweep reported, capped at
//!   [`HealthConfig::check_interval`]. Nacos sweeps on a fixed 5 s period, so an instance can
//!   be judged up to 5 s late; sleeping to the deadline makes the rules exact.
//!
//! A beat that reaches an unhealthy instance makes it healthy again at once (that is the
//! beat path in [`crate::Registry::heartbeat`], not the sweep). Only ephemeral instances are
//! judged; persistent ones keep whatever health they were given.

mod config;
mod driver;
pub(crate) use driver::log_sweep;
pub mod policy;
mod sweep;

pub use config::HealthConfig;
pub use driver::HealthDriver;
pub use policy::{judge, next_deadline, BeatTimeouts, Verdict};
pub use sweep::{sweep, SweepReport};

//! Time, injected: the [`Clock`] trait, the real [`SystemClock`] and the test [`ManualClock`].
//!
//! Nothing in nacre reads the system time directly. Every timing rule (beat timeouts, sync
//! delays, retries) asks a `Clock`, so a test can put a registry at 14.999 s and then at 15 s
//! without sleeping. Pure policy code takes `now: Timestamp` as an argument; only the thin async
//! drivers call [`Clock::sleep_until`].
//!
//! The shape follows the `governor` crate: a small trait, a real clock, and a fake one that
//! tests move by hand.
//!
//! ```
//! use nacre::{Clock, ManualClock};
//! use std::time::Duration;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let clock = ManualClock::new();
//! let wake_at = clock.now() + Duration::from_secs(5);
//! let sleeper = {
//!     let clock = clock.clone();
//!     tokio::spawn(async move { clock.sleep_until(wake_at).await })
//! };
//! tokio::task::yield_now().await; // let the sleeper register
//! clock.advance(Duration::from_secs(5));
//! sleeper.await.unwrap(); // returns at once: no real time passed
//! # });
//! ```

mod manual;
mod system;
mod timestamp;

pub use manual::{ManualClock, MANUAL_CLOCK_START};
pub use system::SystemClock;
pub use timestamp::Timestamp;

use async_trait::async_trait;
use std::fmt::Debug;

/// A source of time that can also put a task to sleep until a deadline.
#[async_trait]
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// Resolves once [`Clock::now`] has reached `deadline`.
    async fn sleep_until(&self, deadline: Timestamp);
}

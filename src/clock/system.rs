//! [`SystemClock`]: real time, for production.

use super::{Clock, Timestamp};
use async_trait::async_trait;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The real clock: wall-clock time read once at creation, then advanced by the monotonic clock
/// so it never jumps backwards. Sleeping uses tokio's timer, so it needs a tokio runtime with
/// time enabled.
#[derive(Debug, Clone)]
pub struct SystemClock {
    base: Timestamp,
    started: Instant,
}

impl SystemClock {
    /// A clock starting now.
    pub fn new() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            base: Timestamp::from_micros(u64::try_from(since_epoch.as_micros()).unwrap_or(0)),
            started: Instant::now(),
        }
    }

    /// The current time. (The same as [`Clock::now`], callable without the trait in scope.)
    pub fn now(&self) -> Timestamp {
        self.base + self.started.elapsed()
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        SystemClock::now(self)
    }

    async fn sleep_until(&self, deadline: Timestamp) {
        let wait = deadline.saturating_since(self.now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

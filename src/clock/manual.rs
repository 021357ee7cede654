//! [`ManualClock`]: time that only moves when a test says so.

use super::{Clock, Timestamp};
use async_trait::async_trait;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// A clock for tests: it stands still until [`ManualClock::advance`] or [`ManualClock::set`]
/// moves it, and then wakes every sleeper whose deadline has come, in deadline order.
///
/// Clones share the same time.
///
/// ```
/// use nacre::{Clock, ManualClock};
/// use std::time::Duration;
/// let clock = ManualClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_millis(14_999));
/// assert_eq!(clock.now().saturating_since(t0), Duration::from_millis(14_999));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    now: Timestamp,
    sleepers: Vec<(Timestamp, oneshot::Sender<()>)>,
}

/// Where a new [`ManualClock`] starts: 2024-01-01T00:00:00Z, so printed times look real.
pub const MANUAL_CLOCK_START: Timestamp = Timestamp::from_millis(1_704_067_200_000);

impl ManualClock {
    /// The current time. (The same as [`Clock::now`], callable without the trait in scope.)
    pub fn now(&self) -> Timestamp {
        self.lock().now
    }

    /// A clock at [`MANUAL_CLOCK_START`].
    pub fn new() -> Self {
        Self::starting_at(MANUAL_CLOCK_START)
    }

    /// A clock at `start`.
    pub fn starting_at(start: Timestamp) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                now: start,
                sleepers: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        crate::util::lock(&self.inner)
    }

    /// Moves time forward by `by` and wakes the sleepers that are due.
    pub fn advance(&self, by: Duration) {
        let to = self.now() + by;
        self.set(to);
    }

    /// Moves time to `to` (never backwards: an earlier `to` is ignored) and wakes the sleepers
    /// that are due.
    pub fn set(&self, to: Timestamp) {
        let due = {
            let mut inner = self.lock();
            if to > inner.now {
                inner.now = to;
            }
            let now = inner.now;
            let (mut due, waiting): (Vec<_>, Vec<_>) =
                inner.sleepers.drain(..).partition(|(at, _)| *at <= now);
            inner.sleepers = waiting;
            due.sort_by_key(|(at, _)| *at);
            due
        };
        for (_, tx) in due {
            let _ = tx.send(());
        }
    }

    /// How many tasks are sleeping on this clock.
    pub fn sleepers(&self) -> usize {
        let mut inner = self.lock();
        inner.sleepers.retain(|(_, tx)| !tx.is_closed());
        inner.sleepers.len()
    }

    /// The earliest deadline anyone sleeps until, if any.
    pub fn next_wakeup(&self) -> Option<Timestamp> {
        let mut inner = self.lock();
        inner.sleepers.retain(|(_, tx)| !tx.is_closed());
        inner.sleepers.iter().map(|(at, _)| *at).min()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        ManualClock::now(self)
    }

    async fn sleep_until(&self, deadline: Timestamp) {
        let rx = {
            let mut inner = self.lock();
            if deadline <= inner.now {
                return;
            }
            let (tx, rx) = oneshot::channel();
            inner.sleepers.push((deadline, tx));
            rx
        };
        // The sender is only dropped when it fires, or when the clock itself is dropped; either
        // way the sleep is over.
        let _ = rx.await;
    }
}

//! [`SystemClock`]: real time, for production.
//!
//! It follows the wall clock, never going back: each reading is the later of the wall clock
//! now and the last reading. So after an NTP step forward it jumps with the wall clock (as
//! Nacos, which reads `System.currentTimeMillis()`, does); after a step back it stands still
//! until the wall clock catches up, so versions and beat ages never run backwards.
//!
//! Before, the wall clock was read once at start and advanced by the monotonic clock: a member
//! that started with its clock 6 s fast stayed 6 s fast after NTP corrected it, and its peers,
//! which refuse versions more than 5 s ahead, refused its writes for good. Now it is fast only
//! until the wall clock has caught up with its last reading.
//!
//! A forward step also ages every beat: a step of more than the beat timeout (15 s) marks
//! every ephemeral instance unhealthy until its next beat, and one of more than the delete
//! timeout (30 s) removes those whose clients do not beat again first (their next beat
//! registers them again). Nacos does the same.

use super::{Clock, Timestamp};
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the wall clock is read: microseconds since the epoch.
type WallSource = fn() -> u64;

fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The real clock: the wall clock, never going back (see the module docs). Sleeping uses
/// tokio's timer, so it needs a tokio runtime with time enabled. Clones share the last
/// reading.
#[derive(Debug, Clone)]
pub struct SystemClock {
    last: Arc<AtomicU64>,
    wall: WallSource,
}

impl SystemClock {
    /// A clock reading the system's wall clock.
    pub fn new() -> Self {
        Self::reading(wall_micros)
    }

    /// A clock reading `wall` (microseconds since the epoch) instead of the system's: for
    /// tests of clock steps.
    pub(crate) fn reading(wall: WallSource) -> Self {
        Self {
            last: Arc::new(AtomicU64::new(0)),
            wall,
        }
    }

    /// The current time. (The same as [`Clock::now`], callable without the trait in scope.)
    pub fn now(&self) -> Timestamp {
        let wall = (self.wall)();
        let before = self.last.fetch_max(wall, Ordering::AcqRel);
        Timestamp::from_micros(before.max(wall))
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
        // Sleep in steps of at most a second, so a step of the wall clock moves the wake-up
        // with it rather than leaving a sleeper waiting on the old time.
        loop {
            let wait = deadline.saturating_since(self.now());
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait.min(std::time::Duration::from_secs(1))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    static WALL: AtomicU64 = AtomicU64::new(0);

    fn stepped() -> u64 {
        WALL.load(Ordering::SeqCst)
    }

    #[test]
    fn it_follows_a_step_forward_and_stands_still_through_a_step_back() {
        let clock = SystemClock::reading(stepped);
        let second = 1_000_000;
        WALL.store(100 * second, Ordering::SeqCst);
        assert_eq!(clock.now().as_micros(), 100 * second);
        // NTP steps the clock 6 s back (the member was fast): time stands still...
        WALL.store(94 * second, Ordering::SeqCst);
        assert_eq!(clock.now().as_micros(), 100 * second);
        // ...until the wall clock catches up, then follows it again.
        WALL.store(101 * second, Ordering::SeqCst);
        assert_eq!(clock.now().as_micros(), 101 * second);
        // A step forward is followed at once (a clock sampled once never saw it).
        WALL.store(200 * second, Ordering::SeqCst);
        assert_eq!(clock.now().as_micros(), 200 * second);
        // Clones share the last reading.
        let clone = clock.clone();
        WALL.store(150 * second, Ordering::SeqCst);
        assert_eq!(clone.now().as_micros(), 200 * second);
    }

    #[test]
    fn the_real_clock_is_the_wall_clock_and_never_goes_back() {
        let clock = SystemClock::new();
        let a = clock.now();
        let wall = wall_micros();
        let b = clock.now();
        assert!(b >= a);
        assert!(a.as_micros().abs_diff(wall) < Duration::from_secs(5).as_micros() as u64);
    }
}

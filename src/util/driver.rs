//! The two shapes every async driver around a sans-IO state machine shares (the Distro driver
//! of a cluster node, a push hub's driver, the gRPC front's keeper):
//!
//! - [`next_round`]: between two rounds, sleep until the machine's next deadline or until
//!   something wakes the driver. The deadline is taken against the time the round ran at,
//!   not a fresh reading: should the clock have passed it meanwhile, the sleep ends at once
//!   and the next round runs (a fresh reading would push the wake-up past the deadline, and a
//!   manual clock that had moved exactly to it would never wake the driver).
//! - [`TaskSlot`]: where a driver's task lives: started at most once, aborted when stopped or
//!   when its owner is dropped.

use crate::clock::{Clock, Timestamp};
use crate::util::lock;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Waits for the next round of a driver whose last round ran at `now` and asked to run again
/// at `next` (`None`: only when woken): until the clock reaches `next` (at least a
/// microsecond after `now`) or `wake` is notified, whichever comes first.
pub(crate) async fn next_round(
    clock: &dyn Clock,
    now: Timestamp,
    next: Option<Timestamp>,
    wake: &Notify,
) {
    match next {
        Some(at) => {
            let at = at.max(now + Duration::from_micros(1));
            tokio::select! {
                () = clock.sleep_until(at) => {}
                () = wake.notified() => {}
            }
        }
        None => wake.notified().await,
    }
}

/// The slot of one background task: [`TaskSlot::start`] spawns it unless one runs already,
/// [`TaskSlot::stop`] aborts it, and so does dropping the slot.
#[derive(Debug, Default)]
pub(crate) struct TaskSlot(Mutex<Option<JoinHandle<()>>>);

impl TaskSlot {
    /// Spawns the task `make` returns on the current tokio runtime, unless the slot holds one
    /// already (then `make` is not called). Returns whether it started one.
    pub(crate) fn start<F>(&self, make: impl FnOnce() -> F) -> bool
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut slot = lock(&self.0);
        if slot.is_some() {
            return false;
        }
        *slot = Some(tokio::spawn(make()));
        true
    }

    /// Aborts the task, if one runs; the slot can start another afterwards.
    pub(crate) fn stop(&self) {
        if let Some(task) = lock(&self.0).take() {
            task.abort();
        }
    }
}

impl Drop for TaskSlot {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test(flavor = "current_thread")]
    async fn a_slot_starts_once_and_stops() {
        let runs = Arc::new(AtomicUsize::new(0));
        let slot = TaskSlot::default();
        for _ in 0..3 {
            let runs = runs.clone();
            slot.start(move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
            });
        }
        tokio::task::yield_now().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        slot.stop();
        let again = runs.clone();
        assert!(slot.start(move || async move {
            again.fetch_add(1, Ordering::SeqCst);
        }));
        tokio::task::yield_now().await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_deadline_already_passed_ends_the_wait_at_once() {
        let clock = ManualClock::new();
        let now = clock.now();
        clock.advance(Duration::from_secs(5));
        let wake = Notify::new();
        // The deadline is 1 s after the round, which the clock has passed: no wait.
        tokio::time::timeout(
            Duration::from_secs(5),
            next_round(&clock, now, Some(now + Duration::from_secs(1)), &wake),
        )
        .await
        .expect("a passed deadline ends the wait");
        // No deadline: only a wake ends it.
        wake.notify_one();
        next_round(&clock, now, None, &wake).await;
    }
}

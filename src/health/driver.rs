//! [`HealthDriver`]: runs sweeps on tokio, waking when the next deadline falls due.

use crate::clock::{Clock, Timestamp};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::policy::next_sweep_at;
use super::sweep::SweepReport;

/// One line per sweep that changed something (nothing for the quiet ones): how many
/// instances turned unhealthy and how many were removed, with a few of them named.
pub(crate) fn log_sweep(report: &SweepReport) {
    if report.marked_unhealthy.is_empty() && report.removed.is_empty() {
        return;
    }
    let sample = |list: &[(crate::model::ServiceKey, crate::model::InstanceKey)]| -> String {
        let named: Vec<String> = list
            .iter()
            .take(3)
            .map(|(s, i)| format!("{}#{}", s.grouped_name(), i.endpoint))
            .collect();
        let more = list.len().saturating_sub(named.len());
        if more > 0 {
            format!("{} and {more} more", named.join(", "))
        } else {
            named.join(", ")
        }
    };
    tracing::info!(
        unhealthy = report.marked_unhealthy.len(),
        removed = report.removed.len(),
        services = report.services,
        "health sweep: {} marked unhealthy ({}), {} removed ({})",
        report.marked_unhealthy.len(),
        sample(&report.marked_unhealthy),
        report.removed.len(),
        sample(&report.removed),
    );
}

/// A running health driver. Dropping it (or calling [`HealthDriver::stop`]) stops the task.
#[derive(Debug)]
pub struct HealthDriver {
    task: JoinHandle<()>,
    swept: watch::Receiver<Option<Timestamp>>,
}

impl HealthDriver {
    /// Spawns the driver on the current tokio runtime. `sweep` is called with the clock's time;
    /// the driver then sleeps until the report's `next_due`, but `min_gap` at the least and
    /// `max_wait` at the most (see [`crate::HealthConfig::min_sweep_gap`]).
    pub fn spawn<F>(
        clock: Arc<dyn Clock>,
        (min_gap, max_wait): (Duration, Duration),
        sweep: F,
    ) -> Self
    where
        F: Fn(Timestamp) -> SweepReport + Send + Sync + 'static,
    {
        let (tx, swept) = watch::channel(None);
        let task = tokio::spawn(async move {
            loop {
                let now = clock.now();
                let report = sweep(now);
                // Receivers may all be gone; the driver keeps running until stopped.
                let _ = tx.send(Some(now));
                let next = next_sweep_at(now, report.next_due, min_gap, max_wait);
                clock.sleep_until(next).await;
            }
        });
        Self { task, swept }
    }

    /// The clock time of the last completed sweep.
    pub fn last_sweep(&self) -> Option<Timestamp> {
        *self.swept.borrow()
    }

    /// Waits until a sweep that started at or after `at` has completed. With a
    /// [`crate::ManualClock`], advance the clock to `at` first.
    pub async fn wait_for_sweep_at(&mut self, at: Timestamp) {
        // `wait_for` only fails if the driver task ended (stopped or panicked); then there is
        // nothing to wait for.
        let _ = self.swept.wait_for(|t| t.is_some_and(|t| t >= at)).await;
    }

    /// Stops the driver.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for HealthDriver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

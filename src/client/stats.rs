//! [`ClientStats`]: counters of what the client's background tasks have done, observable with
//! [`crate::client::NamingClient::wait_until`].
//!
//! With a [`crate::ManualClock`], a test moves time and then waits for the effect: "advance
//! 5 s, then wait until one more beat was sent". Every counter is bumped only after the work it
//! counts is complete and the task's next deadline is set, so once a test sees the count it may
//! advance the clock again without racing the task.

use tokio::sync::watch;

/// Counters of the client's background work since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Beats sent that got an answer or failed (all attempts).
    pub beats_sent: u64,
    /// Beats that failed in the transport (subset of `beats_sent`).
    pub beat_failures: u64,
    /// Beats the server answered with "not found" (subset of `beats_sent`).
    pub beats_not_found: u64,
    /// Redo rounds completed: every registration sent again after a server forgot one.
    pub redos: u64,
    /// Scheduled pulls completed (all attempts).
    pub pulls: u64,
    /// Scheduled pulls that failed (subset of `pulls`).
    pub pull_failures: u64,
    /// Pushes received and processed.
    pub pushes: u64,
    /// Times a cached instance list really changed (from a push, a pull, a read or the disk).
    pub cache_changes: u64,
    /// Updates ignored because they were empty while the cache was not (push-empty
    /// protection).
    pub empty_updates_ignored: u64,
    /// Reads answered from the failover directory because no server answered.
    pub failover_reads: u64,
    /// Failover files written.
    pub disk_writes: u64,
    /// Failover files that could not be written.
    pub disk_failures: u64,
}

/// The writing side of the counters.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    tx: std::sync::Arc<watch::Sender<ClientStats>>,
}

impl Progress {
    pub(crate) fn new() -> Self {
        Self {
            tx: std::sync::Arc::new(watch::Sender::new(ClientStats::default())),
        }
    }

    /// Changes the counters and wakes every waiter.
    pub(crate) fn update(&self, f: impl FnOnce(&mut ClientStats)) {
        self.tx.send_modify(f);
    }

    /// The counters now.
    pub(crate) fn get(&self) -> ClientStats {
        *self.tx.borrow()
    }

    /// Waits until `pred` holds for the counters, or until `timeout` of real time passes;
    /// returns the counters, or `None` on timeout.
    ///
    /// The timeout is measured by a short-lived helper thread rather than tokio's timer, so it
    /// works on any runtime (with or without tokio's time driver) and whatever clock the client
    /// reads: a test on a [`crate::ManualClock`] still stops waiting.
    pub(crate) async fn wait_until(
        &self,
        mut pred: impl FnMut(&ClientStats) -> bool,
        timeout: std::time::Duration,
    ) -> Option<ClientStats> {
        let mut rx = self.tx.subscribe();
        let (fire, fired) = tokio::sync::oneshot::channel::<()>();
        let (cancel, cancelled) = std::sync::mpsc::channel::<()>();
        let timer = std::thread::Builder::new()
            .name("nacre-wait".into())
            .spawn(move || {
                if cancelled.recv_timeout(timeout)
                    == Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                {
                    let _ = fire.send(());
                }
            });
        // Without a timer thread (the OS refused one) the wait has no deadline.
        let deadline = async move {
            match timer {
                Ok(_) => {
                    let _ = fired.await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        let result = tokio::select! {
            // `wait_for` fails only if the sender is gone, and `self` holds it.
            seen = rx.wait_for(|s| pred(s)) => Some(seen.map_or_else(|_| self.get(), |s| *s)),
            () = deadline => None,
        };
        drop(cancel);
        result
    }
}

//! [`LimitLog`]: a `warn` line when a write hits one of the registry's [`crate::Limits`], at
//! most one per limit per minute, so a client that keeps hitting one cannot flood the log.
//!
//! Each line names the limit (the [`crate::Limits`] field), carries the refusal's message (the
//! service, the size or count, and the limit), and counts the refusals of the same limit that
//! were not logged since the last line. Time is the registry's clock, so tests step it with a
//! [`crate::ManualClock`].

use crate::clock::Timestamp;
use crate::store::StoreError;
use crate::util::lock;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The shortest time between two lines about the same limit.
pub(crate) const LIMIT_LOG_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Gate {
    /// When the next line may be written.
    next: Timestamp,
    /// Refusals not logged since the last line.
    unlogged: u64,
}

/// Rate-limited logging of refusals by a limit. See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct LimitLog {
    /// One gate per limit name (a handful at most).
    gates: Mutex<HashMap<&'static str, Gate>>,
}

impl LimitLog {
    /// Notes `err` if it is a refusal by a limit: logs it at `warn` unless a line about the
    /// same limit was written less than [`LIMIT_LOG_EVERY`] before `now`.
    pub(crate) fn note(&self, err: &StoreError, now: Timestamp) {
        let Some(limit) = err.limit() else {
            return;
        };
        let unlogged = {
            let mut gates = lock(&self.gates);
            let gate = gates.entry(limit).or_default();
            if now < gate.next {
                gate.unlogged += 1;
                return;
            }
            gate.next = now + LIMIT_LOG_EVERY;
            std::mem::take(&mut gate.unlogged)
        };
        tracing::warn!(
            limit,
            unlogged_since_last = unlogged,
            error = %err,
            "a write was refused: it would go over a registry limit"
        );
    }
}

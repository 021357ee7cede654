//! Small helpers every layer needs, stated once: a poison-proof lock, milliseconds on the
//! wire, and the two shapes of a background driver ([`driver`]).

mod driver;

pub(crate) use driver::{next_round, TaskSlot};

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Locks `m`, taking the data even if a panicking thread poisoned the lock. Every critical
/// section in nacre leaves its state consistent between statements (single assignments and
/// map operations), and a panic inside one (a bug, or a host's listener) must not take the
/// whole node down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `d` in whole milliseconds, as Nacos puts durations on the wire (saturating).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

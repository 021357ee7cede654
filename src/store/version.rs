//! [`Version`]: the order of writes across nodes, from a hybrid logical clock.

use crate::clock::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// When and where a write happened: a hybrid-logical-clock stamp (microseconds, never below the
/// writer's clock and always above every stamp the writer has seen) and the writing node's
/// origin id to break ties. Ordered by stamp, then origin; two different writes never compare
/// equal.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Version {
    /// Hybrid logical clock stamp, in microseconds.
    pub stamp: u64,
    /// The writing node's origin id.
    pub origin: u64,
}

/// The origin of every write the control plane makes ([`crate::store::Store`]'s
/// `apply_controlled`): a persistent instance held by the control plane's log carries it, and
/// Distro neither sends nor takes what carries it (each member applies the log itself). No
/// node's own origin is this one (a node id hashing to it is moved off it).
pub const CONTROL_ORIGIN: u64 = u64::MAX;

/// A node's origin from a hash of its id, moved off [`CONTROL_ORIGIN`] should the hash land
/// on it.
pub(crate) fn origin_of_node(hash: u64) -> u64 {
    if hash == CONTROL_ORIGIN {
        CONTROL_ORIGIN - 1
    } else {
        hash
    }
}

impl Version {
    /// The version the control plane's log gives a write at `stamp` (see [`CONTROL_ORIGIN`]).
    pub fn control(stamp: u64) -> Self {
        Version {
            stamp,
            origin: CONTROL_ORIGIN,
        }
    }

    /// Whether the control plane made this write (see [`CONTROL_ORIGIN`]).
    pub fn is_control(&self) -> bool {
        self.origin == CONTROL_ORIGIN
    }
}

/// Hands out [`Version`]s: `max(now, last + 1)`, and learns from versions it sees so a node
/// whose clock lags still orders its writes after what it has observed.
#[derive(Debug)]
pub(crate) struct VersionClock {
    last: AtomicU64,
    origin: u64,
}

impl VersionClock {
    pub(crate) fn new(origin: u64) -> Self {
        Self {
            last: AtomicU64::new(0),
            origin,
        }
    }

    pub(crate) fn origin(&self) -> u64 {
        self.origin
    }

    pub(crate) fn next(&self, now: Timestamp) -> Version {
        let now = now.as_micros();
        let mut cur = self.last.load(Ordering::Acquire);
        loop {
            let next = now.max(cur.saturating_add(1));
            match self
                .last
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    return Version {
                        stamp: next,
                        origin: self.origin,
                    }
                }
                Err(seen) => cur = seen,
            }
        }
    }

    pub(crate) fn observe(&self, v: Version) {
        self.last.fetch_max(v.stamp, Ordering::AcqRel);
    }
}

//! [`Liveness`]: the one mutable cell per instance, holding the time of its last beat and the
//! client connection that last published it.

use crate::clock::Timestamp;
use std::sync::atomic::{AtomicU64, Ordering};

/// When an instance was last heard from.
///
/// It lives outside the immutable snapshots (every snapshot of a service shares the same cell
/// through an `Arc`), so a heartbeat is a single atomic store: no snapshot is copied and nothing
/// is allocated.
#[derive(Debug)]
pub struct Liveness {
    last_beat: AtomicU64,
    /// The connection that last registered the instance on this node (a 2.x gRPC client's
    /// tag), 0 for none: see [`crate::Registry::register_for`]. Not replicated: the member
    /// responsible for the service, where every registration is applied, is the one that
    /// knows.
    owner: AtomicU64,
}

impl Liveness {
    /// A cell that last heard a beat at `at`.
    pub(crate) fn new(at: Timestamp) -> Self {
        Self {
            last_beat: AtomicU64::new(at.as_micros()),
            owner: AtomicU64::new(0),
        }
    }

    /// The connection that last registered the instance here (0: none, or not known here).
    pub fn owner(&self) -> u64 {
        self.owner.load(Ordering::Acquire)
    }

    /// Records who registered the instance (0: no connection).
    pub(crate) fn set_owner(&self, owner: u64) {
        self.owner.store(owner, Ordering::Release);
    }

    /// The time of the last beat.
    pub fn last_beat(&self) -> Timestamp {
        Timestamp::from_micros(self.last_beat.load(Ordering::Acquire))
    }

    /// Records a beat at `at`. Time never goes backwards here: a late, older beat (say, one
    /// replicated from a peer after a local one) does not undo a newer one.
    pub(crate) fn beat(&self, at: Timestamp) {
        self.last_beat.fetch_max(at.as_micros(), Ordering::AcqRel);
    }
}

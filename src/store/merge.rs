//! The merge rule for replicated instances, as a pure function: a *join*.
//!
//! What a node knows of one instance is a [`RecordFacts`], made of three parts that merge
//! independently:
//!
//! - the **data register**: the data (or the deregistration) of the latest write, ordered by
//!   `(written, version)`. `written` is the version of the *client's* write the data comes
//!   from (a registration, an update, a deregistration); `version` also moves with the
//!   health flips a node makes to that data (a beat timeout marking it unhealthy, a beat
//!   marking it healthy again). A flip therefore orders after the write it flips, and before
//!   any later client write, so a node that flips a copy it should have deleted can never
//!   outrank the deregistration it missed;
//! - the **last beat**: the latest beat anyone heard (the maximum);
//! - the **eviction claim**: "no beat after this time" (the maximum), made by the node that
//!   evicted the instance after its beat timeout.
//!
//! The instance is live when its data register holds data and a beat was heard after the
//! latest eviction claim. Each part merges by a maximum, so the join is commutative,
//! associative and idempotent: nodes that see the same records, in any order, any number of
//! times, end with the same state, and nothing that was decided comes back because records
//! crossed. In particular:
//!
//! - a deregistration is final against every copy written before it, however many health
//!   flips or beats those copies saw since; only a later client write (a new registration)
//!   brings the instance back;
//! - an eviction is only a claim about silence: a copy that heard a later beat (its client
//!   kept beating on the other side of a partition) keeps the instance live, and an eviction
//!   claim never brings back data a deregistration removed.
//!
//! An eviction claim no later than the last beat can no longer decide anything (beats only
//! grow), so it is dropped: a live instance carries none.
//!
//! Differs from Nacos, where the Distro data of a client is replaced wholesale by the newest
//! copy its responsible node sends (and a stale node's copy wins when it is newer).

use super::version::Version;
use crate::clock::Timestamp;

/// What the merge rule needs to know about one side of a merge (its data aside, which goes
/// with the data register).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordFacts {
    /// The version of the client write the data register comes from.
    pub written: Version,
    /// The version of the latest change to the data register: `written`, or a later health
    /// flip of that data.
    pub version: Version,
    /// The latest beat this side knows of.
    pub last_beat: Timestamp,
    /// Whether the data register holds data (`false`: deregistered, or never seen).
    pub has_data: bool,
    /// The latest eviction claim: no beat was heard after this time. Only meaningful when not
    /// earlier than `last_beat` (see [`RecordFacts::normalized`]).
    pub evicted: Option<Timestamp>,
}

/// Whose data register a [`join`] kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The local one (also when both are the same write).
    Local,
    /// The incoming one.
    Incoming,
}

impl RecordFacts {
    /// The order of data registers: by client write, then by later change of that write.
    /// Two honest writes never share a version; should two records still do (a bug, or a
    /// forged record), a deregistration orders after data, so the order stays total.
    pub fn register_order(&self) -> (Version, Version, bool) {
        (self.written, self.version, !self.has_data)
    }

    /// Whether the instance is live: it has data, and a beat was heard after the latest
    /// eviction claim.
    pub fn is_live(&self) -> bool {
        self.has_data && self.evicted.is_none_or(|e| self.last_beat > e)
    }

    /// The same facts without an eviction claim that can no longer decide anything (one
    /// earlier than the last beat).
    pub fn normalized(mut self) -> Self {
        if self.evicted.is_some_and(|e| e < self.last_beat) {
            self.evicted = None;
        }
        self
    }
}

/// Joins what this node knows of an instance with what a peer sent; says whose data register
/// won (see the module documentation).
///
/// ```
/// use nacre::store::{join, RecordFacts, Side, Version};
/// use nacre::Timestamp;
/// let v = |stamp| Version { stamp, origin: 1 };
/// let at = Timestamp::from_millis;
/// // A copy that kept hearing beats until 90 ...
/// let live = RecordFacts {
///     written: v(10), version: v(10), last_beat: at(90), has_data: true, evicted: None,
/// };
/// // ... meets an eviction by a node that last heard a beat at 50: it stays live.
/// let evicted = RecordFacts { evicted: Some(at(50)), last_beat: at(50), ..live };
/// let (joined, _) = join(&evicted, &live);
/// assert!(joined.is_live());
/// // A deregistration written at 20 beats a copy written at 10, whatever it heard since.
/// let dereg = RecordFacts {
///     written: v(20), version: v(20), last_beat: at(60), has_data: false, evicted: None,
/// };
/// let (joined, side) = join(&live, &dereg);
/// assert_eq!(side, Side::Incoming);
/// assert!(!joined.is_live());
/// ```
pub fn join(local: &RecordFacts, incoming: &RecordFacts) -> (RecordFacts, Side) {
    let side = if incoming.register_order() > local.register_order() {
        Side::Incoming
    } else {
        Side::Local
    };
    let register = match side {
        Side::Local => local,
        Side::Incoming => incoming,
    };
    let joined = RecordFacts {
        written: register.written,
        version: register.version,
        has_data: register.has_data,
        last_beat: local.last_beat.max(incoming.last_beat),
        evicted: local.evicted.max(incoming.evicted),
    };
    (joined.normalized(), side)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(stamp: u64) -> Version {
        Version {
            stamp,
            origin: stamp % 3,
        }
    }

    fn facts(
        written: u64,
        version: u64,
        beat: u64,
        data: bool,
        evicted: Option<u64>,
    ) -> RecordFacts {
        RecordFacts {
            written: v(written),
            version: v(version),
            last_beat: Timestamp::from_millis(beat),
            has_data: data,
            evicted: evicted.map(Timestamp::from_millis),
        }
        .normalized()
    }

    #[test]
    fn a_newer_client_write_wins_between_live_copies() {
        let (j, side) = join(&facts(1, 1, 0, true, None), &facts(2, 2, 0, true, None));
        assert_eq!((j.written, side), (v(2), Side::Incoming));
        let (j, side) = join(&facts(2, 2, 0, true, None), &facts(1, 1, 99, true, None));
        assert_eq!((j.written, side), (v(2), Side::Local));
        // The later beat is learnt all the same.
        assert_eq!(j.last_beat, Timestamp::from_millis(99));
    }

    #[test]
    fn a_health_flip_orders_after_its_write_and_before_the_next() {
        let flipped = facts(1, 5, 0, true, None);
        assert_eq!(
            join(&facts(1, 1, 0, true, None), &flipped).1,
            Side::Incoming
        );
        // A deregistration written at 3 beats a flip made at 5 of data written at 1.
        let dereg = facts(3, 3, 0, false, None);
        let (j, side) = join(&flipped, &dereg);
        assert_eq!(side, Side::Incoming);
        assert!(!j.is_live());
        assert_eq!(join(&dereg, &flipped).1, Side::Local);
    }

    #[test]
    fn an_eviction_loses_to_a_copy_that_heard_a_later_beat() {
        let evicted = facts(1, 1, 50, true, Some(50));
        assert!(!evicted.is_live());
        let later = facts(1, 1, 100, true, None);
        assert!(join(&evicted, &later).0.is_live());
        assert!(join(&later, &evicted).0.is_live());
        // A copy that heard nothing newer stays evicted, whichever side it is on.
        let stale = facts(1, 1, 40, true, None);
        assert!(!join(&evicted, &stale).0.is_live());
        assert!(!join(&stale, &evicted).0.is_live());
    }

    #[test]
    fn an_eviction_never_brings_back_a_deregistration() {
        let dereg = facts(12, 12, 10, false, None);
        let eviction_of_stale = facts(1, 1, 5, true, Some(5));
        let stale = facts(1, 1, 10, true, None);
        for order in [
            [&dereg, &eviction_of_stale, &stale],
            [&stale, &dereg, &eviction_of_stale],
            [&eviction_of_stale, &stale, &dereg],
        ] {
            let (a, _) = join(order[0], order[1]);
            let (b, _) = join(&a, order[2]);
            assert!(!b.is_live(), "{order:?}");
            assert_eq!(b.written, v(12));
        }
    }

    #[test]
    fn the_join_is_commutative_associative_and_idempotent() {
        let mut all = Vec::new();
        for (w, ver) in [(1, 1), (1, 4), (2, 2), (3, 3)] {
            for beat in [10, 20, 30] {
                for data in [true, false] {
                    for ev in [None, Some(15), Some(25)] {
                        all.push(facts(w, ver, beat, data, ev));
                    }
                }
            }
        }
        let j = |a: &RecordFacts, b: &RecordFacts| join(a, b).0;
        for a in &all {
            assert_eq!(j(a, a), *a);
            for b in &all {
                assert_eq!(j(a, b), j(b, a), "{a:?} {b:?}");
                for c in all.iter().step_by(3) {
                    assert_eq!(j(&j(a, b), c), j(a, &j(b, c)), "{a:?} {b:?} {c:?}");
                }
            }
        }
    }
}

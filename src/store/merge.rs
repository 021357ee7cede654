//! The merge rule for replicated instances, as a pure function.
//!
//! Per-instance last-writer-wins by [`Version`], with one exception that keeps AP honest: an
//! *eviction* is only a claim that nobody heard the instance since some beat. A live copy that
//! heard a later beat (its client kept beating on the other side of a partition) beats that
//! claim, whatever the versions say. A *deregistration* is the client's own word and wins by
//! version like any write. Two different writes never carry equal versions, so the rule is a
//! total order: every node that sees the same records ends with the same state.

use super::snapshot::RemovalReason;
use super::version::Version;
use crate::clock::Timestamp;

/// What the merge rule needs to know about one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordFacts {
    /// Version of the write.
    pub version: Version,
    /// The latest beat this side knows of.
    pub last_beat: Timestamp,
    /// `None` for a live instance, else why it was removed.
    pub removed: Option<RemovalReason>,
}

/// Whether `incoming` should replace `local`.
///
/// ```
/// use nacre::store::{incoming_wins, RecordFacts, RemovalReason, Version};
/// use nacre::Timestamp;
/// let v = |stamp| Version { stamp, origin: 1 };
/// let live = RecordFacts { version: v(10), last_beat: Timestamp::from_millis(90), removed: None };
/// let evicted = RecordFacts {
///     version: v(20),
///     last_beat: Timestamp::from_millis(50),
///     removed: Some(RemovalReason::Expired),
/// };
/// // The eviction is newer, but the live copy heard a later beat: it stays.
/// assert!(!incoming_wins(&live, &evicted));
/// assert!(incoming_wins(&evicted, &live));
/// ```
pub fn incoming_wins(local: &RecordFacts, incoming: &RecordFacts) -> bool {
    let newer = incoming.version > local.version;
    match (local.removed, incoming.removed) {
        (None, Some(RemovalReason::Expired)) => newer && incoming.last_beat >= local.last_beat,
        (Some(RemovalReason::Expired), None) => newer || incoming.last_beat > local.last_beat,
        _ => newer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(stamp: u64, beat: u64, removed: Option<RemovalReason>) -> RecordFacts {
        RecordFacts {
            version: Version {
                stamp,
                origin: stamp % 3,
            },
            last_beat: Timestamp::from_millis(beat),
            removed,
        }
    }

    #[test]
    fn newer_write_wins_between_live_copies() {
        assert!(incoming_wins(&facts(1, 0, None), &facts(2, 0, None)));
        assert!(!incoming_wins(&facts(2, 0, None), &facts(1, 99, None)));
    }

    #[test]
    fn deregistration_wins_by_version_only() {
        let dereg = Some(RemovalReason::Deregistered);
        assert!(incoming_wins(&facts(1, 100, None), &facts(2, 0, dereg)));
        assert!(!incoming_wins(&facts(3, 0, None), &facts(2, 100, dereg)));
        assert!(incoming_wins(&facts(2, 0, dereg), &facts(3, 0, None)));
    }

    #[test]
    fn an_eviction_loses_to_a_copy_that_heard_a_later_beat() {
        let exp = Some(RemovalReason::Expired);
        assert!(!incoming_wins(&facts(1, 100, None), &facts(5, 50, exp)));
        assert!(incoming_wins(&facts(5, 50, exp), &facts(1, 100, None)));
        // A copy that heard nothing newer loses to the newer eviction.
        assert!(incoming_wins(&facts(1, 50, None), &facts(5, 50, exp)));
        assert!(!incoming_wins(&facts(5, 50, exp), &facts(1, 40, None)));
    }

    #[test]
    fn the_rule_is_antisymmetric_for_distinct_versions() {
        let kinds = [
            None,
            Some(RemovalReason::Expired),
            Some(RemovalReason::Deregistered),
        ];
        for a_stamp in 1..5u64 {
            for b_stamp in 1..5u64 {
                if a_stamp == b_stamp {
                    continue;
                }
                for a_beat in [10u64, 20, 30] {
                    for b_beat in [10u64, 20, 30] {
                        for ka in kinds {
                            for kb in kinds {
                                let a = facts(a_stamp, a_beat, ka);
                                let b = facts(b_stamp, b_beat, kb);
                                assert_ne!(
                                    incoming_wins(&a, &b),
                                    incoming_wins(&b, &a),
                                    "{a:?} vs {b:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

//! The beat-check policy as pure functions of (last beat, health, timeouts, `now`).
//!
//! No clock, no store, no locks: [`judge`] says what should happen to one instance at `now`,
//! [`next_deadline`] says when its state will next change if no beat arrives, and
//! [`empty_service_deadline`] says when a service without instances goes. The sweep and the
//! driver around them are thin.

use super::config::HealthConfig;
use crate::clock::Timestamp;
use crate::model::TimingOverrides;
use std::time::Duration;

/// The timeouts that apply to one instance: its overrides, else the configured defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeatTimeouts {
    /// The interval its client should beat at.
    pub beat_interval: Duration,
    /// Silence after which it is unhealthy.
    pub unhealthy_after: Duration,
    /// Silence after which it is removed.
    pub remove_after: Duration,
}

impl BeatTimeouts {
    /// Overrides win over the defaults in `config`.
    pub fn resolve(overrides: TimingOverrides, config: &HealthConfig) -> Self {
        Self {
            beat_interval: overrides.beat_interval.unwrap_or(config.beat_interval),
            unhealthy_after: overrides.beat_timeout.unwrap_or(config.beat_timeout),
            remove_after: overrides.delete_timeout.unwrap_or(config.delete_timeout),
        }
    }
}

/// What should happen to an ephemeral instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing.
    Keep,
    /// It has been silent for `unhealthy_after` or longer and is still marked healthy.
    MarkUnhealthy,
    /// It has been silent for `remove_after` or longer.
    Remove,
}

/// Judges one ephemeral instance at `now`. The boundaries are inclusive: silent for exactly
/// `unhealthy_after` means unhealthy, for exactly `remove_after` means removed.
///
/// ```
/// use nacre::health::{judge, BeatTimeouts, Verdict};
/// use nacre::Timestamp;
/// use std::time::Duration;
/// let t = BeatTimeouts {
///     beat_interval: Duration::from_secs(5),
///     unhealthy_after: Duration::from_secs(15),
///     remove_after: Duration::from_secs(30),
/// };
/// let beat = Timestamp::from_millis(1_000);
/// let at = |ms| beat + Duration::from_millis(ms);
/// assert_eq!(judge(beat, true, &t, at(14_999)), Verdict::Keep);
/// assert_eq!(judge(beat, true, &t, at(15_000)), Verdict::MarkUnhealthy);
/// assert_eq!(judge(beat, false, &t, at(29_999)), Verdict::Keep);
/// assert_eq!(judge(beat, false, &t, at(30_000)), Verdict::Remove);
/// ```
pub fn judge(
    last_beat: Timestamp,
    healthy: bool,
    timeouts: &BeatTimeouts,
    now: Timestamp,
) -> Verdict {
    let silent = now.saturating_since(last_beat);
    if silent >= timeouts.remove_after {
        Verdict::Remove
    } else if healthy && silent >= timeouts.unhealthy_after {
        Verdict::MarkUnhealthy
    } else {
        Verdict::Keep
    }
}

/// When a sweep that ran at `now` should be followed by the next: at the earliest deadline it
/// reported (`next_due`), but at least `min_gap` and at most `max_wait` after `now` (and
/// always after it). Both health drivers (the registry's and a cluster node's) use this.
pub fn next_sweep_at(
    now: Timestamp,
    next_due: Option<Timestamp>,
    min_gap: Duration,
    max_wait: Duration,
) -> Timestamp {
    let cap = now + max_wait;
    next_due
        .map_or(cap, |d| d.min(cap))
        .max(now + min_gap.max(Duration::from_micros(1)))
}

/// When [`judge`] will next give a different verdict for this instance, if no beat arrives.
pub fn next_deadline(last_beat: Timestamp, healthy: bool, timeouts: &BeatTimeouts) -> Timestamp {
    let remove = last_beat + timeouts.remove_after;
    if healthy {
        remove.min(last_beat + timeouts.unhealthy_after)
    } else {
        remove
    }
}

/// When a service is to be removed for being empty, if ever: `expiry` after it became empty.
/// Never (`None`) while it holds instances, when its settings were set explicitly, when it has
/// no known time of becoming empty, or when `expiry` is `None` (removal of empty services
/// turned off). The boundary is inclusive, like [`judge`]'s: the service goes at exactly that
/// time.
///
/// ```
/// use nacre::health::empty_service_deadline;
/// use nacre::Timestamp;
/// use std::time::Duration;
/// let left = Timestamp::from_millis(1_000);
/// let minute = Some(Duration::from_secs(60));
/// assert_eq!(
///     empty_service_deadline(0, false, Some(left), minute),
///     Some(left + Duration::from_secs(60))
/// );
/// assert_eq!(empty_service_deadline(1, false, Some(left), minute), None);
/// assert_eq!(empty_service_deadline(0, true, Some(left), minute), None);
/// assert_eq!(empty_service_deadline(0, false, Some(left), None), None);
/// ```
pub fn empty_service_deadline(
    instance_count: usize,
    explicit: bool,
    empty_since: Option<Timestamp>,
    expiry: Option<Duration>,
) -> Option<Timestamp> {
    if instance_count > 0 || explicit {
        return None;
    }
    Some(empty_since? + expiry?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_sweep_is_the_due_deadline_within_the_gap_and_the_cap() {
        let now = Timestamp::from_micros(10_000_000);
        let (gap, cap) = (Duration::from_secs(1), Duration::from_secs(5));
        let at = |us| Some(Timestamp::from_micros(us));
        assert_eq!(
            next_sweep_at(now, at(12_000_000), gap, cap),
            at(12_000_000).unwrap()
        );
        assert_eq!(
            next_sweep_at(now, at(10_200_000), gap, cap),
            at(11_000_000).unwrap()
        );
        assert_eq!(
            next_sweep_at(now, at(9_000_000), gap, cap),
            at(11_000_000).unwrap()
        );
        assert_eq!(
            next_sweep_at(now, at(99_000_000), gap, cap),
            at(15_000_000).unwrap()
        );
        assert_eq!(next_sweep_at(now, None, gap, cap), at(15_000_000).unwrap());
        let none = Duration::ZERO;
        assert_eq!(
            next_sweep_at(now, at(9_000_000), none, cap),
            at(10_000_001).unwrap()
        );
    }

    fn defaults() -> BeatTimeouts {
        BeatTimeouts::resolve(TimingOverrides::default(), &HealthConfig::default())
    }

    #[test]
    fn healthy_until_just_before_the_beat_timeout() {
        let t = defaults();
        let beat = Timestamp::from_micros(5);
        assert_eq!(
            judge(beat, true, &t, beat + Duration::from_micros(14_999_999)),
            Verdict::Keep
        );
        assert_eq!(
            judge(beat, true, &t, beat + Duration::from_secs(15)),
            Verdict::MarkUnhealthy
        );
    }

    #[test]
    fn removed_at_the_delete_timeout_whether_marked_or_not() {
        let t = defaults();
        let beat = Timestamp::from_micros(5);
        let at = beat + Duration::from_secs(30);
        assert_eq!(judge(beat, true, &t, at), Verdict::Remove);
        assert_eq!(judge(beat, false, &t, at), Verdict::Remove);
        assert_eq!(
            judge(beat, false, &t, at - Duration::from_micros(1)),
            Verdict::Keep
        );
    }

    #[test]
    fn a_beat_from_the_future_counts_as_fresh() {
        let t = defaults();
        let now = Timestamp::from_micros(1_000);
        assert_eq!(
            judge(now + Duration::from_secs(60), true, &t, now),
            Verdict::Keep
        );
    }

    #[test]
    fn overrides_replace_each_default_separately() {
        let o = TimingOverrides {
            beat_interval: Some(Duration::from_secs(1)),
            beat_timeout: None,
            delete_timeout: Some(Duration::from_secs(10)),
        };
        let t = BeatTimeouts::resolve(o, &HealthConfig::default());
        assert_eq!(t.beat_interval, Duration::from_secs(1));
        assert_eq!(t.unhealthy_after, Duration::from_secs(15));
        assert_eq!(t.remove_after, Duration::from_secs(10));
        // A delete timeout shorter than the beat timeout removes without marking first.
        let beat = Timestamp::from_micros(0);
        assert_eq!(
            judge(beat, true, &t, beat + Duration::from_secs(10)),
            Verdict::Remove
        );
        assert_eq!(
            next_deadline(beat, true, &t),
            beat + Duration::from_secs(10)
        );
    }

    #[test]
    fn next_deadline_is_the_next_verdict_change() {
        let t = defaults();
        let beat = Timestamp::from_micros(0);
        assert_eq!(
            next_deadline(beat, true, &t),
            beat + Duration::from_secs(15)
        );
        assert_eq!(
            next_deadline(beat, false, &t),
            beat + Duration::from_secs(30)
        );
    }
}

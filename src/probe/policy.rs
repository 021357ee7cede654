//! The probe policy, pure: when each instance is next due, how a probe's [`Outcome`] counts,
//! and when the count flips the instance's health. No clock, no socket: every function takes
//! `now` (and the randomness of the first delay) as arguments.
//!
//! The numbers are Nacos 2.x' (`HealthCheckTaskV2`, `HealthCheckCommonV2`, `SwitchDomain`'s
//! `TcpHealthParams` and `checkTimes`), gathered in [`ProbeTiming`]:
//!
//! - An instance is first probed `2 s + r` after it is seen, `r` uniform in `[0, u)` with `u`
//!   uniform in `[0, 5 s)` (the jitter spreads a burst of registrations).
//! - After each probe its interval is re-evaluated from the probe's response time `rt`:
//!   `interval = 0.75 × interval + 0.25 × rt`, clamped to `[1 s, 5 s]`. A refused connection or
//!   an unexpected status counts as `rt = 5 s`; a timeout or a busy answer (503, 302) as twice
//!   the interval; other failures as 5 s.
//! - A healthy instance turns unhealthy after 3 failed probes in a row, or at once when the
//!   connection is refused or an HTTP check answers a status other than expected, 503 or 302.
//!   An unhealthy one turns healthy after 3 passed probes in a row.
//!
//! ```
//! use std::time::Duration;
//! use nacre::probe::{Outcome, ProbeState, ProbeTiming};
//! use nacre::Timestamp;
//!
//! let timing = ProbeTiming::default();
//! let t0 = Timestamp::from_millis(0);
//! let mut probe = ProbeState::new(t0, &timing, (0, 0));
//! assert_eq!(probe.next_due(), t0 + Duration::from_secs(2));
//! // A healthy instance whose port refuses a connection is unhealthy at once.
//! let verdict = probe.finish(true, Outcome::Refused, probe.next_due(), &timing);
//! assert_eq!(verdict, Some(false));
//! ```

use std::time::Duration;

use crate::clock::Timestamp;

/// Nacos' probe timing and thresholds: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeTiming {
    /// The least delay before an instance's first probe (2 s).
    pub first_delay: Duration,
    /// The bound of the first probe's jitter (5 s, `TcpHealthParams.max`).
    pub first_jitter: Duration,
    /// The shortest interval between two probes of an instance (1 s).
    pub min_interval: Duration,
    /// The longest interval between two probes of an instance (5 s).
    pub max_interval: Duration,
    /// The weight of the previous interval when it is re-evaluated (0.75).
    pub factor: f64,
    /// How many probes in a row flip the health (3, Nacos' `checkTimes`).
    pub check_times: u32,
}

impl Default for ProbeTiming {
    fn default() -> Self {
        ProbeTiming {
            first_delay: Duration::from_secs(2),
            first_jitter: Duration::from_secs(5),
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(5),
            factor: 0.75,
            check_times: 3,
        }
    }
}

impl ProbeTiming {
    /// The longest time an instance can wait for its first probe: the delay plus the jitter.
    pub fn longest_first_wait(&self) -> Duration {
        self.first_delay + self.first_jitter
    }
}

/// What one probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Connected (TCP), or answered the expected status (HTTP), after `rt`.
    Passed {
        /// How long the probe took.
        rt: Duration,
    },
    /// The connection was refused: nothing listens (fails at once).
    Refused,
    /// An HTTP check answered a status other than the expected one, 503 or 302 (fails at once).
    UnexpectedStatus(u16),
    /// An HTTP check answered 503 or 302: busy, counted as one failure.
    Busy(u16),
    /// The probe did not finish within its timeout: counted as one failure.
    TimedOut,
    /// Another error (unreachable network, reset, a bad answer): counted as one failure.
    Failed,
}

impl Outcome {
    /// What the probe found, in words (the instance timeline's reason for a verdict).
    pub fn describe(&self) -> String {
        match self {
            Outcome::Passed { rt } => format!("probe passed in {} ms", rt.as_millis()),
            Outcome::Refused => "probe refused: nothing listens".to_owned(),
            Outcome::UnexpectedStatus(code) => format!("probe answered HTTP {code}"),
            Outcome::Busy(code) => format!("probe answered HTTP {code} (busy)"),
            Outcome::TimedOut => "probe timed out".to_owned(),
            Outcome::Failed => "probe failed (unreachable, reset or a bad answer)".to_owned(),
        }
    }

    fn passed(&self) -> bool {
        matches!(self, Outcome::Passed { .. })
    }

    fn fails_at_once(&self) -> bool {
        matches!(self, Outcome::Refused | Outcome::UnexpectedStatus(_))
    }
}

/// The probe state of one instance: when it is due, its interval, and its counts.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeState {
    next_due: Timestamp,
    interval: Duration,
    passed: u32,
    failed: u32,
    in_flight: bool,
}

impl ProbeState {
    /// An instance first seen at `now`. `jitter` is two random draws in `[0, 1_000_000)`
    /// (the bound of the jitter, then the jitter within it), so that a test can pick them.
    pub fn new(now: Timestamp, timing: &ProbeTiming, jitter: (u32, u32)) -> Self {
        let scale = |d: Duration, draw: u32| d.mul_f64(f64::from(draw.min(999_999)) / 1e6);
        let bound = scale(timing.first_jitter, jitter.0);
        let delay = timing.first_delay + scale(bound, jitter.1);
        ProbeState {
            next_due: now + delay,
            interval: delay,
            passed: 0,
            failed: 0,
            in_flight: false,
        }
    }

    /// When the next probe is due.
    pub fn next_due(&self) -> Timestamp {
        self.next_due
    }

    /// Whether a probe should start at `now`: due, and none in flight.
    pub fn is_due(&self, now: Timestamp) -> bool {
        !self.in_flight && self.next_due <= now
    }

    /// Whether a probe is running.
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// A probe started.
    pub fn start(&mut self) {
        self.in_flight = true;
    }

    /// The probe that started ended with `outcome` at `now`, for an instance whose health is
    /// `healthy`: counts it, schedules the next probe, and answers the health to write when
    /// it should change (`None`: leave it).
    pub fn finish(
        &mut self,
        healthy: bool,
        outcome: Outcome,
        now: Timestamp,
        timing: &ProbeTiming,
    ) -> Option<bool> {
        self.in_flight = false;
        let rt = match outcome {
            Outcome::Passed { rt } => rt,
            Outcome::TimedOut | Outcome::Busy(_) => self.interval * 2,
            Outcome::Refused | Outcome::UnexpectedStatus(_) | Outcome::Failed => {
                timing.max_interval
            }
        };
        let next = self.interval.mul_f64(timing.factor) + rt.mul_f64(1.0 - timing.factor);
        self.interval = next.clamp(timing.min_interval, timing.max_interval);
        self.next_due = now + self.interval;
        if outcome.passed() {
            self.failed = 0;
            if healthy {
                return None;
            }
            self.passed = self.passed.saturating_add(1);
            return (self.passed >= timing.check_times).then_some(true);
        }
        self.passed = 0;
        if !healthy {
            return None;
        }
        if outcome.fails_at_once() {
            return Some(false);
        }
        self.failed = self.failed.saturating_add(1);
        (self.failed >= timing.check_times).then_some(false)
    }

    /// The probe that started was not run after all (the instance was on the deny list, or
    /// its checker changed): due again one interval (within the bounds) from `now`, counts
    /// unchanged.
    pub fn skip(&mut self, now: Timestamp, timing: &ProbeTiming) {
        self.in_flight = false;
        self.interval = self
            .interval
            .clamp(timing.min_interval, timing.max_interval);
        self.next_due = now + self.interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn ok() -> Outcome {
        Outcome::Passed {
            rt: Duration::from_millis(1),
        }
    }

    #[test]
    fn the_first_probe_is_due_between_2_and_7_seconds_after_the_instance_is_seen() {
        let timing = ProbeTiming::default();
        let earliest = ProbeState::new(at(1_000), &timing, (0, 0));
        assert_eq!(earliest.next_due(), at(3_000));
        assert!(!earliest.is_due(at(2_999)));
        assert!(earliest.is_due(at(3_000)));
        let latest = ProbeState::new(at(1_000), &timing, (999_999, 999_999));
        assert!(latest.next_due() < at(8_000));
        assert!(latest.next_due() > at(7_990));
        let middle = ProbeState::new(at(0), &timing, (500_000, 500_000));
        assert_eq!(middle.next_due(), at(3_250));
    }

    #[test]
    fn a_refused_connection_makes_a_healthy_instance_unhealthy_at_once() {
        let timing = ProbeTiming::default();
        let mut probe = ProbeState::new(at(0), &timing, (0, 0));
        probe.start();
        assert!(!probe.is_due(at(10_000)), "one probe at a time");
        assert_eq!(
            probe.finish(true, Outcome::Refused, at(2_000), &timing),
            Some(false)
        );
        let unexpected = Outcome::UnexpectedStatus(404);
        let mut http = ProbeState::new(at(0), &timing, (0, 0));
        assert_eq!(
            http.finish(true, unexpected, at(2_000), &timing),
            Some(false)
        );
    }

    #[test]
    fn timeouts_and_busy_answers_flip_only_after_three_in_a_row() {
        let timing = ProbeTiming::default();
        let mut probe = ProbeState::new(at(0), &timing, (0, 0));
        let mut now = at(2_000);
        assert_eq!(probe.finish(true, Outcome::TimedOut, now, &timing), None);
        now = probe.next_due();
        assert_eq!(probe.finish(true, Outcome::Busy(503), now, &timing), None);
        now = probe.next_due();
        // A pass in between starts the count again.
        assert_eq!(probe.finish(true, ok(), now, &timing), None);
        for _ in 0..2 {
            now = probe.next_due();
            assert_eq!(probe.finish(true, Outcome::Failed, now, &timing), None);
        }
        now = probe.next_due();
        assert_eq!(
            probe.finish(true, Outcome::TimedOut, now, &timing),
            Some(false)
        );
    }

    #[test]
    fn an_unhealthy_instance_turns_healthy_after_three_passes_in_a_row() {
        let timing = ProbeTiming::default();
        let mut probe = ProbeState::new(at(0), &timing, (0, 0));
        let mut now = at(2_000);
        assert_eq!(probe.finish(false, ok(), now, &timing), None);
        now = probe.next_due();
        assert_eq!(probe.finish(false, Outcome::Failed, now, &timing), None);
        for _ in 0..2 {
            now = probe.next_due();
            assert_eq!(probe.finish(false, ok(), now, &timing), None);
        }
        now = probe.next_due();
        assert_eq!(probe.finish(false, ok(), now, &timing), Some(true));
        // A failure seen while already unhealthy changes nothing.
        let mut down = ProbeState::new(at(0), &timing, (0, 0));
        assert_eq!(
            down.finish(false, Outcome::Refused, at(2_000), &timing),
            None
        );
    }

    #[test]
    fn the_interval_follows_the_response_time_within_1_and_5_seconds() {
        let timing = ProbeTiming::default();
        let mut probe = ProbeState::new(at(0), &timing, (0, 0));
        // 0.75 × 2 s + 0.25 × 1 ms.
        probe.finish(true, ok(), at(2_000), &timing);
        assert_eq!(
            probe.next_due(),
            at(2_000) + Duration::from_micros(1_500_250)
        );
        for _ in 0..20 {
            let now = probe.next_due();
            probe.finish(true, ok(), now, &timing);
        }
        let before = probe.next_due();
        probe.finish(true, ok(), before, &timing);
        assert_eq!(probe.next_due(), before + Duration::from_secs(1));
        for _ in 0..40 {
            let now = probe.next_due();
            probe.finish(false, Outcome::Refused, now, &timing);
        }
        let before = probe.next_due();
        probe.finish(false, Outcome::Refused, before, &timing);
        let interval = probe.next_due().saturating_since(before);
        assert!(interval <= Duration::from_secs(5), "{interval:?}");
        assert!(interval > Duration::from_millis(4_990), "{interval:?}");
    }

    #[test]
    fn a_skipped_probe_keeps_the_counts_and_waits_one_interval() {
        let timing = ProbeTiming::default();
        let mut probe = ProbeState::new(at(0), &timing, (0, 0));
        probe.finish(true, Outcome::Failed, at(2_000), &timing);
        let interval = probe.next_due().saturating_since(at(2_000));
        probe.start();
        probe.skip(at(5_000), &timing);
        assert!(!probe.in_flight());
        assert_eq!(probe.next_due(), at(5_000) + interval);
        probe.finish(true, Outcome::Failed, at(9_000), &timing);
        assert_eq!(
            probe.finish(true, Outcome::Failed, at(12_000), &timing),
            Some(false)
        );
    }
}

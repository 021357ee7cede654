//! [`Audit`]: the record of every access decision: counted by front and [`Outcome`] (what
//! `/metrics` shows as `nacre_access_total`), and logged through `tracing` with the caller,
//! the source address and the resource, on the target `nacre::audit`.
//!
//! Writes and logins are logged at `info`, refusals at `warn`, reads only at `debug` (a read
//! changes nothing, and a busy node reads thousands of times a second). The lines are
//! rate-limited by a [`LineBudget`]: at most [`AUDIT_LINES_PER_SECOND`] a second; past it a
//! second's lines are counted, and the next line logged says how many were left out, so a
//! flood of refused requests cannot fill a disk, and the counts stay exact.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most audit lines logged a second.
pub const AUDIT_LINES_PER_SECOND: u64 = 100;

/// The front a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Front {
    /// The v1 HTTP API (and its login routes).
    Http,
    /// The 2.x gRPC API.
    Grpc,
    /// The web console's API and event stream.
    Console,
    /// `GET /metrics`.
    Metrics,
}

impl Front {
    /// Every front, in the order the counts are kept.
    pub const ALL: [Front; 4] = [Front::Http, Front::Grpc, Front::Console, Front::Metrics];

    /// Its label.
    pub fn as_str(self) -> &'static str {
        match self {
            Front::Http => "http",
            Front::Grpc => "grpc",
            Front::Console => "console",
            Front::Metrics => "metrics",
        }
    }
}

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A read, allowed.
    Read,
    /// A write, allowed.
    Write,
    /// A login that gave a token.
    Login,
    /// A login refused (unknown user, wrong password, throttled).
    LoginFailed,
    /// Refused: no token.
    NoToken,
    /// Refused: a token not valid here (forged, another key, expired, its user gone).
    BadToken,
    /// Refused: a valid caller without the permission.
    Forbidden,
}

impl Outcome {
    /// Every outcome, in the order the counts are kept.
    pub const ALL: [Outcome; 7] = [
        Outcome::Read,
        Outcome::Write,
        Outcome::Login,
        Outcome::LoginFailed,
        Outcome::NoToken,
        Outcome::BadToken,
        Outcome::Forbidden,
    ];

    /// Its label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Read => "read",
            Outcome::Write => "write",
            Outcome::Login => "login",
            Outcome::LoginFailed => "login_failed",
            Outcome::NoToken => "no_token",
            Outcome::BadToken => "bad_token",
            Outcome::Forbidden => "forbidden",
        }
    }

    fn refused(self) -> bool {
        matches!(
            self,
            Outcome::LoginFailed | Outcome::NoToken | Outcome::BadToken | Outcome::Forbidden
        )
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct Audit {
    counts: [[AtomicU64; Outcome::ALL.len()]; Front::ALL.len()],
    lines: LineBudget,
}

impl Default for Audit {
    fn default() -> Self {
        Self {
            counts: Default::default(),
            lines: LineBudget::new(AUDIT_LINES_PER_SECOND),
        }
    }
}

impl Audit {
    /// Counts one decision, and logs it within the budget.
    pub fn record(
        &self,
        front: Front,
        outcome: Outcome,
        caller: &str,
        source: IpAddr,
        resource: &dyn std::fmt::Display,
        why: Option<&str>,
    ) {
        self.counts[front as usize][outcome as usize].fetch_add(1, Ordering::Relaxed);
        if outcome == Outcome::Read {
            tracing::debug!(target: "nacre::audit", front = front.as_str(), caller, %source, %resource, "read");
            return;
        }
        let Some(left_out) = self.lines.take(Instant::now()) else {
            return;
        };
        let refused = outcome.refused();
        let (outcome, front) = (outcome.as_str(), front.as_str());
        if refused {
            tracing::warn!(target: "nacre::audit", front, outcome, caller, %source, %resource, why, left_out, "refused");
        } else {
            tracing::info!(target: "nacre::audit", front, outcome, caller, %source, %resource, left_out, "allowed");
        }
    }

    /// How many decisions of `outcome` came through `front`.
    pub fn count(&self, front: Front, outcome: Outcome) -> u64 {
        self.counts[front as usize][outcome as usize].load(Ordering::Relaxed)
    }
}

/// At most `per_second` lines in each second; the rest counted.
#[derive(Debug)]
pub struct LineBudget {
    per_second: u64,
    /// (start of the current second, lines logged in it, lines left out since the last one
    /// logged).
    state: Mutex<(Option<Instant>, u64, u64)>,
}

impl LineBudget {
    /// At most `per_second` lines a second.
    pub fn new(per_second: u64) -> Self {
        Self {
            per_second,
            state: Mutex::new((None, 0, 0)),
        }
    }

    /// Whether a line at `now` may be logged; when yes, how many were left out since the last
    /// one that was.
    pub fn take(&self, now: Instant) -> Option<u64> {
        let mut state = crate::util::lock(&self.state);
        let (start, used, left_out) = &mut *state;
        if start.is_none_or(|s| now.saturating_duration_since(s) >= Duration::from_secs(1)) {
            *start = Some(now);
            *used = 0;
        }
        if *used >= self.per_second {
            *left_out += 1;
            return None;
        }
        *used += 1;
        Some(std::mem::take(left_out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn a_second_logs_its_budget_and_the_next_line_says_how_many_were_left_out() {
        let budget = LineBudget::new(2);
        let t0 = Instant::now();
        assert_eq!(budget.take(t0), Some(0));
        assert_eq!(budget.take(t0), Some(0));
        assert_eq!(budget.take(t0 + Duration::from_millis(500)), None);
        assert_eq!(budget.take(t0 + Duration::from_millis(900)), None);
        assert_eq!(budget.take(t0 + Duration::from_secs(1)), Some(2));
        assert_eq!(budget.take(t0 + Duration::from_secs(1)), Some(0));
    }

    #[test]
    fn every_decision_is_counted_by_front_and_outcome_beyond_the_line_budget() {
        let audit = Audit::default();
        let source = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for _ in 0..(AUDIT_LINES_PER_SECOND + 50) {
            audit.record(Front::Grpc, Outcome::NoToken, "", source, &"r", Some("no"));
        }
        audit.record(Front::Http, Outcome::Write, "w", source, &"r", None);
        assert_eq!(
            audit.count(Front::Grpc, Outcome::NoToken),
            AUDIT_LINES_PER_SECOND + 50
        );
        assert_eq!(audit.count(Front::Http, Outcome::Write), 1);
        assert_eq!(audit.count(Front::Http, Outcome::NoToken), 0);
    }
}

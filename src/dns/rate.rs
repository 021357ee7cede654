//! [`SourceRates`]: how many queries each source address may send, a token bucket per
//! address, pure code over `now`.
//!
//! UDP sources can be forged, so a DNS server that answers everything is an amplifier aimed
//! at whoever the forged address names: a query over its budget is dropped, not answered. The
//! table of addresses is bounded too: when it holds `max_sources`, buckets full again (idle
//! for a whole burst's refill) are forgotten, and if none is, the new address is refused until
//! one is.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Per-address budgets of queries.
#[derive(Debug)]
pub struct SourceRates {
    per_second: f64,
    burst: f64,
    max_sources: usize,
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl SourceRates {
    /// `per_second` queries a second per address, up to `burst` at once, for at most
    /// `max_sources` addresses tracked at a time.
    pub fn new(per_second: u32, burst: u32, max_sources: usize) -> Self {
        SourceRates {
            per_second: f64::from(per_second.max(1)),
            burst: f64::from(burst.max(1)),
            max_sources: max_sources.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Whether `ip` may send a query at `now` (taking one from its budget if so).
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> bool {
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.max_sources {
            let full = Duration::from_secs_f64(self.burst / self.per_second);
            self.buckets
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < full);
            if self.buckets.len() >= self.max_sources {
                return false;
            }
        }
        let (tokens, at) = self.buckets.entry(ip).or_insert((self.burst, now));
        let refill = now.saturating_duration_since(*at).as_secs_f64() * self.per_second;
        *tokens = (*tokens + refill).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let mut rates = SourceRates::new(10, 5, 100);
        let t0 = Instant::now();
        assert_eq!((0..8).filter(|_| rates.admit(ip(1), t0)).count(), 5);
        // Another source has its own budget.
        assert!(rates.admit(ip(2), t0));
        // 100 ms later: one more.
        let t1 = t0 + Duration::from_millis(100);
        assert!(rates.admit(ip(1), t1));
        assert!(!rates.admit(ip(1), t1));
        // After a long pause: the burst again, no more.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..8).filter(|_| rates.admit(ip(1), t2)).count(), 5);
    }

    #[test]
    fn the_table_is_bounded_and_forgets_idle_sources() {
        let mut rates = SourceRates::new(10, 5, 3);
        let t0 = Instant::now();
        for n in 1..=3 {
            assert!(rates.admit(ip(n), t0));
        }
        assert!(!rates.admit(ip(4), t0), "full of busy sources");
        assert_eq!(rates.tracked(), 3);
        // Half a second later (a full refill) the idle ones are forgotten.
        assert!(rates.admit(ip(4), t0 + Duration::from_millis(500)));
        assert_eq!(rates.tracked(), 1);
    }
}

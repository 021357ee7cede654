//! [`ConnectionGate`]: the admission rule every listener of a front applies to a new
//! connection (or a long-lived stream), so that one client cannot take what every client
//! shares. Two counts, both checked before anything of the connection is read:
//!
//! - the **total**: at most [`GateLimits::max_total`] held at once;
//! - the **per source address**: at most [`GateLimits::max_per_ip`] held by one IP address,
//!   so one host cannot fill the total by itself (it can take at most its share; a second
//!   host still gets in).
//!
//! An admitted connection holds a [`Ticket`]; dropping it frees both counts. A refusal is
//! counted, and logged through [`RefusalLog`] at most once per interval with the number left
//! unlogged, so a flood of refusals cannot flood the log too.
//!
//! Nacos has neither bound on its gRPC port and only Tomcat's total (10 000) on HTTP; a
//! per-address share is nacre's own. Clients behind one NAT address share its share, so the
//! default per address (1 000 of 10 000) is generous: a NAT gateway with more clients than that
//! needs the flag raised.

use crate::util::lock;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The default total of a listener's connections (as Tomcat's, and so Nacos' HTTP port).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The default share of one source address.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 1_000;
/// The default bounds of long-lived streams a listener serves apart from its connections (the
/// console's event streams): 64 at once, 8 per address.
pub const DEFAULT_STREAM_LIMITS: GateLimits = GateLimits {
    max_total: 64,
    max_per_ip: 8,
};
/// The default lifetime of one such stream (5 minutes); its client reconnects.
pub const DEFAULT_STREAM_LIFETIME: Duration = Duration::from_secs(300);
/// How often a refusal is logged at most, per gate.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The bounds of a [`ConnectionGate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateLimits {
    /// Held at once in total.
    pub max_total: usize,
    /// Held at once by one source address.
    pub max_per_ip: usize,
}

impl Default for GateLimits {
    fn default() -> Self {
        Self {
            max_total: DEFAULT_MAX_CONNECTIONS,
            max_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The total is reached.
    #[error("at the cap of {0} held at once")]
    Total(usize),
    /// The source address holds its share.
    #[error("the source address holds its share of {0}")]
    PerIp(usize),
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// Counts what a listener holds, in total and per source address: see the module docs.
#[derive(Debug)]
pub struct ConnectionGate {
    what: &'static str,
    limits: GateLimits,
    held: Mutex<Held>,
    refused: AtomicU64,
    log: RefusalLog,
}

impl ConnectionGate {
    /// A gate for `what` (named in its logs: `"HTTP connection"`, `"console stream"`).
    pub fn new(what: &'static str, limits: GateLimits) -> Arc<Self> {
        Arc::new(Self {
            what,
            limits,
            held: Mutex::default(),
            refused: AtomicU64::new(0),
            log: RefusalLog::new(REFUSAL_LOG_INTERVAL),
        })
    }

    /// Admits a connection from `ip`, or says why not (counted, and logged at most once per
    /// [`REFUSAL_LOG_INTERVAL`]).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        let ip = canonical(ip);
        let refusal = {
            let mut held = lock(&self.held);
            let mine = held.by_ip.get(&ip).copied().unwrap_or(0);
            if held.total >= self.limits.max_total {
                Some(Refusal::Total(self.limits.max_total))
            } else if mine >= self.limits.max_per_ip {
                Some(Refusal::PerIp(self.limits.max_per_ip))
            } else {
                held.total += 1;
                held.by_ip.insert(ip, mine + 1);
                None
            }
        };
        match refusal {
            None => Ok(Ticket {
                gate: self.clone(),
                ip,
            }),
            Some(refusal) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                if let Some(unlogged) = self.log.due(Instant::now()) {
                    tracing::warn!(%ip, what = self.what, %refusal, unlogged, "refused");
                }
                Err(refusal)
            }
        }
    }

    /// Held now, in total.
    pub fn held(&self) -> usize {
        lock(&self.held).total
    }

    /// Held now by `ip`.
    pub fn held_by(&self, ip: IpAddr) -> usize {
        lock(&self.held)
            .by_ip
            .get(&canonical(ip))
            .copied()
            .unwrap_or(0)
    }

    /// Refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The bounds.
    pub fn limits(&self) -> GateLimits {
        self.limits
    }

    fn release(&self, ip: IpAddr) {
        let mut held = lock(&self.held);
        held.total = held.total.saturating_sub(1);
        if let Some(n) = held.by_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                held.by_ip.remove(&ip);
            }
        }
    }
}

/// An IPv4 client reaching a dual-stack listener shows as `::ffff:a.b.c.d`: the same host.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// One admitted connection: dropping it frees its place.
#[derive(Debug)]
pub struct Ticket {
    gate: Arc<ConnectionGate>,
    ip: IpAddr,
}

impl Ticket {
    /// The source address it was admitted for.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.gate.release(self.ip);
    }
}

/// The place a connection holds at its listener's gate, shared with the requests it carries
/// (as a request extension). A handler that turns its connection into a long-lived stream (the
/// console's events) gives the place back with [`Slot::give_back`] and takes one at a gate of
/// its own, so streams are bounded apart from the API's connections; its answer then closes
/// the connection when the stream ends (`Connection: close`).
#[derive(Debug, Clone, Default)]
pub struct Slot(Arc<Mutex<Option<Ticket>>>);

impl Slot {
    /// A slot holding `ticket`.
    pub fn new(ticket: Ticket) -> Self {
        Self(Arc::new(Mutex::new(Some(ticket))))
    }

    /// Frees the place now rather than when the connection closes.
    pub fn give_back(&self) {
        let ticket = lock(&self.0).take();
        drop(ticket);
    }

    /// Whether the place is still held.
    pub fn is_held(&self) -> bool {
        lock(&self.0).is_some()
    }
}

/// What a listener does when `accept` itself fails (out of descriptors, mostly): says so in
/// `log` (at most once per interval) as `listener` (`"HTTP"`, `"gRPC"`), and pauses briefly
/// rather than spin on the error.
pub async fn accept_failed(log: &RefusalLog, listener: &'static str, error: &std::io::Error) {
    if let Some(unlogged) = log.due(Instant::now()) {
        tracing::error!(%error, unlogged, listener, "a listener cannot accept");
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Logging that a flood cannot flood: [`RefusalLog::due`] says yes at most once per interval,
/// with how many times it said no since.
#[derive(Debug)]
pub struct RefusalLog {
    interval: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RefusalLog {
    /// At most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// Whether to log an event happening at `now`; when yes, how many events went unlogged
    /// since the last line.
    pub fn due(&self, now: Instant) -> Option<u64> {
        let mut state = lock(&self.state);
        let (last, skipped) = &mut *state;
        match last {
            Some(at) if now.saturating_duration_since(*at) < self.interval => {
                *skipped += 1;
                None
            }
            _ => {
                *last = Some(now);
                Some(std::mem::take(skipped))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn one_address_takes_at_most_its_share_and_the_total_holds() {
        let gate = ConnectionGate::new(
            "test connection",
            GateLimits {
                max_total: 5,
                max_per_ip: 3,
            },
        );
        let a: Vec<_> = (0..3).map(|_| gate.admit(ip(1)).unwrap()).collect();
        assert_eq!(gate.admit(ip(1)).unwrap_err(), Refusal::PerIp(3));
        let b: Vec<_> = (0..2).map(|_| gate.admit(ip(2)).unwrap()).collect();
        assert_eq!(gate.admit(ip(3)).unwrap_err(), Refusal::Total(5));
        assert_eq!((gate.held(), gate.refused()), (5, 2));
        drop(a);
        assert_eq!((gate.held(), gate.held_by(ip(1))), (2, 0));
        let _again = gate.admit(ip(1)).unwrap();
        drop(b);
        assert_eq!(gate.held(), 1);
    }

    #[test]
    fn a_mapped_ipv4_address_shares_the_ipv4_share() {
        let gate = ConnectionGate::new(
            "test connection",
            GateLimits {
                max_total: 10,
                max_per_ip: 1,
            },
        );
        let _v4 = gate.admit(ip(7)).unwrap();
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 7).to_ipv6_mapped());
        assert_eq!(gate.admit(mapped).unwrap_err(), Refusal::PerIp(1));
    }

    #[test]
    fn refusals_are_logged_once_per_interval_with_the_count_left_out() {
        let log = RefusalLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(log.due(t0), Some(0));
        for i in 1..=5 {
            assert_eq!(log.due(t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(log.due(t0 + Duration::from_secs(10)), Some(5));
        assert_eq!(log.due(t0 + Duration::from_secs(11)), None);
    }
}

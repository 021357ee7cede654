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

/// `host:port` as host and port, an IPv6 host without its brackets; port 8848 (Nacos') when
/// none is given or it is not a number.
#[cfg(any(feature = "http", feature = "grpc"))]
pub(crate) fn split_host_port(address: &str) -> (String, u16) {
    let (host, port) = match address.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && (!h.contains(':') || h.ends_with(']')) => {
            (h, p.parse().unwrap_or(8848))
        }
        _ => (address, 8848),
    };
    (
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    )
}

#[cfg(all(test, any(feature = "http", feature = "grpc")))]
mod split_tests {
    use super::split_host_port;

    #[test]
    fn addresses_split_into_host_and_port() {
        let s = |h: &str, p| (h.to_owned(), p);
        assert_eq!(split_host_port("10.0.0.2:8848"), s("10.0.0.2", 8848));
        assert_eq!(split_host_port("nacos-b:9000"), s("nacos-b", 9000));
        assert_eq!(split_host_port("[::1]:8848"), s("::1", 8848));
        assert_eq!(split_host_port("10.0.0.3"), s("10.0.0.3", 8848));
        assert_eq!(split_host_port("::1"), s("::1", 8848));
    }
}

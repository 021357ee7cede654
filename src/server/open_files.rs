//! Open files: what every connection costs. A process starts with the soft `RLIMIT_NOFILE`
//! its shell gave it (often 1 024); at that limit, before this module, 1 100 idle sockets on
//! the gRPC port took every descriptor and the v1 API stopped accepting, so every beat failed.
//!
//! At start `nacre-server` raises the soft limit to the hard one ([`raise`]), then makes the
//! listeners' caps fit what it got ([`fit`]): the HTTP and gRPC connection caps, the console's
//! streams and the peer listener together must leave [`RESERVED`] descriptors for everything
//! else (the data file, UDP, connections to peers, logs). Caps that do not fit are lowered in
//! proportion, and the server logs each one (at info) with the flag to set. Below [`MIN_OPEN_FILES`]
//! it refuses to start ([`OpenFilesError`]). Nacos leaves this to the JVM and the operator.

use super::ServerConfig;

/// Descriptors kept for what is not an accepted connection.
pub const RESERVED: u64 = 256;
/// The fewest open files the server starts with.
pub const MIN_OPEN_FILES: u64 = 1024;

/// The limit could not be raised to [`MIN_OPEN_FILES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "nacre-server needs at least {MIN_OPEN_FILES} open files, and the limit is {limit} (hard \
     limit {hard}): raise it (`ulimit -n`, or LimitNOFILE= in a systemd unit)"
)]
pub struct OpenFilesError {
    /// The soft limit after raising it.
    pub limit: u64,
    /// The hard limit.
    pub hard: u64,
}

/// The soft and hard `RLIMIT_NOFILE`, after raising the soft one to the hard one.
#[cfg(unix)]
pub fn raise() -> std::io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given, which lives on this stack frame.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given, which lives on this stack frame.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    // `rlim_t` is not `u64` on every Unix.
    #[allow(clippy::unnecessary_cast)]
    Ok((limit.rlim_cur as u64, limit.rlim_max as u64))
}

/// Elsewhere the limit is left as it is and taken to be ample.
#[cfg(not(unix))]
pub fn raise() -> std::io::Result<(u64, u64)> {
    Ok((u64::MAX, u64::MAX))
}

/// What [`fit`] lowered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lowered {
    /// The open-files limit the caps were fitted to.
    pub limit: u64,
    /// `(flag, from, to)` for each cap lowered.
    pub caps: Vec<(&'static str, usize, usize)>,
}

/// Fits `config`'s connection caps into `limit` open files (see the module docs): `Ok(None)`
/// when they fit as they are, `Ok(Some(_))` with what was lowered, or the refusal below
/// [`MIN_OPEN_FILES`].
pub fn fit(
    config: &mut ServerConfig,
    limit: u64,
    hard: u64,
) -> Result<Option<Lowered>, OpenFilesError> {
    if limit < MIN_OPEN_FILES {
        return Err(OpenFilesError { limit, hard });
    }
    let budget = limit - RESERVED;
    let peer = if config.peer_port.is_some() {
        config.peer_connections.max_total
    } else {
        0
    };
    let fixed = (config.console_streams.max_total + peer) as u64;
    let http = config.serve.max_connections as u64;
    let grpc = config.grpc.connections.max_total as u64;
    if http + grpc + fixed <= budget {
        return Ok(None);
    }
    // What is left after the fixed part, shared in proportion to the two caps.
    let left = budget.saturating_sub(fixed).max(2);
    let share = |cap: u64| ((cap * left) / (http + grpc)).max(1) as usize;
    let (new_http, new_grpc) = (share(http), share(grpc));
    let mut caps = Vec::new();
    let mut lower = |flag, cap: &mut usize, to: usize| {
        if to < *cap {
            caps.push((flag, *cap, to));
            *cap = to;
        }
    };
    lower(
        "--max-connections",
        &mut config.serve.max_connections,
        new_http,
    );
    lower(
        "--grpc-max-connections",
        &mut config.grpc.connections.max_total,
        new_grpc,
    );
    let per_ip = |total: usize, per: &mut usize| *per = (*per).min(total);
    per_ip(
        config.serve.max_connections,
        &mut config.serve.max_connections_per_ip,
    );
    per_ip(
        config.grpc.connections.max_total,
        &mut config.grpc.connections.max_per_ip,
    );
    Ok(Some(Lowered { limit, caps }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_that_fit_are_left_alone() {
        let mut config = ServerConfig::default();
        let before = config.clone();
        assert_eq!(fit(&mut config, 1 << 20, 1 << 20), Ok(None));
        assert_eq!(config, before);
    }

    #[test]
    fn caps_past_the_limit_are_lowered_in_proportion_and_leave_the_reserve() {
        let mut config = ServerConfig::default();
        let lowered = fit(&mut config, 4096, 4096).unwrap().unwrap();
        let held = config.serve.max_connections
            + config.grpc.connections.max_total
            + config.console_streams.max_total;
        assert!(held as u64 <= 4096 - RESERVED, "{held}");
        assert_eq!(
            config.serve.max_connections,
            config.grpc.connections.max_total
        );
        assert_eq!(lowered.caps.len(), 2);
        assert!(config.serve.max_connections_per_ip <= config.serve.max_connections);
    }

    #[test]
    fn below_the_floor_it_refuses_and_says_how_to_fix_it() {
        let mut config = ServerConfig::default();
        let err = fit(&mut config, 512, 512).unwrap_err();
        assert!(err.to_string().contains("ulimit -n"), "{err}");
    }
}

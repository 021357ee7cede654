//! The v1 front's side of UDP push: an `/instance/list` query that carries `udpPort` > 0
//! from a client Nacos pushes to subscribes `clientIP:udpPort` to what it asked for (see
//! [`crate::udp`]), and is answered the push `cacheMillis`.

use super::params::{ParamError, Params};
use super::state::ApiState;
use crate::protocol::ServiceQuery;
use crate::udp::pushable;
use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};

/// The headers Nacos reads the client's agent from, in order.
const AGENT_HEADERS: [&str; 2] = ["user-agent", "client-version"];

/// The client's user agent: `User-Agent`, else `Client-Version` (as Nacos'
/// `WebUtils.getUserAgent`).
pub(crate) fn agent(headers: &HeaderMap) -> &str {
    AGENT_HEADERS
        .iter()
        .filter_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .find(|v| !v.is_empty())
        .unwrap_or("")
}

/// Subscribes the querying client to UDP pushes of `query` when it asked for them and may
/// have them; returns the `cacheMillis` to answer.
///
/// `udpPort` must be a port number (400 otherwise, as for any malformed number); a `clientIP`
/// that is not an IP address means no push (the client still gets its answer, and pulls).
/// Without `clientIP` the push goes to the address the query came from.
pub(crate) fn subscribe(
    api: &ApiState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    p: &Params,
    query: &ServiceQuery,
) -> Result<u64, ParamError> {
    let Some(udp) = &api.udp else {
        return Ok(api.cache_millis);
    };
    let port: u16 = match p.get("udpPort").map(str::trim) {
        None | Some("") => 0,
        Some(raw) => raw
            .parse()
            .map_err(|_| ParamError::malformed("udpPort", raw, "a port number (0-65535)"))?,
    };
    let agent = agent(headers);
    if port == 0 || !pushable(agent) {
        return Ok(api.cache_millis);
    }
    let ip: Option<IpAddr> = match p.get("clientIP").map(str::trim) {
        None | Some("") => peer.map(|a| a.ip()),
        Some(raw) => raw.parse().ok(),
    };
    let Some(ip) = ip else {
        return Ok(api.cache_millis);
    };
    let app = p.get("app").unwrap_or("");
    let target = SocketAddr::new(ip, port);
    if udp.subscribe(&query.service, &query.clusters, target, agent, app) {
        Ok(udp.cache_millis())
    } else {
        Ok(api.cache_millis)
    }
}

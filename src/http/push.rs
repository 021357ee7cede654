//! The v1 front's side of UDP push: an `/instance/list` query that carries `udpPort` > 0
//! from a client Nacos pushes to subscribes `clientIP:udpPort` to what it asked for (see
//! [`crate::udp`]), and is answered the push `cacheMillis`.
//!
//! **Pushes go only to the address the query came from.** Nacos pushes to whatever
//! `clientIP` names, so one query of 139 bytes could aim a service's every change at any
//! host (a reflection of 100 KB and more per query). Here, when the server knows the query's
//! peer (`nacre-server` always does), a `clientIP` other than the peer's address is ignored
//! and the push goes to the peer, at `udpPort`. Nacos 1.x clients send their own address
//! there, so a client that reaches the server directly is pushed to as before, whatever
//! address of its own it reports (pushes reach a client socket bound to every address). A
//! client behind an HTTP proxy or NAT gets its pushes at the proxy's address, where they are
//! lost: it lives on its pulls, every `cacheMillis`, as any client without push does.

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
/// The push goes to the address the query came from when the server knows it (see the module
/// documentation), else to `clientIP`.
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
    let claimed: Option<IpAddr> = match p.get("clientIP").map(str::trim) {
        None | Some("") => None,
        Some(raw) => match raw.parse() {
            Ok(ip) => Some(ip),
            Err(_) => return Ok(api.cache_millis),
        },
    };
    let ip = match peer.map(|a| a.ip().to_canonical()) {
        Some(peer_ip) => {
            if claimed.is_some_and(|c| c.to_canonical() != peer_ip) {
                tracing::debug!(%peer_ip, ?claimed, "clientIP is not the query's address: pushing to the address");
            }
            Some(peer_ip)
        }
        None => claimed,
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

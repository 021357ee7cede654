//! `GET /nacos/serverlist`: the members as Nacos' address server lists them, one `host:port`
//! per line, for clients configured with an `endpoint` instead of a server list (nacos-sdk-python
//! and the Java client fetch `{endpoint}/nacos/serverlist` and connect to what it names).
//!
//! What it lists ([`ServerList`], set with [`super::NacosApi::server_list`]):
//! - by default, a cluster member's `--members`, all of them as Nacos' address server lists its
//!   `cluster.conf`, healthy or not (their ids, which are their client addresses unless members
//!   serve peers on a port of their own), and on a standalone node the address the request
//!   came to (its `Host` header: the address the client already reached);
//! - an operator's list (`nacre-server --server-list`), needed when the members' ids are peer
//!   addresses (`--peer-port`): without one, such a member answers 404 saying so.
//!
//! The route is open, as the readiness probe is: a client asks it before it has credentials
//! (Nacos' address server is a separate, unauthenticated service). It names only what a client
//! is meant to reach.
//!
//! Differences from Nacos: Nacos serves the list from a separate address server (or from
//! `/nacos/serverlist` on a member with its `cluster.conf`); nacre serves it on every node.

use super::state::Api;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// The path.
pub const SERVER_LIST_PATH: &str = "/nacos/serverlist";

/// What `GET /nacos/serverlist` lists: see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerList {
    /// A cluster member's members, or the address a standalone node was reached at.
    #[default]
    Members,
    /// These addresses (`host:port`), in this order.
    Fixed(Vec<String>),
    /// None is known: answered 404 with this reason.
    Unknown(String),
}

/// `GET /nacos/serverlist`.
pub(crate) async fn server_list(State(api): Api, headers: HeaderMap) -> Response {
    match listed(&api, &headers) {
        Ok(listed) => {
            let mut body = listed.join("\n");
            body.push('\n');
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
        }
        Err(why) => (StatusCode::NOT_FOUND, why).into_response(),
    }
}

/// The members `host:port` as the server list answers them, or why none is known (shared
/// with the v3 node list).
pub(crate) fn listed(
    api: &super::state::ApiState,
    headers: &HeaderMap,
) -> Result<Vec<String>, String> {
    Ok(match &api.server_list {
        ServerList::Fixed(list) => list.clone(),
        ServerList::Unknown(why) => return Err(why.clone()),
        ServerList::Members => match api.backend.cluster_node() {
            Some(node) => node.members().map(|m| m.as_str().to_owned()).collect(),
            None => match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
                Some(host) if is_address(host) => vec![host.to_owned()],
                _ => {
                    return Err("the request named no host:port to list (no Host header)".to_owned())
                }
            },
        },
    })
}

/// Whether `host` looks like `host[:port]`: letters, digits, dots, dashes, brackets and colons
/// (an IPv6 literal), nothing a client would misread as a second line.
fn is_address(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

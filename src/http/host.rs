//! [`HostCheck`]: the answer to DNS rebinding. A page on `evil.example` can make its own name
//! resolve to `127.0.0.1` (or any address the visitor reaches) after it loaded; from then on
//! the browser sends the page's requests to the node *as the same origin*, so the page reads
//! every answer (the console's API, the service list) and its writes carry no foreign
//! `Origin`. What the browser cannot hide is the name: the `Host` header stays
//! `evil.example`.
//!
//! So a request whose `Host` is not a name the server answers to is refused with
//! `421 Misdirected Request`, saying which flag admits it. The server answers to
//!
//! - every IP address literal (`10.0.0.5:8848`, `[::1]:8848`): a page cannot rebind an
//!   address, only a name;
//! - `localhost` and names under `.localhost`, which resolve to loopback by rule;
//! - the names of [`HostCheck::new`] (`nacre-server --allowed-hosts`), compared without case
//!   and without the port;
//! - a request without `Host` (no browser sends one).
//!
//! `nacre-server` checks the console's routes always, and the whole v1 API when it binds a
//! loopback address (where only local software, or a rebinding page, can reach it). On a
//! networked bind the API takes any `Host`, because Nacos clients reach a server under
//! whatever name its operator gave it; give those names to `--allowed-hosts` to check the API
//! there too. Nacos checks no `Host`.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;

/// The names a server answers to: see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostCheck {
    names: Arc<[String]>,
}

impl HostCheck {
    /// Admits IP literals, `localhost`, and `names` (host names without port; case ignored).
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            names: names
                .into_iter()
                .map(|n| n.as_ref().trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
        }
    }

    /// Whether a request with `Host: host` (port included or not) is answered.
    pub fn allows(&self, host: &str) -> bool {
        let name = strip_port(host.trim());
        if name.is_empty() {
            return true;
        }
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<IpAddr>().is_ok() {
            return true;
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        name == "localhost" || name.ends_with(".localhost") || self.names.contains(&name)
    }

    /// The middleware, over `router`.
    pub fn layer(&self, router: axum::Router) -> axum::Router {
        let check = self.clone();
        router.layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let check = check.clone();
                async move { check.run(request, next).await }
            },
        ))
    }

    async fn run(&self, request: Request, next: Next) -> Response {
        let host = request
            .headers()
            .get(header::HOST)
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        match host {
            Some(host) if !self.allows(host) => (
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "this server does not answer to the name `{}` (a page may have rebound it to this address); an operator who gave the server that name adds it to --allowed-hosts",
                    crate::model::excerpt(host)
                ),
            )
                .into_response(),
            _ => next.run(request).await,
        }
    }
}

/// `host` without its `:port` (an IPv6 literal keeps its brackets).
fn strip_port(host: &str) -> &str {
    if let Some(end) = host.find(']') {
        return &host[..=end];
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_localhost_and_the_listed_names_are_answered_others_not() {
        let check = HostCheck::new(["Nacos.Internal", " registry.example. "]);
        for host in [
            "127.0.0.1:8848",
            "127.0.0.1",
            "10.1.2.3:80",
            "[::1]:8848",
            "[fe80::1]",
            "localhost:8848",
            "LOCALHOST",
            "app.localhost:1",
            "nacos.internal:8848",
            "NACOS.INTERNAL",
            "registry.example",
            "",
        ] {
            assert!(check.allows(host), "{host}");
        }
        for host in [
            "evil.example:8848",
            "evil.example",
            "localhost.evil.example",
            "nacos.internal.evil.example",
            "127.0.0.1.nip.io:8848",
            "\u{fffd}",
        ] {
            assert!(!check.allows(host), "{host}");
        }
        assert!(!HostCheck::default().allows("nacos.internal"));
    }
}

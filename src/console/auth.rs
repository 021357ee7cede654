//! Auth in the console, when the host gives [`super::Console::access`].
//!
//! Every `/console/api/*` route and the event stream take the caller's token from its headers
//! only: an `accessToken` header or `Authorization: Bearer` (what
//! [`crate::http::access::token_from_headers`] reads). A token in the query string is not
//! read, so it never lands in a URL, a browser's history or an access log. A route first
//! refuses a request without a token (403, before it reads anything), then asks
//! [`Access::check`] for what it touches: one service's instances [`Need::Read`], an edit
//! [`Need::Write`] on its service, a list [`Need::List`] or [`Need::ListAll`] (granted whole,
//! or through a [`Viewer`] that filters the answer). A refusal is Nacos' 403 with the reason as
//! text, and nothing changes. Every decision is counted and logged by the audit under
//! [`Front::Console`].
//!
//! `POST /console/api/login` (a form body, `username` and `password`) is the v1 API's login
//! ([`crate::http::access::login`]) under the console's label, answering Nacos' login JSON;
//! `GET /console/api/whoami` tells the page whether auth is on (`{"auth":false}`) and, when it
//! is, who holds the token (`{"auth":true,"username","admin"}`) or 403.

use super::api::State;
use crate::front::access::{Access, AccessError, Front, Grant, Need, Viewer};
use crate::http::access::{peer_ip_in, refusal, token_from_headers};
use crate::model::ServiceKey;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use std::net::IpAddr;
use std::sync::Arc;

/// Where the page logs in.
pub(super) const LOGIN_PATH: &str = "/console/api/login";

/// Who calls a console route: its token (from the headers) and address. Taken first by every
/// API handler, so a request without a token is refused before anything else is read.
pub(super) struct Caller {
    access: Option<Access>,
    token: Option<String>,
    source: IpAddr,
}

impl FromRequestParts<Arc<State>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<State>,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller {
            access: state.access.clone(),
            token: token_from_headers(&parts.headers).filter(|t| !t.is_empty()),
            source: peer_ip_in(&parts.extensions),
        };
        if caller.access.is_some() && caller.token.is_none() {
            // Refused (and counted) as the least a route asks: a listing.
            caller.check(&Need::ListAll).map_err(|e| refusal(&e))?;
        }
        Ok(caller)
    }
}

impl Caller {
    /// The origin of a write this caller makes, `user` named (see [`crate::timeline`]).
    pub(super) fn origin(&self, user: Option<String>) -> crate::timeline::Origin {
        crate::timeline::Origin::front("console")
            .addr(self.source)
            .identity(user)
    }

    /// Whether the caller may do what `need` says: what it was granted, or why not (answered
    /// 403 with [`refusal`]). Everything is granted when auth is off.
    pub(super) fn check(&self, need: &Need) -> Result<Allowed, AccessError> {
        let Some(access) = &self.access else {
            return Ok(Allowed { granted: None });
        };
        access
            .check(Front::Console, self.source, self.token.as_deref(), need)
            .map(|grant| Allowed {
                granted: Some((access.clone(), grant)),
            })
    }
}

/// What a check granted.
pub(super) struct Allowed {
    /// `None` when auth is off.
    granted: Option<(Access, Grant)>,
}

impl Allowed {
    /// The viewer a listing's answer is filtered by; `None` when the caller sees it whole.
    pub(super) fn viewer(&self) -> Option<&Viewer> {
        self.granted.as_ref().and_then(|(_, g)| g.viewer.as_ref())
    }

    /// Who the caller is (`None` when auth is off).
    pub(super) fn caller(&self) -> Option<String> {
        self.granted.as_ref().map(|(_, g)| g.caller.to_string())
    }

    /// Whether the caller may read `key` (a change the event stream would send).
    pub(super) fn may_read(&self, key: &ServiceKey) -> bool {
        self.viewer().is_none_or(|v| v.may_read(key))
    }

    /// Whether the caller may change `key`: the page shows edit controls only then (the edit
    /// is checked again when it comes).
    pub(super) fn may_write(&self, key: &ServiceKey) -> bool {
        self.granted
            .as_ref()
            .is_none_or(|(access, grant)| access.viewer_of(grant).may_write(key))
    }
}

/// The login route, answered as the v1 API's under the console's label.
pub(super) fn login_router(access: Access) -> Router {
    Router::new()
        .route(LOGIN_PATH, post(crate::http::access::login))
        .with_state((access, Front::Console))
}

/// `GET /console/api/whoami`: `{"auth":false}` when auth is off; else who holds the token and
/// whether it is the global admin, or 403.
pub(super) async fn whoami(caller: Caller) -> Response {
    if caller.access.is_none() {
        return Json(serde_json::json!({ "auth": false })).into_response();
    }
    match caller.check(&Need::ListAll) {
        Ok(allowed) => {
            let username = allowed
                .granted
                .as_ref()
                .map_or("", |(_, grant)| &*grant.caller);
            Json(serde_json::json!({
                "auth": true,
                "username": username,
                // A listing of everything is granted whole to the global admin only.
                "admin": allowed.viewer().is_none(),
            }))
            .into_response()
        }
        Err(e) => refusal(&e),
    }
}

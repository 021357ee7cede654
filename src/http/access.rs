//! Auth on the v1 API, when the host gives [`super::NacosApi::access`]: the login routes, and a
//! check in front of every other route (the health probes aside).
//!
//! - `POST /nacos/v1/auth/login`, `POST /nacos/v1/auth/users/login` and
//!   `POST /nacos/v3/auth/user/login` take `username` and `password` from the query or the form
//!   (both Python clients send the password in the query) and answer Nacos' login JSON, or
//!   403 with the reason.
//! - Every other request carries its token as `accessToken` in the query or the form, as an
//!   `accessToken` header, or as `Authorization: Bearer`. The service it touches is read from
//!   the same parameters the route reads (`namespaceId`, `groupName`, `serviceName`, or the
//!   `key` of `instance/statuses`); a request naming no service touches its group's list. A
//!   `GET` needs read permission, every other method write. A missing or invalid token, or a
//!   caller without the permission, gets 403 with the reason, and nothing changes.
//!
//! No header, agent or address exempts a request (Nacos once let any `User-Agent:
//! Nacos-Server` through). Differences from Nacos: a list asks for read permission on the
//! whole group (`namespace:group:naming/*`), so a caller allowed only some services of a group
//! cannot list it; the probes (`console/health/liveness`, `readiness`) stay open for
//! orchestrators.

use super::paths::{INSTANCE_STATUSES_PATH, LIVENESS_PATH, READINESS_PATH};
use super::Params;
use crate::front::access::{AccessControl, AccessTarget};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The login routes Nacos clients call.
pub const LOGIN_PATHS: [&str; 3] = [
    "/nacos/v1/auth/login",
    "/nacos/v1/auth/users/login",
    "/nacos/v3/auth/user/login",
];

/// The largest body the check reads (the API's own cap is the server's).
const MAX_BODY: usize = 1024 * 1024;

type Access = Arc<dyn AccessControl>;

/// The login routes.
pub(crate) fn login_router(access: Access) -> Router {
    let mut router = Router::new();
    for path in LOGIN_PATHS {
        router = router.route(path, post(login));
    }
    router.with_state(access)
}

async fn login(State(access): State<Access>, request: Request) -> Response {
    let source = peer_ip(&request);
    let (params, _) = match read_params(request).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let (Some(username), Some(password)) = (params.get("username"), params.get("password")) else {
        return (
            StatusCode::BAD_REQUEST,
            "username and password are required",
        )
            .into_response();
    };
    match access.login(source, username, password) {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => (StatusCode::FORBIDDEN, e.to_string()).into_response(),
    }
}

/// The check in front of the API's routes.
pub(crate) async fn check(State(access): State<Access>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == LIVENESS_PATH || path == READINESS_PATH {
        return next.run(request).await;
    }
    let write = !matches!(*request.method(), Method::GET | Method::HEAD);
    let statuses = path == INSTANCE_STATUSES_PATH;
    let header_token = token_from_headers(&request);
    let (params, request) = match read_params(request).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let target = match target_of(&params, statuses) {
        Ok(target) => target,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let token = params
        .get("accessToken")
        .map(str::to_owned)
        .or(header_token);
    match access.check(token.as_deref(), &target, write) {
        Ok(_caller) => next.run(request).await,
        Err(e) => (StatusCode::FORBIDDEN, e.to_string()).into_response(),
    }
}

/// What the request touches, from its parameters.
fn target_of(params: &Params, statuses: bool) -> Result<AccessTarget, String> {
    if params.get("serviceName").is_some() {
        return params
            .service_key()
            .map(|k| AccessTarget::service(&k))
            .map_err(|e| e.to_string());
    }
    if statuses && params.get("key").is_some() {
        return params
            .namespaced_service("key")
            .map(|k| AccessTarget::service(&k))
            .map_err(|e| e.to_string());
    }
    let namespace = params.namespace().map_err(|e| e.to_string())?;
    let group = match params.get("groupName").map(str::trim) {
        Some("*") => None,
        _ => Some(params.group().map_err(|e| e.to_string())?),
    };
    Ok(AccessTarget {
        namespace,
        group,
        service: None,
    })
}

/// The token of an `accessToken` header or `Authorization: Bearer`.
fn token_from_headers(request: &Request) -> Option<String> {
    let headers = request.headers();
    if let Some(token) = headers.get("accesstoken").and_then(|v| v.to_str().ok()) {
        return Some(token.trim().to_owned());
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

/// The request's parameters, and the request again with its body put back for the route.
async fn read_params(request: Request) -> Result<(Params, Request), Response> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).into_response())?;
    let form = super::params::is_form(&parts.headers);
    let params = Params::parse(parts.uri.query(), if form { &bytes } else { b"" });
    Ok((params, Request::from_parts(parts, Body::from(bytes))))
}

/// The address a request came from, as the accept loop recorded it (unspecified when the host
/// serves without `ConnectInfo`).
pub(crate) fn peer_ip(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

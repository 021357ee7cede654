//! Auth on the v1 API, when the host gives [`super::NacosApi::access`]: the login routes, and a
//! check in front of every other route (the health probes aside).
//!
//! - `POST /nacos/v1/auth/login`, `POST /nacos/v1/auth/users/login` and
//!   `POST /nacos/v3/auth/user/login` take `username` and `password` from the query or the form
//!   (both Python clients send the password in the query) and answer Nacos' login JSON, or
//!   403 with the reason.
//! - Every other request carries its token as `accessToken` in the query or the form, as an
//!   `accessToken` header, or as `Authorization: Bearer`; or, without a token, `username` and
//!   `password` in the query or the form, as the npm client `nacos-naming` sends them on every
//!   request, or as `Authorization: Basic` (Prometheus' `basic_auth`, for `/nacos/prometheus`) (checked as a login, then standing for a minute as a keyed digest; see
//!   `Authenticator::identify_password`). The service it touches is read from
//!   the same parameters the route reads (`namespaceId`, `groupName`, `serviceName`, or the
//!   `key` of `instance/statuses`). A `GET` needs read permission (so do `instance/statuses`
//!   and `catalog/instances`, which Nacos maps to any method), every other method write; a
//!   registration (and a beat that carries its instance) also names the address it registers,
//!   which a permission limited to `register_cidrs` must hold (every instance a metadata batch
//!   lists, too; a batch that lists none needs a permission without address blocks). The v2
//!   and v3 routes follow the rules of the v1 route they stand for (`v2::v1_equivalent`).
//!   Prometheus discovery lists what the caller may read. The service listings
//!   (`service/list`, `service/names`, `catalog/services`) need only a valid token, and show
//!   the services the caller may read ([`crate::front::access::Viewer`]); the node's
//!   counters (`operator/metrics`) need read permission on everything (`*:*:*`). The
//!   namespace API's reads (`console/namespaces`, `v2/console/namespace`) need a valid token
//!   and show the namespaces where the caller may read something; its writes need the global
//!   admin (Nacos: write permission on the `console/namespaces` resource). A missing or invalid token, or a
//!   caller without the permission, gets 403 with the reason, and nothing changes. Every
//!   decision goes through [`crate::front::access::Access`], which counts and logs it.
//!
//! No header, agent or address exempts a request (Nacos once let any `User-Agent:
//! Nacos-Server` through). Differences from Nacos: a listing shows a caller the
//! services it may read, where Nacos refuses it unless it may read the whole group; the probes (`console/health/liveness`, `readiness`) stay open for
//! orchestrators.

use super::paths::{
    BEAT_PATH, CATALOG_INSTANCES_PATH, CATALOG_SERVICES_PATH, INSTANCE_OVERRIDE_PATH,
    INSTANCE_PATH, INSTANCE_STATUSES_PATH, LIVENESS_PATH, METADATA_BATCH_PATH, METRICS_PATH,
    NAMESPACES_PATH, NAMESPACE_V2_LIST_PATH, NAMESPACE_V2_PATH, READINESS_PATH, SERVICE_LIST_PATH,
    SERVICE_NAMES_PATH,
};
use super::Params;
use crate::front::access::{Access, AccessError, AccessTarget, Credential, Front, Need};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The login routes Nacos clients call.
pub const LOGIN_PATHS: [&str; 3] = [
    "/nacos/v1/auth/login",
    "/nacos/v1/auth/users/login",
    "/nacos/v3/auth/user/login",
];

/// The routes that list services, and show a caller only what it may read.
const LIST_PATHS: [&str; 3] = [SERVICE_LIST_PATH, SERVICE_NAMES_PATH, CATALOG_SERVICES_PATH];

/// The namespace API's routes: read by any caller with a valid token (the answer shows what
/// it may see), changed by the global admin only.
const NAMESPACE_PATHS: [&str; 3] = [NAMESPACES_PATH, NAMESPACE_V2_PATH, NAMESPACE_V2_LIST_PATH];

/// The routes that read whatever the method (Nacos maps them to any method).
const READ_PATHS: [&str; 2] = [INSTANCE_STATUSES_PATH, CATALOG_INSTANCES_PATH];

/// The login routes, answered through `front`.
pub(crate) fn login_router(access: Access, front: Front) -> Router {
    let mut router = Router::new();
    for path in LOGIN_PATHS {
        router = router.route(path, post(login));
    }
    router.with_state((access, front))
}

/// The login routes of an API without auth: a client configured with credentials is told
/// (404, as before, with the reason) and the server warns, at most once per 10 s, that such a
/// client reaches a node where every request is served without a token. (Nacos clients go on
/// after a failed login; without the warning an operator who meant to turn auth on would
/// never know it is off.)
pub(crate) fn open_login_router() -> Router {
    let warned = std::sync::Arc::new(crate::front::gate::RefusalLog::new(
        crate::front::gate::REFUSAL_LOG_INTERVAL,
    ));
    let mut router = Router::new();
    for path in LOGIN_PATHS {
        let warned = warned.clone();
        router = router.route(
            path,
            post(move |request: Request| async move {
                if let Some(left_out) = warned.due(std::time::Instant::now()) {
                    tracing::warn!(
                        source = %peer_ip(&request),
                        left_out,
                        "a client logged in, but auth is off on this node (no --users-file): every request is served without a token"
                    );
                }
                (
                    StatusCode::NOT_FOUND,
                    "auth is off on this node (no --users-file): requests need no token",
                )
            }),
        );
    }
    router
}

/// A login route: `username` and `password` from the query or the form.
pub(crate) async fn login(
    State((access, front)): State<(Access, Front)>,
    request: Request,
) -> Response {
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
    // A bcrypt hash: off the async workers, so a login does not stall other requests.
    let (username, password) = (username.to_owned(), password.to_owned());
    let checked =
        tokio::task::spawn_blocking(move || access.login(front, source, &username, &password))
            .await;
    match checked {
        Ok(Ok(answer)) => Json(answer).into_response(),
        Ok(Err(e)) => refusal(&e),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the login was not checked").into_response(),
    }
}

/// Nacos' answer to a refused request: 403 with the reason (503 for a login not checked for
/// want of capacity).
pub(crate) fn refusal(error: &AccessError) -> Response {
    let status = match error {
        AccessError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::FORBIDDEN,
    };
    (status, error.to_string()).into_response()
}

/// The check in front of the API's routes.
pub(crate) async fn check(State(access): State<Access>, request: Request, next: Next) -> Response {
    let path = super::v2::v1_equivalent(request.uri().path()).to_owned();
    if path == LIVENESS_PATH || path == READINESS_PATH || path == super::SERVER_LIST_PATH {
        return next.run(request).await;
    }
    let source = peer_ip(&request);
    let header_token = token_from_headers(request.headers());
    let method = request.method().clone();
    let (params, mut parts) = match read_params(request).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let need = match need_of(&path, &method, &params) {
        Ok(need) => need,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let token = params
        .get("accessToken")
        .map(str::to_owned)
        .or(header_token);
    let basic = basic_credentials(&parts.headers);
    let (username, password) = match &basic {
        Some((u, p)) => (Some(u.as_str()), Some(p.as_str())),
        None => (params.get("username"), params.get("password")),
    };
    let checked = match (token, username, password) {
        // No token but a username and password, as the npm client `nacos-naming` sends them
        // on every request: checked as a login is, off the async workers (see
        // `Authenticator::identify_password`).
        (None, Some(username), Some(password)) => {
            let (username, password) = (username.to_owned(), password.to_owned());
            let access = access.clone();
            let need = need.clone();
            tokio::task::spawn_blocking(move || {
                let credential = Credential::Password {
                    username: &username,
                    password: &password,
                };
                access.check_with(Front::Http, source, credential, &need)
            })
            .await
            .unwrap_or_else(|_| Err(AccessError::Busy("the password was not checked".into())))
        }
        (token, _, _) => access.check(Front::Http, source, token.as_deref(), &need),
    };
    match checked {
        Ok(grant) => {
            parts
                .extensions
                .insert(crate::front::access::CallerName(grant.caller));
            if let Some(viewer) = grant.viewer {
                parts.extensions.insert(viewer);
            }
            next.run(for_route(parts, params)).await
        }
        Err(e) => refusal(&e),
    }
}

/// `router` with every request needing `need`, asked through `front`: the token from the
/// headers (`accessToken`, `Authorization: Bearer`) or the query's `accessToken`. How
/// `nacre-server` guards `/metrics` (`Need::NodeReport`: a Prometheus scraper sends a
/// long-lived token from `nacre-server issue-token` as a bearer credential).
pub fn guarded(router: Router, access: Access, front: Front, need: Need) -> Router {
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let (access, need) = (access.clone(), need.clone());
            async move {
                let token = token_from_headers(request.headers()).or_else(|| {
                    Params::parse(request.uri().query(), b"")
                        .get("accessToken")
                        .map(str::to_owned)
                });
                match access.check(front, peer_ip(&request), token.as_deref(), &need) {
                    Ok(_) => next.run(request).await,
                    Err(e) => refusal(&e),
                }
            }
        },
    ))
}

/// With registrations bound to the caller's address ([`super::NacosApi::register_own_address_only`]):
/// a registration, an update or a beat carrying its instance whose `ip` is not the address the
/// request comes from is refused (403), and nothing changes.
pub(crate) async fn own_address(request: Request, next: Next) -> Response {
    let path = super::v2::v1_equivalent(request.uri().path()).to_owned();
    if path != INSTANCE_PATH && path != BEAT_PATH {
        return next.run(request).await;
    }
    let source = peer_ip(&request);
    let method = request.method().clone();
    let (params, parts) = match read_params(request).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    if let Some(host) = registered_host(&path, &method, &params) {
        if let Err(why) = crate::front::access::own_address(&host, source) {
            return (StatusCode::FORBIDDEN, why).into_response();
        }
    }
    next.run(for_route(parts, params)).await
}

/// What a request to `path` needs, from its method and parameters.
fn need_of(path: &str, method: &Method, params: &Params) -> Result<Need, String> {
    if path == METRICS_PATH || path == super::preview::PREVIEW_PATH {
        return Ok(Need::NodeReport);
    }
    if let Some(scope) = super::prometheus::scope_of(path) {
        // Service discovery lists what the caller may read.
        return scope.map(|scope| match scope {
            super::prometheus::Scope::All => Need::ListAll,
            super::prometheus::Scope::Namespace(namespace, _) => {
                Need::List(AccessTarget::group(namespace, None))
            }
        });
    }
    if [
        "/nacos/v1/auth/users",
        "/nacos/v1/auth/roles",
        "/nacos/v1/auth/permissions",
    ]
    .contains(&path)
    {
        // Users, roles and permissions: the global admin's, reads too.
        return Ok(Need::Admin);
    }
    if NAMESPACE_PATHS.contains(&path) {
        return Ok(match *method {
            Method::GET | Method::HEAD => Need::ListAll,
            _ => Need::Admin,
        });
    }
    if path == SERVICE_NAMES_PATH && params.get("namespaceId").is_none() {
        // Every namespace's names.
        return Ok(Need::ListAll);
    }
    let target = target_of(params, path == INSTANCE_STATUSES_PATH)?;
    if LIST_PATHS.contains(&path) && target.service.is_none() {
        return Ok(Need::List(target));
    }
    if READ_PATHS.contains(&path) || matches!(*method, Method::GET | Method::HEAD) {
        return Ok(Need::Read(target));
    }
    Ok(Need::Write(
        target.registering(registered_ips(path, method, params)),
    ))
}

/// The addresses a write registers or changes: [`registered_host`]'s, or the instances a
/// metadata batch lists. A batch that lists none changes every instance of the service, so it
/// names the broadcast address, which no role's address blocks hold: a caller limited to
/// blocks must list the instances.
fn registered_ips(path: &str, method: &Method, params: &Params) -> Vec<IpAddr> {
    if path == METADATA_BATCH_PATH {
        return super::metadata_batch::listed_ips(params)
            .unwrap_or_else(|| vec![IpAddr::V4(Ipv4Addr::BROADCAST)]);
    }
    registered_ip(path, method, params).into_iter().collect()
}

/// The address a write registers, as an address (see [`registered_host`]).
fn registered_ip(path: &str, method: &Method, params: &Params) -> Option<IpAddr> {
    let text = registered_host(path, method, params)?;
    // An `ip` that is not an address (a host name) is the route's to refuse; a registration
    // limited to address blocks cannot hold one anyway.
    Some(
        text.trim()
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::BROADCAST)),
    )
}

/// The host a write registers: a registration's or an update's `ip`, or the `ip` of a beat's
/// `beat` JSON (a beat of an unknown instance registers it).
fn registered_host(path: &str, method: &Method, params: &Params) -> Option<String> {
    Some(match path {
        INSTANCE_PATH if matches!(*method, Method::POST | Method::PUT | Method::PATCH) => {
            params.get("ip")?.to_owned()
        }
        // Clearing an override is bounded like setting one (a `PUT`).
        INSTANCE_OVERRIDE_PATH if *method == Method::DELETE => params.get("ip")?.to_owned(),
        BEAT_PATH => {
            #[derive(serde::Deserialize)]
            struct Beat {
                ip: String,
            }
            match params.get("beat") {
                Some(raw) => serde_json::from_str::<Beat>(raw).ok()?.ip,
                None => return None,
            }
        }
        _ => return None,
    })
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
    Ok(AccessTarget::group(namespace, group))
}

/// The username and password of an `Authorization: Basic` header (how Prometheus'
/// `basic_auth` sends them), checked as a login is.
#[cfg(feature = "auth")]
fn basic_credentials(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let encoded = value.strip_prefix("Basic ")?.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (username, password) = text.split_once(':')?;
    Some((username.to_owned(), password.to_owned()))
}

/// Without feature `auth` no provider checks passwords: a Basic header is not read.
#[cfg(not(feature = "auth"))]
fn basic_credentials(_headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    None
}

/// The token of an `accessToken` header or `Authorization: Bearer`.
pub(crate) fn token_from_headers(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(token) = headers.get("accesstoken").and_then(|v| v.to_str().ok()) {
        return Some(token.trim().to_owned());
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

/// The request's parameters, read by [`Params`]' own extractor (under the router's body limit,
/// which `nacre-server` sets from `--max-body-bytes`, and with the route's own answers to a
/// body too large or too slow), and the request's head. Parameters a layer before this one
/// read already are taken from the head, not read again.
async fn read_params(request: Request) -> Result<(Params, Parts), Response> {
    use axum::extract::FromRequest;
    let (mut parts, body) = request.into_parts();
    if let Some(params) = parts.extensions.remove::<Params>() {
        return Ok((params, parts));
    }
    let params = Params::from_request(Request::from_parts(parts.clone(), body), &())
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((params, parts))
}

/// The request again, carrying `params` for its route: the route's [`Params`] extractor takes
/// them instead of parsing the query and the body a second time.
fn for_route(parts: Parts, params: Params) -> Request {
    let mut request = Request::from_parts(parts, Body::empty());
    request.extensions_mut().insert(params);
    request
}

/// The address a request came from, as the accept loop recorded it (unspecified when the host
/// serves without `ConnectInfo`).
pub(crate) fn peer_ip(request: &Request) -> IpAddr {
    peer_ip_in(request.extensions())
}

/// The caller's address ([`peer_ip`]), as an extractor: who a drain's bound counts it for.
pub(crate) struct CallerIp(pub(crate) IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CallerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(CallerIp(peer_ip_in(&parts.extensions)))
    }
}

/// [`peer_ip`] from a request's extensions (an extractor's parts).
pub(crate) fn peer_ip_in(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

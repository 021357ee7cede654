//! The instance timeline over v1: `GET /nacre/v1/ns/instance/timeline` (nacre's own), and the
//! middleware that names the origin of every write through this API in the timeline.
//!
//! `GET /nacre/v1/ns/instance/timeline?serviceName=..&ip=..&port=..` (with `namespaceId`,
//! `groupName`, `clusterName` as elsewhere; without `clusterName`, the one instance at
//! ip:port in any cluster when there is one) answers the instance's
//! [`crate::timeline::InstanceTimeline`] on this member: its state now, its beats summarized,
//! and its events oldest first (newest last), each with `text` saying it in words. An
//! instance this member knows nothing of answers 200 with `registered: false` and no events:
//! having no history is an answer. It needs read permission on the service, as reading the
//! instance does.
//!
//! Every request but `GET` and `HEAD` runs with an [`Origin`] in scope: front `http`, the
//! caller's address, and its user when auth is on, so each change it makes is recorded as
//! theirs.

use super::error::ApiError;
use super::params::Params;
use super::state::Api;
use crate::front::access::CallerName;
use crate::timeline::{with_origin, InstanceTimeline, Origin};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;

/// `GET /nacre/v1/ns/instance/timeline`.
pub const INSTANCE_TIMELINE_PATH: &str = "/nacre/v1/ns/instance/timeline";

/// `GET /nacre/v1/ns/instance/timeline`: see the module documentation.
pub(crate) async fn read(State(api): Api, p: Params) -> Result<Json<InstanceTimeline>, ApiError> {
    let service = p.service_key()?;
    let key = p.instance_key()?;
    let key = super::instance::resolve_key(&api, &service, key, &[&|_| true]);
    Ok(Json(
        api.backend.registry().instance_timeline(&service, &key),
    ))
}

/// Runs a write with its origin in scope (see the module documentation).
pub(crate) async fn scope(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let ip = super::access::peer_ip(&request);
    let identity = request
        .extensions()
        .get::<CallerName>()
        .map(|c| c.0.to_string());
    let origin = Origin::front("http").addr(ip).identity(identity);
    with_origin(origin, next.run(request)).await
}

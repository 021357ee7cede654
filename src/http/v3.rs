//! Nacos 3.x's v3 client naming API and core state routes, in the v2 envelope
//! (`super::v2`), over the v1 routes:
//!
//! | route | data |
//! | --- | --- |
//! | `POST /nacos/v3/client/ns/instance` | register → `"ok"`; with `heartBeat=true` a beat of the registered instance → `"ok"`, or code 21003 (`instance not found`, HTTP 200, as Nacos) when it is not registered |
//! | `DELETE /nacos/v3/client/ns/instance` | deregister → `"ok"` |
//! | `GET /nacos/v3/client/ns/instance/list` | the enabled instances as an array (`clusterName` default `DEFAULT`, as Nacos; `healthyOnly` honoured) |
//! | `GET /nacos/v3/admin/core/state/liveness` | `"ok"` (the Java 3.x client's check when gRPC is down) |
//! | `GET /nacos/v3/admin/core/state/readiness` | `"ok"`; not ready: 503 with code 30000 and the reason |
//! | `GET /nacos/v3/admin/core/cluster/node/list` | the members: `[{"ip","port","state":"UP","address","extendInfo":{}}]` |
//!
//! The v3 admin naming routes (`/nacos/v3/admin/ns/...`) are `super::v2`'s.
//!
//! Differences from Nacos:
//! - `GET /instance/list` filters by `healthyOnly` (Nacos 3 reads and ignores it).
//! - Readiness answers 503 when the node is not ready, so an orchestrator's probe sees it
//!   (Nacos answers 200 with code 30000).
//! - The node list names the members nacre knows (`--peer` addresses, or the server list)
//!   without Nacos' per-member abilities and `extendInfo`; every member is `UP` (nacre's
//!   members are a fixed set: a down one is still a member). `address` and `state` filter as
//!   in Nacos.

use super::access::CallerIp;
use super::error::ApiError;
use super::params::Params;
use super::state::Api;
use super::v2::{success, V2Error};
use super::{instance, json::CODE_RESOURCE_NOT_FOUND};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};
use std::net::SocketAddr;

type V3 = Result<Response, V2Error>;

/// `POST /nacos/v3/client/ns/instance`: a registration, or with `heartBeat=true` a beat.
pub(crate) async fn register(api: Api, p: Params) -> V3 {
    if !p.flag("heartBeat", false)? {
        return Ok(success(instance::register(api, p).await?));
    }
    let axum::Json(beat) = instance::beat(api, p).await?;
    if beat.code == CODE_RESOURCE_NOT_FOUND {
        return Ok(axum::Json(json!({
            "code": 21003,
            "message": "instance not found",
            "data": null,
        }))
        .into_response());
    }
    Ok(success("ok"))
}

/// `DELETE /nacos/v3/client/ns/instance`.
pub(crate) async fn deregister(api: Api, caller: CallerIp, p: Params) -> V3 {
    Ok(super::v2::drained(
        instance::deregister_drained(api, caller, p).await?,
    ))
}

/// `GET /nacos/v3/client/ns/instance/list`: the hosts of the v1 list, as an array.
pub(crate) async fn list(
    State(api): Api,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    p: Params,
) -> V3 {
    let clusters = p.get("clusterName").unwrap_or("DEFAULT").to_owned();
    let p = p.with_default("clusters", &clusters);
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    let body = instance::list_body(&api, &headers, peer, &p)?;
    let mut info: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::Encode(e.to_string()))?;
    Ok(success(info["hosts"].take()))
}

/// `GET /nacos/v3/admin/core/state/liveness`.
pub(crate) async fn liveness() -> Response {
    success("ok")
}

/// `GET /nacos/v3/admin/core/state/readiness`.
pub(crate) async fn readiness(State(api): Api) -> Response {
    match api.backend.readiness() {
        Ok(()) => success("ok"),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "code": 30000, "message": why.to_string(), "data": null })),
        )
            .into_response(),
    }
}

/// The states Nacos names a member by.
const STATES: [&str; 5] = ["STARTING", "UP", "SUSPICIOUS", "DOWN", "ISOLATION"];

/// `GET /nacos/v3/admin/core/cluster/node/list`: the members, filtered by an `address` prefix
/// and a `state`.
pub(crate) async fn node_list(State(api): Api, headers: HeaderMap, p: Params) -> V3 {
    if let Some(state) = p.get("state") {
        if !STATES.iter().any(|s| s.eq_ignore_ascii_case(state.trim())) {
            let body = json!({
                "code": 23000,
                "message": "illegal state",
                "data": format!("Illegal state: {state}"),
            });
            return Ok((StatusCode::BAD_REQUEST, axum::Json(body)).into_response());
        }
        if !state.trim().eq_ignore_ascii_case("UP") {
            return Ok(success(Vec::<Value>::new()));
        }
    }
    let members = super::server_list::listed(&api, &headers).map_err(ApiError::NotFound)?;
    let prefix = p.get("address").unwrap_or_default();
    let list: Vec<Value> = members
        .iter()
        .filter(|m| m.starts_with(prefix))
        .map(|address| {
            let (ip, port) = crate::util::split_host_port(address);
            json!({
                "ip": ip,
                "port": port,
                "state": "UP",
                "address": address,
                "extendInfo": {},
            })
        })
        .collect();
    Ok(success(list))
}

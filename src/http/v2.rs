//! Nacos 2.2+'s v2 open API for naming (`/nacos/v2/ns/...`), and the Nacos 3.x admin routes
//! that replace it (`/nacos/v3/admin/ns/...`), as a wire format over the v1 routes: each route
//! here reads its parameters, calls the v1 route's handler (so a v2 write is checked, routed,
//! kept and pushed exactly as a v1 one), and answers in the v2 envelope
//! `{"code":0,"message":"success","data":...}`.
//!
//! | route (v2; v3 admin beside it) | data |
//! | --- | --- |
//! | `POST`, `DELETE`, `PUT /v2/ns/instance` (`/v3/admin/ns/instance`) | `"ok"` |
//! | `PATCH /v2/ns/instance` (`PUT /v3/admin/ns/instance/partial`) | `"ok"` (v2: the bare text `ok`, as Nacos) |
//! | `GET /v2/ns/instance` | `{"serviceName","ip","port","clusterName","weight","healthy","instanceId","metadata","enabled","ephemeral"}` |
//! | `GET /v2/ns/instance/list` | the `ServiceInfo` of `/v1/ns/instance/list`; `clusterName` (comma list) filters clusters |
//! | `PUT`, `DELETE /v2/ns/instance/metadata/batch` | `{"updated":[...]}` (`super::metadata_batch`) |
//! | `PUT /v2/ns/instance/beat` | the bare v1 beat answer, as Nacos |
//! | `POST`, `DELETE`, `PUT`, `GET /v2/ns/service` | `"ok"`; `GET`: `{"namespace","serviceName","groupName","clusterMap","metadata","protectThreshold","selector","ephemeral"}` |
//! | `GET /v2/ns/service/list` | `{"count","services"}` (`pageNo` 1, `pageSize` 20 by default, as Nacos) |
//! | `PUT /v2/ns/health[/instance]` (`PUT /v3/admin/ns/health[/instance]`) | `"ok"` |
//! | `GET /v2/ns/catalog/instances` | `{"instances":[...],"count"}`: every cluster, `healthyOnly` and `enabledOnly` filter |
//! | `GET /v2/ns/operator/metrics` (`/ops/metrics`) | `{"status"}`; with `onlyStatus=false` the counts too |
//! | `GET /v2/ns/operator/switches` (`/ops/switches`) | the node's settings under Nacos' switch names |
//!
//! Errors answer in the envelope with Nacos' codes: a missing parameter 400 with 10000, a bad
//! one 400 with 20002, an unknown instance 404 with 20004, a service that exists already 400
//! with 21007, an unknown service 400 with 21008 (also for `GET /service`, as Nacos), a
//! service that still holds instances 400 with 21009; anything else its v1 status with 30000.
//! Access refusals (403) answer as the v1 routes do, as Nacos' auth filter does.
//!
//! Differences from Nacos:
//! - Nacos 3.x answers the v2 routes 410 unless an operator turns them back on; nacre serves
//!   them, beside the v3 ones.
//! - The v3 admin routes answer what the v2 routes answer (the same envelope and data).
//! - `PUT /operator/switches` answers 400 (20002): nacre's settings are its flags, not switches
//!   changed at run time. The v2 client routes (`/v2/ns/client/...`) are not served: nacre
//!   keeps no per-client records of 1.x clients; `GET /v1/ns/service/subscribers` lists who is
//!   pushed.
//! - `GET /instance` also answers `enabled` and `ephemeral`; `GET /service`'s `clusterMap`
//!   holds the clusters that hold instances, each with its settings.
//! - `GET /catalog/instances` counts and pages the filtered list (Nacos pages the unfiltered
//!   one, and fails on a later page).

use super::access::CallerIp;
use super::error::ApiError;
use super::params::{ParamError, Params};
use super::state::Api;
use super::{health, instance, metadata_batch, operator, service};
use crate::cluster::ClusterError;
use crate::front::access::Viewer;
use crate::protocol::json::InstanceJson;
use crate::registry::StoreError;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Serialize;
use serde_json::{json, Value};
use std::net::SocketAddr;

/// The v2 envelope.
#[derive(Debug, Serialize)]
struct Envelope<T: Serialize> {
    code: i32,
    message: String,
    data: T,
}

/// A success answer: `data` in the envelope.
pub(crate) fn success<T: Serialize>(data: T) -> Response {
    axum::Json(Envelope {
        code: 0,
        message: "success".to_owned(),
        data,
    })
    .into_response()
}

/// An error in the v2 envelope: Nacos' code and text, the detail as `data`.
#[derive(Debug)]
pub(crate) struct V2Error(pub ApiError);

impl From<ApiError> for V2Error {
    fn from(e: ApiError) -> Self {
        V2Error(e)
    }
}

impl From<ParamError> for V2Error {
    fn from(e: ParamError) -> Self {
        V2Error(e.into())
    }
}

impl V2Error {
    /// The HTTP status, Nacos' code and its message.
    fn parts(&self) -> (StatusCode, i32, &'static str) {
        let bad = StatusCode::BAD_REQUEST;
        match &self.0 {
            ApiError::Param(ParamError::Missing(_)) => (bad, 10000, "parameter missing"),
            ApiError::Param(p) => (p.status(), 20002, "parameter validate error"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, 20004, "resource not found"),
            ApiError::Cluster(ClusterError::Registry(e)) => match e {
                StoreError::ServiceExists(_) => (bad, 21007, "service already exist"),
                StoreError::ServiceNotFound(_) => (bad, 21008, "service not exist"),
                StoreError::ServiceNotEmpty { .. } => (bad, 21009, "service delete failure"),
                StoreError::Invalid(_) => (bad, 20002, "parameter validate error"),
                _ => (self.0.status(), 30000, "server error"),
            },
            _ => (self.0.status(), 30000, "server error"),
        }
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let body = Envelope {
            code,
            message: message.to_owned(),
            data: self.0.to_string(),
        };
        (status, axum::Json(body)).into_response()
    }
}

type V2 = Result<Response, V2Error>;

/// A JSON body (already encoded) as the envelope's `data`.
fn success_raw(data: &[u8]) -> Response {
    let mut body = Vec::with_capacity(data.len() + 40);
    body.extend_from_slice(br#"{"code":0,"message":"success","data":"#);
    body.extend_from_slice(data);
    body.push(b'}');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `ok`, or the drain's report, in the envelope.
pub(crate) fn drained(report: Option<crate::protocol::DrainReport>) -> Response {
    match report {
        Some(report) => success(report),
        None => success("ok"),
    }
}

/// `POST /v2/ns/instance`.
pub(crate) async fn register(api: Api, p: Params) -> V2 {
    Ok(success(instance::register(api, p).await?))
}

/// `DELETE /v2/ns/instance`.
pub(crate) async fn deregister(api: Api, caller: CallerIp, p: Params) -> V2 {
    Ok(drained(instance::deregister_drained(api, caller, p).await?))
}

/// `PUT /v2/ns/instance`.
pub(crate) async fn update(api: Api, caller: CallerIp, p: Params) -> V2 {
    Ok(drained(instance::update_drained(api, caller, p).await?))
}

/// `PATCH /v2/ns/instance`: the bare text `ok`, as Nacos answers it.
pub(crate) async fn patch(api: Api, p: Params) -> V2 {
    Ok(instance::patch(api, p).await?.into_response())
}

/// `PUT /v3/admin/ns/instance/partial`: the v2 `PATCH`, in the envelope.
pub(crate) async fn partial(api: Api, p: Params) -> V2 {
    Ok(success(instance::patch(api, p).await?))
}

/// `GET /v2/ns/instance`.
pub(crate) async fn detail(api: Api, p: Params) -> V2 {
    let axum::Json(found) = instance::detail(api, p).await?;
    let mut data = serde_json::to_value(found).map_err(|e| ApiError::Encode(e.to_string()))?;
    if let Some(map) = data.as_object_mut() {
        if let Some(service) = map.remove("service") {
            map.insert("serviceName".to_owned(), service);
        }
    }
    Ok(success(data))
}

/// `GET /v2/ns/instance/list`: `clusterName` is the v2 name of v1's `clusters`.
pub(crate) async fn list(
    State(api): Api,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    p: Params,
) -> V2 {
    let clusters = p.get("clusterName").unwrap_or_default().to_owned();
    let p = p.with_default("clusters", &clusters);
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    let body = instance::list_body(&api, &headers, peer, &p)?;
    Ok(success_raw(&body))
}

/// `PUT /v2/ns/instance/metadata/batch`.
pub(crate) async fn metadata_update(State(api): Api, p: Params) -> V2 {
    let updated = metadata_batch::run(&api, &p, metadata_batch::MetadataOp::Update).await?;
    Ok(success(json!({ "updated": updated })))
}

/// `DELETE /v2/ns/instance/metadata/batch`.
pub(crate) async fn metadata_delete(State(api): Api, p: Params) -> V2 {
    let updated = metadata_batch::run(&api, &p, metadata_batch::MetadataOp::Delete).await?;
    Ok(success(json!({ "updated": updated })))
}

/// `POST /v2/ns/service`.
pub(crate) async fn service_create(api: Api, p: Params) -> V2 {
    Ok(success(service::create(api, p).await?))
}

/// `DELETE /v2/ns/service`.
pub(crate) async fn service_remove(api: Api, p: Params) -> V2 {
    Ok(success(service::remove(api, p).await?))
}

/// `PUT /v2/ns/service`.
pub(crate) async fn service_update(api: Api, p: Params) -> V2 {
    Ok(success(service::update(api, p).await?))
}

/// `GET /v2/ns/service`: Nacos' `ServiceDetailInfo`; an unknown service is 400 with 21008.
pub(crate) async fn service_detail(State(api): Api, p: Params) -> V2 {
    let key = p.service_key()?;
    let found = match service::detail(State(api), p).await {
        Ok(axum::Json(found)) => found,
        Err(ApiError::NotFound(_)) => {
            return Err(
                ApiError::Cluster(ClusterError::Registry(StoreError::ServiceNotFound(key))).into(),
            )
        }
        Err(e) => return Err(e.into()),
    };
    let clusters: serde_json::Map<String, Value> = found
        .clusters
        .iter()
        .map(|c| {
            let value = json!({
                "clusterName": c.name,
                "healthChecker": c.health_checker,
                "metadata": c.metadata,
                "hosts": null,
            });
            (c.name.clone(), value)
        })
        .collect();
    Ok(success(json!({
        "namespace": found.namespace_id,
        "serviceName": found.name,
        "groupName": found.group_name,
        "clusterMap": clusters,
        "metadata": found.metadata,
        "protectThreshold": found.protect_threshold,
        "selector": found.selector,
        "ephemeral": false,
    })))
}

/// `GET /v2/ns/service/list`: `{"count","services"}`, one page (`pageNo` 1 and `pageSize` 20
/// by default).
pub(crate) async fn service_list(api: Api, viewer: Option<Extension<Viewer>>, p: Params) -> V2 {
    let p = p.with_default("pageNo", "1").with_default("pageSize", "20");
    let axum::Json(page) = service::list(api, viewer, p).await?;
    Ok(success(
        json!({ "count": page.count, "services": page.doms }),
    ))
}

/// `PUT /v2/ns/health` and `/v2/ns/health/instance`.
pub(crate) async fn health(api: Api, p: Params) -> V2 {
    Ok(success(health::update(api, p).await?))
}

/// `GET /v2/ns/catalog/instances`: one page (`pageNo`, `pageSize`, both required) of every
/// instance of the service, with `healthyOnly` and `enabledOnly` filters.
pub(crate) async fn catalog_instances(State(api): Api, p: Params) -> V2 {
    let service = p.service_key()?;
    let page_no = p.positive("pageNo")?;
    let page_size = p.positive("pageSize")?;
    let healthy = p.optional_flag("healthyOnly")?;
    let enabled = p.optional_flag("enabledOnly")?;
    let registry = api.backend.registry();
    let health_config = registry.health_config();
    let all: Vec<InstanceJson> = registry
        .service(&service)
        .map(|snap| {
            snap.instances_flat()
                .iter()
                .filter(|i| healthy.is_none_or(|h| i.healthy() == h))
                .filter(|i| enabled.is_none_or(|e| i.enabled() == e))
                .map(|i| InstanceJson::from_instance(i, &service, health_config))
                .collect()
        })
        .unwrap_or_default();
    let page = crate::front::catalog::page(all, page_no, page_size);
    Ok(success(
        json!({ "instances": page.items, "count": page.count }),
    ))
}

/// `GET /v2/ns/operator/metrics`: `{"status"}`, and with `onlyStatus=false` the node's counts.
pub(crate) async fn metrics(api: Api, p: Params) -> V2 {
    let only_status = p.flag("onlyStatus", true)?;
    let axum::Json(m) = operator::metrics(api).await;
    let mut data = serde_json::to_value(m).map_err(|e| ApiError::Encode(e.to_string()))?;
    if only_status {
        data = json!({ "status": data["status"] });
    }
    Ok(success(data))
}

/// `GET /v2/ns/operator/switches`: the node's settings, under Nacos' switch names.
pub(crate) async fn switches(State(api): Api) -> V2 {
    let health = api.backend.registry().health_config();
    let standalone = api.backend.cluster_node().is_none();
    Ok(success(json!({
        "name": "00-00---000-NACOS_SWITCH_DOMAIN-000---00-00",
        "defaultPushCacheMillis": crate::front::PUSH_CACHE_MILLIS,
        "defaultCacheMillis": api.cache_millis,
        "clientBeatInterval": crate::util::millis(health.beat_interval),
        "healthCheckEnabled": true,
        "pushEnabled": true,
        "lightBeatEnabled": true,
        "defaultInstanceEphemeral": true,
        "distroEnabled": !standalone,
        "enableStandalone": standalone,
    })))
}

/// `PUT /v2/ns/operator/switches`: refused; nacre's settings are its flags.
pub(crate) async fn switches_update() -> V2 {
    Err(ParamError::malformed(
        "entry",
        "",
        "nothing: nacre's settings are the server's flags, not switches changed at run time",
    )
    .into())
}

/// The v2 routes, the v3 admin naming routes beside them, and [`super::v3`]'s.
pub(crate) fn routes(state: std::sync::Arc<super::state::ApiState>) -> axum::Router {
    use super::v3;
    use axum::routing::{any, get, post, put};
    let instance = || post(register).delete(deregister).put(update).get(detail);
    let batch = || put(metadata_update).delete(metadata_delete);
    let service = || {
        post(service_create)
            .delete(service_remove)
            .put(service_update)
            .get(service_detail)
    };
    let metrics = || get(metrics);
    let switches = || get(switches).put(switches_update);
    let mut router = axum::Router::new()
        .route("/nacos/v2/ns/instance", instance().patch(patch))
        .route("/nacos/v3/admin/ns/instance", instance())
        .route("/nacos/v3/admin/ns/instance/partial", put(partial))
        .route(
            "/nacos/v2/ns/instance/beat",
            put(|a, p| async { beat(a, p).await }),
        )
        .route("/nacos/v2/ns/catalog/instances", get(catalog_instances))
        .route(
            "/nacos/v3/client/ns/instance",
            post(v3::register).delete(v3::deregister),
        )
        .route("/nacos/v3/client/ns/instance/list", get(v3::list))
        .route("/nacos/v3/admin/core/state/liveness", any(v3::liveness))
        .route("/nacos/v3/admin/core/state/readiness", get(v3::readiness))
        .route("/nacos/v3/admin/core/cluster/node/list", get(v3::node_list));
    for prefix in ["/nacos/v2/ns", "/nacos/v3/admin/ns"] {
        router = router
            .route(&format!("{prefix}/instance/list"), get(list))
            .route(&format!("{prefix}/instance/metadata/batch"), batch())
            .route(&format!("{prefix}/service"), service())
            .route(&format!("{prefix}/service/list"), get(service_list))
            .route(&format!("{prefix}/health"), put(health))
            .route(&format!("{prefix}/health/instance"), put(health))
            .route(&format!("{prefix}/ops/metrics"), metrics())
            .route(&format!("{prefix}/ops/switches"), switches());
    }
    router
        .route("/nacos/v2/ns/operator/metrics", metrics())
        .route("/nacos/v2/ns/operator/switches", switches())
        .with_state(state)
}

/// `PUT /v2/ns/instance/beat`: the v1 beat's bare answer, as Nacos.
async fn beat(api: Api, p: Params) -> V2 {
    Ok(instance::beat(api, p).await?.into_response())
}

/// The v1 path whose access rules a v2 or v3 route follows (itself for any other path):
/// what it reads or writes is the same, so it needs the same permission, and a write is held
/// to the same addresses.
pub(crate) fn v1_equivalent(path: &str) -> &str {
    use super::paths::*;
    let rest = path
        .strip_prefix("/nacos/v2/ns")
        .or_else(|| path.strip_prefix("/nacos/v3/admin/ns"))
        .or_else(|| path.strip_prefix("/nacos/v3/client/ns"));
    if let Some(rest) = rest {
        return match rest {
            "/instance" | "/instance/partial" => INSTANCE_PATH,
            "/instance/list" => INSTANCE_LIST_PATH,
            "/instance/metadata/batch" => METADATA_BATCH_PATH,
            "/instance/beat" => BEAT_PATH,
            "/service" => SERVICE_PATH,
            "/service/list" => SERVICE_LIST_PATH,
            "/health" | "/health/instance" => HEALTH_INSTANCE_PATH,
            "/catalog/instances" => CATALOG_INSTANCES_PATH,
            // The node's settings and counts: the node report's permission.
            "/operator/metrics" | "/ops/metrics" | "/operator/switches" | "/ops/switches" => {
                METRICS_PATH
            }
            _ => path,
        };
    }
    match path {
        "/nacos/v3/admin/core/state/liveness" => LIVENESS_PATH,
        "/nacos/v3/admin/core/state/readiness" => READINESS_PATH,
        "/nacos/v3/admin/core/cluster/node/list" => METRICS_PATH,
        _ => path,
    }
}

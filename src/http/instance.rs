//! The instance endpoints: `POST`, `DELETE`, `PUT` and `GET /nacos/v1/ns/instance`,
//! `PUT /nacos/v1/ns/instance/beat` and `GET /nacos/v1/ns/instance/list`.

use super::error::ApiError;
use super::json::{
    BeatJson, BeatRequestJson, InstanceDetailJson, CODE_OK, CODE_RESOURCE_NOT_FOUND,
};
use super::params::{ParamError, Params};
use super::router::ApiState;
use crate::client::{BeatAnswer, ServiceQuery};
use crate::front::json::{NameStyle, ServiceInfoJsonRef};
use crate::front::ServiceAnswer;
use crate::model::{InstanceKey, ServiceKey};
use crate::registry::Command;
use crate::util::millis;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use std::net::SocketAddr;
use std::sync::Arc;

type Api = State<Arc<ApiState>>;

/// The instance a `PUT` or `DELETE` means. Nacos 2.x identifies an ephemeral v1 instance by
/// ip:port within its service: the instance in the cluster named (default `DEFAULT`) when
/// there is one, else the one ephemeral instance with that ip:port in any cluster. (Clients
/// such as nacos-sdk-python register with a cluster and update or deregister without one.)
fn target_key(api: &ApiState, service: &ServiceKey, p: &Params) -> Result<InstanceKey, ApiError> {
    let key = p.instance_key()?;
    let Some(snapshot) = api.backend.registry().service(service) else {
        return Ok(key);
    };
    if snapshot.entry(&key).is_some() {
        return Ok(key);
    }
    let mut same = snapshot
        .entries()
        .map(|e| e.instance())
        .filter(|i| i.ephemeral() && i.key().endpoint == key.endpoint)
        .map(|i| i.key());
    Ok(match (same.next(), same.next()) {
        (Some(only), None) => only,
        _ => key,
    })
}

/// `POST /nacos/v1/ns/instance`: registers (or replaces) an instance; answers `ok`.
pub(crate) async fn register(State(api): Api, p: Params) -> Result<&'static str, ApiError> {
    let service = p.service_key()?;
    let instance = p.instance()?;
    api.backend
        .execute(Command::register(&service, instance))
        .await?;
    Ok("ok")
}

/// `DELETE /nacos/v1/ns/instance`: removes an instance; answers `ok`, also when it was not
/// registered.
pub(crate) async fn deregister(State(api): Api, p: Params) -> Result<&'static str, ApiError> {
    let service = p.service_key()?;
    let key = target_key(&api, &service, &p)?;
    api.backend
        .execute(Command::deregister(&service, &key))
        .await?;
    Ok("ok")
}

/// `PUT /nacos/v1/ns/instance`: changes the weight, enabled flag and/or metadata of a
/// registered instance; answers `ok`.
pub(crate) async fn update(State(api): Api, p: Params) -> Result<&'static str, ApiError> {
    let service = p.service_key()?;
    let key = target_key(&api, &service, &p)?;
    let update = p.instance_update()?;
    api.backend
        .execute(Command::update(&service, &key, update))
        .await?;
    Ok("ok")
}

/// `GET /nacos/v1/ns/instance`: one instance.
pub(crate) async fn detail(
    State(api): Api,
    p: Params,
) -> Result<Json<InstanceDetailJson>, ApiError> {
    let service = p.service_key()?;
    let key = p.instance_key()?;
    let grouped = service.grouped_name();
    let snapshot = api
        .backend
        .registry()
        .service(&service)
        .ok_or_else(|| ApiError::NotFound(format!("no service {grouped} found!")))?;
    let entry = snapshot.entry(&key).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no matched ip found: {} in cluster {} of service {grouped}",
            key.endpoint, key.cluster
        ))
    })?;
    let instance = entry.instance();
    Ok(Json(InstanceDetailJson {
        service: grouped,
        ip: instance.ip().to_string(),
        port: instance.port(),
        cluster_name: instance.cluster().to_string(),
        weight: instance.weight(),
        healthy: instance.healthy(),
        instance_id: instance.instance_id(&service).to_string(),
        metadata: instance.metadata().clone(),
        enabled: instance.enabled(),
        ephemeral: instance.ephemeral(),
    }))
}

/// `GET /nacos/v1/ns/instance/list`: the enabled instances of a service, in the clusters
/// asked for; with `healthyOnly`, only the healthy ones unless the protect threshold is
/// reached. An unknown service answers an empty list.
///
/// With `udpPort` (and `clientIP`) from a client Nacos pushes to, the client is subscribed to
/// UDP pushes of what it asked for ([`super::push`]).
pub(crate) async fn list(
    State(api): Api,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    p: Params,
) -> Result<Response, ApiError> {
    let query = ServiceQuery {
        service: p.service_key()?,
        clusters: p.clusters()?,
        healthy_only: p.flag("healthyOnly", false)?,
    };
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    let cache_millis = super::push::subscribe(&api, &headers, peer, &p, &query)?;
    let answer = ServiceAnswer::new(api.backend.registry(), &query, cache_millis);
    let health = api.backend.registry().health_config();
    let grouped = answer.service().grouped_name();
    let body = ServiceInfoJsonRef::from_answer(&answer, &grouped, NameStyle::Grouped, health);
    json_response(&body)
}

/// Serializes `value` into a buffer sized for it up front (list answers run to kilobytes).
fn json_response<T: serde::Serialize>(value: &T) -> Result<Response, ApiError> {
    let mut buf = Vec::with_capacity(4096);
    serde_json::to_writer(&mut buf, value).map_err(|e| ApiError::Encode(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], buf).into_response())
}

/// `PUT /nacos/v1/ns/instance/beat`: a heartbeat. With the `beat` JSON parameter it carries
/// the instance's data and registers it again if it is unknown; without it (a light beat,
/// `ip`, `port` and `clusterName` as parameters) an unknown instance answers code 20404.
pub(crate) async fn beat(State(api): Api, p: Params) -> Result<Json<BeatJson>, ApiError> {
    let service = p.service_key()?;
    let command = match p.get("beat") {
        Some(raw) => {
            let beat: BeatRequestJson = serde_json::from_str(raw).map_err(|_| {
                ParamError::malformed(
                    "beat",
                    raw,
                    "a JSON object with at least `ip` and `port` (1-65535)",
                )
            })?;
            let cluster = p.cluster()?;
            Command::beat_with(&service, &beat.to_instance(cluster.as_str())?)
        }
        None => Command::light_beat(&service, &p.instance_key()?),
    };
    Ok(Json(match api.backend.beat(command).await? {
        BeatAnswer::Ok {
            client_beat_interval,
            light_beat_enabled,
        } => BeatJson {
            client_beat_interval: millis(client_beat_interval),
            code: CODE_OK,
            light_beat_enabled,
        },
        BeatAnswer::NotFound => BeatJson {
            client_beat_interval: millis(api.backend.registry().health_config().beat_interval),
            code: CODE_RESOURCE_NOT_FOUND,
            light_beat_enabled: true,
        },
    }))
}

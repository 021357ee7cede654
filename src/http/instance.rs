//! The instance endpoints: `POST`, `DELETE`, `PUT`, `PATCH` and `GET /nacos/v1/ns/instance`,
//! `PUT /nacos/v1/ns/instance/beat`, `GET /nacos/v1/ns/instance/list` and
//! `GET /nacos/v1/ns/instance/statuses`.

use super::access::CallerIp;
use super::error::ApiError;
use super::json::{
    BeatJson, BeatRequestJson, InstanceDetailJson, InstanceStatusesJson, CODE_OK,
    CODE_RESOURCE_NOT_FOUND,
};
use super::params::{ParamError, Params};
use super::state::{Api, ApiState};
use crate::cluster::ClusterError;
use crate::front::json::service_info_body;
use crate::front::ServiceAnswer;
use crate::model::{Instance, InstanceKey, ServiceKey};
use crate::protocol::json::NameStyle;
use crate::protocol::{BeatAnswer, DrainReport, ServiceQuery, DRAIN_PARAM};
use crate::registry::{Command, StoreError};
use crate::util::millis;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use std::net::SocketAddr;
use std::sync::Arc;

/// The instance a `PUT` or `DELETE` means. Nacos 2.x identifies an ephemeral v1 instance by
/// ip:port within its service: the instance in the cluster named (default `DEFAULT`) when
/// there is one, else the one ephemeral instance with that ip:port in any cluster. (Clients
/// such as nacos-sdk-python register with a cluster and update or deregister without one.)
fn target_key(api: &ApiState, service: &ServiceKey, p: &Params) -> Result<InstanceKey, ApiError> {
    Ok(resolve_key(
        api,
        service,
        p.instance_key()?,
        &[&Instance::ephemeral],
    ))
}

/// `key` if the service holds an instance there; else, trying each of `kinds` in turn, the
/// one instance of that kind on the same ip:port in any cluster; else `key` itself (which
/// then names no instance).
pub(crate) fn resolve_key(
    api: &ApiState,
    service: &ServiceKey,
    key: InstanceKey,
    kinds: &[&dyn Fn(&Instance) -> bool],
) -> InstanceKey {
    let Some(snapshot) = api.backend.registry().service(service) else {
        return key;
    };
    if snapshot.entry(&key).is_some() {
        return key;
    }
    for kind in kinds {
        let of_kind = snapshot
            .entries()
            .map(|e| e.instance())
            .filter(|i| kind(i))
            .map(|i| i.key());
        if let Some(only) = only_at(of_kind, &key) {
            return only;
        }
    }
    key
}

/// The one key among `keys` with `key`'s ip and port, if exactly one has them (in whichever
/// cluster): how a request without a matching `clusterName` finds what it means.
pub(crate) fn only_at(
    keys: impl Iterator<Item = InstanceKey>,
    key: &InstanceKey,
) -> Option<InstanceKey> {
    let mut same = keys.filter(|k| k.endpoint == key.endpoint);
    match (same.next(), same.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
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
/// registered. With `drainMillis` (nacre's), it then waits up to that long for every
/// subscriber of the service to take a push without the instance, and answers the
/// [`crate::protocol::DrainReport`] as JSON (see [`crate::front::drain`]).
pub(crate) async fn deregister(
    api: Api,
    caller: CallerIp,
    p: Params,
) -> Result<Response, ApiError> {
    Ok(drained(deregister_drained(api, caller, p).await?))
}

/// The deregistration of `DELETE /nacos/v1/ns/instance` (and v2, v3): the drain's report when
/// `drainMillis` asked for one.
pub(crate) async fn deregister_drained(
    State(api): Api,
    CallerIp(caller): CallerIp,
    p: Params,
) -> Result<Option<DrainReport>, ApiError> {
    let service = p.service_key()?;
    let key = target_key(&api, &service, &p)?;
    let wait = api
        .drainer
        .wait(p.optional_u64(DRAIN_PARAM)?, Some(caller))?;
    let write = async {
        api.backend
            .execute(Command::deregister(&service, &key))
            .await
            .map_err(ApiError::from)
    };
    let drained = wait.is_some();
    let (_, report) = api.drainer.around(&service, &key, wait, write).await?;
    Ok(drained.then_some(report))
}

/// `ok`, or the drain's report.
fn drained(report: Option<DrainReport>) -> Response {
    match report {
        Some(report) => Json(report).into_response(),
        None => "ok".into_response(),
    }
}

/// `PUT /nacos/v1/ns/instance`: Nacos 2.x's update. `weight` and `enabled` are both set (an
/// absent one goes back to 1 and true), `metadata` is laid over the instance's own; answers
/// `ok`. The service must exist (400 otherwise). With a control plane the values are kept as
/// the instance id's override (see `super::overrides`), also for an instance that is not
/// registered (yet), as Nacos keeps them for the address; without one, an unknown instance
/// answers `ok` and nothing is stored.
///
/// With `drainMillis` and `enabled=false`, it then waits as a draining `DELETE` does and
/// answers the drain's report; `drainMillis` with the instance enabled is refused (400).
pub(crate) async fn update(api: Api, caller: CallerIp, p: Params) -> Result<Response, ApiError> {
    Ok(drained(update_drained(api, caller, p).await?))
}

/// The update of `PUT /nacos/v1/ns/instance` (and v2): the drain's report when `drainMillis`
/// asked for one.
pub(crate) async fn update_drained(
    State(api): Api,
    CallerIp(caller): CallerIp,
    p: Params,
) -> Result<Option<DrainReport>, ApiError> {
    let service = p.service_key()?;
    let update = p.instance_update()?;
    let key = target_key(&api, &service, &p)?;
    let wait = api
        .drainer
        .wait(p.optional_u64(DRAIN_PARAM)?, Some(caller))?;
    if wait.is_some() && update.enabled != Some(false) {
        return Err(ParamError::malformed(DRAIN_PARAM, "", "only with enabled=false").into());
    }
    if api.backend.registry().service(&service).is_none() {
        return Err(ClusterError::from(StoreError::ServiceNotFound(service)).into());
    }
    #[cfg(feature = "control")]
    super::overrides::keep(&api, &service, &key, &update).await?;
    let write = async {
        match api
            .backend
            .execute(Command::update(&service, &key, update))
            .await
        {
            Ok(_) | Err(ClusterError::Registry(StoreError::InstanceNotFound(_))) => Ok(()),
            Err(e) => Err(ApiError::from(e)),
        }
    };
    let drained = wait.is_some();
    let ((), report) = api.drainer.around(&service, &key, wait, write).await?;
    Ok(drained.then_some(report))
}

/// `PATCH /nacos/v1/ns/instance`: changes only what it is given (`weight`, `enabled`,
/// `metadata`, laid over the instance's own), kept as the instance id's override with a
/// control plane; answers `ok`. The instance is found as Nacos
/// finds it, in the cluster named (`DEFAULT` when none is): an unknown one answers 404.
pub(crate) async fn patch(State(api): Api, p: Params) -> Result<&'static str, ApiError> {
    let service = p.service_key()?;
    let key = p.instance_key()?;
    let patch = p.instance_patch()?;
    find_instance(&api, &service, &key)?;
    #[cfg(feature = "control")]
    super::overrides::keep(&api, &service, &key, &patch).await?;
    match api
        .backend
        .execute(Command::update(&service, &key, patch))
        .await
    {
        Ok(_) => Ok("ok"),
        Err(ClusterError::Registry(StoreError::InstanceNotFound(_))) => {
            Err(no_matched_ip(&service, &key))
        }
        Err(e) => Err(e.into()),
    }
}

/// The instance at `key`, or Nacos' 404 answers: `no ips found for cluster ...` when the
/// service holds no instance, `no matched ip found...` when it holds others.
fn find_instance(
    api: &ApiState,
    service: &ServiceKey,
    key: &InstanceKey,
) -> Result<Arc<Instance>, ApiError> {
    let snapshot = api
        .backend
        .registry()
        .service(service)
        .filter(|s| s.instance_count() > 0)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no ips found for cluster {} in service {}",
                key.cluster,
                service.grouped_name()
            ))
        })?;
    let entry = snapshot
        .entry(key)
        .ok_or_else(|| no_matched_ip(service, key))?;
    Ok(entry.instance().clone())
}

fn no_matched_ip(service: &ServiceKey, key: &InstanceKey) -> ApiError {
    ApiError::NotFound(format!(
        "no matched ip found: {} in cluster {} of service {}",
        key.endpoint,
        key.cluster,
        service.grouped_name()
    ))
}

/// `GET /nacos/v1/ns/instance`: one instance.
pub(crate) async fn detail(
    State(api): Api,
    p: Params,
) -> Result<Json<InstanceDetailJson>, ApiError> {
    let service = p.service_key()?;
    let key = p.instance_key()?;
    let instance = find_instance(&api, &service, &key)?;
    Ok(Json(InstanceDetailJson {
        service: service.grouped_name(),
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

/// `GET /nacos/v1/ns/instance/statuses` (any method, as in Nacos): every instance of the
/// service named by `key` (`namespace##group@@service`), whatever its state, as
/// `{"ips":["ip:port_healthy", ...]}` in cluster then endpoint order. An unknown service
/// answers an empty list.
pub(crate) async fn statuses(
    State(api): Api,
    p: Params,
) -> Result<Json<InstanceStatusesJson>, ApiError> {
    let service = p.namespaced_service("key")?;
    let ips = api
        .backend
        .registry()
        .service(&service)
        .map(|snap| {
            snap.instances_flat()
                .iter()
                .map(|i| format!("{}:{}_{}", i.ip(), i.port(), i.healthy()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(InstanceStatusesJson { ips }))
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
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    let body = list_body(&api, &headers, peer, &p)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The body of an instance list answer (the `ServiceInfo` JSON), shared with the v2 and v3
/// routes.
pub(crate) fn list_body(
    api: &ApiState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    p: &Params,
) -> Result<Vec<u8>, ApiError> {
    let query = ServiceQuery {
        service: p.service_key()?,
        clusters: p.clusters()?,
        healthy_only: p.flag("healthyOnly", false)?,
    };
    let cache_millis = super::push::subscribe(api, headers, peer, p, &query)?;
    let answer = ServiceAnswer::new(api.backend.registry(), &query, cache_millis);
    let health = api.backend.registry().health_config();
    service_info_body(&answer, NameStyle::Grouped, health)
        .map_err(|e| ApiError::Encode(e.to_string()))
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
            Command::beat_with(&service, &beat.into_instance(cluster.as_str())?)
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

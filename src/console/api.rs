//! The console's JSON API: a service's instances, and the edits the page sends (the lists
//! are [`super::lists`]'). With auth on, reading a service's instances needs read permission on
//! it and the answer says whether the caller may edit it (`writable`); an edit needs write
//! permission on its service (see [`super::auth`]).

use super::auth::Caller;
use crate::cluster::ClusterError;
use crate::front::access::{AccessError, AccessTarget, Need};
use crate::front::{Backend, ErrorClass};
use crate::health::BeatTimeouts;
use crate::model::{InstanceKey, ServiceKey, ValidationError};
use crate::registry::{Command, InstanceUpdate};
use crate::timeline::with_origin;
use axum::extract::{Query, State as Shared};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// What the console's handlers share.
pub(super) struct State {
    pub(super) backend: Backend,
    pub(super) changes: broadcast::Sender<super::events::Change>,
    /// The live event streams held, in total and per address.
    pub(super) streams: Arc<crate::front::gate::ConnectionGate>,
    /// How long one event stream lasts.
    pub(super) stream_lifetime: std::time::Duration,
    /// The namespace and service lists made lately (see [`super::lists`]).
    pub(super) listings: tokio::sync::Mutex<super::lists::Listings>,
    /// Changes seen so far: what a list is as of.
    pub(super) generation: Arc<std::sync::atomic::AtomicU64>,
    /// Who may do what, when auth is on (see [`super::auth`]).
    pub(super) access: Option<crate::front::access::Access>,
    /// The control plane: namespace names, operators' overrides (feature `control`).
    #[cfg(feature = "control")]
    pub(super) control: Option<Arc<dyn crate::control::ControlPlane>>,
}

/// The state every console handler takes.
pub(super) type Api = Shared<Arc<State>>;

/// Why a console request failed; answered as plain text with the status shown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// A name, address or port that is not valid (400).
    #[error("bad request: {0}")]
    Invalid(#[from] ValidationError),
    /// The service asked for does not exist (404).
    #[error("no service `{0}`")]
    NoService(String),
    /// The node (or the member responsible for the service) refused or could not carry out
    /// the edit (the status of [`ErrorClass`], as on every front).
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A peer answered an edit with something that does not fit it (another protocol
    /// version; 500).
    #[error(transparent)]
    Unexpected(#[from] crate::registry::UnexpectedOutput),
    /// Auth is on and the caller has no valid token, or not the permission (Nacos' 403 with
    /// the reason).
    #[error(transparent)]
    Refused(#[from] AccessError),
    /// The control plane did not keep the edit as an override: a rule (400), too many (429),
    /// or no write taken (no leader, stopped: 503). Nothing changed.
    #[cfg(feature = "control")]
    #[error(transparent)]
    NotKept(#[from] crate::control::KeepError),
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        if let ConsoleError::Refused(e) = &self {
            return crate::http::access::refusal(e);
        }
        let status = match &self {
            ConsoleError::Invalid(_) => StatusCode::BAD_REQUEST,
            ConsoleError::NoService(_) => StatusCode::NOT_FOUND,
            ConsoleError::Cluster(e) => StatusCode::from_u16(ErrorClass::of(e).http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ConsoleError::Unexpected(_) | ConsoleError::Refused(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            #[cfg(feature = "control")]
            ConsoleError::NotKept(crate::control::KeepError::Refused(
                crate::control::ControlError::TooManyOverrides { .. },
            )) => StatusCode::TOO_MANY_REQUESTS,
            #[cfg(feature = "control")]
            ConsoleError::NotKept(crate::control::KeepError::Refused(_)) => StatusCode::BAD_REQUEST,
            #[cfg(feature = "control")]
            ConsoleError::NotKept(crate::control::KeepError::Unavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        (status, self.to_string()).into_response()
    }
}

/// `?namespace=&group=&service=`.
#[derive(Debug, Deserialize)]
pub(super) struct ServiceQuery {
    namespace: String,
    group: String,
    service: String,
}

impl ServiceQuery {
    fn key(&self) -> Result<ServiceKey, ConsoleError> {
        Ok(ServiceKey::new(
            &self.namespace,
            &self.group,
            &self.service,
        )?)
    }
}

/// One instance, with its liveness.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InstanceRow {
    ip: String,
    port: u16,
    cluster: String,
    weight: f64,
    enabled: bool,
    healthy: bool,
    ephemeral: bool,
    metadata: BTreeMap<String, String>,
    /// Milliseconds since the last beat (ephemeral instances; persistent ones do not beat).
    last_beat_ms_ago: Option<u64>,
    /// Silence after which it is unhealthy, and removed (ephemeral instances).
    unhealthy_after_ms: Option<u64>,
    remove_after_ms: Option<u64>,
    /// Why it is unhealthy, in words; `None` when it is healthy.
    why: Option<String>,
    /// What an operator's override sets (kept over the client's registrations); `None`
    /// without one.
    overridden: Option<Overridden>,
}

/// The fields of an instance an operator's override sets.
#[derive(Debug, Serialize)]
pub(super) struct Overridden {
    enabled: bool,
    weight: bool,
    /// The metadata keys it sets.
    metadata: Vec<String>,
}

#[cfg(feature = "control")]
impl Overridden {
    fn of(o: &crate::control::InstanceOverride) -> Self {
        Overridden {
            enabled: o.enabled.is_some(),
            weight: o.weight.is_some(),
            metadata: o.metadata.keys().cloned().collect(),
        }
    }
}

/// A service's instances.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InstancesAnswer {
    protect_threshold: f32,
    /// Whether the caller may edit the service (always, when auth is off).
    writable: bool,
    instances: Vec<InstanceRow>,
    /// How each cluster's persistent instances are checked: every cluster that holds
    /// instances or has settings (with a control plane; empty without one).
    clusters: Vec<ClusterRow>,
}

/// A cluster's health check, as the page shows and edits it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClusterRow {
    name: String,
    /// `TCP`, `HTTP` or `NONE`.
    checker: String,
    /// The HTTP check's path (empty for TCP and NONE).
    path: String,
    /// The HTTP check's expected status.
    expected_code: u16,
    /// Whether an operator set this cluster's settings (else they are the defaults).
    set: bool,
}

/// `17 s`, or `1.5 s` under ten seconds.
pub(super) fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 && d.subsec_millis() != 0 {
        format!("{s:.1} s")
    } else {
        format!("{} s", d.as_secs())
    }
}

/// `GET /console/api/instances?namespace=&group=&service=`.
pub(super) async fn instances(
    caller: Caller,
    Shared(state): Api,
    Query(q): Query<ServiceQuery>,
) -> Result<Json<InstancesAnswer>, ConsoleError> {
    let key = q.key()?;
    let allowed = caller.check(&Need::Read(AccessTarget::service(&key)))?;
    let registry = state.backend.registry();
    let snap = registry
        .store()
        .load(&key)
        .ok_or_else(|| ConsoleError::NoService(key.to_string()))?;
    let now = registry.clock().now();
    #[cfg(feature = "control")]
    let control_state = state.control.as_ref().map(|c| c.state());
    let mut rows: Vec<InstanceRow> = snap
        .entries()
        .map(|entry| {
            let instance = entry.instance();
            let ephemeral = instance.ephemeral();
            let timing = BeatTimeouts::resolve(entry.overrides(), registry.health_config());
            let silence = now.saturating_since(entry.liveness().last_beat());
            let why = match (instance.healthy(), ephemeral) {
                (true, _) => None,
                (false, true) => Some(format!(
                    "no beat for {}; the limit is {}",
                    seconds(silence),
                    seconds(timing.unhealthy_after)
                )),
                (false, false) => Some(
                    "marked unhealthy by a health update (a persistent instance does not beat)"
                        .to_owned(),
                ),
            };
            let millis = |d: Duration| Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            #[cfg(feature = "control")]
            let overridden = control_state
                .as_ref()
                .and_then(|c| c.instance_override(&key, &instance.key()))
                .map(Overridden::of);
            #[cfg(not(feature = "control"))]
            let overridden = None;
            InstanceRow {
                overridden,
                ip: instance.ip().to_string(),
                port: instance.port(),
                cluster: instance.cluster().as_str().to_owned(),
                weight: instance.weight(),
                enabled: instance.enabled(),
                healthy: instance.healthy(),
                ephemeral,
                metadata: instance.metadata().clone(),
                last_beat_ms_ago: if ephemeral { millis(silence) } else { None },
                unhealthy_after_ms: if ephemeral {
                    millis(timing.unhealthy_after)
                } else {
                    None
                },
                remove_after_ms: if ephemeral {
                    millis(timing.remove_after)
                } else {
                    None
                },
                why,
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.cluster, &a.ip, a.port).cmp(&(&b.cluster, &b.ip, b.port)));
    #[cfg(feature = "control")]
    let clusters = cluster_rows(&state, &key, &rows);
    #[cfg(not(feature = "control"))]
    let clusters = Vec::new();
    Ok(Json(InstancesAnswer {
        protect_threshold: snap.settings().protect_threshold,
        writable: allowed.may_write(&key),
        instances: rows,
        clusters,
    }))
}

/// The clusters of `key` (those its instances are in, and those with settings) with their
/// health checks, when the console has a control plane.
#[cfg(feature = "control")]
fn cluster_rows(state: &State, key: &ServiceKey, rows: &[InstanceRow]) -> Vec<ClusterRow> {
    use crate::control::HealthChecker;
    let Some(control) = &state.control else {
        return Vec::new();
    };
    let control = control.state();
    let mut names: std::collections::BTreeSet<String> =
        rows.iter().map(|r| r.cluster.clone()).collect();
    names.extend(
        control
            .clusters_of(key)
            .map(|c| c.cluster.as_str().to_owned()),
    );
    names
        .into_iter()
        .filter_map(|name| {
            let cluster = crate::model::ClusterName::new(&name).ok()?;
            let set = control.cluster_settings(key, &cluster);
            let checker = set.map(|c| c.checker.clone()).unwrap_or_default();
            let (path, expected_code) = match &checker {
                HealthChecker::Http(h) => (h.path.clone(), h.expected_code),
                _ => (String::new(), 200),
            };
            Some(ClusterRow {
                checker: checker.type_name().to_owned(),
                name,
                path,
                expected_code,
                set: set.is_some(),
            })
        })
        .collect()
}

/// The body of `PUT /console/api/cluster`: a cluster's health check.
#[cfg(feature = "control")]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClusterBody {
    namespace: String,
    group: String,
    service: String,
    cluster: String,
    /// `TCP`, `HTTP` or `NONE`.
    checker: String,
    #[serde(default)]
    path: String,
    expected_code: Option<u16>,
}

/// `PUT /console/api/cluster`: sets a cluster's health check (its other settings kept) → `true`.
/// Needs write permission on the service, and a control plane (404 without one).
#[cfg(feature = "control")]
pub(super) async fn set_cluster(
    caller: Caller,
    Shared(state): Api,
    Json(body): Json<ClusterBody>,
) -> Result<Json<bool>, ConsoleError> {
    use crate::control::{ControlCommand, ControlResponse, HealthChecker, HttpCheck, KeepError};
    let service = ServiceKey::new(&body.namespace, &body.group, &body.service)?;
    let cluster = crate::model::ClusterName::new(&body.cluster)?;
    caller.check(&Need::Write(AccessTarget::service(&service)))?;
    let Some(control) = &state.control else {
        return Err(ConsoleError::NoService(
            "this node runs no control plane: it keeps no cluster settings".to_owned(),
        ));
    };
    if state.backend.registry().service(&service).is_none() {
        return Err(ConsoleError::NoService(service.to_string()));
    }
    let checker = match body.checker.to_ascii_uppercase().as_str() {
        "TCP" => HealthChecker::Tcp,
        "NONE" => HealthChecker::None,
        "HTTP" => HealthChecker::Http(HttpCheck {
            path: body.path,
            expected_code: body.expected_code.unwrap_or(200),
            ..HttpCheck::default()
        }),
        other => {
            return Err(ConsoleError::NotKept(KeepError::Refused(
                crate::control::ControlError::InvalidClusterSettings {
                    service,
                    cluster,
                    field: "checker".to_owned(),
                    rule: format!("must be TCP, HTTP or NONE, not {other:?}"),
                },
            )))
        }
    };
    let mut settings = control
        .state()
        .cluster_settings(&service, &cluster)
        .cloned()
        .unwrap_or_else(|| crate::control::ClusterSettings::defaults(service, cluster));
    settings.checker = checker;
    settings
        .check()
        .map_err(|e| ConsoleError::NotKept(KeepError::Refused(e)))?;
    match control
        .write(ControlCommand::SetClusterSettings(settings))
        .await
        .map_err(|e| ConsoleError::NotKept(KeepError::Unavailable(e)))?
    {
        ControlResponse::Rejected(e) => Err(ConsoleError::NotKept(KeepError::Refused(e))),
        _ => Ok(Json(true)),
    }
}

/// Names one instance: its service, cluster, ip and port.
#[derive(Debug, Deserialize)]
pub(super) struct InstanceQuery {
    namespace: String,
    group: String,
    service: String,
    cluster: String,
    ip: String,
    port: u16,
}

impl InstanceQuery {
    fn keys(&self) -> Result<(ServiceKey, InstanceKey), ConsoleError> {
        Ok((
            ServiceKey::new(&self.namespace, &self.group, &self.service)?,
            InstanceKey::new(&self.cluster, &self.ip, self.port)?,
        ))
    }
}

/// The body of `PATCH /console/api/instance`.
#[derive(Debug, Deserialize)]
pub(super) struct UpdateBody {
    #[serde(flatten)]
    instance: InstanceQuery,
    weight: Option<f64>,
    enabled: Option<bool>,
}

/// `PATCH /console/api/instance`: weight and/or enabled → the service's revision.
pub(super) async fn update(
    caller: Caller,
    Shared(state): Api,
    Json(body): Json<UpdateBody>,
) -> Result<Json<u64>, ConsoleError> {
    let (service, instance) = body.instance.keys()?;
    // An edit changes an instance that is there: it registers no address.
    let allowed = caller.check(&Need::Write(AccessTarget::service(&service)))?;
    let origin = caller.origin(allowed.caller());
    let update = InstanceUpdate {
        weight: body.weight,
        enabled: body.enabled,
        ..Default::default()
    };
    let edit = async {
        #[cfg(feature = "control")]
        if let Some(control) = &state.control {
            let keep = crate::control::keep_edit(control.as_ref(), &service, &instance, &update);
            let registry = state.backend.local_registry();
            registry.noting_edit(&service, &instance, keep).await?;
        }
        let write = state
            .backend
            .execute(Command::update(&service, &instance, update));
        Ok::<_, ConsoleError>(write.await?)
    };
    let output = with_origin(origin, edit).await?;
    Ok(Json(output.into_revision()?))
}

/// `DELETE /console/api/instance?...` → whether it was registered.
pub(super) async fn deregister(
    caller: Caller,
    Shared(state): Api,
    Query(q): Query<InstanceQuery>,
) -> Result<Json<bool>, ConsoleError> {
    let (service, instance) = q.keys()?;
    let allowed = caller.check(&Need::Write(AccessTarget::service(&service)))?;
    let origin = caller.origin(allowed.caller());
    let write = state
        .backend
        .execute(Command::deregister(&service, &instance));
    let output = with_origin(origin, write).await?;
    Ok(Json(output.into_deregistered()?))
}

/// `GET /console/api/timeline?namespace=&group=&service=&cluster=&ip=&port=`: the instance's
/// history on this member (see [`crate::timeline`]), as
/// `GET /nacre/v1/ns/instance/timeline` answers it. Needs read permission on the service.
pub(super) async fn timeline(
    caller: Caller,
    Shared(state): Api,
    Query(q): Query<InstanceQuery>,
) -> Result<Json<crate::timeline::InstanceTimeline>, ConsoleError> {
    let (service, instance) = q.keys()?;
    caller.check(&Need::Read(AccessTarget::service(&service)))?;
    Ok(Json(
        state
            .backend
            .registry()
            .instance_timeline(&service, &instance),
    ))
}

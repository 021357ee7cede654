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
    Ok(Json(InstancesAnswer {
        protect_threshold: snap.settings().protect_threshold,
        writable: allowed.may_write(&key),
        instances: rows,
    }))
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
    caller.check(&Need::Write(AccessTarget::service(&service)))?;
    let update = InstanceUpdate {
        weight: body.weight,
        enabled: body.enabled,
        ..Default::default()
    };
    #[cfg(feature = "control")]
    if let Some(control) = &state.control {
        crate::control::keep_edit(control.as_ref(), &service, &instance, &update).await?;
    }
    let output = state
        .backend
        .execute(Command::update(&service, &instance, update))
        .await?;
    Ok(Json(output.into_revision()?))
}

/// `DELETE /console/api/instance?...` → whether it was registered.
pub(super) async fn deregister(
    caller: Caller,
    Shared(state): Api,
    Query(q): Query<InstanceQuery>,
) -> Result<Json<bool>, ConsoleError> {
    let (service, instance) = q.keys()?;
    caller.check(&Need::Write(AccessTarget::service(&service)))?;
    let output = state
        .backend
        .execute(Command::deregister(&service, &instance))
        .await?;
    Ok(Json(output.into_deregistered()?))
}

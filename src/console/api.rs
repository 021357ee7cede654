//! The console's JSON API: what the page reads and the edits it sends.

use crate::cluster::ClusterError;
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
    /// The namespace and service lists made lately (see [`listing`]).
    pub(super) listings: tokio::sync::Mutex<Listings>,
    /// Changes seen so far: what a list is as of.
    pub(super) generation: Arc<std::sync::atomic::AtomicU64>,
}

/// How often a list is made at most: a list walks every service (and counts the healthy
/// instances of each), so however many browsers ask, a node makes each list at most once in
/// this time; between changes, not at all.
pub(super) const LISTING_TTL: Duration = Duration::from_secs(1);

/// A list made lately: when, as of which change, what.
pub(super) struct Made<T> {
    at: std::time::Instant,
    generation: u64,
    value: Arc<T>,
}

/// The lists made lately.
#[derive(Default)]
pub(super) struct Listings {
    namespaces: Option<Made<Vec<NamespaceRow>>>,
    /// By namespace; only namespaces that hold services (at most `Limits::max_namespaces`).
    services: std::collections::HashMap<String, Option<Made<Vec<ServiceRow>>>>,
}

/// The list in the slot `pick` chooses, as of every change made before this request: the one
/// kept if no change came since it was made; else a new one, made no sooner than
/// [`LISTING_TTL`] after the last (the request waits for that), and kept. Requests take their
/// turn, so a crowd of them makes one list, not one each.
async fn listing<T>(
    state: &State,
    pick: impl Fn(&mut Listings) -> &mut Option<Made<T>>,
    make: impl FnOnce() -> T,
) -> Arc<T> {
    use std::sync::atomic::Ordering;
    let wanted = state.generation.load(Ordering::Acquire);
    let mut listings = state.listings.lock().await;
    if let Some(made) = pick(&mut listings) {
        if made.generation >= wanted {
            return made.value.clone();
        }
        let wait = LISTING_TTL.saturating_sub(made.at.elapsed());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
    let generation = state.generation.load(Ordering::Acquire);
    let value = Arc::new(make());
    *pick(&mut listings) = Some(Made {
        at: std::time::Instant::now(),
        generation,
        value: value.clone(),
    });
    value
}

type Api = Shared<Arc<State>>;

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
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = match &self {
            ConsoleError::Invalid(_) => StatusCode::BAD_REQUEST,
            ConsoleError::NoService(_) => StatusCode::NOT_FOUND,
            ConsoleError::Cluster(e) => StatusCode::from_u16(ErrorClass::of(e).http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ConsoleError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, self.to_string()).into_response()
    }
}

/// One namespace in the list.
#[derive(Debug, Serialize)]
pub(super) struct NamespaceRow {
    namespace: String,
    services: usize,
    instances: usize,
    healthy: usize,
}

/// `GET /console/api/namespaces`.
pub(super) async fn namespaces(Shared(state): Api) -> Json<Arc<Vec<NamespaceRow>>> {
    Json(listing(&state, |l| &mut l.namespaces, || namespace_rows(&state)).await)
}

fn namespace_rows(state: &State) -> Vec<NamespaceRow> {
    let mut rows: BTreeMap<String, NamespaceRow> = BTreeMap::new();
    state.backend.registry().store().for_each(|snap| {
        let ns = snap.key().namespace().as_str();
        let row = rows.entry(ns.to_owned()).or_insert_with(|| NamespaceRow {
            namespace: ns.to_owned(),
            services: 0,
            instances: 0,
            healthy: 0,
        });
        row.services += 1;
        row.instances += snap.instance_count();
        row.healthy += snap.instances_flat().iter().filter(|i| i.healthy()).count();
    });
    rows.into_values().collect()
}

/// `?namespace=`.
#[derive(Debug, Deserialize)]
pub(super) struct NamespaceQuery {
    namespace: String,
}

/// One service in the list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ServiceRow {
    group: String,
    name: String,
    instances: usize,
    healthy: usize,
    protect_threshold: f32,
}

/// `GET /console/api/services?namespace=`.
pub(super) async fn services(
    Shared(state): Api,
    Query(q): Query<NamespaceQuery>,
) -> Json<Arc<Vec<ServiceRow>>> {
    // Only a namespace that holds services gets a place in the listings.
    let held = crate::model::NamespaceId::new(&q.namespace)
        .map_or(0, |ns| state.backend.registry().store().services_in(&ns));
    if held == 0 {
        return Json(Arc::new(Vec::new()));
    }
    Json(
        listing(
            &state,
            |l| l.services.entry(q.namespace.clone()).or_default(),
            || service_rows(&state, &q.namespace),
        )
        .await,
    )
}

fn service_rows(state: &State, namespace: &str) -> Vec<ServiceRow> {
    let mut rows = Vec::new();
    state.backend.registry().store().for_each(|snap| {
        let key = snap.key();
        if key.namespace().as_str() != namespace {
            return;
        }
        rows.push(ServiceRow {
            group: key.group().as_str().to_owned(),
            name: key.service().as_str().to_owned(),
            instances: snap.instance_count(),
            healthy: snap.instances_flat().iter().filter(|i| i.healthy()).count(),
            protect_threshold: snap.settings().protect_threshold,
        });
    });
    rows.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
    rows
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
}

/// A service's instances.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InstancesAnswer {
    protect_threshold: f32,
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
    Shared(state): Api,
    Query(q): Query<ServiceQuery>,
) -> Result<Json<InstancesAnswer>, ConsoleError> {
    let key = q.key()?;
    let registry = state.backend.registry();
    let snap = registry
        .store()
        .load(&key)
        .ok_or_else(|| ConsoleError::NoService(key.to_string()))?;
    let now = registry.clock().now();
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
            InstanceRow {
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
    Shared(state): Api,
    Json(body): Json<UpdateBody>,
) -> Result<Json<u64>, ConsoleError> {
    let (service, instance) = body.instance.keys()?;
    let update = InstanceUpdate {
        weight: body.weight,
        enabled: body.enabled,
        ..Default::default()
    };
    let output = state
        .backend
        .execute(Command::update(&service, &instance, update))
        .await?;
    Ok(Json(output.into_revision()?))
}

/// `DELETE /console/api/instance?...` → whether it was registered.
pub(super) async fn deregister(
    Shared(state): Api,
    Query(q): Query<InstanceQuery>,
) -> Result<Json<bool>, ConsoleError> {
    let (service, instance) = q.keys()?;
    let output = state
        .backend
        .execute(Command::deregister(&service, &instance))
        .await?;
    Ok(Json(output.into_deregistered()?))
}

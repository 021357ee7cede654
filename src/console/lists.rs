//! The console's namespace and service lists: made at most once a second and only after a
//! change, shared by every caller, and filtered per request for a caller who may read only
//! part of what they hold.
//!
//! With auth on, the namespace list needs a valid token ([`Need::ListAll`]): the global admin
//! sees it whole; anyone else sees the namespaces where it may read at least one service, and
//! a namespace it may not read whole is counted from the services it may read (the same kept
//! service list, filtered), so a row never tells how many services or instances the caller
//! cannot see. The service list of a namespace needs [`Need::List`] on it: whole for a caller
//! who may read the namespace, filtered by the caller's [`Viewer`] otherwise. Nothing is kept
//! per caller.

use super::api::{Api, State};
use super::auth::Caller;
use crate::front::access::{AccessTarget, Need, Viewer};
use crate::http::access::refusal;
use crate::model::{NamespaceId, ServiceKey};
use axum::extract::{Query, State as Shared};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

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

/// One namespace in the list.
#[derive(Debug, Clone, Serialize)]
pub(super) struct NamespaceRow {
    #[serde(skip)]
    id: NamespaceId,
    namespace: String,
    /// The name an operator gave it through the namespace API; `public` for the default
    /// namespace; else its id.
    name: String,
    services: usize,
    instances: usize,
    healthy: usize,
}

/// `GET /console/api/namespaces`: every namespace that holds services, or, for a caller who
/// may not read them all, those where it may read some, counted over what it may read.
pub(super) async fn namespaces(caller: Caller, Shared(state): Api) -> Response {
    let allowed = match caller.check(&Need::ListAll) {
        Ok(allowed) => allowed,
        Err(e) => return refusal(&e),
    };
    let rows = listing(&state, |l| &mut l.namespaces, || namespace_rows(&state)).await;
    #[cfg(feature = "control")]
    let rows = named(&state, rows);
    let Some(viewer) = allowed.viewer() else {
        return Json(rows).into_response();
    };
    let mut shown = Vec::new();
    for row in rows.iter() {
        if viewer.may_read_namespace(&row.id) {
            shown.push(row.clone());
            continue;
        }
        let mut counted = NamespaceRow {
            services: 0,
            instances: 0,
            healthy: 0,
            ..row.clone()
        };
        for service in service_listing(&state, &row.id).await.iter() {
            if viewer.may_read(&service.key) {
                counted.services += 1;
                counted.instances += service.instances;
                counted.healthy += service.healthy;
            }
        }
        if counted.services > 0 {
            shown.push(counted);
        }
    }
    Json(shown).into_response()
}

/// `public` for the default namespace, else the id.
fn display_name(id: &NamespaceId) -> String {
    if id.as_str() == crate::model::DEFAULT_NAMESPACE {
        "public".to_owned()
    } else {
        id.as_str().to_owned()
    }
}

/// `rows` with the control plane's namespaces: each created one named, and listed (empty)
/// when it holds no service. Made per request over the kept list: a namespace created through
/// the API is no change of the registry's, and the control plane's state is read without a
/// lock.
#[cfg(feature = "control")]
fn named(state: &State, rows: Arc<Vec<NamespaceRow>>) -> Arc<Vec<NamespaceRow>> {
    let Some(control) = &state.control else {
        return rows;
    };
    let control = control.state();
    if control.namespaces().next().is_none() {
        return rows;
    }
    let mut by_id: BTreeMap<String, NamespaceRow> = rows
        .iter()
        .map(|r| (r.namespace.clone(), r.clone()))
        .collect();
    for ns in control.namespaces() {
        let row = by_id
            .entry(ns.id.as_str().to_owned())
            .or_insert_with(|| NamespaceRow {
                id: ns.id.clone(),
                namespace: ns.id.as_str().to_owned(),
                name: String::new(),
                services: 0,
                instances: 0,
                healthy: 0,
            });
        row.name.clone_from(&ns.name);
    }
    Arc::new(by_id.into_values().collect())
}

fn namespace_rows(state: &State) -> Vec<NamespaceRow> {
    let mut rows: BTreeMap<String, NamespaceRow> = BTreeMap::new();
    state.backend.registry().store().for_each(|snap| {
        let id = snap.key().namespace();
        let ns = id.as_str();
        let row = rows.entry(ns.to_owned()).or_insert_with(|| NamespaceRow {
            id: id.clone(),
            namespace: ns.to_owned(),
            name: display_name(id),
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
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ServiceRow {
    #[serde(skip)]
    key: ServiceKey,
    group: String,
    name: String,
    instances: usize,
    healthy: usize,
    protect_threshold: f32,
}

/// `GET /console/api/services?namespace=`: the namespace's services, or those of them the
/// caller may read.
pub(super) async fn services(
    caller: Caller,
    Shared(state): Api,
    Query(q): Query<NamespaceQuery>,
) -> Response {
    let namespace = NamespaceId::new(&q.namespace);
    // A name that is not a namespace holds nothing; asking still takes a valid caller.
    let need = match &namespace {
        Ok(ns) => Need::List(AccessTarget::group(ns.clone(), None)),
        Err(_) => Need::ListAll,
    };
    let allowed = match caller.check(&need) {
        Ok(allowed) => allowed,
        Err(e) => return refusal(&e),
    };
    let Ok(namespace) = namespace else {
        return Json(Vec::<ServiceRow>::new()).into_response();
    };
    let rows = service_listing(&state, &namespace).await;
    match allowed.viewer() {
        None => Json(rows).into_response(),
        Some(viewer) => Json(readable(&rows, viewer)).into_response(),
    }
}

/// The services of `rows` that `viewer` may read.
fn readable(rows: &[ServiceRow], viewer: &Viewer) -> Vec<ServiceRow> {
    rows.iter()
        .filter(|row| viewer.may_read(&row.key))
        .cloned()
        .collect()
}

/// The kept service list of `namespace` (empty, and kept nowhere, when it holds none).
async fn service_listing(state: &State, namespace: &NamespaceId) -> Arc<Vec<ServiceRow>> {
    // Only a namespace that holds services gets a place in the listings.
    if state.backend.registry().store().services_in(namespace) == 0 {
        return Arc::new(Vec::new());
    }
    listing(
        state,
        |l| l.services.entry(namespace.as_str().to_owned()).or_default(),
        || service_rows(state, namespace),
    )
    .await
}

fn service_rows(state: &State, namespace: &NamespaceId) -> Vec<ServiceRow> {
    let mut rows = Vec::new();
    state.backend.registry().store().for_each(|snap| {
        let key = snap.key();
        if key.namespace() != namespace {
            return;
        }
        rows.push(ServiceRow {
            key: key.clone(),
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

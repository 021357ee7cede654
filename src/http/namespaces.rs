//! Nacos' namespace API over the control plane (features `http` and `control`), served when
//! the host gives [`super::NacosApi::control`].
//!
//! | endpoint | answer |
//! | --- | --- |
//! | `GET /nacos/v1/console/namespaces` | `{"code":200,"message":null,"data":[namespace...]}`, `public` first |
//! | `GET /nacos/v1/console/namespaces?show=all&namespaceId=ID` | one namespace (blank or `public`: `public`); 404 if unknown |
//! | `GET /nacos/v1/console/namespaces?checkNamespaceIdExist=true&customNamespaceId=ID` | `true` / `false` |
//! | `POST /nacos/v1/console/namespaces` | `customNamespaceId` (blank: a random UUID), `namespaceName`, `namespaceDesc` → `true` |
//! | `PUT /nacos/v1/console/namespaces` | `namespace`, `namespaceShowName`, `namespaceDesc` → `true` |
//! | `DELETE /nacos/v1/console/namespaces` | `namespaceId` → `true` |
//! | `GET /nacos/v2/console/namespace/list` | `{"code":0,"message":"success","data":[namespace...]}` |
//! | `GET`, `POST`, `PUT`, `DELETE /nacos/v2/console/namespace` | as v1, with `namespaceId`, `namespaceName`, `namespaceDesc`, answered as `{"code":0,"message":"success","data":...}` |
//!
//! A namespace is `{"namespace","namespaceShowName","namespaceDesc","quota","configCount",
//! "type","created"}`: `public` as Nacos 2.x lists it (`namespace` `""`, name `public`,
//! `Default Namespace`, type 0), a created one with type 2 (Nacos 2.x' `CUSTOM`), quota 200,
//! `configCount` 0 (nacre holds no configuration). The shapes, parameters, rules and messages
//! are Nacos 2.5's (`console/.../controller/NamespaceController.java`, `v2/NamespaceControllerV2.java`,
//! `core/.../service/NamespaceOperationService.java`, `api/.../model/response/Namespace.java`).
//!
//! Auth (with [`super::NacosApi::access`]): the reads need a valid token and show the
//! namespaces where the caller may read something (all of them to the global admin); a
//! namespace the caller may not see answers 403. The writes need the global admin.
//!
//! ## Differences from Nacos
//!
//! - Nacos lists only the namespaces created through this API. nacre also lists the
//!   namespaces that hold services but were never created (a client may register into any
//!   namespace id, here as in Nacos), with `"created": false`, the id as name and type 2;
//!   created ones carry `"created": true`. Such a namespace can be created afterwards, which
//!   gives it a name; deleting a namespace deletes its name and description, not its services.
//! - A refused write answers 400 (404 for an unknown namespace, 429 over the limit, 503 when
//!   the control plane has stopped) with the reason; with no leader, 500 and Nacos' "did not
//!   find the Leader node" (see `namespace_error`). Nacos' v1 answers 200 `false` for a bad
//!   id or name and for an existing id, and 200 `true` for an update or delete of an unknown
//!   namespace; nacre answers 404 to the update and `true` to the delete (nothing to delete).
//!   The v2 routes answer as Nacos' do: 400 with `{"code":22000|22002,...}`, 404 with 22001.
//! - `public` cannot be created, changed or deleted (400). Nacos refuses to create it, and
//!   changes or deletes a database row that does not exist.
//! - Names are also bounded (128 bytes, no control characters) and so are descriptions (256
//!   bytes), Nacos' column sizes; Nacos lets the database refuse them.
//! - The list comes in id order; Nacos' comes in database order.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Serialize;

use super::namespace_error::NamespaceApiError;
use super::params::Params;
use super::paths::{NAMESPACES_PATH, NAMESPACE_V2_LIST_PATH, NAMESPACE_V2_PATH};
use crate::control::{
    ControlCommand, ControlPlane, ControlResponse, Namespace, DEFAULT_NAMESPACE_QUOTA,
};
use crate::front::access::Viewer;
use crate::front::Backend;
use crate::model::{NamespaceId, DEFAULT_NAMESPACE, MAX_NAMESPACE_LEN};

/// Nacos' type of the default namespace (`NamespaceTypeEnum.GLOBAL`).
const TYPE_GLOBAL: u8 = 0;
/// Nacos 2.x' type of a namespace made through the API (`NamespaceTypeEnum.CUSTOM`).
const TYPE_CUSTOM: u8 = 2;
/// The characters Nacos refuses in a namespace name.
const ILLEGAL_NAME_CHARS: &[char] = &['@', '#', '$', '%', '^', '&', '*'];

/// What the namespace routes share.
#[derive(Debug, Clone)]
struct Shared {
    control: Arc<dyn ControlPlane>,
    backend: Backend,
}

type Ns = State<Shared>;
type Answer = Result<Response, NamespaceApiError>;

/// The namespace routes over `control`, listing the namespaces `backend` holds services in.
pub(crate) fn router(control: Arc<dyn ControlPlane>, backend: Backend) -> Router {
    Router::new()
        .route(
            NAMESPACES_PATH,
            get(v1_read)
                .post(v1_create)
                .put(v1_update)
                .delete(v1_delete),
        )
        .route(NAMESPACE_V2_LIST_PATH, get(v2_list))
        .route(
            NAMESPACE_V2_PATH,
            get(v2_get).post(v2_create).put(v2_update).delete(v2_delete),
        )
        .with_state(Shared { control, backend })
}

/// One namespace as Nacos answers it (`Namespace.java`), and whether it was created.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct NamespaceJson {
    namespace: String,
    namespace_show_name: String,
    namespace_desc: String,
    quota: u32,
    config_count: u32,
    #[serde(rename = "type")]
    kind: u8,
    created: bool,
    #[serde(skip)]
    id: NamespaceId,
}

impl NamespaceJson {
    fn public() -> Self {
        NamespaceJson {
            namespace: String::new(),
            namespace_show_name: DEFAULT_NAMESPACE.to_owned(),
            namespace_desc: "Default Namespace".to_owned(),
            quota: DEFAULT_NAMESPACE_QUOTA,
            config_count: 0,
            kind: TYPE_GLOBAL,
            created: true,
            id: NamespaceId::default(),
        }
    }

    fn created(ns: &Namespace) -> Self {
        NamespaceJson {
            namespace: ns.id.to_string(),
            namespace_show_name: ns.name.clone(),
            namespace_desc: ns.description.clone(),
            quota: ns.quota,
            config_count: 0,
            kind: TYPE_CUSTOM,
            created: true,
            id: ns.id.clone(),
        }
    }

    fn holding_services(id: &NamespaceId) -> Self {
        NamespaceJson {
            namespace: id.to_string(),
            namespace_show_name: id.to_string(),
            namespace_desc: String::new(),
            quota: DEFAULT_NAMESPACE_QUOTA,
            config_count: 0,
            kind: TYPE_CUSTOM,
            created: false,
            id: id.clone(),
        }
    }
}

/// Nacos' v2 `Result` of a success.
#[derive(Debug, Serialize)]
struct V2Result<T> {
    code: u32,
    message: &'static str,
    data: T,
}

fn v2_ok<T: Serialize>(data: T) -> Response {
    Json(V2Result {
        code: 0,
        message: "success",
        data,
    })
    .into_response()
}

/// A v2 error: its status, with Nacos' `Result` carrying the reason.
fn v2_error(error: NamespaceApiError) -> Response {
    let (code, message) = error.code();
    let body = V2Result {
        code,
        message,
        data: error.to_string(),
    };
    (error.status(), Json(body)).into_response()
}

fn v1_error(error: NamespaceApiError) -> Response {
    (error.status(), error.v1_body()).into_response()
}

fn v1(answer: Answer) -> Response {
    answer.unwrap_or_else(v1_error)
}

fn v2(answer: Answer) -> Response {
    answer.unwrap_or_else(v2_error)
}

/// Whether the viewer (none: the whole is granted) may see `id`: it may read the namespace
/// whole, or one of its services.
fn visible(shared: &Shared, viewer: Option<&Viewer>, id: &NamespaceId) -> bool {
    let Some(viewer) = viewer else {
        return true;
    };
    viewer.may_read_namespace(id)
        || shared
            .backend
            .registry()
            .store()
            .live_keys_of(id)
            .as_slice()
            .iter()
            .any(|key| viewer.may_read(key))
}

/// Every namespace the viewer may see: `public` first, then the rest by id.
fn list(shared: &Shared, viewer: Option<&Viewer>) -> Vec<NamespaceJson> {
    let state = shared.control.state();
    let mut rows: BTreeMap<NamespaceId, NamespaceJson> = state
        .namespaces()
        .map(|ns| (ns.id.clone(), NamespaceJson::created(ns)))
        .collect();
    for id in shared.backend.registry().store().namespaces() {
        if id.as_str() != DEFAULT_NAMESPACE {
            rows.entry(id.clone())
                .or_insert_with(|| NamespaceJson::holding_services(&id));
        }
    }
    std::iter::once(NamespaceJson::public())
        .chain(rows.into_values())
        .filter(|row| visible(shared, viewer, &row.id))
        .collect()
}

/// One namespace (blank or `public`: `public`), if the viewer may see it.
fn one(
    shared: &Shared,
    viewer: Option<&Viewer>,
    raw: Option<&str>,
) -> Result<NamespaceJson, NamespaceApiError> {
    let row = match raw.map(str::trim) {
        None | Some(DEFAULT_NAMESPACE) => NamespaceJson::public(),
        Some(raw) => {
            let not_found = || NamespaceApiError::NotFound(crate::model::excerpt(raw));
            let id = NamespaceId::new(raw).map_err(|_| not_found())?;
            match shared.control.state().namespace(id.as_str()) {
                Some(ns) => NamespaceJson::created(ns),
                None if !shared
                    .backend
                    .registry()
                    .store()
                    .live_keys_of(&id)
                    .is_empty() =>
                {
                    NamespaceJson::holding_services(&id)
                }
                None => return Err(not_found()),
            }
        }
    };
    if !visible(shared, viewer, &row.id) {
        return Err(NamespaceApiError::Hidden {
            caller: viewer.map(|v| v.caller().to_owned()).unwrap_or_default(),
            namespace: row.id.to_string(),
        });
    }
    Ok(row)
}

/// A namespace id as Nacos takes it (trimmed, `[A-Za-z0-9_-]+`, at most 128 characters) and
/// as nacre does ([`NamespaceId::new`]).
fn parse_id(raw: &str) -> Result<NamespaceId, NamespaceApiError> {
    let raw = raw.trim();
    if raw.len() > MAX_NAMESPACE_LEN {
        return Err(NamespaceApiError::bad_id(
            raw,
            format!("too long namespaceId, over {MAX_NAMESPACE_LEN}"),
        ));
    }
    if !raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(NamespaceApiError::bad_id(
            raw,
            "only letters, digits, `_` and `-` are allowed",
        ));
    }
    NamespaceId::new(raw).map_err(|e| NamespaceApiError::bad_id(raw, e.to_string()))
}

/// A namespace name as Nacos takes it (none of `@#$%^&*`).
fn check_name(name: &str) -> Result<(), NamespaceApiError> {
    if name.contains(ILLEGAL_NAME_CHARS) {
        return Err(NamespaceApiError::bad_name(name, "contains illegal char"));
    }
    Ok(())
}

/// A random UUID (version 4 form), Nacos' id of a namespace created without one.
fn random_id() -> String {
    let bits = fastrand::u128(..);
    let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Writes `command`: `true` when applied, the rule it broke otherwise.
async fn write(shared: &Shared, command: ControlCommand) -> Result<bool, NamespaceApiError> {
    tracing::debug!(?command, "namespace write");
    match shared.control.write(command).await? {
        ControlResponse::Rejected(e) => Err(NamespaceApiError::Refused(e)),
        _ => Ok(true),
    }
}

async fn create(shared: &Shared, id: Option<&str>, name: &str, desc: &str) -> Answer {
    let id = match id {
        Some(raw) => parse_id(raw)?,
        None => parse_id(&random_id())?,
    };
    check_name(name)?;
    let namespace = Namespace::new(id, name, desc, DEFAULT_NAMESPACE_QUOTA)
        .map_err(NamespaceApiError::Refused)?;
    let done = write(shared, ControlCommand::CreateNamespace(namespace)).await?;
    Ok(Json(done).into_response())
}

async fn update(shared: &Shared, raw_id: &str, name: &str, desc: &str) -> Answer {
    let id = parse_id(raw_id)?;
    check_name(name)?;
    let quota = shared
        .control
        .state()
        .namespace(id.as_str())
        .map_or(DEFAULT_NAMESPACE_QUOTA, |ns| ns.quota);
    let namespace = Namespace::new(id, name, desc, quota).map_err(NamespaceApiError::Refused)?;
    let done = write(shared, ControlCommand::UpdateNamespace(namespace)).await?;
    Ok(Json(done).into_response())
}

async fn delete(shared: &Shared, raw_id: &str) -> Answer {
    let id = parse_id(raw_id)?;
    match write(shared, ControlCommand::DeleteNamespace { id }).await {
        // Nothing to delete: done, as Nacos answers.
        Err(NamespaceApiError::Refused(crate::control::ControlError::NamespaceNotFound(_))) => {
            Ok(Json(true).into_response())
        }
        other => Ok(Json(other?).into_response()),
    }
}

fn required<'a>(p: &'a Params, name: &'static str) -> Result<&'a str, NamespaceApiError> {
    p.get(name).ok_or(NamespaceApiError::Missing(name))
}

fn viewer_of(viewer: &Option<Extension<Viewer>>) -> Option<&Viewer> {
    viewer.as_ref().map(|Extension(v)| v)
}

/// `GET` v1: the list, one namespace (`show=all`), or whether an id exists
/// (`checkNamespaceIdExist=true`).
async fn v1_read(State(shared): Ns, viewer: Option<Extension<Viewer>>, p: Params) -> Response {
    let viewer = viewer_of(&viewer);
    if p.get("show") == Some("all") {
        return v1(one(&shared, viewer, p.get("namespaceId")).map(|row| Json(row).into_response()));
    }
    if p.get("checkNamespaceIdExist") == Some("true") {
        let exists = p
            .get("customNamespaceId")
            .is_some_and(|id| shared.control.state().namespace(id.trim()).is_some());
        return Json(exists).into_response();
    }
    Json(serde_json::json!({
        "code": 200,
        "message": null,
        "data": list(&shared, viewer),
    }))
    .into_response()
}

async fn v1_create(State(shared): Ns, p: Params) -> Response {
    let answer = async {
        let name = required(&p, "namespaceName")?;
        let desc = p.get("namespaceDesc").unwrap_or("");
        create(&shared, p.get("customNamespaceId"), name, desc).await
    };
    v1(answer.await)
}

async fn v1_update(State(shared): Ns, p: Params) -> Response {
    let answer = async {
        let id = required(&p, "namespace")?;
        let name = required(&p, "namespaceShowName")?;
        update(&shared, id, name, p.get("namespaceDesc").unwrap_or("")).await
    };
    v1(answer.await)
}

async fn v1_delete(State(shared): Ns, p: Params) -> Response {
    let answer = async { delete(&shared, required(&p, "namespaceId")?).await };
    v1(answer.await)
}

async fn v2_list(State(shared): Ns, viewer: Option<Extension<Viewer>>) -> Response {
    v2_ok(list(&shared, viewer_of(&viewer)))
}

async fn v2_get(State(shared): Ns, viewer: Option<Extension<Viewer>>, p: Params) -> Response {
    let viewer = viewer_of(&viewer);
    let answer = required(&p, "namespaceId").and_then(|id| one(&shared, viewer, Some(id)));
    v2(answer.map(v2_ok))
}

async fn v2_create(State(shared): Ns, p: Params) -> Response {
    let answer = async {
        // Sent blank, the id is made up; not sent at all, it is missing (Nacos' form check).
        if !p.present("namespaceId") {
            return Err(NamespaceApiError::Missing("namespaceId"));
        }
        let name = required(&p, "namespaceName")?;
        let desc = p.get("namespaceDesc").unwrap_or("");
        create(&shared, p.get("namespaceId"), name, desc).await
    };
    v2(wrap(answer.await))
}

async fn v2_update(State(shared): Ns, p: Params) -> Response {
    let answer = async {
        let id = required(&p, "namespaceId")?;
        let name = required(&p, "namespaceName")?;
        update(&shared, id, name, p.get("namespaceDesc").unwrap_or("")).await
    };
    v2(wrap(answer.await))
}

async fn v2_delete(State(shared): Ns, p: Params) -> Response {
    let answer = async { delete(&shared, required(&p, "namespaceId")?).await };
    v2(wrap(answer.await))
}

/// A write's `true` as v2 answers it.
fn wrap(answer: Answer) -> Answer {
    answer.map(|_| v2_ok(true))
}

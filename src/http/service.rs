//! The service endpoints: `POST`, `DELETE`, `PUT` and `GET /nacos/v1/ns/service`,
//! `GET /nacos/v1/ns/service/list` and `GET /nacos/v1/ns/service/names`.

use super::error::ApiError;
use super::json::{
    ClusterJson, HealthCheckerJson, SelectorJson, ServiceDetailJson, ServiceListJson,
    ServiceNamesJson,
};
use super::params::{ParamError, Params};
use super::state::{Api, ApiState};
use crate::front::access::Viewer;
use crate::front::catalog::{self, ServiceFilter, TextFilter};
use crate::model::{ClusterName, ServiceKey};
use crate::registry::Command;
use crate::store::ServiceSnapshot;
use axum::extract::State;
use axum::Extension;
use axum::Json;
use std::collections::BTreeMap;

/// nacre has no selectors: a `selector` parameter may only say `{"type":"none"}`.
fn check_selector(p: &Params) -> Result<(), ParamError> {
    let Some(raw) = p.get("selector") else {
        return Ok(());
    };
    let none = serde_json::from_str::<SelectorJson>(raw)
        .is_ok_and(|s| s.kind.eq_ignore_ascii_case("none"));
    if none {
        Ok(())
    } else {
        Err(ParamError::malformed(
            "selector",
            raw,
            r#"`{"type":"none"}` (nacre supports no other selector)"#,
        ))
    }
}

/// `POST /nacos/v1/ns/service`: creates an empty service (`protectThreshold` default 0,
/// `metadata`); answers `ok`. An existing service answers 400.
pub(crate) async fn create(State(api): Api, p: Params) -> Result<&'static str, ApiError> {
    let service = p.service_key()?;
    let settings = p.service_settings(Some(0.0))?;
    check_selector(&p)?;
    api.backend
        .execute(Command::create_service(&service, settings))
        .await?;
    Ok("ok")
}

/// `DELETE /nacos/v1/ns/service`: removes a service that holds no instances; answers `ok`.
pub(crate) async fn remove(State(api): Api, p: Params) -> Result<&'static str, ApiError> {
    let service = p.service_key()?;
    api.backend
        .execute(Command::remove_service(&service))
        .await?;
    Ok("ok")
}

/// `PUT /nacos/v1/ns/service`: replaces a service's settings (`protectThreshold` required,
/// `metadata` replaced, empty when absent, as in Nacos); answers `ok`.
pub(crate) async fn update(State(api): Api, p: Params) -> Result<&'static str, ApiError> {
    let service = p.service_key()?;
    let settings = p.service_settings(None)?;
    check_selector(&p)?;
    api.backend
        .execute(Command::update_service(&service, settings))
        .await?;
    Ok("ok")
}

/// `GET /nacos/v1/ns/service`: a service's settings and clusters.
pub(crate) async fn detail(
    State(api): Api,
    p: Params,
) -> Result<Json<ServiceDetailJson>, ApiError> {
    let service = p.service_key()?;
    let snapshot = api.backend.registry().service(&service).ok_or_else(|| {
        ApiError::NotFound(format!("service {} is not found!", service.grouped_name()))
    })?;
    let settings = snapshot.settings();
    Ok(Json(ServiceDetailJson {
        namespace_id: service.namespace().to_string(),
        group_name: service.group().to_string(),
        name: service.service().to_string(),
        protect_threshold: settings.protect_threshold,
        metadata: settings.metadata.clone(),
        selector: SelectorJson {
            kind: "none".to_owned(),
        },
        clusters: snapshot
            .cluster_names()
            .map(|name| cluster_json(&api, &service, name))
            .collect(),
    }))
}

/// One cluster of the service detail: its settings from the control plane if it has some,
/// else its checker as the active checks see it (`NONE` when none run), no metadata.
pub(super) fn cluster_json(
    api: &ApiState,
    service: &ServiceKey,
    name: &ClusterName,
) -> ClusterJson {
    #[cfg(feature = "control")]
    if let Some(control) = &api.control {
        if let Some(settings) = control.state().cluster_settings(service, name) {
            return ClusterJson {
                name: name.to_string(),
                health_checker: super::cluster::checker_json(&settings.checker),
                metadata: settings.metadata.clone(),
            };
        }
    }
    let kind = match &api.checks {
        Some(checks) => match checks.check_of(service, name).checker {
            crate::probe::Checker::Tcp => "TCP",
            crate::probe::Checker::Http(_) => "HTTP",
            crate::probe::Checker::None => "NONE",
        },
        None => "NONE",
    };
    ClusterJson {
        name: name.to_string(),
        health_checker: HealthCheckerJson::of_type(kind),
        metadata: BTreeMap::new(),
    }
}

/// `GET /nacos/v1/ns/service/list`: one page (`pageNo` from 1, `pageSize`, both required) of
/// the service names of a namespace and group, in name order: `{"count":N,"doms":[...]}`.
///
/// `groupName=*` means every group, as in Nacos 1.x: the names then carry their group
/// (`group@@service`), in group then name order. (Nacos 2.x reads `*` as a group name and
/// finds nothing.)
pub(crate) async fn list(
    State(api): Api,
    viewer: Option<Extension<Viewer>>,
    p: Params,
) -> Result<Json<ServiceListJson>, ApiError> {
    let page_no = p.positive("pageNo")?;
    let page_size = p.positive("pageSize")?;
    let namespace = p.namespace()?;
    let all_groups = p.get("groupName").map(str::trim) == Some(ALL_GROUPS);
    if all_groups || viewer.is_some() {
        // Every group, or one group seen by a caller who may read only some of it.
        let filter = ServiceFilter {
            group: if all_groups {
                TextFilter::Any
            } else {
                TextFilter::Exact(p.group()?.to_string())
            },
            viewer: viewer.map(|Extension(v)| v),
            ..ServiceFilter::in_namespace(&namespace)
        };
        let found = catalog::list_services(api.backend.registry(), &filter);
        let page = catalog::page(found, page_no, page_size);
        let name = |s: &ServiceSnapshot| match all_groups {
            true => s.key().grouped_name(),
            false => s.key().service().to_string(),
        };
        return Ok(Json(ServiceListJson {
            count: page.count,
            doms: page.items.iter().map(|s| name(s)).collect(),
        }));
    }
    let group = p.group()?;
    let page = api
        .backend
        .registry()
        .get_service_list(&namespace, &group, page_no, page_size);
    Ok(Json(ServiceListJson {
        count: page.count,
        doms: page.services.iter().map(ToString::to_string).collect(),
    }))
}

/// The `groupName` of `GET /nacos/v1/ns/service/list` that means every group.
const ALL_GROUPS: &str = "*";

/// `GET /nacos/v1/ns/service/names` (any method, as in Nacos): the `group@@service` names that
/// contain `expr` (blank: all), by namespace, in name order; `namespaceId` blank or absent
/// means every namespace that holds a service (each listed, even when none of its names
/// matches). Answers `{"services":{ns:[...]},"META-INF/services":{ns:[...]},"count":N}` (see
/// [`ServiceNamesJson`] for the two keys).
pub(crate) async fn names(
    State(api): Api,
    viewer: Option<Extension<Viewer>>,
    p: Params,
) -> Result<Json<ServiceNamesJson>, ApiError> {
    let namespace = p.get("namespaceId").map(|_| p.namespace()).transpose()?;
    let wanted = TextFilter::containing(p.get("expr"));
    let filter = ServiceFilter {
        namespace: namespace.clone(),
        viewer: viewer.map(|Extension(v)| v),
        ..ServiceFilter::default()
    };
    let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(ns) = &namespace {
        services.insert(ns.to_string(), Vec::new());
    }
    let mut count = 0;
    for snap in catalog::list_services(api.backend.registry(), &filter) {
        let key = snap.key();
        let names = services.entry(key.namespace().to_string()).or_default();
        let grouped = key.grouped_name();
        if wanted.matches(&grouped) {
            names.push(grouped);
            count += 1;
        }
    }
    Ok(Json(ServiceNamesJson {
        services_since_nacos_2_3: services.clone(),
        services,
        count,
    }))
}

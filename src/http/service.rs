//! The service endpoints: `POST`, `DELETE`, `PUT` and `GET /nacos/v1/ns/service`, and
//! `GET /nacos/v1/ns/service/list`.

use super::error::ApiError;
use super::json::{
    ClusterJson, HealthCheckerJson, SelectorJson, ServiceDetailJson, ServiceListJson,
};
use super::params::{ParamError, Params};
use super::router::ApiState;
use crate::registry::Command;
use axum::extract::State;
use axum::Json;
use std::collections::BTreeMap;
use std::sync::Arc;

type Api = State<Arc<ApiState>>;

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
            .map(|name| ClusterJson {
                name: name.to_string(),
                health_checker: HealthCheckerJson {
                    kind: "NONE".to_owned(),
                },
                metadata: BTreeMap::new(),
            })
            .collect(),
    }))
}

/// `GET /nacos/v1/ns/service/list`: one page (`pageNo` from 1, `pageSize`, both required) of
/// the service names of a namespace and group, in name order.
pub(crate) async fn list(State(api): Api, p: Params) -> Result<Json<ServiceListJson>, ApiError> {
    let page_no = p.positive("pageNo")?;
    let page_size = p.positive("pageSize")?;
    let namespace = p.namespace()?;
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

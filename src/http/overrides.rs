//! Operators' overrides of instances over the v1 API (feature `control`, with
//! [`super::NacosApi::control`]).
//!
//! - `PUT` and `PATCH /nacos/v1/ns/instance` keep what they set (the enabled flag, the weight,
//!   the metadata keys) as the instance id's override in the control plane ([`keep`]) before
//!   they change the instance, so the client's next registration, a reconnect or a restart of
//!   the client does not undo them (see `crate::registry`'s overrides). Without a control plane
//!   they change the instance only, as Nacos does.
//! - `GET /nacos/v1/ns/instance/override` (nacre's own): with `ip` and `port`, the override of
//!   that instance, 404 if none; without, every override of the service's instances.
//! - `DELETE /nacos/v1/ns/instance/override` (nacre's own): clears the override of `ip:port`
//!   (`clusterName`, or the one override with that address in the service). The instance keeps
//!   its values until its client registers it again; to undo a change at once, `PUT` or
//!   `PATCH` the values wanted.
//!
//! Both need the same permissions as the instance endpoints: reading needs `r` on the
//! service, clearing `w` (and, with address blocks, the instance's address in them).
//!
//! Without a control plane these paths answer 404, as the namespace API does.
//!
//! The answer's shape (`{"instanceId","clusterName","ip","port","enabled","weight",
//! "metadata"}`, an absent field `null`) is nacre's: Nacos has no overrides.

use super::error::ApiError;
use super::params::Params;
use super::state::{Api, ApiState};
use crate::control::{
    drop_kept_metadata, keep_edit, ControlCommand, ControlPlane, ControlResponse, InstanceOverride,
    KeepError, OverrideWeight,
};
use crate::model::{InstanceKey, ServiceKey};
use crate::store::InstanceUpdate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One override as `GET /nacos/v1/ns/instance/override` answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OverrideJson {
    instance_id: String,
    cluster_name: String,
    ip: String,
    port: u16,
    enabled: Option<bool>,
    weight: Option<f64>,
    metadata: BTreeMap<String, String>,
}

impl OverrideJson {
    fn of(service: &ServiceKey, key: &InstanceKey, o: &InstanceOverride) -> Self {
        OverrideJson {
            instance_id: key.instance_id(service).to_string(),
            cluster_name: key.cluster.to_string(),
            ip: key.endpoint.ip.to_string(),
            port: key.endpoint.port,
            enabled: o.enabled,
            weight: o.weight.map(OverrideWeight::get),
            metadata: o.metadata.clone(),
        }
    }
}

/// The service's overrides as the list answer holds them.
#[derive(Debug, Serialize)]
struct OverridesJson {
    service: String,
    overrides: Vec<OverrideJson>,
}

fn control(api: &ApiState) -> Result<&Arc<dyn ControlPlane>, ApiError> {
    api.control.as_ref().ok_or_else(|| {
        ApiError::NotFound("this node runs no control plane: it keeps no overrides".to_owned())
    })
}

/// Keeps `update` (what a `PUT` or `PATCH` sets on `key`) as the instance id's override, when
/// the node runs a control plane ([`crate::control::keep_edit`]).
pub(crate) async fn keep(
    api: &ApiState,
    service: &ServiceKey,
    key: &InstanceKey,
    update: &InstanceUpdate,
) -> Result<(), ApiError> {
    let Some(control) = api.control.as_ref() else {
        return Ok(());
    };
    let edit = keep_edit(control.as_ref(), service, key, update);
    api.backend
        .local_registry()
        .noting_edit(service, key, edit)
        .await
        .map_err(keep_error)
}

/// Removes the keys of `metadata` from the override kept for `key`, when the node runs a
/// control plane ([`crate::control::drop_kept_metadata`]).
pub(crate) async fn drop_kept(
    api: &ApiState,
    service: &ServiceKey,
    key: &InstanceKey,
    metadata: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let Some(control) = api.control.as_ref() else {
        return Ok(());
    };
    let keys: Vec<String> = metadata.keys().cloned().collect();
    let edit = drop_kept_metadata(control.as_ref(), service, key, &keys);
    api.backend
        .local_registry()
        .noting_edit(service, key, edit)
        .await
        .map_err(keep_error)
}

fn keep_error(e: KeepError) -> ApiError {
    match e {
        KeepError::Refused(e) => ApiError::Refused(e),
        KeepError::Unavailable(e) => ApiError::Control(e),
    }
}

/// The instance key an override request means: `clusterName` (default `DEFAULT`), or the one
/// override with that address in the service when that cluster has none.
fn override_key(control: &dyn ControlPlane, service: &ServiceKey, key: InstanceKey) -> InstanceKey {
    let state = control.state();
    if state.instance_override(service, &key).is_some() {
        return key;
    }
    let kept = state.service_overrides(service).map(|(k, _)| k.clone());
    super::instance::only_at(kept, &key).unwrap_or(key)
}

/// `GET /nacos/v1/ns/instance/override`: one override (`ip` and `port`) or the service's.
pub(crate) async fn read(State(api): Api, p: Params) -> Result<Response, ApiError> {
    let control = control(&api)?;
    let service = p.service_key()?;
    if p.get("ip").is_none() && p.get("port").is_none() {
        let state = control.state();
        let list = OverridesJson {
            service: service.grouped_name(),
            overrides: state
                .service_overrides(&service)
                .map(|(k, o)| OverrideJson::of(&service, k, o))
                .collect(),
        };
        return Ok(Json(list).into_response());
    }
    let key = override_key(control.as_ref(), &service, p.instance_key()?);
    let state = control.state();
    let Some(found) = state.instance_override(&service, &key) else {
        return Err(ApiError::NotFound(format!(
            "no override is kept for instance {}",
            key.instance_id(&service)
        )));
    };
    Ok(Json(OverrideJson::of(&service, &key, found)).into_response())
}

/// `DELETE /nacos/v1/ns/instance/override`: clears one override; `ok`, 404 if none is kept.
pub(crate) async fn clear(State(api): Api, p: Params) -> Result<&'static str, ApiError> {
    let control = control(&api)?;
    let service = p.service_key()?;
    let key = override_key(control.as_ref(), &service, p.instance_key()?);
    let command = ControlCommand::ClearOverride {
        service: service.clone(),
        instance: key,
    };
    match control.write(command).await? {
        ControlResponse::Rejected(crate::control::ControlError::OverrideNotFound(id)) => Err(
            ApiError::NotFound(format!("no override is kept for instance {id}")),
        ),
        ControlResponse::Rejected(e) => Err(ApiError::Refused(e)),
        _ => Ok("ok"),
    }
}

//! Metadata of many instances at once: `PUT` (set keys) and `DELETE` (remove keys)
//! `/nacos/v1/ns/instance/metadata/batch`, as Nacos 1.4+ serves them; the v2 API's route of
//! the same name answers the same list in its envelope.
//!
//! Parameters: `serviceName` (required, `group@@name` or with `groupName`), `namespaceId`,
//! `metadata` (required: a JSON object or `k1=v1,k2=v2`; for `DELETE` only its keys count),
//! `instances` (a JSON array of `{"ip","port","clusterName"}`, `clusterName` default
//! `DEFAULT`) and `consistencyType` (`persist` or not; read by Nacos to pick its store, and
//! here only to say what was asked). The answer lists what was changed:
//! `{"updated":["ip:port:unknown:cluster:ephemeral|persist", ...]}` (Nacos' form, `unknown`
//! being its site).
//!
//! - Without `instances` (or with `[]`) every instance of the service is meant; listed
//!   instances the service does not hold are left out of the answer, as in Nacos. An unknown
//!   service answers an empty list.
//! - `PUT` lays the keys over each instance's metadata, and with a control plane keeps them
//!   as the instance id's override (`super::overrides`), as `PUT /nacos/v1/ns/instance` does,
//!   so the client's next registration does not undo them. `DELETE` removes the keys from each
//!   instance and from its override, so they do not come back either.
//! - Persistent instances held by the control plane's log change through the log, like every
//!   other write of them.
//!
//! Differences from Nacos:
//! - An `instances` that is not a JSON array of instances answers 400. Nacos logs a warning
//!   and then changes **every** instance of the service, which a typo should not do.
//! - At most `Limits::max_instances_per_service` instances may be listed (400 beyond): a
//!   service cannot hold more.
//! - The answer's `ephemeral`/`persist` is the instance's own kind (Nacos writes the kind the
//!   request's instance JSON claims, `ephemeral` by default).
//! - Nacos keeps batch metadata beside the instance in its metadata store, applied to every
//!   member; nacre writes it into the instance (and the override), so it reaches subscribers as
//!   any other change does. Instances are changed one by one: an error (the registry's limits,
//!   no control-plane leader) answers that error, and the instances before it stay changed.
//!
//! Access: a write on the service. With address blocks on a role (`register_cidrs`), each
//! listed instance's address must be in them, and a caller so limited must list the
//! instances (`super::access`).

use super::error::ApiError;
use super::params::{parse_metadata, ParamError, Params};
use super::state::{Api, ApiState};
use crate::model::{ClusterName, Endpoint, InstanceKey, ServiceKey};
use crate::registry::Command;
use crate::store::InstanceUpdate;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The answer: what was changed, in Nacos' `ip:port:site:cluster:kind` form.
#[derive(Debug, Serialize)]
pub(crate) struct UpdatedJson {
    /// The changed instances.
    pub updated: Vec<String>,
}

/// What a batch does to the keys it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetadataOp {
    /// Sets them.
    Update,
    /// Removes them.
    Delete,
}

/// One instance of the `instances` parameter, as Nacos' clients write it (other fields are
/// ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    ip: String,
    port: serde_json::Value,
    #[serde(default)]
    cluster_name: Option<String>,
}

impl Target {
    fn key(self) -> Result<InstanceKey, ParamError> {
        let port = match &self.port {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| {
            ParamError::malformed("instances", &self.port.to_string(), "ports from 1 to 65535")
        })?;
        let endpoint = Endpoint::new(&self.ip, port).map_err(|source| ParamError::Invalid {
            name: "instances",
            source,
        })?;
        let cluster = match self.cluster_name.as_deref().map(str::trim) {
            None | Some("") => ClusterName::default(),
            Some(c) => ClusterName::new(c).map_err(|source| ParamError::Invalid {
                name: "instances",
                source,
            })?,
        };
        Ok(InstanceKey { cluster, endpoint })
    }
}

const INSTANCES_SHAPE: &str = "a JSON array of {\"ip\",\"port\",\"clusterName\"}";

/// The instances the `instances` parameter lists: none when it is absent, blank or `[]`.
fn listed(p: &Params, max: usize) -> Result<Vec<InstanceKey>, ParamError> {
    let Some(raw) = p.get("instances").map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    let targets: Vec<Target> = serde_json::from_str(raw)
        .map_err(|_| ParamError::malformed("instances", raw, INSTANCES_SHAPE))?;
    if targets.len() > max {
        return Err(ParamError::malformed(
            "instances",
            raw,
            "at most as many instances as a service may hold",
        ));
    }
    targets.into_iter().map(Target::key).collect()
}

/// The addresses a batch's `instances` parameter names, for the access check: `None` when it
/// names none (the batch then means every instance of the service) or cannot be read (the
/// route refuses it).
pub(crate) fn listed_ips(p: &Params) -> Option<Vec<IpAddr>> {
    let keys = listed(p, usize::MAX).ok()?;
    if keys.is_empty() {
        return None;
    }
    keys.iter()
        .map(|k| k.endpoint.ip.as_str().parse().ok())
        .collect()
}

/// Carries out a batch: the instances changed, in Nacos' answer form.
pub(crate) async fn run(
    api: &ApiState,
    p: &Params,
    op: MetadataOp,
) -> Result<Vec<String>, ApiError> {
    let service = p.service_key()?;
    let metadata = parse_metadata("metadata", p.required("metadata")?)?;
    let max = api.backend.registry().limits().max_instances_per_service;
    let listed = listed(p, max)?;
    let Some(snapshot) = api.backend.registry().service(&service) else {
        return Ok(Vec::new());
    };
    let targets: Vec<(InstanceKey, bool)> = if listed.is_empty() {
        snapshot
            .entries()
            .map(|e| (e.instance().key(), e.instance().ephemeral()))
            .collect()
    } else {
        listed
            .into_iter()
            .filter_map(|k| {
                let ephemeral = snapshot.entry(&k)?.instance().ephemeral();
                Some((k, ephemeral))
            })
            .collect()
    };
    drop(snapshot);
    let mut updated = Vec::with_capacity(targets.len());
    for (key, ephemeral) in targets {
        match op {
            MetadataOp::Update => set_keys(api, &service, &key, &metadata).await?,
            MetadataOp::Delete => drop_keys(api, &service, &key, &metadata).await?,
        }
        updated.push(format!(
            "{}:unknown:{}:{}",
            key.endpoint,
            key.cluster,
            if ephemeral { "ephemeral" } else { "persist" }
        ));
    }
    Ok(updated)
}

async fn set_keys(
    api: &ApiState,
    service: &ServiceKey,
    key: &InstanceKey,
    metadata: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let update = InstanceUpdate {
        weight: None,
        enabled: None,
        metadata: Some(metadata.clone()),
        merge_metadata: true,
    };
    #[cfg(feature = "control")]
    super::overrides::keep(api, service, key, &update).await?;
    apply(api, service, key, update).await
}

async fn drop_keys(
    api: &ApiState,
    service: &ServiceKey,
    key: &InstanceKey,
    metadata: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    #[cfg(feature = "control")]
    super::overrides::drop_kept(api, service, key, metadata).await?;
    let current = api
        .backend
        .registry()
        .service(service)
        .and_then(|s| s.entry(key).map(|e| e.instance().metadata().clone()));
    let Some(current) = current.filter(|m| metadata.keys().any(|k| m.contains_key(k))) else {
        return Ok(());
    };
    let kept = current
        .into_iter()
        .filter(|(k, _)| !metadata.contains_key(k))
        .collect();
    let update = InstanceUpdate {
        weight: None,
        enabled: None,
        metadata: Some(kept),
        merge_metadata: false,
    };
    apply(api, service, key, update).await
}

/// Changes one instance; one that left meanwhile is no error.
async fn apply(
    api: &ApiState,
    service: &ServiceKey,
    key: &InstanceKey,
    update: InstanceUpdate,
) -> Result<(), ApiError> {
    use crate::cluster::ClusterError;
    use crate::registry::StoreError;
    match api
        .backend
        .execute(Command::update(service, key, update))
        .await
    {
        Ok(_)
        | Err(ClusterError::Registry(
            StoreError::InstanceNotFound(_) | StoreError::ServiceNotFound(_),
        )) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `PUT /nacos/v1/ns/instance/metadata/batch`.
pub(crate) async fn update(State(api): Api, p: Params) -> Result<Json<UpdatedJson>, ApiError> {
    let updated = run(&api, &p, MetadataOp::Update).await?;
    Ok(Json(UpdatedJson { updated }))
}

/// `DELETE /nacos/v1/ns/instance/metadata/batch`.
pub(crate) async fn delete(State(api): Api, p: Params) -> Result<Json<UpdatedJson>, ApiError> {
    let updated = run(&api, &p, MetadataOp::Delete).await?;
    Ok(Json(UpdatedJson { updated }))
}

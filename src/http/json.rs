//! The JSON shapes of the Nacos v1 naming API, as serde types: what the router answers and
//! what [`super::HttpClientTransport`] reads back.
//!
//! Field names are Nacos'. Every field the client reads has a default, so answers from a real
//! Nacos server (1.x or 2.x), which leave some out, still parse.

use super::params::ParamError;
use crate::model::{Instance, ServiceKey};
use crate::protocol::{metadata, InstanceIn};
use crate::util::millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Nacos' answer code for a beat that was recorded.
pub(crate) const CODE_OK: i32 = 10200;
/// Nacos' answer code for a beat whose instance is unknown: the client registers it again.
pub(crate) const CODE_RESOURCE_NOT_FOUND: i32 = 20404;

use crate::protocol::json::yes;

use crate::protocol::json::InstanceJson;

/// The answer of `GET /nacos/v1/ns/instance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InstanceDetailJson {
    /// `group@@service`.
    pub service: String,
    /// The address.
    pub ip: String,
    /// The port.
    pub port: u16,
    /// The cluster.
    pub cluster_name: String,
    /// The weight.
    pub weight: f64,
    /// Whether it is healthy.
    pub healthy: bool,
    /// `ip#port#cluster#group@@service`.
    pub instance_id: String,
    /// Its metadata.
    pub metadata: BTreeMap<String, String>,
    /// Whether it takes traffic (not in Nacos' answer; added).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Whether it lives by heartbeats (not in Nacos' answer; added).
    #[serde(default = "yes")]
    pub ephemeral: bool,
}

/// The answer of `GET /nacos/v1/ns/instance/statuses`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InstanceStatusesJson {
    /// Every instance as `ip:port_healthy` (`10.0.0.1:8080_true`).
    #[serde(default)]
    pub ips: Vec<String>,
}

/// The answer of `PUT /nacos/v1/ns/instance/beat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BeatJson {
    /// How often to beat, in milliseconds.
    #[serde(default)]
    pub client_beat_interval: u64,
    /// [`CODE_OK`] or [`CODE_RESOURCE_NOT_FOUND`].
    #[serde(default)]
    pub code: i32,
    /// Whether later beats may leave out the instance data.
    #[serde(default)]
    pub light_beat_enabled: bool,
}

/// The `beat` parameter of `PUT /nacos/v1/ns/instance/beat`: the instance a client beats for.
/// Unknown fields (`scheduled`, `period`, `stopped`...) are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BeatRequestJson {
    /// `group@@service` (informational; the request's `serviceName` decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// The address.
    pub ip: String,
    /// The port.
    pub port: u16,
    /// The weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// The cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The metadata: text values; numbers and flags are taken as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, serde_json::Value>>,
    /// Whether the instance is ephemeral.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<bool>,
    /// The client's beat period, in milliseconds (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
}

impl BeatRequestJson {
    /// The beat of `instance` of `service`, every 'period'.
    pub(crate) fn from_instance(
        instance: &Instance,
        service: &ServiceKey,
        period: std::time::Duration,
    ) -> Self {
        Self {
            service_name: Some(service.grouped_name()),
            ip: instance.ip().to_string(),
            port: instance.port(),
            weight: Some(instance.weight()),
            cluster: Some(instance.cluster().to_string()),
            metadata: Some(metadata::to_json(instance.metadata())),
            ephemeral: Some(instance.ephemeral()),
            period: Some(millis(period)),
        }
    }

    /// The instance the beat describes, in `cluster` when the beat names none. Nacos'
    /// defaults apply: weight 1, ephemeral, healthy, enabled.
    pub(crate) fn into_instance(self, cluster: &str) -> Result<Instance, ParamError> {
        let cluster_name = self
            .cluster
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| cluster.to_owned());
        let instance = InstanceIn {
            ip: Some(self.ip),
            port: Some(i64::from(self.port)),
            weight: self.weight,
            ephemeral: self.ephemeral,
            cluster_name: Some(cluster_name),
            metadata: self.metadata,
            ..InstanceIn::default()
        };
        instance
            .into_instance(None)
            .map_err(|source| ParamError::Invalid {
                name: "beat",
                source,
            })
    }
}

/// The `selector` of a service: nacre has none, so always `{"type":"none"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SelectorJson {
    /// `none`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A health checker as Nacos shows it: `{"type":"TCP"}`, `{"type":"NONE"}`, or
/// `{"type":"HTTP","path":...,"headers":...,"expectedResponseCode":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HealthCheckerJson {
    /// `TCP`, `HTTP` or `NONE`.
    #[serde(rename = "type")]
    pub kind: String,
    /// An HTTP checker's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// An HTTP checker's headers (`name:value|name:value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<String>,
    /// An HTTP checker's expected status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_response_code: Option<u16>,
}

impl HealthCheckerJson {
    /// A checker with no fields but its type.
    pub(crate) fn of_type(kind: &str) -> Self {
        HealthCheckerJson {
            kind: kind.to_owned(),
            path: None,
            headers: None,
            expected_response_code: None,
        }
    }
}

/// One cluster in the answer of `GET /nacos/v1/ns/service`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClusterJson {
    /// The cluster's name.
    pub name: String,
    /// How the cluster is checked.
    pub health_checker: HealthCheckerJson,
    /// The cluster's metadata (from its settings in the control plane).
    pub metadata: BTreeMap<String, String>,
}

/// The answer of `GET /nacos/v1/ns/service`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceDetailJson {
    /// The namespace.
    pub namespace_id: String,
    /// The group.
    pub group_name: String,
    /// The service name, without its group.
    pub name: String,
    /// The protect threshold.
    pub protect_threshold: f32,
    /// The service metadata.
    pub metadata: BTreeMap<String, String>,
    /// Always `{"type":"none"}`.
    pub selector: SelectorJson,
    /// The clusters that hold instances.
    pub clusters: Vec<ClusterJson>,
}

/// The answer of `GET /nacos/v1/ns/service/list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ServiceListJson {
    /// How many services the namespace and group hold in all.
    #[serde(default)]
    pub count: usize,
    /// The service names (without group) on this page.
    #[serde(default)]
    pub doms: Vec<String>,
}

/// The answer of `GET /nacos/v1/ns/service/names`: the grouped service names of each
/// namespace, and how many there are in all.
///
/// Nacos up to 2.2 answers the map as `services`; from 2.3 on, as `META-INF/services` (a key
/// renamed by accident in Nacos' source). nacre answers both keys, so readers of either find
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ServiceNamesJson {
    /// Namespace → its `group@@service` names.
    #[serde(default)]
    pub services: BTreeMap<String, Vec<String>>,
    /// The same map under the key Nacos 2.3 and later answer.
    #[serde(default, rename = "META-INF/services")]
    pub services_since_nacos_2_3: BTreeMap<String, Vec<String>>,
    /// How many names in all.
    #[serde(default)]
    pub count: usize,
}

/// The answer of `GET /nacos/v1/ns/catalog/services` (without `withInstances`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CatalogServicesJson {
    /// How many services match, on all pages.
    #[serde(default)]
    pub count: usize,
    /// This page.
    #[serde(default)]
    pub service_list: Vec<ServiceViewJson>,
}

/// One service in [`CatalogServicesJson`] (Nacos' `ServiceView`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceViewJson {
    /// The service name, without its group.
    pub name: String,
    /// The group.
    pub group_name: String,
    /// How many clusters hold instances.
    #[serde(default)]
    pub cluster_count: usize,
    /// How many instances, whatever their state.
    #[serde(default)]
    pub ip_count: usize,
    /// How many of them are healthy.
    #[serde(default)]
    pub healthy_instance_count: usize,
    /// `"true"` when the protect threshold is reached, else `"false"` (text, as Nacos sends
    /// it).
    #[serde(default)]
    pub trigger_flag: String,
}

/// One service in the answer of `GET /nacos/v1/ns/catalog/services?withInstances=true` (a
/// JSON array of these; Nacos' `ServiceDetailInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceDetailInfoJson {
    /// The namespace (Nacos leaves it null here).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The service name, without its group.
    pub service_name: String,
    /// The group.
    pub group_name: String,
    /// Cluster name → its instances.
    #[serde(default)]
    pub cluster_map: BTreeMap<String, ClusterInfoJson>,
    /// The service metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The protect threshold (Nacos leaves it 0 here).
    #[serde(default)]
    pub protect_threshold: f32,
    /// Always `{"type":"none"}` (Nacos leaves it null here).
    #[serde(default)]
    pub selector: Option<SelectorJson>,
}

/// One cluster of a [`ServiceDetailInfoJson`] (Nacos' `ClusterInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClusterInfoJson {
    /// The cluster's name (Nacos leaves it null here).
    #[serde(default)]
    pub cluster_name: Option<String>,
    /// How the cluster is checked, as the service detail shows it (Nacos leaves it null here).
    #[serde(default)]
    pub health_checker: Option<HealthCheckerJson>,
    /// The cluster's metadata, as the service detail shows it (Nacos leaves it null here).
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Its instances.
    #[serde(default)]
    pub hosts: Vec<IpAddressInfoJson>,
}

/// One instance of a [`ClusterInfoJson`] (Nacos' `IpAddressInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IpAddressInfoJson {
    /// The address.
    pub ip: String,
    /// The port.
    pub port: u16,
    /// Whether it is healthy.
    #[serde(default = "yes")]
    pub valid: bool,
    /// Whether it takes traffic.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The weight.
    #[serde(default)]
    pub weight: f64,
    /// Its metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// The answer of `GET /nacos/v1/ns/catalog/instances`: one page of a cluster's instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CatalogInstancesJson {
    /// The instances on this page, each as in an instance list.
    #[serde(default)]
    pub list: Vec<InstanceJson>,
    /// How many instances the cluster holds.
    #[serde(default)]
    pub count: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::json::InstanceJsonRef;
    use crate::{ManualClock, Registry};

    #[test]
    fn the_borrowed_host_serializes_exactly_like_the_owned_one() {
        let registry = Registry::builder().clock(ManualClock::new()).build();
        let key = ServiceKey::new("dev", "shop", "orders").unwrap();
        let instance = Instance::builder("10.0.0.1", 8080)
            .cluster("hz")
            .weight(2.5)
            .enabled(false)
            .metadata("preserved.heart.beat.interval", "2000")
            .metadata("version", "1")
            .build()
            .unwrap();
        registry.register_instance(&key, instance.clone()).unwrap();
        let snapshot = registry.service(&key).unwrap();
        let entry = snapshot.entry(&instance.key()).unwrap();
        let grouped = key.grouped_name();
        let health = registry.health_config();
        let borrowed = serde_json::to_string(&InstanceJsonRef::new(
            entry.instance(),
            &key,
            &grouped,
            health,
        ))
        .unwrap();
        let owned =
            serde_json::to_string(&InstanceJson::from_instance(&instance, &key, health)).unwrap();
        assert_eq!(borrowed, owned);
        let back: InstanceJson = serde_json::from_str(&borrowed).unwrap();
        assert_eq!(back.to_instance().unwrap(), instance);
    }
}

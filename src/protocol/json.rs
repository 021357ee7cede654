//! The Nacos JSON shapes of an instance and of a `ServiceInfo`, both ways: written straight
//! from the registry's shared data (no text is copied: [`InstanceJsonRef`],
//! [`ServiceInfoJsonRef`]) and read back by clients ([`InstanceJson`], [`ServiceInfoJson`]).
//! The v1 HTTP list, the 2.x gRPC query, subscribe and push answers, the UDP push and nacre's
//! own clients all use them, so the protocols cannot drift apart.
//!
//! The one difference between v1 and 2.x is the `name` field: v1 answers the grouped name
//! (`DEFAULT_GROUP@@orders`), 2.x the plain one with `groupName` beside it. The caller says
//! which ([`NameStyle`]). A server's answer to a query is made by
//! `ServiceInfoJsonRef::from_answer` in [`crate::front::json`], from the front's
//! [`crate::front::ServiceAnswer`].

use super::{InstanceIn, ServiceInfo};
use crate::health::{BeatTimeouts, HealthConfig};
use crate::model::ValidationError;
use crate::model::{Instance, InstanceId, ServiceKey};
use crate::util::millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An instance as Nacos serializes it (`instanceId`, `ip`, `port`, `weight`, `healthy`,
/// `enabled`, `ephemeral`, `clusterName`, `serviceName` (grouped), `metadata`, and the
/// resolved beat timing), borrowing its text.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceJsonRef<'a> {
    instance_id: InstanceId,
    ip: &'a str,
    port: u16,
    weight: f64,
    healthy: bool,
    enabled: bool,
    ephemeral: bool,
    cluster_name: &'a str,
    service_name: &'a str,
    metadata: &'a BTreeMap<String, String>,
    instance_heart_beat_interval: u64,
    instance_heart_beat_time_out: u64,
    ip_delete_timeout: u64,
    instance_id_generator: &'static str,
}

impl<'a> InstanceJsonRef<'a> {
    /// `instance` of `service`, whose grouped name is `grouped`, with its timing resolved
    /// against `health`.
    pub fn new(
        instance: &'a Instance,
        service: &ServiceKey,
        grouped: &'a str,
        health: &HealthConfig,
    ) -> Self {
        let timing = BeatTimeouts::resolve(instance.timing_overrides(), health);
        Self {
            instance_id: instance.instance_id(service),
            ip: instance.ip().as_str(),
            port: instance.port(),
            weight: instance.weight(),
            healthy: instance.healthy(),
            enabled: instance.enabled(),
            ephemeral: instance.ephemeral(),
            cluster_name: instance.cluster().as_str(),
            service_name: grouped,
            metadata: instance.metadata(),
            instance_heart_beat_interval: millis(timing.beat_interval),
            instance_heart_beat_time_out: millis(timing.unhealthy_after),
            ip_delete_timeout: millis(timing.remove_after),
            instance_id_generator: "simple",
        }
    }

    /// Reports `healthy` instead of the instance's own flag (a protected answer reports every
    /// instance healthy: see [`crate::front::ServiceAnswer::reports_healthy`]).
    pub fn reported_healthy(mut self, healthy: bool) -> Self {
        self.healthy = healthy;
        self
    }
}

/// How a [`ServiceInfoJsonRef`] names its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameStyle {
    /// `group@@service`, as the v1 HTTP API answers.
    Grouped,
    /// `service`, with `groupName` beside it, as Nacos 2.x gRPC answers.
    Plain,
}

/// Nacos' `ServiceInfo` (`name`, `groupName`, `clusters`, `cacheMillis`, `hosts`,
/// `lastRefTime`, `checksum`, `allIPs`, `reachProtectionThreshold`, `valid`), borrowing its
/// hosts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfoJsonRef<'a> {
    pub(crate) name: String,
    pub(crate) group_name: &'a str,
    pub(crate) clusters: String,
    pub(crate) cache_millis: u64,
    pub(crate) hosts: Vec<InstanceJsonRef<'a>>,
    pub(crate) last_ref_time: u64,
    pub(crate) checksum: String,
    #[serde(rename = "allIPs")]
    pub(crate) all_ips: bool,
    pub(crate) reach_protection_threshold: bool,
    pub(crate) valid: bool,
}

impl<'a> ServiceInfoJsonRef<'a> {
    /// The JSON of a [`ServiceInfo`] (a push, or a cached answer); `grouped` is the service's
    /// grouped name.
    pub fn from_info(
        info: &'a ServiceInfo,
        grouped: &'a str,
        style: NameStyle,
        health: &HealthConfig,
    ) -> Self {
        let service = &info.service;
        Self {
            name: name(service, style),
            group_name: service.group().as_str(),
            clusters: joined(&info.clusters),
            cache_millis: info.cache_millis,
            hosts: info
                .hosts
                .iter()
                .map(|i| InstanceJsonRef::new(i, service, grouped, health))
                .collect(),
            last_ref_time: info.last_ref_time,
            checksum: info.checksum.clone(),
            all_ips: false,
            reach_protection_threshold: info.reach_protection_threshold,
            valid: true,
        }
    }
}

pub(crate) fn name(service: &ServiceKey, style: NameStyle) -> String {
    match style {
        NameStyle::Grouped => service.grouped_name(),
        NameStyle::Plain => service.service().to_string(),
    }
}

pub(crate) fn joined(clusters: &[crate::model::ClusterName]) -> String {
    let names: Vec<&str> = clusters.iter().map(|c| c.as_str()).collect();
    names.join(",")
}

pub(crate) fn one() -> f64 {
    1.0
}
pub(crate) fn yes() -> bool {
    true
}

/// An instance in a Nacos answer, owned: what clients read back (`hosts[]` of a v1 list, a
/// 2.x `serviceInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceJson {
    /// `ip#port#cluster#group@@service`.
    #[serde(default)]
    pub instance_id: String,
    /// The address.
    pub ip: String,
    /// The port.
    pub port: u16,
    /// The weight.
    #[serde(default = "one")]
    pub weight: f64,
    /// Whether it is healthy.
    #[serde(default = "yes")]
    pub healthy: bool,
    /// Whether it takes traffic.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Whether it lives by heartbeats.
    #[serde(default = "yes")]
    pub ephemeral: bool,
    /// Its cluster.
    #[serde(default)]
    pub cluster_name: String,
    /// `group@@service`.
    #[serde(default)]
    pub service_name: String,
    /// Its metadata, each value as sent: a Nacos server lists a `null` value as `null`, and
    /// reading goes through the one metadata rule ([`super::metadata`]).
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// The beat interval it is held to, in milliseconds.
    #[serde(default)]
    pub instance_heart_beat_interval: u64,
    /// Silence after which it turns unhealthy, in milliseconds.
    #[serde(default)]
    pub instance_heart_beat_time_out: u64,
    /// Silence after which it is removed, in milliseconds.
    #[serde(default)]
    pub ip_delete_timeout: u64,
    /// How its id was made (always `simple` here).
    #[serde(default)]
    pub instance_id_generator: String,
}

impl InstanceJson {
    /// The JSON form of `instance` of `service`, with its timing resolved against `health`.
    pub fn from_instance(instance: &Instance, service: &ServiceKey, health: &HealthConfig) -> Self {
        let timing = BeatTimeouts::resolve(instance.timing_overrides(), health);
        Self {
            instance_id: instance.instance_id(service).to_string(),
            ip: instance.ip().to_string(),
            port: instance.port(),
            weight: instance.weight(),
            healthy: instance.healthy(),
            enabled: instance.enabled(),
            ephemeral: instance.ephemeral(),
            cluster_name: instance.cluster().to_string(),
            service_name: service.grouped_name(),
            metadata: super::metadata::to_json(instance.metadata()),
            instance_heart_beat_interval: millis(timing.beat_interval),
            instance_heart_beat_time_out: millis(timing.unhealthy_after),
            ip_delete_timeout: millis(timing.remove_after),
            instance_id_generator: "simple".to_owned(),
        }
    }

    /// The instance this describes, read as every instance object is ([`InstanceIn`]): cluster
    /// `DEFAULT` when none is named, metadata by the one rule, checked.
    pub fn to_instance(&self) -> Result<Instance, ValidationError> {
        InstanceIn {
            ip: Some(self.ip.clone()),
            port: Some(i64::from(self.port)),
            weight: Some(self.weight),
            healthy: Some(self.healthy),
            enabled: Some(self.enabled),
            ephemeral: Some(self.ephemeral),
            cluster_name: Some(self.cluster_name.clone()),
            metadata: Some(self.metadata.clone()),
        }
        .into_instance(None)
    }
}

/// Nacos' `ServiceInfo`, owned: the answer of `GET /nacos/v1/ns/instance/list` and the
/// `serviceInfo` of 2.x answers and pushes, as clients read it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfoJson {
    /// `group@@service`.
    #[serde(default)]
    pub name: String,
    /// The group.
    #[serde(default)]
    pub group_name: String,
    /// The clusters asked for, as sent (`""` for all).
    #[serde(default)]
    pub clusters: String,
    /// How long the client may use this answer, in milliseconds.
    #[serde(default)]
    pub cache_millis: u64,
    /// The instances.
    #[serde(default)]
    pub hosts: Vec<InstanceJson>,
    /// When the answer was made, in milliseconds since the UNIX epoch.
    #[serde(default)]
    pub last_ref_time: u64,
    /// A checksum of the service's data (changes whenever it changes).
    #[serde(default)]
    pub checksum: String,
    /// Always false (Nacos' flag for answers that ignore health).
    #[serde(default, rename = "allIPs", alias = "allIps")]
    pub all_ips: bool,
    /// Whether a healthy-only query hit the protect threshold and lists unhealthy instances
    /// too.
    #[serde(default)]
    pub reach_protection_threshold: bool,
    /// Always true.
    #[serde(default = "yes")]
    pub valid: bool,
}

impl ServiceInfoJson {
    /// The answer as a [`ServiceInfo`] of `service`, every host checked; `clusters` are the
    /// ones asked for.
    pub fn to_info(
        &self,
        service: ServiceKey,
        clusters: Vec<crate::model::ClusterName>,
        revision: u64,
    ) -> Result<ServiceInfo, ValidationError> {
        Ok(ServiceInfo {
            service,
            clusters,
            hosts: self
                .hosts
                .iter()
                .map(InstanceJson::to_instance)
                .collect::<Result<_, _>>()?,
            cache_millis: self.cache_millis,
            last_ref_time: self.last_ref_time,
            revision,
            checksum: self.checksum.clone(),
            reach_protection_threshold: self.reach_protection_threshold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Nacos server lists a metadata value stored as `null` as `null` (v1 `instance/list`):
    /// a client reading the answer keeps the instance, without that key, as every front reads
    /// metadata.
    #[test]
    fn an_answer_with_null_and_number_metadata_is_read_by_the_one_rule() {
        let json = r#"{"name":"DEFAULT_GROUP@@orders","hosts":[{"ip":"10.0.0.1","port":8080,
            "clusterName":"","metadata":{"k":null,"n":2,"v":"1"}}]}"#;
        let answer: ServiceInfoJson = serde_json::from_str(json).unwrap();
        let info = answer
            .to_info(ServiceKey::named("orders").unwrap(), vec![], 1)
            .unwrap();
        let host = &info.hosts[0];
        assert_eq!(host.cluster().as_str(), "DEFAULT");
        assert_eq!(host.metadata().get("n").map(String::as_str), Some("2"));
        assert_eq!(host.metadata().get("v").map(String::as_str), Some("1"));
        assert!(!host.metadata().contains_key("k"));
        let refused = r#"{"hosts":[{"ip":"10.0.0.1","port":8080,"metadata":{"a":[1]}}]}"#;
        let answer: ServiceInfoJson = serde_json::from_str(refused).unwrap();
        assert!(answer
            .to_info(ServiceKey::named("orders").unwrap(), vec![], 1)
            .is_err());
    }
}

//! How an [`Instance`] serializes. Two forms, chosen by the format's
//! [`is_human_readable`](serde::Serializer::is_human_readable):
//!
//! - **human-readable** (JSON: the HTTP API, persistence, debugging): the Nacos object
//!   `{"ip", "port", "weight", "healthy", "enabled", "ephemeral", "clusterName", "metadata"}`;
//!   missing fields take Nacos' defaults when read.
//! - **binary** (the peer wire format, [`crate::cluster::encode_message`]): a tuple
//!   `(ip, port, cluster, (weight, flags, metadata))` with no field names, the three booleans
//!   as bits of one byte. [`InstanceBody`] is the part after the cluster, which a replicated
//!   record sends without the endpoint and cluster its key already names.
//!
//! Both forms are read through the same checks as [`Instance::builder`]: a decoded instance is
//! always valid, whatever the bytes were.

use super::error::ValidationError;
use super::instance::{Endpoint, Instance, InstanceKey};
use super::name::ClusterName;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

const HEALTHY: u8 = 1;
const ENABLED: u8 = 2;
const EPHEMERAL: u8 = 4;

/// The Nacos object, as written.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NacosRef<'a> {
    ip: &'a str,
    port: u16,
    weight: f64,
    healthy: bool,
    enabled: bool,
    ephemeral: bool,
    cluster_name: &'a str,
    metadata: &'a BTreeMap<String, String>,
}

/// The Nacos object, as read, with Nacos' defaults for missing fields.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NacosOwned {
    ip: String,
    port: u16,
    #[serde(default = "one")]
    weight: f64,
    #[serde(default = "yes")]
    healthy: bool,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "yes")]
    ephemeral: bool,
    #[serde(default)]
    cluster_name: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}

/// What an instance holds besides its endpoint and cluster, in the binary form: weight, the
/// three booleans as bits, metadata. Replicated records carry this beside their
/// [`InstanceKey`] (see [`crate::store::InstanceRecord`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InstanceBody(f64, u8, BTreeMap<String, String>);

impl InstanceBody {
    /// The body of `instance`.
    pub(crate) fn of(instance: &Instance) -> Self {
        let bit = |on: bool, bit: u8| if on { bit } else { 0 };
        let flags = bit(instance.healthy(), HEALTHY)
            | bit(instance.enabled(), ENABLED)
            | bit(instance.ephemeral(), EPHEMERAL);
        Self(instance.weight(), flags, instance.metadata().clone())
    }

    /// The instance at `key` with this body, checked like a client's.
    pub(crate) fn into_instance(self, key: &InstanceKey) -> Result<Instance, ValidationError> {
        self.build(key.endpoint.clone(), key.cluster.clone())
    }

    fn build(self, endpoint: Endpoint, cluster: ClusterName) -> Result<Instance, ValidationError> {
        let Self(weight, flags, metadata) = self;
        if flags & !(HEALTHY | ENABLED | EPHEMERAL) != 0 {
            return Err(ValidationError::BadInstanceFlags(flags));
        }
        let bits = [
            flags & HEALTHY != 0,
            flags & ENABLED != 0,
            flags & EPHEMERAL != 0,
        ];
        Instance::from_parts(endpoint, cluster, weight, bits, metadata)
    }
}

/// The binary form of a whole instance.
type Compact = (String, u16, String, InstanceBody);

impl Serialize for Instance {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            NacosRef {
                ip: self.ip().as_str(),
                port: self.port(),
                weight: self.weight(),
                healthy: self.healthy(),
                enabled: self.enabled(),
                ephemeral: self.ephemeral(),
                cluster_name: self.cluster().as_str(),
                metadata: self.metadata(),
            }
            .serialize(s)
        } else {
            (
                self.ip().as_str(),
                self.port(),
                self.cluster().as_str(),
                InstanceBody::of(self),
            )
                .serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Instance {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let w = NacosOwned::deserialize(d)?;
            let mut b = Instance::builder(&w.ip, w.port)
                .weight(w.weight)
                .healthy(w.healthy)
                .enabled(w.enabled)
                .ephemeral(w.ephemeral)
                .metadata_map(w.metadata);
            if let Some(c) = w.cluster_name {
                b = b.cluster(&c);
            }
            b.build().map_err(D::Error::custom)
        } else {
            let (ip, port, cluster, body) = Compact::deserialize(d)?;
            let endpoint = Endpoint::new(&ip, port).map_err(D::Error::custom)?;
            let cluster = ClusterName::new(&cluster).map_err(D::Error::custom)?;
            body.build(endpoint, cluster).map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Instance {
        Instance::builder("10.0.0.7", 8080)
            .weight(2.5)
            .healthy(false)
            .ephemeral(false)
            .cluster("hz-a")
            .metadata("version", "1.4.2")
            .build()
            .unwrap()
    }

    #[test]
    fn json_form_is_the_nacos_object() {
        let json = serde_json::to_string(&sample()).unwrap();
        assert_eq!(
            json,
            r#"{"ip":"10.0.0.7","port":8080,"weight":2.5,"healthy":false,"enabled":true,"ephemeral":false,"clusterName":"hz-a","metadata":{"version":"1.4.2"}}"#
        );
        let back: Instance = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sample());
        let defaults: Instance = serde_json::from_str(r#"{"ip":"10.0.0.7","port":1}"#).unwrap();
        assert_eq!(defaults, Instance::new("10.0.0.7", 1).unwrap());
    }

    #[test]
    fn binary_form_round_trips_and_is_small() {
        let bytes = postcard::to_allocvec(&Instance::new("10.0.0.7", 8080).unwrap()).unwrap();
        // ip 1+8, port 2, cluster 1+7, weight 8, flags 1, metadata 1.
        assert_eq!(bytes.len(), 29);
        let bytes = postcard::to_allocvec(&sample()).unwrap();
        assert_eq!(postcard::from_bytes::<Instance>(&bytes).unwrap(), sample());
    }

    #[test]
    fn binary_form_is_checked_like_a_client_write() {
        let bad_port =
            postcard::to_allocvec(&("10.0.0.7", 0u16, "DEFAULT", InstanceBody::of(&sample())))
                .unwrap();
        assert!(postcard::from_bytes::<Instance>(&bad_port).is_err());
        let bad_weight = InstanceBody(f64::NAN, HEALTHY, BTreeMap::new());
        let bytes = postcard::to_allocvec(&("10.0.0.7", 80u16, "DEFAULT", bad_weight)).unwrap();
        assert!(postcard::from_bytes::<Instance>(&bytes).is_err());
        let bad_flags = InstanceBody(1.0, 0x80, BTreeMap::new());
        let bytes = postcard::to_allocvec(&("10.0.0.7", 80u16, "DEFAULT", bad_flags)).unwrap();
        let err = postcard::from_bytes::<Instance>(&bytes).unwrap_err();
        assert!(matches!(err, postcard::Error::SerdeDeCustom), "{err:?}");
    }
}

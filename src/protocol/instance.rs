//! [`InstanceIn`]: the one reader of the Nacos instance object a client sends, with Nacos'
//! defaults for what it leaves out. The 2.x `InstanceRequest` and `BatchInstanceRequest`, the
//! v1 beat's JSON and the instances of an answer a client reads back all become an
//! [`Instance`] here.

use super::metadata;
use crate::model::{Instance, ValidationError};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The Nacos instance object as read: every field may be missing or `null` (Jackson is that
/// lenient, and clients rely on it: the Rust client sends `null`s, the Python one empty
/// strings), and unknown fields are ignored.
///
/// Defaults, as Nacos' `Instance` has them: weight 1, healthy, enabled, ephemeral, cluster
/// `DEFAULT` (also for an empty name), no metadata. Metadata values go through
/// [`metadata::value_text`]. A port outside 1..=65535 is refused like port 0.
///
/// ```
/// use nacre::protocol::InstanceIn;
/// let json = r#"{"ip":"10.0.0.1","port":8080,"clusterName":null,"metadata":{"v":1,"z":null}}"#;
/// let instance = serde_json::from_str::<InstanceIn>(json)?.into_instance(None)?;
/// assert_eq!(instance.cluster().as_str(), "DEFAULT");
/// assert_eq!(instance.metadata()["v"], "1");
/// assert!(!instance.metadata().contains_key("z"));
/// assert!(instance.ephemeral() && instance.healthy() && instance.weight() == 1.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InstanceIn {
    /// Ip or host name.
    pub ip: Option<String>,
    /// Port.
    pub port: Option<i64>,
    /// Weight (default 1).
    pub weight: Option<f64>,
    /// Health flag (default true).
    pub healthy: Option<bool>,
    /// Enabled flag (default true).
    pub enabled: Option<bool>,
    /// Ephemeral flag (default true).
    pub ephemeral: Option<bool>,
    /// Cluster (default `DEFAULT`).
    pub cluster_name: Option<String>,
    /// Metadata, each value as sent.
    pub metadata: Option<BTreeMap<String, serde_json::Value>>,
}

impl InstanceIn {
    /// The instance, checked, with Nacos' defaults; `ephemeral` overrides what the client said
    /// when given (a 2.x `PersistentInstanceRequest` is persistent whatever its body says).
    /// Consumes the object: its metadata's text moves into the instance, uncopied.
    pub fn into_instance(self, ephemeral: Option<bool>) -> Result<Instance, ValidationError> {
        let port = self.port.and_then(|p| u16::try_from(p).ok()).unwrap_or(0);
        let metadata = metadata::from_json(self.metadata.into_iter().flatten())?;
        let mut b = Instance::builder(self.ip.as_deref().unwrap_or(""), port)
            .weight(self.weight.unwrap_or(1.0))
            .healthy(self.healthy.unwrap_or(true))
            .enabled(self.enabled.unwrap_or(true))
            .ephemeral(ephemeral.or(self.ephemeral).unwrap_or(true))
            .metadata_map(metadata);
        if let Some(cluster) = self
            .cluster_name
            .as_deref()
            .filter(|c| !c.trim().is_empty())
        {
            b = b.cluster(cluster);
        }
        b.build()
    }
}

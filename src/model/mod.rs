//! Value types: what a registry stores and how things are named.
//!
//! Everything here is checked when it is made ("parse, don't validate"): a [`ServiceKey`], an
//! [`InstanceKey`] or an [`Instance`] in hand is always valid, so the layers above never check
//! again and never panic on input. Names are `Arc<str>` inside, so keys clone without copying
//! text; a key built once can be reused on hot paths such as heartbeats without allocating.
//!
//! The Nacos string forms are here too: `group@@service` ([`ServiceKey::from_grouped`],
//! [`ServiceKey::grouped_name`]) and `ip#port#cluster#group@@service` ([`InstanceId`]).
//!
//! ```
//! use nacre::{Instance, ServiceKey, ValidationError};
//! let key = ServiceKey::new("public", "DEFAULT_GROUP", "orders").unwrap();
//! let inst = Instance::new("10.0.0.7", 8080).unwrap();
//! assert_eq!(inst.instance_id(&key).to_string(), "10.0.0.7#8080#DEFAULT#DEFAULT_GROUP@@orders");
//! assert!(matches!(ServiceKey::named("a@@b"), Err(ValidationError::ContainsSeparator { .. })));
//! ```

mod drain;
mod error;
mod instance;
mod instance_wire;
mod limits;
mod name;
mod service_key;
#[cfg(test)]
mod sharing_tests;

pub use drain::{
    DrainAction, DrainPending, DrainReport, FrontDrain, DRAIN_PARAM, DRAIN_PENDING_LISTED,
};
pub(crate) use error::excerpt;
pub use error::{NameKind, ValidationError};
pub use instance::{
    Endpoint, Host, Instance, InstanceBuilder, InstanceId, InstanceKey, TimingOverrides,
    MAX_WEIGHT, PRESERVED_HEART_BEAT_INTERVAL, PRESERVED_HEART_BEAT_TIMEOUT,
    PRESERVED_IP_DELETE_TIMEOUT,
};
pub(crate) use instance_wire::InstanceBody;
pub use limits::{LimitExceeded, Limits, TimingRange};
pub use name::{
    parse_cluster_list, ClusterName, GroupName, NamespaceId, ServiceName, DEFAULT_CLUSTER,
    DEFAULT_GROUP, DEFAULT_NAMESPACE, MAX_CLUSTER_LEN, MAX_NAMESPACE_LEN, MAX_NAME_LEN,
};
pub use service_key::{split_grouped_name, ServiceKey};

//! [`StoreError`]: why a registry operation was refused.

use crate::model::{ClusterName, InstanceId, LimitExceeded, ServiceKey, ValidationError};

/// Why a registry operation was refused. Nothing already stored changes when one is returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The input broke a validation rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The service does not exist.
    #[error("service {0} does not exist")]
    ServiceNotFound(ServiceKey),
    /// The service exists already (from `create_service`).
    #[error("service {0} exists already")]
    ServiceExists(ServiceKey),
    /// The service still has instances (from `remove_service`).
    #[error("service {service} still has {instances} instance(s); deregister them first")]
    ServiceNotEmpty {
        /// The service.
        service: ServiceKey,
        /// How many instances it holds.
        instances: usize,
    },
    /// The instance is not registered.
    #[error("instance {0} is not registered")]
    InstanceNotFound(InstanceId),
    /// The health of an ephemeral instance follows its beats: only a persistent instance's
    /// health can be set by hand (from `set_instance_health`).
    #[error(
        "health check is still working for {0}: an ephemeral instance's health follows its \
         beats; only a persistent instance's health can be set"
    )]
    HealthFollowsBeats(InstanceId),
    /// The write would take the registry over one of its [`crate::Limits`]: too many
    /// instances in a service, services in a namespace, or namespaces.
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
    /// The control plane, which holds persistent instances, refused the write: its reason.
    #[error("{0}")]
    ControlRefused(String),
    /// No healthy, enabled instance with weight above 0 to pick from.
    #[error("service {service} has no healthy instance to select (clusters: {clusters:?})")]
    NoHealthyInstance {
        /// The service.
        service: ServiceKey,
        /// The clusters asked for (empty: all).
        clusters: Vec<ClusterName>,
    },
}

impl StoreError {
    /// The name of the [`crate::Limits`] field this refusal is about, if it is one: a cap
    /// ([`StoreError::Limit`]), a metadata size or a `preserved.*` timing range.
    pub fn limit(&self) -> Option<&'static str> {
        match self {
            StoreError::Limit(l) => Some(l.limit()),
            StoreError::Invalid(ValidationError::MetadataTooLarge { .. }) => {
                Some("max_metadata_bytes")
            }
            StoreError::Invalid(ValidationError::ServiceMetadataTooLarge { .. }) => {
                Some("max_service_metadata_bytes")
            }
            StoreError::Invalid(ValidationError::TimingOutOfRange { key, .. }) => {
                Some(match *key {
                    crate::model::PRESERVED_HEART_BEAT_INTERVAL => "beat_interval_range",
                    crate::model::PRESERVED_HEART_BEAT_TIMEOUT => "beat_timeout_range",
                    _ => "delete_timeout_range",
                })
            }
            _ => None,
        }
    }
}

//! [`RegistryError`]: why a registry operation was refused.

use crate::model::{ClusterName, InstanceId, ServiceKey, ValidationError};

/// Why a registry operation was refused. Nothing already stored changes when one is returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
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
    /// A service would hold more instances than the limit allows.
    #[error("service {service} would hold {would_hold} instances; the limit is {max}")]
    TooManyInstances {
        /// The service.
        service: ServiceKey,
        /// How many it would hold.
        would_hold: usize,
        /// The configured limit.
        max: usize,
    },
    /// No healthy, enabled instance with weight above 0 to pick from.
    #[error("service {service} has no healthy instance to select (clusters: {clusters:?})")]
    NoHealthyInstance {
        /// The service.
        service: ServiceKey,
        /// The clusters asked for (empty: all).
        clusters: Vec<ClusterName>,
    },
}

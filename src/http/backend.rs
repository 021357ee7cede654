//! [`Backend`]: what the HTTP front runs over — one standalone [`Registry`], or a
//! [`ClusterNode`] whose writes and beats are routed to the responsible member.
//!
//! Reads always go to the local registry (on a cluster node they may lag a write made on
//! another node by up to a sync round, as in Nacos' AP mode). Writes go through
//! [`ClusterNode`]'s forwarding methods on a cluster node, straight to the registry otherwise.

use crate::cluster::{ClusterError, ClusterNode};
use crate::model::{Instance, InstanceKey, ServiceKey};
use crate::node::{BeatReply, Registry};
use crate::registry::{InstanceUpdate, ServiceSettings};

/// The node behind an HTTP front. Cheap to clone.
///
/// ```
/// use nacre::http::Backend;
/// use nacre::Registry;
/// let backend = Backend::from(Registry::default());
/// assert!(backend.cluster_node().is_none());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Backend {
    /// A single registry: every write is applied here.
    Standalone(Registry),
    /// A cluster member: writes and beats go to the member responsible for the service.
    Cluster(ClusterNode),
}

impl From<Registry> for Backend {
    fn from(registry: Registry) -> Self {
        Backend::Standalone(registry)
    }
}

impl From<ClusterNode> for Backend {
    fn from(node: ClusterNode) -> Self {
        Backend::Cluster(node)
    }
}

impl Backend {
    /// The local registry, for reads.
    pub fn registry(&self) -> &Registry {
        match self {
            Backend::Standalone(r) => r,
            Backend::Cluster(n) => n.registry(),
        }
    }

    /// The cluster node, if this is one.
    pub fn cluster_node(&self) -> Option<&ClusterNode> {
        match self {
            Backend::Standalone(_) => None,
            Backend::Cluster(n) => Some(n),
        }
    }

    /// Registers (or replaces) an instance.
    pub async fn register_instance(
        &self,
        service: &ServiceKey,
        instance: Instance,
    ) -> Result<u64, ClusterError> {
        match self {
            Backend::Standalone(r) => Ok(r.register_instance(service, instance)?),
            Backend::Cluster(n) => n.register_instance(service, instance).await,
        }
    }

    /// Removes an instance; returns whether it was registered.
    pub async fn deregister_instance(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
    ) -> Result<bool, ClusterError> {
        match self {
            Backend::Standalone(r) => Ok(r.deregister_instance(service, instance)),
            Backend::Cluster(n) => n.deregister_instance(service, instance).await,
        }
    }

    /// Changes an instance's weight, enabled flag or metadata.
    pub async fn update_instance(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
        update: InstanceUpdate,
    ) -> Result<u64, ClusterError> {
        match self {
            Backend::Standalone(r) => Ok(r.update_instance(service, instance, update)?),
            Backend::Cluster(n) => n.update_instance(service, instance, update).await,
        }
    }

    /// A light beat: an unknown instance answers `InstanceNotFound`.
    pub async fn heartbeat(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
    ) -> Result<BeatReply, ClusterError> {
        match self {
            Backend::Standalone(r) => Ok(r.heartbeat(service, instance)?),
            Backend::Cluster(n) => n.heartbeat(service, instance).await,
        }
    }

    /// A beat carrying the instance's data, which registers it again if it is unknown.
    pub async fn heartbeat_with(
        &self,
        service: &ServiceKey,
        instance: &Instance,
    ) -> Result<BeatReply, ClusterError> {
        match self {
            Backend::Standalone(r) => Ok(r.heartbeat_with(service, instance)?),
            Backend::Cluster(n) => n.heartbeat_with(service, instance).await,
        }
    }

    /// Creates an empty service.
    pub async fn create_service(
        &self,
        service: &ServiceKey,
        settings: ServiceSettings,
    ) -> Result<u64, ClusterError> {
        match self {
            Backend::Standalone(r) => Ok(r.create_service(service, settings)?),
            Backend::Cluster(n) => n.create_service(service, settings).await,
        }
    }

    /// Replaces a service's settings.
    pub async fn update_service(
        &self,
        service: &ServiceKey,
        settings: ServiceSettings,
    ) -> Result<u64, ClusterError> {
        match self {
            Backend::Standalone(r) => Ok(r.update_service(service, settings)?),
            Backend::Cluster(n) => n.update_service(service, settings).await,
        }
    }

    /// Removes a service that holds no instances.
    pub async fn remove_service(&self, service: &ServiceKey) -> Result<u64, ClusterError> {
        match self {
            Backend::Standalone(r) => Ok(r.remove_service(service)?),
            Backend::Cluster(n) => n.remove_service(service).await,
        }
    }
}

//! [`Backend`]: the node behind a front — one standalone [`Registry`], or a [`ClusterNode`]
//! whose writes are routed to the member responsible for the service.
//!
//! Every write goes through [`Backend::execute`], which hands the [`Command`] to
//! [`Command::apply`] or [`ClusterNode::execute`]: the one route of
//! [`crate::registry::command`]. Reads always go to the local registry (on a cluster member
//! they may lag a write made on another member by up to a sync round, as in Nacos' AP mode).

use crate::cluster::{ClusterError, ClusterNode};
use crate::protocol::BeatAnswer;
use crate::registry::{Command, CommandOutput, Registry, RegistryReader, RouteError};
use crate::store::StoreError;

/// The node behind a front. Cheap to clone.
///
/// ```
/// use nacre::front::Backend;
/// use nacre::{Command, Instance, Registry, ServiceKey};
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let backend = Backend::from(Registry::default());
/// assert!(backend.cluster_node().is_none());
/// let orders = ServiceKey::named("orders")?;
/// backend.execute(Command::register(&orders, Instance::new("10.0.0.1", 8080)?)).await?;
/// assert_eq!(backend.registry().get_all_instances(&orders, &[]).len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
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
    pub fn registry(&self) -> &RegistryReader {
        match self {
            Backend::Standalone(r) => r.reader(),
            Backend::Cluster(n) => n.registry(),
        }
    }

    /// Loads what `persistence` holds into the node's registry and keeps it up to date (see
    /// [`Registry::attach_persistence`]). Call it once, before the node serves.
    pub fn attach_persistence(
        &self,
        persistence: std::sync::Arc<dyn crate::persist::Persistence>,
        policy: crate::persist::CommitPolicy,
    ) -> Result<crate::persist::LoadReport, crate::persist::PersistError> {
        self.local_registry()
            .attach_persistence(persistence, policy)
    }

    /// The node's registry with its writes, for the parts of the crate that sit on the write
    /// route itself (attaching persistence, the health driver of a standalone node).
    pub(crate) fn local_registry(&self) -> &Registry {
        match self {
            Backend::Standalone(r) => r,
            Backend::Cluster(n) => n.local_registry(),
        }
    }

    /// The cluster node, if this is one.
    pub fn cluster_node(&self) -> Option<&ClusterNode> {
        match self {
            Backend::Standalone(_) => None,
            Backend::Cluster(n) => Some(n),
        }
    }

    /// Executes a write: applied here on a standalone node, routed by the cluster on a member.
    /// With a persistence attached, a write that touches persistent data answers once it is on
    /// disk (see [`crate::persist`]).
    ///
    /// With a control plane attached ([`Registry::attach_persistent_route`]), writes of
    /// persistent instances go to it instead, on either kind of node.
    pub async fn execute(&self, command: Command) -> Result<CommandOutput, ClusterError> {
        if let Some(route) = self.local_registry().persistent_route() {
            if route.takes(&command) {
                // Recorded in the timeline here: the log's sink applies the write without
                // knowing who made it (see crate::registry's history).
                let registry = self.local_registry();
                let note = registry.before_routed(&command);
                let output = route.execute(command).await.map_err(|e| match e {
                    RouteError::Refused(e) => ClusterError::Registry(e),
                    RouteError::NoLeader(why) => ClusterError::NoLeader(why),
                })?;
                registry.note_routed(note, &output);
                return Ok(output);
            }
        }
        match self {
            Backend::Standalone(r) => Ok(r.execute(command).await?),
            Backend::Cluster(n) => n.execute(command).await,
        }
    }

    /// Executes a beat ([`Command::Beat`]) and answers it as every front does: the interval to
    /// beat at, or [`BeatAnswer::NotFound`] (Nacos' code 20404) when the node does not know
    /// the instance, so the client registers it again.
    pub async fn beat(&self, command: Command) -> Result<BeatAnswer, ClusterError> {
        match self
            .execute(command)
            .await
            .and_then(|out| Ok(out.into_beat()?))
        {
            Ok(reply) => Ok(BeatAnswer::Ok {
                client_beat_interval: reply.client_beat_interval,
                light_beat_enabled: reply.light_beat_enabled,
            }),
            Err(ClusterError::Registry(StoreError::InstanceNotFound(_))) => {
                Ok(BeatAnswer::NotFound)
            }
            Err(e) => Err(e),
        }
    }
}

//! [`NotReady`]: why a node should not be sent traffic now, decided once for every probe
//! ([`Backend::readiness`]): the v1 front's readiness probe and the `status` of its
//! `/operator/metrics`, and the metrics' `nacre_ready`.
//!
//! A node is not ready while it is a cluster member loading its snapshot from its peers, while
//! its control plane (which holds the persistent instances) has not caught up with its leader
//! since the start (so a member back from an outage is not sent traffic while it still shows
//! persistent instances deleted meanwhile), or while its persistence is failing: from a failed commit until a commit succeeds, every write
//! that touches persistent data is answered 503 ([`crate::persist::NotPersisted`]), so a load
//! balancer should send clients elsewhere. The committer keeps retrying (the file store
//! reopens its database after an I/O error), and the node is ready again as soon as one
//! commit succeeds; nothing needs a restart.
//!
//! ```
//! use nacre::front::Backend;
//! use nacre::Registry;
//! assert!(Backend::from(Registry::default()).readiness().is_ok());
//! ```
//!
//! Differences from Nacos: Nacos' readiness probe answers 500 when its naming or config
//! module is not ready, with a fixed message; nacre answers 503 with the reason, and counts a
//! failing disk as not ready (Nacos' Raft group reports a failing disk in its own logs only).

use super::Backend;
use crate::persist::PersistFailure;

/// Why a node is not ready: see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotReady {
    /// A cluster member is loading its snapshot from its peers.
    #[error("the node is loading its snapshot from its peers")]
    Loading,
    /// The control plane, which holds the persistent instances, has not caught up with its
    /// leader since the node started (see [`crate::registry::PersistentRoute::ready`]).
    #[error("{0}")]
    ControlBehind(String),
    /// Commits to the node's persistent store fail (see [`crate::persist`]).
    #[error("the node cannot write to its persistent store: {0}")]
    Disk(PersistFailure),
}

impl Backend {
    /// `Ok` when the node serves fully; otherwise why not. See [`NotReady`].
    pub fn readiness(&self) -> Result<(), NotReady> {
        if self.cluster_node().is_some_and(|n| !n.is_ready()) {
            return Err(NotReady::Loading);
        }
        if let Some(route) = self.local_registry().persistent_route() {
            route.ready().map_err(NotReady::ControlBehind)?;
        }
        match self.registry().persist_failure() {
            Some(failure) => Err(NotReady::Disk(failure)),
            None => Ok(()),
        }
    }
}

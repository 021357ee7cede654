//! Durability: persistent instances and service settings survive a restart.
//!
//! Ephemeral instances live in memory only, as in Nacos: their clients' beats (or
//! re-registrations) rebuild them after a restart. What has no client to rebuild it — the
//! *persistent* (non-ephemeral) instances, and service settings and metadata — goes to a
//! [`Persistence`] the host attaches with [`crate::Registry::attach_persistence`]:
//!
//! ```
//! use nacre::persist::{CommitPolicy, Persistence, PersistError, StoreWrite};
//! use nacre::store::ServiceRecord;
//! use nacre::{Instance, Registry, ServiceKey};
//! use std::collections::BTreeMap;
//! use std::sync::{Arc, Mutex};
//!
//! /// A store kept in a map: what a host's own storage would implement.
//! #[derive(Default)]
//! struct Map(Mutex<BTreeMap<ServiceKey, ServiceRecord>>);
//! impl Persistence for Map {
//!     fn load(&self) -> Result<Vec<ServiceRecord>, PersistError> {
//!         Ok(self.0.lock().unwrap().values().cloned().collect())
//!     }
//!     fn commit(&self, writes: &[StoreWrite]) -> Result<(), PersistError> {
//!         let mut map = self.0.lock().unwrap();
//!         for w in writes {
//!             match w {
//!                 StoreWrite::Put(record) => { map.insert(record.key.clone(), record.clone()); }
//!                 StoreWrite::Delete(key) => { map.remove(key); }
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let disk = Arc::new(Map::default());
//! let db = ServiceKey::named("db")?;
//! {
//!     let registry = Registry::default();
//!     registry.attach_persistence(disk.clone(), CommitPolicy::default())?;
//!     let primary = Instance::builder("10.0.0.9", 5432).ephemeral(false).build()?;
//!     registry.register_instance(&db, primary)?;
//!     registry.register_instance(&db, Instance::new("10.0.0.1", 80)?)?; // ephemeral
//!     registry.wait_persisted(&db)?; // what every front does before it answers "ok"
//! }
//! // A new process: the persistent instance is back, the ephemeral one is not.
//! let registry = Registry::default();
//! let loaded = registry.attach_persistence(disk, CommitPolicy::default())?;
//! assert_eq!(loaded.instances, 1);
//! assert_eq!(registry.get_all_instances(&db, &[]).len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## What is stored
//!
//! One row per service: the [`ServiceRecord`] of its *persistent part* — the service-level
//! state ([`crate::store::ServiceMeta`]: settings, removal, versions), its persistent
//! instances, and the tombstones of persistent instances that were on disk (so that a
//! deregistration stays final after a restart, even against a peer that still holds a stale
//! copy). That is the record replication already sends, so loading is the store's merge (`Store::merge`) under
//! the ordinary merge rule (versions, tombstones): a restarted node reconciles with its peers
//! exactly as a node that missed a few sync batches does. A service gets a row while it has a
//! persistent instance, explicit settings ([`crate::Registry::create_service`] /
//! `update_service`), or a tombstone of a persistent instance; its row is deleted once none is
//! left (tombstones are collected after [`crate::HealthConfig::tombstone_ttl`] as in memory;
//! a removed service's row goes when the store forgets the service). In a cluster the memory
//! keeps removals of persistent data past the retention until every member has been up for a
//! whole retention, so the rows keep them too: a member that was down longer than the
//! retention, or a whole cluster restarted after it, finds them on its members' disks (see
//! [`crate::store`], "Removals of persistent data"). Loaded tombstones count as such removals.
//!
//! A tombstone is stored only for an instance whose live copy reached the disk: an instance
//! registered and deregistered within one commit leaves nothing on disk, which is the state
//! the two writes left (both answers wait for that commit). A peer that got the live copy by
//! replication before the deregistration could bring it back after a restart of this node
//! only if it also missed the deregistration's own sync.
//!
//! Every node stores what it holds, replicated data included, so a full-cluster restart keeps
//! everything that any node had. Loaded records are merged like replicated ones, so they are
//! not sent to peers as local writes: a member's own data reaches the others through verify
//! (the member responsible for a service sends its checksums), as after any restart. The encoding of a row is [`codec`]'s: a format version byte
//! and the record as JSON.
//!
//! ## When a write is on disk: group commit and the fsync policy
//!
//! Every published change of a service that has (or had) persistent state marks the service
//! dirty, in order. One committer thread takes *every* pending mark at once, reads each
//! dirty service's current snapshot, and hands the rows that changed to
//! [`Persistence::commit`] as one batch: one transaction, one fsync. Writes that arrive while
//! a commit runs form the next batch. There is no added delay: a lone write is committed at
//! once, and under load the batch grows by itself to what arrived during one fsync
//! ([`CommitPolicy::group`], the default). [`CommitPolicy::per_write`] commits one mark per
//! transaction instead, which is an fsync per write: a baseline for measurements.
//!
//! A write's answer waits for its commit: the fronts ([`crate::front::Backend::execute`],
//! [`crate::cluster::ClusterNode::execute`], and a cluster member answering a forwarded write)
//! call [`crate::Registry::persisted`] after a write that can touch persistent data (see
//! [`crate::Command::touches_persistent_data`]), so "ok" means *on disk on the node that
//! applied the write*. A forwarded write is applied, and made durable, on the member
//! responsible for the service; the forwarding member answers after it. Its peers store it
//! when replication brings it (about 1 s later), without holding anyone's answer. A host
//! that calls [`crate::Registry`]'s write methods directly does the same with
//! [`crate::Registry::persisted`] or [`crate::Registry::wait_persisted`]; the methods
//! themselves return once the write is in memory.
//!
//! A commit that fails (disk full, I/O error) answers every write waiting on it with
//! [`NotPersisted`] (HTTP 500): the write is in memory but not on disk. The committer tries
//! again after [`CommitPolicy::retry_delay`].
//!
//! ## Differences from Nacos
//!
//! - Nacos keeps persistent instances in a Raft group (JRaft): a write is acknowledged once a
//!   majority has it. nacre stays AP: a write is durable on the member that applied it before
//!   it answers, and reaches the others by Distro replication. A member that loses its disk
//!   for good loses what it had not replicated yet.
//! - Nacos writes service metadata through the same Raft log; here it is the same row as the
//!   service's persistent instances.
//! - Nacos snapshots its Raft state to files under `data/`; nacre keeps one embedded
//!   database file (see `FileStore`, feature `persist`).
//!
//!
pub mod codec;
mod error;
#[cfg(feature = "persist")]
mod file;
mod journal;
mod part;

pub use error::{NotPersisted, PersistError};
#[cfg(feature = "persist")]
#[cfg_attr(docsrs, doc(cfg(feature = "persist")))]
pub use file::{FileStore, FILE_NAME};
pub(crate) use journal::Journal;
pub(crate) use part::count as part_count;
pub use part::persistent_part;

use crate::model::ServiceKey;
use crate::store::ServiceRecord;
use std::time::Duration;

/// Storage for the persistent part of a registry: see the module documentation.
///
/// Implement it to keep nacre's durable state in the host's own storage; nacre calls it from
/// one committer thread at a time, and [`Persistence::load`] once, before it serves.
pub trait Persistence: Send + Sync + 'static {
    /// Every stored row. An error stops the registry from starting: a store that cannot be
    /// read must not be taken for an empty one.
    fn load(&self) -> Result<Vec<ServiceRecord>, PersistError>;

    /// Stores `writes` durably, all or none: when it returns `Ok`, every write is on stable
    /// storage (fsync'd), and a crash at any point leaves either all of them or none.
    fn commit(&self, writes: &[StoreWrite]) -> Result<(), PersistError>;
}

/// One change to a [`Persistence`].
#[derive(Debug, Clone, PartialEq)]
pub enum StoreWrite {
    /// Store (or replace) the row of the record's service.
    Put(ServiceRecord),
    /// Delete the row of this service.
    Delete(ServiceKey),
}

/// How the committer batches writes: see the module documentation.
///
/// ```
/// use nacre::persist::CommitPolicy;
/// assert_eq!(CommitPolicy::default(), CommitPolicy::group());
/// assert_eq!(CommitPolicy::per_write().max_batch, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitPolicy {
    /// At most this many marks (published changes) per commit; `usize::MAX` takes every
    /// pending one (group commit), 1 commits (and fsyncs) once per change.
    pub max_batch: usize,
    /// How long the committer waits before it tries again after a failed commit.
    pub retry_delay: Duration,
}

impl CommitPolicy {
    /// Group commit: every pending change in one transaction, no added delay.
    pub fn group() -> Self {
        Self {
            max_batch: usize::MAX,
            retry_delay: Duration::from_secs(1),
        }
    }

    /// One transaction (one fsync) per change: a baseline for measurements. Each change is
    /// committed on its own and rewrites its service's row, even when an earlier commit
    /// already carried it (it reads the service's current state), as a store without group
    /// commit does.
    pub fn per_write() -> Self {
        Self {
            max_batch: 1,
            ..Self::group()
        }
    }
}

impl Default for CommitPolicy {
    fn default() -> Self {
        Self::group()
    }
}

/// Counters of a registry's persistence ([`crate::RegistryReader::persist_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PersistStats {
    /// Changes marked for the committer (published changes of services with persistent
    /// state) since the persistence was attached.
    pub changes: u64,
    /// Changes on disk: every change numbered up to this one.
    pub durable: u64,
    /// Services with a change not on disk yet.
    pub pending_services: usize,
    /// Commits (transactions, each one fsync) that wrote something.
    pub commits: u64,
    /// Rows they wrote (puts and deletes).
    pub rows_written: u64,
}

/// What [`crate::Registry::attach_persistence`] loaded.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct LoadReport {
    /// Rows (services) read.
    pub services: usize,
    /// Live persistent instances read.
    pub instances: usize,
    /// Tombstones read.
    pub tombstones: usize,
    /// Records the merge refused (over a limit of this registry, for example): each names the
    /// service and why. The rest was loaded.
    pub refused: Vec<(ServiceKey, crate::store::Refusal)>,
}

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
//!             w.apply_to(&mut map); // a service's row, or one instance's
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
//! Each service's *persistent part* ([`persistent_part`]): its service-level state
//! ([`crate::store::ServiceMeta`]: settings, removal, versions), its persistent instances, and
//! the tombstones of persistent instances that were on disk (so that a deregistration stays
//! final after a restart, even against a peer that still holds a stale copy). Those are the
//! records replication already sends, so loading is the store's merge (`Store::merge`) of
//! each service's [`ServiceRecord`] under the ordinary merge rule (versions, tombstones): a
//! restarted node reconciles with its peers exactly as a node that missed a few sync batches
//! does. A service has a row while it has a persistent instance, explicit settings
//! ([`crate::Registry::create_service`] / `update_service`), or a tombstone of a persistent
//! instance; its rows are deleted once none is left (tombstones are collected after
//! [`crate::HealthConfig::tombstone_ttl`] as in memory; a removed service's rows go when the
//! store forgets the service). In a cluster the memory keeps removals of persistent data
//! past the retention until every member has been up for a whole retention, so the rows keep
//! them too: a member that was down longer than the retention, or a whole cluster restarted
//! after it, finds them on its members' disks (see [`crate::store`], "Removals of persistent
//! data"). Loaded tombstones count as such removals.
//!
//! Rows are per instance: a commit writes a service's row only when its service-level state
//! changed, and one row per instance whose record changed ([`StoreWrite`]). A registration
//! into a service of 450 instances with 4 KiB of metadata each writes about 29 KB to the
//! file (the instance's row and the database pages on its path), where a row per service
//! rewrote the whole service, about 2.1 MB.
//!
//! A removal of persistent data (a tombstone marked `durable`) is always stored, even when
//! the instance's live copy never reached this disk: in a cluster another member's disk may
//! hold it live, and a full restart would bring it back if no disk held the removal. (Before,
//! a replica whose committer had not yet written its replicated copy when the owner crashed
//! and the deregistration fell back to it answered `ok` and stored nothing; after a full
//! restart the instance was listed again on every member.) Other tombstones are stored only
//! for an instance whose live copy reached the disk: an ephemeral instance registered and
//! deregistered within one commit leaves nothing.
//!
//! Every node stores what it holds, replicated data included, so a full-cluster restart keeps
//! everything that any node had. Loaded records are merged like replicated ones, so they are
//! not sent to peers as local writes: a member's own data reaches the others through verify
//! (the member responsible for a service sends its checksums), as after any restart. The
//! encoding of a row is [`codec`]'s: a format version byte and the row as JSON.
//!
//! ## When a write is on disk: group commit and the fsync policy
//!
//! Every published change of a service that has (or had) persistent state marks the service
//! dirty, in order. One committer thread takes *every* pending service at once, reads each
//! one's current snapshot, and hands the rows that changed to [`Persistence::commit`] as one
//! batch: one transaction, one fsync. Writes that arrive while a commit runs form the next
//! batch. There is no added delay: a lone write is committed at once, and under load the
//! batch grows by itself to what arrived during one fsync ([`CommitPolicy::group`], the
//! default). [`CommitPolicy::per_write`] commits one change per transaction instead, which is
//! an fsync per write: a baseline for measurements. Changes of a service already waiting for
//! the committer join its entry, so the queue holds at most one entry per service (the
//! per-write baseline excepted, while its commits succeed).
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
//! ## When the disk fails
//!
//! The wait has a deadline, [`CommitPolicy::wait_timeout`] (default 5 s, `nacre-server
//! --persist-wait`): a write whose commit hangs is answered [`NotPersisted::TimedOut`]
//! rather than held. A commit that fails (disk full, I/O error) answers every write waiting
//! on it with [`NotPersisted::Failed`]. Both are HTTP 503 on every front of the member that
//! applied the write, and of a member that forwarded it there (the peer answer says so,
//! [`crate::cluster::RemoteFailure::NotPersisted`]): the write is in memory but not on disk,
//! and is committed as soon as the disk allows. From a failed commit
//! until one succeeds, [`crate::RegistryReader::persist_failure`] says why, and the node is
//! not ready ([`crate::front::NotReady::Disk`]: the readiness probe answers 503 with the
//! reason, `nacre_ready` is 0), so traffic can go elsewhere. The committer tries again after
//! [`CommitPolicy::retry_after`]: 1 s, doubling to at most 16 s, without being hurried by new
//! writes. `FileStore` (feature `persist`) reopens its file at the next try after an I/O
//! error (the database refuses every write of a handle that met one), so the node recovers
//! by itself once the disk does, with no restart.
//!
//! ## Differences from Nacos
//!
//! - Nacos keeps persistent instances in a Raft group (JRaft): a write is acknowledged once a
//!   majority has it. nacre stays AP: a write is durable on the member that applied it before
//!   it answers, and reaches the others by Distro replication. A member that loses its disk
//!   for good loses what it had not replicated yet.
//! - Nacos writes service metadata through the same Raft log; here it is a row of its own
//!   beside the rows of the service's persistent instances.
//! - Nacos snapshots its Raft state to files under `data/`; nacre keeps one embedded
//!   database file (see `FileStore`, feature `persist`).
//! - A Raft write that does not commit in time fails in Nacos after its
//!   `rpc_request_timeout_ms` (5 s), which nacre's default wait copies; Nacos answers it 500,
//!   nacre 503, and nacre's readiness reports the failing disk.
//!
pub mod codec;
mod error;
#[cfg(feature = "persist")]
mod file;
#[cfg(feature = "persist")]
pub(crate) mod file_util;
mod journal;
mod part;

pub use error::{NotPersisted, PersistError};
#[cfg(feature = "persist")]
#[cfg_attr(docsrs, doc(cfg(feature = "persist")))]
pub use file::{FileStore, FILE_NAME};
pub(crate) use journal::Journal;
pub(crate) use part::count as part_count;
pub use part::persistent_part;

use crate::model::{InstanceKey, ServiceKey};
use crate::store::{InstanceRecord, ServiceMeta, ServiceRecord};
use std::collections::BTreeMap;
use std::time::Duration;

/// Storage for the persistent part of a registry: see the module documentation.
///
/// Implement it to keep nacre's durable state in the host's own storage; nacre calls it from
/// one committer thread at a time, and [`Persistence::load`] once, before it serves.
pub trait Persistence: Send + Sync + 'static {
    /// Every stored service, its stored instances gathered into one [`ServiceRecord`]. An
    /// error stops the registry from starting: a store that cannot be read must not be taken
    /// for an empty one.
    fn load(&self) -> Result<Vec<ServiceRecord>, PersistError>;

    /// Stores `writes` durably, all or none, in order: when it returns `Ok`, every write is on
    /// stable storage (fsync'd), and a crash at any point leaves either all of them or none.
    ///
    /// A failed commit is tried again (with the same changes, and those made since) after
    /// [`CommitPolicy::retry_after`]: an implementation whose handle is left unusable by an
    /// I/O error should reopen it on the next call, as `FileStore` does.
    fn commit(&self, writes: &[StoreWrite]) -> Result<(), PersistError>;
}

/// One change to a [`Persistence`]: a service's row, or the row of one of its instances.
///
/// The committer sends only what changed since the last commit: a registration into a
/// service of 450 instances is one [`StoreWrite::PutInstance`]. Within one commit a
/// service's [`StoreWrite::PutService`] comes before its first [`StoreWrite::PutInstance`]
/// when the service has no row yet; a service whose row is deleted
/// ([`StoreWrite::DeleteService`]) gets no other write in that commit.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreWrite {
    /// Store (or replace) the service-level state of `service`: the service has a row from
    /// now on.
    PutService {
        /// The service.
        service: ServiceKey,
        /// Its settings, removal and versions.
        meta: ServiceMeta,
    },
    /// Store (or replace) the record of one instance of `service`: live, or its tombstone.
    PutInstance {
        /// The service.
        service: ServiceKey,
        /// The instance's record.
        record: InstanceRecord,
    },
    /// Delete the record of one instance of `service`.
    DeleteInstance {
        /// The service.
        service: ServiceKey,
        /// The instance.
        instance: InstanceKey,
    },
    /// Delete the row of this service and the records of all its instances.
    DeleteService(ServiceKey),
}

impl StoreWrite {
    /// The service the write concerns.
    pub fn service(&self) -> &ServiceKey {
        match self {
            StoreWrite::PutService { service, .. }
            | StoreWrite::PutInstance { service, .. }
            | StoreWrite::DeleteInstance { service, .. }
            | StoreWrite::DeleteService(service) => service,
        }
    }

    /// Applies the write to rows kept as one [`ServiceRecord`] per service: all a store that
    /// keeps them in a map has to do. An instance write for a service without a row changes
    /// nothing (the committer never sends one).
    ///
    /// ```
    /// use nacre::persist::{persistent_part, StoreWrite};
    /// use nacre::{Instance, Registry, ServiceKey};
    /// use std::collections::BTreeMap;
    /// let registry = Registry::default();
    /// let db = ServiceKey::named("db")?;
    /// registry.register_instance(&db, Instance::builder("10.0.0.9", 5432).ephemeral(false).build()?)?;
    /// let row = persistent_part(registry.service(&db).as_deref(), None).unwrap();
    /// let mut rows = BTreeMap::new();
    /// StoreWrite::PutService { service: db.clone(), meta: row.meta.clone() }.apply_to(&mut rows);
    /// let record = row.instances[0].clone();
    /// StoreWrite::PutInstance { service: db.clone(), record: record.clone() }.apply_to(&mut rows);
    /// assert_eq!(rows[&db], row);
    /// StoreWrite::DeleteInstance { service: db.clone(), instance: record.key }.apply_to(&mut rows);
    /// assert!(rows[&db].instances.is_empty());
    /// StoreWrite::DeleteService(db.clone()).apply_to(&mut rows);
    /// assert!(rows.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply_to(&self, rows: &mut BTreeMap<ServiceKey, ServiceRecord>) {
        match self {
            StoreWrite::PutService { service, meta } => {
                rows.entry(service.clone())
                    .and_modify(|row| row.meta = meta.clone())
                    .or_insert_with(|| ServiceRecord {
                        key: service.clone(),
                        meta: meta.clone(),
                        instances: Vec::new(),
                    });
            }
            StoreWrite::PutInstance { service, record } => {
                if let Some(row) = rows.get_mut(service) {
                    match row.instances.iter_mut().find(|i| i.key == record.key) {
                        Some(old) => *old = record.clone(),
                        None => row.instances.push(record.clone()),
                    }
                }
            }
            StoreWrite::DeleteInstance { service, instance } => {
                if let Some(row) = rows.get_mut(service) {
                    row.instances.retain(|i| &i.key != instance);
                }
            }
            StoreWrite::DeleteService(service) => {
                rows.remove(service);
            }
        }
    }
}

/// How long a write waits for its commit by default ([`CommitPolicy::wait_timeout`]): Nacos'
/// default for a write through its Raft group (`rpc_request_timeout_ms`, 5 s).
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the committer batches writes, retries failed commits, and how long a write waits for
/// its commit: see the module documentation.
///
/// ```
/// use nacre::persist::CommitPolicy;
/// use std::time::Duration;
/// assert_eq!(CommitPolicy::default(), CommitPolicy::group());
/// assert_eq!(CommitPolicy::per_write().max_batch, 1);
/// // Failed commits are tried again after 1 s, 2 s, 4 s, ... up to 16 s.
/// let p = CommitPolicy::default();
/// assert_eq!(p.retry_after(1), Duration::from_secs(1));
/// assert_eq!(p.retry_after(3), Duration::from_secs(4));
/// assert_eq!(p.retry_after(40), Duration::from_secs(16));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitPolicy {
    /// At most this many services' changes per commit; `usize::MAX` takes every pending one
    /// (group commit), 1 commits (and fsyncs) once per change.
    pub max_batch: usize,
    /// How long the committer waits before it tries again after a failed commit; the wait
    /// doubles with each failure in a row, up to `max_retry_delay`.
    pub retry_delay: Duration,
    /// The longest wait between two tries while commits keep failing.
    pub max_retry_delay: Duration,
    /// How long a write waits for its commit before it is answered with
    /// [`NotPersisted::TimedOut`] (HTTP 503); the write stays applied in memory and is
    /// committed when the disk allows. `nacre-server --persist-wait`.
    pub wait_timeout: Duration,
}

impl CommitPolicy {
    /// Group commit: every pending change in one transaction, no added delay.
    pub fn group() -> Self {
        Self {
            max_batch: usize::MAX,
            retry_delay: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(16),
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
        }
    }

    /// One transaction (one fsync) per change: a baseline for measurements. Each change is
    /// committed on its own and rewrites its service's row, even when an earlier commit
    /// already carried it (it reads the service's current state), as a store without group
    /// commit does. While commits fail, changes of one service wait as one, as under group
    /// commit.
    pub fn per_write() -> Self {
        Self {
            max_batch: 1,
            ..Self::group()
        }
    }

    /// How long the committer waits after the `failures`-th failed commit in a row (counted
    /// from 1) before it tries again: `retry_delay`, doubled for each failure before this one,
    /// at most `max_retry_delay`. Pure: the committer's driver sleeps it.
    pub fn retry_after(&self, failures: u64) -> Duration {
        let doublings = u32::try_from(failures.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(31);
        self.retry_delay
            .saturating_mul(1 << doublings)
            .min(self.max_retry_delay.max(self.retry_delay))
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
    /// Entries in the committer's queue: at most one per service while commits fail or
    /// under group commit; one per change under [`CommitPolicy::per_write`] while commits
    /// succeed.
    pub queued: usize,
    /// Commits (transactions, each one fsync) that wrote something.
    pub commits: u64,
    /// Rows they wrote (puts and deletes of service and instance rows).
    pub rows_written: u64,
    /// Commits that failed.
    pub failed_commits: u64,
}

/// Why a registry's persistence is failing: its last commit failed, and no commit has
/// succeeded since ([`crate::RegistryReader::persist_failure`]). Readiness reports it
/// ([`crate::front::Backend::readiness`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{attempts} commit(s) in a row failed, the last with: {error}")]
#[non_exhaustive]
pub struct PersistFailure {
    /// Commits that failed in a row.
    pub attempts: u64,
    /// Why the last one failed.
    pub error: String,
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

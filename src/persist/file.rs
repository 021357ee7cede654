//! [`FileStore`]: a [`Persistence`] in one file, `DIR/nacre.redb`, on
//! [redb](https://docs.rs/redb).
//!
//! Why redb: it is pure Rust (no C toolchain, no bindings), small (no dependency besides
//! `libc`), ACID with copy-on-write B-trees and checksummed pages, and crash-safe by design: a
//! commit is durable when it returns, and a process killed at any point (`kill -9`, power
//! loss) reopens at the last commit, with a repair pass when it was not closed cleanly. It is
//! maintained, stable in format, and used in production. sled is unmaintained in its stable
//! line; fjall (an LSM tree) and RocksDB bring far more than two small tables of rows need,
//! RocksDB a C++ build with it; SQLite would bring C. The 2.x line is used because its MSRV
//! fits nacre's; files are created in redb's v3 file format, which redb 3 opens as it is.
//!
//! Layout (store format 2, see [`super::codec`]): a table `service_rows` from a service's
//! `namespace/group@@service` to its row (its key and service-level state), and a table
//! `instance_rows` from (service, `ip:port#cluster`) to an instance's record. A registration
//! into a service of 450 instances writes one instance row, not the service's 450. Every
//! [`Persistence::commit`] is one write transaction with [`redb::Durability::Immediate`]: its
//! data and redb's commit slot are fsync'd before it returns (group commit in [`super`]
//! decides how many changes share it). The table `services` held the rows of format 1, one
//! per service with all its instances; [`FileStore::open`] migrates a store of format 1 in
//! one transaction (each row becomes a service row and its instances' rows) and leaves in
//! `services` only a row `~format` holding the format version, which a nacre that reads only
//! format 1 refuses by name ([`PersistError::UnknownFormat`]) instead of taking the store for
//! an empty one.
//!
//! Permissions. The file is created with mode 0600, and a data directory `open` creates with
//! 0700 (each before the umask): the rows hold every persistent instance's metadata. An
//! existing file or directory keeps the mode its operator gave it; a file that others can read
//! is named in a warning at each open.
//!
//! I/O errors. After an I/O error (a full disk, a failing device) redb refuses every later
//! write of that handle, even once the disk has room again. A failed commit therefore drops
//! the handle, and the next commit (the committer retries, see [`super`]) reopens the file
//! first: redb rolls back to the last commit and repairs what the failure left, and the
//! checksums are verified again. A reopen that fails fails that commit, and the next one tries
//! again, so the store recovers by itself once the disk does, without a restart; meanwhile the
//! node reports itself not ready ([`crate::front::NotReady`]). A panic inside redb while
//! committing is caught and handled the same way.
//!
//! Bad files. [`FileStore::open`] verifies the checksums of every page
//! (`check_integrity`) before it reads anything, and [`FileStore::load`] decodes every row; a
//! file that is truncated, overwritten with other bytes, or holds a row of an unknown format
//! version is refused with a [`PersistError`] that names the file and says what to do (move
//! it away: the node then starts empty, and in a cluster loads its data from its peers). No
//! recovery of a damaged file's valid part is attempted: a file that fails its checksums
//! holds nothing that can be trusted to be the latest state, and starting from part of it
//! would be serving a silently older registry. A panic inside redb on a damaged file is
//! caught (and kept off stderr: redb asserts on some truncated files) and turned into
//! [`PersistError::Corrupt`] too. An empty file is refused as well: redb would take it for a
//! new database, and only a truncation (or a crash inside the very first open) leaves one.

use super::file_util::{open_checked, open_private_file, warn_if_readable_by_others};
use super::{codec, PersistError, Persistence, StoreWrite};
use crate::model::ServiceKey;
use crate::store::ServiceRecord;
use crate::util::lock;
use redb::backends::FileBackend;
use redb::{
    Database, DatabaseError, ReadableTable, StorageBackend, StorageError, TableDefinition,
    WriteTransaction,
};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The rows of format 1 (one per service); in format 2 only [`FORMAT_ROW`].
const FORMAT_1_SERVICES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("services");
/// The service rows: `namespace/group@@service` to [`codec::encode_service`].
const SERVICES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("service_rows");
/// The instance rows: (service, `ip:port#cluster`) to [`codec::encode_instance`].
const INSTANCES: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("instance_rows");
/// The key of the row of [`FORMAT_1_SERVICES`] that holds the store's format version; no
/// service's row key looks like it (those hold `@@`).
const FORMAT_ROW: &str = "~format";

/// The file's name in the data directory.
pub const FILE_NAME: &str = "nacre.redb";

/// A [`Persistence`] in one redb file: see the module documentation.
///
/// ```
/// use nacre::persist::{CommitPolicy, FileStore};
/// use nacre::{Instance, Registry, ServiceKey};
/// use std::sync::Arc;
/// let dir = std::env::temp_dir().join(format!("nacre-doc-{}", std::process::id()));
/// let db = ServiceKey::named("db")?;
/// {
///     let registry = Registry::default();
///     registry.attach_persistence(Arc::new(FileStore::open(&dir)?), CommitPolicy::default())?;
///     let primary = Instance::builder("10.0.0.9", 5432).ephemeral(false).build()?;
///     registry.register_instance(&db, primary)?;
///     registry.wait_persisted(&db)?;
/// } // dropping the registry closes the file
/// let registry = Registry::default();
/// registry.attach_persistence(Arc::new(FileStore::open(&dir)?), CommitPolicy::default())?;
/// assert_eq!(registry.get_all_instances(&db, &[]).len(), 1);
/// # drop(registry);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FileStore {
    path: PathBuf,
    /// The open database; `None` after a failed commit, until the next commit reopens it.
    db: Mutex<Option<Database>>,
    io: Arc<DiskIo>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .field("bytes_written", &self.bytes_written())
            .finish()
    }
}

impl FileStore {
    /// Opens (or creates) the store in directory `dir` (created if missing, mode 0700),
    /// verifies every page's checksum (a damaged file is refused here, before anything is
    /// served), and migrates a store of format 1 to format 2.
    pub fn open(dir: &Path) -> Result<FileStore, PersistError> {
        Self::open_with(dir, Arc::default())
    }

    fn open_with(dir: &Path, io: Arc<DiskIo>) -> Result<FileStore, PersistError> {
        create_private_dir(dir).map_err(|e| {
            PersistError::io(
                format!("cannot create the data directory {}", dir.display()),
                e,
            )
        })?;
        let store = FileStore {
            path: dir.join(FILE_NAME),
            db: Mutex::new(None),
            io,
        };
        let db = store.open_db()?;
        store.ensure_format(&db)?;
        *lock(&store.db) = Some(db);
        Ok(store)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written to the file since [`FileStore::open`] (its pages and headers, through
    /// every reopen): what the disk took, for measurements.
    pub fn bytes_written(&self) -> u64 {
        self.io.written.load(Ordering::Relaxed)
    }

    /// Opens the file (created with mode 0600) as a database and verifies its checksums.
    fn open_db(&self) -> Result<Database, PersistError> {
        let path = &self.path;
        // redb would initialise an empty file as a new database: an emptied store must not
        // pass for a fresh one.
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            return Err(corrupt(
                path,
                "the file is empty (0 bytes): it was truncated",
            ));
        }
        let file = open_private_file(path)
            .map_err(|e| PersistError::io(format!("cannot open {}", path.display()), e))?;
        warn_if_readable_by_others(path, &file);
        let io = self.io.clone();
        let opened = open_checked(move || {
            Ok(Disk {
                file: FileBackend::new(file)?,
                io,
            })
        });
        let (db, intact) = match opened {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return Err(open_error(path, e)),
            Err(_) => return Err(corrupt(path, "the database library failed reading it")),
        };
        if !intact {
            // redb repaired what an unclean stop left (allocator state); the data pages passed
            // their checksums.
            tracing::info!(path = %path.display(), "the store was not closed cleanly and was repaired");
        }
        Ok(db)
    }

    /// Creates the tables of format 2 if missing, and migrates the rows of format 1.
    fn ensure_format(&self, db: &Database) -> Result<(), PersistError> {
        let tx = db
            .begin_write()
            .map_err(|e| self.io("opening a write", e))?;
        let migrated = self.migrate(&tx)?;
        tx.commit().map_err(|e| self.io("committing", e))?;
        if migrated > 0 {
            tracing::info!(
                path = %self.path.display(),
                services = migrated,
                "migrated the store from format 1 (a row per service) to format 2 (a row per \
                 instance)"
            );
        }
        Ok(())
    }

    /// Within `tx`: the tables of format 2, every row of format 1 moved into them, and the
    /// format row. Returns the services migrated.
    fn migrate(&self, tx: &WriteTransaction) -> Result<usize, PersistError> {
        let mut old = tx
            .open_table(FORMAT_1_SERVICES)
            .map_err(|e| self.storage(e.into()))?;
        let mut services = tx
            .open_table(SERVICES)
            .map_err(|e| self.storage(e.into()))?;
        let mut instances = tx
            .open_table(INSTANCES)
            .map_err(|e| self.storage(e.into()))?;
        let mut records = Vec::new();
        let mut format = None;
        for row in old.iter().map_err(|e| self.storage(e.into()))? {
            let (key, value) = row.map_err(|e| self.storage(e.into()))?;
            if key.value() == FORMAT_ROW {
                format = value.value().first().copied();
                continue;
            }
            let location = self.row(key.value());
            let record = codec::decode_format1(value.value(), &location)?;
            check_key(&location, key.value(), &record.key)?;
            records.push((key.value().to_owned(), record));
        }
        match format {
            Some(found) if found > codec::FORMAT_VERSION => {
                return Err(PersistError::UnknownFormat {
                    location: self.row(FORMAT_ROW),
                    found,
                    supported: codec::FORMAT_VERSION,
                })
            }
            Some(codec::FORMAT_VERSION) | None => {}
            Some(other) => {
                return Err(corrupt(
                    &self.path,
                    &format!("the format row names format {other}, which was never written"),
                ))
            }
        }
        for (key, record) in &records {
            let row = codec::encode_service(&record.key, &record.meta)?;
            services
                .insert(key.as_str(), row.as_slice())
                .map_err(|e| self.io("migrating a row", e))?;
            for instance in &record.instances {
                let row = codec::encode_instance(instance)?;
                let ikey = codec::instance_key(&instance.key);
                instances
                    .insert((key.as_str(), ikey.as_str()), row.as_slice())
                    .map_err(|e| self.io("migrating a row", e))?;
            }
            old.remove(key.as_str())
                .map_err(|e| self.io("migrating a row", e))?;
        }
        if format.is_none() || !records.is_empty() {
            old.insert(FORMAT_ROW, [codec::FORMAT_VERSION].as_slice())
                .map_err(|e| self.io("writing the format row", e))?;
        }
        Ok(records.len())
    }

    fn io(&self, what: &str, e: impl std::error::Error + Send + Sync + 'static) -> PersistError {
        PersistError::io(format!("{}: {what}", self.path.display()), e)
    }

    /// A row's location, for errors.
    fn row(&self, key: &str) -> String {
        format!("{} (row `{key}`)", self.path.display())
    }

    fn load_rows(&self, db: &Database) -> Result<Vec<ServiceRecord>, PersistError> {
        let tx = db.begin_read().map_err(|e| self.storage(e.into()))?;
        let services = tx
            .open_table(SERVICES)
            .map_err(|e| self.storage(e.into()))?;
        let mut out = BTreeMap::new();
        for row in services.iter().map_err(|e| self.storage(e.into()))? {
            let (key, value) = row.map_err(|e| self.storage(e.into()))?;
            let location = self.row(key.value());
            let (service, meta) = codec::decode_service(value.value(), &location)?;
            check_key(&location, key.value(), &service)?;
            out.insert(
                key.value().to_owned(),
                ServiceRecord {
                    key: service,
                    meta,
                    instances: Vec::new(),
                },
            );
        }
        let instances = tx
            .open_table(INSTANCES)
            .map_err(|e| self.storage(e.into()))?;
        for row in instances.iter().map_err(|e| self.storage(e.into()))? {
            let (key, value) = row.map_err(|e| self.storage(e.into()))?;
            let (service, instance) = key.value();
            let location = self.row(&format!("{service} {instance}"));
            let record = codec::decode_instance(value.value(), &location)?;
            let Some(owner) = out.get_mut(service) else {
                return Err(PersistError::Corrupt {
                    location,
                    reason: "an instance row of a service that has no row".to_owned(),
                });
            };
            if codec::instance_key(&record.key) != instance {
                return Err(PersistError::Corrupt {
                    location,
                    reason: format!(
                        "the row holds the record of another instance, {}",
                        codec::instance_key(&record.key)
                    ),
                });
            }
            owner.instances.push(record);
        }
        Ok(out.into_values().collect())
    }

    fn write(&self, db: &Database, writes: &[StoreWrite]) -> Result<(), PersistError> {
        let mut tx = db
            .begin_write()
            .map_err(|e| self.io("opening a write", e))?;
        tx.set_durability(redb::Durability::Immediate);
        {
            let mut services = tx
                .open_table(SERVICES)
                .map_err(|e| self.io("opening the service rows", e))?;
            let mut instances = tx
                .open_table(INSTANCES)
                .map_err(|e| self.io("opening the instance rows", e))?;
            for w in writes {
                let service = codec::row_key(w.service());
                match w {
                    StoreWrite::PutService { service: key, meta } => {
                        let bytes = codec::encode_service(key, meta)?;
                        services
                            .insert(service.as_str(), bytes.as_slice())
                            .map_err(|e| self.io("writing a service row", e))?;
                    }
                    StoreWrite::PutInstance { record, .. } => {
                        let bytes = codec::encode_instance(record)?;
                        let instance = codec::instance_key(&record.key);
                        instances
                            .insert((service.as_str(), instance.as_str()), bytes.as_slice())
                            .map_err(|e| self.io("writing an instance row", e))?;
                    }
                    StoreWrite::DeleteInstance { instance, .. } => {
                        let instance = codec::instance_key(instance);
                        instances
                            .remove((service.as_str(), instance.as_str()))
                            .map_err(|e| self.io("deleting an instance row", e))?;
                    }
                    StoreWrite::DeleteService(_) => {
                        services
                            .remove(service.as_str())
                            .map_err(|e| self.io("deleting a service row", e))?;
                        // Every instance row of the service, and only those: the keys that
                        // sort from (service, "") to before (service + "\0", "").
                        let end = format!("{service}\0");
                        instances
                            .retain_in((service.as_str(), "")..(end.as_str(), ""), |_, _| false)
                            .map_err(|e| self.io("deleting instance rows", e))?;
                    }
                }
            }
        }
        tx.commit().map_err(|e| self.io("committing", e))
    }

    fn storage(&self, e: redb::Error) -> PersistError {
        match e {
            redb::Error::Corrupted(reason) => corrupt(&self.path, &reason),
            other => self.io("reading", other),
        }
    }

    /// The open database, reopening it after a failure; `slot` is [`FileStore::db`] locked.
    fn reopened(&self, slot: &mut Option<Database>) -> Result<Database, PersistError> {
        if let Some(db) = slot.take() {
            return Ok(db);
        }
        let db = self.open_db()?;
        tracing::warn!(
            path = %self.path.display(),
            "reopened the store after a failed commit"
        );
        Ok(db)
    }
}

impl Persistence for FileStore {
    fn load(&self) -> Result<Vec<ServiceRecord>, PersistError> {
        let mut slot = lock(&self.db);
        let db = self.reopened(&mut slot)?;
        let rows = catch_unwind(AssertUnwindSafe(|| self.load_rows(&db))).unwrap_or_else(|_| {
            Err(corrupt(
                &self.path,
                "the database library failed reading it",
            ))
        });
        *slot = Some(db);
        rows
    }

    fn commit(&self, writes: &[StoreWrite]) -> Result<(), PersistError> {
        let mut slot = lock(&self.db);
        let db = self.reopened(&mut slot)?;
        let result = catch_unwind(AssertUnwindSafe(|| self.write(&db, writes)))
            .unwrap_or_else(|_| Err(self.io("committing", Panicked)));
        match result {
            Ok(()) => *slot = Some(db),
            Err(_) => {
                // redb refuses every write of a handle that met an I/O error: close it, and
                // reopen the file at the next commit.
                drop(db);
            }
        }
        result
    }
}

/// A panic inside the database library, as an error.
#[derive(Debug, thiserror::Error)]
#[error("the database library panicked")]
struct Panicked;

/// What goes through [`Disk`]: bytes written; in unit tests, injected failures.
#[derive(Debug, Default)]
struct DiskIo {
    written: AtomicU64,
    /// Every write, resize and sync fails while set (unit tests: a full disk).
    #[cfg(test)]
    failing: std::sync::atomic::AtomicBool,
}

impl DiskIo {
    fn check(&self) -> std::io::Result<()> {
        #[cfg(test)]
        if self.failing.load(Ordering::SeqCst) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device (injected)",
            ));
        }
        Ok(())
    }
}

/// redb's file backend, counting the bytes written (and failing on demand in unit tests).
#[derive(Debug)]
struct Disk {
    file: FileBackend,
    io: Arc<DiskIo>,
}

impl StorageBackend for Disk {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.file.len()
    }

    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, std::io::Error> {
        self.file.read(offset, len)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.io.check()?;
        self.file.set_len(len)
    }

    fn sync_data(&self, eventual: bool) -> Result<(), std::io::Error> {
        self.io.check()?;
        self.file.sync_data(eventual)
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.io.check()?;
        self.io
            .written
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.file.write(offset, data)
    }
}

/// Creates `dir` and its missing parents, each with mode 0700 (before the umask).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Opens `path` for reading and writing, creating it with mode 0600 (before the umask).
/// Refuses a row whose key is not its record's.
fn check_key(location: &str, key: &str, service: &ServiceKey) -> Result<(), PersistError> {
    if codec::row_key(service) == key {
        return Ok(());
    }
    Err(PersistError::Corrupt {
        location: location.to_owned(),
        reason: format!("the row holds the record of another service, {service}"),
    })
}

/// Runs `f`, catching a panic (redb asserts on some damaged files) without printing it: the
/// panic hook in force is bypassed for this thread only while `f` runs, so a host's hook still
/// sees every other thread's panics.
fn corrupt(path: &Path, reason: &str) -> PersistError {
    PersistError::Corrupt {
        location: path.display().to_string(),
        reason: reason.to_owned(),
    }
}

fn open_error(path: &Path, e: DatabaseError) -> PersistError {
    match e {
        DatabaseError::DatabaseAlreadyOpen => PersistError::InUse(path.to_owned()),
        DatabaseError::Storage(StorageError::Corrupted(reason)) => corrupt(path, &reason),
        DatabaseError::UpgradeRequired(v) => PersistError::UnknownFormat {
            location: path.display().to_string(),
            found: v,
            supported: codec::FORMAT_VERSION,
        },
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData
                || io.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            corrupt(path, &io.to_string())
        }
        other => PersistError::io(format!("cannot open {}", path.display()), other),
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;

//! [`FileStore`]: a [`Persistence`] in one file, `DIR/nacre.redb`, on
//! [redb](https://docs.rs/redb).
//!
//! Why redb: it is pure Rust (no C toolchain, no bindings), small (no dependency besides
//! `libc`), ACID with copy-on-write B-trees and checksummed pages, and crash-safe by design: a
//! commit is durable when it returns, and a process killed at any point (`kill -9`, power
//! loss) reopens at the last commit, with a repair pass when it was not closed cleanly. It is
//! maintained, stable in format, and used in production. sled is unmaintained in its stable
//! line; fjall (an LSM tree) and RocksDB bring far more than one small table of rows needs,
//! RocksDB a C++ build with it; SQLite would bring C. The 2.x line is used because its MSRV
//! fits nacre's; files are created in redb's v3 file format, which redb 3 opens as it is.
//!
//! Layout: one table, `services`, from a service's `namespace/group@@service` to its row
//! ([`super::codec`]: a format version byte and the record as JSON). Every
//! [`Persistence::commit`] is one write transaction with [`redb::Durability::Immediate`]: its
//! data and redb's commit slot are fsync'd before it returns (group commit in
//! [`super`] decides how many changes share it).
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

use super::{codec, PersistError, Persistence, StoreWrite};
use crate::store::ServiceRecord;
use redb::{Database, DatabaseError, ReadableTable, StorageError, TableDefinition};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The table of rows.
const SERVICES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("services");

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
    db: Database,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .finish()
    }
}

impl FileStore {
    /// Opens (or creates) the store in directory `dir` (created if missing), and verifies
    /// every page's checksum: a damaged file is refused here, before anything is served.
    pub fn open(dir: &Path) -> Result<FileStore, PersistError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            PersistError::io(
                format!("cannot create the data directory {}", dir.display()),
                e,
            )
        })?;
        let path = dir.join(FILE_NAME);
        // redb would initialise an empty file as a new database: an emptied store must not
        // pass for a fresh one.
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == 0) {
            return Err(corrupt(
                &path,
                "the file is empty (0 bytes): it was truncated",
            ));
        }
        let opened = quietly(|| {
            let mut db = Database::builder()
                .create_with_file_format_v3(true)
                .create(&path)?;
            let intact = db.check_integrity()?;
            Ok::<_, DatabaseError>((db, intact))
        });
        let (db, intact) = match opened {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return Err(open_error(&path, e)),
            Err(_) => return Err(corrupt(&path, "the database library failed reading it")),
        };
        if !intact {
            // redb repaired what an unclean stop left (allocator state); the data pages passed
            // their checksums.
            tracing::info!(path = %path.display(), "the store was not closed cleanly and was repaired");
        }
        let store = FileStore { path, db };
        store.ensure_table()?;
        Ok(store)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn ensure_table(&self) -> Result<(), PersistError> {
        let tx = self
            .db
            .begin_write()
            .map_err(|e| self.io("opening a write", e))?;
        tx.open_table(SERVICES)
            .map_err(|e| self.io("opening the services table", e))?;
        tx.commit().map_err(|e| self.io("committing", e))
    }

    fn io(&self, what: &str, e: impl std::error::Error + Send + Sync + 'static) -> PersistError {
        PersistError::io(format!("{}: {what}", self.path.display()), e)
    }

    fn load_rows(&self) -> Result<Vec<ServiceRecord>, PersistError> {
        let tx = self.db.begin_read().map_err(|e| self.storage(e.into()))?;
        let table = tx
            .open_table(SERVICES)
            .map_err(|e| self.storage(e.into()))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.storage(e.into()))? {
            let (key, value) = row.map_err(|e| self.storage(e.into()))?;
            let location = format!("{} (row `{}`)", self.path.display(), key.value());
            let record = codec::decode(value.value(), &location)?;
            if codec::row_key(&record.key) != key.value() {
                return Err(PersistError::Corrupt {
                    location,
                    reason: format!(
                        "the row holds the record of another service, {}",
                        record.key
                    ),
                });
            }
            out.push(record);
        }
        Ok(out)
    }

    fn storage(&self, e: redb::Error) -> PersistError {
        match e {
            redb::Error::Corrupted(reason) => corrupt(&self.path, &reason),
            other => self.io("reading", other),
        }
    }
}

impl Persistence for FileStore {
    fn load(&self) -> Result<Vec<ServiceRecord>, PersistError> {
        catch_unwind(AssertUnwindSafe(|| self.load_rows())).unwrap_or_else(|_| {
            Err(corrupt(
                &self.path,
                "the database library failed reading it",
            ))
        })
    }

    fn commit(&self, writes: &[StoreWrite]) -> Result<(), PersistError> {
        let mut tx = self
            .db
            .begin_write()
            .map_err(|e| self.io("opening a write", e))?;
        tx.set_durability(redb::Durability::Immediate);
        {
            let mut table = tx
                .open_table(SERVICES)
                .map_err(|e| self.io("opening the services table", e))?;
            for w in writes {
                match w {
                    StoreWrite::Put(record) => {
                        let bytes = codec::encode(record)?;
                        table
                            .insert(codec::row_key(&record.key).as_str(), bytes.as_slice())
                            .map_err(|e| self.io("writing a row", e))?;
                    }
                    StoreWrite::Delete(key) => {
                        table
                            .remove(codec::row_key(key).as_str())
                            .map_err(|e| self.io("deleting a row", e))?;
                    }
                }
            }
        }
        tx.commit().map_err(|e| self.io("committing", e))
    }
}

/// Runs `f`, catching a panic (redb asserts on some damaged files) without printing it: the
/// panic hook in force is bypassed for this thread only while `f` runs, so a host's hook still
/// sees every other thread's panics.
fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    let me = std::thread::current().id();
    let previous: Arc<PanicHook> = Arc::from(std::panic::take_hook());
    let delegate = previous.clone();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != me {
            delegate(info);
        }
    }));
    let result = catch_unwind(AssertUnwindSafe(f));
    let _ours = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| previous(info)));
    result
}

type PanicHook = dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static;

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

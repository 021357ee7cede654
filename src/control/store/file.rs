//! [`StoreFile`]: the one redb file the control plane's log and state machine share, its
//! tables, the format check at open, and the row codec (postcard).
//!
//! Tables:
//! - `control_meta` (`&str` → bytes): `format` (one byte, [`FORMAT`]), `vote`, `committed`,
//!   `purged` (the last purged log id);
//! - `control_log` (`u64` → bytes): the log entries by index;
//! - `control_snapshot` (`&str` → bytes): `meta` and `data` of the current snapshot.
//!
//! Every write is one transaction committed with [`Durability::Immediate`]: the data is on
//! disk when the commit returns, before openraft is told.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use redb::{
    Database, DatabaseError, Durability, ReadableTable, ReadableTableMetadata, TableDefinition,
    TableHandle, WriteTransaction,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ControlStoreError;
use super::StoreLimits;
use crate::persist::file_util;

pub(super) const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("control_meta");
pub(super) const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("control_log");
pub(super) const SNAPSHOT: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("control_snapshot");

/// The store format this build reads and writes. 2: the state holds operator overrides,
/// cluster settings and users (format 1, namespaces only, came from pre-release builds and is
/// not read).
pub(super) const FORMAT: u8 = 2;
const TABLES: [&str; 3] = ["control_meta", "control_log", "control_snapshot"];

/// The redb database of the control plane and where it lives.
pub(super) struct StoreFile {
    // Fields drop in order: the database (which flushes and unlocks the file) before
    // `closed` says so.
    pub(super) db: Database,
    pub(super) path: PathBuf,
    pub(super) limits: StoreLimits,
    pub(super) closed: ClosedOnDrop,
}

/// Set once the [`StoreFile`] holding it, and so its database, is dropped.
#[derive(Default)]
pub(super) struct ClosedOnDrop(pub(super) Arc<AtomicBool>);

impl Drop for ClosedOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl std::fmt::Debug for StoreFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreFile")
            .field("path", &self.path)
            .finish()
    }
}

impl StoreFile {
    /// Opens (or creates) the file, verifies its checksums and its format.
    pub(super) fn open(path: &Path, limits: StoreLimits) -> Result<StoreFile, ControlStoreError> {
        // redb would initialise an empty file as a new database: an emptied store must not
        // pass for a fresh one.
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            return Err(corrupt(
                path,
                "the file is empty (0 bytes): it was truncated",
            ));
        }
        let file = file_util::open_private_file(path)
            .map_err(|e| ControlStoreError::io(format!("cannot open {}", path.display()), e))?;
        file_util::warn_if_readable_by_others(path, &file);
        let opened = file_util::open_checked(move || redb::backends::FileBackend::new(file));
        let (db, intact) = match opened {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return Err(open_error(path, e)),
            Err(_) => return Err(corrupt(path, "the database library failed reading it")),
        };
        if !intact {
            tracing::info!(path = %path.display(), "the control store was not closed cleanly and was repaired");
        }
        let file = StoreFile {
            db,
            path: path.to_owned(),
            limits,
            closed: ClosedOnDrop::default(),
        };
        file.ensure_format()?;
        Ok(file)
    }

    /// A new file gets the format row; an existing one must have ours.
    fn ensure_format(&self) -> Result<(), ControlStoreError> {
        let tx = self.begin_write()?;
        {
            let tables = tx
                .list_tables()
                .map_err(|e| self.db_error("list tables", e))?;
            for table in tables {
                if !TABLES.contains(&table.name()) {
                    return Err(self.corrupt(&format!(
                        "it holds a table `{}`: it is not a control store",
                        table.name()
                    )));
                }
            }
            let mut meta = self.table(&tx, META)?;
            let found = meta
                .get("format")
                .map_err(|e| self.db_error("read the format", e))?
                .map(|v| v.value().to_vec());
            match found.as_deref() {
                Some([FORMAT]) => {}
                Some([v]) => {
                    return Err(ControlStoreError::OtherFormat {
                        location: self.path.display().to_string(),
                        found: *v,
                        supported: FORMAT,
                    })
                }
                Some(other) => {
                    return Err(self.corrupt(&format!("its format row holds {other:?}")));
                }
                None => {
                    let rows = meta.len().map_err(|e| self.db_error("read", e))?;
                    let log = self.table(&tx, LOG)?;
                    if rows != 0 || !log.is_empty().map_err(|e| self.db_error("read", e))? {
                        return Err(self.corrupt("it has rows but no format row"));
                    }
                    meta.insert("format", [FORMAT].as_slice())
                        .map_err(|e| self.db_error("write the format", e))?;
                }
            }
            self.table(&tx, SNAPSHOT)?;
        }
        self.commit(tx, "create the control store")
    }

    /// A write transaction that commits with [`Durability::Immediate`].
    pub(super) fn begin_write(&self) -> Result<WriteTransaction, ControlStoreError> {
        let mut tx = self
            .db
            .begin_write()
            .map_err(|e| self.db_error("begin a write", e))?;
        tx.set_durability(Durability::Immediate);
        Ok(tx)
    }

    /// `table`, open for writing in `tx`.
    pub(super) fn table<'tx, K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        tx: &'tx WriteTransaction,
        table: TableDefinition<'_, K, V>,
    ) -> Result<redb::Table<'tx, K, V>, ControlStoreError> {
        tx.open_table(table)
            .map_err(|e| self.db_error("open table", e))
    }

    /// Commits `tx`: on disk when this returns `Ok`.
    pub(super) fn commit(&self, tx: WriteTransaction, what: &str) -> Result<(), ControlStoreError> {
        tx.commit().map_err(|e| self.db_error(what, e))
    }

    /// `table`, open for reading in a read transaction of its own.
    pub(super) fn read_table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        table: TableDefinition<'_, K, V>,
    ) -> Result<redb::ReadOnlyTable<K, V>, ControlStoreError> {
        self.db
            .begin_read()
            .map_err(|e| self.db_error("begin a read", e))?
            .open_table(table)
            .map_err(|e| self.db_error("open table", e))
    }

    /// Reads and decodes the row `key` of `table`.
    pub(super) fn get<T: DeserializeOwned>(
        &self,
        table: TableDefinition<'_, &str, &[u8]>,
        key: &str,
    ) -> Result<Option<T>, ControlStoreError> {
        let table = self.read_table(table)?;
        let Some(row) = table.get(key).map_err(|e| self.db_error("read", e))? else {
            return Ok(None);
        };
        self.decode(row.value(), key).map(Some)
    }

    /// Encodes and writes the row `key` of `table`, durably.
    pub(super) fn put<T: Serialize>(
        &self,
        table: TableDefinition<'_, &str, &[u8]>,
        key: &str,
        value: &T,
    ) -> Result<(), ControlStoreError> {
        self.put_with(table, key, value, Durability::Immediate)
    }

    /// [`StoreFile::put`] without its own `fsync`: on disk with the next durable commit (the
    /// next append), and lost with a crash before it. For what may be behind after a crash:
    /// the committed index, which Raft learns again from the leader.
    pub(super) fn put_lazily<T: Serialize>(
        &self,
        table: TableDefinition<'_, &str, &[u8]>,
        key: &str,
        value: &T,
    ) -> Result<(), ControlStoreError> {
        self.put_with(table, key, value, Durability::None)
    }

    fn put_with<T: Serialize>(
        &self,
        table: TableDefinition<'_, &str, &[u8]>,
        key: &str,
        value: &T,
        durability: Durability,
    ) -> Result<(), ControlStoreError> {
        let bytes = self.encode(value, key)?;
        let mut tx = self.begin_write()?;
        tx.set_durability(durability);
        self.table(&tx, table)?
            .insert(key, bytes.as_slice())
            .map_err(|e| self.db_error("write", e))?;
        self.commit(tx, key)
    }

    pub(super) fn encode<T: Serialize>(
        &self,
        value: &T,
        row: &str,
    ) -> Result<Vec<u8>, ControlStoreError> {
        postcard::to_allocvec(value)
            .map_err(|e| ControlStoreError::io(format!("cannot encode {}", self.row(row)), e))
    }

    pub(super) fn decode<T: DeserializeOwned>(
        &self,
        bytes: &[u8],
        row: &str,
    ) -> Result<T, ControlStoreError> {
        postcard::from_bytes(bytes).map_err(|e| ControlStoreError::Corrupt {
            location: self.row(row),
            reason: format!("the row does not decode: {e}"),
        })
    }

    /// The file and a row, for error messages.
    pub(super) fn row(&self, row: &str) -> String {
        format!("{} (row {row})", self.path.display())
    }

    pub(super) fn corrupt(&self, reason: &str) -> ControlStoreError {
        corrupt(&self.path, reason)
    }

    /// A redb error while doing `what`: damage is [`ControlStoreError::Corrupt`].
    pub(super) fn db_error(&self, what: &str, e: impl Into<redb::Error>) -> ControlStoreError {
        match e.into() {
            redb::Error::Corrupted(reason) => self.corrupt(&reason),
            other => {
                ControlStoreError::io(format!("cannot {what} in {}", self.path.display()), other)
            }
        }
    }
}

fn corrupt(path: &Path, reason: &str) -> ControlStoreError {
    ControlStoreError::Corrupt {
        location: path.display().to_string(),
        reason: reason.to_owned(),
    }
}

fn open_error(path: &Path, e: DatabaseError) -> ControlStoreError {
    match e {
        DatabaseError::DatabaseAlreadyOpen => ControlStoreError::InUse(path.to_owned()),
        DatabaseError::Storage(redb::StorageError::Corrupted(reason)) => corrupt(path, &reason),
        DatabaseError::UpgradeRequired(v) => corrupt(
            path,
            &format!("it is a redb file of format {v}, which this build does not open"),
        ),
        DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData
                || io.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            corrupt(path, &io.to_string())
        }
        other => ControlStoreError::io(format!("cannot open {}", path.display()), other),
    }
}

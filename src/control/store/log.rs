//! [`ControlLog`]: openraft's [`RaftLogStorage`] on the control store's redb file: the log
//! entries, the vote, the committed log id and the purge point.
//!
//! Each call is one redb transaction, committed with `Durability::Immediate` before it
//! returns; [`RaftLogStorage::append`] calls openraft's callback only after its commit
//! returned, so an entry Raft counts as flushed is on disk.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogReader, StorageError,
    Vote,
};

use redb::ReadableTable;

use super::error::ControlStoreError;
use super::file::{StoreFile, LOG, META};
use crate::control::types::ControlTypeConfig;

type Result<T> = std::result::Result<T, StorageError<u64>>;

/// The control plane's Raft log, vote and committed id, in the control store's file. Cheap
/// to clone: clones share the file (and serve as openraft's log reader).
#[derive(Clone)]
pub struct ControlLog {
    file: Arc<StoreFile>,
}

impl std::fmt::Debug for ControlLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlLog")
            .field("path", &self.file.path)
            .finish()
    }
}

impl ControlLog {
    pub(super) fn new(file: Arc<StoreFile>) -> ControlLog {
        ControlLog { file }
    }

    /// Whether the store's file is still open (by a log, a machine, or a snapshot builder)
    /// when this returns: the probe stays valid after the log is handed to Raft.
    pub(crate) fn open_probe(&self) -> impl Fn() -> bool + Send + Sync + 'static {
        let closed = self.file.closed.0.clone();
        move || !closed.load(std::sync::atomic::Ordering::Acquire)
    }

    fn read_entries(
        &self,
        start: Bound<&u64>,
        end: Bound<&u64>,
    ) -> std::result::Result<Vec<Entry<ControlTypeConfig>>, ControlStoreError> {
        let f = &self.file;
        let table = f.read_table(LOG)?;
        let range = table
            .range::<u64>((start.cloned(), end.cloned()))
            .map_err(|e| f.db_error("read the log", e))?;
        let mut entries = Vec::new();
        for row in range {
            let (index, bytes) = row.map_err(|e| f.db_error("read the log", e))?;
            let index = index.value();
            let entry: Entry<ControlTypeConfig> =
                f.decode(bytes.value(), &format!("log {index}"))?;
            if entry.log_id.index != index {
                return Err(f.corrupt(&format!(
                    "the log row {index} holds entry {}",
                    entry.log_id.index
                )));
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    fn last_entry_id(&self) -> std::result::Result<Option<LogId<u64>>, ControlStoreError> {
        let f = &self.file;
        let table = f.read_table(LOG)?;
        let Some((index, bytes)) = table.last().map_err(|e| f.db_error("read the log", e))? else {
            return Ok(None);
        };
        let entry: Entry<ControlTypeConfig> =
            f.decode(bytes.value(), &format!("log {}", index.value()))?;
        Ok(Some(entry.log_id))
    }

    fn write_entries(
        &self,
        entries: impl IntoIterator<Item = Entry<ControlTypeConfig>>,
    ) -> std::result::Result<(), ControlStoreError> {
        let f = &self.file;
        let tx = f.begin_write()?;
        {
            let mut table = f.table(&tx, LOG)?;
            for entry in entries {
                let index = entry.log_id.index;
                let bytes = f.encode(&entry, &format!("log {index}"))?;
                if bytes.len() > f.limits.max_entry_bytes {
                    return Err(ControlStoreError::EntryTooLarge {
                        index,
                        size: bytes.len(),
                        limit: f.limits.max_entry_bytes,
                    });
                }
                table
                    .insert(index, bytes.as_slice())
                    .map_err(|e| f.db_error("append to the log", e))?;
            }
        }
        f.commit(tx, "append to the log")
    }

    /// Deletes the entries in `range`, and records `purged` when purging.
    fn delete_entries(
        &self,
        range: impl RangeBounds<u64>,
        purged: Option<&LogId<u64>>,
    ) -> std::result::Result<(), ControlStoreError> {
        let f = &self.file;
        let tx = f.begin_write()?;
        {
            let mut table = f.table(&tx, LOG)?;
            table
                .retain_in(range, |_, _| false)
                .map_err(|e| f.db_error("delete log entries", e))?;
            if let Some(purged) = purged {
                let bytes = f.encode(purged, "purged")?;
                f.table(&tx, META)?
                    .insert("purged", bytes.as_slice())
                    .map_err(|e| f.db_error("write the purge point", e))?;
            }
        }
        f.commit(tx, "delete log entries")
    }
}

impl RaftLogReader<ControlTypeConfig> for ControlLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<ControlTypeConfig>>> {
        self.read_entries(range.start_bound(), range.end_bound())
            .map_err(|e| e.into_storage(ErrorSubject::Logs, ErrorVerb::Read))
    }
}

impl RaftLogStorage<ControlTypeConfig> for ControlLog {
    type LogReader = ControlLog;

    async fn get_log_state(&mut self) -> Result<LogState<ControlTypeConfig>> {
        let read = || -> std::result::Result<_, ControlStoreError> {
            let purged: Option<LogId<u64>> = self.file.get(META, "purged")?;
            let last = self.last_entry_id()?.or(purged);
            Ok(LogState {
                last_purged_log_id: purged,
                last_log_id: last,
            })
        };
        read().map_err(|e| e.into_storage(ErrorSubject::Logs, ErrorVerb::Read))
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<()> {
        self.file
            .put(META, "vote", vote)
            .map_err(|e| e.into_storage(ErrorSubject::Vote, ErrorVerb::Write))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>> {
        self.file
            .get(META, "vote")
            .map_err(|e| e.into_storage(ErrorSubject::Vote, ErrorVerb::Read))
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<()> {
        // Without an fsync of its own (it rides on the next append's): a committed index lost
        // in a crash is only behind, and a restarted member applies the rest once the leader
        // says it is committed. One fsync per write instead of two.
        self.file
            .put_lazily(META, "committed", &committed)
            .map_err(|e| e.into_storage(ErrorSubject::Store, ErrorVerb::Write))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>> {
        let committed: Option<Option<LogId<u64>>> = self
            .file
            .get(META, "committed")
            .map_err(|e| e.into_storage(ErrorSubject::Store, ErrorVerb::Read))?;
        Ok(committed.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<ControlTypeConfig>) -> Result<()>
    where
        I: IntoIterator<Item = Entry<ControlTypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.write_entries(entries)
            .map_err(|e| e.into_storage(ErrorSubject::Logs, ErrorVerb::Write))?;
        // Committed with Durability::Immediate: on disk.
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<()> {
        tracing::debug!(%log_id, "control log: truncate");
        self.delete_entries(log_id.index.., None)
            .map_err(|e| e.into_storage(ErrorSubject::Logs, ErrorVerb::Delete))
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<()> {
        tracing::debug!(%log_id, "control log: purge");
        self.delete_entries(..=log_id.index, Some(&log_id))
            .map_err(|e| e.into_storage(ErrorSubject::Logs, ErrorVerb::Delete))
    }
}

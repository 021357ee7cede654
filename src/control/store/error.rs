//! [`ControlStoreError`]: why the control plane's store could not be opened, read or written,
//! and its conversion to openraft's [`StorageError`], which stops the Raft instance.

use std::path::PathBuf;

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageError, StorageIOError};

/// Why the control plane's store could not be opened, read or written. Every variant that
/// concerns the file names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlStoreError {
    /// The file holds data that does not decode: damaged, truncated, or not a control store.
    #[error(
        "{location} is damaged: {reason}. nacre will not start its control plane on a store it \
         cannot read; move the file away (it is kept for inspection) to start with an empty \
         one, which then catches up from the other members"
    )]
    Corrupt {
        /// The file, and the row when one is at fault.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The file was written in a store format this build does not read (by a newer nacre, or
    /// by a pre-release one).
    #[error(
        "{location} was written in control store format {found}, and this nacre reads format \
         {supported}: run the nacre version that wrote it, or move the file away"
    )]
    OtherFormat {
        /// The file.
        location: String,
        /// The format found.
        found: u8,
        /// The format this build reads and writes.
        supported: u8,
    },
    /// Another process has the file open.
    #[error("{0} is in use by another process (another nacre-server on the same data directory?)")]
    InUse(PathBuf),
    /// The file could not be opened, read or written (permissions, disk full, I/O error).
    #[error("{what}: {source}")]
    Io {
        /// What was being done, and on which file.
        what: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A log entry is larger than the store takes.
    #[error("log entry {index} is {size} bytes encoded; the control store takes at most {limit}")]
    EntryTooLarge {
        /// The entry's index.
        index: u64,
        /// Its encoded size.
        size: usize,
        /// [`super::StoreLimits::max_entry_bytes`].
        limit: usize,
    },
    /// A snapshot is larger than the store takes.
    #[error("a snapshot of {size} bytes; the control store takes at most {limit}")]
    SnapshotTooLarge {
        /// Its size.
        size: usize,
        /// [`super::StoreLimits::max_snapshot_bytes`].
        limit: usize,
    },
}

impl ControlStoreError {
    /// An I/O-class failure while doing `what`.
    pub(crate) fn io(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ControlStoreError::Io {
            what: what.into(),
            source: Box::new(source),
        }
    }

    /// This error as openraft takes it from a store, about `subject`, while doing `verb`.
    pub(crate) fn into_storage(
        self,
        subject: ErrorSubject<u64>,
        verb: ErrorVerb,
    ) -> StorageError<u64> {
        StorageError::IO {
            source: StorageIOError::new(subject, verb, AnyError::new(&self)),
        }
    }
}

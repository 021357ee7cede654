//! [`PersistError`]: why a store could not be read or written; [`NotPersisted`]: what a write
//! answers when it is in memory but not on disk (the commit failed, or did not finish in time).

use std::path::PathBuf;

/// Why a [`super::Persistence`] could not be read or written, or attached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// The store holds data that does not decode: a damaged or truncated file, or bytes that
    /// nacre did not write. `location` names the file (and the row, when one is at fault).
    #[error(
        "{location} is damaged: {reason}. nacre will not start on a store it cannot read; move \
         the file away (it is kept for inspection) to start with an empty store, which in a \
         cluster then loads its data from its peers"
    )]
    Corrupt {
        /// The file, and the row when one is at fault.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// A row was written in a format version this build does not read (by a newer nacre).
    #[error(
        "{location} was written in store format {found}, and this nacre reads format \
         {supported}: run the nacre version that wrote it, or move the file away to start \
         with an empty store"
    )]
    UnknownFormat {
        /// The file and the row.
        location: String,
        /// The format version found.
        found: u8,
        /// The format version this build reads and writes.
        supported: u8,
    },
    /// Another process has the store open.
    #[error(
        "{0} is in use by another process (another nacre-server on the same data directory?); \
         stop it, or give this one a --data-dir of its own"
    )]
    InUse(PathBuf),
    /// The store could not be opened, read or written (permissions, disk full, I/O error).
    #[error("{what}: {source}")]
    Io {
        /// What was being done, and on which file.
        what: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The registry has a persistence attached already.
    #[error("this registry has a persistence attached already")]
    AlreadyAttached,
}

impl PersistError {
    /// An I/O-class failure while doing `what`.
    pub fn io(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        PersistError::Io {
            what: what.into(),
            source: Box::new(source),
        }
    }
}

/// A write that is applied in memory but is not known to be durable. Every front answers it
/// as [`crate::front::ErrorClass::Unavailable`] (HTTP 503): the node cannot take durable
/// writes now, and says so in its readiness too ([`crate::front::Backend::readiness`]); the
/// committer keeps trying, and the write reaches the disk once a commit succeeds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotPersisted {
    /// The commit of the write's batch failed (disk full, I/O error), or the committer has
    /// stopped.
    #[error("the write is applied in memory but could not be made durable: {0}")]
    Failed(String),
    /// The commit did not finish within the deadline of the wait
    /// ([`super::CommitPolicy::wait_timeout`]): the disk is slow or hangs.
    #[error(
        "the write is applied in memory but its commit did not finish within {0:?}; it is \
         committed when the disk allows"
    )]
    TimedOut(std::time::Duration),
}

//! The control plane's storage on redb: the Raft log ([`ControlLog`], openraft's
//! `RaftLogStorage`) and the state machine with its snapshots ([`ControlMachine`],
//! `RaftStateMachine`), both in one file ([`open`]).
//!
//! openraft 0.9's storage API is the v2 pair (its `storage-v2` feature: the v1 `RaftStorage`
//! and its adaptor are left out). One file, so a member's log, vote and snapshot move, are
//! backed up and are damaged together; redb (as `persist::FileStore`) because it is already
//! in the tree, crash-safe with checksummed pages, and commits with `fsync` before it returns.
//!
//! Bounded: an entry larger than [`StoreLimits::max_entry_bytes`] is refused at append, a
//! snapshot larger than [`StoreLimits::max_snapshot_bytes`] at build and at install (it is
//! held in memory whole); a damaged file, a file of another store or of a newer format is a
//! [`ControlStoreError`] naming the file, at open or at the first read of a damaged row.
//!
//! ```
//! use nacre::control::store::{open, StoreLimits};
//!
//! let dir = std::env::temp_dir().join(format!("nacre-control-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let (log, machine) = open(&dir.join("control.redb"), StoreLimits::default())?;
//! assert!(machine.state().namespaces().next().is_none());
//! # drop((log, machine));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod file;
mod log;
mod machine;

use std::path::Path;
use std::sync::Arc;

pub use error::ControlStoreError;
pub use log::ControlLog;
pub use machine::{ControlMachine, ControlSnapshotBuilder};

/// The name of the control store's file in a data directory.
pub const FILE_NAME: &str = "control.redb";

/// How much the control store takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// The largest log entry, encoded (default 1 MiB): a namespace command is under 1 KiB.
    pub max_entry_bytes: usize,
    /// The largest snapshot, encoded (default 256 MiB): the whole state, held in memory.
    pub max_snapshot_bytes: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            max_entry_bytes: 1 << 20,
            max_snapshot_bytes: 256 << 20,
        }
    }
}

/// Opens (or creates) the control store at `path`: its log, and its state machine at the
/// current snapshot.
pub fn open(
    path: &Path,
    limits: StoreLimits,
) -> Result<(ControlLog, ControlMachine), ControlStoreError> {
    let file = Arc::new(file::StoreFile::open(path, limits)?);
    let machine = ControlMachine::open(file.clone())?;
    Ok((ControlLog::new(file), machine))
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

//! File helpers both redb stores share (`persist::FileStore`, and the control plane's store):
//! a private file, a warning when others can read it, a database opened with its integrity
//! checked, and redb's panics on damaged files caught without printing.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

/// Opens (or creates, mode 0600) `path` for reading and writing.
pub(crate) fn open_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Warns once when a store file can be read by other users.
pub(crate) fn warn_if_readable_by_others(path: &Path, file: &std::fs::File) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = file.metadata() {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{mode:o}"),
                    "the store can be read by other users; it holds what nacre keeps on disk \
                     (chmod 600 it)"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, file);
}

/// Opens a redb database (file format v3) on the backend `make` builds, and checks its
/// integrity, quietly (see [`quietly`]): the database and whether it was intact (redb repairs
/// what an unclean stop left, after the data pages pass their checksums), or redb's error, or
/// the panic redb raised on a damaged file.
pub(crate) fn open_checked<B: redb::StorageBackend>(
    make: impl FnOnce() -> Result<B, redb::DatabaseError>,
) -> std::thread::Result<Result<(redb::Database, bool), redb::DatabaseError>> {
    quietly(move || {
        let mut db = redb::Database::builder()
            .create_with_file_format_v3(true)
            .create_with_backend(make()?)?;
        let intact = db.check_integrity()?;
        Ok((db, intact))
    })
}

/// Runs `f`, catching a panic (redb panics on some damaged files) without printing it on
/// this thread; other threads' panics print as before.
pub(crate) fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
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

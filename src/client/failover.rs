//! [`FailoverStore`]: the client's cache on disk, one JSON file per service, written atomically,
//! read when no server answers.
//!
//! Every time a subscribed service's instance list changes, the client writes the new
//! [`ServiceInfo`] to `<cache dir>/<namespace>@@<group>@@<service>.json` (each part
//! percent-encoded, so any valid name makes a safe file name; very long names are shortened and
//! made unique with a hash). The write goes to a temporary file in the same directory, is
//! synced, and is then renamed over the old file, so a crash leaves either the old or the new
//! content, never half of one.
//!
//! Writes happen on tokio's blocking pool, off the task that applied the change, through a
//! single writer task: it keeps only the newest content per service when changes pile up, and
//! writes them in order.
//!
//! Reading checks everything: a file that is not valid JSON, holds an invalid instance, names a
//! different service, or is implausibly large gives a [`FailoverError`]; the client treats such
//! a file as missing.
//!
//! ```
//! use nacre::client::{FailoverStore, ServiceInfo};
//! use nacre::{Instance, ServiceKey};
//! let dir = std::env::temp_dir().join(format!("nacre-doc-failover-{}", std::process::id()));
//! let store = FailoverStore::open(&dir)?;
//! let key = ServiceKey::named("orders")?;
//! store.save(&ServiceInfo::new(key.clone(), vec![Instance::new("10.0.0.1", 8080)?]))?;
//! let back = store.load(&key)?.expect("just saved");
//! assert_eq!(back.hosts.len(), 1);
//! assert!(store.load(&ServiceKey::named("billing")?)?.is_none());
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::stats::Progress;
use crate::model::ServiceKey;
use crate::protocol::ServiceInfo;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Files larger than this are refused rather than read (a failover file holds one service).
pub const MAX_FAILOVER_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// File names longer than this (before `.json`) are shortened and suffixed with a hash.
const MAX_STEM_BYTES: usize = 200;

/// Why a failover file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FailoverError {
    /// The file system refused.
    #[error("failover file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The file does not hold a valid [`ServiceInfo`].
    #[error("failover file {path} is corrupt: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the JSON parser or validation said.
        #[source]
        source: serde_json::Error,
    },
    /// The file holds another service than its name says.
    #[error("failover file {path} holds service {found}, expected {expected}")]
    WrongService {
        /// The file.
        path: PathBuf,
        /// The service asked for.
        expected: ServiceKey,
        /// The service found.
        found: ServiceKey,
    },
    /// The file is larger than [`MAX_FAILOVER_FILE_BYTES`].
    #[error("failover file {path} is {size} bytes; the limit is {max}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
}

/// A directory of failover files. See the module documentation.
#[derive(Debug)]
pub struct FailoverStore {
    dir: PathBuf,
    temp_counter: AtomicU64,
}

impl FailoverStore {
    /// Uses `dir`, creating it (and its parents) if needed.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, FailoverError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|source| FailoverError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Self {
            dir,
            temp_counter: AtomicU64::new(0),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `service`.
    pub fn path_for(&self, service: &ServiceKey) -> PathBuf {
        self.dir.join(file_name(service))
    }

    /// Writes `info` to its service's file atomically (temporary file, sync, rename).
    pub fn save(&self, info: &ServiceInfo) -> Result<(), FailoverError> {
        let name = file_name(&info.service);
        let path = self.dir.join(&name);
        let json = serde_json::to_vec_pretty(info).map_err(|source| FailoverError::Corrupt {
            path: path.clone(),
            source,
        })?;
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        let temp = self
            .dir
            .join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        let io_err = |source| FailoverError::Io {
            path: path.clone(),
            source,
        };
        let written = write_synced(&temp, &json).and_then(|()| fs::rename(&temp, &path));
        if let Err(e) = written {
            // The temporary file may or may not exist; either way it must not stay behind.
            let _ = fs::remove_file(&temp);
            return Err(io_err(e));
        }
        Ok(())
    }

    /// Reads `service`'s file: `Ok(None)` if there is none, an error if it cannot be trusted.
    pub fn load(&self, service: &ServiceKey) -> Result<Option<ServiceInfo>, FailoverError> {
        let path = self.path_for(service);
        let bytes = match read_limited(&path) {
            Ok(bytes) => bytes,
            Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(ReadError::Io(source)) => return Err(FailoverError::Io { path, source }),
            Err(ReadError::TooLarge(size)) => {
                return Err(FailoverError::TooLarge {
                    path,
                    size,
                    max: MAX_FAILOVER_FILE_BYTES,
                })
            }
        };
        let info: ServiceInfo =
            serde_json::from_slice(&bytes).map_err(|source| FailoverError::Corrupt {
                path: path.clone(),
                source,
            })?;
        if info.service != *service {
            return Err(FailoverError::WrongService {
                path,
                expected: service.clone(),
                found: info.service,
            });
        }
        Ok(Some(info))
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

enum ReadError {
    Io(io::Error),
    TooLarge(u64),
}

fn read_limited(path: &Path) -> Result<Vec<u8>, ReadError> {
    let file = File::open(path).map_err(ReadError::Io)?;
    let size = file.metadata().map_err(ReadError::Io)?.len();
    if size > MAX_FAILOVER_FILE_BYTES {
        return Err(ReadError::TooLarge(size));
    }
    let mut bytes = Vec::new();
    // `take` guards against a file that grows between the size check and the read.
    file.take(MAX_FAILOVER_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > MAX_FAILOVER_FILE_BYTES {
        return Err(ReadError::TooLarge(read));
    }
    Ok(bytes)
}

/// `<namespace>@@<group>@@<service>.json`, each part percent-encoded so that only
/// `[A-Za-z0-9_-]` and `%` appear in it (no `/`, no `.` or `..`, nothing a file system treats
/// specially); shortened with a hash of the key when too long.
fn file_name(service: &ServiceKey) -> String {
    let mut stem = String::new();
    for (i, part) in [
        service.namespace().as_str(),
        service.group().as_str(),
        service.service().as_str(),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            stem.push_str("@@");
        }
        percent_encode(part, &mut stem);
    }
    if stem.len() > MAX_STEM_BYTES {
        // The stem is ASCII, so any byte index is a char boundary.
        stem.truncate(MAX_STEM_BYTES - 17);
        let _ = write!(stem, "~{:016x}", fnv1a(service));
        // `load` checks the service inside the file, so a hash collision cannot mix services up.
    }
    stem.push_str(".json");
    stem
}

fn percent_encode(part: &str, out: &mut String) {
    for b in part.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// FNV-1a over the three names: stable across Rust versions and platforms (unlike the
/// standard library's hasher), so file names stay the same from one build to the next.
fn fnv1a(service: &ServiceKey) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [
        service.namespace().as_str(),
        service.group().as_str(),
        service.service().as_str(),
    ] {
        for b in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Hands changed services to the writer task.
#[derive(Debug, Clone)]
pub(crate) struct DiskWriter {
    tx: mpsc::UnboundedSender<Arc<ServiceInfo>>,
    /// Held by the blocking write of a batch for as long as it runs: aborting the writer task
    /// does not stop a write already handed to the blocking pool, so shutdown waits on this.
    busy: Arc<tokio::sync::Mutex<()>>,
}

impl DiskWriter {
    /// Starts the writer task on `runtime`.
    pub(crate) fn spawn(
        store: Arc<FailoverStore>,
        progress: Progress,
        runtime: &Handle,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let busy = Arc::new(tokio::sync::Mutex::new(()));
        let task = runtime.spawn(write_loop(store, rx, progress, busy.clone()));
        (Self { tx, busy }, task)
    }

    /// Waits until no write is running (one may still be queued: call after stopping the
    /// writer task).
    pub(crate) async fn settled(&self) {
        drop(self.busy.lock().await);
    }

    /// Queues `info` to be written. Call in the order the cache applied the changes.
    pub(crate) fn queue(&self, info: Arc<ServiceInfo>) {
        // Fails only when the writer task is gone (the client is shutting down).
        let _ = self.tx.send(info);
    }
}

async fn write_loop(
    store: Arc<FailoverStore>,
    mut rx: mpsc::UnboundedReceiver<Arc<ServiceInfo>>,
    progress: Progress,
    busy: Arc<tokio::sync::Mutex<()>>,
) {
    while let Some(first) = rx.recv().await {
        let mut newest: HashMap<ServiceKey, Arc<ServiceInfo>> = HashMap::new();
        newest.insert(first.service.clone(), first);
        while let Ok(more) = rx.try_recv() {
            newest.insert(more.service.clone(), more);
        }
        let total = newest.len() as u64;
        let store = store.clone();
        let held = busy.clone().lock_owned().await;
        let saved = tokio::task::spawn_blocking(move || {
            let _held = held;
            newest
                .values()
                .filter(|info| store.save(info).is_ok())
                .count() as u64
        })
        .await
        // The blocking task only fails if it panicked; count its whole batch as failed.
        .unwrap_or(0);
        progress.update(|s| {
            s.disk_writes += saved;
            s.disk_failures += total - saved;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Instance;

    fn temp_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("nacre-failover-{name}-{}", std::process::id()))
    }

    #[test]
    fn file_names_are_safe_for_any_valid_name() {
        let key = ServiceKey::new("..", "a/b", "../../etc.passwd").unwrap();
        let name = file_name(&key);
        assert_eq!(name, "%2E%2E@@a%2Fb@@%2E%2E%2F%2E%2E%2Fetc%2Epasswd.json");
        assert!(!name.contains('/'));
    }

    #[test]
    fn long_names_are_shortened_and_stay_distinct() {
        let long = "s".repeat(500);
        let a = ServiceKey::new("public", "DEFAULT_GROUP", &format!("{long}a")).unwrap();
        let b = ServiceKey::new("public", "DEFAULT_GROUP", &format!("{long}b")).unwrap();
        let (na, nb) = (file_name(&a), file_name(&b));
        assert!(na.len() <= MAX_STEM_BYTES + ".json".len());
        assert_ne!(na, nb);
        assert_eq!(na, file_name(&a), "names are stable");
    }

    #[test]
    fn save_then_load_round_trips_and_leaves_no_temp_file() {
        let dir = temp_dir("roundtrip");
        let store = FailoverStore::open(&dir).unwrap();
        let key = ServiceKey::named("orders").unwrap();
        let mut info = ServiceInfo::new(key.clone(), vec![Instance::new("10.0.0.1", 80).unwrap()]);
        store.save(&info).unwrap();
        info.hosts.push(Instance::new("10.0.0.2", 80).unwrap());
        store.save(&info).unwrap();
        assert_eq!(store.load(&key).unwrap(), Some(info));
        let files: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 1, "only the final file remains");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn garbage_and_mismatched_files_give_typed_errors() {
        let dir = temp_dir("garbage");
        let store = FailoverStore::open(&dir).unwrap();
        let key = ServiceKey::named("orders").unwrap();
        fs::write(store.path_for(&key), b"\x00\xffnot json{{").unwrap();
        assert!(matches!(
            store.load(&key),
            Err(FailoverError::Corrupt { .. })
        ));

        let other = ServiceKey::named("billing").unwrap();
        let json = serde_json::to_vec(&ServiceInfo::new(other.clone(), vec![])).unwrap();
        fs::write(store.path_for(&key), json).unwrap();
        assert!(matches!(
            store.load(&key),
            Err(FailoverError::WrongService { found, .. }) if found == other
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_where_the_file_should_be_is_an_io_error() {
        let dir = temp_dir("isdir");
        let store = FailoverStore::open(&dir).unwrap();
        let key = ServiceKey::named("orders").unwrap();
        fs::create_dir_all(store.path_for(&key)).unwrap();
        assert!(matches!(store.load(&key), Err(FailoverError::Io { .. })));
        assert!(matches!(
            store.save(&ServiceInfo::new(key, vec![])),
            Err(FailoverError::Io { .. })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}

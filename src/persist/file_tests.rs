//! `FileStore` on a disk that fails on demand (the `Disk` backend's injected errors): redb's
//! real failure path, and the reopen that recovers from it.

use super::*;
use crate::front::{Backend, NotReady};
use crate::persist::{CommitPolicy, NotPersisted};
use crate::store::ServiceMeta;
use crate::{Instance, Registry};
use std::time::{Duration, Instant};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("nacre-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn failing_store(dir: &Dir) -> (Arc<FileStore>, Arc<DiskIo>) {
    let io = Arc::new(DiskIo::default());
    let store = FileStore::open_with(&dir.0, io.clone()).expect("opens");
    (Arc::new(store), io)
}

fn set_failing(io: &DiskIo, failing: bool) {
    io.failing.store(failing, Ordering::SeqCst);
}

fn service_row(name: &str) -> StoreWrite {
    StoreWrite::PutService {
        service: ServiceKey::named(name).expect("valid"),
        meta: ServiceMeta {
            settings: Default::default(),
            removed: false,
            explicit: true,
            version: Default::default(),
        },
    }
}

fn names(rows: &[ServiceRecord]) -> Vec<String> {
    rows.iter().map(|r| r.key.service().to_string()).collect()
}

#[test]
fn a_commit_after_an_io_error_reopens_the_file_and_succeeds() {
    let dir = Dir::new("reopen");
    let (store, io) = failing_store(&dir);
    store
        .commit(&[service_row("before")])
        .expect("a healthy commit");
    set_failing(&io, true);
    let err = store.commit(&[service_row("during")]).unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");
    // While the disk fails, so does every try (the reopen, or the write).
    assert!(store.commit(&[service_row("during")]).is_err());
    // redb alone would refuse every later write of this handle ("previous I/O error"); the
    // store reopens the file, and the disk that works again takes the write.
    set_failing(&io, false);
    store
        .commit(&[service_row("during"), service_row("after")])
        .expect("the commit after the disk recovered");
    assert_eq!(
        names(&store.load().expect("loads")),
        ["after", "before", "during"]
    );
    // And the file is whole for the next process.
    drop(store);
    let rows = FileStore::open(&dir.0)
        .expect("reopens")
        .load()
        .expect("loads");
    assert_eq!(names(&rows), ["after", "before", "during"]);
}

#[test]
fn a_registry_on_a_failing_disk_is_not_ready_until_the_disk_recovers() {
    let dir = Dir::new("ready");
    let (store, io) = failing_store(&dir);
    let registry = Registry::default();
    let policy = CommitPolicy {
        retry_delay: Duration::from_millis(20),
        max_retry_delay: Duration::from_millis(80),
        ..CommitPolicy::group()
    };
    registry
        .attach_persistence(store.clone(), policy)
        .expect("attached");
    let backend = Backend::from(registry.clone());
    let db = ServiceKey::named("db").expect("valid");
    let instance = |ip: &str| {
        Instance::builder(ip, 5432)
            .ephemeral(false)
            .build()
            .expect("valid")
    };
    registry
        .register_instance(&db, instance("10.0.0.1"))
        .expect("applied");
    registry.wait_persisted(&db).expect("on disk");

    set_failing(&io, true);
    registry
        .register_instance(&db, instance("10.0.0.2"))
        .expect("applied in memory");
    let refused = registry.wait_persisted(&db);
    assert!(
        matches!(refused, Err(NotPersisted::Failed(_))),
        "{refused:?}"
    );
    assert!(
        matches!(backend.readiness(), Err(NotReady::Disk(_))),
        "{:?}",
        backend.readiness()
    );
    // Tries go on failing (each reopens the file, which fails too) and stay reported.
    let until = Instant::now() + Duration::from_secs(10);
    while registry.persist_stats().failed_commits < 3 {
        assert!(Instant::now() < until, "the committer stopped trying");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(backend.readiness().is_err());

    set_failing(&io, false);
    let until = Instant::now() + Duration::from_secs(10);
    while backend.readiness().is_err() {
        assert!(Instant::now() < until, "never ready again");
        std::thread::sleep(Duration::from_millis(5));
    }
    let rows = store.load().expect("loads");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].instances.len(), 2, "the write made while failing");
    registry
        .register_instance(&db, instance("10.0.0.3"))
        .expect("applied");
    registry.wait_persisted(&db).expect("and the next one");
}

//! Durability through the public API: the `Persistence` trait with an in-memory store (a
//! host's own storage would sit there), group commit, what is and is not written, failed
//! commits, and `FileStore` refusing damaged files (feature `persist`).

use nacre::cluster::ClusterError;
use nacre::front::Backend;
use nacre::persist::{CommitPolicy, PersistError, Persistence, StoreWrite};
use nacre::store::ServiceRecord;
use nacre::{Command, Instance, ManualClock, Registry, ServiceKey, ServiceSettings};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A store in a map, with a commit that takes `delay` (a slow disk) and can be made to fail.
#[derive(Default)]
struct MapStore {
    rows: Mutex<BTreeMap<ServiceKey, ServiceRecord>>,
    commits: AtomicUsize,
    delay: Duration,
    failing: AtomicBool,
    unreadable: bool,
}

impl MapStore {
    fn slow(delay: Duration) -> Arc<Self> {
        Arc::new(MapStore {
            delay,
            ..MapStore::default()
        })
    }
    fn row(&self, key: &ServiceKey) -> Option<ServiceRecord> {
        self.rows.lock().unwrap().get(key).cloned()
    }
    fn live(&self, key: &ServiceKey) -> usize {
        self.row(key)
            .map_or(0, |r| r.instances.iter().filter(|i| i.is_live()).count())
    }
}

impl Persistence for MapStore {
    fn load(&self) -> Result<Vec<ServiceRecord>, PersistError> {
        if self.unreadable {
            return Err(PersistError::Corrupt {
                location: "the test's map".into(),
                reason: "made unreadable".into(),
            });
        }
        Ok(self.rows.lock().unwrap().values().cloned().collect())
    }
    fn commit(&self, writes: &[StoreWrite]) -> Result<(), PersistError> {
        std::thread::sleep(self.delay);
        if self.failing.load(Ordering::SeqCst) {
            return Err(PersistError::io(
                "the test's disk",
                std::io::Error::other("disk full"),
            ));
        }
        self.commits.fetch_add(1, Ordering::SeqCst);
        let mut rows = self.rows.lock().unwrap();
        for w in writes {
            w.apply_to(&mut rows);
        }
        Ok(())
    }
}

fn key(name: &str) -> ServiceKey {
    ServiceKey::named(name).unwrap()
}

fn persistent(ip: &str) -> Instance {
    Instance::builder(ip, 5432)
        .ephemeral(false)
        .build()
        .unwrap()
}

fn attached(store: &Arc<MapStore>) -> Registry {
    let registry = Registry::default();
    registry
        .attach_persistence(store.clone(), CommitPolicy::default())
        .unwrap();
    registry
}

#[tokio::test]
async fn a_persistent_write_is_stored_before_the_front_answers() {
    // A slow disk: an answer that did not wait for the commit would come before the row.
    let store = MapStore::slow(Duration::from_millis(30));
    let backend = Backend::from(attached(&store));
    let db = key("db");
    backend
        .execute(Command::register(&db, persistent("10.0.0.1")))
        .await
        .unwrap();
    assert_eq!(store.live(&db), 1, "answered before the row was stored");
    let settings = ServiceSettings {
        protect_threshold: 0.6,
        metadata: [("tier".to_owned(), "gold".to_owned())].into(),
    };
    backend
        .execute(Command::update_service(&db, settings.clone()))
        .await
        .unwrap();
    assert_eq!(store.row(&db).unwrap().meta.settings, settings);
    backend
        .execute(Command::deregister(&db, &persistent("10.0.0.1").key()))
        .await
        .unwrap();
    let row = store.row(&db).unwrap();
    assert_eq!(store.live(&db), 0);
    assert_eq!(row.instances.len(), 1, "the tombstone is stored");
}

#[tokio::test]
async fn ephemeral_instances_are_never_written() {
    let store = MapStore::slow(Duration::ZERO);
    let registry = attached(&store);
    let web = key("web");
    let db = key("db");
    for i in 1..=20 {
        let inst = Instance::new(&format!("10.0.1.{i}"), 80).unwrap();
        registry.register_instance(&web, inst.clone()).unwrap();
        registry.register_instance(&db, inst).unwrap();
    }
    registry
        .register_instance(&db, persistent("10.0.0.9"))
        .unwrap();
    registry.wait_persisted(&db).unwrap();
    registry.wait_persisted(&web).unwrap();
    assert_eq!(store.row(&web), None);
    let row = store.row(&db).unwrap();
    assert_eq!(row.instances.len(), 1);
    assert!(row.instances[0].is_live());
    assert!(row.instances[0]
        .data
        .as_ref()
        .is_some_and(|i| !i.ephemeral()));
}

#[test]
fn persistent_state_survives_a_new_registry_and_ephemeral_does_not() {
    let store = MapStore::slow(Duration::ZERO);
    let db = key("db");
    let settings_only = key("settings-only");
    {
        let registry = attached(&store);
        for i in 1..=5 {
            registry
                .register_instance(&db, persistent(&format!("10.0.0.{i}")))
                .unwrap();
        }
        registry
            .register_instance(&db, Instance::new("10.0.9.9", 80).unwrap())
            .unwrap();
        // As a front does: the registration is acknowledged (on disk) before the
        // deregistration comes.
        registry.wait_persisted(&db).unwrap();
        registry.deregister_instance(&db, &persistent("10.0.0.3").key());
        let settings = ServiceSettings {
            protect_threshold: 0.8,
            ..ServiceSettings::default()
        };
        registry.create_service(&settings_only, settings).unwrap();
        registry.wait_persisted(&db).unwrap();
        registry.wait_persisted(&settings_only).unwrap();
    }
    let registry = Registry::default();
    let report = registry
        .attach_persistence(store.clone(), CommitPolicy::default())
        .unwrap();
    assert_the_fixture_loaded(&registry, &report, &db, &settings_only, 0.8);
    assert!(registry
        .service(&settings_only)
        .unwrap()
        .has_explicit_settings());
}

/// What the fixture of the load tests leaves: two services, four live instances of `db`
/// (10.0.0.3 deregistered: one tombstone), and `settings_only` with its protect threshold.
fn assert_the_fixture_loaded(
    registry: &Registry,
    report: &nacre::persist::LoadReport,
    db: &ServiceKey,
    settings_only: &ServiceKey,
    threshold: f32,
) {
    assert_eq!(
        (report.services, report.instances, report.tombstones),
        (2, 4, 1)
    );
    let ips: Vec<String> = registry
        .get_all_instances(db, &[])
        .iter()
        .map(|i| i.ip().to_string())
        .collect();
    assert_eq!(ips, ["10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5"]);
    let kept = registry.service(settings_only).unwrap();
    assert_eq!(kept.settings().protect_threshold, threshold);
}

#[test]
fn rows_go_once_their_tombstones_are_collected() {
    let clock = ManualClock::new();
    let store = MapStore::slow(Duration::ZERO);
    let registry = Registry::builder().clock(clock.clone()).build();
    registry
        .attach_persistence(store.clone(), CommitPolicy::default())
        .unwrap();
    let db = key("db");
    let p = persistent("10.0.0.1");
    registry.register_instance(&db, p.clone()).unwrap();
    registry.wait_persisted(&db).unwrap();
    registry.deregister_instance(&db, &p.key());
    registry.wait_persisted(&db).unwrap();
    assert_eq!(store.live(&db), 0);
    assert!(store.row(&db).is_some(), "the tombstone keeps the row");
    // The empty service is removed by the sweep, and its removal (with the tombstone) is
    // kept for the retention; then the store forgets it, and the row goes.
    let ttl = registry.health_config().tombstone_ttl + Duration::from_secs(1);
    clock.advance(ttl);
    registry.check_health();
    registry.wait_persisted(&db).unwrap();
    assert!(store.row(&db).unwrap().meta.removed);
    clock.advance(ttl);
    registry.check_health();
    assert!(registry.store().load_any(&db).is_none());
    registry.wait_persisted(&db).unwrap();
    assert_eq!(store.row(&db), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_shares_one_commit_among_writes_that_arrive_together() {
    const WRITES: usize = 200;
    let run = |policy: CommitPolicy| async move {
        let store = MapStore::slow(Duration::from_millis(5));
        let registry = Registry::default();
        registry.attach_persistence(store.clone(), policy).unwrap();
        let backend = Backend::from(registry);
        let tasks: Vec<_> = (0..WRITES)
            .map(|i| {
                let backend = backend.clone();
                tokio::spawn(async move {
                    let service = key(&format!("db-{}", i % 8));
                    let inst = persistent(&format!("10.0.{}.{}", i / 200, i % 200 + 1));
                    backend.execute(Command::register(&service, inst)).await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let stored: usize = (0..8).map(|s| store.live(&key(&format!("db-{s}")))).sum();
        assert_eq!(stored, WRITES, "every acknowledged write is stored");
        let stats = backend.registry().persist_stats();
        assert_eq!(stats.commits, store.commits.load(Ordering::SeqCst) as u64);
        assert_eq!(stats.pending_services, 0);
        store.commits.load(Ordering::SeqCst)
    };
    let grouped = run(CommitPolicy::group()).await;
    let per_write = run(CommitPolicy::per_write()).await;
    assert!(
        grouped < WRITES / 4,
        "group commit made {grouped} commits for {WRITES} writes"
    );
    assert!(
        per_write >= WRITES,
        "per-write made {per_write} commits for {WRITES} writes"
    );
}

#[tokio::test]
async fn a_failed_commit_answers_not_persisted_and_the_retry_stores_it() {
    let store = Arc::new(MapStore::default());
    let registry = Registry::default();
    let policy = CommitPolicy {
        retry_delay: Duration::from_millis(20),
        ..CommitPolicy::group()
    };
    registry.attach_persistence(store.clone(), policy).unwrap();
    let backend = Backend::from(registry.clone());
    let db = key("db");
    store.failing.store(true, Ordering::SeqCst);
    let refused = backend
        .execute(Command::register(&db, persistent("10.0.0.1")))
        .await;
    assert!(
        matches!(refused, Err(ClusterError::NotPersisted(_))),
        "{refused:?}"
    );
    // In memory all the same (as the error says), and on disk once the disk works again.
    assert_eq!(registry.get_all_instances(&db, &[]).len(), 1);
    store.failing.store(false, Ordering::SeqCst);
    backend
        .execute(Command::register(&db, persistent("10.0.0.2")))
        .await
        .unwrap();
    assert_eq!(store.live(&db), 2);
}

#[test]
fn an_unreadable_store_is_an_error_not_an_empty_registry() {
    let store = Arc::new(MapStore {
        unreadable: true,
        ..MapStore::default()
    });
    let registry = Registry::default();
    let err = registry
        .attach_persistence(store, CommitPolicy::default())
        .unwrap_err();
    assert!(matches!(err, PersistError::Corrupt { .. }), "{err}");
    assert!(!registry.is_persistent());
}

#[test]
fn attaching_twice_is_refused() {
    let store = Arc::new(MapStore::default());
    let registry = attached(&store);
    let again = registry.attach_persistence(store, CommitPolicy::default());
    assert!(matches!(again, Err(PersistError::AlreadyAttached)));
}

#[cfg(feature = "persist")]
mod file {
    use super::*;
    use nacre::persist::{codec, FileStore, FILE_NAME};
    use std::path::PathBuf;

    struct Dir(PathBuf);
    impl Dir {
        fn new(name: &str) -> Self {
            let d =
                std::env::temp_dir().join(format!("nacre-persist-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            Dir(d)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A store holding a few rows, closed.
    fn filled(dir: &Dir) -> PathBuf {
        let registry = Registry::default();
        let store = Arc::new(FileStore::open(&dir.0).unwrap());
        registry
            .attach_persistence(store, CommitPolicy::default())
            .unwrap();
        for s in 0..20 {
            let k = key(&format!("svc-{s}"));
            for i in 1..=20 {
                registry
                    .register_instance(&k, persistent(&format!("10.{s}.0.{i}")))
                    .unwrap();
            }
            registry.wait_persisted(&k).unwrap();
        }
        dir.0.join(FILE_NAME)
    }

    fn reopen(dir: &Dir) -> Result<Vec<ServiceRecord>, PersistError> {
        FileStore::open(&dir.0)?.load()
    }

    #[test]
    fn a_file_store_round_trips() {
        let dir = Dir::new("roundtrip");
        filled(&dir);
        let rows = reopen(&dir).unwrap();
        assert_eq!(rows.len(), 20);
        assert!(rows.iter().all(|r| r.instances.len() == 20));
    }

    #[test]
    fn garbage_bytes_are_refused_with_the_file_named() {
        let dir = Dir::new("garbage");
        let file = filled(&dir);
        let mut bytes = std::fs::read(&file).unwrap();
        // Overwrite everything after redb's header page with a pattern.
        for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
            *b = (i as u8).wrapping_mul(31) ^ 0xa5;
        }
        std::fs::write(&file, &bytes).unwrap();
        let err = reopen(&dir).unwrap_err();
        assert!(matches!(err, PersistError::Corrupt { .. }), "{err}");
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn a_foreign_file_is_refused() {
        let dir = Dir::new("foreign");
        std::fs::create_dir_all(&dir.0).unwrap();
        std::fs::write(dir.0.join(FILE_NAME), b"this is not a database".repeat(500)).unwrap();
        assert!(reopen(&dir).is_err());
    }

    #[test]
    fn a_row_of_another_format_version_is_refused_by_name() {
        let dir = Dir::new("format");
        let file = filled(&dir);
        {
            let db = redb::Database::open(&file).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let def: redb::TableDefinition<&str, &[u8]> =
                    redb::TableDefinition::new("services");
                let mut table = tx.open_table(def).unwrap();
                let mut row = vec![codec::FORMAT_VERSION + 1];
                serde_json::to_writer(&mut row, &reopen_one()).unwrap();
                table
                    .insert("public/DEFAULT_GROUP@@future", row.as_slice())
                    .unwrap();
            }
            tx.commit().unwrap();
        }
        let err = reopen(&dir).unwrap_err();
        assert!(
            matches!(err, PersistError::UnknownFormat { found, .. } if found == codec::FORMAT_VERSION + 1),
            "{err}"
        );
        assert!(err.to_string().contains("future"), "{err}");
    }

    fn reopen_one() -> ServiceRecord {
        let r = Registry::default();
        let k = key("future");
        r.register_instance(&k, persistent("10.0.0.1")).unwrap();
        r.service(&k).unwrap().to_record(None)
    }

    /// Writes `records` as the nacre of store format 1 did: one row per service in the table
    /// `services`, its key the service's `namespace/group@@service`, its value the byte 1 and
    /// the whole record as JSON.
    fn write_format_1(dir: &Dir, records: &[ServiceRecord]) {
        std::fs::create_dir_all(&dir.0).unwrap();
        let db = redb::Database::builder()
            .create_with_file_format_v3(true)
            .create(dir.0.join(FILE_NAME))
            .unwrap();
        let tx = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("services");
            let mut table = tx.open_table(def).unwrap();
            for record in records {
                let mut row = vec![1u8];
                serde_json::to_writer(&mut row, record).unwrap();
                table
                    .insert(record.key.to_string().as_str(), row.as_slice())
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }

    #[test]
    fn a_store_of_format_1_is_migrated_on_open_and_loads_as_before() {
        // The records a format-1 store held: persistent instances, a tombstone, explicit
        // settings without instances.
        let source = Registry::default();
        let db = key("db");
        let settings_only = key("settings-only");
        for i in 1..=5 {
            source
                .register_instance(&db, persistent(&format!("10.0.0.{i}")))
                .unwrap();
        }
        source.deregister_instance(&db, &persistent("10.0.0.3").key());
        let settings = ServiceSettings {
            protect_threshold: 0.7,
            ..ServiceSettings::default()
        };
        source.create_service(&settings_only, settings).unwrap();
        let mut records = vec![source.service(&settings_only).unwrap().to_record(None)];
        let mut row = source.store().load_any(&db).unwrap().to_record(None);
        row.instances
            .retain(|i| i.data.as_ref().is_none_or(|d| !d.ephemeral()));
        records.push(row);
        let dir = Dir::new("format1");
        write_format_1(&dir, &records);

        let loaded = |dir: &Dir| {
            let registry = Registry::default();
            let store = Arc::new(FileStore::open(&dir.0).unwrap());
            let report = registry
                .attach_persistence(store, CommitPolicy::default())
                .unwrap();
            (registry, report)
        };
        let (registry, report) = loaded(&dir);
        assert_the_fixture_loaded(&registry, &report, &db, &settings_only, 0.7);
        // It goes on in format 2 ...
        registry
            .register_instance(&db, persistent("10.0.0.6"))
            .unwrap();
        registry.wait_persisted(&db).unwrap();
        drop(registry);
        let (registry, report) = loaded(&dir);
        assert_eq!((report.services, report.instances), (2, 5));
        drop(registry);
        // ... and the old table holds only the format row, which a reader of format 1 (one
        // that decodes every row of `services` and refuses versions it does not know)
        // refuses by name instead of starting empty.
        let db = redb::Database::open(dir.0.join(FILE_NAME)).unwrap();
        let tx = db.begin_read().unwrap();
        let def: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("services");
        let table = tx.open_table(def).unwrap();
        let rows: Vec<(String, Vec<u8>)> = redb::ReadableTable::iter(&table)
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                (k.value().to_owned(), v.value().to_vec())
            })
            .collect();
        assert_eq!(rows, [("~format".to_owned(), vec![codec::FORMAT_VERSION])]);
        assert_ne!(rows[0].1[0], 1, "a format-1 reader sees another version");
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_created_0600_in_a_directory_created_0700() {
        use std::os::unix::fs::PermissionsExt;
        let dir = Dir::new("mode");
        let nested = dir.0.join("var").join("nacre");
        let store = FileStore::open(&nested).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.path()), 0o600, "the file");
        assert_eq!(mode(&nested), 0o700, "the data directory");
        assert_eq!(mode(&dir.0.join("var")), 0o700, "a parent created with it");
        drop(store);
        // An existing file keeps the mode its operator gave it.
        std::fs::set_permissions(
            nested.join(FILE_NAME),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        let store = FileStore::open(&nested).unwrap();
        assert_eq!(mode(store.path()), 0o640);
    }

    /// Bytes the file takes for one persistent registration of an instance with 4 KiB of
    /// metadata into a service holding `existing` such instances.
    fn bytes_per_registration(existing: usize) -> (u64, u64) {
        let dir = Dir::new(&format!("cost-{existing}"));
        let store = Arc::new(FileStore::open(&dir.0).unwrap());
        let registry = Registry::default();
        registry
            .attach_persistence(store.clone(), CommitPolicy::default())
            .unwrap();
        let blob = "x".repeat(4090);
        let instance = |i: usize| {
            Instance::builder(&format!("10.2.{}.{}", i / 250, i % 250 + 1), 5432)
                .ephemeral(false)
                .metadata("blob", &blob)
                .build()
                .unwrap()
        };
        let big = key("big");
        for i in 0..existing {
            registry.register_instance(&big, instance(i)).unwrap();
        }
        registry.wait_persisted(&big).unwrap();
        let before = store.bytes_written();
        const N: usize = 20;
        for i in existing..existing + N {
            registry.register_instance(&big, instance(i)).unwrap();
            registry.wait_persisted(&big).unwrap();
        }
        let per = (store.bytes_written() - before) / N as u64;
        let file = std::fs::metadata(store.path()).unwrap().len();
        (per, file)
    }

    #[test]
    fn a_registration_into_a_large_service_writes_its_own_row_not_the_service() {
        let (small, _) = bytes_per_registration(10);
        let (large, file) = bytes_per_registration(450);
        println!(
            "bytes written per registration (4 KiB metadata): into 10 instances {small}, into \
             450 instances {large} (file {file} bytes); one row per service wrote the whole \
             service, about 1.9 MB at 450"
        );
        // The whole service is 450 x 4 KiB, about 1.9 MB; its own row is 4 KiB, and redb
        // rewrites the pages on its path and its commit header.
        assert!(large < 64 * 1024, "{large} bytes per registration");
        assert!(
            large < 3 * small.max(16 * 1024),
            "the cost does not grow with the service: {small} at 10, {large} at 450"
        );
    }

    #[test]
    fn a_store_in_use_is_refused() {
        let dir = Dir::new("inuse");
        let _first = FileStore::open(&dir.0).unwrap();
        let second = FileStore::open(&dir.0);
        assert!(matches!(second, Err(PersistError::InUse(_))), "{second:?}");
    }
}

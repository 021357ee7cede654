//! The journal against a store that fails, hangs or counts on demand: coalesced marks while
//! commits fail, the backoff between tries, the reported failure, and the deadline of a wait.

use super::*;
use crate::front::{Backend, NotReady};
use crate::persist::PersistError;
use crate::{Command, Instance, Registry};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Rows in a map; commits fail while `failing`, and wait while `stuck`.
#[derive(Default)]
struct Disk {
    rows: Mutex<BTreeMap<ServiceKey, ServiceRecord>>,
    failing: AtomicBool,
    stuck: Mutex<bool>,
    unstuck: Condvar,
    attempts: AtomicU64,
}

impl Disk {
    fn live(&self, key: &ServiceKey) -> usize {
        lock(&self.rows)
            .get(key)
            .map_or(0, |r| r.instances.iter().filter(|i| i.is_live()).count())
    }
    fn set_stuck(&self, stuck: bool) {
        *lock(&self.stuck) = stuck;
        self.unstuck.notify_all();
    }
}

impl Persistence for Disk {
    fn load(&self) -> Result<Vec<ServiceRecord>, PersistError> {
        Ok(lock(&self.rows).values().cloned().collect())
    }
    fn commit(&self, writes: &[StoreWrite]) -> Result<(), PersistError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let mut stuck = lock(&self.stuck);
        while *stuck {
            stuck = match self.unstuck.wait(stuck) {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
        drop(stuck);
        if self.failing.load(Ordering::SeqCst) {
            return Err(PersistError::io(
                "the test's disk",
                std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full"),
            ));
        }
        let mut rows = lock(&self.rows);
        for w in writes {
            w.apply_to(&mut rows);
        }
        Ok(())
    }
}

fn key(name: &str) -> ServiceKey {
    ServiceKey::named(name).expect("valid")
}

fn persistent(i: usize) -> Instance {
    Instance::builder(&format!("10.1.{}.{}", i / 250, i % 250 + 1), 5432)
        .ephemeral(false)
        .build()
        .expect("valid")
}

fn quick(policy: CommitPolicy) -> CommitPolicy {
    CommitPolicy {
        retry_delay: Duration::from_millis(20),
        max_retry_delay: Duration::from_millis(80),
        ..policy
    }
}

fn attached(disk: &Arc<Disk>, policy: CommitPolicy) -> Registry {
    let registry = Registry::default();
    registry
        .attach_persistence(disk.clone(), policy)
        .expect("attached");
    registry
}

/// Polls `done` for up to 10 s.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < until, "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn marks_of_one_service_coalesce_while_commits_fail() {
    for policy in [CommitPolicy::group(), CommitPolicy::per_write()] {
        let disk = Arc::new(Disk::default());
        disk.failing.store(true, Ordering::SeqCst);
        let registry = attached(&disk, quick(policy));
        let services = [key("a"), key("b"), key("c")];
        registry
            .register_instance(&services[0], persistent(0))
            .expect("applied in memory");
        let refused = registry.wait_persisted(&services[0]);
        assert!(
            matches!(refused, Err(NotPersisted::Failed(_))),
            "{refused:?}"
        );
        for i in 1..600 {
            let service = &services[i % 3];
            registry
                .register_instance(service, persistent(i))
                .expect("applied in memory");
        }
        let stats = registry.persist_stats();
        assert_eq!(stats.changes, 600);
        assert!(
            stats.queued <= 3,
            "{policy:?}: {} entries queued for 3 services",
            stats.queued
        );
        // Once the disk works again, everything reaches it, and every waiter is answered.
        disk.failing.store(false, Ordering::SeqCst);
        for service in &services {
            eventually("the retry commits", || {
                registry.wait_persisted(service).is_ok()
            });
            assert_eq!(disk.live(service), 200);
        }
        let stats = registry.persist_stats();
        assert_eq!((stats.durable, stats.pending_services), (600, 0));
    }
}

#[test]
fn the_per_write_baseline_commits_each_change_while_commits_succeed() {
    let disk = Arc::new(Disk::default());
    disk.set_stuck(true);
    let registry = attached(&disk, quick(CommitPolicy::per_write()));
    let db = key("db");
    for i in 0..20 {
        registry
            .register_instance(&db, persistent(i))
            .expect("applied");
    }
    assert!(
        registry.persist_stats().queued >= 19,
        "one entry per change"
    );
    disk.set_stuck(false);
    registry.wait_persisted(&db).expect("committed");
    assert!(disk.attempts.load(Ordering::SeqCst) >= 20);
}

#[test]
fn a_failure_is_reported_until_a_commit_succeeds() {
    let disk = Arc::new(Disk::default());
    let registry = attached(&disk, quick(CommitPolicy::group()));
    let backend = Backend::from(registry.clone());
    let db = key("db");
    assert_eq!(backend.readiness(), Ok(()));
    disk.failing.store(true, Ordering::SeqCst);
    registry
        .register_instance(&db, persistent(1))
        .expect("applied");
    let refused = registry.wait_persisted(&db);
    assert!(
        matches!(refused, Err(NotPersisted::Failed(_))),
        "{refused:?}"
    );
    let failure = registry.persist_failure().expect("a failure is reported");
    assert!(failure.error.contains("disk full"), "{failure}");
    match backend.readiness() {
        Err(NotReady::Disk(f)) => assert!(f.attempts >= 1, "{f}"),
        other => panic!("ready on a failing disk: {other:?}"),
    }
    // The committer retries by itself; the node is ready once a commit succeeds.
    disk.failing.store(false, Ordering::SeqCst);
    eventually("a retry succeeds", || backend.readiness().is_ok());
    assert_eq!(registry.persist_failure(), None);
    assert_eq!(disk.live(&db), 1);
    assert!(registry.persist_stats().failed_commits >= 1);
}

#[test]
fn retries_back_off_and_new_writes_do_not_cut_the_pause_short() {
    let disk = Arc::new(Disk::default());
    disk.failing.store(true, Ordering::SeqCst);
    let policy = CommitPolicy {
        retry_delay: Duration::from_millis(40),
        max_retry_delay: Duration::from_millis(320),
        ..CommitPolicy::group()
    };
    let registry = attached(&disk, policy);
    let db = key("db");
    // 500 writes over about 0.5 s: a committer woken by each would try about 500 times.
    let started = Instant::now();
    for i in 0..500 {
        registry
            .register_instance(&db, persistent(i))
            .expect("applied");
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = started.elapsed();
    let attempts = disk.attempts.load(Ordering::SeqCst);
    // Pauses of 40, 80, 160, 320, 320, ... ms: about 2 + elapsed / 320 ms tries, plus the
    // first one, and slack for a slow machine.
    let bound = 6 + elapsed.as_millis() / 320;
    assert!(
        u128::from(attempts) <= bound,
        "{attempts} tries in {elapsed:?} (at most {bound})"
    );
    disk.failing.store(false, Ordering::SeqCst);
}

#[test]
fn retry_pauses_double_up_to_the_cap() {
    let policy = CommitPolicy {
        retry_delay: Duration::from_millis(100),
        max_retry_delay: Duration::from_millis(700),
        ..CommitPolicy::group()
    };
    let pauses: Vec<u128> = (1..=6).map(|n| policy.retry_after(n).as_millis()).collect();
    assert_eq!(pauses, [100, 200, 400, 700, 700, 700]);
    assert_eq!(
        policy.retry_after(u64::MAX),
        Duration::from_millis(700),
        "no overflow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waiting_on_a_hung_disk_gives_up_at_its_deadline() {
    let disk = Arc::new(Disk::default());
    let policy = CommitPolicy {
        wait_timeout: Duration::from_millis(200),
        ..quick(CommitPolicy::group())
    };
    let registry = attached(&disk, policy);
    let backend = Backend::from(registry.clone());
    let db = key("db");
    disk.set_stuck(true);
    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        backend.execute(Command::register(&db, persistent(1))),
    )
    .await
    .expect("the write is answered, not left hanging");
    let waited = started.elapsed();
    match answer {
        Err(crate::cluster::ClusterError::NotPersisted(NotPersisted::TimedOut(t))) => {
            assert_eq!(t, Duration::from_millis(200))
        }
        other => panic!("not a timeout: {other:?}"),
    }
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    // A front answers it 503.
    let err = crate::cluster::ClusterError::NotPersisted(NotPersisted::TimedOut(waited));
    assert_eq!(crate::front::ErrorClass::of(&err).http_status(), 503);
    // The blocking wait (a forwarded write's) has the same deadline.
    let blocked = tokio::task::spawn_blocking({
        let registry = registry.clone();
        let db = db.clone();
        move || registry.wait_persisted(&db)
    })
    .await
    .expect("joined");
    assert!(
        matches!(blocked, Err(NotPersisted::TimedOut(_))),
        "{blocked:?}"
    );
    // The write was applied, and reaches the disk once it answers again.
    disk.set_stuck(false);
    backend
        .execute(Command::register(&db, persistent(2)))
        .await
        .expect("committed");
    assert_eq!(disk.live(&db), 2);
}

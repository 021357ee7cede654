//! The control store against openraft's storage conformance suite, and what the suite does
//! not cover: everything survives a reopen, damage and foreign files are typed errors naming
//! the file, the size bounds hold.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{log_id, StoreBuilder, Suite};
use openraft::{
    BasicNode, Entry, EntryPayload, Membership, RaftLogReader, RaftSnapshotBuilder, StorageError,
    Vote,
};

use super::*;
use crate::control::{ControlCommand, ControlError, ControlResponse, ControlTypeConfig, Namespace};
use crate::model::NamespaceId;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A directory removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("nacre-control-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the temp dir can be created");
        Dir(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join(FILE_NAME)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Builder;

impl StoreBuilder<ControlTypeConfig, ControlLog, ControlMachine, Dir> for Builder {
    async fn build(&self) -> Result<(Dir, ControlLog, ControlMachine), StorageError<u64>> {
        let dir = Dir::new("suite");
        let (log, machine) =
            open(&dir.file(), StoreLimits::default()).expect("a new control store opens");
        Ok((dir, log, machine))
    }
}

#[test]
fn control_store_passes_openraft_storage_suite() -> TestResult {
    Ok(Suite::test_all(Builder)?)
}

fn entry(
    term: u64,
    index: u64,
    payload: EntryPayload<ControlTypeConfig>,
) -> Entry<ControlTypeConfig> {
    Entry {
        log_id: log_id(term, 1, index),
        payload,
    }
}

fn create(id: &str) -> EntryPayload<ControlTypeConfig> {
    let ns = Namespace::new(NamespaceId::new(id).expect("valid id"), id, "", 200)
        .expect("valid namespace");
    EntryPayload::Normal(ControlCommand::CreateNamespace(ns))
}

fn membership() -> EntryPayload<ControlTypeConfig> {
    let nodes = [(1, BasicNode::new("10.0.0.1:8848"))]
        .into_iter()
        .collect::<std::collections::BTreeMap<_, _>>();
    EntryPayload::Membership(Membership::new(vec![[1].into_iter().collect()], nodes))
}

fn open_store(path: &Path) -> (ControlLog, ControlMachine) {
    open(path, StoreLimits::default()).expect("the control store opens")
}

#[tokio::test]
async fn log_vote_committed_and_snapshot_survive_reopen() -> TestResult {
    let dir = Dir::new("reopen");
    let snapshot_meta;
    {
        let (mut log, mut machine) = open_store(&dir.file());
        let entries = vec![
            entry(1, 1, membership()),
            entry(1, 2, create("dev")),
            entry(1, 3, create("test")),
            entry(2, 4, create("prod")),
        ];
        log.blocking_append(entries.clone()).await?;
        log.save_vote(&Vote::new_committed(2, 1)).await?;
        log.save_committed(Some(log_id(2, 1, 4))).await?;
        // The first three applied and snapshotted, the fourth only in the log.
        machine.apply(entries[..3].to_vec()).await?;
        snapshot_meta = machine
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await?
            .meta;
        log.purge(log_id(1, 1, 2)).await?;
    }
    let (mut log, mut machine) = open_store(&dir.file());
    assert_eq!(log.read_vote().await?, Some(Vote::new_committed(2, 1)));
    assert_eq!(log.read_committed().await?, Some(log_id(2, 1, 4)));
    let state = log.get_log_state().await?;
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 1, 2)));
    assert_eq!(state.last_log_id, Some(log_id(2, 1, 4)));
    let kept = log.try_get_log_entries(0..10).await?;
    assert_eq!(
        kept.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
        vec![3, 4]
    );
    // The machine is back at the snapshot: `dev` and `test`, not yet `prod`.
    let (applied, members) = machine.applied_state().await?;
    assert_eq!(applied, Some(log_id(1, 1, 3)));
    assert_eq!(members.log_id(), &Some(log_id(1, 1, 1)));
    assert!(machine.state().namespace("test").is_some());
    assert!(machine.state().namespace("prod").is_none());
    let current = machine.get_current_snapshot().await?.expect("a snapshot");
    assert_eq!(current.meta, snapshot_meta);
    // openraft re-applies what was committed after the snapshot.
    machine.apply(kept[1..].to_vec()).await?;
    assert!(machine.state().namespace("prod").is_some());
    Ok(())
}

#[tokio::test]
async fn apply_answers_typed_rejections() -> TestResult {
    let dir = Dir::new("reject");
    let (_log, mut machine) = open_store(&dir.file());
    let replies = machine
        .apply([entry(1, 1, create("dev")), entry(1, 2, create("dev"))])
        .await?;
    let dev = NamespaceId::new("dev").expect("valid id");
    assert_eq!(
        replies,
        vec![
            ControlResponse::Done,
            ControlResponse::Rejected(ControlError::NamespaceExists(dev))
        ]
    );
    Ok(())
}

#[tokio::test]
async fn an_entry_over_the_limit_is_refused_and_not_written() -> TestResult {
    let dir = Dir::new("big");
    let limits = StoreLimits {
        max_entry_bytes: 256,
        ..StoreLimits::default()
    };
    let (mut log, _machine) = open(&dir.file(), limits).expect("opens");
    let mut ns =
        Namespace::new(NamespaceId::new("big").expect("valid"), "big", "", 1).expect("valid");
    ns.description = "x".repeat(300);
    let big = entry(
        1,
        1,
        EntryPayload::Normal(ControlCommand::CreateNamespace(ns)),
    );
    let err = log
        .blocking_append([entry(1, 1, EntryPayload::Blank)])
        .await
        .and(log.blocking_append([big]).await)
        .expect_err("the entry is refused");
    assert!(err.to_string().contains("at most 256"), "{err}");
    assert_eq!(
        log.get_log_state().await?.last_log_id,
        Some(log_id(1, 1, 1))
    );
    Ok(())
}

#[tokio::test]
async fn a_snapshot_over_the_limit_is_refused_at_install() -> TestResult {
    let dir = Dir::new("bigsnap");
    let limits = StoreLimits {
        max_snapshot_bytes: 8,
        ..StoreLimits::default()
    };
    let (_log, mut machine) = open(&dir.file(), limits).expect("opens");
    let meta = openraft::SnapshotMeta {
        last_log_id: Some(log_id(1, 1, 5)),
        last_membership: Default::default(),
        snapshot_id: "big".to_owned(),
    };
    let data = Box::new(std::io::Cursor::new(vec![0u8; 64]));
    let err = machine
        .install_snapshot(&meta, data)
        .await
        .expect_err("too large");
    assert!(err.to_string().contains("at most 8"), "{err}");
    assert!(machine.get_current_snapshot().await?.is_none());
    Ok(())
}

#[tokio::test]
async fn a_snapshot_that_does_not_decode_changes_nothing() -> TestResult {
    let dir = Dir::new("badsnap");
    let (_log, mut machine) = open_store(&dir.file());
    let meta = openraft::SnapshotMeta {
        last_log_id: Some(log_id(1, 1, 5)),
        last_membership: Default::default(),
        snapshot_id: "bad".to_owned(),
    };
    let data = Box::new(std::io::Cursor::new(vec![0xff; 16]));
    let err = machine
        .install_snapshot(&meta, data)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("does not decode"), "{err}");
    assert_eq!(machine.applied_state().await?.0, None);
    assert!(machine.get_current_snapshot().await?.is_none());
    Ok(())
}

fn open_err(path: &Path) -> ControlStoreError {
    open(path, StoreLimits::default()).expect_err("the store does not open")
}

#[test]
fn a_damaged_file_is_a_typed_error_naming_it() {
    let dir = Dir::new("corrupt");
    let path = dir.file();
    drop(open_store(&path));
    let mut bytes = std::fs::read(&path).expect("readable");
    for b in bytes.iter_mut().take(4096) {
        *b = !*b;
    }
    std::fs::write(&path, &bytes).expect("writable");
    let err = open_err(&path);
    assert!(matches!(err, ControlStoreError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn an_empty_or_foreign_file_is_refused() {
    let dir = Dir::new("foreign");
    let path = dir.file();
    std::fs::write(&path, b"").expect("writable");
    assert!(matches!(open_err(&path), ControlStoreError::Corrupt { .. }));
    std::fs::write(
        &path,
        b"not a database at all, but long enough to be looked at",
    )
    .expect("w");
    assert!(matches!(open_err(&path), ControlStoreError::Corrupt { .. }));

    // A redb file of another store (persist's) is not taken for a new control store.
    let other = dir.0.join("other.redb");
    {
        let db = redb::Database::create(&other).expect("creates");
        let tx = db.begin_write().expect("writes");
        let def: redb::TableDefinition<'_, &str, &[u8]> =
            redb::TableDefinition::new("service_rows");
        tx.open_table(def)
            .expect("table")
            .insert("x", b"y".as_slice())
            .expect("insert");
        tx.commit().expect("commits");
    }
    let err = open_err(&other);
    assert!(err.to_string().contains("not a control store"), "{err}");
}

#[test]
fn another_format_is_refused_by_name() {
    for other in [file::FORMAT - 1, file::FORMAT + 1] {
        let dir = Dir::new("other-format");
        let path = dir.file();
        drop(open_store(&path));
        {
            let db = redb::Database::open(&path).expect("opens");
            let tx = db.begin_write().expect("writes");
            tx.open_table(file::META)
                .expect("table")
                .insert("format", [other].as_slice())
                .expect("insert");
            tx.commit().expect("commits");
        }
        let err = open_err(&path);
        assert!(
            matches!(err, ControlStoreError::OtherFormat { found, .. } if found == other),
            "{err:?}"
        );
    }
}

#[test]
fn a_second_open_of_the_same_file_is_in_use() {
    let dir = Dir::new("inuse");
    let _first = open_store(&dir.file());
    assert!(matches!(open_err(&dir.file()), ControlStoreError::InUse(_)));
}

#[tokio::test]
async fn a_damaged_log_row_is_a_typed_error() -> TestResult {
    let dir = Dir::new("badrow");
    let path = dir.file();
    {
        let (mut log, _m) = open_store(&path);
        log.blocking_append([entry(1, 1, EntryPayload::Blank)])
            .await?;
    }
    {
        let db = redb::Database::open(&path).expect("opens");
        let tx = db.begin_write().expect("writes");
        tx.open_table(file::LOG)
            .expect("table")
            .insert(2, [0xffu8; 3].as_slice())
            .expect("insert");
        tx.commit().expect("commits");
    }
    let (mut log, _m) = open_store(&path);
    let err = log
        .try_get_log_entries(0..3)
        .await
        .expect_err("row 2 is damaged");
    assert!(err.to_string().contains("row log 2"), "{err}");
    Ok(())
}

#[tokio::test]
async fn the_view_follows_applies_installs_and_reopens() -> TestResult {
    let (dir_a, dir_b) = (Dir::new("view-a"), Dir::new("view-b"));
    let (_log, mut a) = open_store(&dir_a.file());
    let view = a.view();
    let before = view.load();
    a.apply([entry(1, 1, create("dev"))]).await?;
    assert!(
        view.load().namespace("dev").is_some(),
        "published after apply"
    );
    assert!(
        before.namespace("dev").is_none(),
        "a loaded state does not change"
    );
    // A rejected command publishes nothing new.
    let published = view.load();
    a.apply([entry(1, 2, create("dev"))]).await?;
    assert!(std::sync::Arc::ptr_eq(&published, &view.load()));

    let snapshot = a.get_snapshot_builder().await.build_snapshot().await?;
    let (_log_b, mut b) = open_store(&dir_b.file());
    let view_b = b.view();
    b.install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await?;
    assert!(
        view_b.load().namespace("dev").is_some(),
        "published after install"
    );
    drop((_log_b, b));
    let (_log_b, b) = open_store(&dir_b.file());
    assert!(
        b.view().load().namespace("dev").is_some(),
        "published at open"
    );
    Ok(())
}

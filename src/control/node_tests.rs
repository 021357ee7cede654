//! A one-member control plane: writes are applied through Raft, and survive a restart of the
//! Raft instance on the same file.

use super::*;
use crate::control::store;
use crate::control::{ControlError, Namespace};
use crate::model::NamespaceId;

fn create(id: &str) -> ControlCommand {
    let ns = Namespace::new(NamespaceId::new(id).expect("valid"), id, "", 200).expect("valid");
    ControlCommand::CreateNamespace(ns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_applied_and_survives_a_restart_on_the_same_file() {
    let dir = std::env::temp_dir().join(format!("nacre-control-node-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(store::FILE_NAME);
    let address = "127.0.0.1:8848";

    let control = StandaloneControl::start(&path, address)
        .await
        .expect("starts");
    assert_eq!(
        control.write(create("dev")).await.expect("written"),
        ControlResponse::Done
    );
    control.shutdown().await;

    let control = StandaloneControl::start(&path, address)
        .await
        .expect("restarts");
    // The namespace came back from the disk (no snapshot was built: the committed entries
    // were applied again from the log): creating it again is refused by the state.
    assert_eq!(
        control.write(create("dev")).await.expect("written"),
        ControlResponse::Rejected(ControlError::NamespaceExists(
            NamespaceId::new("dev").expect("valid")
        ))
    );
    assert_eq!(
        control.write(create("test")).await.expect("written"),
        ControlResponse::Done
    );
    control.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_entries_and_each_gets_its_own_answer() {
    let dir = std::env::temp_dir().join(format!("nacre-control-batch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let control = StandaloneControl::start(&dir.join(store::FILE_NAME), "127.0.0.1:8848")
        .await
        .expect("starts");
    let before = control.node().applied_index().unwrap_or(0);
    // 200 writes at once, 100 namespaces each created twice: one of each pair is refused.
    let writes: Vec<_> = (0..200)
        .map(|n| {
            let node = control.node().clone();
            tokio::spawn(
                async move { node.write_indexed(create(&format!("ns-{}", n % 100))).await },
            )
        })
        .collect();
    let mut done = 0;
    let mut refused = 0;
    let mut indexes = std::collections::BTreeSet::new();
    for w in writes {
        let written = w.await.expect("joins").expect("written");
        indexes.insert(written.index);
        match written.response {
            ControlResponse::Done => done += 1,
            ControlResponse::Rejected(ControlError::NamespaceExists(_)) => refused += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((done, refused), (100, 100));
    assert_eq!(control.node().inner.view.load().namespaces().count(), 100);
    let entries = control.node().applied_index().unwrap_or(0) - before;
    assert!(
        (entries as usize) < 200 && indexes.len() < 200,
        "200 writes took {entries} entries: no batch was formed"
    );
    control.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

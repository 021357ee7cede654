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

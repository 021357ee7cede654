//! The namespace API of a real `nacre-server --data-dir` process: a namespace created through
//! `POST /nacos/v1/console/namespaces` is still listed after the process is killed (SIGKILL,
//! by its pid) and started again on the same directory.

use crate::durable::{free_ports, http, wait_ready, Dir, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_namespace_is_listed_after_a_kill_and_a_restart() {
    let dir = Dir::new("namespaces");
    let port = free_ports(1)[0];
    let mut server = Server::new(&dir.0, port, None);
    server.start();
    let http = http();
    wait_ready(&http, &server).await;
    let created: serde_json::Value = http
        .post(server.url("/nacos/v1/console/namespaces"))
        .form(&[
            ("customNamespaceId", "dev"),
            ("namespaceName", "Development"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created, serde_json::json!(true));

    server.kill9();
    server.start();
    wait_ready(&http, &server).await;
    let list: serde_json::Value = http
        .get(server.url("/nacos/v1/console/namespaces"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["namespaceShowName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["public", "Development"], "{list}");
}

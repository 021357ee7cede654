//! The active health checks as `nacre-server` wires them, on real sockets and the real clock:
//! a persistent instance on a closed port turns unhealthy by itself, healthy again once its
//! port listens (each verdict a write through the control plane's log); `PUT /health/instance`
//! is refused while its cluster is checked and taken once the cluster's checker is `NONE`,
//! which then leaves the health alone.
#![cfg(feature = "server")]

use std::time::Duration;

use crate::common::fixtures::eventually;
use crate::env::http_json;
use serde_json::Value;

/// Whether `127.0.0.1:port` is healthy in `orders`, as `GET /instance` answers (a list would
/// report it healthy under the protect threshold).
async fn healthy(http: &reqwest::Client, base: &str, port: u16) -> Option<bool> {
    let one = format!("{base}/nacos/v1/ns/instance?serviceName=orders&ip=127.0.0.1&port={port}");
    http_json(http, reqwest::Method::GET, one).await["healthy"].as_bool()
}

/// Waits (30 s at most) until `127.0.0.1:port` is `want` in `orders`; fails saying `what`.
async fn until_health(http: &reqwest::Client, base: &str, port: u16, want: bool, what: &str) {
    eventually(what, Duration::from_secs(30), || {
        let (http, base) = (http.clone(), base.to_owned());
        async move { healthy(&http, &base, port).await == Some(want) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_probes_a_persistent_instance_and_leaves_a_none_cluster_to_the_operator() {
    let dir = std::env::temp_dir().join(format!("nacre-probes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = nacre::server::ServerConfig {
        port: 0,
        data_dir: Some(dir.clone()),
        ..Default::default()
    };
    let server = nacre::server::start(&config).await.unwrap();
    let base = format!("http://{}", server.local_addr());
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let register = format!(
        "{base}/nacos/v1/ns/instance?serviceName=orders&ip=127.0.0.1&port={port}&ephemeral=false"
    );
    http_json(&http, reqwest::Method::POST, register).await;
    assert_eq!(healthy(&http, &base, port).await, Some(true));

    // The first check comes within 2 to 7 s; a refused connection fails at once.
    until_health(
        &http,
        &base,
        port,
        false,
        "the closed port's instance to turn unhealthy",
    )
    .await;

    // Something listens: healthy again within a check round or two; gone again: unhealthy.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    until_health(
        &http,
        &base,
        port,
        true,
        "the instance to turn healthy once its port listens",
    )
    .await;
    drop(listener);
    until_health(
        &http,
        &base,
        port,
        false,
        "the instance to turn unhealthy again once its port closes",
    )
    .await;

    let set = |healthy: bool| {
        format!(
            "{base}/nacos/v1/ns/health/instance?serviceName=orders&ip=127.0.0.1&port={port}&healthy={healthy}"
        )
    };
    let refused = http.put(set(true)).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let message = refused.text().await.unwrap();
    assert!(
        message.contains("health check is still working"),
        "{message}"
    );

    let none = format!(
        "{base}/nacos/v1/ns/cluster?serviceName=orders&clusterName=DEFAULT&checkPort=80\
         &useInstancePort4Check=true&healthChecker=%7B%22type%22%3A%22NONE%22%7D"
    );
    assert_eq!(
        http_json(&http, reqwest::Method::PUT, none).await,
        Value::String("ok".into())
    );
    assert_eq!(
        http_json(&http, reqwest::Method::PUT, set(true)).await,
        Value::String("ok".into())
    );
    assert_eq!(healthy(&http, &base, port).await, Some(true));
    // Under NONE nothing checks it: the closed port leaves it healthy past every check round.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(healthy(&http, &base, port).await, Some(true));
    server.shutdown(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

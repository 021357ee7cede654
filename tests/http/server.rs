//! The standalone server behind `nacre-server`.

use crate::common::fixtures::eventually;
use crate::env::{hosts, http_json};
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_server_serves_and_evicts_on_its_driver_thread() {
    let config = nacre::http::ServerConfig {
        port: 0,
        ..Default::default()
    };
    let server = nacre::http::start(&config).await.unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback(), "loopback by default");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // Removed 1 s after its last beat; the health driver runs on the server's own thread.
    let register = format!(
        "http://{addr}/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=1\
         &metadata=preserved.heart.beat.timeout%3D500%2Cpreserved.ip.delete.timeout%3D1000"
    );
    assert_eq!(
        http_json(&http, reqwest::Method::POST, register).await,
        Value::String("ok".into())
    );
    let list = format!("http://{addr}/nacos/v1/ns/instance/list?serviceName=orders");
    assert_eq!(
        hosts(&http_json(&http, reqwest::Method::GET, list.clone()).await).len(),
        1
    );
    // The driver sweeps at least every 5 s.
    eventually(
        "the silent instance to be evicted",
        Duration::from_secs(20),
        || {
            let (http, list) = (http.clone(), list.clone());
            async move { hosts(&http_json(&http, reqwest::Method::GET, list).await).is_empty() }
        },
    )
    .await;
    server.stop();
}

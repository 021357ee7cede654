//! `GET /nacre/v1/ns/instance/timeline` and the console's `api/timeline`: what each write
//! through the v1 API and the console recorded, with its front; and the failure preview's
//! routes on a standalone node, which has no cluster to preview.
#![cfg(feature = "console")]

use crate::console::call;
use crate::env::{api, orders, ORDERS_10_0_0_1};
use nacre::console::Console;
use serde_json::{json, Value};

#[tokio::test]
async fn each_write_is_recorded_with_its_front_and_read_back_newest_last() {
    let api = api();
    let console = Console::new(api.registry.clone()).router();
    api.ok("POST", &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}"))
        .await;
    api.ok(
        "PUT",
        &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&enabled=false"),
    )
    .await;
    let edit = json!({"namespace": "public", "group": "DEFAULT_GROUP", "service": "orders",
        "cluster": "DEFAULT", "ip": "10.0.0.1", "port": 8080, "enabled": true});
    let (status, body) = call(&console, "PATCH", "/console/api/instance", Some(edit)).await;
    assert_eq!(status, 200, "{body}");
    let story = api
        .json(
            "GET",
            "/nacre/v1/ns/instance/timeline?serviceName=orders&ip=10.0.0.1&port=8080",
        )
        .await;
    let kinds: Vec<&str> = story["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["registered", "disabled", "enabled"], "{story}");
    assert_eq!(story["events"][0]["origin"]["front"], "http");
    assert_eq!(story["events"][2]["origin"]["front"], "console");
    assert_eq!(story["events"][1]["text"], "disabled (out of rotation)");
    assert_eq!(
        (story["registered"].as_bool(), story["enabled"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(story["lastBeat"], api.clock.now().as_millis());
    // The console reads the same.
    let (status, body) = call(
        &console,
        "GET",
        "/console/api/timeline?namespace=public&group=DEFAULT_GROUP&service=orders&cluster=DEFAULT&ip=10.0.0.1&port=8080",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let same: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(same["events"], story["events"]);
    // An instance nobody heard of: no history, which is an answer.
    let none = api
        .json(
            "GET",
            "/nacre/v1/ns/instance/timeline?serviceName=orders&ip=10.0.0.2&port=8080",
        )
        .await;
    assert_eq!(none["registered"], false);
    assert_eq!(none["events"], json!([]));
    // Bad input says what was wrong.
    let (status, body) = api
        .call(
            "GET",
            "/nacre/v1/ns/instance/timeline?serviceName=orders&ip=10.0.0.1&port=x",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(api.registry.get_all_instances(&orders(), &[]).len() == 1);
}

#[tokio::test]
async fn a_standalone_node_has_no_cluster_to_preview() {
    let api = api();
    let (status, body) = api
        .call("GET", "/nacre/v1/cluster/preview?stop=10.0.0.1:8848")
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("standalone"), "{body}");
    let (status, body) = api.call("GET", "/nacre/v1/cluster/preview").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("stop=MEMBER or members=A,B,C"), "{body}");
    let console = Console::new(api.registry.clone()).router();
    let (status, body) = call(&console, "GET", "/console/api/members", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"me": null, "members": []})
    );
    let (status, body) = call(
        &console,
        "GET",
        "/console/api/preview?stop=10.0.0.1:8848",
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

//! The beat endpoint: answers, re-registration by beat, clusters and the preserved interval.

use crate::env::{api, hosts, ORDERS_10_0_0_1};
use std::time::Duration;

fn beat_uri(beat_json: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(beat_json.as_bytes()).collect();
    format!("/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40orders&beat={encoded}")
}

#[tokio::test]
async fn a_beat_with_data_answers_10200_and_brings_back_an_evicted_instance() {
    let api = api();
    api.ok("POST", &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}"))
        .await;
    let beat = r#"{"serviceName":"DEFAULT_GROUP@@orders","ip":"10.0.0.1","port":8080,"weight":1.0,"ephemeral":true}"#;
    let answer = api.json("PUT", &beat_uri(beat)).await;
    assert_eq!(answer["code"], 10200);
    assert_eq!(answer["clientBeatInterval"], 5000);
    assert_eq!(answer["lightBeatEnabled"], true);

    // 31 s without a beat: evicted.
    api.clock.advance(Duration::from_secs(31));
    api.registry.check_health();
    assert!(hosts(&api.list("serviceName=orders").await).is_empty());

    let answer = api.json("PUT", &beat_uri(beat)).await;
    assert_eq!(
        answer["code"], 10200,
        "the beat carried the data: registered again"
    );
    assert_eq!(
        hosts(&api.list("serviceName=orders").await),
        ["10.0.0.1:8080"]
    );
}

#[tokio::test]
async fn a_light_beat_for_an_unknown_instance_answers_20404() {
    let api = api();
    let answer = api
        .json(
            "PUT",
            "/nacos/v1/ns/instance/beat?serviceName=orders&ip=10.0.0.1&port=8080",
        )
        .await;
    assert_eq!(answer["code"], 20404);
    assert_eq!(answer["clientBeatInterval"], 5000);
    assert!(hosts(&api.list("serviceName=orders").await).is_empty());
}

#[tokio::test]
async fn a_beat_in_another_cluster_is_another_instance() {
    let api = api();
    api.ok(
        "POST",
        &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&clusterName=hz"),
    )
    .await;
    let light = api
        .json(
            "PUT",
            &format!("/nacos/v1/ns/instance/beat?{ORDERS_10_0_0_1}&clusterName=hz"),
        )
        .await;
    assert_eq!(light["code"], 10200);
    let other = api
        .json(
            "PUT",
            &format!("/nacos/v1/ns/instance/beat?{ORDERS_10_0_0_1}&clusterName=sh"),
        )
        .await;
    assert_eq!(other["code"], 20404);
    // The cluster in the beat JSON wins over `clusterName`.
    let beat = r#"{"ip":"10.0.0.1","port":8080,"cluster":"hz"}"#;
    let answer = api
        .json("PUT", &format!("{}&clusterName=sh", beat_uri(beat)))
        .await;
    assert_eq!(answer["code"], 10200);
    assert_eq!(hosts(&api.list("serviceName=orders").await).len(), 1);
}

#[tokio::test]
async fn the_beat_interval_follows_preserved_metadata() {
    let api = api();
    api.ok(
        "POST",
        &format!(
            "/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&metadata=preserved.heart.beat.interval%3D2000"
        ),
    )
    .await;
    let answer = api
        .json(
            "PUT",
            &format!("/nacos/v1/ns/instance/beat?{ORDERS_10_0_0_1}"),
        )
        .await;
    assert_eq!(answer["clientBeatInterval"], 2000);
    let list = api.list("serviceName=orders").await;
    assert_eq!(list["hosts"][0]["instanceHeartBeatInterval"], 2000);
}

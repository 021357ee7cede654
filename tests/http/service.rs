//! The service endpoints: create, read, update, remove and list.

use crate::env::api;
use serde_json::Value;

#[tokio::test]
async fn a_service_is_created_read_updated_and_removed() {
    let api = api();
    assert_eq!(
        api.ok(
            "POST",
            "/nacos/v1/ns/service?serviceName=orders&groupName=shop&protectThreshold=0.3\
             &metadata=%7B%22owner%22%3A%22team-a%22%7D&selector=%7B%22type%22%3A%22none%22%7D",
        )
        .await,
        "ok"
    );
    let detail = api
        .json(
            "GET",
            "/nacos/v1/ns/service?serviceName=orders&groupName=shop",
        )
        .await;
    assert_eq!(detail["name"], "orders");
    assert_eq!(detail["groupName"], "shop");
    assert_eq!(detail["namespaceId"], "public");
    assert!((detail["protectThreshold"].as_f64().unwrap() - 0.3).abs() < 1e-6);
    assert_eq!(detail["metadata"]["owner"], "team-a");
    assert_eq!(detail["selector"]["type"], "none");
    assert_eq!(detail["clusters"], Value::Array(vec![]));

    let (status, body) = api
        .call("POST", "/nacos/v1/ns/service?serviceName=shop%40%40orders")
        .await;
    assert_eq!(status, 400, "creating it twice: {body}");

    api.ok(
        "PUT",
        "/nacos/v1/ns/service?serviceName=shop%40%40orders&protectThreshold=0.5",
    )
    .await;
    let detail = api
        .json("GET", "/nacos/v1/ns/service?serviceName=shop%40%40orders")
        .await;
    assert_eq!(detail["protectThreshold"], 0.5);
    assert_eq!(
        detail["metadata"],
        serde_json::json!({}),
        "update replaces the metadata, as in Nacos"
    );

    api.ok(
        "POST",
        "/nacos/v1/ns/instance?serviceName=shop%40%40orders&ip=10.0.0.1&port=1&clusterName=hz",
    )
    .await;
    let detail = api
        .json("GET", "/nacos/v1/ns/service?serviceName=shop%40%40orders")
        .await;
    assert_eq!(detail["clusters"][0]["name"], "hz");
    let (status, body) = api
        .call(
            "DELETE",
            "/nacos/v1/ns/service?serviceName=shop%40%40orders",
        )
        .await;
    assert_eq!(status, 400, "removing a service with instances: {body}");

    api.ok(
        "DELETE",
        "/nacos/v1/ns/instance?serviceName=shop%40%40orders&ip=10.0.0.1&port=1&clusterName=hz",
    )
    .await;
    api.ok(
        "DELETE",
        "/nacos/v1/ns/service?serviceName=shop%40%40orders",
    )
    .await;
    let (status, _) = api
        .call("GET", "/nacos/v1/ns/service?serviceName=shop%40%40orders")
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .call(
            "PUT",
            "/nacos/v1/ns/service?serviceName=shop%40%40orders&protectThreshold=0",
        )
        .await;
    assert_eq!(status, 400, "updating an unknown service");
    let (status, _) = api
        .call(
            "DELETE",
            "/nacos/v1/ns/service?serviceName=shop%40%40orders",
        )
        .await;
    assert_eq!(status, 400, "removing an unknown service");
}

#[tokio::test]
async fn the_service_list_pages_by_name_and_counts_all() {
    let api = api();
    for name in ["c", "a", "b", "d", "e"] {
        api.ok("POST", &format!("/nacos/v1/ns/service?serviceName={name}"))
            .await;
    }
    api.ok("POST", "/nacos/v1/ns/service?serviceName=x&groupName=other")
        .await;
    let page = api
        .json("GET", "/nacos/v1/ns/service/list?pageNo=2&pageSize=2")
        .await;
    assert_eq!(page, serde_json::json!({"count": 5, "doms": ["c", "d"]}));
    let other = api
        .json(
            "GET",
            "/nacos/v1/ns/service/list?pageNo=1&pageSize=10&groupName=other",
        )
        .await;
    assert_eq!(other, serde_json::json!({"count": 1, "doms": ["x"]}));
    let past = api
        .json("GET", "/nacos/v1/ns/service/list?pageNo=9&pageSize=10")
        .await;
    assert_eq!(past["doms"], Value::Array(vec![]));
}

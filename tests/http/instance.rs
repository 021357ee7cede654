//! The instance endpoints: register, list, detail, update and deregister, in Nacos shape.

use crate::env::{api, hosts, orders, ORDERS_10_0_0_1};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use std::time::Duration;
use tower::ServiceExt;

#[tokio::test]
async fn register_answers_ok_and_the_list_has_nacos_shape() {
    let api = api();
    let body = api
        .ok(
            "POST",
            "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=8080&weight=2.5\
             &clusterName=hz&metadata=%7B%22version%22%3A%221.2%22%7D",
        )
        .await;
    assert_eq!(body, "ok");
    let list = api.list("serviceName=orders").await;
    assert_eq!(list["name"], "DEFAULT_GROUP@@orders");
    assert_eq!(list["groupName"], "DEFAULT_GROUP");
    assert_eq!(list["clusters"], "");
    assert_eq!(
        list["cacheMillis"], 3_000,
        "no push: clients pull every 3 s"
    );
    assert_eq!(list["reachProtectionThreshold"], false);
    assert_eq!(list["allIPs"], false);
    assert_eq!(list["valid"], true);
    assert!(list["lastRefTime"].as_u64().unwrap() > 0);
    assert_eq!(list["checksum"].as_str().unwrap().len(), 16);
    let host = &list["hosts"][0];
    assert_eq!(host["instanceId"], "10.0.0.1#8080#hz#DEFAULT_GROUP@@orders");
    assert_eq!(host["ip"], "10.0.0.1");
    assert_eq!(host["port"], 8080);
    assert_eq!(host["weight"], 2.5);
    assert_eq!(host["healthy"], true);
    assert_eq!(host["enabled"], true);
    assert_eq!(host["ephemeral"], true);
    assert_eq!(host["clusterName"], "hz");
    assert_eq!(host["serviceName"], "DEFAULT_GROUP@@orders");
    assert_eq!(host["metadata"]["version"], "1.2");
    assert_eq!(host["instanceHeartBeatInterval"], 5000);
    assert_eq!(host["instanceHeartBeatTimeOut"], 15000);
    assert_eq!(host["ipDeleteTimeout"], 30000);
    assert_eq!(host["instanceIdGenerator"], "simple");
}

#[tokio::test]
async fn registration_defaults_are_nacos_defaults() {
    let api = api();
    api.ok("POST", &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}"))
        .await;
    let all = api.registry.get_all_instances(&orders(), &[]);
    let inst = all.iter().next().unwrap();
    assert_eq!(inst.weight(), 1.0);
    assert!(inst.healthy() && inst.enabled() && inst.ephemeral());
    assert_eq!(inst.cluster().as_str(), "DEFAULT");
    assert!(inst.metadata().is_empty());
}

#[tokio::test]
async fn python_style_flags_and_metadata_pairs_are_understood() {
    let api = api();
    api.ok(
        "POST",
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=8080&enable=False\
         &healthy=True&ephemeral=False&metadata=a%3D1%2Cb%3D2&clusterName=None",
    )
    .await;
    let all = api.registry.get_all_instances(&orders(), &[]);
    let inst = all.iter().next().unwrap();
    assert!(!inst.enabled() && !inst.ephemeral() && inst.healthy());
    assert_eq!(inst.metadata().len(), 2);
    // Python's urlencode sends a missing cluster as the text `None`, a valid cluster name, as
    // the Nacos server takes it too.
    assert_eq!(inst.cluster().as_str(), "None");
}

#[tokio::test]
async fn parameters_in_a_form_body_work_like_query_parameters() {
    let api = api();
    let (status, body) = api
        .call_with_body(
            "POST",
            "/nacos/v1/ns/instance",
            Some("serviceName=orders&ip=10.0.0.1&port=8080&weight=3"),
        )
        .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    // The query string wins over the body for the same name.
    let (status, _) = api
        .call_with_body(
            "PUT",
            "/nacos/v1/ns/instance?weight=4",
            Some("serviceName=orders&ip=10.0.0.1&port=8080&weight=5"),
        )
        .await;
    assert_eq!(status, 200);
    let list = api.list("serviceName=orders").await;
    assert_eq!(list["hosts"][0]["weight"], 4.0);
}

#[tokio::test]
async fn a_json_body_is_not_read_as_parameters() {
    let api = api();
    let req = Request::post("/nacos/v1/ns/instance")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"serviceName":"orders"}"#))
        .unwrap();
    let answer = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn grouped_service_names_groups_and_namespaces_are_kept_apart() {
    let api = api();
    api.ok(
        "POST",
        "/nacos/v1/ns/instance?serviceName=shop%40%40orders&ip=10.0.0.1&port=1",
    )
    .await;
    api.ok(
        "POST",
        "/nacos/v1/ns/instance?serviceName=orders&groupName=shop&namespaceId=dev&ip=10.0.0.2&port=1",
    )
    .await;
    let public = api.list("serviceName=orders&groupName=shop").await;
    assert_eq!(hosts(&public), ["10.0.0.1:1"]);
    assert_eq!(public["name"], "shop@@orders");
    let dev = api
        .list("serviceName=shop%40%40orders&namespaceId=dev")
        .await;
    assert_eq!(hosts(&dev), ["10.0.0.2:1"]);
    assert!(hosts(&api.list("serviceName=orders").await).is_empty());
}

#[tokio::test]
async fn the_list_of_an_unknown_service_is_empty_not_an_error() {
    let api = api();
    let list = api.list("serviceName=nobody").await;
    assert_eq!(list["hosts"], Value::Array(vec![]));
    assert_eq!(list["name"], "DEFAULT_GROUP@@nobody");
    assert_eq!(
        list["cacheMillis"], 3_000,
        "no push: clients pull every 3 s"
    );
}

#[tokio::test]
async fn the_list_filters_by_clusters() {
    let api = api();
    for (ip, cluster) in [("10.0.0.1", "a"), ("10.0.0.2", "b"), ("10.0.0.3", "c")] {
        api.ok(
            "POST",
            &format!(
                "/nacos/v1/ns/instance?serviceName=orders&ip={ip}&port=1&clusterName={cluster}"
            ),
        )
        .await;
    }
    let list = api.list("serviceName=orders&clusters=a,c").await;
    assert_eq!(hosts(&list), ["10.0.0.1:1", "10.0.0.3:1"]);
    assert_eq!(list["clusters"], "a,c");
}

#[tokio::test]
async fn healthy_only_hides_unhealthy_instances_until_the_protect_threshold() {
    let api = api();
    for ip in ["10.0.0.1", "10.0.0.2"] {
        api.ok(
            "POST",
            &format!("/nacos/v1/ns/instance?serviceName=orders&ip={ip}&port=1"),
        )
        .await;
    }
    api.clock.advance(Duration::from_secs(10));
    let beat = api
        .json(
            "PUT",
            "/nacos/v1/ns/instance/beat?serviceName=orders&ip=10.0.0.1&port=1",
        )
        .await;
    assert_eq!(beat["code"], 10200);
    api.clock.advance(Duration::from_secs(6));
    api.registry.check_health();

    let all = api.list("serviceName=orders").await;
    assert_eq!(hosts(&all).len(), 2, "without healthyOnly both are listed");
    assert_eq!(all["hosts"][1]["healthy"], false);
    let healthy = api.list("serviceName=orders&healthyOnly=true").await;
    assert_eq!(hosts(&healthy), ["10.0.0.1:1"]);
    assert_eq!(healthy["reachProtectionThreshold"], false);

    // A threshold of 0.6: one healthy of two (0.5) is at or below it, so all are listed.
    api.ok(
        "PUT",
        "/nacos/v1/ns/service?serviceName=orders&protectThreshold=0.6",
    )
    .await;
    // As Nacos, the protected instances are reported healthy, on every list.
    for query in ["serviceName=orders&healthyOnly=true", "serviceName=orders"] {
        let protected = api.list(query).await;
        assert_eq!(hosts(&protected).len(), 2, "{query}");
        assert_eq!(protected["reachProtectionThreshold"], true, "{query}");
        assert_eq!(protected["hosts"][1]["healthy"], true, "{query}");
    }
}

#[tokio::test]
async fn disabled_instances_are_not_listed() {
    let api = api();
    api.ok(
        "POST",
        &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&enabled=false"),
    )
    .await;
    api.ok(
        "POST",
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.2&port=8080&weight=0",
    )
    .await;
    // Weight 0 is listed (the client filters it when selecting); disabled is not.
    assert_eq!(
        hosts(&api.list("serviceName=orders").await),
        ["10.0.0.2:8080"]
    );
}

#[tokio::test]
async fn instance_detail_has_nacos_shape_and_unknown_ones_are_404() {
    let api = api();
    api.ok(
        "POST",
        &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&clusterName=hz&metadata=k%3Dv"),
    )
    .await;
    let detail = api
        .json(
            "GET",
            &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&cluster=hz"),
        )
        .await;
    assert_eq!(detail["service"], "DEFAULT_GROUP@@orders");
    assert_eq!(detail["ip"], "10.0.0.1");
    assert_eq!(detail["port"], 8080);
    assert_eq!(detail["clusterName"], "hz");
    assert_eq!(detail["weight"], 1.0);
    assert_eq!(detail["healthy"], true);
    assert_eq!(
        detail["instanceId"],
        "10.0.0.1#8080#hz#DEFAULT_GROUP@@orders"
    );
    assert_eq!(detail["metadata"]["k"], "v");

    // Same ip and port, other cluster: not found.
    let (status, body) = api
        .call("GET", &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}"))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = api
        .call(
            "GET",
            "/nacos/v1/ns/instance?serviceName=nobody&ip=10.0.0.1&port=1",
        )
        .await;
    assert_eq!(status, 404);
    assert!(body.contains("nobody"), "{body}");
}

#[tokio::test]
async fn deregister_answers_ok_even_for_an_unknown_instance() {
    let api = api();
    api.ok("POST", &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}"))
        .await;
    assert_eq!(
        api.ok(
            "DELETE",
            &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}")
        )
        .await,
        "ok"
    );
    assert!(api.registry.get_all_instances(&orders(), &[]).is_empty());
    assert_eq!(
        api.ok(
            "DELETE",
            &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}")
        )
        .await,
        "ok"
    );
    assert_eq!(
        api.ok(
            "DELETE",
            "/nacos/v1/ns/instance?serviceName=nobody&ip=10.0.0.1&port=1"
        )
        .await,
        "ok"
    );
}

#[tokio::test]
async fn put_and_delete_without_a_cluster_reach_the_instance_by_ip_and_port() {
    let api = api();
    // nacos-sdk-python registers with `clusterName=None` (the text), then updates and
    // deregisters without a cluster: Nacos 2.x finds the instance by ip:port.
    let base = "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=8080";
    assert_eq!(
        api.ok("POST", &format!("{base}&clusterName=None")).await,
        "ok"
    );
    assert_eq!(api.ok("PUT", &format!("{base}&weight=3")).await, "ok");
    let all = api.registry.get_all_instances(&orders(), &[]);
    let only = all.iter().next().unwrap();
    assert_eq!((only.cluster().as_str(), only.weight()), ("None", 3.0));
    // With two instances on that ip:port in different clusters, a bare DELETE cannot tell
    // them apart and removes neither.
    assert_eq!(
        api.ok("POST", &format!("{base}&clusterName=hz")).await,
        "ok"
    );
    assert_eq!(api.ok("DELETE", base).await, "ok");
    assert_eq!(api.registry.get_all_instances(&orders(), &[]).len(), 2);
    assert_eq!(
        api.ok("DELETE", &format!("{base}&clusterName=hz")).await,
        "ok"
    );
    // One left: a bare DELETE reaches it.
    assert_eq!(api.ok("DELETE", base).await, "ok");
    assert!(api.registry.get_all_instances(&orders(), &[]).is_empty());
}

#[tokio::test]
async fn the_app_parameter_is_accepted_and_stored_nowhere_as_in_nacos_2() {
    let api = api();
    // Nacos 2.x keeps no `app` in the instance (the `app` header goes into its client's
    // attributes, the list's `app` into a UDP subscriber's record); nacre keeps none either.
    api.ok(
        "POST",
        &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&app=shop-web&metadata=k%3Dv"),
    )
    .await;
    let list = api.list("serviceName=orders&app=shop-web").await;
    assert_eq!(hosts(&list), ["10.0.0.1:8080"]);
    assert_eq!(list["hosts"][0]["metadata"], serde_json::json!({"k": "v"}));
    assert!(list["hosts"][0].get("app").is_none());
    let detail = api
        .json(
            "GET",
            &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&app=x"),
        )
        .await;
    assert_eq!(detail["metadata"], serde_json::json!({"k": "v"}));
}

/// A browser page on another site cannot register through a visitor's browser: a form POST
/// carrying a foreign `Origin` (or `Sec-Fetch-Site: cross-site`) is refused with 403 and
/// nothing is stored; the same request from the server's own origin, or from a Nacos client
/// (no `Origin`), registers.
#[tokio::test]
async fn a_cross_site_form_post_registers_nothing() {
    let api = api();
    let post = |headers: &[(&str, &str)], ip: &str| {
        let mut req = Request::post("/nacos/v1/ns/instance")
            .header("host", "127.0.0.1:8848")
            .header("content-type", "application/x-www-form-urlencoded");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(Body::from(format!("serviceName=orders&ip={ip}&port=8080")))
            .unwrap()
    };
    for (headers, ip) in [
        (vec![("origin", "http://evil.example")], "10.0.0.1"),
        (vec![("sec-fetch-site", "cross-site")], "10.0.0.2"),
        (vec![("origin", "null")], "10.0.0.3"),
    ] {
        let answer = api.app.clone().oneshot(post(&headers, ip)).await.unwrap();
        assert_eq!(answer.status(), 403, "{headers:?}");
    }
    assert!(api.registry.get_all_instances(&orders(), &[]).is_empty());
    for (headers, ip) in [
        (vec![("origin", "http://127.0.0.1:8848")], "10.0.0.4"),
        (vec![], "10.0.0.5"),
    ] {
        let answer = api.app.clone().oneshot(post(&headers, ip)).await.unwrap();
        assert_eq!(answer.status(), 200, "{headers:?}");
    }
    assert_eq!(api.registry.get_all_instances(&orders(), &[]).len(), 2);
}

//! The HTTP front (feature `http`): the Nacos v1 endpoints through the router, a three-node
//! cluster over real loopback HTTP, and `NamingClient` over `HttpClientTransport`.
#![cfg(feature = "http")]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use nacre::client::NamingClient;
use nacre::cluster::{ClusterNode, DistroConfig, NodeId};
use nacre::http::{HttpClientTransport, HttpTransport, NacosApi};
use nacre::model::DEFAULT_GROUP;
use nacre::{ClientTransport, HealthConfig, Instance, ManualClock, Registry, ServiceKey};
use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

// ----- helpers -----

struct Api {
    app: Router,
    registry: Registry,
    clock: ManualClock,
}

fn api() -> Api {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    Api {
        app: NacosApi::new(registry.clone()).router(),
        registry,
        clock,
    }
}

impl Api {
    /// Sends `method uri` with `form` as an urlencoded body (if any); returns status and body.
    async fn call_with_body(&self, method: &str, uri: &str, form: Option<&str>) -> (u16, String) {
        let mut req = Request::builder().method(method).uri(uri);
        if form.is_some() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        let req = req.body(Body::from(form.unwrap_or("").to_owned())).unwrap();
        let answer = self.app.clone().oneshot(req).await.unwrap();
        let status = answer.status().as_u16();
        let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn call(&self, method: &str, uri: &str) -> (u16, String) {
        self.call_with_body(method, uri, None).await
    }

    async fn ok(&self, method: &str, uri: &str) -> String {
        let (status, body) = self.call(method, uri).await;
        assert_eq!(status, 200, "{method} {uri}: {body}");
        body
    }

    async fn json(&self, method: &str, uri: &str) -> Value {
        let body = self.ok(method, uri).await;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{uri}: `{body}`: {e}"))
    }

    async fn list(&self, query: &str) -> Value {
        self.json("GET", &format!("/nacos/v1/ns/instance/list?{query}"))
            .await
    }
}

const ORDERS_10_0_0_1: &str = "serviceName=orders&ip=10.0.0.1&port=8080";

fn hosts(list: &Value) -> Vec<String> {
    list["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| format!("{}:{}", h["ip"].as_str().unwrap(), h["port"]))
        .collect()
}

fn orders() -> ServiceKey {
    ServiceKey::named("orders").unwrap()
}

/// Polls `cond` every 50 ms until it holds, failing after `deadline`.
async fn eventually<F, Fut>(what: &str, deadline: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ----- instance endpoints -----

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
    assert_eq!(list["cacheMillis"], 10_000);
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
    assert_eq!(list["cacheMillis"], 10_000);
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
    let protected = api.list("serviceName=orders&healthyOnly=true").await;
    assert_eq!(hosts(&protected).len(), 2);
    assert_eq!(protected["reachProtectionThreshold"], true);
    assert_eq!(protected["hosts"][1]["healthy"], false);
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
async fn update_changes_only_the_fields_it_is_given() {
    let api = api();
    api.ok(
        "POST",
        &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&weight=2&metadata=a%3D1"),
    )
    .await;
    api.ok(
        "PUT",
        &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}&enabled=false"),
    )
    .await;
    let all = api.registry.get_all_instances(&orders(), &[]);
    let inst = all.iter().next().unwrap();
    assert!(!inst.enabled());
    assert_eq!(inst.weight(), 2.0);
    assert_eq!(inst.metadata().get("a").map(String::as_str), Some("1"));

    let (status, body) = api
        .call(
            "PUT",
            "/nacos/v1/ns/instance?serviceName=orders&ip=10.9.9.9&port=1&weight=3",
        )
        .await;
    assert_eq!(status, 400, "updating an unknown instance: {body}");
    assert!(body.contains("10.9.9.9"), "{body}");
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

// ----- beats -----

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

// ----- service endpoints -----

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

// ----- bad parameters -----

#[tokio::test]
async fn every_bad_parameter_answers_400_naming_it() {
    let api = api();
    api.ok("POST", &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}"))
        .await;
    let inst = "/nacos/v1/ns/instance";
    let beat = "/nacos/v1/ns/instance/beat";
    let list = "/nacos/v1/ns/instance/list";
    let svc = "/nacos/v1/ns/service";
    let svcs = "/nacos/v1/ns/service/list";
    let base = ORDERS_10_0_0_1;
    let big = "x".repeat(5000);
    let cases: Vec<(&str, &str, String, &str)> = vec![
        ("POST", inst, String::new(), "serviceName"),
        ("POST", inst, "serviceName=a%40%40&ip=10.0.0.1&port=1".into(), "serviceName"),
        ("POST", inst, "serviceName=%40%40b&ip=10.0.0.1&port=1".into(), "serviceName"),
        ("POST", inst, "serviceName=a%20b&ip=10.0.0.1&port=1".into(), "serviceName"),
        ("POST", inst, format!("{base}&namespaceId=a%2Fb"), "namespaceId"),
        ("POST", inst, format!("{base}&groupName=%40g"), "groupName"),
        ("POST", inst, "serviceName=orders&port=1".into(), "ip"),
        ("POST", inst, "serviceName=orders&ip=not%20a%20host&port=1".into(), "ip"),
        ("POST", inst, "serviceName=orders&ip=300.1.1.1&port=1".into(), "ip"),
        ("POST", inst, "serviceName=orders&ip=10.0.0.1".into(), "port"),
        ("POST", inst, "serviceName=orders&ip=10.0.0.1&port=http".into(), "port"),
        ("POST", inst, "serviceName=orders&ip=10.0.0.1&port=0".into(), "port"),
        ("POST", inst, "serviceName=orders&ip=10.0.0.1&port=70000".into(), "port"),
        ("POST", inst, format!("{base}&weight=abc"), "weight"),
        ("POST", inst, format!("{base}&weight=-1"), "weight"),
        ("POST", inst, format!("{base}&weight=1e9"), "weight"),
        ("POST", inst, format!("{base}&weight=NaN"), "weight"),
        ("POST", inst, format!("{base}&healthy=maybe"), "healthy"),
        ("POST", inst, format!("{base}&enabled=maybe"), "enabled"),
        ("POST", inst, format!("{base}&enable=maybe"), "enable"),
        ("POST", inst, format!("{base}&ephemeral=maybe"), "ephemeral"),
        ("POST", inst, format!("{base}&clusterName=a%2Cb"), "clusterName"),
        ("POST", inst, format!("{base}&cluster=a%23b"), "cluster"),
        ("POST", inst, format!("{base}&metadata=nope"), "metadata"),
        ("POST", inst, format!("{base}&metadata=%7B%22a%22%3A%7B%7D%7D"), "metadata"),
        ("POST", inst, format!("{base}&metadata=%7Bbroken"), "metadata"),
        ("POST", inst, format!("{base}&metadata=preserved.heart.beat.timeout%3Dsoon"), "metadata"),
        ("POST", inst, format!("{base}&metadata=k%3D{big}"), "metadata"),
        ("DELETE", inst, "serviceName=orders&port=1".into(), "ip"),
        ("DELETE", inst, "serviceName=orders&ip=10.0.0.1&port=-5".into(), "port"),
        ("DELETE", inst, "ip=10.0.0.1&port=1".into(), "serviceName"),
        ("PUT", inst, format!("{base}&weight=heavy"), "weight"),
        ("PUT", inst, format!("{base}&weight=10001"), "weight"),
        ("PUT", inst, format!("{base}&enabled=sometimes"), "enabled"),
        ("PUT", inst, format!("{base}&metadata=%3D"), "metadata"),
        ("PUT", inst, "serviceName=orders&ip=10.0.0.1".into(), "port"),
        ("GET", inst, "serviceName=orders&port=1".into(), "ip"),
        ("GET", inst, "serviceName=orders&ip=10.0.0.1&port=x".into(), "port"),
        ("GET", inst, format!("{base}&clusterName=%20a%20b"), "clusterName"),
        ("PUT", beat, "ip=10.0.0.1&port=1".into(), "serviceName"),
        ("PUT", beat, "serviceName=orders".into(), "ip"),
        ("PUT", beat, "serviceName=orders&ip=10.0.0.1".into(), "port"),
        ("PUT", beat, "serviceName=orders&beat=notjson".into(), "beat"),
        ("PUT", beat, "serviceName=orders&beat=%7B%22ip%22%3A%2210.0.0.1%22%7D".into(), "beat"),
        ("PUT", beat, "serviceName=orders&beat=%7B%22ip%22%3A%2210.0.0.1%22%2C%22port%22%3A0%7D".into(), "beat"),
        ("PUT", beat, "serviceName=orders&beat=%7B%22ip%22%3A%22a%20b%22%2C%22port%22%3A1%7D".into(), "beat"),
        ("PUT", beat, "serviceName=orders&beat=%7B%22ip%22%3A%2210.0.0.1%22%2C%22port%22%3A1%2C%22weight%22%3A-2%7D".into(), "beat"),
        ("PUT", beat, "serviceName=orders&beat=%7B%22ip%22%3A%2210.0.0.1%22%2C%22port%22%3A1%2C%22metadata%22%3A%7B%22a%22%3A%5B%5D%7D%7D".into(), "beat"),
        ("PUT", beat, "serviceName=orders&beat=%7B%22ip%22%3A%2210.0.0.1%22%2C%22port%22%3A1%2C%22cluster%22%3A%22a%2Cb%22%7D".into(), "beat"),
        ("GET", list, String::new(), "serviceName"),
        ("GET", list, "serviceName=orders&healthyOnly=maybe".into(), "healthyOnly"),
        ("GET", list, "serviceName=orders&clusters=a%20b".into(), "clusters"),
        ("GET", list, "serviceName=orders&namespaceId=a%23b".into(), "namespaceId"),
        ("POST", svc, String::new(), "serviceName"),
        ("POST", svc, "serviceName=s&protectThreshold=abc".into(), "protectThreshold"),
        ("POST", svc, "serviceName=s&protectThreshold=2".into(), "protectThreshold"),
        ("POST", svc, "serviceName=s&protectThreshold=-0.1".into(), "protectThreshold"),
        ("POST", svc, "serviceName=s&metadata=bad".into(), "metadata"),
        ("POST", svc, "serviceName=s&selector=%7B%22type%22%3A%22label%22%7D".into(), "selector"),
        ("POST", svc, "serviceName=s&selector=garbage".into(), "selector"),
        ("PUT", svc, "serviceName=orders".into(), "protectThreshold"),
        ("PUT", svc, "serviceName=orders&protectThreshold=x".into(), "protectThreshold"),
        ("DELETE", svc, String::new(), "serviceName"),
        ("GET", svc, "serviceName=a%40%40b%40%40c".into(), "serviceName"),
        ("GET", svcs, "pageSize=10".into(), "pageNo"),
        ("GET", svcs, "pageNo=1".into(), "pageSize"),
        ("GET", svcs, "pageNo=0&pageSize=10".into(), "pageNo"),
        ("GET", svcs, "pageNo=x&pageSize=10".into(), "pageNo"),
        ("GET", svcs, "pageNo=1&pageSize=-1".into(), "pageSize"),
        ("GET", svcs, "pageNo=1&pageSize=10&groupName=a%20b".into(), "groupName"),
    ];
    for (method, path, query, param) in &cases {
        let uri = format!("{path}?{query}");
        let (status, body) = api.call(method, &uri).await;
        assert_eq!(status, 400, "{method} {uri} answered {status}: {body}");
        assert!(
            body.contains(param),
            "{method} {uri}: the message `{body}` should name `{param}`"
        );
    }
    // Nothing was stored by any of them.
    assert_eq!(api.registry.get_all_instances(&orders(), &[]).len(), 1);
}

#[tokio::test]
async fn garbage_requests_never_answer_500() {
    let api = api();
    api.ok("POST", &format!("/nacos/v1/ns/instance?{ORDERS_10_0_0_1}"))
        .await;
    let endpoints = [
        ("POST", "/nacos/v1/ns/instance"),
        ("DELETE", "/nacos/v1/ns/instance"),
        ("PUT", "/nacos/v1/ns/instance"),
        ("GET", "/nacos/v1/ns/instance"),
        ("PUT", "/nacos/v1/ns/instance/beat"),
        ("GET", "/nacos/v1/ns/instance/list"),
        ("POST", "/nacos/v1/ns/service"),
        ("PUT", "/nacos/v1/ns/service"),
        ("DELETE", "/nacos/v1/ns/service"),
        ("GET", "/nacos/v1/ns/service"),
        ("GET", "/nacos/v1/ns/service/list"),
    ];
    let names = [
        "serviceName",
        "groupName",
        "namespaceId",
        "ip",
        "port",
        "weight",
        "healthy",
        "enabled",
        "enable",
        "ephemeral",
        "clusterName",
        "cluster",
        "clusters",
        "metadata",
        "beat",
        "healthyOnly",
        "protectThreshold",
        "selector",
        "pageNo",
        "pageSize",
    ];
    let values = [
        "orders",
        "DEFAULT_GROUP%40%40orders",
        "10.0.0.1",
        "8080",
        "1",
        "0",
        "-1",
        "true",
        "False",
        "",
        "%20",
        "%00",
        "%FF%FE",
        "%40%40",
        "a%40%40b%40%40c",
        "%7B%7D",
        "%7B%22ip%22%3A%2210.0.0.1%22%2C%22port%22%3A8080%7D",
        "%5B1%2C2%5D",
        "null",
        "1e400",
        "NaN",
        "18446744073709551616",
        "a%3Db",
        "%E2%9C%93",
        "hz",
        "a%2Cb",
    ];
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..300 {
        for (method, path) in endpoints {
            let n = rng.usize(0..6);
            let query: Vec<String> = (0..n)
                .map(|_| {
                    format!(
                        "{}={}",
                        names[rng.usize(..names.len())],
                        values[rng.usize(..values.len())]
                    )
                })
                .collect();
            let uri = format!("{path}?{}", query.join("&"));
            let (status, body) = api.call(method, &uri).await;
            assert!(
                matches!(status, 200 | 400 | 404),
                "round {round}: {method} {uri} answered {status}: {body}"
            );
            if status != 200 {
                assert!(!body.is_empty(), "{method} {uri}: an error needs a message");
            }
        }
    }
}

#[tokio::test]
async fn unknown_routes_answer_404_and_wrong_methods_405() {
    let api = api();
    assert_eq!(api.call("GET", "/nacos/v1/ns/nothing").await.0, 404);
    assert_eq!(api.call("PATCH", "/nacos/v1/ns/instance/list").await.0, 405);
    // A standalone node has no peer route.
    assert_eq!(api.call("POST", "/nacre/v1/peer").await.0, 404);
}

// ----- a cluster over loopback HTTP -----

fn fast_distro() -> DistroConfig {
    DistroConfig {
        sync_delay: Duration::from_millis(50),
        retry_delay: Duration::from_millis(200),
        verify_interval: Duration::from_millis(500),
        ping_interval: Duration::from_millis(100),
        // Generous, so a busy machine does not make peers flap.
        peer_down_after: Duration::from_secs(5),
        request_timeout: Duration::from_secs(3),
        ..DistroConfig::default()
    }
}

struct Member {
    node: ClusterNode,
    addr: SocketAddr,
}

/// `n` cluster nodes on loopback, each serving the Nacos API and the peer route; returns once
/// every node serves.
async fn loopback_cluster(n: usize) -> Vec<Member> {
    let mut listeners = Vec::new();
    for _ in 0..n {
        listeners.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let ids: Vec<NodeId> = listeners
        .iter()
        .map(|l| NodeId::new(&l.local_addr().unwrap().to_string()).unwrap())
        .collect();
    let mut members = Vec::new();
    for (listener, id) in listeners.into_iter().zip(&ids) {
        let transport = Arc::new(HttpTransport::new(id.clone()));
        let node = ClusterNode::builder(id.clone(), ids.clone(), transport)
            .config(fast_distro())
            .build();
        let addr = listener.local_addr().unwrap();
        let app = NacosApi::new(node.clone()).router();
        tokio::spawn(async move { axum::serve(listener, app).await });
        node.start();
        members.push(Member { node, addr });
    }
    for m in &members {
        let node = m.node.clone();
        eventually("every node to serve", Duration::from_secs(30), || {
            let node = node.clone();
            async move { node.is_ready() }
        })
        .await;
    }
    members
}

async fn http_json(client: &reqwest::Client, method: reqwest::Method, url: String) -> Value {
    let answer = client.request(method, &url).send().await.unwrap();
    let status = answer.status();
    let body = answer.text().await.unwrap();
    assert!(status.is_success(), "{url}: {status}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::String(body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_http_replicate_registrations_and_forward_beats() {
    let members = loopback_cluster(3).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // Several services, so some are owned by the node written to and some are forwarded.
    let services: Vec<String> = (0..6).map(|i| format!("svc-{i}")).collect();
    for (i, svc) in services.iter().enumerate() {
        let via = &members[i % 3];
        let url = format!(
            "http://{}/nacos/v1/ns/instance?serviceName={svc}&ip=10.0.0.{i}&port=8080",
            via.addr
        );
        assert_eq!(
            http_json(&http, reqwest::Method::POST, url).await,
            Value::String("ok".into())
        );
    }
    for m in &members {
        for (i, svc) in services.iter().enumerate() {
            let url = format!(
                "http://{}/nacos/v1/ns/instance/list?serviceName={svc}",
                m.addr
            );
            let http = http.clone();
            let want = format!("10.0.0.{i}:8080");
            eventually(
                &format!("{svc} on {}", m.addr),
                Duration::from_secs(30),
                || {
                    let (http, url, want) = (http.clone(), url.clone(), want.clone());
                    async move {
                        hosts(&http_json(&http, reqwest::Method::GET, url).await) == [want]
                    }
                },
            )
            .await;
        }
    }
    // Beats through any node reach the responsible one.
    for (i, m) in members.iter().enumerate() {
        let url = format!(
            "http://{}/nacos/v1/ns/instance/beat?serviceName=svc-0&ip=10.0.0.0&port=8080",
            m.addr
        );
        let answer = http_json(&http, reqwest::Method::PUT, url).await;
        assert_eq!(answer["code"], 10200, "beat via node {i}");
        let url = format!(
            "http://{}/nacos/v1/ns/instance/beat?serviceName=svc-0&ip=10.9.9.9&port=1",
            m.addr
        );
        let answer = http_json(&http, reqwest::Method::PUT, url).await;
        assert_eq!(answer["code"], 20404, "unknown instance via node {i}");
    }
    // The peer route refuses what is not an envelope.
    let answer = http
        .post(format!("http://{}/nacre/v1/peer", members[0].addr))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    for m in &members {
        m.node.stop();
    }
}

// ----- NamingClient over HTTP -----

/// A standalone registry on the system clock, telling clients to beat every 200 ms, served
/// on a loopback port.
async fn served_registry() -> (Registry, SocketAddr) {
    let registry = Registry::builder()
        .health(HealthConfig {
            beat_interval: Duration::from_millis(200),
            ..HealthConfig::default()
        })
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = NacosApi::new(registry.clone()).router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (registry, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_client_over_http_registers_beats_discovers_and_re_registers() {
    let (registry, addr) = served_registry().await;
    let transport = HttpClientTransport::new([addr.to_string()]).unwrap();
    let client = NamingClient::builder(transport.clone())
        .beat_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let inst = Instance::builder("10.0.0.1", 8080)
        .metadata("version", "2")
        .build()
        .unwrap();
    client
        .register_instance("orders", DEFAULT_GROUP, inst.clone())
        .await
        .unwrap();
    assert_eq!(registry.get_all_instances(&orders(), &[]).len(), 1);

    // Beats follow the server's 200 ms interval, and turn light after the first answer.
    let beats = client
        .wait_until(|s| s.beats_sent >= 3, Duration::from_secs(20))
        .await
        .expect("three beats within 20 s");
    assert_eq!(beats.beat_failures, 0);
    assert!(transport.light_beats());

    let picked = client
        .select_one_healthy_instance("orders", DEFAULT_GROUP, &[], false)
        .await
        .unwrap();
    assert_eq!(picked, inst);
    let page = client.get_service_list(1, 10, DEFAULT_GROUP).await.unwrap();
    assert_eq!(page.count, 1);
    assert_eq!(page.services[0].as_str(), "orders");

    // The server forgets the instance: the next light beat answers 20404 and the client
    // registers it again.
    assert!(registry.deregister_instance(&orders(), &inst.key()));
    client
        .wait_until(|s| s.redos >= 1, Duration::from_secs(20))
        .await
        .expect("a redo within 20 s");
    let registry2 = registry.clone();
    eventually("the instance to be back", Duration::from_secs(20), || {
        let r = registry2.clone();
        async move { r.get_all_instances(&orders(), &[]).len() == 1 }
    })
    .await;
    assert!(client.stats().beats_not_found >= 1);

    client
        .deregister_instance("orders", DEFAULT_GROUP, &inst)
        .await
        .unwrap();
    assert!(registry.get_all_instances(&orders(), &[]).is_empty());
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_transport_moves_on_to_the_next_server_and_reports_refusals() {
    let (registry, addr) = served_registry().await;
    // Port 1 on loopback refuses connections.
    let transport =
        HttpClientTransport::new(["127.0.0.1:1".to_owned(), format!("http://{addr}/")]).unwrap();
    let inst = Instance::new("10.0.0.1", 8080).unwrap();
    transport.register_instance(&orders(), &inst).await.unwrap();
    assert_eq!(transport.active_server(), 1);
    assert_eq!(registry.get_all_instances(&orders(), &[]).len(), 1);

    let refused = transport
        .list_services(&nacre::client::ServiceListQuery {
            namespace: Default::default(),
            group: Default::default(),
            page_no: 0,
            page_size: 10,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            nacre::client::TransportError::Server { code: 400, .. }
        ),
        "{refused:?}"
    );

    let nobody = HttpClientTransport::new(["127.0.0.1:1"]).unwrap();
    let err = nobody
        .register_instance(&orders(), &inst)
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(HttpClientTransport::new(Vec::<String>::new()).is_err());
    assert!(HttpClientTransport::new(["http://"]).is_err());
}

// ----- the server behind nacre-server -----

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

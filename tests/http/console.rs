//! The web console's API (feature `console`) through its router, on a manual clock: the
//! views, why an instance is unhealthy, the edits, bad input, and the event stream.
#![cfg(feature = "console")]

use crate::common::registry_on;
use axum::body::Body;
use axum::http::Request;
use nacre::console::Console;
use nacre::{Instance, InstanceKey, ManualClock, ServiceKey};
use serde_json::{json, Value};
use std::time::Duration;
use tower::ServiceExt;

/// `method uri` (with a JSON `body`) through the console's `app`: status and body.
pub(crate) async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let answer = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = answer.status().as_u16();
    let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn json_of(app: &axum::Router, uri: &str) -> Value {
    let (status, body) = call(app, "GET", uri, None).await;
    assert_eq!(status, 200, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

const ORDERS: &str = "/console/api/instances?namespace=public&group=DEFAULT_GROUP&service=orders";

#[tokio::test]
async fn the_console_lists_explains_and_edits() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let app = Console::new(registry.clone()).router();
    let orders = ServiceKey::named("orders").unwrap();
    let staging = ServiceKey::new("staging", "DEFAULT_GROUP", "orders").unwrap();
    for ip in ["10.0.0.1", "10.0.0.2"] {
        let instance = Instance::builder(ip, 8080)
            .metadata("zone", "eu-1")
            .build()
            .unwrap();
        registry.register_instance(&orders, instance).unwrap();
    }
    registry
        .register_instance(&staging, Instance::new("10.0.9.9", 80).unwrap())
        .unwrap();

    let (status, page) = call(&app, "GET", "/console/", None).await;
    assert_eq!(status, 200);
    // Nacos' console addresses lead here.
    for (from, to) in [
        ("/nacos", "console/"),
        ("/nacos/", "../console/"),
        ("/nacos/index.html", "../console/"),
    ] {
        let answer = app
            .clone()
            .oneshot(Request::builder().uri(from).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 308, "{from}");
        assert_eq!(answer.headers()["location"], to, "{from}");
    }
    assert!(page.contains("console.js") && !page.contains("http://") && !page.contains("https://"));
    let (status, _) = call(&app, "GET", "/console/console.js", None).await;
    assert_eq!(status, 200);

    let namespaces = json_of(&app, "/console/api/namespaces").await;
    assert_eq!(
        namespaces,
        json!([
            {"namespace": "public", "name": "public", "services": 1, "instances": 2, "healthy": 2},
            {"namespace": "staging", "name": "staging", "services": 1, "instances": 1, "healthy": 1},
        ])
    );
    let services = json_of(&app, "/console/api/services?namespace=public").await;
    assert_eq!(
        services,
        json!([{"group": "DEFAULT_GROUP", "name": "orders", "instances": 2, "healthy": 2, "protectThreshold": 0.0}])
    );

    // 17 s without a beat from 10.0.0.2: unhealthy, and the console says why.
    let first = InstanceKey::in_default_cluster("10.0.0.1", 8080).unwrap();
    for _ in 0..17 {
        clock.advance(Duration::from_secs(1));
        registry.heartbeat(&orders, &first).unwrap();
        registry.check_health();
    }
    let answer = json_of(&app, ORDERS).await;
    let rows = answer["instances"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["ip"], "10.0.0.1");
    assert_eq!(rows[0]["healthy"], true);
    assert_eq!(rows[0]["why"], Value::Null);
    assert_eq!(rows[0]["lastBeatMsAgo"], 0);
    assert_eq!(rows[0]["metadata"]["zone"], "eu-1");
    assert_eq!(rows[1]["healthy"], false);
    assert_eq!(rows[1]["why"], "no beat for 17 s; the limit is 15 s");
    assert_eq!(rows[1]["lastBeatMsAgo"], 17_000);
    assert_eq!(rows[1]["unhealthyAfterMs"], 15_000);
    assert_eq!(rows[1]["removeAfterMs"], 30_000);

    // Edits: weight and enabled, then deregister.
    let target = json!({"namespace": "public", "group": "DEFAULT_GROUP", "service": "orders",
        "cluster": "DEFAULT", "ip": "10.0.0.1", "port": 8080});
    let mut edit = target.clone();
    edit["weight"] = json!(3.5);
    edit["enabled"] = json!(false);
    let (status, body) = call(&app, "PATCH", "/console/api/instance", Some(edit)).await;
    assert_eq!(status, 200, "{body}");
    let stored = registry.get_all_instances(&orders, &[]);
    let one = stored
        .iter()
        .find(|i| i.ip().to_string() == "10.0.0.1")
        .unwrap();
    assert_eq!((one.weight(), one.enabled()), (3.5, false));
    let remove = "/console/api/instance?namespace=public&group=DEFAULT_GROUP&service=orders&cluster=DEFAULT&ip=10.0.0.2&port=8080";
    let (status, body) = call(&app, "DELETE", remove, None).await;
    assert_eq!((status, body.as_str()), (200, "true"));
    assert_eq!(registry.get_all_instances(&orders, &[]).len(), 1);
    let (_, again) = call(&app, "DELETE", remove, None).await;
    assert_eq!(again, "false", "an unknown instance is not an error");

    // Bad input: 4xx with what was wrong.
    let (status, body) = call(
        &app,
        "GET",
        "/console/api/instances?namespace=public&group=DEFAULT_GROUP&service=a@@b",
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("`a@@b`"), "{body}");
    let (status, body) = call(
        &app,
        "GET",
        "/console/api/instances?namespace=public&group=DEFAULT_GROUP&service=nothing",
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert!(body.contains("nothing"), "{body}");
    let mut heavy = target.clone();
    heavy["weight"] = json!(-1.0);
    let (status, body) = call(&app, "PATCH", "/console/api/instance", Some(heavy)).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = call(
        &app,
        "PATCH",
        "/console/api/instance",
        Some(json!({"ip": "10.0.0.1"})),
    )
    .await;
    assert!((400..500).contains(&status), "{status}");
    let (status, _) = call(&app, "GET", "/console/api/services", None).await;
    assert!((400..500).contains(&status), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_says_hello_then_names_each_changed_service() {
    let registry = nacre::Registry::default();
    let app = Console::new(registry.clone()).router();
    let req = Request::get("/console/api/events")
        .body(Body::empty())
        .unwrap();
    let answer = app.oneshot(req).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/event-stream");
    let mut body = answer.into_body();
    let mut seen = String::new();
    read_until(&mut body, &mut seen, "hello", |s| {
        s.contains("event: hello")
    })
    .await;
    let orders = ServiceKey::named("orders").unwrap();
    registry
        .register_instance(&orders, Instance::new("10.0.0.1", 8080).unwrap())
        .unwrap();
    read_until(&mut body, &mut seen, "a change", |s| {
        s.contains("event: change") && s.contains("\"service\":\"orders\"")
    })
    .await;
    assert!(
        seen.contains(
            r#""namespace":"public","group":"DEFAULT_GROUP","service":"orders","revision":1"#
        ),
        "{seen}"
    );
}

/// A list is made at most once a second however many ask (before, each request walked every
/// service and instance), and never misses a change made before the request.
#[tokio::test]
async fn lists_are_made_at_most_once_a_second_and_show_every_change_before_the_request() {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    let app = Console::new(registry.clone()).router();
    registry
        .register_instance(
            &ServiceKey::named("a").unwrap(),
            Instance::new("10.0.0.1", 80).unwrap(),
        )
        .unwrap();
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let uri = "/console/api/services?namespace=public";
    assert_eq!(names(&json_of(&app, uri).await), ["a"]);
    let first = std::time::Instant::now();
    // No change since: answered from the list made.
    for _ in 0..100 {
        assert_eq!(names(&json_of(&app, uri).await), ["a"]);
    }
    registry
        .register_instance(
            &ServiceKey::named("b").unwrap(),
            Instance::new("10.0.0.1", 80).unwrap(),
        )
        .unwrap();
    // A change: the next answer has it, made no sooner than a second after the last list.
    assert_eq!(names(&json_of(&app, uri).await), ["a", "b"]);
    assert!(
        first.elapsed() >= Duration::from_millis(900),
        "{:?}",
        first.elapsed()
    );
    let namespaces = json_of(&app, "/console/api/namespaces").await;
    assert_eq!(namespaces[0]["services"], 2);
    // A namespace with no services is answered empty and kept nowhere.
    assert_eq!(
        json_of(&app, "/console/api/services?namespace=nowhere").await,
        json!([])
    );
}

/// Reads the event stream `body` into `seen` until `enough` holds of what was read (at most
/// 30 s a frame).
pub(super) async fn read_until(
    body: &mut Body,
    seen: &mut String,
    what: &str,
    enough: impl Fn(&str) -> bool,
) {
    use http_body_util::BodyExt;
    while !enough(seen) {
        let frame = tokio::time::timeout(Duration::from_secs(30), body.frame())
            .await
            .unwrap_or_else(|_| panic!("{what} in time; seen: {seen}"))
            .expect("the stream goes on")
            .unwrap();
        if let Some(data) = frame.data_ref() {
            seen.push_str(&String::from_utf8_lossy(data));
        }
    }
}

/// With a control plane: created namespaces by name, the page's edits kept as overrides and
/// marked, and each cluster's health check shown and set; bad settings refused with the reason.
#[cfg(feature = "control")]
#[tokio::test]
async fn with_a_control_plane_the_console_names_namespaces_marks_overrides_and_sets_checks() {
    use super::namespaces::{control, Dir};
    let dir = Dir::new("console-control");
    let control = control(&dir).await;
    let registry = nacre::Registry::default();
    let app = Console::new(registry.clone())
        .control(control.clone())
        .router();
    let api = nacre::http::NacosApi::new(registry.clone())
        .control(control.clone())
        .router();
    let (status, _) = call(
        &api,
        "POST",
        "/nacos/v1/console/namespaces?customNamespaceId=team&namespaceName=Team%20A",
        None,
    )
    .await;
    assert_eq!(status, 200);
    registry
        .register_instance(
            &ServiceKey::named("orders").unwrap(),
            Instance::new("10.0.0.1", 8080).unwrap(),
        )
        .unwrap();

    let namespaces = json_of(&app, "/console/api/namespaces").await;
    assert_eq!(
        namespaces,
        json!([
            {"namespace": "public", "name": "public", "services": 1, "instances": 1, "healthy": 1},
            {"namespace": "team", "name": "Team A", "services": 0, "instances": 0, "healthy": 0},
        ])
    );

    // An edit through the page: kept, marked, and it holds over a re-registration.
    let target = json!({"namespace": "public", "group": "DEFAULT_GROUP", "service": "orders",
        "cluster": "DEFAULT", "ip": "10.0.0.1", "port": 8080, "weight": 3.0});
    let (status, body) = call(&app, "PATCH", "/console/api/instance", Some(target)).await;
    assert_eq!(status, 200, "{body}");
    registry
        .register_instance(
            &ServiceKey::named("orders").unwrap(),
            Instance::new("10.0.0.1", 8080).unwrap(),
        )
        .unwrap();
    let answer = json_of(&app, ORDERS).await;
    assert_eq!(answer["instances"][0]["weight"], 3.0);
    assert_eq!(
        answer["instances"][0]["overridden"],
        json!({"enabled": false, "weight": true, "metadata": []})
    );
    assert_eq!(
        answer["clusters"],
        json!([{"name": "DEFAULT", "checker": "TCP", "path": "", "expectedCode": 200, "set": false}])
    );

    // A cluster's check.
    let check = |checker: &str, path: &str| {
        json!({"namespace": "public", "group": "DEFAULT_GROUP", "service": "orders",
            "cluster": "DEFAULT", "checker": checker, "path": path})
    };
    let (status, body) = call(
        &app,
        "PUT",
        "/console/api/cluster",
        Some(check("HTTP", "/health")),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "true"));
    assert_eq!(
        json_of(&app, ORDERS).await["clusters"],
        json!([{"name": "DEFAULT", "checker": "HTTP", "path": "/health", "expectedCode": 200, "set": true}])
    );
    for (bad, says) in [
        (check("MYSQL", ""), "checker"),
        (check("HTTP", "http://169.254.169.254/"), "path"),
    ] {
        let (status, body) = call(&app, "PUT", "/console/api/cluster", Some(bad)).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains(says), "{body}");
    }
    let unknown = json!({"namespace": "public", "group": "DEFAULT_GROUP", "service": "ghost",
        "cluster": "DEFAULT", "checker": "TCP"});
    let (status, _) = call(&app, "PUT", "/console/api/cluster", Some(unknown)).await;
    assert_eq!(status, 404);
    assert_eq!(
        json_of(&app, ORDERS).await["clusters"][0]["checker"],
        "HTTP"
    );
    control.shutdown().await;
}

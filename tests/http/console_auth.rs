//! The web console behind auth (features `console` and `auth`) through its router: no token,
//! a bad one, or one in the query string gets 403 on every API route and the event stream, and
//! nothing changes; a reader sees only the services it may read, in the namespace and service
//! lists and on the event stream; a read-only user's edits are refused and change nothing.
#![cfg(all(feature = "console", feature = "auth"))]

use super::auth::{send, users_file};
use super::console::read_until;
use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use nacre::auth::{Authenticator, TokenKey, UsersFile};
use nacre::console::Console;
use nacre::front::access::Access;
use nacre::{Instance, Registry, ServiceKey};
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

fn users() -> UsersFile {
    users_file(
        &[
            ("admin", "ROLE_ADMIN"),
            ("team", "orders-team"),
            ("viewer", "viewers"),
            ("reader", "readers"),
        ],
        &[
            ("orders-team", "public:DEFAULT_GROUP:naming/orders", "rw"),
            ("viewers", "public:DEFAULT_GROUP:naming/orders", "r"),
            ("viewers", "public:BILLING:*", "r"),
            ("readers", "public:*:*", "r"),
        ],
        "",
    )
}

fn app(registry: &Registry) -> axum::Router {
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let auth = Authenticator::new(Arc::new(users()), TokenKey::from_base64(&key).unwrap());
    Console::new(registry.clone())
        .access(Access::new(Arc::new(auth)))
        .router()
}

fn key(namespace: &str, group: &str, service: &str) -> ServiceKey {
    ServiceKey::new(namespace, group, service).unwrap()
}

/// public/DEFAULT_GROUP/orders (two instances), public/DEFAULT_GROUP/secret,
/// public/BILLING/payments and staging/DEFAULT_GROUP/orders.
fn registry() -> Registry {
    let registry = Registry::default();
    for (service, ip) in [
        (key("public", "DEFAULT_GROUP", "orders"), "10.0.0.1"),
        (key("public", "DEFAULT_GROUP", "orders"), "10.0.0.2"),
        (key("public", "DEFAULT_GROUP", "secret"), "10.0.0.3"),
        (key("public", "BILLING", "payments"), "10.0.0.4"),
        (key("staging", "DEFAULT_GROUP", "orders"), "10.0.0.5"),
    ] {
        registry
            .register_instance(&service, Instance::new(ip, 8080).unwrap())
            .unwrap();
    }
    registry
}

/// A request to `uri`, with `token` as the `accessToken` header when given.
fn request(method: &str, uri: &str, token: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        builder = builder.header("accessToken", token);
    }
    match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

async fn login(app: &axum::Router, user: &str, password: &str) -> (u16, String) {
    let request = Request::post("/console/api/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("username={user}&password={password}")))
        .unwrap();
    send(app, request).await
}

async fn token(app: &axum::Router, user: &str) -> String {
    let (status, body) = login(app, user, "pw").await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["username"], user);
    assert_eq!(answer["globalAdmin"], user == "admin");
    answer["accessToken"].as_str().unwrap().to_owned()
}

async fn json_as(app: &axum::Router, uri: &str, token: &str) -> Value {
    let (status, body) = send(app, request("GET", uri, Some(token), None)).await;
    assert_eq!(status, 200, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

const ORDERS: &str = "/console/api/instances?namespace=public&group=DEFAULT_GROUP&service=orders";
const SECRET: &str = "/console/api/instances?namespace=public&group=DEFAULT_GROUP&service=secret";
const REMOVE: &str = "/console/api/instance?namespace=public&group=DEFAULT_GROUP&service=orders&cluster=DEFAULT&ip=10.0.0.1&port=8080";

fn heavier() -> Value {
    json!({"namespace": "public", "group": "DEFAULT_GROUP", "service": "orders",
        "cluster": "DEFAULT", "ip": "10.0.0.1", "port": 8080, "weight": 9.0, "enabled": false})
}

/// What the registry holds of public/DEFAULT_GROUP/orders: (ip, weight, enabled), sorted.
fn orders(registry: &Registry) -> Vec<(String, f64, bool)> {
    let mut held: Vec<_> = registry
        .get_all_instances(&key("public", "DEFAULT_GROUP", "orders"), &[])
        .iter()
        .map(|i| (i.ip().to_string(), i.weight(), i.enabled()))
        .collect();
    held.sort_by(|a, b| a.0.cmp(&b.0));
    held
}

/// Every API route and the stream, each as (method, uri, body).
fn routes() -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("GET", "/console/api/namespaces", None),
        ("GET", "/console/api/services?namespace=public", None),
        ("GET", ORDERS, None),
        ("PATCH", "/console/api/instance", Some(heavier())),
        ("DELETE", REMOVE, None),
        ("GET", "/console/api/events", None),
        ("GET", "/console/api/whoami", None),
        ("GET", SECRET_TIMELINE, None),
        ("GET", "/console/api/members", None),
        ("GET", "/console/api/preview?stop=127.0.0.1:8848", None),
    ]
}

/// The timeline of the secret service's instance (not the viewer's to read).
const SECRET_TIMELINE: &str = "/console/api/timeline?namespace=public&group=DEFAULT_GROUP&service=secret&cluster=DEFAULT&ip=10.0.0.9&port=8080";

#[tokio::test]
async fn without_a_valid_token_in_a_header_every_route_is_refused_and_nothing_changes() {
    let registry = registry();
    let app = app(&registry);
    let before = orders(&registry);
    let admin = token(&app, "admin").await;
    for (method, uri, body) in routes() {
        // No token; a token that is not one; the admin's token in the query string (never
        // read there: it would be in URLs and logs).
        let in_query = format!(
            "{uri}{}accessToken={admin}",
            if uri.contains('?') { '&' } else { '?' }
        );
        for (uri, token) in [
            (uri.to_owned(), None),
            (uri.to_owned(), Some("not-a-token")),
            (in_query, None),
        ] {
            let (status, text) = send(&app, request(method, &uri, token, body.clone())).await;
            assert_eq!(status, 403, "{method} {uri} ({token:?}): {text}");
            assert!(text.contains("token"), "the reason is said: {text}");
        }
    }
    assert_eq!(orders(&registry), before, "nothing changed");
    // The page itself holds no data and is public; so is the login.
    for asset in ["/console/", "/console/console.js", "/console/console.css"] {
        let (status, _) = send(&app, request("GET", asset, None, None)).await;
        assert_eq!(status, 200, "{asset}");
    }
    let (status, text) = login(&app, "admin", "wrong").await;
    assert_eq!(status, 403, "{text}");
    // The admin's token in a header: everything.
    let who = json_as(&app, "/console/api/whoami", &admin).await;
    assert_eq!(
        who,
        json!({"auth": true, "username": "admin", "admin": true})
    );
    let bearer = Request::get(ORDERS)
        .header("authorization", format!("Bearer {admin}"))
        .body(Body::empty())
        .unwrap();
    let (status, text) = send(&app, bearer).await;
    assert_eq!(status, 200, "Authorization: Bearer is a header too: {text}");
}

#[tokio::test]
async fn without_access_the_console_is_open_and_says_so() {
    let registry = registry();
    let app = Console::new(registry.clone()).router();
    let (status, who) = send(&app, request("GET", "/console/api/whoami", None, None)).await;
    assert_eq!((status, who.as_str()), (200, r#"{"auth":false}"#));
    let (status, text) = send(&app, request("GET", ORDERS, None, None)).await;
    assert_eq!(status, 200);
    assert!(text.contains(r#""writable":true"#), "{text}");
    // No login route.
    let (status, _) = login(&app, "admin", "pw").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_reader_sees_only_the_services_it_may_read() {
    let registry = registry();
    let app = app(&registry);
    let admin = token(&app, "admin").await;
    let viewer = token(&app, "viewer").await;
    let reader = token(&app, "reader").await;

    let all = json_as(&app, "/console/api/namespaces", &admin).await;
    assert_eq!(
        all,
        json!([
            {"namespace": "public", "name": "public", "services": 3, "instances": 4, "healthy": 4},
            {"namespace": "staging", "name": "staging", "services": 1, "instances": 1, "healthy": 1},
        ])
    );
    // public:*:* — the public namespace whole, staging not at all.
    let read = json_as(&app, "/console/api/namespaces", &reader).await;
    assert_eq!(read, json!([all[0].clone()]));
    // orders and BILLING's payments: the public row counts those only (not the secret
    // service's instance), and staging is not listed.
    let viewed = json_as(&app, "/console/api/namespaces", &viewer).await;
    assert_eq!(
        viewed,
        json!([{"namespace": "public", "name": "public", "services": 2, "instances": 3, "healthy": 3}])
    );

    let names = |rows: &Value| -> Vec<String> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{}@@{}",
                    r["group"].as_str().unwrap(),
                    r["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    let uri = "/console/api/services?namespace=public";
    assert_eq!(
        names(&json_as(&app, uri, &admin).await),
        [
            "BILLING@@payments",
            "DEFAULT_GROUP@@orders",
            "DEFAULT_GROUP@@secret"
        ]
    );
    assert_eq!(names(&json_as(&app, uri, &reader).await).len(), 3);
    assert_eq!(
        names(&json_as(&app, uri, &viewer).await),
        ["BILLING@@payments", "DEFAULT_GROUP@@orders"]
    );
    let staging = "/console/api/services?namespace=staging";
    assert_eq!(json_as(&app, staging, &viewer).await, json!([]));
    assert_eq!(json_as(&app, staging, &reader).await, json!([]));

    // One service: read permission on it, and whether the caller may edit it.
    let (status, text) = send(&app, request("GET", SECRET, Some(&viewer), None)).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("viewer may not read"), "{text}");
    let answer = json_as(&app, ORDERS, &viewer).await;
    assert_eq!(answer["instances"].as_array().unwrap().len(), 2);
    assert_eq!(answer["writable"], false);
    assert_eq!(json_as(&app, ORDERS, &admin).await["writable"], true);
    let team = token(&app, "team").await;
    assert_eq!(json_as(&app, ORDERS, &team).await["writable"], true);
    let who = json_as(&app, "/console/api/whoami", &viewer).await;
    assert_eq!(
        who,
        json!({"auth": true, "username": "viewer", "admin": false})
    );
    // An instance's timeline is read as its service is; the members and the failure preview
    // describe the node, which is the admin's (a standalone node answers that it has none).
    let (status, text) = send(&app, request("GET", SECRET_TIMELINE, Some(&viewer), None)).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("viewer may not read"), "{text}");
    json_as(&app, SECRET_TIMELINE, &reader).await;
    for uri in [
        "/console/api/members",
        "/console/api/preview?stop=127.0.0.1:8848",
    ] {
        let (status, text) = send(&app, request("GET", uri, Some(&reader), None)).await;
        assert_eq!(status, 403, "{uri}: {text}");
        let (status, text) = send(&app, request("GET", uri, Some(&admin), None)).await;
        assert_ne!(status, 403, "{uri}: {text}");
    }
}

#[tokio::test]
async fn a_read_only_users_edits_are_refused_and_change_nothing() {
    let registry = registry();
    let app = app(&registry);
    let before = orders(&registry);
    for user in ["viewer", "reader"] {
        let token = token(&app, user).await;
        let (status, text) = send(
            &app,
            request(
                "PATCH",
                "/console/api/instance",
                Some(&token),
                Some(heavier()),
            ),
        )
        .await;
        assert_eq!(status, 403, "{user}: {text}");
        assert!(text.contains(&format!("{user} may not write")), "{text}");
        let (status, text) = send(&app, request("DELETE", REMOVE, Some(&token), None)).await;
        assert_eq!(status, 403, "{user}: {text}");
        if cfg!(feature = "control") {
            // A cluster's health check is the service's too (checked before anything else).
            let check = serde_json::json!({"namespace": "public", "group": "DEFAULT_GROUP",
                "service": "orders", "cluster": "DEFAULT", "checker": "NONE"});
            let set = request("PUT", "/console/api/cluster", Some(&token), Some(check));
            let (status, text) = send(&app, set).await;
            assert_eq!(status, 403, "{user}: {text}");
        }
        assert_eq!(orders(&registry), before, "{user} changed nothing");
    }
    // The team may: the same edit goes through.
    let team = token(&app, "team").await;
    let (status, text) = send(
        &app,
        request(
            "PATCH",
            "/console/api/instance",
            Some(&team),
            Some(heavier()),
        ),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(orders(&registry)[0], ("10.0.0.1".to_owned(), 9.0, false));
    let (status, text) = send(&app, request("DELETE", REMOVE, Some(&team), None)).await;
    assert_eq!((status, text.as_str()), (200, "true"));
    assert_eq!(orders(&registry).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_sends_a_reader_only_the_changes_it_may_read() {
    let registry = Registry::default();
    let app = app(&registry);
    let mut streams = Vec::new();
    for user in ["viewer", "admin"] {
        let token = token(&app, user).await;
        let answer = app
            .clone()
            .oneshot(request("GET", "/console/api/events", Some(&token), None))
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{user}");
        let mut body = answer.into_body();
        let mut seen = String::new();
        read_until(&mut body, &mut seen, "hello", |s| {
            s.contains("event: hello")
        })
        .await;
        streams.push((user, body, seen));
    }
    // A change the viewer may not read, then one it may: in order, so once the second is
    // seen the first would have been too.
    for service in [
        key("public", "DEFAULT_GROUP", "secret"),
        key("staging", "DEFAULT_GROUP", "orders"),
        key("public", "DEFAULT_GROUP", "orders"),
    ] {
        registry
            .register_instance(&service, Instance::new("10.0.0.1", 8080).unwrap())
            .unwrap();
    }
    let last = r#""namespace":"public","group":"DEFAULT_GROUP","service":"orders""#;
    for (user, body, seen) in &mut streams {
        read_until(body, seen, "the change of orders", |s| s.contains(last)).await;
        let secret = seen.contains(r#""service":"secret""#);
        let staging = seen.contains(r#""namespace":"staging""#);
        if *user == "viewer" {
            assert!(!secret && !staging, "the viewer hears only orders: {seen}");
        } else {
            assert!(secret && staging, "the admin hears everything: {seen}");
        }
    }
}

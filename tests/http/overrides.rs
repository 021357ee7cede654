//! Operators' overrides through the router, over a real `StandaloneControl` on a temporary
//! file: an edit made with `PUT` or `PATCH /nacos/v1/ns/instance` survives the client's
//! re-registration, its deregistration and registration again (a restart), and a restart of
//! the control plane; `GET`/`DELETE /nacos/v1/ns/instance/override` read and clear it; bad
//! edits are refused with what was wrong and change nothing.
#![cfg(feature = "control")]

use axum::body::Body;
use axum::http::Request;
use nacre::control::{ClosableControl, ControlPlane};
use nacre::http::NacosApi;
use nacre::{Registry, ServiceKey};
use serde_json::Value;
use std::sync::Arc;

use super::auth::send;
use super::namespaces::{control, Dir};

const INSTANCE: &str = "/nacos/v1/ns/instance";
const OVERRIDE: &str = "/nacos/v1/ns/instance/override";
const ORDERS: &str = "serviceName=orders&ip=10.0.0.1&port=8080";

/// The API over a fresh registry and a control plane of its own.
async fn setup(name: &str) -> (axum::Router, Registry, Arc<ClosableControl>, Dir) {
    let dir = Dir::new(name);
    let control = control(&dir).await;
    let registry = Registry::default();
    let app = NacosApi::new(registry.clone())
        .control(control.clone())
        .router();
    (app, registry, control, dir)
}

async fn call(app: &axum::Router, method: &str, uri: &str) -> (u16, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    send(app, request).await
}

async fn ok(app: &axum::Router, method: &str, uri: &str) {
    let (status, body) = call(app, method, uri).await;
    assert_eq!((status, body.as_str()), (200, "ok"), "{method} {uri}");
}

/// The one instance of `orders` as the registry holds it: (enabled, weight, metadata).
fn stored(registry: &Registry) -> (bool, f64, Value) {
    let orders = ServiceKey::named("orders").unwrap();
    let all = registry.get_all_instances(&orders, &[]);
    let mut it = all.iter();
    let one = it.next().expect("orders has an instance");
    assert!(it.next().is_none(), "orders has one instance");
    (
        one.enabled(),
        one.weight(),
        serde_json::to_value(one.metadata()).unwrap(),
    )
}

/// The hosts `GET /instance/list` answers for `orders`.
async fn listed(app: &axum::Router) -> usize {
    let (status, body) = call(app, "GET", "/nacos/v1/ns/instance/list?serviceName=orders").await;
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    list["hosts"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_disabled_instance_stays_disabled_through_reregistration_and_a_client_restart() {
    let (app, registry, control, _dir) = setup("override-disable").await;

    ok(
        &app,
        "POST",
        &format!("{INSTANCE}?{ORDERS}&metadata=%7B%22v%22%3A%221%22%7D"),
    )
    .await;
    assert_eq!(listed(&app).await, 1);
    ok(&app, "PUT", &format!("{INSTANCE}?{ORDERS}&enabled=false")).await;
    assert_eq!(listed(&app).await, 0, "the operator disabled it");

    // The client registers again (a reconnect's redo), saying enabled=true as clients do.
    ok(&app, "POST", &format!("{INSTANCE}?{ORDERS}&enabled=true")).await;
    assert!(!stored(&registry).0, "still disabled after re-registration");
    assert_eq!(listed(&app).await, 0);

    // The client restarts: deregisters, then registers again.
    ok(&app, "DELETE", &format!("{INSTANCE}?{ORDERS}")).await;
    ok(&app, "POST", &format!("{INSTANCE}?{ORDERS}&enabled=true")).await;
    assert!(
        !stored(&registry).0,
        "still disabled after a client restart"
    );

    // The operator enables it again: that is kept too.
    ok(&app, "PUT", &format!("{INSTANCE}?{ORDERS}&enabled=true")).await;
    ok(&app, "POST", &format!("{INSTANCE}?{ORDERS}&enabled=false")).await;
    assert!(stored(&registry).0, "the operator's enabled=true holds too");
    control.shutdown().await;
}

#[tokio::test]
async fn a_patched_weight_and_metadata_survive_reregistration_beside_the_clients_metadata() {
    let (app, registry, control, _dir) = setup("override-patch").await;

    ok(
        &app,
        "POST",
        &format!("{INSTANCE}?{ORDERS}&weight=1&metadata=%7B%22v%22%3A%221%22%7D"),
    )
    .await;
    ok(
        &app,
        "PATCH",
        &format!("{INSTANCE}?{ORDERS}&weight=5&metadata=%7B%22zone%22%3A%22b%22%7D"),
    )
    .await;
    // The client registers again with new metadata of its own and its weight.
    ok(
        &app,
        "POST",
        &format!("{INSTANCE}?{ORDERS}&weight=1&metadata=%7B%22v%22%3A%222%22%7D"),
    )
    .await;
    let (enabled, weight, metadata) = stored(&registry);
    assert!(enabled, "PATCH set no enabled flag");
    assert_eq!(weight, 5.0);
    assert_eq!(metadata, serde_json::json!({"v": "2", "zone": "b"}));

    // The override as the API shows it, one and all of the service's.
    let (status, body) = call(&app, "GET", &format!("{OVERRIDE}?{ORDERS}")).await;
    assert_eq!(status, 200, "{body}");
    let one: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        one["instanceId"],
        "10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@orders"
    );
    assert_eq!(one["enabled"], Value::Null);
    assert_eq!(one["weight"], 5.0);
    assert_eq!(one["metadata"], serde_json::json!({"zone": "b"}));
    let (status, body) = call(&app, "GET", &format!("{OVERRIDE}?serviceName=orders")).await;
    assert_eq!(status, 200, "{body}");
    let all: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(all["service"], "DEFAULT_GROUP@@orders");
    assert_eq!(all["overrides"].as_array().unwrap().len(), 1);

    // Cleared: the next registration is the client's own again.
    ok(&app, "DELETE", &format!("{OVERRIDE}?{ORDERS}")).await;
    let (status, _) = call(&app, "GET", &format!("{OVERRIDE}?{ORDERS}")).await;
    assert_eq!(status, 404);
    let (status, body) = call(&app, "DELETE", &format!("{OVERRIDE}?{ORDERS}")).await;
    assert_eq!(status, 404, "{body}");
    ok(
        &app,
        "POST",
        &format!("{INSTANCE}?{ORDERS}&weight=1&metadata=%7B%22v%22%3A%223%22%7D"),
    )
    .await;
    let (_, weight, metadata) = stored(&registry);
    assert_eq!(weight, 1.0);
    assert_eq!(metadata, serde_json::json!({"v": "3"}));
    control.shutdown().await;
}

#[tokio::test]
async fn an_override_set_before_the_instance_registers_and_kept_across_a_restart_applies() {
    let dir = Dir::new("override-restart");
    {
        let control = control(&dir).await;
        let registry = Registry::default();
        let app = NacosApi::new(registry.clone())
            .control(control.clone())
            .router();
        // PUT needs the service; the instance itself need not be registered (Nacos keeps
        // such an edit for the address too).
        ok(
            &app,
            "POST",
            &format!("{INSTANCE}?serviceName=orders&ip=10.0.0.9&port=1"),
        )
        .await;
        ok(
            &app,
            "PUT",
            &format!("{INSTANCE}?{ORDERS}&enabled=false&weight=3"),
        )
        .await;
        control.shutdown().await;
    }
    let control = control(&dir).await;
    let registry = Registry::default();
    let app = NacosApi::new(registry.clone())
        .control(control.clone())
        .router();
    ok(&app, "POST", &format!("{INSTANCE}?{ORDERS}")).await;
    let (enabled, weight, _) = stored(&registry);
    assert_eq!((enabled, weight), (false, 3.0));
    control.shutdown().await;
}

#[tokio::test]
async fn bad_edits_are_refused_with_the_reason_and_change_nothing() {
    let (app, registry, control, _dir) = setup("override-bad").await;
    ok(&app, "POST", &format!("{INSTANCE}?{ORDERS}&weight=2")).await;
    for (query, names) in [
        ("weight=20000", "weight"),
        ("weight=abc", "weight"),
        ("enabled=maybe", "enabled"),
        ("metadata=%7Bnot-json", "metadata"),
    ] {
        let (status, body) = call(&app, "PATCH", &format!("{INSTANCE}?{ORDERS}&{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(names), "{query}: {body}");
    }
    assert_eq!(control.state().override_count(), 0, "nothing kept");
    assert_eq!(stored(&registry).1, 2.0, "nothing changed");
    let (status, body) = call(
        &app,
        "GET",
        &format!("{OVERRIDE}?serviceName=orders&ip=10.0.0.1&port=http"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    control.shutdown().await;

    // Without a control plane there is nothing to read or clear.
    let plain = NacosApi::new(Registry::default()).router();
    let (status, _) = call(&plain, "GET", &format!("{OVERRIDE}?{ORDERS}")).await;
    assert_eq!(status, 404);
}

/// With auth, the override routes check who calls: reading needs `r` on the service,
/// clearing `w` and the instance's address in the caller's blocks, as setting it (`PUT`) does.
#[tokio::test]
async fn with_auth_reading_and_clearing_an_override_need_the_services_permissions() {
    use super::auth::{key, token, users_file};
    use nacre::auth::Authenticator;
    use nacre::front::access::Access;
    let dir = Dir::new("override-auth");
    let control = control(&dir).await;
    let registry = Registry::default();
    let users = users_file(
        &[
            ("writer", "writers"),
            ("reader", "readers"),
            ("team", "team"),
        ],
        &[
            ("writers", "public:*:*", "rw"),
            ("readers", "public:*:*", "r"),
        ],
        "[[permission]]\nrole = \"team\"\nresource = \"public:*:*\"\naction = \"rw\"\n\
         register_cidrs = [\"10.9.0.0/16\"]\n",
    );
    let auth = Authenticator::new(Arc::new(users), key(5));
    let app = NacosApi::new(registry.clone())
        .access(Access::new(Arc::new(auth)))
        .control(control.clone())
        .router();
    let (writer, reader, team) = (
        token(&app, "writer").await,
        token(&app, "reader").await,
        token(&app, "team").await,
    );
    let as_user = |method: &str, uri: String, token: &str| {
        Request::builder()
            .method(method)
            .uri(format!("{uri}&accessToken={token}"))
            .body(Body::empty())
            .unwrap()
    };
    let (status, body) = send(
        &app,
        as_user("POST", format!("{INSTANCE}?{ORDERS}"), &writer),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, _) = send(
        &app,
        as_user("PUT", format!("{INSTANCE}?{ORDERS}&enabled=false"), &reader),
    )
    .await;
    assert_eq!(status, 403, "a reader sets no override");
    let (status, _) = send(
        &app,
        as_user("PUT", format!("{INSTANCE}?{ORDERS}&enabled=false"), &team),
    )
    .await;
    assert_eq!(status, 403, "10.0.0.1 is outside the team's block");
    assert_eq!(control.state().override_count(), 0);
    let (status, body) = send(
        &app,
        as_user("PUT", format!("{INSTANCE}?{ORDERS}&enabled=false"), &writer),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "ok"));

    let (status, _) = call(&app, "GET", &format!("{OVERRIDE}?{ORDERS}")).await;
    assert_eq!(status, 403, "no token");
    let (status, body) = send(
        &app,
        as_user("GET", format!("{OVERRIDE}?{ORDERS}"), &reader),
    )
    .await;
    assert_eq!(status, 200, "a reader reads it: {body}");
    for who in [&reader, &team] {
        let (status, _) = send(&app, as_user("DELETE", format!("{OVERRIDE}?{ORDERS}"), who)).await;
        assert_eq!(
            status, 403,
            "only a writer whose blocks hold the address clears it"
        );
    }
    let (status, _) = call(&app, "DELETE", &format!("{OVERRIDE}?{ORDERS}")).await;
    assert_eq!(status, 403, "no token");
    assert_eq!(control.state().override_count(), 1, "still kept");
    let (status, body) = send(
        &app,
        as_user("DELETE", format!("{OVERRIDE}?{ORDERS}"), &writer),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(control.state().override_count(), 0);
    control.shutdown().await;
}

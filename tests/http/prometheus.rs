//! Prometheus HTTP service discovery through the router: one target group per instance with
//! Nacos' cluster label, metadata as labels under Prometheus' naming rule (reserved labels left
//! out, so a client cannot steer the scraper), the scopes of the three routes, and with auth
//! only what the caller may read (a token, or Basic credentials as Prometheus sends them).

use axum::body::Body;
use axum::http::Request;
use nacre::http::NacosApi;
use nacre::{Instance, Registry, ServiceKey};
use serde_json::{json, Value};

use super::env::send;

fn registry() -> Registry {
    let registry = Registry::default();
    let orders = ServiceKey::new("public", "shop", "orders").unwrap();
    let metadata = [
        ("version", "1.2"),
        ("app.name", "orders"),
        ("9lives", "x"),
        ("__address__", "evil.example:80"),
        ("__metrics_path__", "/steal"),
    ];
    let a = Instance::builder("10.0.0.1", 9100)
        .metadata_map(
            metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .build()
        .unwrap();
    registry.register_instance(&orders, a).unwrap();
    let b = Instance::builder("10.0.0.2", 9100)
        .cluster("b")
        .healthy(false)
        .build()
        .unwrap();
    registry.register_instance(&orders, b).unwrap();
    // The same name in another group, and another namespace.
    let billing = ServiceKey::new("public", "billing", "orders").unwrap();
    registry
        .register_instance(&billing, Instance::new("10.1.0.1", 9100).unwrap())
        .unwrap();
    let dev = ServiceKey::new("dev", "DEFAULT_GROUP", "carts").unwrap();
    registry
        .register_instance(&dev, Instance::new("::1", 9100).unwrap())
        .unwrap();
    registry
}

async fn discover(app: &axum::Router, path: &str, auth: Option<&str>) -> (u16, Value) {
    let mut request = Request::get(path);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let (status, body) = send(app, request.body(Body::empty()).unwrap()).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn targets(answer: &Value) -> Vec<String> {
    answer
        .as_array()
        .unwrap_or_else(|| panic!("an array: {answer}"))
        .iter()
        .map(|g| g["targets"][0].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_instance_is_a_target_with_its_cluster_and_safe_metadata_labels() {
    let app = NacosApi::new(registry()).router();
    let (status, all) = discover(&app, "/nacos/prometheus", None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        targets(&all),
        [
            "[::1]:9100",
            "10.1.0.1:9100",
            "10.0.0.1:9100",
            "10.0.0.2:9100"
        ],
        "namespace, group, service, cluster, address order; unhealthy ones too"
    );
    let first = &all[2];
    assert_eq!(first["targets"].as_array().unwrap().len(), 1);
    assert_eq!(
        first["labels"],
        json!({
            "__meta_clusterName": "DEFAULT",
            "__meta_nacos_namespace": "public",
            "__meta_nacos_group": "shop",
            "__meta_nacos_service": "orders",
            "__meta_nacos_healthy": "true",
            "__meta_nacos_enabled": "true",
            "__meta_nacos_ephemeral": "true",
            "version": "1.2",
            "app_name": "orders",
            "_9lives": "x",
        }),
        "reserved labels (__address__, __metrics_path__) are not taken from metadata"
    );
    assert_eq!(all[3]["labels"]["__meta_clusterName"], "b");
    assert_eq!(all[3]["labels"]["__meta_nacos_healthy"], "false");

    let (_, public) = discover(&app, "/nacos/prometheus/namespaceId/public", None).await;
    assert_eq!(
        targets(&public),
        ["10.1.0.1:9100", "10.0.0.1:9100", "10.0.0.2:9100"]
    );
    let (_, orders) = discover(
        &app,
        "/nacos/prometheus/namespaceId/public/service/orders",
        None,
    )
    .await;
    assert_eq!(
        targets(&orders).len(),
        3,
        "the name in every group, as Nacos"
    );
    let (_, none) = discover(
        &app,
        "/nacos/prometheus/namespaceId/public/service/carts",
        None,
    )
    .await;
    assert_eq!(none, json!([]));
    let (_, unknown) = discover(&app, "/nacos/prometheus/namespaceId/nowhere", None).await;
    assert_eq!(unknown, json!([]));
    let (status, bad) = discover(&app, "/nacos/prometheus/namespaceId/%20%00", None).await;
    assert_eq!(status, 400, "{bad}");
}

#[cfg(feature = "auth")]
#[tokio::test]
async fn with_auth_a_caller_discovers_what_it_may_read() {
    use super::auth::{key, token, users_file};
    use nacre::front::access::Access;
    use std::sync::Arc;
    let users = users_file(
        &[("team", "orders-team"), ("writer", "writers")],
        &[
            ("orders-team", "public:shop:naming/orders", "r"),
            ("writers", "*:*:*", "rw"),
        ],
        "",
    );
    let auth = nacre::auth::Authenticator::new(Arc::new(users), key(1));
    let app = NacosApi::new(registry())
        .access(Access::new(Arc::new(auth)))
        .router();
    for path in [
        "/nacos/prometheus",
        "/nacos/prometheus/namespaceId/public",
        "/nacos/prometheus/namespaceId/public/service/orders",
    ] {
        let (status, body) = discover(&app, path, None).await;
        assert_eq!(status, 403, "{path}: {body}");
        let wrong = format!("Basic {}", b64("team:wrong"));
        let (status, _) = discover(&app, path, Some(&wrong)).await;
        assert_eq!(status, 403, "{path}");
    }
    // Basic credentials, as Prometheus' basic_auth sends them.
    let basic = format!("Basic {}", b64("team:pw"));
    let (status, seen) = discover(&app, "/nacos/prometheus", Some(&basic)).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(
        targets(&seen),
        ["10.0.0.1:9100", "10.0.0.2:9100"],
        "shop@@orders only"
    );
    let (_, seen) = discover(
        &app,
        "/nacos/prometheus/namespaceId/public/service/orders",
        Some(&basic),
    )
    .await;
    assert_eq!(targets(&seen).len(), 2, "not billing's orders");
    // A bearer token, as Prometheus' authorization sends it.
    let writer = token(&app, "writer").await;
    let (status, seen) =
        discover(&app, "/nacos/prometheus", Some(&format!("Bearer {writer}"))).await;
    assert_eq!((status, targets(&seen).len()), (200, 4));
}

#[cfg(feature = "auth")]
fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

//! `PUT` and `DELETE /nacos/v1/ns/instance/metadata/batch` through the router: the instances
//! listed (or every instance of the service) get or lose the keys, the answer lists them in
//! Nacos' form, bad input is a 400 that changes nothing, and with a control plane the change
//! outlives the client's next registration.

use axum::body::Body;
use axum::http::Request;
use nacre::http::NacosApi;
use nacre::{Registry, ServiceKey};
use serde_json::Value;

use super::env::send;

const INSTANCE: &str = "/nacos/v1/ns/instance";
const BATCH: &str = "/nacos/v1/ns/instance/metadata/batch";

fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A form-bodied request, as clients send these writes.
async fn form(app: &axum::Router, method: &str, path: &str, body: &str) -> (u16, String) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap();
    send(app, request).await
}

async fn register(app: &axum::Router, ip: &str, cluster: &str, extra: &str) {
    let body = format!(
        "serviceName=orders&ip={ip}&port=8080&clusterName={cluster}&metadata={}{extra}",
        enc(r#"{"own":"1"}"#)
    );
    let (status, answer) = form(app, "POST", INSTANCE, &body).await;
    assert_eq!((status, answer.as_str()), (200, "ok"));
}

/// Each instance of `orders` as `ip -> metadata`.
fn metadata(registry: &Registry) -> Value {
    let orders = ServiceKey::named("orders").unwrap();
    let mut out = serde_json::Map::new();
    for i in registry.get_all_instances(&orders, &[]).iter() {
        out.insert(
            i.ip().to_string(),
            serde_json::to_value(i.metadata()).unwrap(),
        );
    }
    Value::Object(out)
}

fn updated(body: &str) -> Vec<String> {
    let json: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON: {body}"));
    let mut list: Vec<String> = json["updated"]
        .as_array()
        .unwrap_or_else(|| panic!("an `updated` list: {body}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    list.sort();
    list
}

async fn three(app: &axum::Router) {
    register(app, "10.0.0.1", "DEFAULT", "").await;
    register(app, "10.0.0.2", "DEFAULT", "").await;
    register(app, "10.0.0.3", "b", "&ephemeral=false").await;
}

#[tokio::test]
async fn listed_instances_get_the_keys_and_unknown_ones_are_left_out() {
    let registry = Registry::default();
    let app = NacosApi::new(registry.clone()).router();
    three(&app).await;
    let instances = r#"[{"ip":"10.0.0.1","port":8080},{"ip":"10.0.0.3","port":"8080","clusterName":"b"},{"ip":"10.0.0.9","port":8080}]"#;
    let body = format!(
        "serviceName=orders&instances={}&metadata={}",
        enc(instances),
        enc(r#"{"zone":"b","own":"2"}"#)
    );
    let (status, answer) = form(&app, "PUT", BATCH, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        updated(&answer),
        [
            "10.0.0.1:8080:unknown:DEFAULT:ephemeral",
            "10.0.0.3:8080:unknown:b:persist"
        ]
    );
    let m = metadata(&registry);
    assert_eq!(m["10.0.0.1"], serde_json::json!({"own":"2","zone":"b"}));
    assert_eq!(m["10.0.0.2"], serde_json::json!({"own":"1"}), "not listed");
    assert_eq!(m["10.0.0.3"], serde_json::json!({"own":"2","zone":"b"}));

    // DELETE removes the keys named (values do not matter), keeping the others.
    let body = format!(
        "serviceName=orders&instances={}&metadata=zone%3Dx",
        enc(r#"[{"ip":"10.0.0.1","port":8080}]"#)
    );
    let (status, answer) = form(&app, "DELETE", BATCH, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        updated(&answer),
        ["10.0.0.1:8080:unknown:DEFAULT:ephemeral"]
    );
    let m = metadata(&registry);
    assert_eq!(m["10.0.0.1"], serde_json::json!({"own":"2"}));
    assert_eq!(m["10.0.0.3"], serde_json::json!({"own":"2","zone":"b"}));
}

#[tokio::test]
async fn without_a_list_every_instance_of_the_service_is_meant() {
    let registry = Registry::default();
    let app = NacosApi::new(registry.clone()).router();
    three(&app).await;
    // A query-string write, as curl users send it; `[]` means every instance too.
    let uri = format!(
        "{BATCH}?serviceName=orders&instances=%5B%5D&metadata={}",
        enc(r#"{"owner":"ops"}"#)
    );
    let (status, answer) = send(&app, Request::put(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(updated(&answer).len(), 3, "{answer}");
    for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
        assert_eq!(metadata(&registry)[ip]["owner"], "ops", "{ip}");
    }
    let body = "serviceName=orders&metadata=owner%3D-";
    let (status, answer) = form(&app, "DELETE", BATCH, body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(updated(&answer).len(), 3);
    for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
        assert_eq!(
            metadata(&registry)[ip],
            serde_json::json!({"own":"1"}),
            "{ip}"
        );
    }
    // An unknown service: nothing to change.
    let body = "serviceName=payments&metadata=a%3Db";
    let (status, answer) = form(&app, "PUT", BATCH, body).await;
    assert_eq!((status, updated(&answer).len()), (200, 0), "{answer}");
}

#[tokio::test]
async fn bad_input_is_a_400_that_changes_nothing() {
    let registry = Registry::default();
    let app = NacosApi::new(registry.clone()).router();
    three(&app).await;
    let before = metadata(&registry);
    let cases = [
        // Nacos would change every instance here; a typo must not.
        (
            format!(
                "serviceName=orders&metadata=a%3Db&instances={}",
                enc("[{ip:")
            ),
            "instances",
        ),
        (
            format!(
                "serviceName=orders&metadata=a%3Db&instances={}",
                enc(r#"[{"ip":"10.0.0.1","port":70000}]"#)
            ),
            "instances",
        ),
        (
            format!(
                "serviceName=orders&metadata=a%3Db&instances={}",
                enc(r#"[{"ip":"not an address!","port":8080}]"#)
            ),
            "instances",
        ),
        ("serviceName=orders".to_owned(), "metadata"),
        ("serviceName=orders&metadata=%7Bnope".to_owned(), "metadata"),
        ("metadata=a%3Db".to_owned(), "serviceName"),
    ];
    for (body, names) in cases {
        for method in ["PUT", "DELETE"] {
            let (status, answer) = form(&app, method, BATCH, &body).await;
            assert_eq!(status, 400, "{method} {body}: {answer}");
            assert!(answer.contains(names), "{method} {body}: {answer}");
        }
    }
    // More instances than a service may hold.
    let limits = nacre::Limits {
        max_instances_per_service: 2,
        ..Default::default()
    };
    let small = Registry::builder().limits(limits).build();
    let app = NacosApi::new(small).router();
    let many =
        r#"[{"ip":"10.0.0.1","port":1},{"ip":"10.0.0.1","port":2},{"ip":"10.0.0.1","port":3}]"#;
    let body = format!("serviceName=orders&metadata=a%3Db&instances={}", enc(many));
    let (status, answer) = form(&app, "PUT", BATCH, &body).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(metadata(&registry), before);
}

#[cfg(feature = "control")]
#[tokio::test]
async fn with_a_control_plane_a_batch_outlives_the_clients_next_registration() {
    use super::namespaces::{control, Dir};
    let dir = Dir::new("metadata-batch");
    let control = control(&dir).await;
    let registry = Registry::default();
    let app = NacosApi::new(registry.clone())
        .control(control.clone())
        .router();
    register(&app, "10.0.0.1", "DEFAULT", "").await;
    let body = format!("serviceName=orders&metadata={}", enc(r#"{"zone":"b"}"#));
    let (status, answer) = form(&app, "PUT", BATCH, &body).await;
    assert_eq!(status, 200, "{answer}");
    // The client registers again (a reconnect's redo) with only its own metadata.
    register(&app, "10.0.0.1", "DEFAULT", "").await;
    assert_eq!(
        metadata(&registry)["10.0.0.1"],
        serde_json::json!({"own":"1","zone":"b"})
    );
    // A delete is kept too: the key does not come back with the next registration.
    let (status, answer) = form(
        &app,
        "DELETE",
        BATCH,
        "serviceName=orders&metadata=zone%3Dx",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    register(&app, "10.0.0.1", "DEFAULT", "").await;
    assert_eq!(
        metadata(&registry)["10.0.0.1"],
        serde_json::json!({"own":"1"})
    );
    // The override held only that key, so none is left.
    let (status, answer) = send(
        &app,
        Request::get("/nacos/v1/ns/instance/override?serviceName=orders")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let list: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(list["overrides"], serde_json::json!([]), "{answer}");
    control.shutdown().await;
}

//! `PUT /nacos/v1/ns/health/instance` (a persistent instance's health, set by hand) and
//! `GET /nacos/v1/ns/instance/statuses` (every instance with its health).

use crate::env::{api, Api};
use serde_json::{json, Value};
use std::time::Duration;

const DB: &str = "serviceName=db&ip=10.0.0.9&port=5432";

async fn statuses(api: &Api, key: &str) -> Value {
    api.json("GET", &format!("/nacos/v1/ns/instance/statuses?key={key}"))
        .await
}

#[tokio::test]
async fn a_persistent_instance_health_is_set_by_hand_and_stays() {
    let api = api();
    api.ok(
        "POST",
        &format!("/nacos/v1/ns/instance?{DB}&ephemeral=false"),
    )
    .await;
    assert_eq!(
        statuses(&api, "DEFAULT_GROUP%40%40db").await,
        json!({"ips": ["10.0.0.9:5432_true"]})
    );
    assert_eq!(
        api.ok(
            "PUT",
            &format!("/nacos/v1/ns/health/instance?{DB}&healthy=false")
        )
        .await,
        "ok"
    );
    assert_eq!(
        statuses(&api, "DEFAULT_GROUP%40%40db").await,
        json!({"ips": ["10.0.0.9:5432_false"]})
    );
    // Beside a healthy replica, a healthy-only list leaves it out; nothing but another call
    // brings it back (persistent instances are not judged by beats).
    api.ok(
        "POST",
        "/nacos/v1/ns/instance?serviceName=db&ip=10.0.0.10&port=5432&ephemeral=false",
    )
    .await;
    let healthy = api.list("serviceName=db&healthyOnly=true").await;
    assert_eq!(crate::env::hosts(&healthy), ["10.0.0.10:5432"]);
    api.ok(
        "DELETE",
        "/nacos/v1/ns/instance?serviceName=db&ip=10.0.0.10&port=5432&ephemeral=false",
    )
    .await;
    api.clock.advance(Duration::from_secs(120));
    api.registry.check_health();
    assert_eq!(
        statuses(&api, "DEFAULT_GROUP%40%40db").await,
        json!({"ips": ["10.0.0.9:5432_false"]})
    );
    // `valid` is the older name; `/nacos/v1/ns/health` the older path.
    api.ok("PUT", &format!("/nacos/v1/ns/health?{DB}&valid=true"))
        .await;
    assert_eq!(
        statuses(&api, "DEFAULT_GROUP%40%40db").await,
        json!({"ips": ["10.0.0.9:5432_true"]})
    );
}

#[tokio::test]
async fn the_persistent_instance_is_found_by_ip_and_port_in_any_cluster() {
    let api = api();
    api.ok(
        "POST",
        &format!("/nacos/v1/ns/instance?{DB}&ephemeral=false&clusterName=hz"),
    )
    .await;
    api.ok(
        "PUT",
        &format!("/nacos/v1/ns/health/instance?{DB}&healthy=false"),
    )
    .await;
    // (The raw state: a list of this one unhealthy instance would be under the protect
    // threshold and report it healthy.)
    let all = api
        .registry
        .get_all_instances(&nacre::ServiceKey::named("db").unwrap(), &[]);
    let only = all.iter().next().unwrap();
    assert!(!only.healthy());
    assert_eq!(only.cluster().as_str(), "hz");
}

#[tokio::test]
async fn an_ephemeral_instance_health_is_its_beats_business() {
    let api = api();
    api.ok("POST", &format!("/nacos/v1/ns/instance?{DB}")).await;
    let (status, body) = api
        .call(
            "PUT",
            &format!("/nacos/v1/ns/health/instance?{DB}&healthy=false"),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("health check is still working"), "{body}");
    assert!(
        body.contains("10.0.0.9#5432#DEFAULT#DEFAULT_GROUP@@db"),
        "{body}"
    );
    assert_eq!(
        statuses(&api, "db").await,
        json!({"ips": ["10.0.0.9:5432_true"]})
    );
}

#[tokio::test]
async fn an_unknown_instance_answers_ok_and_nothing_is_stored() {
    let api = api();
    for query in [
        "serviceName=nobody&ip=10.0.0.1&port=1&healthy=false",
        "serviceName=db&ip=10.0.0.1&port=1&healthy=true",
    ] {
        assert_eq!(
            api.ok("PUT", &format!("/nacos/v1/ns/health/instance?{query}"))
                .await,
            "ok"
        );
    }
    assert!(api.registry.store().snapshots().is_empty());
}

#[tokio::test]
async fn bad_health_parameters_name_themselves() {
    let api = api();
    api.ok(
        "POST",
        &format!("/nacos/v1/ns/instance?{DB}&ephemeral=false"),
    )
    .await;
    let path = "/nacos/v1/ns/health/instance";
    for (query, param) in [
        (DB.to_owned(), "healthy"),
        (format!("{DB}&healthy=maybe"), "healthy"),
        (format!("{DB}&valid=maybe"), "valid"),
        (
            "ip=10.0.0.9&port=5432&healthy=false".to_owned(),
            "serviceName",
        ),
        ("serviceName=db&port=5432&healthy=false".to_owned(), "ip"),
        (
            "serviceName=db&ip=10.0.0.9&port=0&healthy=false".to_owned(),
            "port",
        ),
        (
            format!("{DB}&healthy=false&clusterName=a%2Cb"),
            "clusterName",
        ),
    ] {
        let (status, body) = api.call("PUT", &format!("{path}?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.contains(param),
            "{query}: `{body}` should name {param}"
        );
    }
    assert_eq!(
        statuses(&api, "db").await,
        json!({"ips": ["10.0.0.9:5432_true"]})
    );
    assert_eq!(api.call("GET", path).await.0, 405);
}

#[tokio::test]
async fn statuses_list_every_instance_of_the_namespaced_service() {
    let api = api();
    for (ip, extra) in [
        ("10.0.0.1", "&clusterName=b"),
        ("10.0.0.2", "&enabled=false&clusterName=a"),
        ("10.0.0.3", "&healthy=false&ephemeral=false&clusterName=a"),
    ] {
        api.ok(
            "POST",
            &format!("/nacos/v1/ns/instance?serviceName=shop%40%40orders&namespaceId=dev&ip={ip}&port=80{extra}"),
        )
        .await;
    }
    // Disabled and unhealthy ones too, in cluster then address order.
    let want = json!({"ips": ["10.0.0.2:80_true", "10.0.0.3:80_false", "10.0.0.1:80_true"]});
    assert_eq!(statuses(&api, "dev%23%23shop%40%40orders").await, want);
    // Any method, as in Nacos; a key without group takes `groupName`.
    let (status, body) = api
        .call_with_body(
            "POST",
            "/nacos/v1/ns/instance/statuses",
            Some("key=dev%23%23orders&groupName=shop"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), want);
    // Another namespace, an unknown service: empty.
    assert_eq!(statuses(&api, "shop%40%40orders").await, json!({"ips": []}));
    assert_eq!(statuses(&api, "dev%23%23nobody").await, json!({"ips": []}));
    // Bad keys name `key`.
    for key in [
        "",
        "a%2Fb%23%23s",
        "%23%23s",
        "dev%23%23a%40%40",
        "dev%23%23a%40%40b%40%40c",
    ] {
        let (status, body) = api
            .call("GET", &format!("/nacos/v1/ns/instance/statuses?key={key}"))
            .await;
        assert_eq!(status, 400, "key={key}: {body}");
        assert!(body.contains("'key'"), "key={key}: {body}");
    }
}

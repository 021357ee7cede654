//! `PUT /nacos/v1/ns/cluster` through the router over a real `StandaloneControl`: the settings
//! land in the control plane and show in the service detail; each bad field answers 400
//! naming it; no control plane answers 501; auth wants a write on the service; and
//! `PUT /health/instance` is refused while the cluster's check runs, taken once it is `NONE`.
#![cfg(feature = "control")]

use std::sync::Arc;

use nacre::control::{ControlPlane, HealthChecker};
use nacre::http::NacosApi;
use nacre::probe::ControlChecks;
use nacre::{ClusterName, Instance, InstanceKey, Registry, ServiceKey};
use serde_json::json;

use super::namespaces::{call, control, Dir};

const CLUSTER: &str = "/nacos/v1/ns/cluster";
const HTTP_CHECK: &str = "%7B%22type%22%3A%22HTTP%22%2C%22path%22%3A%22%2Fhealth%22%7D";
const TCP_CHECK: &str = "%7B%22type%22%3A%22TCP%22%7D";
const NONE_CHECK: &str = "%7B%22type%22%3A%22NONE%22%7D";

/// A registry holding `orders` with one persistent instance in cluster `hz`.
fn registry() -> Registry {
    let registry = Registry::default();
    let instance = Instance::builder("10.0.0.7", 8080)
        .cluster("hz")
        .ephemeral(false)
        .build()
        .unwrap();
    registry.register_instance(&orders(), instance).unwrap();
    registry
}

fn orders() -> ServiceKey {
    ServiceKey::named("orders").unwrap()
}

fn hz() -> ClusterName {
    ClusterName::new("hz").unwrap()
}

fn put(checker: &str, extra: &str) -> String {
    format!(
        "{CLUSTER}?serviceName=orders&clusterName=hz&checkPort=80&useInstancePort4Check=true&healthChecker={checker}{extra}"
    )
}

#[tokio::test]
async fn settings_are_stored_and_shown_in_the_service_detail() {
    let dir = Dir::new("cluster-set");
    let control = control(&dir).await;
    let app = NacosApi::new(registry()).control(control.clone()).router();

    let answer = call(&app, "PUT", &put(HTTP_CHECK, "&metadata=zone%3Da")).await;
    assert_eq!(answer, (200, json!("ok")));
    let state = control.state();
    let settings = state.cluster_settings(&orders(), &hz()).unwrap();
    assert!(matches!(&settings.checker, HealthChecker::Http(h) if h.path == "/health"));
    assert_eq!(settings.metadata.get("zone").map(String::as_str), Some("a"));

    let (status, detail) = call(&app, "GET", "/nacos/v1/ns/service?serviceName=orders").await;
    assert_eq!(status, 200);
    assert_eq!(
        detail["clusters"][0],
        json!({
            "name": "hz",
            "healthChecker": {"type": "HTTP", "path": "/health", "headers": "", "expectedResponseCode": 200},
            "metadata": {"zone": "a"},
        })
    );
    let catalog = "/nacos/v1/ns/catalog/services?pageNo=1&pageSize=10&withInstances=true";
    let (_, services) = call(&app, "GET", catalog).await;
    let hz = &services[0]["clusterMap"]["hz"];
    assert_eq!(hz["healthChecker"]["type"], "HTTP");
    assert_eq!(hz["metadata"], json!({"zone": "a"}));
    control.shutdown().await;
}

#[tokio::test]
async fn each_bad_field_answers_400_naming_it_and_changes_nothing() {
    let dir = Dir::new("cluster-bad");
    let control = control(&dir).await;
    let app = NacosApi::new(registry()).control(control.clone()).router();
    let base = "serviceName=orders&clusterName=hz&checkPort=80&useInstancePort4Check=true";
    let cases = [
        (format!("{CLUSTER}?clusterName=hz&checkPort=80&useInstancePort4Check=true&healthChecker={TCP_CHECK}"), "serviceName"),
        (format!("{CLUSTER}?serviceName=orders&checkPort=80&useInstancePort4Check=true&healthChecker={TCP_CHECK}"), "clusterName"),
        (format!("{CLUSTER}?serviceName=orders&clusterName=a%2Cb&checkPort=80&useInstancePort4Check=true&healthChecker={TCP_CHECK}"), "clusterName"),
        (format!("{CLUSTER}?serviceName=orders&clusterName=hz&useInstancePort4Check=true&healthChecker={TCP_CHECK}"), "checkPort"),
        (format!("{CLUSTER}?serviceName=orders&clusterName=hz&checkPort=70000&useInstancePort4Check=true&healthChecker={TCP_CHECK}"), "checkPort"),
        (format!("{CLUSTER}?serviceName=orders&clusterName=hz&checkPort=0&useInstancePort4Check=false&healthChecker={TCP_CHECK}"), "checkPort"),
        (format!("{CLUSTER}?serviceName=orders&clusterName=hz&checkPort=80&healthChecker={TCP_CHECK}"), "useInstancePort4Check"),
        (format!("{CLUSTER}?serviceName=orders&clusterName=hz&checkPort=80&useInstancePort4Check=maybe&healthChecker={TCP_CHECK}"), "useInstancePort4Check"),
        (format!("{CLUSTER}?{base}"), "healthChecker"),
        (format!("{CLUSTER}?{base}&healthChecker=TCP"), "healthChecker"),
        (format!("{CLUSTER}?{base}&healthChecker=%7B%22type%22%3A%22MYSQL%22%7D"), "healthChecker"),
        (format!("{CLUSTER}?{base}&healthChecker=%7B%22type%22%3A%22HTTP%22%2C%22path%22%3A%22http%3A%2F%2F169.254.169.254%2F%22%7D"), "healthChecker.path"),
        (format!("{CLUSTER}?{base}&healthChecker=%7B%22type%22%3A%22HTTP%22%2C%22expectedResponseCode%22%3A99%7D"), "healthChecker.expectedResponseCode"),
        (format!("{CLUSTER}?{base}&healthChecker={TCP_CHECK}&metadata=nonsense"), "metadata"),
        (format!("{CLUSTER}?{base}&healthChecker={TCP_CHECK}&metadata=k%3D{}", "v".repeat(5000)), "metadata"),
    ];
    for (uri, field) in cases {
        let (status, body) = call(&app, "PUT", &uri).await;
        assert_eq!(status, 400, "{field}: {body}");
        assert!(body.as_str().unwrap().contains(field), "{field}: {body}");
    }
    let unknown = format!("{CLUSTER}?serviceName=ghost&clusterName=hz&checkPort=80&useInstancePort4Check=true&healthChecker={TCP_CHECK}");
    assert_eq!(
        call(&app, "PUT", &unknown).await,
        (
            400,
            json!("service not found groupName: DEFAULT_GROUP,serviceName: ghost")
        )
    );
    assert_eq!(control.state().clusters_of(&orders()).count(), 0);
    control.shutdown().await;
}

#[tokio::test]
async fn without_a_control_plane_the_route_says_so() {
    let app = NacosApi::new(registry()).router();
    let (status, body) = call(&app, "PUT", &put(TCP_CHECK, "")).await;
    assert_eq!(status, 501);
    assert!(body.as_str().unwrap().contains("control plane"), "{body}");
}

#[tokio::test]
async fn with_auth_setting_a_cluster_wants_a_write_on_the_service() {
    use nacre::auth::Authenticator;
    use nacre::front::access::Access;
    let dir = Dir::new("cluster-auth");
    let control = control(&dir).await;
    let users = super::auth::users_file(
        &[("reader", "readers"), ("writer", "writers")],
        &[("readers", ":*:*", "r"), ("writers", ":*:*", "rw")],
        "",
    );
    let auth = Authenticator::new(Arc::new(users), super::auth::key(1));
    let app = NacosApi::new(registry())
        .access(Access::new(Arc::new(auth)))
        .control(control.clone())
        .router();
    let reader = super::auth::token(&app, "reader").await;
    let writer = super::auth::token(&app, "writer").await;

    assert_eq!(call(&app, "PUT", &put(TCP_CHECK, "")).await.0, 403);
    let as_reader = put(TCP_CHECK, &format!("&accessToken={reader}"));
    assert_eq!(call(&app, "PUT", &as_reader).await.0, 403);
    assert_eq!(control.state().clusters_of(&orders()).count(), 0);
    let as_writer = put(TCP_CHECK, &format!("&accessToken={writer}"));
    assert_eq!(call(&app, "PUT", &as_writer).await, (200, json!("ok")));
    control.shutdown().await;
}

#[tokio::test]
async fn health_set_by_hand_is_refused_while_the_check_runs_and_taken_once_it_is_none() {
    let dir = Dir::new("cluster-health");
    let control = control(&dir).await;
    let registry = registry();
    let plane: Arc<dyn ControlPlane> = control.clone();
    let app = NacosApi::new(registry.clone())
        .control(plane.clone())
        .health_checks(Arc::new(ControlChecks(plane)))
        .router();
    let health = "/nacos/v1/ns/health/instance?serviceName=orders&clusterName=hz&ip=10.0.0.7&port=8080&healthy=false";
    let key = InstanceKey::new("hz", "10.0.0.7", 8080).unwrap();
    let healthy = || {
        registry
            .service(&orders())
            .and_then(|s| s.entry(&key).map(|e| e.healthy()))
            .unwrap()
    };

    // No settings: TCP, Nacos' default.
    assert_eq!(
        call(&app, "PUT", health).await,
        (
            400,
            json!("health check is still working, service: DEFAULT_GROUP@@orders, cluster: hz")
        )
    );
    assert!(healthy());
    let (_, detail) = call(&app, "GET", "/nacos/v1/ns/service?serviceName=orders").await;
    assert_eq!(
        detail["clusters"][0]["healthChecker"],
        json!({"type": "TCP"})
    );

    assert_eq!(call(&app, "PUT", &put(NONE_CHECK, "")).await.0, 200);
    assert_eq!(call(&app, "PUT", health).await, (200, json!("ok")));
    assert!(!healthy());
    control.shutdown().await;
}

//! Nacos' v2 open API (`/nacos/v2/ns/...`), the v3 admin naming routes beside it, and the v3
//! client and core state routes, driven by a real HTTP client (reqwest) against the router
//! served on a loopback port: the envelope, the data shapes, Nacos' error codes, and the same
//! access rules as the v1 routes.

use nacre::http::NacosApi;
use nacre::{Instance, Registry, ServiceKey};
use serde_json::{json, Value};
use std::net::SocketAddr;

struct Server {
    base: String,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(app: axum::Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, service).await;
    });
    Server {
        base: format!("http://{addr}"),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        task,
    }
}

impl Server {
    /// `method path` with `form` as an urlencoded body: the status and the body (JSON when it
    /// is JSON, else a JSON string).
    async fn call(&self, method: &str, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let answer = self
            .http
            .request(method, format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `call` that must succeed in the envelope; its `data`.
    async fn data(&self, method: &str, path: &str, form: &[(&str, &str)]) -> Value {
        let (status, body) = self.call(method, path, form).await;
        assert_eq!(status, 200, "{method} {path}: {body}");
        assert_eq!(
            (body["code"].as_i64(), body["message"].as_str()),
            (Some(0), Some("success")),
            "{method} {path}: {body}"
        );
        body["data"].clone()
    }

    /// `call` that must succeed with the data `"ok"`.
    async fn ok(&self, method: &str, path: &str, form: &[(&str, &str)]) {
        assert_eq!(self.data(method, path, form).await, "ok", "{method} {path}");
    }

    /// `call` that must fail with `status` and Nacos' `code`.
    async fn fails(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
        status: u16,
        code: i64,
    ) -> Value {
        let (got, body) = self.call(method, path, form).await;
        assert_eq!(
            (got, body["code"].as_i64()),
            (status, Some(code)),
            "{method} {path}: {body}"
        );
        body
    }
}

/// The service `shop@@orders`.
const SERVICE: [(&str, &str); 2] = [("serviceName", "orders"), ("groupName", "shop")];

const ORDERS: [(&str, &str); 4] = [
    ("serviceName", "orders"),
    ("groupName", "shop"),
    ("ip", "10.0.0.1"),
    ("port", "8080"),
];

fn with<'a>(base: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    base.iter().chain(extra).copied().collect()
}

fn hosts(info: &Value) -> Vec<String> {
    info["hosts"]
        .as_array()
        .unwrap_or_else(|| panic!("hosts: {info}"))
        .iter()
        .map(|h| format!("{}:{}", h["ip"].as_str().unwrap(), h["port"]))
        .collect()
}

#[tokio::test]
async fn an_instance_is_registered_read_changed_and_removed_through_v2() {
    let registry = Registry::default();
    let s = serve(NacosApi::new(registry.clone()).router()).await;
    let i = "/nacos/v2/ns/instance";
    assert_eq!(
        s.data("POST", i, &with(&ORDERS, &[("metadata", r#"{"v":"1"}"#)]))
            .await,
        "ok"
    );
    let other = [
        ("serviceName", "orders"),
        ("groupName", "shop"),
        ("ip", "10.0.0.2"),
        ("port", "8080"),
        ("clusterName", "b"),
    ];
    s.ok("POST", i, &other).await;

    let detail = s.data("GET", i, &ORDERS).await;
    assert_eq!(detail["serviceName"], "shop@@orders");
    assert_eq!(
        (detail["ip"].as_str(), detail["port"].as_u64()),
        (Some("10.0.0.1"), Some(8080))
    );
    assert_eq!(detail["metadata"], json!({"v":"1"}));
    assert_eq!(detail["clusterName"], "DEFAULT");

    let list = "/nacos/v2/ns/instance/list";
    let info = s.data("GET", list, &SERVICE).await;
    assert_eq!(info["name"], "shop@@orders");
    assert_eq!(hosts(&info), ["10.0.0.1:8080", "10.0.0.2:8080"]);
    let only_b = s
        .data("GET", list, &with(&SERVICE, &[("clusterName", "b")]))
        .await;
    assert_eq!(hosts(&only_b), ["10.0.0.2:8080"]);

    assert_eq!(
        s.data("PUT", i, &with(&ORDERS, &[("weight", "3")])).await,
        "ok"
    );
    let (status, body) = s
        .call("PATCH", i, &with(&ORDERS, &[("enabled", "false")]))
        .await;
    assert_eq!(
        (status, body),
        (200, Value::String("ok".into())),
        "PATCH answers bare text, as Nacos"
    );
    let key = ServiceKey::new("public", "shop", "orders").unwrap();
    let stored = registry.get_all_instances(&key, &[]);
    let one = stored
        .iter()
        .find(|i| i.ip().as_str() == "10.0.0.1")
        .unwrap();
    assert_eq!((one.weight(), one.enabled()), (3.0, false));
    let info = s.data("GET", list, &SERVICE).await;
    assert_eq!(
        hosts(&info),
        ["10.0.0.2:8080"],
        "a disabled instance is not listed"
    );

    let batch = "/nacos/v2/ns/instance/metadata/batch";
    let updated = s
        .data("PUT", batch, &with(&SERVICE, &[("metadata", "zone=a")]))
        .await;
    assert_eq!(updated["updated"].as_array().unwrap().len(), 2, "{updated}");

    // The beat answers bare, as Nacos.
    let (status, beat) = s
        .call("PUT", "/nacos/v2/ns/instance/beat", &with(&ORDERS, &[]))
        .await;
    assert_eq!(
        (status, beat["code"].as_i64()),
        (200, Some(10200)),
        "{beat}"
    );

    s.ok("DELETE", i, &ORDERS).await;
    s.ok("DELETE", i, &with(&other, &[])).await;
    let info = s.data("GET", list, &SERVICE).await;
    assert!(hosts(&info).is_empty());
}

#[tokio::test]
async fn errors_answer_in_the_envelope_with_nacos_codes() {
    let registry = Registry::default();
    let s = serve(NacosApi::new(registry.clone()).router()).await;
    let i = "/nacos/v2/ns/instance";
    let body = s
        .fails("POST", i, &[("ip", "10.0.0.1"), ("port", "80")], 400, 10000)
        .await;
    assert_eq!(body["message"], "parameter missing");
    assert!(
        body["data"].as_str().unwrap().contains("serviceName"),
        "{body}"
    );
    s.fails(
        "POST",
        i,
        &[
            ("serviceName", "orders"),
            ("ip", "10.0.0.1"),
            ("port", "0x"),
        ],
        400,
        20002,
    )
    .await;
    s.fails("POST", i, &with(&ORDERS, &[("weight", "-1")]), 400, 20002)
        .await;
    let body = s.fails("GET", i, &ORDERS, 404, 20004).await;
    assert_eq!(body["message"], "resource not found");

    let svc = "/nacos/v2/ns/service";
    let body = s
        .fails("GET", svc, &[("serviceName", "nowhere")], 400, 21008)
        .await;
    assert_eq!(body["message"], "service not exist");
    s.ok("POST", svc, &[("serviceName", "carts")]).await;
    s.fails("POST", svc, &[("serviceName", "carts")], 400, 21007)
        .await;
    s.fails(
        "PUT",
        svc,
        &[("serviceName", "nowhere"), ("protectThreshold", "0.5")],
        400,
        21008,
    )
    .await;
    registry
        .register_instance(
            &ServiceKey::named("carts").unwrap(),
            Instance::new("10.0.0.9", 80).unwrap(),
        )
        .unwrap();
    s.fails("DELETE", svc, &[("serviceName", "carts")], 400, 21009)
        .await;
    // Nothing was lost along the way.
    assert_eq!(
        registry
            .get_all_instances(&ServiceKey::named("carts").unwrap(), &[])
            .len(),
        1
    );
}

#[tokio::test]
async fn services_health_catalog_and_operator_routes() {
    let registry = Registry::default();
    let s = serve(NacosApi::new(registry.clone()).router()).await;
    let svc = "/nacos/v2/ns/service";
    let create = [
        ("serviceName", "orders"),
        ("groupName", "shop"),
        ("protectThreshold", "0.5"),
        ("metadata", r#"{"team":"a"}"#),
    ];
    s.ok("POST", svc, &create).await;
    for name in ["carts", "users"] {
        s.ok("POST", svc, &[("serviceName", name), ("groupName", "shop")])
            .await;
    }
    let persistent = with(&ORDERS, &[("ephemeral", "false"), ("clusterName", "db")]);
    s.ok("POST", "/nacos/v2/ns/instance", &persistent).await;
    let detail = s.data("GET", svc, &SERVICE).await;
    assert_eq!(
        (
            &detail["namespace"],
            &detail["serviceName"],
            &detail["groupName"]
        ),
        (&json!("public"), &json!("orders"), &json!("shop"))
    );
    assert_eq!(detail["protectThreshold"], 0.5);
    assert_eq!(detail["metadata"], json!({"team":"a"}));
    assert_eq!(detail["clusterMap"]["db"]["clusterName"], "db", "{detail}");
    s.ok("PUT", svc, &with(&SERVICE, &[("protectThreshold", "0.1")]))
        .await;

    let page = s
        .data("GET", "/nacos/v2/ns/service/list", &[("groupName", "shop")])
        .await;
    assert_eq!(
        page,
        json!({"count": 3, "services": ["carts", "orders", "users"]})
    );
    let page = s
        .data(
            "GET",
            "/nacos/v2/ns/service/list",
            &[("groupName", "shop"), ("pageNo", "2"), ("pageSize", "2")],
        )
        .await;
    assert_eq!(page, json!({"count": 3, "services": ["users"]}));
    s.ok(
        "DELETE",
        svc,
        &[("serviceName", "users"), ("groupName", "shop")],
    )
    .await;

    // A persistent instance's health, by hand (nothing checks it actively here).
    let health = with(&ORDERS, &[("clusterName", "db"), ("healthy", "false")]);
    s.ok("PUT", "/nacos/v2/ns/health/instance", &health).await;
    let all = s
        .data(
            "GET",
            "/nacos/v2/ns/catalog/instances",
            &[
                ("serviceName", "shop@@orders"),
                ("pageNo", "1"),
                ("pageSize", "10"),
            ],
        )
        .await;
    assert_eq!(
        (
            all["count"].as_u64(),
            all["instances"][0]["healthy"].as_bool()
        ),
        (Some(1), Some(false)),
        "{all}"
    );
    let healthy = s
        .data(
            "GET",
            "/nacos/v2/ns/catalog/instances",
            &[
                ("serviceName", "shop@@orders"),
                ("healthyOnly", "true"),
                ("pageNo", "1"),
                ("pageSize", "10"),
            ],
        )
        .await;
    assert_eq!(healthy, json!({"count": 0, "instances": []}));

    assert_eq!(
        s.data("GET", "/nacos/v2/ns/operator/metrics", &[]).await,
        json!({"status": "UP"})
    );
    let counts = s
        .data(
            "GET",
            "/nacos/v2/ns/ops/metrics",
            &[("onlyStatus", "false")],
        )
        .await;
    assert_eq!(
        (
            counts["serviceCount"].as_u64(),
            counts["instanceCount"].as_u64()
        ),
        (Some(2), Some(1)),
        "{counts}"
    );
    let switches = s.data("GET", "/nacos/v2/ns/operator/switches", &[]).await;
    assert_eq!(switches["clientBeatInterval"], 5000);
    assert_eq!(switches["defaultCacheMillis"], 3000);
    s.fails(
        "PUT",
        "/nacos/v2/ns/operator/switches",
        &[("entry", "pushEnabled"), ("value", "false")],
        400,
        20002,
    )
    .await;
    // The v3 admin routes answer as the v2 ones.
    let page = s
        .data(
            "GET",
            "/nacos/v3/admin/ns/service/list",
            &[("groupName", "shop")],
        )
        .await;
    assert_eq!(page["services"], json!(["carts", "orders"]));
    let partial = with(&ORDERS, &[("clusterName", "db"), ("weight", "7")]);
    s.ok("PUT", "/nacos/v3/admin/ns/instance/partial", &partial)
        .await;
    let detail = s
        .data(
            "GET",
            "/nacos/v3/admin/ns/instance",
            &with(&ORDERS, &[("clusterName", "db")]),
        )
        .await;
    assert_eq!(detail["weight"], 7.0);
}

#[tokio::test]
async fn the_v3_client_routes_register_beat_list_and_probe() {
    let registry = Registry::default();
    let s = serve(NacosApi::new(registry.clone()).router()).await;
    let i = "/nacos/v3/client/ns/instance";
    s.ok("POST", i, &ORDERS).await;
    let other = with(&ORDERS, &[("clusterName", "b"), ("ip", "10.0.0.2")]);
    // `with` keeps the first `ip`: build the other by hand.
    let other: Vec<_> = other
        .into_iter()
        .filter(|(k, v)| !(*k == "ip" && *v == "10.0.0.1"))
        .collect();
    s.ok("POST", i, &other).await;
    assert_eq!(
        s.data("POST", i, &with(&ORDERS, &[("heartBeat", "true")]))
            .await,
        "ok"
    );
    let unknown = [
        ("serviceName", "orders"),
        ("groupName", "shop"),
        ("ip", "10.9.9.9"),
        ("port", "1"),
        ("heartBeat", "true"),
    ];
    let (status, body) = s.call("POST", i, &unknown).await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"code": 21003, "message": "instance not found", "data": null})
        )
    );

    let list = "/nacos/v3/client/ns/instance/list";
    let hosts_default = s.data("GET", list, &SERVICE).await;
    let ips: Vec<&str> = hosts_default
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["ip"].as_str().unwrap())
        .collect();
    assert_eq!(ips, ["10.0.0.1"], "cluster DEFAULT unless named, as Nacos");
    let in_b = s
        .data("GET", list, &with(&SERVICE, &[("clusterName", "b")]))
        .await;
    assert_eq!(in_b.as_array().unwrap().len(), 1);
    s.ok("DELETE", i, &ORDERS).await;
    assert!(s
        .data("GET", list, &SERVICE)
        .await
        .as_array()
        .unwrap()
        .is_empty());

    s.ok("GET", "/nacos/v3/admin/core/state/liveness", &[])
        .await;
    s.ok("GET", "/nacos/v3/admin/core/state/readiness", &[])
        .await;
    let host = s.base.trim_start_matches("http://").to_owned();
    let nodes = s
        .data("GET", "/nacos/v3/admin/core/cluster/node/list", &[])
        .await;
    assert_eq!(nodes[0]["address"], host.as_str(), "{nodes}");
    assert_eq!(nodes[0]["state"], "UP");
    assert_eq!(nodes[0]["ip"], "127.0.0.1");
    let none = s
        .data(
            "GET",
            "/nacos/v3/admin/core/cluster/node/list",
            &[("state", "DOWN")],
        )
        .await;
    assert_eq!(none, json!([]));
    s.fails(
        "GET",
        "/nacos/v3/admin/core/cluster/node/list",
        &[("state", "SLEEPY")],
        400,
        23000,
    )
    .await;
}

#[cfg(feature = "auth")]
#[tokio::test]
async fn the_v2_and_v3_routes_keep_the_v1_access_rules() {
    use super::auth::{key, users_file};
    use nacre::front::access::Access;
    use std::sync::Arc;
    let users = users_file(
        &[("team", "orders-team")],
        &[],
        "[[permission]]\nrole = \"orders-team\"\nresource = \"public:shop:naming/orders\"\n\
         action = \"rw\"\nregister_cidrs = [\"10.0.0.0/24\"]\n",
    );
    let auth = nacre::auth::Authenticator::new(Arc::new(users), key(1));
    let registry = Registry::default();
    let s = serve(
        NacosApi::new(registry.clone())
            .access(Access::new(Arc::new(auth)))
            .router(),
    )
    .await;
    for path in [
        "/nacos/v2/ns/instance",
        "/nacos/v3/admin/ns/instance",
        "/nacos/v3/client/ns/instance",
    ] {
        let (status, _) = s.call("POST", path, &ORDERS).await;
        assert_eq!(status, 403, "{path} without credentials");
    }
    let (_, login) = s
        .call(
            "POST",
            "/nacos/v1/auth/login",
            &[("username", "team"), ("password", "pw")],
        )
        .await;
    let token = login["accessToken"].as_str().unwrap().to_owned();
    let t = [("accessToken", token.as_str())];
    s.ok("POST", "/nacos/v2/ns/instance", &with(&ORDERS, &t))
        .await;
    let outside = [
        ("serviceName", "orders"),
        ("groupName", "shop"),
        ("ip", "10.9.0.1"),
        ("port", "80"),
        ("accessToken", token.as_str()),
    ];
    for path in ["/nacos/v2/ns/instance", "/nacos/v3/client/ns/instance"] {
        let (status, body) = s.call("POST", path, &outside).await;
        assert_eq!(
            status, 403,
            "{path}: an address outside the team's block: {body}"
        );
    }
    let elsewhere = [
        ("serviceName", "carts"),
        ("groupName", "shop"),
        ("accessToken", token.as_str()),
    ];
    let (status, _) = s
        .call("GET", "/nacos/v2/ns/instance/list", &elsewhere)
        .await;
    assert_eq!(status, 403, "another service");
    let (status, _) = s.call("GET", "/nacos/v2/ns/operator/switches", &t).await;
    assert_eq!(status, 403, "the node's settings");
    // The probes stay open.
    s.ok("GET", "/nacos/v3/admin/core/state/liveness", &[])
        .await;
    let key = ServiceKey::new("public", "shop", "orders").unwrap();
    assert_eq!(registry.get_all_instances(&key, &[]).len(), 1);
}

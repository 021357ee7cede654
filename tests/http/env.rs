//! What the HTTP suites share: the Nacos API router on a manual clock driven in process,
//! and small readers of its answers.

use crate::common::registry_on;
use axum::body::Body;
use axum::http::Request;
use axum::Router;
use nacre::http::NacosApi;
use nacre::{ManualClock, Registry, ServiceKey};
use serde_json::Value;
use tower::ServiceExt;

pub(crate) struct Api {
    pub(crate) app: Router,
    pub(crate) registry: Registry,
    pub(crate) clock: ManualClock,
}

pub(crate) fn api() -> Api {
    let clock = ManualClock::new();
    let registry = registry_on(&clock);
    Api {
        app: NacosApi::new(registry.clone()).router(),
        registry,
        clock,
    }
}

impl Api {
    /// Sends `method uri` with `form` as an urlencoded body (if any); returns status and body.
    pub(crate) async fn call_with_body(
        &self,
        method: &str,
        uri: &str,
        form: Option<&str>,
    ) -> (u16, String) {
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

    pub(crate) async fn call(&self, method: &str, uri: &str) -> (u16, String) {
        self.call_with_body(method, uri, None).await
    }

    pub(crate) async fn ok(&self, method: &str, uri: &str) -> String {
        let (status, body) = self.call(method, uri).await;
        assert_eq!(status, 200, "{method} {uri}: {body}");
        body
    }

    pub(crate) async fn json(&self, method: &str, uri: &str) -> Value {
        let body = self.ok(method, uri).await;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{uri}: `{body}`: {e}"))
    }

    pub(crate) async fn list(&self, query: &str) -> Value {
        self.json("GET", &format!("/nacos/v1/ns/instance/list?{query}"))
            .await
    }
}

pub(crate) const ORDERS_10_0_0_1: &str = "serviceName=orders&ip=10.0.0.1&port=8080";

pub(crate) fn hosts(list: &Value) -> Vec<String> {
    list["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| format!("{}:{}", h["ip"].as_str().unwrap(), h["port"]))
        .collect()
}

pub(crate) fn orders() -> ServiceKey {
    ServiceKey::named("orders").unwrap()
}

/// Sends `method url` over real HTTP and asserts success; returns the JSON answer, or the body
/// as a JSON string when it is not JSON.
pub(crate) async fn http_json(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
) -> Value {
    let answer = client.request(method, &url).send().await.unwrap();
    let status = answer.status();
    let body = answer.text().await.unwrap();
    assert!(status.is_success(), "{url}: {status}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::String(body))
}

/// The status and body of `request` through `app`.
pub(crate) async fn send(app: &axum::Router, request: Request<Body>) -> (u16, String) {
    let answer = app.clone().oneshot(request).await.unwrap();
    let status = answer.status().as_u16();
    let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

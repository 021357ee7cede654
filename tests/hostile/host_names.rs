//! DNS rebinding: a page that points its own name at the node sends `Host: its-name`; the
//! console always, and the API on a loopback bind, answer only to names they know.

use crate::support::{exchange, status_of, Server};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use nacre::console::Console;
use nacre::http::{HostCheck, NacosApi};
use nacre::Registry;
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebinding_page_is_refused_by_the_api_and_the_console_on_a_loopback_bind() {
    // Before: every route answered whatever the Host.
    let server = Server::start(&[]);
    let port = server.http.port();
    let evil = format!("evil.example:{port}");
    for path in [
        "/nacos/v1/ns/service/list?pageNo=1&pageSize=10",
        "/console/api/namespaces",
        "/metrics",
    ] {
        assert_eq!(server.get(path, &evil).await, 421, "{path}");
        assert_eq!(
            server.get(path, &format!("127.0.0.1:{port}")).await,
            200,
            "{path}"
        );
        assert_eq!(
            server.get(path, &format!("localhost:{port}")).await,
            200,
            "{path}"
        );
    }
    let register = format!(
        "POST /nacos/v1/ns/instance?serviceName=rebound&ip=10.0.0.1&port=1 HTTP/1.1\r\n\
         Host: {evil}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    let answer = exchange(server.http, register.as_bytes()).await;
    assert_eq!(status_of(&answer), 421, "{answer}");
    assert!(answer.contains("--allowed-hosts"), "{answer}");
    let list = exchange(
        server.http,
        b"GET /nacos/v1/ns/instance/list?serviceName=rebound HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        list.contains("\"hosts\":[]"),
        "nothing was registered: {list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_names_are_answered() {
    let server = Server::start(&["--allowed-hosts", "nacos.internal,registry.example"]);
    let port = server.http.port();
    for host in ["nacos.internal", "NACOS.INTERNAL", "registry.example"] {
        let host = format!("{host}:{port}");
        assert_eq!(
            server.get("/console/api/namespaces", &host).await,
            200,
            "{host}"
        );
        assert_eq!(
            server
                .get("/nacos/v1/ns/service/list?pageNo=1&pageSize=1", &host)
                .await,
            200
        );
    }
    assert_eq!(
        server.get("/console/api/namespaces", "evil.example").await,
        421
    );
}

async fn status(app: axum::Router, uri: &str, host: &str) -> StatusCode {
    let request = Request::get(uri)
        .header("host", host)
        .body(Body::empty())
        .unwrap();
    app.oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn off_loopback_the_api_takes_any_name_and_the_console_still_checks() {
    // A networked server: Nacos clients reach it under whatever name it was given.
    let registry = Registry::default();
    let api = NacosApi::new(registry.clone()).router();
    let console = Console::new(registry.clone()).router();
    let uri = "/nacos/v1/ns/service/list?pageNo=1&pageSize=1";
    assert_eq!(
        status(api.clone(), uri, "registry.corp:8848").await,
        StatusCode::OK
    );
    assert_eq!(
        status(
            console.clone(),
            "/console/api/namespaces",
            "registry.corp:8848"
        )
        .await,
        StatusCode::MISDIRECTED_REQUEST
    );
    assert_eq!(
        status(console, "/console/api/namespaces", "10.0.0.5:8848").await,
        StatusCode::OK
    );
    let checked = NacosApi::new(registry)
        .host_check(HostCheck::new(["registry.corp"]))
        .router();
    assert_eq!(
        status(checked.clone(), uri, "registry.corp:8848").await,
        StatusCode::OK
    );
    assert_eq!(
        status(checked, uri, "evil.example").await,
        StatusCode::MISDIRECTED_REQUEST
    );
}

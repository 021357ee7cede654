//! Auth on the v1 API (feature `auth`) through the router: logins as Nacos clients send them,
//! every route refusing a request without a valid token or without the permission, and the
//! bypasses Nacos suffered.
#![cfg(feature = "auth")]

use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use nacre::auth::{Authenticator, TokenKey, UsersFile};
use nacre::http::NacosApi;
use nacre::{Registry, ServiceKey};
use std::sync::Arc;
use tower::ServiceExt;

fn key(byte: u8) -> TokenKey {
    TokenKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
}

fn users() -> UsersFile {
    let hash = bcrypt::hash("pw", 4).unwrap();
    UsersFile::parse(&format!(
        r#"
        [[user]]
        username = "writer"
        password_bcrypt = "{hash}"
        [[user]]
        username = "reader"
        password_bcrypt = "{hash}"
        [[role]]
        role = "writers"
        username = "writer"
        [[role]]
        role = "readers"
        username = "reader"
        [[permission]]
        role = "writers"
        resource = "public:*:*"
        action = "rw"
        [[permission]]
        role = "readers"
        resource = "public:*:*"
        action = "r"
        "#
    ))
    .unwrap()
}

fn app(registry: &Registry) -> axum::Router {
    let auth = Authenticator::new(Arc::new(users()), key(1));
    NacosApi::new(registry.clone())
        .access(Arc::new(auth))
        .router()
}

async fn send(app: &axum::Router, request: Request<Body>) -> (u16, String) {
    let answer = app.clone().oneshot(request).await.unwrap();
    let status = answer.status().as_u16();
    let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn post(uri: &str) -> Request<Body> {
    Request::post(uri).body(Body::empty()).unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn token(app: &axum::Router, user: &str) -> String {
    let (status, body) = send(
        app,
        post(&format!("/nacos/v1/auth/login?username={user}&password=pw")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["tokenTtl"], 18_000);
    assert_eq!(json["globalAdmin"], false);
    assert_eq!(json["username"], user);
    json["accessToken"].as_str().unwrap().to_owned()
}

const REGISTER: &str = "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=8080";
const LIST: &str = "/nacos/v1/ns/instance/list?serviceName=orders";

fn stored(registry: &Registry) -> usize {
    registry
        .get_all_instances(&ServiceKey::named("orders").unwrap(), &[])
        .len()
}

#[tokio::test]
async fn without_a_token_nothing_is_served_and_nothing_changes() {
    let registry = Registry::default();
    let app = app(&registry);
    for request in [
        post(REGISTER),
        get(LIST),
        get("/nacos/v1/ns/service/list?pageNo=1&pageSize=10"),
    ] {
        let (status, body) = send(&app, request).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("access token"), "{body}");
    }
    assert_eq!(stored(&registry), 0);
    // The probes stay open.
    let (status, _) = send(&app, get("/nacos/v1/console/health/liveness")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_writer_registers_and_a_reader_only_reads() {
    let registry = Registry::default();
    let app = app(&registry);
    let writer = token(&app, "writer").await;
    let (status, body) = send(&app, post(&format!("{REGISTER}&accessToken={writer}"))).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(stored(&registry), 1);
    // The reader logs in through the v3 route with a form body, and reads with a header.
    let login = Request::post("/nacos/v3/auth/user/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("username=reader&password=pw"))
        .unwrap();
    let (status, body) = send(&app, login).await;
    assert_eq!(status, 200, "{body}");
    let reader: serde_json::Value = serde_json::from_str(&body).unwrap();
    let reader = reader["accessToken"].as_str().unwrap().to_owned();
    let list = Request::get(LIST)
        .header("accessToken", &reader)
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(&app, list).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("10.0.0.1"), "{body}");
    let bearer = Request::get(LIST)
        .header("authorization", format!("Bearer {reader}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, bearer).await.0, 200);
    // Reading is all it may do.
    let deregister = Request::delete(format!("{REGISTER}&accessToken={reader}"))
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(&app, deregister).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("may not write"), "{body}");
    assert_eq!(stored(&registry), 1);
    // Another namespace is not covered by public:*:*.
    let other = format!(
        "/nacos/v1/ns/instance/list?serviceName=orders&namespaceId=dev&accessToken={reader}"
    );
    assert_eq!(send(&app, get(&other)).await.0, 403);
}

#[tokio::test]
async fn the_bypasses_nacos_suffered_do_not_work_here() {
    let registry = Registry::default();
    let app = app(&registry);
    // A forged agent.
    let forged = Request::post(REGISTER)
        .header("user-agent", "Nacos-Server")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, forged).await.0, 403);
    // A token signed with another key (another server's, or a well-known default).
    let foreign = key(2).issue("writer", 4_000_000_000);
    assert_eq!(
        send(&app, post(&format!("{REGISTER}&accessToken={foreign}")))
            .await
            .0,
        403
    );
    // An expired token.
    let expired = key(1).issue("writer", 1);
    let (status, body) = send(&app, post(&format!("{REGISTER}&accessToken={expired}"))).await;
    assert_eq!(status, 403);
    assert!(body.contains("expired"), "{body}");
    // alg: none.
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none"}"#),
        b64(r#"{"sub":"writer","exp":4000000000}"#)
    );
    assert_eq!(
        send(&app, post(&format!("{REGISTER}&accessToken={none}")))
            .await
            .0,
        403
    );
    // A user the store does not know, in a token signed with the right key.
    let ghost = key(1).issue("ghost", 4_000_000_000);
    assert_eq!(
        send(&app, post(&format!("{REGISTER}&accessToken={ghost}")))
            .await
            .0,
        403
    );
    assert_eq!(stored(&registry), 0);
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_a_guesser_waits() {
    let registry = Registry::default();
    let app = app(&registry);
    for _ in 0..10 {
        let (status, body) = send(
            &app,
            post("/nacos/v1/auth/login?username=writer&password=nope"),
        )
        .await;
        assert_eq!(status, 403, "{body}");
    }
    let (status, body) = send(
        &app,
        post("/nacos/v1/auth/users/login?username=writer&password=pw"),
    )
    .await;
    assert_eq!(status, 403);
    assert!(body.contains("too many"), "{body}");
}

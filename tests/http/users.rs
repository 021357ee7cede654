//! Nacos' user, role and permission API over a real `StandaloneControl` (features `control` and
//! `auth`): only the global admin manages them; a user created through the API logs in; a
//! permission granted takes effect at once, and so does a revocation or a deletion, for a token
//! already issued too; refusals say what was wrong in Nacos' words and change nothing.
#![cfg(all(feature = "control", feature = "auth"))]

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use nacre::auth::Authenticator;
use nacre::control::{ClosableControl, ControlPlane, LayeredIdentity};
use nacre::front::access::Access;
use nacre::http::NacosApi;
use nacre::Registry;
use serde_json::Value;

use super::auth::{key, send, token, users_file};
use super::namespaces::{control, Dir};

async fn setup(name: &str) -> (axum::Router, Arc<ClosableControl>, Dir) {
    let dir = Dir::new(&format!("users-{name}"));
    let control = control(&dir).await;
    let file = users_file(
        &[("admin", "ROLE_ADMIN"), ("reader", "readers")],
        &[("readers", "public:*:*", "r")],
        "",
    );
    let identity = Arc::new(LayeredIdentity::new(Arc::new(file)));
    let plane: Arc<dyn ControlPlane> = control.clone();
    assert!(identity.attach(plane));
    let auth = Authenticator::new(identity.clone(), key(3));
    let app = NacosApi::new(Registry::default())
        .access(Access::new(Arc::new(auth)))
        .control(control.clone())
        .users_api(identity)
        .router();
    (app, control, dir)
}

async fn call(app: &axum::Router, method: &str, uri: &str, token: &str) -> (u16, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("accessToken", token)
        .body(Body::empty())
        .unwrap();
    send(app, request).await
}

/// Nacos' success: `{"code":200,"message":null,"data":MESSAGE}`.
async fn done(app: &axum::Router, method: &str, uri: &str, token: &str, message: &str) {
    let (status, body) = call(app, method, uri, token).await;
    assert_eq!(status, 200, "{method} {uri}: {body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["code"], 200, "{body}");
    assert_eq!(json["data"], message, "{body}");
}

async fn login(app: &axum::Router, user: &str, password: &str) -> (u16, String) {
    let request = Request::post(format!(
        "/nacos/v1/auth/login?username={user}&password={password}"
    ))
    .body(Body::empty())
    .unwrap();
    let (status, body) = send(app, request).await;
    if status != 200 {
        return (status, body);
    }
    let json: Value = serde_json::from_str(&body).unwrap();
    (200, json["accessToken"].as_str().unwrap().to_owned())
}

const REGISTER: &str = "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=8080";

#[tokio::test]
async fn the_admin_manages_users_roles_and_permissions_and_they_take_effect_at_once() {
    let (app, control, _dir) = setup("lifecycle").await;
    let admin = token(&app, "admin").await;
    let reader = token(&app, "reader").await;

    // Only the global admin: reads too.
    for (method, uri) in [
        ("GET", "/nacos/v1/auth/users"),
        ("POST", "/nacos/v1/auth/users?username=x&password=y"),
        ("GET", "/nacos/v1/auth/roles"),
        ("GET", "/nacos/v1/auth/permissions"),
    ] {
        let (status, body) = call(&app, method, uri, &reader).await;
        assert_eq!(status, 403, "{method} {uri}: {body}");
    }
    assert_eq!(
        control.state().users_count(),
        0,
        "the reader created nothing"
    );

    done(
        &app,
        "POST",
        "/nacos/v1/auth/users?username=ops&password=ops-pw",
        &admin,
        "create user ok!",
    )
    .await;
    let (status, ops) = login(&app, "ops", "ops-pw").await;
    assert_eq!(status, 200, "{ops}");
    let (status, _) = login(&app, "ops", "wrong").await;
    assert_eq!(status, 403);
    let (status, body) = call(&app, "POST", REGISTER, &ops).await;
    assert_eq!(status, 403, "no role yet: {body}");

    done(
        &app,
        "POST",
        "/nacos/v1/auth/roles?role=deployers&username=ops",
        &admin,
        "add role ok!",
    )
    .await;
    done(
        &app,
        "POST",
        "/nacos/v1/auth/permissions?role=deployers&resource=public:*:*&action=rw",
        &admin,
        "add permission ok!",
    )
    .await;
    let (status, body) = call(&app, "POST", REGISTER, &ops).await;
    assert_eq!((status, body.as_str()), (200, "ok"), "granted");

    // The lists, in Nacos' page shape.
    let (status, body) = call(
        &app,
        "GET",
        "/nacos/v1/auth/users?pageNo=1&pageSize=10",
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let users: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(users["totalCount"], 1);
    assert_eq!(users["pagesAvailable"], 1);
    assert_eq!(users["pageItems"][0]["username"], "ops");
    assert_eq!(users["pageItems"][0]["password"], "", "no hash is shown");
    let (_, body) = call(&app, "GET", "/nacos/v1/auth/roles?username=ops", &admin).await;
    let roles: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        roles["pageItems"],
        serde_json::json!([{"role": "deployers", "username": "ops"}])
    );
    let (_, body) = call(
        &app,
        "GET",
        "/nacos/v1/auth/permissions?role=deploy&search=blur",
        &admin,
    )
    .await;
    let perms: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        perms["pageItems"],
        serde_json::json!([{"role": "deployers", "resource": "public:*:*", "action": "rw"}])
    );

    // Revoked: the token already issued loses the write at once.
    done(
        &app,
        "DELETE",
        "/nacos/v1/auth/permissions?role=deployers&resource=public:*:*&action=rw",
        &admin,
        "delete permission ok!",
    )
    .await;
    let (status, _) = call(&app, "POST", REGISTER, &ops).await;
    assert_eq!(status, 403, "revoked");

    // A new password: the old one no longer logs in.
    done(
        &app,
        "PUT",
        "/nacos/v1/auth/users?username=ops&newPassword=new-pw",
        &admin,
        "update user ok!",
    )
    .await;
    assert_eq!(login(&app, "ops", "ops-pw").await.0, 403);
    assert_eq!(login(&app, "ops", "new-pw").await.0, 200);

    // Deleted: its token is refused, and its bindings went with it.
    done(
        &app,
        "DELETE",
        "/nacos/v1/auth/users?username=ops",
        &admin,
        "delete user ok!",
    )
    .await;
    let (status, _) = call(
        &app,
        "GET",
        "/nacos/v1/ns/instance/list?serviceName=orders",
        &ops,
    )
    .await;
    assert_eq!(status, 403, "a deleted user's token");
    let (_, body) = call(&app, "GET", "/nacos/v1/auth/roles", &admin).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["totalCount"],
        0
    );
    control.shutdown().await;
}

#[tokio::test]
async fn refusals_say_what_was_wrong_and_change_nothing() {
    let (app, control, _dir) = setup("refusals").await;
    let admin = token(&app, "admin").await;
    done(
        &app,
        "POST",
        "/nacos/v1/auth/users?username=ops&password=p",
        &admin,
        "create user ok!",
    )
    .await;
    let before = control.state();
    for (method, uri, says) in [
        (
            "POST",
            "/nacos/v1/auth/users?username=ops&password=p",
            "user 'ops' already exist!",
        ),
        (
            "POST",
            "/nacos/v1/auth/users?username=admin&password=p",
            "defined in the users file",
        ),
        (
            "DELETE",
            "/nacos/v1/auth/users?username=reader",
            "defined in the users file",
        ),
        (
            "POST",
            "/nacos/v1/auth/users?password=p",
            "'username' is missing",
        ),
        (
            "POST",
            "/nacos/v1/auth/users?username=bad%20name&password=p",
            "spaces",
        ),
        (
            "PUT",
            "/nacos/v1/auth/users?username=ghost&newPassword=p",
            "user ghost not exist!",
        ),
        (
            "POST",
            "/nacos/v1/auth/roles?role=ROLE_ADMIN&username=ops",
            "ROLE_ADMIN",
        ),
        (
            "POST",
            "/nacos/v1/auth/roles?role=r&username=ghost",
            "user 'ghost' not found!",
        ),
        (
            "POST",
            "/nacos/v1/auth/permissions?role=nobody&resource=*:*:*&action=r",
            "role nobody not found!",
        ),
        (
            "POST",
            "/nacos/v1/auth/permissions?role=r&resource=*:*:*&action=rwx",
            "action must be r, w or rw",
        ),
        ("GET", "/nacos/v1/auth/users?pageNo=0", "pageNo"),
    ] {
        let (status, body) = call(&app, method, uri, &admin).await;
        assert_eq!(status, 400, "{method} {uri}: {body}");
        assert!(body.contains(says), "{method} {uri}: {body}");
    }
    let long = "x".repeat(80);
    let (status, body) = call(
        &app,
        "POST",
        &format!("/nacos/v1/auth/users?username=u&password={long}"),
        &admin,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(*control.state(), *before, "nothing changed");
    // A file user may be bound to an API role.
    done(
        &app,
        "POST",
        "/nacos/v1/auth/roles?role=extra&username=reader",
        &admin,
        "add role ok!",
    )
    .await;
    let (status, body) = call(
        &app,
        "POST",
        "/nacos/v1/auth/roles?role=extra&username=reader",
        &admin,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("already bound"), "{body}");
    control.shutdown().await;
}

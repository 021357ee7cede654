//! Nacos' namespace API through the router, over a real `StandaloneControl` on a temporary
//! file: Nacos' answers to create, list, get, update and delete; refusals with their reason;
//! the namespace still there after a restart on the same file; and with auth, readers that
//! cannot write.
#![cfg(feature = "control")]

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use nacre::control::{store, ClosableControl, StandaloneControl};
use nacre::http::NacosApi;
use nacre::Registry;
use serde_json::{json, Value};

use super::auth::send;

const V1: &str = "/nacos/v1/console/namespaces";
const V2: &str = "/nacos/v2/console/namespace";

/// A directory for one test, removed when dropped (the control-plane tests share it).
pub(super) struct Dir(pub(super) PathBuf);

impl Dir {
    /// A fresh directory named for the test.
    pub(super) fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("nacre-control-api-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A standalone control plane on `dir`'s store file.
pub(super) async fn control(dir: &Dir) -> Arc<ClosableControl> {
    let node = StandaloneControl::start(&dir.0.join(store::FILE_NAME), "standalone")
        .await
        .unwrap();
    Arc::new(ClosableControl::new(node))
}

fn request(method: &str, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap()
}

/// The status and the JSON of `method uri`.
pub(super) async fn call(app: &axum::Router, method: &str, uri: &str) -> (u16, Value) {
    let (status, body) = send(app, request(method, uri)).await;
    let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, json)
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|n| n["namespace"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn namespaces_are_created_listed_read_updated_and_deleted_with_nacos_answers() {
    let dir = Dir::new("ns-crud");
    let control = control(&dir).await;
    let registry = Registry::default();
    let app = NacosApi::new(registry.clone())
        .control(control.clone())
        .router();

    let created = format!(
        "{V1}?customNamespaceId=dev&namespaceName=Development&namespaceDesc=the%20dev%20stage"
    );
    assert_eq!(call(&app, "POST", &created).await, (200, json!(true)));
    let (status, list) = call(&app, "GET", V1).await;
    assert_eq!(status, 200);
    assert_eq!(list["code"], 200);
    assert_eq!(list["message"], Value::Null);
    assert_eq!(
        list["data"][0],
        json!({"namespace":"","namespaceShowName":"public","namespaceDesc":"Default Namespace",
               "quota":200,"configCount":0,"type":0,"created":true})
    );
    assert_eq!(
        list["data"][1],
        json!({"namespace":"dev","namespaceShowName":"Development","namespaceDesc":"the dev stage",
               "quota":200,"configCount":0,"type":2,"created":true})
    );
    let (status, one) = call(&app, "GET", &format!("{V1}?show=all&namespaceId=dev")).await;
    assert_eq!(
        (status, one["namespaceShowName"].clone()),
        (200, json!("Development"))
    );
    let exists = format!("{V1}?checkNamespaceIdExist=true&customNamespaceId=dev");
    assert_eq!(call(&app, "GET", &exists).await, (200, json!(true)));

    let update = format!("{V1}?namespace=dev&namespaceShowName=Dev&namespaceDesc=changed");
    assert_eq!(call(&app, "PUT", &update).await, (200, json!(true)));
    let (_, one) = call(&app, "GET", &format!("{V2}?namespaceId=dev")).await;
    assert_eq!(one["code"], 0);
    assert_eq!(one["message"], "success");
    assert_eq!(one["data"]["namespaceShowName"], "Dev");
    assert_eq!(one["data"]["namespaceDesc"], "changed");

    // A namespace that holds services but was never created is listed, marked.
    let register =
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=1&namespaceId=staging";
    assert_eq!(send(&app, request("POST", register)).await.0, 200);
    let (_, list) = call(&app, "GET", &format!("{V2}/list")).await;
    assert_eq!(ids(&list["data"]), ["", "dev", "staging"]);
    assert_eq!(list["data"][2]["created"], false);

    assert_eq!(
        call(&app, "DELETE", &format!("{V1}?namespaceId=dev")).await,
        (200, json!(true))
    );
    assert_eq!(call(&app, "GET", &exists).await, (200, json!(false)));
    let (status, _) = call(&app, "GET", &format!("{V1}?show=all&namespaceId=dev")).await;
    assert_eq!(status, 404);
    // v2 writes answer Nacos' Result.
    let v2_create = format!("{V2}?namespaceId=qa&namespaceName=QA");
    assert_eq!(
        call(&app, "POST", &v2_create).await,
        (200, json!({"code":0,"message":"success","data":true}))
    );
    control.shutdown().await;
}

#[tokio::test]
async fn bad_writes_are_refused_with_their_reason() {
    let dir = Dir::new("ns-refused");
    let control = control(&dir).await;
    let app = NacosApi::new(Registry::default())
        .control(control.clone())
        .router();
    let create = format!("{V1}?customNamespaceId=dev&namespaceName=Dev");
    assert_eq!(call(&app, "POST", &create).await, (200, json!(true)));

    let (status, body) = call(&app, "POST", &create).await;
    assert_eq!(status, 400);
    assert_eq!(body, json!("namespaceId [dev] already exist."));
    let (status, body) = call(
        &app,
        "POST",
        &format!("{V2}?namespaceId=dev&namespaceName=Dev"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], 22002);

    for bad_id in ["a%20b", "x%2Fy", "%C3%A9t%C3%A9", &"a".repeat(129)] {
        let uri = format!("{V1}?customNamespaceId={bad_id}&namespaceName=X");
        let (status, body) = call(&app, "POST", &uri).await;
        assert_eq!(status, 400, "{bad_id}: {body}");
        assert!(
            body.as_str().unwrap().starts_with("namespaceId ["),
            "{body}"
        );
    }
    let (status, body) = call(
        &app,
        "POST",
        &format!("{V2}?namespaceId=x%20y&namespaceName=X"),
    )
    .await;
    assert_eq!((status, body["code"].clone()), (400, json!(22000)));
    for bad_name in ["a%40b", "50%25", &"n".repeat(129), "tab%09"] {
        let uri = format!("{V1}?customNamespaceId=ok&namespaceName={bad_name}");
        let (status, body) = call(&app, "POST", &uri).await;
        assert_eq!(status, 400, "{bad_name}: {body}");
    }
    let (status, body) = call(&app, "POST", &format!("{V1}?customNamespaceId=ok")).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = call(&app, "POST", &format!("{V2}?namespaceName=X")).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"code":10000,"message":"parameter missing","data":"required parameter 'namespaceId' is missing"})
    );

    for public in [format!("{V1}?customNamespaceId=public&namespaceName=P")] {
        assert_eq!(call(&app, "POST", &public).await.0, 400);
    }
    let (status, body) = call(&app, "DELETE", &format!("{V1}?namespaceId=public")).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = call(
        &app,
        "PUT",
        &format!("{V1}?namespace=public&namespaceShowName=P"),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call(
        &app,
        "PUT",
        &format!("{V1}?namespace=nope&namespaceShowName=P"),
    )
    .await;
    assert_eq!(status, 404);

    // A blank id is made up, as Nacos does (a UUID).
    let (status, _) = call(
        &app,
        "POST",
        &format!("{V1}?customNamespaceId=&namespaceName=Anon"),
    )
    .await;
    assert_eq!(status, 200);
    let (_, list) = call(&app, "GET", V1).await;
    let made = ids(&list["data"]).into_iter().find(|id| id.len() == 36);
    assert!(made.is_some(), "{list}");
    control.shutdown().await;
}

#[tokio::test]
async fn namespaces_survive_a_restart_on_the_same_file() {
    let dir = Dir::new("ns-restart");
    let control_a = control(&dir).await;
    let app = NacosApi::new(Registry::default())
        .control(control_a.clone())
        .router();
    let create = format!("{V1}?customNamespaceId=kept&namespaceName=Kept");
    assert_eq!(call(&app, "POST", &create).await, (200, json!(true)));
    drop(app);
    control_a.shutdown().await;

    let control_b = control(&dir).await;
    let app = NacosApi::new(Registry::default())
        .control(control_b.clone())
        .router();
    let (_, list) = call(&app, "GET", V1).await;
    assert_eq!(ids(&list["data"]), ["", "kept"]);
    assert_eq!(list["data"][1]["namespaceShowName"], "Kept");
    control_b.shutdown().await;
}

#[tokio::test]
async fn with_auth_a_reader_lists_what_it_may_read_and_only_the_admin_writes() {
    use nacre::auth::Authenticator;
    use nacre::front::access::Access;
    let dir = Dir::new("ns-auth");
    let control = control(&dir).await;
    let users = super::auth::users_file(
        &[("reader", "readers"), ("admin", "ROLE_ADMIN")],
        &[("readers", "dev:*:*", "r")],
        "",
    );
    let auth = Authenticator::new(Arc::new(users), super::auth::key(1));
    let app = NacosApi::new(Registry::default())
        .access(Access::new(Arc::new(auth)))
        .control(control.clone())
        .router();
    let reader = super::auth::token(&app, "reader").await;
    let admin = super::auth::token(&app, "admin").await;

    let create = |id: &str, token: &str| {
        format!("{V1}?customNamespaceId={id}&namespaceName={id}&accessToken={token}")
    };
    assert_eq!(call(&app, "POST", &create("dev", "")).await.0, 403);
    assert_eq!(call(&app, "POST", &create("dev", &reader)).await.0, 403);
    assert_eq!(call(&app, "GET", V1).await.0, 403, "no token");
    assert_eq!(
        call(&app, "POST", &create("dev", &admin)).await,
        (200, json!(true))
    );
    assert_eq!(
        call(&app, "POST", &create("ops", &admin)).await,
        (200, json!(true))
    );

    let (status, list) = call(&app, "GET", &format!("{V1}?accessToken={reader}")).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&list["data"]), ["dev"]);
    let (_, list) = call(&app, "GET", &format!("{V1}?accessToken={admin}")).await;
    assert_eq!(ids(&list["data"]), ["", "dev", "ops"]);
    let hidden = format!("{V1}?show=all&namespaceId=ops&accessToken={reader}");
    assert_eq!(call(&app, "GET", &hidden).await.0, 403);
    let delete = format!("{V1}?namespaceId=dev&accessToken={reader}");
    assert_eq!(call(&app, "DELETE", &delete).await.0, 403);
    let delete = format!("{V1}?namespaceId=dev&accessToken={admin}");
    assert_eq!(call(&app, "DELETE", &delete).await, (200, json!(true)));
    control.shutdown().await;
}

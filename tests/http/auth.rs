//! Auth on the v1 API (feature `auth`) through the router: logins as Nacos clients send them,
//! every route refusing a request without a valid token or without the permission, and the
//! bypasses Nacos suffered.
#![cfg(feature = "auth")]

use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use nacre::auth::{Authenticator, TokenKey, UsersFile};
use nacre::front::access::Access;
use nacre::http::NacosApi;
use nacre::{Registry, ServiceKey};
use std::sync::Arc;

pub(super) fn key(byte: u8) -> TokenKey {
    TokenKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
}

/// A users file: each `(username, role)` of `users` with the password `pw`, each
/// `(role, resource, action)` of `permissions`, then the TOML `extra` as it is.
pub(super) fn users_file(
    users: &[(&str, &str)],
    permissions: &[(&str, &str, &str)],
    extra: &str,
) -> UsersFile {
    let hash = bcrypt::hash("pw", 4).unwrap();
    let mut text = String::new();
    for (username, role) in users {
        text.push_str(&format!(
            "[[user]]\nusername = \"{username}\"\npassword_bcrypt = \"{hash}\"\n\
             [[role]]\nrole = \"{role}\"\nusername = \"{username}\"\n"
        ));
    }
    for (role, resource, action) in permissions {
        text.push_str(&format!(
            "[[permission]]\nrole = \"{role}\"\nresource = \"{resource}\"\naction = \"{action}\"\n"
        ));
    }
    UsersFile::parse(&(text + extra)).unwrap()
}

fn users() -> UsersFile {
    users_file(
        &[
            ("writer", "writers"),
            ("reader", "readers"),
            ("team", "orders-team"),
            ("admin", "ROLE_ADMIN"),
        ],
        &[("writers", "public:*:*", "rw"), ("readers", "public:*:*", "r")],
        "[[permission]]\nrole = \"orders-team\"\nresource = \"public:DEFAULT_GROUP:naming/orders\"\n\
         action = \"rw\"\nregister_cidrs = [\"10.0.0.0/24\"]\n",
    )
}

fn app(registry: &Registry) -> axum::Router {
    let auth = Authenticator::new(Arc::new(users()), key(1));
    NacosApi::new(registry.clone())
        .access(Access::new(Arc::new(auth)))
        .router()
}

pub(super) use super::env::send;

fn post(uri: &str) -> Request<Body> {
    Request::post(uri).body(Body::empty()).unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

pub(super) async fn token(app: &axum::Router, user: &str) -> String {
    let (status, body) = send(
        app,
        post(&format!("/nacos/v1/auth/login?username={user}&password=pw")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["tokenTtl"], 18_000);
    assert_eq!(json["globalAdmin"], user == "admin");
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
    // The probes stay open, and so does the server list a client asks before it logs in.
    let (status, _) = send(&app, get("/nacos/v1/console/health/liveness")).await;
    assert_eq!(status, 200);
    let listed = Request::get("/nacos/serverlist")
        .header("host", "127.0.0.1:8848")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&app, listed).await,
        (200, "127.0.0.1:8848\n".to_owned())
    );
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

/// The body of a `GET` of `uri` with `token`, which must answer 200.
async fn read(app: &axum::Router, uri: &str, token: &str) -> serde_json::Value {
    let sep = if uri.contains('?') { '&' } else { '?' };
    let (status, body) = send(app, get(&format!("{uri}{sep}accessToken={token}"))).await;
    assert_eq!(status, 200, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn a_listing_shows_a_caller_only_what_it_may_read() {
    let registry = Registry::default();
    let app = app(&registry);
    let admin = token(&app, "admin").await;
    for (ns, service) in [
        ("public", "orders"),
        ("public", "billing"),
        ("dev", "orders"),
    ] {
        let uri = format!(
            "/nacos/v1/ns/instance?serviceName={service}&namespaceId={ns}&ip=10.0.0.1&port=1&accessToken={admin}"
        );
        assert_eq!(send(&app, post(&uri)).await.0, 200);
    }
    let team = token(&app, "team").await;
    let reader = token(&app, "reader").await;
    let list = "/nacos/v1/ns/service/list?pageNo=1&pageSize=10";
    let json = read(&app, list, &team).await;
    assert_eq!(
        (json["count"].clone(), json["doms"].clone()),
        (1.into(), serde_json::json!(["orders"]))
    );
    let json = read(&app, &format!("{list}&groupName=*"), &team).await;
    assert_eq!(json["doms"], serde_json::json!(["DEFAULT_GROUP@@orders"]));
    let json = read(&app, list, &reader).await;
    assert_eq!(json["doms"], serde_json::json!(["billing", "orders"]));
    let json = read(
        &app,
        "/nacos/v1/ns/catalog/services?pageNo=1&pageSize=10",
        &team,
    )
    .await;
    assert_eq!(json["count"], 1);
    assert_eq!(json["serviceList"][0]["name"], "orders");
    // Every namespace's names: the admin sees all, a reader of public only public's.
    let names = "/nacos/v1/ns/service/names";
    let json = read(&app, names, &admin).await;
    assert_eq!(json["count"], 3);
    let json = read(&app, names, &reader).await;
    assert_eq!(json["count"], 2);
    assert!(!json.to_string().contains("dev"), "{json}");
    let json = read(&app, names, &team).await;
    assert_eq!(json["count"], 1);
    // A listing of a namespace the caller may read nothing of is empty, not an error.
    let json = read(&app, &format!("{list}&namespaceId=dev"), &reader).await;
    assert_eq!(json["count"], 0);
    // The node's counters are the admin's.
    let metrics = "/nacos/v1/ns/operator/metrics";
    let (status, body) = send(&app, get(&format!("{metrics}?accessToken={reader}"))).await;
    assert_eq!(status, 403, "{body}");
    read(&app, metrics, &admin).await;
    // An instance's timeline is read as its service is: public's, not dev's.
    let timeline = "/nacre/v1/ns/instance/timeline?serviceName=orders&ip=10.0.0.1&port=8080";
    read(&app, timeline, &reader).await;
    let (status, body) = send(
        &app,
        get(&format!("{timeline}&namespaceId=dev&accessToken={reader}")),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // The failure preview describes the node: the admin's (a standalone node has none).
    let preview = "/nacre/v1/cluster/preview?stop=127.0.0.1:8848";
    let (status, body) = send(&app, get(&format!("{preview}&accessToken={reader}"))).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = send(&app, get(&format!("{preview}&accessToken={admin}"))).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_registration_outside_the_permitted_addresses_is_refused() {
    let registry = Registry::default();
    let app = app(&registry);
    let team = token(&app, "team").await;
    let at = |ip: &str| {
        format!("/nacos/v1/ns/instance?serviceName=orders&ip={ip}&port=8080&accessToken={team}")
    };
    assert_eq!(send(&app, post(&at("10.0.0.7"))).await.0, 200);
    let (status, body) = send(&app, post(&at("10.0.1.7"))).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("may not write"), "{body}");
    // An update that moves nothing but names another address is a registration too.
    let update = Request::put(at("192.168.0.1")).body(Body::empty()).unwrap();
    assert_eq!(send(&app, update).await.0, 403);
    // A beat carrying its instance registers it: the same rule.
    let beat = r#"{"ip":"10.9.9.9","port":8080,"serviceName":"orders","cluster":"DEFAULT"}"#;
    let uri = format!(
        "/nacos/v1/ns/instance/beat?serviceName=orders&accessToken={team}&beat={}",
        form_urlencoded::byte_serialize(beat.as_bytes()).collect::<String>()
    );
    let (status, body) = send(&app, Request::put(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, 403, "{body}");
    let ips: Vec<String> = registry
        .get_all_instances(&ServiceKey::named("orders").unwrap(), &[])
        .iter()
        .map(|i| i.ip().to_string())
        .collect();
    assert_eq!(ips, ["10.0.0.7"]);
    // A deregistration registers nothing.
    let gone = Request::delete(at("10.0.0.7")).body(Body::empty()).unwrap();
    assert_eq!(send(&app, gone).await.0, 200);
    assert_eq!(stored(&registry), 0);
}

/// The peer route keeps the cluster secret: a user's token, even the admin's, in any place a
/// token goes (the query, an `accessToken` header, a bearer credential, the secret's own
/// header), reaches nothing.
#[tokio::test]
async fn the_peer_route_never_takes_a_user_token() {
    use nacre::cluster::{ClusterNode, ClusterSecret, Envelope, NodeId, PeerAuth, PeerRequest};
    let clock = nacre::ManualClock::new();
    let ids: Vec<NodeId> = ["n1", "n2"]
        .iter()
        .map(|s| NodeId::new(s).unwrap())
        .collect();
    let net = nacre::transport::memory::MemoryNetwork::new(Arc::new(clock.clone()), 1);
    let node = ClusterNode::builder(ids[0].clone(), ids.clone(), net.transport(&ids[0]))
        .clock(clock)
        .build()
        .unwrap();
    let secret = ClusterSecret::new("the-cluster-secret-0123456789").unwrap();
    let auth = Authenticator::new(Arc::new(users()), key(1));
    let app = NacosApi::new(node)
        .peer_auth(PeerAuth::Secret(secret))
        .access(Access::new(Arc::new(auth)))
        .router();
    let admin = token(&app, "admin").await;
    let ping = serde_json::to_string(&Envelope {
        from: ids[1].clone(),
        request: PeerRequest::Ping { ready: true },
    })
    .unwrap();
    let version = nacre::cluster::WIRE_VERSION.to_string();
    for (uri, header) in [
        (format!("/nacre/v1/peer?accessToken={admin}"), None),
        (
            "/nacre/v1/peer".to_owned(),
            Some(("accessToken", admin.clone())),
        ),
        (
            "/nacre/v1/peer".to_owned(),
            Some(("authorization", format!("Bearer {admin}"))),
        ),
        (
            "/nacre/v1/peer".to_owned(),
            Some(("x-nacre-cluster-secret", admin.clone())),
        ),
    ] {
        let mut request = Request::post(&uri)
            .header("content-type", "application/json")
            .header("x-nacre-peer-version", &version);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        let (status, body) = send(&app, request.body(Body::from(ping.clone())).unwrap()).await;
        assert_eq!(status, 403, "{uri}: {body}");
        assert!(body.contains("cluster secret"), "{body}");
    }
}

/// The check reads a body under the router's own limit (`--max-body-bytes` in the server):
/// what the route would take, the check takes, and nothing more.
#[tokio::test]
async fn the_check_reads_a_body_under_the_routers_limit() {
    let registry = Registry::default();
    let app = app(&registry).layer(axum::extract::DefaultBodyLimit::max(4096));
    let writer = token(&app, "writer").await;
    let form = |padding: usize| {
        Request::post("/nacos/v1/ns/instance")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "serviceName=orders&ip=10.0.0.1&port=8080&accessToken={writer}&pad={}",
                "x".repeat(padding)
            )))
            .unwrap()
    };
    assert_eq!(send(&app, form(8192)).await.0, 413);
    assert_eq!(stored(&registry), 0);
    let (status, body) = send(&app, form(100)).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
}

/// A request may carry `username` and `password` instead of a token, as the npm client
/// `nacos-naming` sends them on every request (Nacos logs such a request in).
#[tokio::test]
async fn a_request_with_a_username_and_password_is_checked_as_a_login() {
    let registry = Registry::default();
    let app = app(&registry);
    let as_user = |user: &str, password: &str| {
        post(&format!("{REGISTER}&username={user}&password={password}"))
    };
    let (status, body) = send(&app, as_user("writer", "pw")).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, body) = send(&app, as_user("reader", "pw")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("may not write"), "{body}");
    let (status, body) = send(&app, as_user("writer", "wrong")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("wrong password"), "{body}");
    // A token, when there is one, is what counts.
    let reader = token(&app, "reader").await;
    let both = post(&format!(
        "{REGISTER}&accessToken={reader}&username=writer&password=pw"
    ));
    assert_eq!(send(&app, both).await.0, 403);
    assert_eq!(stored(&registry), 1);
}

/// A metadata batch changes the instances it lists: a caller limited to address blocks may
/// list only instances in them, and must list them (an empty list means every instance).
#[tokio::test]
async fn a_metadata_batch_is_held_to_the_permitted_addresses() {
    let registry = Registry::default();
    let app = app(&registry);
    let team = token(&app, "team").await;
    let writer = token(&app, "writer").await;
    let register = format!(
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.1.7&port=8080&accessToken={writer}"
    );
    assert_eq!(send(&app, post(&register)).await.0, 200);
    let batch = |token: &str, instances: Option<&str>| {
        let list = instances
            .map(|i| {
                format!(
                    "&instances={}",
                    form_urlencoded::byte_serialize(i.as_bytes()).collect::<String>()
                )
            })
            .unwrap_or_default();
        Request::put(format!(
            "/nacos/v1/ns/instance/metadata/batch?serviceName=orders&metadata=a%3Db{list}&accessToken={token}"
        ))
        .body(Body::empty())
        .unwrap()
    };
    let outside = r#"[{"ip":"10.0.1.7","port":8080}]"#;
    let (status, body) = send(&app, batch(&team, Some(outside))).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = send(&app, batch(&team, None)).await;
    assert_eq!(
        status, 403,
        "every instance is more than the team's block: {body}"
    );
    let orders = ServiceKey::named("orders").unwrap();
    let untouched = registry.get_all_instances(&orders, &[]);
    assert!(untouched.iter().all(|i| i.metadata().is_empty()));
    let inside = r#"[{"ip":"10.0.0.7","port":8080}]"#;
    let (status, body) = send(&app, batch(&team, Some(inside))).await;
    assert_eq!((status, body.as_str()), (200, r#"{"updated":[]}"#));
    // A writer without blocks changes every instance.
    let (status, body) = send(&app, batch(&writer, None)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("10.0.1.7:8080"), "{body}");
    // PATCH changes an existing instance's weight: the same rule as PUT.
    let patch = Request::patch(format!(
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.1.7&port=8080&weight=0&accessToken={team}"
    ))
    .body(Body::empty())
    .unwrap();
    assert_eq!(send(&app, patch).await.0, 403);
}

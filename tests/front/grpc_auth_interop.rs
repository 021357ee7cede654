//! The real Rust Nacos client, `nacos-sdk` 0.8 with its `auth-by-http` plugin (it logs in with
//! `POST /nacos/v1/auth/login` and sends the token in each gRPC request's headers), against a
//! `nacre-server` process with auth on (`--users-file`, `--token-secret-file`): three
//! identities against one server. A writer registers, lists, subscribes and is pushed a change;
//! a reader lists, subscribes and is pushed the writer's change, and its registration and
//! deregistration are refused (error code 403) and never land, not even through the client's
//! redo task; a client without credentials can do nothing; one with a wrong password neither.
//! And a fourth, who may read one group only, is listed that group's services and no other's.

use super::grpc_interop::{instance, naming_as, start_server, Events, GROUP};
use crate::common::fixtures::TempDir;
use nacos_sdk::api::naming::NamingService;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WRITER: (&str, &str) = ("writer", "writer-pw-rust");
const READER: (&str, &str) = ("reader", "reader-pw-rust");
/// May read the group `shop` of the public namespace only.
const SHOP_READER: (&str, &str) = ("shop-reader", "shop-reader-pw-rust");
const SERVICE: &str = "secured-rs";
/// A token key for the test: 37 bytes, base64.
const TOKEN_KEY: &str = "bmFjcmUtdGVzdC1rZXktYXQtbGVhc3QtMzItYnl0ZXMtbG9uZw==";

/// The bcrypt hash of `password`, as `nacre-server hash-password` makes it.
fn hash_password(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nacre-server"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("nacre-server hash-password starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "hash-password failed: {out:?}");
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(hash.starts_with("$2"), "not a bcrypt hash: {hash}");
    hash
}

/// Writes the users file (the writer may read and write the public namespace, the reader only
/// read it, the shop reader only read its group `shop`) and the token key into `dir`; answers
/// the flags that turn auth on with them.
fn auth_files(dir: &TempDir) -> Vec<String> {
    std::fs::create_dir_all(&dir.0).unwrap();
    let mut users = String::new();
    for (role, (name, password), resource, action) in [
        ("writers", WRITER, "public:*:*", "rw"),
        ("readers", READER, "public:*:*", "r"),
        ("shop", SHOP_READER, "public:shop:*", "r"),
    ] {
        users.push_str(&format!(
            "[[user]]\nusername = \"{name}\"\npassword_bcrypt = \"{}\"\n\
             [[role]]\nrole = \"{role}\"\nusername = \"{name}\"\n\
             [[permission]]\nrole = \"{role}\"\nresource = \"{resource}\"\naction = \"{action}\"\n",
            hash_password(password)
        ));
    }
    let users_file = dir.0.join("users.toml");
    let key_file = dir.0.join("token.secret");
    std::fs::write(&users_file, users).unwrap();
    std::fs::write(&key_file, TOKEN_KEY).unwrap();
    vec![
        "--users-file".into(),
        users_file.display().to_string(),
        "--token-secret-file".into(),
        key_file.display().to_string(),
    ]
}

/// `ip:port` of every instance of the service, sorted, as `ns` may query it.
async fn listed(ns: &NamingService) -> nacos_sdk::api::error::Result<Vec<String>> {
    let all = ns
        .get_all_instances(SERVICE.into(), Some(GROUP.into()), Vec::new(), false)
        .await?;
    let mut ips: Vec<String> = all.iter().map(|i| format!("{}:{}", i.ip, i.port)).collect();
    ips.sort();
    Ok(ips)
}

async fn register(ns: &NamingService, ip: &str) -> nacos_sdk::api::error::Result<()> {
    ns.register_instance(SERVICE.into(), Some(GROUP.into()), instance(ip, 8080))
        .await
}

async fn deregister(ns: &NamingService, ip: &str) -> nacos_sdk::api::error::Result<()> {
    ns.deregister_instance(SERVICE.into(), Some(GROUP.into()), instance(ip, 8080))
        .await
}

/// What the client reports of a refused write: the response's codes.
const WRITE_REFUSED: &str = "error_code=403";
/// What it reports of a refused query: nacre's refusal carries an empty `serviceInfo`, which
/// this client's QueryServiceResponse requires (against Nacos, which leaves it out, the client
/// fails to parse the answer), so it reports the codes.
const QUERY_REFUSED: &str = "error_code=403";
/// What it reports of a refused service list, likewise: the refusal carries the `count` its
/// ServiceListResponse requires.
const LIST_REFUSED: &str = "error_code=403";

/// `result` is an error, and the client's report of it says `says`.
fn refused<T: std::fmt::Debug>(what: &str, result: nacos_sdk::api::error::Result<T>, says: &str) {
    match result {
        Ok(ok) => panic!("{what} was not refused: {ok:?}"),
        Err(e) => {
            let text = e.to_string();
            eprintln!("{what}: {text}");
            assert!(text.contains(says), "{what}: {text}, expected {says}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_sdk_rust_logs_in_and_is_held_to_its_permissions() {
    let dir = TempDir::new("grpc-auth-interop");
    let args = auth_files(&dir);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_server, http, grpc) = start_server(&args);
    let writer = naming_as(http, grpc, "writer", Some(WRITER)).await;
    let reader = naming_as(http, grpc, "reader", Some(READER)).await;
    let nobody = naming_as(http, grpc, "nobody", None).await;

    // The writer registers, lists, subscribes and is pushed its second instance.
    register(&writer, "10.7.0.1").await.unwrap();
    assert_eq!(listed(&writer).await.unwrap(), ["10.7.0.1:8080"]);
    let writer_events = Arc::new(Events::default());
    writer
        .subscribe(
            SERVICE.into(),
            Some(GROUP.into()),
            Vec::new(),
            writer_events.clone(),
        )
        .await
        .unwrap();
    register(&writer, "10.7.0.2").await.unwrap();
    writer_events
        .until(&["10.7.0.1:8080", "10.7.0.2:8080"])
        .await;
    let (services, _) = writer
        .get_service_list(1, 10, Some(GROUP.into()))
        .await
        .unwrap();
    assert_eq!(services, [SERVICE]);

    // A service list shows only what the caller may read: the shop reader sees the services of
    // the group `shop`, none of DEFAULT_GROUP's; it may query the one, not the other.
    writer
        .register_instance(
            "cart".into(),
            Some("shop".into()),
            instance("10.7.1.1", 8080),
        )
        .await
        .unwrap();
    let shop_reader = naming_as(http, grpc, "shop-reader", Some(SHOP_READER)).await;
    let shop = shop_reader
        .get_service_list(1, 10, Some("shop".into()))
        .await
        .unwrap();
    assert_eq!(shop, (vec!["cart".to_owned()], 1));
    let default = shop_reader
        .get_service_list(1, 10, Some(GROUP.into()))
        .await
        .unwrap();
    assert_eq!(default, (Vec::new(), 0));
    let carts = shop_reader
        .get_all_instances("cart".into(), Some("shop".into()), Vec::new(), false)
        .await
        .unwrap();
    assert_eq!(carts.len(), 1);
    refused(
        "the shop reader's query of DEFAULT_GROUP",
        listed(&shop_reader).await,
        QUERY_REFUSED,
    );
    writer
        .deregister_instance(
            "cart".into(),
            Some("shop".into()),
            instance("10.7.1.1", 8080),
        )
        .await
        .unwrap();

    // The reader lists, subscribes and is pushed the writer's deregistration...
    assert_eq!(
        listed(&reader).await.unwrap(),
        ["10.7.0.1:8080", "10.7.0.2:8080"]
    );
    let reader_events = Arc::new(Events::default());
    reader
        .subscribe(
            SERVICE.into(),
            Some(GROUP.into()),
            Vec::new(),
            reader_events.clone(),
        )
        .await
        .unwrap();
    deregister(&writer, "10.7.0.2").await.unwrap();
    reader_events.until(&["10.7.0.1:8080"]).await;
    writer_events.until(&["10.7.0.1:8080"]).await;
    // ...and may not write; its refused registration never lands, though the client's redo
    // task retries it every 3 s: watch past two rounds. (A deregistration in the service ends
    // that redo, so the reader tries one only after.)
    refused(
        "the reader's register",
        register(&reader, "10.7.0.9").await,
        WRITE_REFUSED,
    );
    let until = Instant::now() + Duration::from_secs(7);
    while Instant::now() < until {
        assert_eq!(listed(&writer).await.unwrap(), ["10.7.0.1:8080"]);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    refused(
        "the reader's deregister",
        deregister(&reader, "10.7.0.1").await,
        WRITE_REFUSED,
    );

    // Without credentials nothing works.
    refused(
        "a query without credentials",
        listed(&nobody).await,
        QUERY_REFUSED,
    );
    refused(
        "a register without credentials",
        register(&nobody, "10.7.0.8").await,
        WRITE_REFUSED,
    );
    refused(
        "the service list without credentials",
        nobody.get_service_list(1, 10, Some(GROUP.into())).await,
        LIST_REFUSED,
    );
    // This client's subscribe answers Ok whatever the server said (it drops the error): a
    // subscriber without credentials is simply never told of anything, while the reader is.
    let nobody_events = Arc::new(Events::default());
    nobody
        .subscribe(
            SERVICE.into(),
            Some(GROUP.into()),
            Vec::new(),
            nobody_events.clone(),
        )
        .await
        .unwrap();
    register(&writer, "10.7.0.3").await.unwrap();
    reader_events
        .until(&["10.7.0.1:8080", "10.7.0.3:8080"])
        .await;
    deregister(&writer, "10.7.0.3").await.unwrap();
    reader_events.until(&["10.7.0.1:8080"]).await;
    assert_eq!(
        nobody_events.seen(),
        Vec::<Vec<String>>::new(),
        "a subscriber without credentials was told of the service"
    );

    // A wrong password, last (failed logins count against this address): the client is built
    // (its login failure is only logged) and the server refuses what it sends, as it would
    // without credentials.
    let wrong = naming_as(http, grpc, "wrong", Some((WRITER.0, "wrong"))).await;
    refused(
        "a query with a wrong password",
        listed(&wrong).await,
        QUERY_REFUSED,
    );
    refused(
        "a register with a wrong password",
        register(&wrong, "10.7.0.7").await,
        WRITE_REFUSED,
    );
    assert_eq!(listed(&writer).await.unwrap(), ["10.7.0.1:8080"]);

    deregister(&writer, "10.7.0.1").await.unwrap();
    assert!(listed(&writer).await.unwrap().is_empty());
}

//! Auth on the real binary (issue 21): a client without a token, with a token that does not
//! grant what it asks, and a client that registers someone else's address, against
//! `nacre-server --users-file --token-secret-file`; a reachable bind without users refused;
//! the users file read again on SIGHUP.

use super::common::fixtures::{eventually, TempDir};
use super::support::{Server, DEADLINE};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A bcrypt hash of `password`, from `nacre-server hash-password`, as an operator makes one.
fn hash(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nacre-server"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Users `admin` (ROLE_ADMIN), `reader` (reads public), `ops` (reads everything), and the
/// `extra` TOML; every password is `pw`.
fn users(hash: &str, extra: &str) -> String {
    let mut text = String::new();
    for (user, role) in [
        ("admin", "ROLE_ADMIN"),
        ("reader", "readers"),
        ("ops", "ops"),
    ] {
        text.push_str(&format!(
            "[[user]]\nusername = \"{user}\"\npassword_bcrypt = \"{hash}\"\n\
             [[role]]\nrole = \"{role}\"\nusername = \"{user}\"\n"
        ));
    }
    text.push_str(
        "[[permission]]\nrole = \"readers\"\nresource = \"public:*:*\"\naction = \"r\"\n\
         [[permission]]\nrole = \"ops\"\nresource = \"*:*:*\"\naction = \"r\"\n",
    );
    text + extra
}

/// A users file and a token key in `dir`.
fn secured(dir: &Path, hash: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (users_file, key_file) = (dir.join("users.toml"), dir.join("token.key"));
    std::fs::write(&users_file, users(hash, "")).unwrap();
    std::fs::write(
        &key_file,
        "bmFjcmUtdGVzdC1rZXktYXQtbGVhc3QtMzItYnl0ZXMtbG9uZw==\n",
    )
    .unwrap();
    (users_file, key_file)
}

fn start_secured(users_file: &Path, key_file: &Path, extra: &[&str]) -> Server {
    let mut args = vec![
        "--users-file",
        users_file.to_str().unwrap(),
        "--token-secret-file",
        key_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// Logs `user` in with password `pw`: its token, or the refusal's status.
async fn login(server: &Server, user: &str) -> Result<String, u16> {
    let answer = reqwest::Client::new()
        .post(format!("http://{}/nacos/v1/auth/login", server.http))
        .query(&[("username", user), ("password", "pw")])
        .send()
        .await
        .unwrap();
    if answer.status() != 200 {
        return Err(answer.status().as_u16());
    }
    let json: serde_json::Value = answer.json().await.unwrap();
    Ok(json["accessToken"].as_str().unwrap().to_owned())
}

/// The status and body of `method path` with `token` as a bearer credential.
async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    let mut request =
        reqwest::Client::new().request(method, format!("http://{}{path}", server.http));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap_or_default())
}

const REGISTER: &str = "/nacos/v1/ns/instance?serviceName=orders&ip=127.0.0.1&port=8080";
const LIST: &str = "/nacos/v1/ns/instance/list?serviceName=orders";

#[tokio::test]
async fn a_secured_server_serves_only_what_a_token_grants_and_counts_every_refusal() {
    let dir = TempDir::new("auth-secured");
    let (users_file, key_file) = secured(&dir.0, &hash("pw"));
    let server = start_secured(&users_file, &key_file, &[]);
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;

    // Nothing without a token: not the API, not the metrics.
    assert_eq!(call(&server, post.clone(), REGISTER, None).await.0, 403);
    assert_eq!(call(&server, get.clone(), LIST, None).await.0, 403);
    assert_eq!(call(&server, get.clone(), "/metrics", None).await.0, 403);
    // A token signed with another key (a default one, say) is nobody's.
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDAwMDAwMDAwMH0.\
                  ZmFrZS1zaWduYXR1cmUtZmFrZS1zaWduYXR1cmUtZmFrZQ";
    assert_eq!(
        call(&server, post.clone(), REGISTER, Some(forged)).await.0,
        403
    );
    assert_eq!(login(&server, "admin").await.map(|_| ()).err(), None);
    assert_eq!(login(&server, "stranger").await.err(), Some(403));

    let reader = login(&server, "reader").await.unwrap();
    let (status, body) = call(&server, post.clone(), REGISTER, Some(&reader)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        call(&server, get.clone(), "/metrics", Some(&reader))
            .await
            .0,
        403
    );
    let admin = login(&server, "admin").await.unwrap();
    assert_eq!(
        call(&server, post.clone(), REGISTER, Some(&admin)).await.0,
        200
    );
    let (status, body) = call(&server, get.clone(), LIST, Some(&reader)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("127.0.0.1"), "{body}");

    // Whoever may read everything reads the metrics, refusals counted among them.
    let ops = login(&server, "ops").await.unwrap();
    let (status, metrics) = call(&server, get.clone(), "/metrics", Some(&ops)).await;
    assert_eq!(status, 200, "{metrics}");
    for line in [
        r#"nacre_access_total{front="http",outcome="no_token"} 2"#,
        r#"nacre_access_total{front="http",outcome="forbidden"} 1"#,
        r#"nacre_access_total{front="http",outcome="bad_token"} 1"#,
        r#"nacre_access_total{front="http",outcome="write"} 1"#,
        r#"nacre_access_total{front="metrics",outcome="no_token"} 1"#,
        r#"nacre_access_total{front="metrics",outcome="forbidden"} 1"#,
        r#"nacre_access_total{front="http",outcome="login_failed"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    // And the audit names who did what from where.
    let log = server.log();
    assert!(
        log.contains("nacre::audit")
            && log.contains("caller=\"admin\"")
            && log.contains("source=127.0.0.1"),
        "{log}"
    );
}

#[tokio::test]
async fn sighup_reloads_the_users_file_and_a_bad_one_changes_nothing() {
    let dir = TempDir::new("auth-sighup");
    let hash = hash("pw");
    let (users_file, key_file) = secured(&dir.0, &hash);
    let server = start_secured(&users_file, &key_file, &[]);
    assert_eq!(login(&server, "late").await.err(), Some(403));
    let late = "[[user]]\nusername = \"late\"\npassword_bcrypt = \"HASH\"\n".replace("HASH", &hash);
    std::fs::write(&users_file, users(&hash, &late)).unwrap();
    let hup = |pid: u32| {
        let status = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    hup(server.pid());
    eventually("the new user logs in", DEADLINE, || async {
        login(&server, "late").await.is_ok()
    })
    .await;
    std::fs::write(&users_file, "[[user]]\nusername = \"broken\"\n").unwrap();
    hup(server.pid());
    eventually("the bad file is reported", DEADLINE, || async {
        server.log().contains("users file not reloaded")
    })
    .await;
    assert!(
        login(&server, "late").await.is_ok(),
        "the file in force stays"
    );
    assert!(server.answers().await, "and the server serves");
}

#[test]
fn a_reachable_bind_without_users_refuses_to_start_and_says_how_to_fix_it() {
    let (status, err) = Server::run_to_end(
        Command::new(env!("CARGO_BIN_EXE_nacre-server")),
        &["--bind", "0.0.0.0", "--port", "0"],
    );
    assert!(!status.success());
    for says in ["--users-file", "--insecure-open-api", "hash-password"] {
        assert!(err.contains(says), "{err}");
    }
    let dir = TempDir::new("auth-no-key");
    std::fs::create_dir_all(&dir.0).unwrap();
    let users_file = dir.0.join("users.toml");
    std::fs::write(&users_file, users(&hash("pw"), "")).unwrap();
    let (status, err) = Server::run_to_end(
        Command::new(env!("CARGO_BIN_EXE_nacre-server")),
        &["--users-file", users_file.to_str().unwrap(), "--port", "0"],
    );
    assert!(!status.success());
    assert!(err.contains("--token-secret-file"), "{err}");
}

#[tokio::test]
async fn with_registrations_bound_to_the_caller_no_one_registers_another_hosts_address() {
    let server = Server::start(&["--register-own-address-only"]);
    let post = reqwest::Method::POST;
    let (status, body) = call(
        &server,
        post.clone(),
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.1.2.3&port=8080",
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("only itself"), "{body}");
    assert_eq!(call(&server, post, REGISTER, None).await.0, 200);
    let (_, list) = call(&server, reqwest::Method::GET, LIST, None).await;
    assert!(
        list.contains("127.0.0.1") && !list.contains("10.1.2.3"),
        "{list}"
    );
}

#[tokio::test]
async fn a_client_logging_in_to_an_open_node_is_told_and_the_operator_warned() {
    let server = Server::start(&[]);
    let (status, body) = call(
        &server,
        reqwest::Method::POST,
        "/nacos/v1/auth/login?username=app&password=pw",
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert!(body.contains("auth is off"), "{body}");
    eventually("the warning", DEADLINE, || async {
        server.log().contains("auth is off on this node")
    })
    .await;
    let log = server.log();
    assert!(log.contains("serving open on a loopback address"), "{log}");
}

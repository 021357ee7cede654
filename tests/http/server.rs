//! The standalone server behind `nacre-server`.

use crate::common::fixtures::eventually;
use crate::env::{hosts, http_json};
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_server_serves_and_evicts_on_its_driver_thread() {
    let config = nacre::server::ServerConfig {
        port: 0,
        ..Default::default()
    };
    let server = nacre::server::start(&config).await.unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback(), "loopback by default");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // Removed 1 s after its last beat; the health driver runs on the server's own thread.
    let register = format!(
        "http://{addr}/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=1\
         &metadata=preserved.heart.beat.timeout%3D500%2Cpreserved.ip.delete.timeout%3D1000"
    );
    assert_eq!(
        http_json(&http, reqwest::Method::POST, register).await,
        Value::String("ok".into())
    );
    let list = format!("http://{addr}/nacos/v1/ns/instance/list?serviceName=orders");
    assert_eq!(
        hosts(&http_json(&http, reqwest::Method::GET, list.clone()).await).len(),
        1
    );
    // The driver sweeps at least every 5 s.
    eventually(
        "the silent instance to be evicted",
        Duration::from_secs(20),
        || {
            let (http, list) = (http.clone(), list.clone());
            async move { hosts(&http_json(&http, reqwest::Method::GET, list).await).is_empty() }
        },
    )
    .await;
    server.stop();
}

fn member_config(
    port: u16,
    peer_port: Option<u16>,
    members: &[u16],
) -> nacre::server::ServerConfig {
    nacre::server::ServerConfig {
        port,
        peer_port,
        grpc_port: Some(0),
        members: members.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
        ..Default::default()
    }
}

/// Ports free right now (bound, then let go).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_member_without_a_secret_refuses_to_start_and_says_how_to_fix_it() {
    let ports = free_ports(2);
    let config = member_config(ports[0], None, &ports);
    let Err(err) = nacre::server::start(&config).await else {
        panic!("a member without a secret started");
    };
    let message = err.to_string();
    assert!(message.contains("--cluster-secret-file"), "{message}");
    assert!(message.contains("--insecure-cluster"), "{message}");
    // Explicitly insecure, it starts.
    let insecure = nacre::server::ServerConfig {
        insecure_cluster: true,
        ..config
    };
    let server = nacre::server::start(&insecure).await.unwrap();
    server.stop();
}

/// Runs `nacre-server` with `args` and no environment of its own; returns its exit status and
/// what it wrote to stderr, or fails if it is still running after 20 s.
fn run_server(args: &[&str]) -> (std::process::ExitStatus, String) {
    let (status, _, stderr) = run_server_output(args);
    (status, stderr)
}

/// Runs `nacre-server args` to its exit (killed by pid after 20 s); its status, stdout, stderr.
fn run_server_output(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nacre-server"))
        .args(args)
        .env_remove("NACRE_CLUSTER_SECRET")
        .env_remove("NACRE_CLUSTER_SECRET_FILE")
        .env_remove("NACRE_INSECURE_CLUSTER")
        .env_remove("NACRE_MEMBERS")
        .env_remove("NACRE_NODE_ID")
        .env_remove("NACRE_CONFIG")
        .env_remove("NACRE_PORT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nacre-server {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stdout, stderr)
}

#[test]
fn the_server_binary_prints_its_config_and_names_a_bad_key_of_its_file() {
    let dir = crate::common::fixtures::TempDir::new("config-file");
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("nacre.toml");
    std::fs::write(&file, "port = 0\ndata-dir = \"/var/lib/nacre\"\n").unwrap();
    let config = format!("--config={}", file.display());
    let (status, stdout, stderr) =
        run_server_output(&[&config, "--commit", "per-write", "--print-config"]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("port = 0\n"), "{stdout}");
    assert!(
        stdout.contains("data-dir = \"/var/lib/nacre\"\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("commit = \"per-write\"\n"),
        "the flag wins: {stdout}"
    );
    assert!(stdout.contains("persist-wait = \"5s\"\n"), "{stdout}");
    std::fs::write(&file, "port = 0\nmembres = [\"127.0.0.1:8848\"]\n").unwrap();
    let (status, _, stderr) = run_server_output(&[&config]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown key `membres`"), "{stderr}");
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    let (status, stdout, _) = run_server_output(&["--help"]);
    assert!(status.success());
    assert!(
        stdout.contains("--config <PATH>") && stdout.contains("NACRE_PORT"),
        "{stdout}"
    );
}

#[test]
fn the_server_binary_exits_non_zero_without_a_secret_or_with_an_id_outside_the_members() {
    let ports = free_ports(3);
    let members = format!("127.0.0.1:{},127.0.0.1:{}", ports[0], ports[1]);
    let port = ports[0].to_string();
    let (status, stderr) =
        run_server(&["--port", &port, "--grpc-port", "0", "--members", &members]);
    assert!(!status.success());
    assert!(stderr.contains("--cluster-secret-file"), "{stderr}");

    let outside = format!("127.0.0.1:{}", ports[2]);
    let (status, stderr) = run_server(&[
        "--port",
        &port,
        "--grpc-port",
        "0",
        "--node-id",
        &outside,
        "--members",
        &members,
        "--insecure-cluster",
    ]);
    assert!(!status.success());
    assert!(stderr.contains("--node-id"), "{stderr}");
    assert!(stderr.contains("is not one of --members"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_with_a_secret_file_and_peer_ports_replicate() {
    let dir = crate::common::fixtures::TempDir::new("peer-secret");
    std::fs::create_dir_all(&dir.0).unwrap();
    let secret = dir.0.join("cluster.secret");
    std::fs::write(&secret, format!("{}\n", crate::cluster::SECRET)).unwrap();
    let ports = free_ports(4);
    let (client, peer) = (&ports[..2], &ports[2..]);
    let mut servers = Vec::new();
    for i in 0..2 {
        let config = nacre::server::ServerConfig {
            cluster_secret: Some(nacre::server::SecretSource::File(secret.clone())),
            ..member_config(client[i], Some(peer[i]), peer)
        };
        assert_eq!(
            config.node_id().unwrap().as_str(),
            format!("127.0.0.1:{}", peer[i])
        );
        servers.push(nacre::server::start(&config).await.unwrap());
    }
    for (s, port) in servers.iter().zip(peer) {
        assert_eq!(s.peer_addr().map(|a| a.port()), Some(*port));
        let node = s.backend().cluster_node().unwrap().clone();
        eventually("the member to serve", Duration::from_secs(30), || {
            let node = node.clone();
            async move { node.is_ready() }
        })
        .await;
    }
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let register = format!(
        "http://127.0.0.1:{}/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=1",
        client[0]
    );
    assert_eq!(
        http_json(&http, reqwest::Method::POST, register).await,
        Value::String("ok".into())
    );
    let list = format!(
        "http://127.0.0.1:{}/nacos/v1/ns/instance/list?serviceName=orders",
        client[1]
    );
    eventually(
        "the instance on the other member",
        Duration::from_secs(30),
        || {
            let (http, list) = (http.clone(), list.clone());
            async move { hosts(&http_json(&http, reqwest::Method::GET, list).await).len() == 1 }
        },
    )
    .await;
    // Peer traffic is on the peer port only.
    let on_client = http
        .post(format!("http://127.0.0.1:{}/nacre/v1/peer", client[0]))
        .header("x-nacre-cluster-secret", crate::cluster::SECRET)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(on_client.status(), 404);
    let on_peer = http
        .post(format!("http://127.0.0.1:{}/nacre/v1/peer", peer[0]))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(on_peer.status(), 403);
    for s in servers {
        s.stop();
    }
}

/// DNS carries no credentials: a server with auth refuses to start a DNS front unless told
/// `--dns-open`, and says so; told, it serves one.
#[cfg(all(feature = "dns", feature = "auth"))]
#[tokio::test]
async fn with_auth_a_dns_front_needs_dns_open() {
    let dir = std::env::temp_dir().join(format!("nacre-dns-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hash = bcrypt::hash("pw", 4).unwrap();
    let users = dir.join("users.toml");
    std::fs::write(
        &users,
        format!("[[user]]\nusername = \"admin\"\npassword_bcrypt = \"{hash}\"\n"),
    )
    .unwrap();
    let secret = dir.join("token.secret");
    std::fs::write(
        &secret,
        "dGhpcy1pcy1hLXRlc3Qtc2VjcmV0LW9mLWVub3VnaC1ieXRlcy0xMjM0NQ==",
    )
    .unwrap();
    let config = nacre::server::ServerConfig {
        port: free_ports(1)[0],
        grpc_port: Some(0),
        dns_port: Some(0),
        users_file: Some(users),
        token_secret_file: Some(secret),
        ..Default::default()
    };
    let Err(err) = nacre::server::start(&config).await else {
        panic!("a DNS front started beside auth without --dns-open");
    };
    assert!(err.to_string().contains("--dns-open"), "{err}");
    let open = nacre::server::ServerConfig {
        dns_open: true,
        ..config
    };
    let server = nacre::server::start(&open).await.unwrap();
    assert!(server.dns_addr().is_some());
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

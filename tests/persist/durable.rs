//! Durability with real processes: `nacre-server --data-dir`, killed with SIGKILL right after
//! a burst of persistent registrations (v1 HTTP, `ephemeral=false`), restarted on the same
//! directory, answers with every one of them; a deregistration made before the kill stays
//! gone; service settings survive; ephemeral instances are not written. The same for a
//! three-member cluster with a full restart. And a damaged store stops the start with a
//! message that names the file, without a panic. The server, its directory and the polls
//! here serve `outage.rs` too.
//!
//! Every wait polls with a generous deadline; ports are free ones; every process is stopped by
//! its pid.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "durable-test-cluster-secret";
pub(crate) const DEADLINE: Duration = Duration::from_secs(90);

/// One `nacre-server` process, stopped with SIGKILL when dropped.
pub(crate) struct Server {
    port: u16,
    data: PathBuf,
    members: Option<String>,
    /// More flags, after the ones every test gives.
    args: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    pub(crate) fn new(dir: &Path, port: u16, members: Option<String>) -> Self {
        Server {
            port,
            data: dir.join(format!("data-{port}")),
            members,
            args: Vec::new(),
            child: None,
            log: dir.join(format!("server-{port}.log")),
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(server_binary());
        cmd.args(["--port", &self.port.to_string(), "--grpc-port", "0"])
            .arg("--data-dir")
            .arg(&self.data)
            .env("RUST_LOG", "info")
            .env_remove("NACRE_DATA_DIR")
            .args(&self.args)
            .stdout(Stdio::null());
        if let Some(members) = &self.members {
            cmd.args(["--members", members])
                .env("NACRE_CLUSTER_SECRET", SECRET);
        }
        cmd
    }

    /// The same server with more flags.
    pub(crate) fn with_args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub(crate) fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the log file opens");
        let child = self
            .command()
            .stderr(Stdio::from(log))
            .spawn()
            .expect("nacre-server starts");
        self.child = Some(child);
    }

    /// Stops the process with SIGTERM, as an operator or a service manager does, and waits
    /// for it to exit (a graceful shutdown: what is pending reaches the disk first).
    pub(crate) fn term(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + DEADLINE;
        loop {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            if Instant::now() >= deadline {
                self.child = Some(child);
                self.kill9();
                panic!("server :{} did not exit on SIGTERM", self.port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to the running process, if there is one.
    pub(crate) fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status();
        }
    }

    pub(crate) fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A directory for one test, removed when dropped.
pub(crate) struct Dir(pub(crate) PathBuf);

impl Dir {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("nacre-durable-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a test directory");
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("an address").port())
        .collect()
}

/// Three members with a data directory each, serving.
pub(crate) async fn cluster(dir: &Dir, http: &reqwest::Client) -> (Vec<Server>, Vec<u16>) {
    cluster_with(dir, http, &[]).await
}

/// [`cluster`], each member run with `args` too.
pub(crate) async fn cluster_with(
    dir: &Dir,
    http: &reqwest::Client,
    args: &[&str],
) -> (Vec<Server>, Vec<u16>) {
    let ports = free_ports(3);
    let list: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut servers: Vec<Server> = ports
        .iter()
        .map(|p| Server::new(&dir.0, *p, Some(list.join(","))).with_args(args))
        .collect();
    for s in &mut servers {
        s.start();
    }
    for s in &servers {
        wait_ready(http, s).await;
    }
    (servers, ports)
}

/// The value of the metric `name` (no labels) that `port` serves at `/metrics`, if it answers.
pub(crate) async fn metric(http: &reqwest::Client, port: u16, name: &str) -> Option<String> {
    let text = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(name)?
            .strip_prefix(' ')
            .map(|v| v.trim().to_owned())
    })
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

pub(crate) async fn wait_ready(http: &reqwest::Client, server: &Server) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let ready = http
            .get(server.url("/nacos/v1/console/health/readiness"))
            .send()
            .await
            .is_ok_and(|a| a.status().is_success());
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server :{} not ready in {DEADLINE:?}; its log:\n{}",
            server.port,
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends a v1 call until a server answers 200 `ok` (a cluster member may answer 503 while
/// its peers start); fails after the deadline.
pub(crate) async fn ok(
    http: &reqwest::Client,
    servers: &[u16],
    method: reqwest::Method,
    path: &str,
    q: &[(&str, String)],
) {
    let deadline = Instant::now() + DEADLINE;
    let mut i = 0usize;
    loop {
        let port = servers[i % servers.len()];
        i += 1;
        let answer = http
            .request(method.clone(), format!("http://127.0.0.1:{port}{path}"))
            .query(q)
            .send()
            .await;
        if let Ok(a) = answer {
            let status = a.status();
            let body = a.text().await.unwrap_or_default();
            if status.is_success() && body == "ok" {
                return;
            }
            // Only "not serving yet" is worth another try; a 500 would be a write that did not
            // reach the disk.
            assert!(
                status == reqwest::StatusCode::SERVICE_UNAVAILABLE,
                "{method} {path} {q:?} answered {status}: {body}"
            );
        }
        assert!(
            Instant::now() < deadline,
            "{method} {path} {q:?} never answered ok"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) fn instance(service: &str, ip: &str, ephemeral: bool) -> Vec<(&'static str, String)> {
    vec![
        ("serviceName", service.to_owned()),
        ("ip", ip.to_owned()),
        ("port", "5432".to_owned()),
        ("ephemeral", ephemeral.to_string()),
    ]
}

/// The `ip`s a server lists for `service` (all of them, healthy or not), or `None` when it
/// does not answer.
pub(crate) async fn listed(
    http: &reqwest::Client,
    port: u16,
    service: &str,
) -> Option<BTreeSet<String>> {
    let answer = http
        .get(format!("http://127.0.0.1:{port}/nacos/v1/ns/instance/list"))
        .query(&[("serviceName", service), ("healthyOnly", "false")])
        .send()
        .await
        .ok()?;
    let v: serde_json::Value = answer.json().await.ok()?;
    Some(
        v["hosts"]
            .as_array()?
            .iter()
            .filter_map(|h| h["ip"].as_str().map(str::to_owned))
            .collect(),
    )
}

/// `(protectThreshold, metadata)` of a service on a server.
async fn settings(
    http: &reqwest::Client,
    port: u16,
    service: &str,
) -> Option<(f64, serde_json::Value)> {
    let answer = http
        .get(format!("http://127.0.0.1:{port}/nacos/v1/ns/service"))
        .query(&[("serviceName", service)])
        .send()
        .await
        .ok()?;
    let v: serde_json::Value = answer.json().await.ok()?;
    Some((v["protectThreshold"].as_f64()?, v["metadata"].clone()))
}

const SERVICES: usize = 4;

/// What the workload leaves: per service, the persistent ips that must be listed.
struct Workload {
    expected: Vec<BTreeSet<String>>,
}

/// Settings on one service, a burst of `n` persistent registrations (all at once), some
/// ephemeral ones, and the deregistration of every tenth persistent instance; every call is
/// answered `ok` before this returns.
async fn workload(http: &reqwest::Client, ports: &[u16], n: usize) -> Workload {
    ok(
        http,
        ports,
        reqwest::Method::POST,
        "/nacos/v1/ns/service",
        &[
            ("serviceName", "settings-only".to_owned()),
            ("protectThreshold", "0.75".to_owned()),
            ("metadata", "owner=db-team,tier=gold".to_owned()),
        ],
    )
    .await;
    let mut burst = Vec::new();
    for i in 0..n {
        let service = format!("db-{}", i % SERVICES);
        let ip = format!("10.1.{}.{}", i / 200, i % 200 + 1);
        let http = http.clone();
        let ports = ports.to_vec();
        burst.push(tokio::spawn(async move {
            let q = instance(&service, &ip, false);
            ok(
                &http,
                &ports,
                reqwest::Method::POST,
                "/nacos/v1/ns/instance",
                &q,
            )
            .await;
        }));
    }
    for i in 0..8 {
        let q = instance(
            &format!("db-{}", i % SERVICES),
            &format!("10.9.0.{}", i + 1),
            true,
        );
        ok(
            http,
            ports,
            reqwest::Method::POST,
            "/nacos/v1/ns/instance",
            &q,
        )
        .await;
    }
    for b in burst {
        b.await.expect("a registration task");
    }
    let mut expected = vec![BTreeSet::new(); SERVICES];
    for i in 0..n {
        let ip = format!("10.1.{}.{}", i / 200, i % 200 + 1);
        if i % 10 == 3 {
            let q = instance(&format!("db-{}", i % SERVICES), &ip, false);
            ok(
                http,
                ports,
                reqwest::Method::DELETE,
                "/nacos/v1/ns/instance",
                &q,
            )
            .await;
        } else {
            expected[i % SERVICES].insert(ip);
        }
    }
    Workload { expected }
}

/// Polls until `port` lists exactly what the workload left, and has the settings.
async fn assert_restored(http: &reqwest::Client, port: u16, w: &Workload) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut diff = Vec::new();
        for (s, want) in w.expected.iter().enumerate() {
            let service = format!("db-{s}");
            let got = listed(http, port, &service).await;
            if got.as_ref() != Some(want) {
                let got = got.unwrap_or_default();
                diff.push(format!(
                    "{service}: missing {:?}, unexpected {:?}",
                    want.difference(&got).collect::<Vec<_>>(),
                    got.difference(want).collect::<Vec<_>>()
                ));
            }
        }
        let s = settings(http, port, "settings-only").await;
        let settings_ok = s.as_ref().is_some_and(|(t, m)| {
            (*t - 0.75).abs() < 1e-6 && m["owner"] == "db-team" && m["tier"] == "gold"
        });
        if !settings_ok {
            diff.push(format!("settings-only: {s:?}"));
        }
        if diff.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after the restart :{port} does not hold what was acknowledged:\n{}",
            diff.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_keeps_every_acknowledged_write_across_kill_9() {
    let dir = Dir::new("standalone");
    let http = http();
    let port = free_ports(1)[0];
    let mut server = Server::new(&dir.0, port, None);
    server.start();
    wait_ready(&http, &server).await;
    let w = workload(&http, &[port], 300).await;
    // At once after the last "ok": nothing gets a chance to flush on the way out.
    server.kill9();
    server.start();
    wait_ready(&http, &server).await;
    assert_restored(&http, port, &w).await;
    // Ephemeral instances were never written: only the persistent ones came back (checked
    // exactly above), and the log says what was loaded.
    assert!(
        server.log().contains("persistent store loaded"),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_member_cluster_keeps_everything_across_a_full_kill_9_restart() {
    let dir = Dir::new("cluster");
    let http = http();
    let (mut servers, ports) = cluster(&dir, &http).await;
    // Writes through every member: each is forwarded to the member responsible for its
    // service, which answers once it is on its disk.
    let w = workload(&http, &ports, 240).await;
    for s in &mut servers {
        s.kill9();
    }
    for s in &mut servers {
        s.start();
    }
    for s in &servers {
        wait_ready(&http, s).await;
    }
    for p in &ports {
        assert_restored(&http, *p, &w).await;
    }
}

/// The `nacre-server` these tests run: cargo's build of it, or `NACRE_SERVER_BIN` (a copy, so
/// that a long run such as the 10-minute outage in RELIABILITY.md is not affected by a rebuild
/// meanwhile).
pub(crate) fn server_binary() -> std::ffi::OsString {
    std::env::var_os("NACRE_SERVER_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_nacre-server").into())
}

/// Runs `nacre-server --data-dir <data>` and expects it to exit non-zero within the deadline;
/// returns its stderr.
fn start_expecting_failure(data: &Path) -> String {
    let port = free_ports(1)[0];
    let mut child = Command::new(server_binary())
        .args(["--port", &port.to_string(), "--grpc-port", "0"])
        .arg("--data-dir")
        .arg(data)
        .env_remove("NACRE_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nacre-server starts");
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited on") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = Command::new("kill")
                .args(["-KILL", &child.id().to_string()])
                .status();
            let _ = child.wait();
            panic!("nacre-server served on a damaged store instead of refusing it");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(!status.success(), "it exited 0: {err}");
    assert!(!err.contains("panicked"), "it panicked: {err}");
    err
}

/// A store with a few rows, written by a real server and closed by SIGKILL.
async fn make_store(dir: &Path) -> PathBuf {
    let http = http();
    let port = free_ports(1)[0];
    let mut server = Server::new(dir, port, None);
    server.start();
    wait_ready(&http, &server).await;
    workload(&http, &[port], 40).await;
    server.kill9();
    server.data.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_store_stops_the_start_with_the_file_named() {
    let dir = Dir::new("truncated");
    let data = make_store(&dir.0).await;
    let file = data.join(nacre::persist::FILE_NAME);
    let len = std::fs::metadata(&file).expect("the store exists").len();
    for keep in [len / 2, 100, 0] {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .expect("the store opens");
        f.set_len(keep).expect("truncates");
        drop(f);
        let err = start_expecting_failure(&data);
        assert!(
            err.contains(&file.display().to_string()) && err.contains("move the file away"),
            "truncated to {keep} bytes: {err}"
        );
    }
}

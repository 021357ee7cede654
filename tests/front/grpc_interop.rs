//! The real Rust Nacos client, `nacos-sdk` 0.8 (nacos-sdk-rust) from crates.io, against a
//! real `nacre-server` process over gRPC: register, list, subscribe and be pushed within 1 s of
//! another client's registration, a v1 HTTP registration pushed to it, a client *process*
//! killed with SIGKILL whose instance then disappears (and that is pushed), the service list.
//!
//! The provider runs in a process of its own: this test binary runs itself again with
//! `NACRE_INTEROP_PROVIDER` set, and only the `provider_process` test does anything then.

use nacos_sdk::api::naming::{
    NamingChangeEvent, NamingEventListener, NamingService, NamingServiceBuilder, ServiceInstance,
};
use nacos_sdk::api::props::ClientProps;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
pub(super) const GROUP: &str = "DEFAULT_GROUP";

/// A process this test started, killed by its pid when dropped.
pub(super) struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `nacre-server` on free ports, with `args` besides; returns it with its HTTP and gRPC
/// ports.
pub(super) fn start_server(args: &[&str]) -> (Proc, u16, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nacre-server"))
        .args(["--port", "0", "--grpc-port", "0"])
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("nacre-server starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let proc = Proc(child);
    // The first line that says where it listens (a line about its limits may come first).
    let mut line = String::new();
    let mut reader = BufReader::new(stderr);
    while !line.contains("listening on") {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("nacre-server ended without listening");
        }
    }
    // "nacre-server listening on 127.0.0.1:H (standalone), gRPC on 127.0.0.1:G"
    let port_after = |marker: &str| -> u16 {
        let rest = &line[line.find(marker).unwrap_or_else(|| panic!("{line}")) + marker.len()..];
        let addr = rest.split_whitespace().next().unwrap();
        addr.rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches(',')
            .parse()
            .unwrap()
    };
    let http = port_after("listening on ");
    let grpc = port_after("gRPC on ");
    (proc, http, grpc)
}

async fn naming(http: u16, grpc: u16, app: &str) -> NamingService {
    naming_as(http, grpc, app, None).await
}

/// A client of the server at `http` / `grpc`; with `login` (username, password), one that logs
/// in over HTTP with the `auth-by-http` plugin and sends its token with each request.
pub(super) async fn naming_as(
    http: u16,
    grpc: u16,
    app: &str,
    login: Option<(&str, &str)>,
) -> NamingService {
    let mut props = ClientProps::new()
        .server_addr(format!("127.0.0.1:{http}"))
        .remote_grpc_port(grpc)
        .namespace("")
        .app_name(app);
    let builder = match login {
        Some((username, password)) => {
            props = props.auth_username(username).auth_password(password);
            NamingServiceBuilder::new(props).enable_auth_plugin_http()
        }
        None => NamingServiceBuilder::new(props),
    };
    builder.build().await.expect("the client connects")
}

pub(super) fn instance(ip: &str, port: i32) -> ServiceInstance {
    ServiceInstance {
        ip: ip.to_owned(),
        port,
        ..Default::default()
    }
}

/// Every host list a listener was told of, with the time.
#[derive(Default)]
pub(super) struct Events(Mutex<Vec<(Instant, Vec<String>)>>);

impl NamingEventListener for Events {
    fn event(&self, event: Arc<NamingChangeEvent>) {
        let mut ips: Vec<String> = event
            .instances
            .iter()
            .flatten()
            .map(|i| format!("{}:{}", i.ip, i.port))
            .collect();
        ips.sort();
        self.0.lock().unwrap().push((Instant::now(), ips));
    }
}

impl Events {
    /// The host lists told so far.
    pub(super) fn seen(&self) -> Vec<Vec<String>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, ips)| ips.clone())
            .collect()
    }

    /// Waits until the last event lists exactly `want`; returns when it arrived.
    pub(super) async fn until(&self, want: &[&str]) -> Instant {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some((at, ips)) = self.0.lock().unwrap().last() {
                if ips.iter().map(String::as_str).eq(want.iter().copied()) {
                    return *at;
                }
            }
            let seen = self.0.lock().unwrap().clone();
            assert!(
                Instant::now() < deadline,
                "never pushed {want:?}; events: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_sdk_rust_registers_subscribes_and_is_pushed() {
    if std::env::var_os("NACRE_INTEROP_PROVIDER").is_some() {
        return;
    }
    let (_server, http, grpc) = start_server(&[]);
    let consumer = naming(http, grpc, "consumer").await;
    let events = Arc::new(Events::default());
    consumer
        .subscribe(
            "orders".into(),
            Some(GROUP.into()),
            Vec::new(),
            events.clone(),
        )
        .await
        .unwrap();

    // A provider in its own process registers; the consumer is pushed within a second.
    // The test's name in this binary: its module path without the crate's name.
    let provider_test = format!(
        "{}::provider_process",
        module_path!().split_once("::").unwrap().1
    );
    let mut provider = Command::new(std::env::current_exe().unwrap())
        .args([
            provider_test.as_str(),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NACRE_INTEROP_PROVIDER", format!("{http}:{grpc}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = provider.stdout.take().unwrap();
    let provider = Proc(provider);
    let registered = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(out).lines();
        lines.any(|l| l.is_ok_and(|l| l.contains("REGISTERED")));
        Instant::now()
    })
    .await
    .unwrap();
    let pushed = events.until(&["10.0.0.1:8080"]).await;
    let latency = pushed.saturating_duration_since(registered);
    assert!(
        latency < Duration::from_secs(1),
        "pushed {latency:?} after the registration"
    );

    let all = consumer
        .get_all_instances("orders".into(), Some(GROUP.into()), Vec::new(), false)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].healthy);

    // A v1 HTTP registration reaches the gRPC subscriber.
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{http}/nacos/v1/ns/instance"))
        .form(&[
            ("serviceName", "orders"),
            ("ip", "10.0.0.2"),
            ("port", "8080"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    events.until(&["10.0.0.1:8080", "10.0.0.2:8080"]).await;

    // The consumer registers too, and pages through the services.
    consumer
        .register_instance(
            "payments".into(),
            Some(GROUP.into()),
            instance("10.0.0.3", 9090),
        )
        .await
        .unwrap();
    let (names, count) = consumer
        .get_service_list(1, 10, Some(GROUP.into()))
        .await
        .unwrap();
    assert_eq!(count, 2);
    let mut names = names;
    names.sort();
    assert_eq!(names, ["orders", "payments"]);

    // The provider process dies (SIGKILL): its instance goes, and that is pushed.
    drop(provider);
    events.until(&["10.0.0.2:8080"]).await;
    let all = consumer
        .get_all_instances("orders".into(), Some(GROUP.into()), Vec::new(), false)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
}

/// Runs only as the provider process of the test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_process() {
    let Some(ports) = std::env::var_os("NACRE_INTEROP_PROVIDER") else {
        return;
    };
    let ports = ports.to_string_lossy().into_owned();
    let (http, grpc) = ports.split_once(':').unwrap();
    let provider = naming(http.parse().unwrap(), grpc.parse().unwrap(), "provider").await;
    provider
        .register_instance(
            "orders".into(),
            Some(GROUP.into()),
            instance("10.0.0.1", 8080),
        )
        .await
        .unwrap();
    println!("REGISTERED");
    // Stay connected until killed.
    tokio::time::sleep(Duration::from_secs(120)).await;
}

//! `nacre-server` members as real processes on loopback, for the tests that signal them (the
//! chaos test, the failure preview's check).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The cluster secret the members share.
pub(crate) const SECRET: &str = "chaos-test-cluster-secret";

/// One `nacre-server` process, stopped (SIGKILL) when dropped.
pub(crate) struct Member {
    /// A private copy of the binary: a restart runs the very build the test started with.
    pub(crate) binary: std::path::PathBuf,
    pub(crate) port: u16,
    pub(crate) members: String,
    pub(crate) child: Option<Child>,
    pub(crate) log: std::path::PathBuf,
    pub(crate) starts: u32,
}

impl Member {
    pub(crate) fn start(&mut self) {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the log file opens");
        let child = Command::new(&self.binary)
            .args([
                "--port",
                &self.port.to_string(),
                "--grpc-port",
                "0",
                "--members",
                &self.members,
            ])
            .env("NACRE_CLUSTER_SECRET", SECRET)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("nacre-server starts");
        self.child = Some(child);
    }

    pub(crate) fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status();
        }
    }

    pub(crate) fn kill(&mut self) {
        self.signal("-KILL");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.signal("-CONT");
        self.kill();
    }
}

/// Three members on loopback ports nobody listens on now, each knowing the three, running
/// `binary` and logging into `dir`; none started yet.
pub(crate) fn three_members(binary: &std::path::Path, dir: &std::path::Path) -> Vec<Member> {
    let ports = free_ports();
    let list: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    ports
        .iter()
        .map(|p| Member {
            binary: binary.to_owned(),
            port: *p,
            members: list.join(","),
            child: None,
            log: dir.join(format!("member-{p}.log")),
            starts: 0,
        })
        .collect()
}

/// Three loopback ports nobody listens on now.
fn free_ports() -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("an address").port())
        .collect()
}

pub(crate) async fn wait_ready(http: &reqwest::Client, member: &Member) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http
            .get(member.url("/nacos/v1/console/health/readiness"))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok_and(|a| a.status().is_success());
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "member :{} not ready in 60 s",
            member.port
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

//! A `nacre-server` process for one test, and what the tests read of it: its addresses, its
//! open descriptors, its resident memory, its log.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous: these run beside every other test binary on two cores.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// One `nacre-server`, killed by its pid when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) http: SocketAddr,
    pub(crate) grpc: SocketAddr,
    pub(crate) peer: Option<SocketAddr>,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the binary with `args` (standalone, any free ports unless `args` say) and waits
    /// until it listens.
    pub(crate) fn start(args: &[&str]) -> Server {
        Self::start_with(Command::new(env!("CARGO_BIN_EXE_nacre-server")), args)
    }

    /// [`Server::start`] through `command` (a shell that sets limits first, say).
    pub(crate) fn start_with(command: Command, args: &[&str]) -> Server {
        let mut full = vec!["--port", "0"];
        full.extend_from_slice(args);
        let mut child = spawn(command, &full);
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stderr).lines();
            while let Some(Ok(line)) = lines.next() {
                if line.contains("nacre-server listening on") {
                    let _ = tx.send(line.clone());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let line = match rx.recv_timeout(DEADLINE) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("nacre-server did not listen: {}", log.lock().unwrap());
            }
        };
        let addr_after = |marker: &str| -> Option<SocketAddr> {
            let rest = &line[line.find(marker)? + marker.len()..];
            let end = rest.find([' ', ',']).unwrap_or(rest.len());
            rest[..end].parse().ok()
        };
        Server {
            http: addr_after("listening on ").expect("the HTTP address is logged"),
            grpc: addr_after("gRPC on ").expect("the gRPC address is logged"),
            peer: addr_after("peers on "),
            child,
            log,
        }
    }

    /// Runs the binary with `args` to its end; its exit status and its standard error.
    pub(crate) fn run_to_end(
        command: Command,
        args: &[&str],
    ) -> (std::process::ExitStatus, String) {
        let mut child = spawn(command, args);
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        let status = child.wait().expect("it ends");
        (status, err)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Descriptors the process holds now.
    pub(crate) fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Resident memory, in KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `GET path` on the HTTP port with `Host: host`: the status code (0 when the
    /// connection was closed without an answer).
    pub(crate) async fn get(&self, path: &str, host: &str) -> u16 {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        status_of(&exchange(self.http, raw.as_bytes()).await)
    }

    /// Whether the v1 API answers a liveness probe now.
    pub(crate) async fn answers(&self) -> bool {
        self.get("/nacos/v1/console/health/liveness", "127.0.0.1")
            .await
            == 200
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts `command` with `args`, logging at info, its standard error piped.
fn spawn(mut command: Command, args: &[&str]) -> Child {
    command
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("NACRE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nacre-server starts")
}

/// Sends `raw` and reads until the server closes (or 20 s pass).
pub(crate) async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let Ok(mut conn) = TcpStream::connect(addr).await else {
        return String::new();
    };
    if conn.write_all(raw).await.is_err() {
        return String::new();
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of an HTTP/1.1 answer, 0 for none.
pub(crate) fn status_of(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Whether the server closed `conn` (a read gives end of file or an error) within `wait`.
pub(crate) async fn closed_within(conn: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// A TCP connection to `addr` from the loopback address `from` (any of 127.0.0.0/8).
pub(crate) async fn connect_from(from: [u8; 4], addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(addr).await
}

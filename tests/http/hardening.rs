//! The `nacre-server` HTTP listener under abuse and at shutdown: body cap (413), body, header
//! and idle timeouts, the connection cap, graceful shutdown in process and on SIGTERM.

use crate::common::fixtures::eventually;
use nacre::server::serve::ServeConfig;
use nacre::server::{start, RunningServer, ServerConfig};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server(serve: ServeConfig) -> RunningServer {
    let config = ServerConfig {
        port: 0,
        grpc_port: Some(0),
        serve,
        ..Default::default()
    };
    start(&config).await.unwrap()
}

/// Sends `raw` and reads until the server closes or answers a full status line; returns what
/// was read (empty when the server closed without a word).
async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(raw).await.unwrap();
    read_all(&mut conn).await
}

async fn read_all(conn: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the server kept the connection open: {:?}",
        String::from_utf8_lossy(&out)
    );
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_gets_413_and_changes_nothing() {
    let s = server(ServeConfig {
        max_body_bytes: 1024,
        ..ServeConfig::default()
    })
    .await;
    let body = format!(
        "serviceName=orders&ip=10.0.0.1&port=1&metadata={}",
        "x".repeat(2000)
    );
    let raw = format!(
        "POST /nacos/v1/ns/instance HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(s.local_addr(), raw.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("too large"), "{answer}");
    assert_eq!(s.backend().registry().store().service_count(), 0);
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_gets_408() {
    let s = server(ServeConfig {
        body_timeout: Duration::from_millis(300),
        ..ServeConfig::default()
    })
    .await;
    let raw = "POST /nacos/v1/ns/instance HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
               Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nserviceName=";
    let answer = exchange(s.local_addr(), raw.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_closed() {
    let s = server(ServeConfig {
        header_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(400),
        ..ServeConfig::default()
    })
    .await;
    // Headers that never end.
    let answer = exchange(
        s.local_addr(),
        b"GET /nacos/v1/console/health/liveness HTTP/1.1\r\nHost:",
    )
    .await;
    assert!(!answer.contains("200"), "{answer}");
    // A keep-alive connection that answered once, then idles.
    let mut conn = TcpStream::connect(s.local_addr()).await.unwrap();
    conn.write_all(b"GET /nacos/v1/console/health/liveness HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let answer = read_all(&mut conn).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let s = server(ServeConfig {
        max_connections: 2,
        ..ServeConfig::default()
    })
    .await;
    let addr = s.local_addr();
    let _a = TcpStream::connect(addr).await.unwrap();
    let _b = TcpStream::connect(addr).await.unwrap();
    eventually("two connections open", Duration::from_secs(10), || {
        let open = s.serve_stats().open();
        async move { open == 2 }
    })
    .await;
    let answer = exchange(
        addr,
        b"GET /nacos/v1/console/health/liveness HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .await;
    assert_eq!(answer, "", "closed without an answer");
    assert_eq!(s.serve_stats().refused(), 1);
    drop((_a, _b));
    eventually("a slot frees up", Duration::from_secs(10), || {
        let open = s.serve_stats().open();
        async move { open == 0 }
    })
    .await;
    let answer = exchange(
        addr,
        b"GET /nacos/v1/console/health/liveness HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_the_request_in_flight_and_stops_accepting() {
    let s = server(ServeConfig::default()).await;
    let addr = s.local_addr();
    // A registration whose body is still on its way when the shutdown starts.
    let body = "serviceName=orders&ip=10.0.0.1&port=1";
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /nacos/v1/ns/instance HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body.as_bytes()[..5]).await.unwrap();
    eventually(
        "the request to be in flight",
        Duration::from_secs(10),
        || {
            let busy = s.serve_stats().in_flight();
            async move { busy == 1 }
        },
    )
    .await;
    let registry = s.backend().registry().clone();
    let shutdown = tokio::spawn(s.shutdown(Duration::from_secs(20)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    conn.write_all(&body.as_bytes()[5..]).await.unwrap();
    let answer = read_all(&mut conn).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok"), "{answer}");
    let report = shutdown.await.unwrap();
    assert!(
        report.connections_drained && report.syncs_flushed,
        "{report:?}"
    );
    assert_eq!(registry.store().service_count(), 1);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

/// The binary shuts down gracefully on SIGTERM and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacre_server_exits_0_on_sigterm() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nacre-server"))
        .args(["--port", "0", "--grpc-port", "0"])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut log = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(&log).contains("listening on") {
        let n = tokio::time::timeout_at(deadline, stderr.read(&mut buf))
            .await
            .expect("the server to start")
            .unwrap();
        assert!(
            n > 0,
            "the server exited: {}",
            String::from_utf8_lossy(&log)
        );
        log.extend_from_slice(&buf[..n]);
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exit within 30 s")
        .unwrap();
    stderr.read_to_end(&mut log).await.unwrap();
    let log = String::from_utf8_lossy(&log);
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains("SIGTERM") && log.contains("shut down"),
        "{log}"
    );
}

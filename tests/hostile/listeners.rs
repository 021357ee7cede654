//! The HTTP and peer listeners: a share per address, the peer listener hardened and bound
//! where it is told, and the open-files limit raised at start or the start refused.

use crate::support::{closed_within, connect_from, status_of, Server};
use std::process::Command;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_takes_at_most_its_share_of_the_http_listener() {
    // Before: one host could hold all 10 000 connections.
    let server = Server::start(&["--max-connections-per-ip", "3"]);
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(connect_from([127, 0, 0, 1], server.http).await.unwrap());
    }
    for conn in &mut mine {
        assert!(!closed_within(conn, Duration::from_millis(300)).await);
    }
    let mut fourth = connect_from([127, 0, 0, 1], server.http).await.unwrap();
    assert!(
        closed_within(&mut fourth, Duration::from_secs(5)).await,
        "past the share"
    );
    let mut other = connect_from([127, 0, 0, 2], server.http).await.unwrap();
    other
        .write_all(b"GET /nacos/v1/console/health/liveness HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), other.read_to_string(&mut answer)).await;
    assert_eq!(status_of(&answer), 200, "another address gets in: {answer}");
}

/// A port free on 127.0.0.2 now.
fn free_port_on(ip: [u8; 4]) -> u16 {
    std::net::TcpListener::bind(std::net::SocketAddr::from((ip, 0)))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_listener_binds_where_told_and_closes_slow_headers() {
    // Before: plain `axum::serve` on the client bind: no timeouts, no cap (2 000 slow header
    // connections held), and no way to put it on the members' own network.
    let port = free_port_on([127, 0, 0, 2]);
    let me = format!("127.0.0.2:{port}");
    let members = format!("{me},127.0.0.3:{port}");
    let server = Server::start(&[
        "--members",
        &members,
        "--node-id",
        &me,
        "--peer-port",
        &port.to_string(),
        "--peer-bind",
        "127.0.0.2",
        "--insecure-cluster",
        "--header-timeout",
        "1s",
        "--peer-max-connections-per-ip",
        "2",
    ]);
    let peer = server.peer.expect("the peer address is logged");
    assert_eq!(peer.to_string(), me);
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "nothing listens on the client bind at the peer port"
    );
    // One address holds at most its share of the peer listener.
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(connect_from([127, 0, 0, 1], peer).await.unwrap());
    }
    let mut third = connect_from([127, 0, 0, 1], peer).await.unwrap();
    assert!(
        closed_within(&mut third, Duration::from_secs(5)).await,
        "past the share"
    );
    drop(held);
    let mut slow = connect_from([127, 0, 0, 3], peer).await.unwrap();
    slow.write_all(b"POST /nacos/v1/ns/distro HTTP/1.1\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut slow, Duration::from_secs(30)).await,
        "a connection sending its headers slowly was held"
    );
}

fn under_ulimit(limit: u32) -> Command {
    let mut shell = Command::new("sh");
    shell.args([
        "-c",
        &format!("ulimit -n {limit} && exec \"$0\" \"$@\""),
        env!("CARGO_BIN_EXE_nacre-server"),
    ]);
    shell
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_files_limit_is_raised_at_start_or_the_start_refused() {
    // A soft limit under the hard one is raised to it.
    let mut shell = Command::new("sh");
    shell.args([
        "-c",
        "ulimit -Sn 1024 && exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_nacre-server"),
    ]);
    let server = Server::start_with(shell, &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a line for open files");
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers[0], numbers[1], "soft raised to hard: {line}");
    drop(server);
    // Below the floor, a loud refusal.
    let (status, stderr) = Server::run_to_end(under_ulimit(512), &["--port", "0"]);
    assert!(!status.success());
    assert!(
        stderr.contains("open files") && stderr.contains("ulimit -n"),
        "{stderr}"
    );
}

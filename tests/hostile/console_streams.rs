//! The console's event streams: bounded apart from the API's connections, in total and per
//! address, each ending after its lifetime.

use crate::common::fixtures::eventually;
use crate::support::{closed_within, connect_from, status_of, Server};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens an event stream from `from`; its status and the connection (kept open).
async fn open_stream(server: &Server, from: [u8; 4]) -> (u16, TcpStream) {
    let mut conn = connect_from(from, server.http).await.unwrap();
    conn.write_all(b"GET /console/api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut head = vec![0u8; 12];
    let status =
        match tokio::time::timeout(Duration::from_secs(20), conn.read_exact(&mut head)).await {
            Ok(Ok(_)) => status_of(&String::from_utf8_lossy(&head)),
            _ => 0,
        };
    (status, conn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_are_capped_apart_from_the_api_and_end_after_their_lifetime() {
    // Before: 10 000 held streams took the API's whole connection cap, so beats failed.
    let server = Server::start(&[
        "--max-connections",
        "6",
        "--console-max-streams",
        "4",
        "--console-max-streams-per-ip",
        "2",
        "--console-stream-lifetime",
        "3s",
    ]);
    let mut streams = Vec::new();
    for from in [
        [127, 0, 0, 1],
        [127, 0, 0, 1],
        [127, 0, 0, 2],
        [127, 0, 0, 2],
    ] {
        let (status, conn) = open_stream(&server, from).await;
        assert_eq!(status, 200);
        streams.push(conn);
    }
    let (status, _third) = open_stream(&server, [127, 0, 0, 1]).await;
    assert_eq!(status, 429, "past the share of one address");
    drop(_third);
    let (status, _fifth) = open_stream(&server, [127, 0, 0, 3]).await;
    assert_eq!(status, 429, "past the total");
    drop(_fifth);
    // Four streams held, and the API still has every one of its six connections (the refused
    // streams' connections close just after their answers: try again until they have).
    eventually("six API connections beside four streams", Duration::from_secs(30), || async {
        let mut api = Vec::new();
        for _ in 0..6 {
            let mut conn = TcpStream::connect(server.http).await.unwrap();
            let asked = conn
                .write_all(b"GET /nacos/v1/console/health/liveness HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .await;
            let mut head = vec![0u8; 12];
            let read = tokio::time::timeout(Duration::from_secs(5), conn.read_exact(&mut head)).await;
            if asked.is_err() || !matches!(read, Ok(Ok(_))) || status_of(&String::from_utf8_lossy(&head)) != 200 {
                return false;
            }
            api.push(conn);
        }
        true
    })
    .await;
    // Each stream ends after its lifetime, and takes its connection with it.
    for conn in &mut streams {
        assert!(
            closed_within(conn, Duration::from_secs(30)).await,
            "a stream outlived its lifetime"
        );
    }
    let (status, _again) = open_stream(&server, [127, 0, 0, 1]).await;
    assert_eq!(status, 200, "a place is free again");
}

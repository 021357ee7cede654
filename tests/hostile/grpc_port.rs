//! The gRPC port: connections capped at accept (in total and per address) and closed without
//! a live bi-stream, message sizes refused from their length prefix, a request timeout, a
//! stream cap per connection, and the fitting of caps into the open-files limit.

use crate::support::{closed_within, connect_from, Server, DEADLINE};
use axum::body::Bytes;
use axum::http::Request;
use nacre::grpc::REQUEST_PATH;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_on_the_grpc_port_are_capped_at_accept_and_closed_without_a_bi_stream() {
    // Before: every idle socket was held (5 000 for 75 s), none counted.
    let server = Server::start(&["--grpc-max-connections", "20", "--grpc-setup-timeout", "5s"]);
    let before = server.open_fds();
    let started = Instant::now();
    let mut conns = Vec::new();
    for _ in 0..60 {
        conns.push(TcpStream::connect(server.grpc).await.unwrap());
    }
    // The refused are closed at accept; look at all of them at once, well within the setup
    // timeout, so that no admitted one has been closed by it yet.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut refused = 0;
    let mut held = Vec::new();
    for mut conn in conns {
        if closed_within(&mut conn, Duration::from_millis(5)).await {
            refused += 1;
        } else {
            held.push(conn);
        }
    }
    let fds = server.open_fds();
    eprintln!("figure: 60 idle gRPC sockets at a cap of 20: {refused} refused at once, {fds} descriptors ({before} before)");
    if started.elapsed() < Duration::from_secs(4) {
        assert_eq!(refused, 40, "the cap of 20 held the rest");
        assert!(fds <= before + 20 + 4, "{fds} descriptors, {before} before");
    }
    assert!(server.answers().await, "the v1 API still answers");
    // None of them opened a bi-stream: each is closed at the setup timeout.
    for conn in &mut held {
        assert!(
            closed_within(conn, Duration::from_secs(30)).await,
            "an idle socket was kept"
        );
    }
    assert_eq!(held.len() + refused, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_takes_at_most_its_share_of_the_grpc_port() {
    let server = Server::start(&["--grpc-max-connections-per-ip", "5"]);
    let mut mine = Vec::new();
    for _ in 0..5 {
        mine.push(connect_from([127, 0, 0, 1], server.grpc).await.unwrap());
    }
    for conn in &mut mine {
        assert!(!closed_within(conn, Duration::from_millis(300)).await);
    }
    let mut sixth = connect_from([127, 0, 0, 1], server.grpc).await.unwrap();
    assert!(
        closed_within(&mut sixth, Duration::from_secs(5)).await,
        "past the share"
    );
    let mut other = connect_from([127, 0, 0, 2], server.grpc).await.unwrap();
    assert!(
        !closed_within(&mut other, Duration::from_millis(500)).await,
        "another address still gets in"
    );
    assert!(
        server
            .log()
            .contains("the source address holds its share of 5"),
        "{}",
        server.log()
    );
}

/// An HTTP/2 connection to the gRPC port, driven on a task of its own.
async fn h2(addr: std::net::SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

fn grpc_request() -> Request<()> {
    Request::post(REQUEST_PATH)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap()
}

/// The `grpc-status` of an answer: in its headers (a trailers-only answer) or its trailers.
async fn grpc_status(response: h2::client::ResponseFuture) -> Option<u32> {
    let response = response.await.ok()?;
    let from = |h: &axum::http::HeaderMap| {
        h.get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    };
    if let Some(status) = from(response.headers()) {
        return Some(status);
    }
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return None };
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    body.trailers().await.ok().flatten().and_then(|t| from(&t))
}

/// A gRPC frame header declaring `len` bytes of message.
fn frame_header(len: u32) -> Bytes {
    let mut h = vec![0u8];
    h.extend_from_slice(&len.to_be_bytes());
    Bytes::from(h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_declaring_more_than_the_limit_are_refused_before_their_bodies_are_held() {
    // Before: 40 streams each holding 8 MB of an unfinished 9 MB message kept 312 MB.
    let server = Server::start(&[]);
    let rss_before = server.rss_kib();
    let mut send = h2(server.grpc).await;
    let mut answers = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..40 {
        send = send.ready().await.unwrap();
        let (response, mut stream) = send.send_request(grpc_request(), false).unwrap();
        // The server may refuse the stream as soon as it reads the header: a later send then
        // finds the stream closed, which is the point.
        let _ = stream.send_data(frame_header(9 * 1024 * 1024), false);
        let _ = stream.send_data(Bytes::from(vec![b'x'; 1024 * 1024]), false);
        answers.push(tokio::time::timeout(DEADLINE, grpc_status(response)));
        streams.push(stream);
    }
    for answer in answers {
        let status = answer.await.expect("answered before the client finished");
        // RESOURCE_EXHAUSTED (8), or OUT_OF_RANGE (11) as some tonic versions say it.
        assert!(matches!(status, Some(8) | Some(11)), "{status:?}");
    }
    let grown = server.rss_kib().saturating_sub(rss_before);
    eprintln!("figure: 40 streams each sending 1 MiB of a declared 9 MiB message: RSS grew by {grown} KiB");
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB");
    drop(streams);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_body_never_completes_is_ended_by_the_request_timeout() {
    // Before: a partial message was held until the client left.
    let server = Server::start(&["--grpc-request-timeout", "1s"]);
    let send = h2(server.grpc).await;
    let mut send = send.ready().await.unwrap();
    let (response, mut stream) = send.send_request(grpc_request(), false).unwrap();
    let _ = stream.send_data(frame_header(100), false);
    let _ = stream.send_data(Bytes::from_static(b"0123456789"), false);
    let started = Instant::now();
    let status = tokio::time::timeout(DEADLINE, grpc_status(response))
        .await
        .expect("the server ended the request itself");
    assert!(
        matches!(status, Some(s) if s != 0) || status.is_none(),
        "{status:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_tells_each_connection_its_stream_cap() {
    // Before: the server advertised no cap (unbounded streams per connection).
    let server = Server::start(&["--grpc-max-streams-per-connection", "16"]);
    let tcp = TcpStream::connect(server.grpc).await.unwrap();
    let (send, mut conn) = h2::client::handshake(tcp).await.unwrap();
    let deadline = Instant::now() + DEADLINE;
    let mut send = Some(send);
    loop {
        let polled = std::future::poll_fn(|cx| {
            let _ = std::pin::Pin::new(&mut conn).poll(cx);
            std::task::Poll::Ready(conn.max_concurrent_send_streams())
        })
        .await;
        if polled == 16 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cap was never advertised: {polled}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(send.take());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_low_open_files_limit_idle_grpc_sockets_cannot_starve_the_api() {
    // Before: under `ulimit -n 1024`, 1 100 idle gRPC sockets took every descriptor and the
    // v1 API stopped answering, with nothing logged.
    let mut shell = std::process::Command::new("sh");
    shell.args([
        "-c",
        "ulimit -n 1100 && exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_nacre-server"),
    ]);
    let server = Server::start_with(shell, &[]);
    assert!(server.log().contains("lowered"), "{}", server.log());
    let mut conns = Vec::new();
    for _ in 0..1100 {
        match TcpStream::connect(server.grpc).await {
            Ok(conn) => conns.push(conn),
            Err(_) => break,
        }
    }
    let fds = server.open_fds();
    eprintln!("figure: 1 100 idle gRPC sockets under ulimit -n 1100: {} connected, {fds} descriptors held by the server", conns.len());
    assert!(fds < 1100 - 200, "{fds} descriptors held");
    assert!(server.answers().await, "the v1 API still answers");
    drop(conns);
}

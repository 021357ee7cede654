//! The client HTTP port over TLS: the v1 API to a client that trusts the CA, nothing to one
//! that does not or to plaintext, client certificates with `--tls-client-ca`, and the place of
//! a handshake that never finishes.

use crate::client::{self, exchange, request};
use crate::support::{closed_within, status_of};
use crate::Files;
use std::time::{Duration, Instant};

const REGISTER: &str = "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=8080";
const LIST: &str = "/nacos/v1/ns/instance/list?serviceName=orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_the_v1_api_to_a_client_that_trusts_the_ca() {
    let files = Files::new("https-api");
    let server = files.server(false, &[]);
    let trusting = client::config(Some(&files.certs.ca), None, &[b"http/1.1"]);
    let registered = exchange(server.http, trusting.clone(), &request("POST", REGISTER))
        .await
        .unwrap();
    assert_eq!(status_of(&registered), 200, "{registered}");
    let listed = exchange(server.http, trusting, &request("GET", LIST))
        .await
        .unwrap();
    assert_eq!(status_of(&listed), 200, "{listed}");
    assert!(listed.contains(r#""ip":"10.0.0.1""#), "{listed}");

    // A client offering h2 first is answered in HTTP/1.1, the one protocol the port speaks.
    let both = client::config(Some(&files.certs.ca), None, &[b"h2", b"http/1.1"]);
    let tls = client::connect(server.http, both).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    let log = server.log();
    assert!(
        log.contains("TLS on the client HTTP port and the gRPC port") && log.contains("not asked"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_trust_the_ca_fails_the_handshake() {
    let files = Files::new("https-untrusted");
    let server = files.server(false, &[]);
    let untrusting = client::config(None, None, &[b"http/1.1"]);
    let err = exchange(server.http, untrusting, &request("POST", REGISTER))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    // Nothing it sent was served.
    let trusting = client::config(Some(&files.certs.ca), None, &[]);
    let listed = exchange(server.http, trusting, &request("GET", LIST))
        .await
        .unwrap();
    assert!(!listed.contains("10.0.0.1"), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_to_the_tls_port_gets_no_answer_and_failures_are_logged_once() {
    let files = Files::new("https-plaintext");
    let server = files.server(false, &[]);
    for _ in 0..5 {
        let raw = String::from_utf8(request("POST", REGISTER)).unwrap();
        let answer = crate::support::exchange(server.http, raw.as_bytes()).await;
        assert_eq!(status_of(&answer), 0, "{answer}");
    }
    let trusting = client::config(Some(&files.certs.ca), None, &[]);
    let listed = exchange(server.http, trusting, &request("GET", LIST))
        .await
        .unwrap();
    assert_eq!(status_of(&listed), 200, "{listed}");
    assert!(
        !listed.contains("10.0.0.1"),
        "nothing was registered: {listed}"
    );
    // Five failed handshakes within the interval: one line (at warn), not one each.
    let logged = || server.log().matches("TLS handshake failed").count();
    let deadline = Instant::now() + Duration::from_secs(10);
    while logged() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(logged(), 1, "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_client_ca_only_clients_with_a_certificate_it_signed_are_served() {
    let files = Files::new("https-mutual");
    let server = files.server(true, &[]);
    let ca = Some(files.certs.ca.as_str());
    for (who, identity) in [
        ("no certificate", None),
        ("a stranger's certificate", Some(&files.certs.stranger)),
    ] {
        let refused = exchange(
            server.http,
            client::config(ca, identity, &[]),
            &request("GET", LIST),
        )
        .await;
        // TLS 1.3: the client's side of the handshake ends before the server checks its
        // certificate, so the refusal is an alert in place of an answer.
        assert!(
            refused.as_ref().map_or(true, |a| status_of(a) == 0),
            "{who}: {refused:?}"
        );
    }
    let served = exchange(
        server.http,
        client::config(ca, Some(&files.certs.client), &[]),
        &request("GET", LIST),
    )
    .await
    .unwrap();
    assert_eq!(status_of(&served), 200, "{served}");
    assert!(server.log().contains("required"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_never_finished_frees_its_place_after_the_header_timeout() {
    let files = Files::new("https-slow");
    let server = files.server(false, &["--header-timeout", "1s", "--max-connections", "1"]);
    let trusting = client::config(Some(&files.certs.ca), None, &[]);
    // A client that connects and never starts its handshake holds the one place.
    let started = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(server.http).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = exchange(server.http, trusting.clone(), &request("GET", LIST)).await;
    assert!(
        refused.as_ref().map_or(true, |a| status_of(a) == 0),
        "{refused:?}"
    );
    assert!(closed_within(&mut silent, Duration::from_secs(10)).await);
    let held = started.elapsed();
    assert!(held >= Duration::from_millis(900), "closed after {held:?}");
    // The place is given back as the server's task for the silent connection ends, which may
    // be a moment after the socket closed: a connection in between is still refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match exchange(server.http, trusting.clone(), &request("GET", LIST)).await {
            Ok(served) if status_of(&served) == 200 => break,
            other => assert!(
                Instant::now() < deadline,
                "never served once the place was free: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

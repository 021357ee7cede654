//! The gRPC port over TLS: ALPN `h2`, a registration and a query over a TLS channel (seen by
//! the v1 API too), refusals of an untrusting client, of plaintext and (with a client CA) of
//! a client without the right certificate, and the place of a handshake that never finishes.

use crate::client::{self, exchange, grpc_channel, request};
use crate::common::raw_grpc::Raw;
use crate::support::closed_within;
use crate::Files;
use nacre::grpc::proto::Payload;
use nacre::grpc::REQUEST_PATH;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

fn body(p: &Payload) -> serde_json::Value {
    serde_json::from_slice(p.json()).unwrap()
}

/// One `ServerCheckRequest` over `channel`, failing as the transport does.
async fn server_check(channel: Channel) -> Result<Payload, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let codec = tonic_prost::ProstCodec::<Payload, Payload>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(REQUEST_PATH);
    let check = Payload::new("ServerCheckRequest", b"{}".to_vec());
    let answer = grpc.unary(tonic::Request::new(check), path, codec).await?;
    Ok(answer.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_registers_and_queries_and_the_v1_api_sees_it() {
    let files = Files::new("grpc-api");
    let server = files.server(false, &[]);
    let h2 = client::config(Some(&files.certs.ca), None, &[b"h2"]);

    // grpc-java (netty) requires the server to choose h2.
    let both = client::config(Some(&files.certs.ca), None, &[b"http/1.1", b"h2"]);
    let tls = client::connect(server.grpc, both).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    drop(tls);

    let mut raw = Raw::over(grpc_channel(server.grpc, h2).await.unwrap());
    let check = raw.call("ServerCheckRequest", "{}").await;
    assert_eq!(check.kind(), "ServerCheckResponse");
    raw.setup().await;
    let registered = raw
        .call(
            "InstanceRequest",
            r#"{"serviceName":"orders","type":"registerInstance","instance":{"ip":"10.0.0.9","port":80}}"#,
        )
        .await;
    assert_eq!(
        registered.kind(),
        "InstanceResponse",
        "{:?}",
        body(&registered)
    );
    assert_eq!(body(&registered)["resultCode"], 200);
    let listed = raw
        .call(
            "ServiceQueryRequest",
            r#"{"serviceName":"orders","cluster":"","healthyOnly":false}"#,
        )
        .await;
    let hosts = &body(&listed)["serviceInfo"]["hosts"];
    assert_eq!(hosts[0]["ip"], "10.0.0.9", "{hosts}");

    let https = client::config(Some(&files.certs.ca), None, &[]);
    let v1 = exchange(
        server.http,
        https,
        &request("GET", "/nacos/v1/ns/instance/list?serviceName=orders"),
    )
    .await
    .unwrap();
    assert!(v1.contains(r#""ip":"10.0.0.9""#), "{v1}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_refuses_an_untrusting_client_and_plaintext() {
    let files = Files::new("grpc-refused");
    let server = files.server(false, &[]);
    let untrusting = client::config(None, None, &[b"h2"]);
    let err = grpc_channel(server.grpc, untrusting).await.unwrap_err();
    let chain = format!("{err:?}");
    assert!(chain.contains("UnknownIssuer"), "{chain}");

    let plaintext = tonic::transport::Endpoint::from_shared(format!("http://{}", server.grpc))
        .unwrap()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(10));
    let answered = match plaintext.connect().await {
        Ok(channel) => server_check(channel).await.ok(),
        Err(_) => None,
    };
    assert!(answered.is_none(), "{answered:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_client_ca_grpc_needs_a_certificate_it_signed() {
    let files = Files::new("grpc-mutual");
    let server = files.server(true, &[]);
    let ca = Some(files.certs.ca.as_str());
    for (who, identity) in [
        ("no certificate", None),
        ("a stranger's certificate", Some(&files.certs.stranger)),
    ] {
        let config = client::config(ca, identity, &[b"h2"]);
        let answered = match grpc_channel(server.grpc, config).await {
            Ok(channel) => server_check(channel).await.ok(),
            Err(_) => None,
        };
        assert!(answered.is_none(), "{who}: {answered:?}");
    }
    let config = client::config(ca, Some(&files.certs.client), &[b"h2"]);
    let channel = grpc_channel(server.grpc, config).await.unwrap();
    let check = server_check(channel).await.unwrap();
    assert_eq!(check.kind(), "ServerCheckResponse");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_handshake_never_finished_frees_its_place_after_the_setup_timeout() {
    let files = Files::new("grpc-slow");
    let server = files.server(
        false,
        &["--grpc-setup-timeout", "1s", "--grpc-max-connections", "1"],
    );
    let h2 = client::config(Some(&files.certs.ca), None, &[b"h2"]);
    let started = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(server.grpc).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        grpc_channel(server.grpc, h2.clone()).await.is_err(),
        "the one place is held"
    );
    assert!(closed_within(&mut silent, Duration::from_secs(10)).await);
    let held = started.elapsed();
    assert!(held >= Duration::from_millis(900), "closed after {held:?}");
    let channel = grpc_channel(server.grpc, h2).await.unwrap();
    assert_eq!(
        server_check(channel).await.unwrap().kind(),
        "ServerCheckResponse"
    );
}

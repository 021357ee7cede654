//! A three-node cluster over real loopback HTTP, its peers authenticated by a shared secret.

use crate::common::fixtures::eventually;
use crate::env::{hosts, http_json};
use nacre::cluster::{ClusterNode, ClusterSecret, DistroConfig, NodeId, PeerAuth};
use nacre::http::{HttpPeerTransport, NacosApi};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

fn fast_distro() -> DistroConfig {
    DistroConfig {
        sync_delay: Duration::from_millis(50),
        retry_delay: Duration::from_millis(200),
        verify_interval: Duration::from_millis(500),
        ping_interval: Duration::from_millis(100),
        // Generous, so a busy machine does not make peers flap.
        peer_down_after: Duration::from_secs(5),
        request_timeout: Duration::from_secs(3),
        ..DistroConfig::default()
    }
}

/// The secret the test clusters share.
pub(crate) const SECRET: &str = "test-cluster-secret-0123456789";

pub(crate) fn auth() -> PeerAuth {
    PeerAuth::Secret(ClusterSecret::new(SECRET).unwrap())
}

struct Member {
    node: ClusterNode,
    addr: SocketAddr,
}

/// `n` cluster nodes on loopback, each serving the Nacos API and the peer route; returns once
/// every node serves.
async fn loopback_cluster(n: usize) -> Vec<Member> {
    let mut listeners = Vec::new();
    for _ in 0..n {
        listeners.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let ids: Vec<NodeId> = listeners
        .iter()
        .map(|l| NodeId::new(&l.local_addr().unwrap().to_string()).unwrap())
        .collect();
    let mut members = Vec::new();
    for (listener, id) in listeners.into_iter().zip(&ids) {
        let transport = Arc::new(HttpPeerTransport::new(id.clone(), auth()));
        let node = ClusterNode::builder(id.clone(), ids.clone(), transport)
            .config(fast_distro())
            .build()
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = NacosApi::new(node.clone()).peer_auth(auth()).router();
        tokio::spawn(async move { axum::serve(listener, app).await });
        node.start();
        members.push(Member { node, addr });
    }
    for m in &members {
        let node = m.node.clone();
        eventually("every node to serve", Duration::from_secs(30), || {
            let node = node.clone();
            async move { node.is_ready() }
        })
        .await;
    }
    members
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_http_replicate_registrations_and_forward_beats() {
    let members = loopback_cluster(3).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // Several services, so some are owned by the node written to and some are forwarded.
    let services: Vec<String> = (0..6).map(|i| format!("svc-{i}")).collect();
    for (i, svc) in services.iter().enumerate() {
        let via = &members[i % 3];
        let url = format!(
            "http://{}/nacos/v1/ns/instance?serviceName={svc}&ip=10.0.0.{i}&port=8080",
            via.addr
        );
        assert_eq!(
            http_json(&http, reqwest::Method::POST, url).await,
            Value::String("ok".into())
        );
    }
    for m in &members {
        for (i, svc) in services.iter().enumerate() {
            let url = format!(
                "http://{}/nacos/v1/ns/instance/list?serviceName={svc}",
                m.addr
            );
            let http = http.clone();
            let want = format!("10.0.0.{i}:8080");
            eventually(
                &format!("{svc} on {}", m.addr),
                Duration::from_secs(30),
                || {
                    let (http, url, want) = (http.clone(), url.clone(), want.clone());
                    async move {
                        hosts(&http_json(&http, reqwest::Method::GET, url).await) == [want]
                    }
                },
            )
            .await;
        }
    }
    // Beats through any node reach the responsible one.
    for (i, m) in members.iter().enumerate() {
        let url = format!(
            "http://{}/nacos/v1/ns/instance/beat?serviceName=svc-0&ip=10.0.0.0&port=8080",
            m.addr
        );
        let answer = http_json(&http, reqwest::Method::PUT, url).await;
        assert_eq!(answer["code"], 10200, "beat via node {i}");
        let url = format!(
            "http://{}/nacos/v1/ns/instance/beat?serviceName=svc-0&ip=10.9.9.9&port=1",
            m.addr
        );
        let answer = http_json(&http, reqwest::Method::PUT, url).await;
        assert_eq!(answer["code"], 20404, "unknown instance via node {i}");
    }
    // The peer route refuses what is not a peer message (415) and a peer message whose body
    // is not an envelope (400).
    let garbage = [&b"Nc"[..], &[nacre::cluster::WIRE_VERSION], &b"hello"[..]].concat();
    for (body, status) in [(b"hello".to_vec(), 415), (garbage, 400)] {
        let answer = http
            .post(format!("http://{}/nacre/v1/peer", members[0].addr))
            .header("x-nacre-cluster-secret", SECRET)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status);
    }
    for m in &members {
        m.node.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_patch_and_put_through_any_member_reach_the_responsible_one() {
    let members = loopback_cluster(3).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let call = |method: reqwest::Method, url: String| {
        let http = http.clone();
        async move {
            let answer = http.request(method, &url).send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.text().await.unwrap())
        }
    };
    let db = "serviceName=db&ip=10.0.0.9&port=5432";
    let web = "serviceName=db&ip=10.0.0.1&port=80";
    let first = members[0].addr;
    for q in [format!("{db}&ephemeral=false"), web.to_owned()] {
        let url = format!("http://{first}/nacos/v1/ns/instance?{q}");
        assert_eq!(call(reqwest::Method::POST, url).await, (200, "ok".into()));
    }
    let statuses_everywhere = |want: Value| {
        let http = http.clone();
        let addrs: Vec<SocketAddr> = members.iter().map(|m| m.addr).collect();
        async move {
            for addr in addrs {
                let url = format!("http://{addr}/nacos/v1/ns/instance/statuses?key=db");
                let (http, want) = (http.clone(), want.clone());
                eventually(
                    &format!("{want} on {addr}"),
                    Duration::from_secs(30),
                    || {
                        let (http, url, want) = (http.clone(), url.clone(), want.clone());
                        async move { http_json(&http, reqwest::Method::GET, url).await == want }
                    },
                )
                .await;
            }
        }
    };
    statuses_everywhere(serde_json::json!({"ips": ["10.0.0.1:80_true", "10.0.0.9:5432_true"]}))
        .await;
    for (i, m) in members.iter().enumerate() {
        let healthy = i % 2 == 1;
        let url = format!(
            "http://{}/nacos/v1/ns/health/instance?{db}&healthy={healthy}",
            m.addr
        );
        assert_eq!(call(reqwest::Method::PUT, url).await, (200, "ok".into()));
        statuses_everywhere(serde_json::json!({"ips": [
            "10.0.0.1:80_true",
            format!("10.0.0.9:5432_{healthy}"),
        ]}))
        .await;
        // An ephemeral instance is refused by the responsible member, whichever is asked.
        let url = format!(
            "http://{}/nacos/v1/ns/health/instance?{web}&healthy=false",
            m.addr
        );
        let (status, body) = call(reqwest::Method::PUT, url).await;
        assert_eq!(status, 400, "via node {i}: {body}");
        assert!(body.contains("health check is still working"), "{body}");
        // Unknown instances: `ok` for the health, 404 for a patch, `ok` for an update.
        let ghost = "serviceName=db&ip=10.9.9.9&port=1";
        let url = format!(
            "http://{}/nacos/v1/ns/health/instance?{ghost}&healthy=true",
            m.addr
        );
        assert_eq!(call(reqwest::Method::PUT, url).await, (200, "ok".into()));
        let url = format!("http://{}/nacos/v1/ns/instance?{ghost}&weight=2", m.addr);
        assert_eq!(call(reqwest::Method::PATCH, url).await.0, 404);
        let url = format!("http://{}/nacos/v1/ns/instance?{ghost}&weight=2", m.addr);
        assert_eq!(call(reqwest::Method::PUT, url).await, (200, "ok".into()));
    }
    // A patch through one member and an update through another, seen on all.
    let url = format!(
        "http://{}/nacos/v1/ns/instance?{web}&weight=4",
        members[1].addr
    );
    assert_eq!(call(reqwest::Method::PATCH, url).await, (200, "ok".into()));
    let url = format!(
        "http://{}/nacos/v1/ns/instance?{web}&enabled=false&weight=4&metadata=k%3Dv",
        members[2].addr
    );
    assert_eq!(call(reqwest::Method::PUT, url).await, (200, "ok".into()));
    for m in &members {
        let url = format!("http://{}/nacos/v1/ns/instance?{web}", m.addr);
        let http = http.clone();
        eventually(
            &format!("the update on {}", m.addr),
            Duration::from_secs(30),
            || {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let detail = http_json(&http, reqwest::Method::GET, url).await;
                    detail["enabled"] == false
                        && detail["weight"] == 4.0
                        && detail["metadata"]["k"] == "v"
                }
            },
        )
        .await;
    }
    for m in &members {
        m.node.stop();
    }
}

/// A sync of one service ("orders", one instance 10.6.6.6:666) made by a registry outside the
/// cluster: what a forged or mis-versioned peer request carries.
fn outside_sync() -> (nacre::ServiceKey, nacre::cluster::PeerRequest) {
    let orders = nacre::ServiceKey::named("orders").unwrap();
    let donor = nacre::Registry::default();
    donor
        .register_instance(&orders, nacre::Instance::new("10.6.6.6", 666).unwrap())
        .unwrap();
    let request = nacre::cluster::PeerRequest::Sync {
        records: vec![donor.service(&orders).unwrap().to_record(None)],
    };
    (orders, request)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_peer_request_is_refused_with_403_and_changes_nothing() {
    let members = loopback_cluster(2).await;
    let target = &members[0];
    let peer = members[1].node.id().clone();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // A sync batch under a member's id, adding an instance, as an attacker would send it.
    let (orders, request) = outside_sync();
    let envelope = nacre::cluster::Envelope {
        from: peer.clone(),
        request,
    };
    let url = format!("http://{}/nacre/v1/peer", target.addr);
    for secret in [None, Some("not-the-cluster-secret-at-all")] {
        let mut post = http.post(&url).json(&envelope);
        if let Some(s) = secret {
            post = post.header("x-nacre-cluster-secret", s);
        }
        let answer = post.send().await.unwrap();
        assert_eq!(answer.status(), 403, "secret {secret:?}");
        let text = answer.text().await.unwrap();
        assert!(text.contains("x-nacre-cluster-secret"), "{text}");
    }
    assert!(
        target.node.registry().service(&orders).is_none(),
        "nothing was merged"
    );
    // A transport with another secret is refused as well, and sees a refusal.
    let wrong = HttpPeerTransport::new(
        peer,
        PeerAuth::Secret(ClusterSecret::new("not-the-cluster-secret-at-all").unwrap()),
    );
    let answer = nacre::cluster::PeerTransport::send(
        &wrong,
        target.node.id(),
        nacre::cluster::PeerRequest::Ping { ready: true },
    )
    .await
    .unwrap();
    assert!(
        matches!(&answer, nacre::cluster::PeerResponse::Rejected(why) if why.contains("403")),
        "{answer:?}"
    );
    // The right secret gets through.
    let answer = http
        .post(&url)
        .header("x-nacre-cluster-secret", SECRET)
        .header(
            "x-nacre-peer-version",
            nacre::cluster::WIRE_VERSION.to_string(),
        )
        .json(&envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        target.node.registry().get_all_instances(&orders, &[]).len(),
        1
    );
    for m in &members {
        m.node.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_speaking_another_wire_version_is_refused_with_415_and_changes_nothing() {
    let members = loopback_cluster(2).await;
    let target = &members[0];
    let peer = members[1].node.id().clone();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let (orders, request) = outside_sync();
    let url = format!("http://{}/nacre/v1/peer", target.addr);
    // The same message under the next version number: refused by its header, not misread.
    let mut body = nacre::cluster::encode_request(&peer, &request).unwrap();
    body[2] = nacre::cluster::WIRE_VERSION + 1;
    let answer = http
        .post(&url)
        .header("x-nacre-cluster-secret", SECRET)
        .header("content-type", nacre::http::PEER_CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 415);
    let text = answer.text().await.unwrap();
    let next = nacre::cluster::WIRE_VERSION + 1;
    assert!(
        text.contains(&format!("wire format version {next}")),
        "{text}"
    );
    // JSON naming another version (or none) is refused the same way.
    let envelope = nacre::cluster::Envelope {
        from: peer.clone(),
        request: request.clone(),
    };
    let next = next.to_string();
    for version in [None, Some(next.as_str())] {
        let mut post = http
            .post(&url)
            .header("x-nacre-cluster-secret", SECRET)
            .json(&envelope);
        if let Some(v) = version {
            post = post.header(nacre::http::PEER_VERSION_HEADER, v);
        }
        assert_eq!(post.send().await.unwrap().status(), 415, "{version:?}");
    }
    assert!(
        target.node.registry().service(&orders).is_none(),
        "nothing was merged"
    );
    // This build's binary message, and its JSON for debugging, both get through.
    for format in [
        nacre::http::PeerFormat::Binary,
        nacre::http::PeerFormat::Json,
    ] {
        let transport = HttpPeerTransport::new(peer.clone(), auth()).with_format(format);
        let answer =
            nacre::cluster::PeerTransport::send(&transport, target.node.id(), request.clone())
                .await
                .unwrap();
        assert_eq!(answer, nacre::cluster::PeerResponse::Ack, "{format:?}");
    }
    assert_eq!(
        target.node.registry().get_all_instances(&orders, &[]).len(),
        1
    );
    for m in &members {
        m.node.stop();
    }
}

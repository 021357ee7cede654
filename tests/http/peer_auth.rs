//! The peer route's gate, in process: what reaches the node behind it.

use axum::body::Body;
use axum::http::Request;
use nacre::cluster::{
    ClusterNode, ClusterSecret, Envelope, NodeId, PeerAuth, PeerHandler, PeerRequest, PeerResponse,
};
use nacre::http::{peer_router, NacosApi};
use nacre::transport::memory::MemoryNetwork;
use nacre::ManualClock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tower::ServiceExt;

/// Counts what reaches it.
#[derive(Default)]
struct Counting(AtomicUsize);

impl PeerHandler for Counting {
    fn receive(&self, _: &NodeId, _: PeerRequest) -> PeerResponse {
        self.0.fetch_add(1, Ordering::SeqCst);
        PeerResponse::Ack
    }
}

fn ping() -> String {
    serde_json::to_string(&Envelope {
        from: NodeId::new("n2").unwrap(),
        request: PeerRequest::Ping { ready: true },
    })
    .unwrap()
}

/// A control-plane message (Raft's vote), as a member would send it.
fn vote() -> String {
    serde_json::to_string(&Envelope {
        from: NodeId::new("n2").unwrap(),
        request: PeerRequest::Control(nacre::cluster::ControlRequest::Vote(vec![1, 2, 3])),
    })
    .unwrap()
}

async fn post(app: &axum::Router, secret: Option<&str>) -> (u16, String) {
    post_body(app, secret, ping()).await
}

async fn post_body(app: &axum::Router, secret: Option<&str>, body: String) -> (u16, String) {
    let mut req = Request::post("/nacre/v1/peer")
        .header("content-type", "application/json")
        .header(
            "x-nacre-peer-version",
            nacre::cluster::WIRE_VERSION.to_string(),
        );
    if let Some(s) = secret {
        req = req.header("x-nacre-cluster-secret", s);
    }
    let answer = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let body = axum::body::to_bytes(answer.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn only_requests_with_the_cluster_secret_reach_the_node() {
    let node = Arc::new(Counting::default());
    let secret = ClusterSecret::new("the-cluster-secret-0123456789").unwrap();
    let app = peer_router(node.clone(), PeerAuth::Secret(secret));

    let (status, body) = post(&app, None).await;
    assert_eq!(status, 403);
    assert!(body.contains("no cluster secret"), "{body}");
    let (status, body) = post(&app, Some("the-cluster-secret-012345678")).await;
    assert_eq!(status, 403);
    assert!(body.contains("wrong cluster secret"), "{body}");
    assert_eq!(node.0.load(Ordering::SeqCst), 0, "nothing reached the node");

    let (status, _) = post(&app, Some("the-cluster-secret-0123456789")).await;
    assert_eq!(status, 200);
    assert_eq!(node.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn control_plane_messages_pass_the_same_gate() {
    let node = Arc::new(Counting::default());
    let secret = ClusterSecret::new("the-cluster-secret-0123456789").unwrap();
    let app = peer_router(node.clone(), PeerAuth::Secret(secret));
    assert_eq!(post_body(&app, None, vote()).await.0, 403);
    let wrong = Some("the-cluster-secret-012345678");
    assert_eq!(post_body(&app, wrong, vote()).await.0, 403);
    assert_eq!(node.0.load(Ordering::SeqCst), 0, "nothing reached the node");
    let right = Some("the-cluster-secret-0123456789");
    assert_eq!(post_body(&app, right, vote()).await.0, 200);
    // The handler's default receive_control hands it to receive.
    assert_eq!(node.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_insecure_peer_route_lets_everything_through() {
    let node = Arc::new(Counting::default());
    let app = peer_router(node.clone(), PeerAuth::InsecureNone);
    assert_eq!(post(&app, None).await.0, 200);
    assert_eq!(post(&app, Some("anything")).await.0, 200);
    assert_eq!(node.0.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_cluster_members_api_without_peer_auth_refuses_every_peer_request() {
    let clock = ManualClock::new();
    let ids: Vec<NodeId> = ["n1", "n2"]
        .iter()
        .map(|s| NodeId::new(s).unwrap())
        .collect();
    let net = MemoryNetwork::new(Arc::new(clock.clone()), 1);
    let node = ClusterNode::builder(ids[0].clone(), ids.clone(), net.transport(&ids[0]))
        .clock(clock)
        .build()
        .unwrap();
    let app = NacosApi::new(node.clone()).router();
    let (status, body) = post(&app, Some("the-cluster-secret-0123456789")).await;
    assert_eq!(status, 403);
    assert!(body.contains("no cluster secret configured"), "{body}");
    // Left out, the route is not served at all.
    let app = NacosApi::new(node).without_peer_route().router();
    assert_eq!(post(&app, None).await.0, 404);
}

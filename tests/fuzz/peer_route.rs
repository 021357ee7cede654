//! The peer route over HTTP (`peer_router` over a `ClusterNode`), as `POST /nacre/v1/peer`
//! bodies arrive from anyone who can reach the port: mutated envelopes (from `peer`) and
//! garbage, in the binary format and in JSON (debugging). Every answer is 200 or 400, never a
//! 5xx, and the node's store stays sound.

use crate::check;
use crate::peer::{decode_any, garbage, is_binary, me, member, mutated_envelope};
use axum::body::Body;
use axum::http::Request;
use nacre::async_trait;
use nacre::cluster::{ClusterNode, PeerError, PeerTransport};
use nacre::cluster::{Envelope, NodeId, PeerRequest, PeerResponse};
use nacre::http::{peer_router, PEER_CONTENT_TYPE, PEER_PATH, PEER_VERSION_HEADER};
use nacre::ManualClock;
use proptest::collection::vec;
use proptest::prelude::*;
use std::sync::Arc;
use tower::ServiceExt;

/// A transport whose peers are all down: the node under test only answers.
struct Nowhere;

#[async_trait]
impl PeerTransport for Nowhere {
    async fn send(&self, to: &NodeId, _: PeerRequest) -> Result<PeerResponse, PeerError> {
        Err(PeerError::Unreachable(to.clone()))
    }
}

proptest! {
    #![proptest_config(crate::config(64))]

    /// Every body gets 200 (a decoded envelope, answered by the node in the request's format),
    /// 400 (not an envelope) or 415 (a binary message of another version), never a 5xx, and
    /// the node's store stays sound.
    #[test]
    fn the_peer_route_answers_200_400_or_415(
        bodies in vec(prop_oneof![3 => mutated_envelope().prop_map(|(_, b)| b), 1 => garbage()], 1..6),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let clock = ManualClock::new();
            let node = ClusterNode::builder(me(), vec![me(), member()], Arc::new(Nowhere))
                .clock(clock.clone())
                .build()
                .expect("a member of its own list");
            let app = peer_router(Arc::new(node.clone()), nacre::cluster::PeerAuth::InsecureNone);
            for body in bodies {
                let decodes = decode_any::<Envelope>(&body).is_some();
                let binary = is_binary(&body);
                let content_type = if binary { PEER_CONTENT_TYPE } else { "application/json" };
                let req = Request::builder()
                    .method("POST")
                    .uri(PEER_PATH)
                    .header("content-type", content_type)
                    .header(PEER_VERSION_HEADER, nacre::cluster::WIRE_VERSION.to_string())
                    .body(Body::from(body.clone()))
                    .unwrap();
                let answer = app.clone().oneshot(req).await.unwrap();
                let status = answer.status().as_u16();
                let text = axum::body::to_bytes(answer.into_body(), usize::MAX).await.unwrap();
                // A binary body of another version is refused by its header (415).
                let other_version = binary && body.get(2).is_some_and(|v| *v != nacre::cluster::WIRE_VERSION);
                let want = if decodes { 200 } else if other_version { 415 } else { 400 };
                prop_assert_eq!(status, want, "{}", String::from_utf8_lossy(&text));
                if decodes {
                    prop_assert!(
                        decode_any::<PeerResponse>(&text).is_some() && is_binary(&text) == binary,
                        "the answer does not decode, or is in another format than the request"
                    );
                }
                check::state(node.registry().store()).map_err(TestCaseError::fail)?;
                check::servable(node.registry().store(), None).map_err(TestCaseError::fail)?;
            }
            Ok(())
        })?;
    }
}

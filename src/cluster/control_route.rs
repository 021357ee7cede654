//! The control plane's messages on the peer transport: [`ControlRequest`] (Raft's vote, append
//! and snapshot messages, and writes forwarded to the leader), their answers ([`ControlReply`]),
//! and [`ControlHandler`], the side of a member that answers them (the `control` feature's
//! Raft node).
//!
//! They travel as [`PeerRequest::Control`](super::PeerRequest::Control) and
//! [`PeerResponse::Control`](super::PeerResponse::Control), in the same binary codec, on the same
//! peer port and behind the same cluster secret as Distro's messages. Their bodies are opaque
//! bytes here: the control plane encodes openraft's messages and its own commands into them
//! (postcard, see `nacre::control`), so this module, the codec and the wire enum are the same in
//! every build. A member built without the `control` feature, or running without a control
//! plane, decodes them and answers [`ControlReply::Unavailable`]: a typed refusal, which the
//! sender's Raft treats as an unreachable member.
//!
//! Every body is at most [`MAX_CONTROL_BODY_BYTES`]; a larger one is refused
//! ([`ControlReply::Malformed`]) before it is decoded, and the control plane never sends one
//! (openraft's batches and snapshot chunks are sized below it).
//!
//! Differences from Nacos: Nacos' JRaft speaks its own RPC protocol (protobuf over Bolt or
//! gRPC) on a port of its own (the main port minus 1000); nacre's Raft shares the peer port,
//! format and secret with Distro.

use super::node_id::NodeId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The largest body of a [`ControlRequest`] or [`ControlReply::Answer`]: 16 MiB.
pub const MAX_CONTROL_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A control-plane request from one member to another. Each body is the control plane's
/// encoding of the message named by the variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlRequest {
    /// Raft's `RequestVote`.
    Vote(Vec<u8>),
    /// Raft's `AppendEntries` (heartbeats too).
    AppendEntries(Vec<u8>),
    /// One chunk of Raft's `InstallSnapshot`.
    InstallSnapshot(Vec<u8>),
    /// A control write forwarded by a follower to the member it believes leads.
    Forward(Vec<u8>),
}

impl ControlRequest {
    /// The encoded body.
    pub fn body(&self) -> &[u8] {
        match self {
            ControlRequest::Vote(b)
            | ControlRequest::AppendEntries(b)
            | ControlRequest::InstallSnapshot(b)
            | ControlRequest::Forward(b) => b,
        }
    }

    /// The message's name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ControlRequest::Vote(_) => "vote",
            ControlRequest::AppendEntries(_) => "append-entries",
            ControlRequest::InstallSnapshot(_) => "install-snapshot",
            ControlRequest::Forward(_) => "forward",
        }
    }
}

/// The answer to a [`ControlRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlReply {
    /// The control plane's encoded answer (a Raft response or error, or a forwarded write's
    /// result).
    Answer(Vec<u8>),
    /// This member runs no control plane (built without the `control` feature, or not given
    /// one): the reason.
    Unavailable(String),
    /// The request's body was too large or did not decode: the reason.
    Malformed(String),
}

/// The side of a member that answers [`ControlRequest`]s: its Raft node. A
/// [`crate::cluster::ClusterNode`] built with one ([`crate::cluster::ClusterNodeBuilder::control`])
/// hands it every control request a member of its list sends.
#[async_trait]
pub trait ControlHandler: Send + Sync + 'static {
    /// Answers one control request from member `from`.
    async fn receive(&self, from: &NodeId, request: ControlRequest) -> ControlReply;
}

/// The answer of a member without a control plane.
pub(crate) fn unavailable() -> ControlReply {
    ControlReply::Unavailable(
        "this member runs no control plane (built without the `control` feature, or started \
         without one)"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{
        decode_message, encode_message, ClusterNode, Envelope, PeerHandler, PeerRequest,
        PeerResponse,
    };
    use crate::transport::memory::MemoryNetwork;
    use std::sync::Arc;

    fn id(s: &str) -> NodeId {
        NodeId::new(s).expect("valid id")
    }

    #[test]
    fn control_messages_round_trip_in_the_binary_codec() {
        let envelope = Envelope {
            from: id("10.0.0.1:8848"),
            request: PeerRequest::Control(ControlRequest::AppendEntries(vec![1, 2, 3])),
        };
        let bytes = encode_message(&envelope).expect("encodes");
        assert_eq!(decode_message::<Envelope>(&bytes), Ok(envelope));
        for reply in [
            ControlReply::Answer(vec![9; 300]),
            ControlReply::Unavailable("no".into()),
            ControlReply::Malformed("bad".into()),
        ] {
            let answer = PeerResponse::Control(reply);
            let bytes = encode_message(&answer).expect("encodes");
            assert_eq!(decode_message::<PeerResponse>(&bytes), Ok(answer));
        }
    }

    #[tokio::test]
    async fn a_member_without_a_control_plane_answers_unavailable_and_a_stranger_is_rejected() {
        let (a, b) = (id("a:1"), id("b:1"));
        let net = MemoryNetwork::new(Arc::new(crate::SystemClock::new()), 1);
        let node = ClusterNode::builder(a.clone(), vec![a.clone(), b.clone()], net.transport(&a))
            .build()
            .expect("builds");
        let request = ControlRequest::Vote(vec![0]);
        let answer = node.receive_control(&b, request.clone()).await;
        assert!(
            matches!(answer, PeerResponse::Control(ControlReply::Unavailable(_))),
            "{answer:?}"
        );
        // Through the synchronous entry point too: a typed answer, not a panic.
        let answer = node.receive(&b, PeerRequest::Control(request.clone()));
        assert!(
            matches!(answer, PeerResponse::Control(ControlReply::Unavailable(_))),
            "{answer:?}"
        );
        let answer = node.receive_control(&id("c:1"), request).await;
        assert!(matches!(answer, PeerResponse::Rejected(_)), "{answer:?}");
    }
}

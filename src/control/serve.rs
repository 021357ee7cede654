//! [`ControlPeer`]: the receiving side of the control group's network. The member's
//! [`crate::cluster::ClusterNode`] hands it every [`ControlRequest`] a member of its list sends
//! (after the transport checked the cluster secret and the node the sender's membership); it
//! decodes the body, hands it to this member's Raft (or, for a forwarded write, to
//! [`ControlNode`]'s write path), and encodes the answer.
//!
//! Nothing here panics on what arrives: a body too large or not decodable is answered
//! [`ControlReply::Malformed`], which the sender's Raft treats as an unreachable member.

use async_trait::async_trait;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::command::ControlCommand;
use super::group::ControlNode;
use super::types::ControlTypeConfig;
use super::wire;
use crate::cluster::{ControlHandler, ControlReply, ControlRequest, NodeId};

/// Answers the control requests of the other members for one [`ControlNode`].
pub(crate) struct ControlPeer {
    node: ControlNode,
}

impl ControlPeer {
    pub(crate) fn new(node: ControlNode) -> Self {
        ControlPeer { node }
    }
}

fn answer<T: Serialize>(value: &T) -> ControlReply {
    match wire::encode(value) {
        Ok(bytes) => ControlReply::Answer(bytes),
        Err(e) => {
            tracing::warn!(error = %e, "a control answer could not be encoded");
            ControlReply::Malformed(e.to_string())
        }
    }
}

fn decode<T: DeserializeOwned>(from: &NodeId, kind: &str, body: &[u8]) -> Result<T, ControlReply> {
    wire::decode(body).map_err(|e| {
        tracing::debug!(%from, kind, error = %e, "refused a control request");
        ControlReply::Malformed(e.to_string())
    })
}

#[async_trait]
impl ControlHandler for ControlPeer {
    async fn receive(&self, from: &NodeId, request: ControlRequest) -> ControlReply {
        let raft = &self.node.inner.raft;
        let kind = request.kind();
        tracing::trace!(%from, kind, bytes = request.body().len(), "control request");
        let reply = match request {
            ControlRequest::Vote(body) => match decode::<VoteRequest<u64>>(from, kind, &body) {
                Ok(rpc) => answer(&raft.vote(rpc).await),
                Err(refused) => refused,
            },
            ControlRequest::AppendEntries(body) => {
                match decode::<AppendEntriesRequest<ControlTypeConfig>>(from, kind, &body) {
                    Ok(rpc) => answer(&raft.append_entries(rpc).await),
                    Err(refused) => refused,
                }
            }
            ControlRequest::InstallSnapshot(body) => {
                match decode::<InstallSnapshotRequest<ControlTypeConfig>>(from, kind, &body) {
                    Ok(rpc) => answer(&raft.install_snapshot(rpc).await),
                    Err(refused) => refused,
                }
            }
            ControlRequest::Forward(body) => match decode::<ControlCommand>(from, kind, &body) {
                Ok(command) => answer(&self.node.write_forwarded(command).await),
                Err(refused) => refused,
            },
        };
        reply
    }
}

//! [`PeerNetwork`]: the Raft network of a control group's member over nacre's peer transport.
//!
//! Each of openraft's messages is encoded ([`super::wire`]) into a
//! [`ControlRequest`](crate::cluster::ControlRequest) and sent as a
//! [`PeerRequest::Control`](crate::cluster::PeerRequest::Control) through the member's
//! [`PeerTransport`] (the one its [`crate::cluster::ClusterNode`] sends Distro's messages
//! through: same port, same codec, same cluster secret), to the member whose address the Raft
//! node ([`openraft::BasicNode`]) carries. Every call is bounded by openraft's
//! [`RPCOption::hard_ttl`].
//!
//! How failures reach openraft, which retries them all:
//! - the peer is down, partitioned away, refuses this member (not in its list, another
//!   secret), or runs no control plane: [`Unreachable`], so openraft backs off before it
//!   tries that member again;
//! - no answer in time, an answer that does not decode, or a body this member cannot encode:
//!   [`NetworkError`];
//! - the peer's Raft answered with an error: [`RemoteError`], as openraft's own networks do.

use std::sync::Arc;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::types::ControlTypeConfig;
use super::wire;
use crate::cluster::{
    ControlReply, ControlRequest, NodeId, PeerError, PeerRequest, PeerResponse, PeerTransport,
};

/// The Raft network of a member: connections to the other members over its peer transport.
#[derive(Clone)]
pub struct PeerNetwork {
    transport: Arc<dyn PeerTransport>,
}

impl std::fmt::Debug for PeerNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerNetwork").finish_non_exhaustive()
    }
}

impl PeerNetwork {
    /// The network over `transport` (the member's [`PeerTransport`]).
    pub fn new(transport: Arc<dyn PeerTransport>) -> Self {
        PeerNetwork { transport }
    }
}

/// A connection [`PeerNetwork`] hands openraft: the way to one member.
#[derive(Clone)]
pub struct PeerLink {
    transport: Arc<dyn PeerTransport>,
    target: u64,
    node: BasicNode,
}

impl std::fmt::Debug for PeerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerLink")
            .field("target", &self.target)
            .field("address", &self.node.addr)
            .finish()
    }
}

impl RaftNetworkFactory<ControlTypeConfig> for PeerNetwork {
    type Network = PeerLink;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerLink {
        PeerLink {
            transport: self.transport.clone(),
            target,
            node: node.clone(),
        }
    }
}

/// Why a call to a member failed, before any answer of its Raft.
#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("member {0:?} has no valid peer address: {1}")]
    Address(String, String),
    #[error(transparent)]
    Peer(#[from] PeerError),
    #[error("member {0} did not answer within {1:?}")]
    Timeout(NodeId, std::time::Duration),
    #[error("member {0} refused the message: {1}")]
    Refused(NodeId, String),
    #[error("member {0} answered something that is not a control answer")]
    Unexpected(NodeId),
    #[error("{0}")]
    Wire(#[from] wire::WireError),
}

impl PeerLink {
    /// Sends one message and decodes its answer: `Ok(Err(e))` is the peer's Raft's error.
    async fn call<Req, Resp, E>(
        &self,
        wrap: fn(Vec<u8>) -> ControlRequest,
        rpc: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<u64, BasicNode, RaftError<u64, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let network = |e: LinkError| RPCError::Network(NetworkError::new(&e));
        let unreachable = |e: LinkError| RPCError::Unreachable(Unreachable::new(&e));
        let to = NodeId::new(&self.node.addr)
            .map_err(|e| unreachable(LinkError::Address(self.node.addr.clone(), e.to_string())))?;
        let body = wire::encode(rpc).map_err(|e| network(e.into()))?;
        let ttl = option.hard_ttl();
        let sent = tokio::time::timeout(
            ttl,
            self.transport.send(&to, PeerRequest::Control(wrap(body))),
        )
        .await;
        let answer = match sent {
            Err(_) => return Err(network(LinkError::Timeout(to, ttl))),
            Ok(Err(e @ PeerError::Unreachable(_))) => return Err(unreachable(e.into())),
            Ok(Err(e)) => return Err(network(e.into())),
            Ok(Ok(PeerResponse::Control(ControlReply::Answer(bytes)))) => bytes,
            Ok(Ok(PeerResponse::Control(
                ControlReply::Unavailable(why) | ControlReply::Malformed(why),
            )))
            | Ok(Ok(PeerResponse::Rejected(why))) => {
                return Err(unreachable(LinkError::Refused(to, why)))
            }
            Ok(Ok(_)) => return Err(network(LinkError::Unexpected(to))),
        };
        match wire::decode::<Result<Resp, RaftError<u64, E>>>(&answer) {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))),
            Err(e) => Err(network(e.into())),
        }
    }
}

impl RaftNetwork<ControlTypeConfig> for PeerLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<ControlTypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call(ControlRequest::AppendEntries, &rpc, &option)
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<ControlTypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.call(ControlRequest::InstallSnapshot, &rpc, &option)
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call(ControlRequest::Vote, &rpc, &option).await
    }
}

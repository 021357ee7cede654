//! [`NoPeers`]: the Raft network of a member that has no peers. A one-member group sends
//! nothing (it votes for itself and commits alone); should openraft ever address another
//! member, the call fails as [`openraft::error::Unreachable`], as a partition would, and
//! nothing pretends it was delivered. The network over nacre's peer transport replaces it
//! when the group has more than one member.

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;

use super::types::ControlTypeConfig;

/// The network of a member alone: there is no one to send to.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPeers;

/// The connection [`NoPeers`] hands out: every call is unreachable.
#[derive(Debug, Clone)]
pub struct NoPeer {
    target: u64,
    address: String,
}

/// Why a [`NoPeer`] call failed.
#[derive(Debug, thiserror::Error)]
#[error("member {target} ({address}) is unreachable: this member runs without a peer network")]
struct NoNetwork {
    target: u64,
    address: String,
}

impl NoPeer {
    fn unreachable<E: std::error::Error>(&self) -> RPCError<u64, BasicNode, E> {
        let why = NoNetwork {
            target: self.target,
            address: self.address.clone(),
        };
        RPCError::Unreachable(Unreachable::new(&why))
    }
}

impl RaftNetworkFactory<ControlTypeConfig> for NoPeers {
    type Network = NoPeer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> NoPeer {
        NoPeer {
            target,
            address: node.addr.clone(),
        }
    }
}

impl RaftNetwork<ControlTypeConfig> for NoPeer {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<ControlTypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        Err(self.unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<ControlTypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        Err(self.unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        Err(self.unreachable())
    }
}

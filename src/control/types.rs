//! The openraft type configuration of the control plane ([`ControlTypeConfig`]) and how a
//! member's Raft node id is made from its address ([`raft_node_id`]).
//!
//! ## Node ids
//!
//! openraft names members by an integer; nacre names them by address (`10.0.0.1:8848`, the
//! cluster's `NodeId`, as `--members` lists them). The Raft id of a member is the 64-bit
//! FNV-1a hash of the exact bytes of that address: a function fixed here (not the standard
//! library's hasher, whose output may change between Rust releases), so every member computes
//! the same id for every other member, in every build. Members must therefore spell each
//! address the same way, as Distro already requires. The member's address travels beside its
//! id as the Raft node ([`openraft::BasicNode`]). Two addresses hashing to one id is a
//! configuration error the membership step must refuse (1 in 2^64 per pair).

use std::io::Cursor;

use super::command::{ControlCommand, ControlResponse};

openraft::declare_raft_types!(
    /// The openraft types of nacre's control plane: [`ControlCommand`] in, [`ControlResponse`]
    /// out, `u64` node ids ([`raft_node_id`]), [`openraft::BasicNode`] (the member's address)
    /// as node, snapshots as bytes, on tokio.
    pub ControlTypeConfig:
        D = ControlCommand,
        R = ControlResponse,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<ControlTypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        Responder = openraft::impls::OneshotResponder<ControlTypeConfig>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft node id of the member at `address` (its cluster `NodeId`, `host:port`): the
/// FNV-1a 64-bit hash of the address' bytes.
///
/// ```
/// use nacre::control::raft_node_id;
/// assert_eq!(raft_node_id("10.0.0.1:8848"), raft_node_id("10.0.0.1:8848"));
/// assert_ne!(raft_node_id("10.0.0.1:8848"), raft_node_id("10.0.0.2:8848"));
/// // Fixed forever: the id is stored in every member's log.
/// assert_eq!(raft_node_id(""), 0xcbf2_9ce4_8422_2325);
/// ```
pub fn raft_node_id(address: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    address
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

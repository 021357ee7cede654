//! What peers say to each other: [`PeerRequest`] and [`PeerResponse`], plain serde types so the
//! host can pick any codec and any wire ([`super::encode_message`] is the compact one the
//! `http` feature uses).
//!
//! Wire compatibility: none across nacre versions. Variants are encoded by position, so adding
//! one (as `VerifyBuckets`, `VerifyServices`, `Differ` and `Control` were) changes the format: every
//! member must run the same build, which [`super::WIRE_VERSION`] enforces.

use super::node_id::NodeId;
use crate::model::ServiceKey;
use crate::registry::{Command, CommandOutput};
use crate::store::ServiceRecord;
use serde::{Deserialize, Serialize};

/// A request from one node to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PeerRequest {
    /// "I am alive"; `ready` says whether the sender serves yet.
    Ping {
        /// Whether the sender has loaded its snapshot and serves.
        ready: bool,
    },
    /// Changed instances (and tombstones) of some services, to merge.
    Sync {
        /// The changes.
        records: Vec<ServiceRecord>,
    },
    /// Checksums of the services the sender is responsible for, one per service: the verify
    /// of [`crate::cluster::DistroConfig::verify_buckets`] `= 0`, O(services) per round.
    Verify {
        /// `(service, checksum)` pairs.
        checksums: Vec<(ServiceKey, u64)>,
    },
    /// Bucketed verify, first step: the services the sender is responsible for, hashed into
    /// `sums.len()` buckets, one sum of checksums per bucket. The receiver answers
    /// [`PeerResponse::Differ`] with the buckets whose sums differ from its own copy's (or
    /// [`PeerResponse::Ack`] when none do).
    VerifyBuckets {
        /// One sum per bucket (0 for an empty bucket).
        sums: Vec<u64>,
    },
    /// Bucketed verify, second step: the checksums, service by service, of the sender's
    /// services in the buckets the receiver found differing. The receiver then does what it
    /// does with [`PeerRequest::Verify`], within those buckets.
    VerifyServices {
        /// How many buckets the services were hashed into.
        buckets: u32,
        /// The buckets covered.
        covered: Vec<u32>,
        /// `(service, checksum)` pairs of the sender's services in those buckets.
        checksums: Vec<(ServiceKey, u64)>,
    },
    /// "Send me these services in full."
    Fetch {
        /// The services wanted.
        services: Vec<ServiceKey>,
    },
    /// "Send me everything", one chunk at a time: a starting node loading its first snapshot.
    /// The answer is a [`PeerResponse::Chunk`] of whole services in key order, starting after
    /// `after` (from the first service when `None`); the loading node asks again with the
    /// chunk's `next` until it is `None`. Wire compatibility: this shape is not understood by
    /// an older version (which had a unit `Snapshot` answered by one `Records` message), so
    /// every member must run the same version.
    Snapshot {
        /// The last service key of the previous chunk.
        after: Option<ServiceKey>,
    },
    /// A client write or beat for a service the receiver is responsible for (see
    /// [`crate::registry::command`]).
    Forward(Command),
    /// A control-plane message: Raft's, or a control write forwarded to the leader (see
    /// [`super::ControlRequest`]). Transports hand it to
    /// [`super::PeerHandler::receive_control`].
    Control(super::ControlRequest),
}

impl PeerRequest {
    /// Whether this is a [`PeerRequest::Control`], which a transport hands to
    /// [`super::PeerHandler::receive_control`] (it awaits the member's Raft) rather than to
    /// [`super::PeerHandler::receive`].
    pub fn is_control(&self) -> bool {
        matches!(self, PeerRequest::Control(_))
    }
}

/// Why a forwarded operation failed, in a form that crosses the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RemoteFailure {
    /// The instance is not registered (Nacos code 20404): the client should re-register.
    InstanceNotFound(crate::model::InstanceId),
    /// The write would go over one of the responsible node's limits: the same typed refusal a
    /// local write gets, so every front answers it alike (HTTP 429).
    Limit(crate::model::LimitExceeded),
    /// Anything else, as the responsible node's error message.
    Refused(String),
    /// Applied on the responsible node, but its commit to disk failed or did not finish in
    /// time: a failure of that node, not of the request (HTTP 503, as a local one).
    NotPersisted(String),
}

/// An answer to a [`PeerRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PeerResponse {
    /// Answer to `Ping`.
    Pong {
        /// Whether the answering node serves.
        ready: bool,
    },
    /// Received and applied.
    Ack,
    /// Answer to [`PeerRequest::VerifyBuckets`]: the buckets whose sums differ.
    Differ {
        /// Bucket indices.
        buckets: Vec<u32>,
    },
    /// Services in full, for `Fetch`.
    Records(Vec<ServiceRecord>),
    /// One chunk of a snapshot, for `Snapshot`: whole services in key order, about
    /// [`crate::cluster::DistroConfig::snapshot_chunk_instances`] instances.
    Chunk {
        /// The services of this chunk.
        records: Vec<ServiceRecord>,
        /// Where the next chunk starts (pass it as `after`); `None` on the last chunk.
        next: Option<ServiceKey>,
    },
    /// The answering node is still loading and has no snapshot to give.
    NotReady,
    /// The result of a forwarded operation.
    Forwarded(Result<CommandOutput, RemoteFailure>),
    /// The request was not understood or not allowed (say, from a stranger).
    Rejected(String),
    /// The answer to a [`PeerRequest::Control`].
    Control(super::ControlReply),
}

/// An envelope with the sender's id, for transports that carry bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Who sends.
    pub from: NodeId,
    /// What.
    pub request: PeerRequest,
}

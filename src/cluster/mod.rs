//! Distro: several nodes acting as one AP registry, as Nacos servers do.
//!
//! - The membership keeps the static member list (like Nacos' `cluster.conf`) and judges peer
//!   liveness from pings; [`DistroMapper`] assigns each service to one healthy member by a
//!   stable hash.
//! - Writes and beats that reach another node are forwarded to the responsible one; if it
//!   cannot be reached the write is applied locally (AP) and reconciled later.
//! - Every local change is queued per peer and sent in batches after
//!   [`DistroConfig::sync_delay`] or once [`DistroConfig::batch_count`] changes wait; failures
//!   are retried until they succeed, always with the current data, so newer versions supersede.
//! - Every [`DistroConfig::verify_interval`] each node sends checksums of its services, hashed
//!   into [`DistroConfig::verify_buckets`] buckets with one sum each; a peer names the buckets
//!   where its copy differs, gets their services' checksums, and fetches the services that
//!   differ. A round between nodes that agree costs the bucket count, not the service count.
//!   A starting node loads a full snapshot first.
//! - Transports that carry bytes use the compact binary format of [`encode_message`]: about
//!   160 bytes per registration in a 3-node cluster where JSON took 950. It starts with its
//!   version ([`WIRE_VERSION`]); a message of another version is refused
//!   ([`CodecError::Version`]), not misread. It is not compatible across nacre versions: every
//!   member of a cluster runs the same build.
//! - Replicated data merges per instance by a join ([`crate::store::join`]): the newest client
//!   write wins (a health flip never outranks a client write it did not see), with tombstones
//!   for removals; an eviction is a claim about silence that loses to a copy that heard a
//!   later beat, so no instance whose client kept beating is lost across a partition or crash,
//!   and nothing a client deregistered comes back. The order records arrive in never matters.
//!   A removal of persistent data outlives the tombstone retention until every member has been
//!   up and serving for a whole retention, so a member that was down (or cut off) for longer
//!   brings nothing removed back from its disk ([`crate::store`], "Removals of persistent
//!   data").
//!
//! [`compute_preview`] answers "what if": which services a member's stop (or a planned member
//! list) moves, when the survivors notice, and when instances whose beats stop turn unhealthy
//! and go (see `preview.rs`).
//!
//! The protocol itself is the sans-IO [`DistroCore`] (no networking code, no OS time: it takes
//! `now` and messages, and hands back what to send and when to call it again);
//! [`ClusterNode`] drives it on tokio over a [`PeerTransport`] the host provides, and
//! [`crate::transport::memory`] provides an in-process network with fault injection plus a
//! deterministic simulator for seeded fault schedules. A host may drive the core itself (the
//! load tools under `benches/tools` do, with no runtime); it still cannot write past the
//! route: the core hands out only its registry's read side, and a write goes in through
//! [`DistroCore::dispatch`] and, when forwarded, out through [`DistroCore::complete`]. Its
//! parts (the membership, the sync queues, the write route's first step) are crate-private.
//!
//! Compared with the design sketch, one change: health flags and evictions are replicated, but
//! beats are not (they stay on the responsible node). A node that takes over a service
//! therefore gives it a grace period: its sweep counts no silence before the takeover. The
//! grace leaves the beat times alone (an invented beat would outweigh evictions made by the
//! previous owner, and bring evicted instances back), and the merge compares last-beat times
//! so an eviction made on one side of a partition cannot delete an instance that kept beating
//! on the other.
//!
//! ## Membership
//!
//! The member list is static and must name this node ([`MembershipError::NotAMember`] at
//! build time otherwise: a node left out of the lists splits the cluster, as its peers refuse
//! it). Every member starts in the owner table, presumed up and ready; in a fresh cluster the
//! peers that answered "starting too" stay there, and a node that starts serving pings every
//! peer at once. Any request from a peer, and any answer but [`PeerResponse::Rejected`],
//! counts as contact; a peer not heard from for [`DistroConfig::peer_down_after`] is down and
//! leaves the owner table. A peer that keeps refusing this node therefore goes down here too,
//! and is logged at `warn`.
//!
//! ## What a node accepts from its peers
//!
//! - A transport over a network others can reach authenticates its peers with a
//!   [`PeerAuth`]: a shared [`ClusterSecret`] compared in constant time, or an explicit
//!   [`PeerAuth::InsecureNone`] (the `http` feature's peer route answers 403 otherwise).
//! - Strangers (senders not in the member list) are refused ([`PeerResponse::Rejected`]).
//! - Every replicated record is checked like a client write before it is merged
//!   ([`crate::store::MergeRules`]: the registry's limits, the key it is sent under, the
//!   service settings); what fails is refused and counted ([`CoreStats::records_refused`]),
//!   the rest of the batch merges.
//! - A version stamp more than [`DistroConfig::max_clock_skew`] (default 5 s) ahead of this
//!   node's clock is refused, and a beat time that far ahead is clamped to it: no peer and no
//!   bug can make an instance immortal or saturate the version clocks.
//!
//! ## Bounds
//!
//! Each peer's sync queue holds at most [`DistroConfig::max_pending_per_peer`] changed
//! instances; past that it is dropped ([`CoreStats::queue_overflows`]) and the peer's copy is
//! repaired by verify and fetch, which converge from the owners' checksums.
//!
//! ## Logging
//!
//! Through `tracing` (the host installs a subscriber; the library installs none): peers going
//! down at `warn` and coming back at `info`, a refusing peer at `warn` (at most once a minute,
//! `debug` in between), dropped queues and refused records at `warn`, clamped beat times at
//! `warn` once per peer, snapshot loading at `info`, failed syncs and their retries at
//! `debug`. Nothing is logged per request above `debug`.
//!
//! ## Differences from Nacos
//!
//! - One static member list, checked at start: a node missing from its own list does not
//!   start. Nacos also discovers members (address server, file watch) and carries on with
//!   itself added.
//! - Writes merge per instance by a join over hybrid-logical-clock versions, beat times and
//!   eviction claims, with tombstones; Nacos' Distro replicates whole units (clients in 2.x,
//!   services in 1.x), newest copy wins.
//! - Peer authentication is a shared secret, like Nacos' server identity
//!   (`nacos.core.auth.server.identity.key/value`), but required by default (Nacos checks it
//!   only with auth enabled), with a fixed header name and a minimum length.
//! - Peer input is validated and clamped as above, and the sync queue is bounded; Nacos does
//!   neither.
//! - A persistent instance lives in Distro's AP replication with the rest, on each member's
//!   disk, not in a Raft group; a member that was down catches up from a peer's snapshot, and
//!   the removals it missed are kept for it (see above) where Nacos' Raft log holds them.
//! - Verify sends bucket sums, then only the differing buckets' checksums; Nacos sends every
//!   checksum every round. Peer messages are one versioned binary format; Nacos picks a
//!   serializer per data type and carries no format version.

mod auth;
mod buckets;
mod codec;
mod config;
mod control_route;
mod core;
mod dispatch;
mod error;
mod mapper;
mod membership;
mod message;
mod node;
mod node_id;
mod preview;
mod sync;
mod transport;

pub use self::core::{
    CoreStats, DistroCore, Outgoing, PeerSyncStats, RequestId, Route, RoutingView,
};
pub use auth::{AuthError, ClusterSecret, PeerAuth, SecretError};
pub use codec::{
    check_header, decode_message, encode_message, encode_request, encoded_len, request_json_len,
    request_len, CodecError, WIRE_MAGIC, WIRE_VERSION,
};
pub use config::DistroConfig;
pub use control_route::{ControlHandler, ControlReply, ControlRequest, MAX_CONTROL_BODY_BYTES};
pub use dispatch::{Dispatch, Forwarding};
pub use error::{ClusterError, MembershipError};
pub use mapper::{distro_hash, DistroMapper};
pub use message::{Envelope, PeerRequest, PeerResponse, RemoteFailure};
pub use node::{ClusterNode, ClusterNodeBuilder};
pub use node_id::NodeId;
pub use preview::{
    compute_preview, At, BeatsStop, Detection, Fate, InstanceForecast, Outcome, PredictedEvent,
    Preview, PreviewBasis, PreviewChange, PreviewError, PreviewOptions, PreviewRules,
    PreviewTotals, ServiceForecast, ServiceRef, SubscriberCount, DEFAULT_DETAIL_LIMIT,
    MAX_DETAIL_LIMIT,
};
pub use transport::{PeerError, PeerHandler, PeerTransport};

//! The store: namespace → group → service → cluster → instance, as immutable snapshots.
//!
//! Each service's state is one [`ServiceSnapshot`] behind an `ArcSwap`. Reads load it (no lock,
//! no copy) and hand back an [`InstancesView`] that shares it. Writes copy the service's
//! snapshot on write; the maps inside are persistent B-trees (each cluster's instances in a
//! `ChunkMap` of this module, the tombstones in an `imbl` map) under a small sorted vector of
//! clusters (`ClusterMap`: a service has one or a few), so one write copies O(log n) nodes of
//! one service and nothing of the others. That keeps 100k single registrations into one
//! service linear, where a copy-the-`Vec` design would be quadratic. A change to many
//! instances of one cluster at once (a health sweep finding a whole service silent) rebuilds
//! the cluster in one pass instead, prepared without the service's writer lock; see
//! `bulk.rs`.
//!
//! Liveness (the last-beat time) sits outside the snapshot in a shared atomic cell per instance
//! ([`Liveness`]), so a heartbeat is an atomic store and copies nothing; a snapshot is written
//! only when health flips.
//!
//! Most users reach this through [`crate::Registry`]; the store is public so that hosts and the
//! cluster layer can read snapshots directly.
//!
//! ## Tombstones and their retention
//!
//! A removed instance leaves a [`Tombstone`] in its service, and a removed service leaves its cell
//! in the index, marked removed, with a service-level [`Version`]. Both are what the merge rule
//! compares a stale copy against: a peer that has not heard of the removal may still send the
//! instance (or the service's settings), and the tombstone refuses it (see [`join`]: a
//! deregistration outranks every copy written before it, an eviction every copy that heard no later
//! beat). `Store::collect_tombstones` (run by every health sweep) drops tombstones, and takes
//! removed services out of the index, once they are older than a retention:
//! [`crate::HealthConfig::tombstone_ttl`], 300 s by default, for instances and services alike.
//! Nacos 2.x keeps no tombstones: a removal is a message to its peers, and a peer that missed it
//! keeps the copy until that copy goes unverified for `nacos.naming.client.expired.time` (3 min).
//!
//! The retention sets the bound: **a removal is final once every member has heard of it, and every
//! member that is up hears of it within a few sync rounds** (sync delay 1 s, retries every 3 s
//! while the peer answers, verify every 5 s). A member that was down hears of it when it comes
//! back, from the snapshot it loads before it serves, as long as the others still hold the
//! tombstone. Two kinds of copies can outlast a tombstone: a member's own disk (a member down for
//! longer than the retention reloads its stored copy), and a member cut off by a partition for
//! longer than the retention without restarting. What each could bring back decides how long a
//! tombstone is kept:
//!
//! - an ephemeral instance comes back with its old last beat, so the responsible member's next
//!   sweep evicts it again at once, and a service it brought back empty is removed again after
//!   [`crate::Limits::empty_service_expiry`]; its tombstone is collected after the retention;
//! - a persistent instance, or a service whose settings were set explicitly, would come back and
//!   stay. Their removals are kept longer, as below.
//!
//! ## Removals of persistent data
//!
//! A removal of persistent data (a [`Tombstone::durable`] tombstone: the instance was persistent; a
//! removed service whose settings were explicit) is kept past the retention, in memory and in the
//! removing members' rows on disk, **until every member of the cluster has been up and serving,
//! without a break, for a whole retention, and has been heard from a whole retention after the
//! removal**, by this member's account (see `cluster::membership`). A member that was down,
//! starting, or cut off is thereby either sent the removal when it comes back (in the snapshot it
//! loads, or by verify), or had the retention, while it was up, for the ordinary rule to deliver
//! it; only then is the removal collected. (Being heard from after the removal matters when the
//! retention is shorter than the time it takes to find a silent member down,
//! `DistroConfig::peer_down_after`. A retention shorter than the time a removal takes to reach a
//! member that is up, three verify rounds and a retry, 18 s by default, counts as that time for
//! this rule: a whole cluster restarted together hands the removal to a member that kept a stale
//! copy by verify, not in a snapshot.) So a member that stays down over a weekend, a maintenance
//! window or a partition and comes back with its stale disk copy brings back nothing removed
//! meanwhile, and a full restart brings back nothing either: the removals are on the disks of the
//! members that made them, and loaded with them. Nothing is ever discarded to get there, so a full
//! restart loses no data (a member that comes back alone serves what its disk holds; see
//! `cluster::core::loading`).
//!
//! The decision uses only durations on this member's own clock (how long each peer has been
//! serving, how old each tombstone is), so clock differences between members do not enter it. A
//! standalone node has no peers and collects at the retention. Whether a removal is durable comes
//! from what the member knew of the instance (its live copy, or its tombstone); a removal it learns
//! of from a disk row or a snapshot with nothing else known is taken as durable (its sender may be
//! keeping it), one from a sync batch as ephemeral.
//!
//! The cost is memory and disk: while a member is missing, one tombstone per removal of persistent
//! data made since (persistent instances and explicit services are few and written by operators,
//! not by every client's lifecycle), counted in [`crate::cluster::CoreStats::removals_held`] and
//! announced at `warn` naming the members waited for. A member that is gone for good must be taken
//! out of every member's list, or its peers keep these removals for ever.
//!
//! Differs from Nacos, where a persistent instance's removal is a Raft log entry: a member that was
//! down catches up from the leader's log or snapshot, which never holds the removed instance again.
//!
//! ## Persistent instances held by the control plane
//!
//! With a control plane (`nacre::control`, feature `control`; `nacre-server --data-dir` runs
//! one) nacre does as Nacos does: persistent instances live on its Raft log, every member
//! applies the log to its store ([`ControlledInstance`], `controlled.rs`) at versions stamped
//! with [`CONTROL_ORIGIN`], and Distro neither sends, counts, takes nor keeps a removal for
//! them; a service's settings the log made ([`ControlledSettings`]) are set at the log's version
//! and a peer's service-level record does not replace them. The rule above then covers what a
//! cluster run without a control plane keeps.
mod admit;
mod bulk;
mod chunk_map;
mod cluster_map;
mod controlled;
mod error;
mod index;
mod liveness;
mod merge;
mod ops;
mod replica;
mod replica_wire;
mod snapshot;
mod version;
mod view;
mod write;

pub use admit::{MergeRules, RecordRefusal, Refusal, DEFAULT_MAX_CLOCK_SKEW};
pub(crate) use bulk::{worth_rebuilding, Edit, Flip, Rebuild};
pub use controlled::{ControlledInstance, ControlledSettings};
pub use error::StoreError;
pub use index::{ChangeSink, Collected, LiveKeys, Store, SweepHint, Written};
pub use liveness::Liveness;
pub use merge::{join, RecordFacts, Side};
pub use ops::{BeatHit, InstanceUpdate};
pub(crate) use replica::Fnv;
pub use replica::{InstanceRecord, MergeOutcome, ServiceMeta, ServiceRecord};
pub use snapshot::{
    ClusterSnapshot, InstanceEntry, RemovalReason, ServiceSettings, ServiceSnapshot, Tombstone,
    MEMO_ENTRIES,
};
pub(crate) use version::origin_of_node;
pub use version::{Version, CONTROL_ORIGIN};
pub(crate) use view::pick_by_weight;
pub use view::{InstancesView, Iter, Selection};

#[cfg(test)]
#[path = "removed_tests.rs"]
mod removed_tests;

#[cfg(test)]
#[path = "merge_fuzz.rs"]
mod merge_fuzz;

#[cfg(test)]
#[path = "merge_known.rs"]
mod merge_known;

//! The store: namespace → group → service → cluster → instance, as immutable snapshots.
//!
//! Each service's state is one [`ServiceSnapshot`] behind an `ArcSwap`. Reads load it (no lock,
//! no copy) and hand back an [`InstancesView`] that shares it. Writes copy the service's
//! snapshot on write; the maps inside are persistent B-trees (each cluster's instances in a
//! `ChunkMap` of this module, the rest in `imbl` maps), so one write copies O(log n) nodes of
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
//! A removed instance leaves a [`Tombstone`] in its service, and a removed service leaves its
//! cell in the index, marked removed, with a service-level [`Version`]. Both are what the
//! merge rule compares a stale copy against: a peer that has not heard of the removal may still
//! send the instance (or the service's settings), and the tombstone refuses it (see [`join`]: a
//! deregistration outranks every copy written before it, an eviction every copy that heard no
//! later beat).
//! `Store::collect_tombstones` (run by every health sweep) drops tombstones, and takes removed services out of the index,
//! once they are older than a retention: [`crate::HealthConfig::tombstone_ttl`], 300 s by
//! default, for instances and services alike. Nacos 2.x keeps no tombstones: a removal is a
//! message to its peers, and a peer that missed it keeps the copy until that copy goes
//! unverified for `nacos.naming.client.expired.time` (3 min).
//!
//! The retention sets the bound: **a removal is final once every member has heard of it, and
//! every member that is up hears of it within a few sync rounds** (sync delay 1 s, retries
//! every 3 s while the peer answers, verify every 5 s). A member that restarts loads a fresh
//! snapshot and holds nothing stale. Only a member cut off without restarting for longer than
//! the retention can hold a copy older than every tombstone; if it sends that copy after the
//! retention, what it brings back is exactly what it could bring back for a collected instance
//! tombstone before removed services were collected:
//! - an ephemeral instance comes back with its old last beat, so the responsible member's next
//!   sweep evicts it again at once, and a service it brought back empty is removed again after
//!   [`crate::Limits::empty_service_expiry`];
//! - a persistent instance, or a service whose settings were set explicitly, comes back and
//!   stays (as a collected instance tombstone always allowed).
//!
//! So set the retention above the longest partition you expect to heal without a restart.
//! The cost of a longer one is memory: at most one tombstone per removal made within the
//! retention (a removed service keeps its cell, its tombstones and nothing else).

mod admit;
mod bulk;
mod chunk_map;
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
pub use version::Version;
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

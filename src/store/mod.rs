//! The store: namespace → group → service → cluster → instance, as immutable snapshots.
//!
//! Each service's state is one [`ServiceSnapshot`] behind an `ArcSwap`. Reads load it (no lock,
//! no copy) and hand back an [`InstancesView`] that shares it. Writes copy the service's
//! snapshot on write; the maps inside are persistent B-trees (`imbl`), so one write copies
//! O(log n) nodes of one service and nothing of the others. That keeps 100k single
//! registrations into one service linear, where a copy-the-`Vec` design would be quadratic.
//!
//! Liveness (the last-beat time) sits outside the snapshot in a shared atomic cell per instance
//! ([`Liveness`]), so a heartbeat is an atomic store and copies nothing; a snapshot is written
//! only when health flips.
//!
//! Most users reach this through [`crate::Registry`]; the store is public so that hosts and the
//! cluster layer can read snapshots directly.

mod admit;
mod error;
mod liveness;
mod merge;
mod ops;
mod replica;
mod snapshot;
mod table;
mod version;
mod view;

pub use admit::{MergeRules, RecordRefusal, Refusal, DEFAULT_MAX_CLOCK_SKEW};
pub use error::RegistryError;
pub use liveness::Liveness;
pub use merge::{incoming_wins, RecordFacts};
pub(crate) use ops::rewrite;
pub use ops::{BeatHit, InstanceUpdate};
pub(crate) use replica::Fnv;
pub use replica::{InstanceRecord, MergeOutcome, RecordState, ServiceMeta, ServiceRecord};
pub use snapshot::{
    ClusterSnapshot, InstanceEntry, RemovalReason, ServiceSettings, ServiceSnapshot, Tombstone,
};
pub use table::{ChangeSink, Store, SweepHint, Written};
pub use version::Version;
pub(crate) use view::pick_by_weight;
pub use view::{InstancesView, Iter, Selection};

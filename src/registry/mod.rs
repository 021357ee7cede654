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

mod error;
mod liveness;
mod ops;
mod snapshot;
mod store;
mod view;

pub use error::RegistryError;
pub use liveness::Liveness;
pub use ops::{BeatHit, InstanceUpdate};
pub use snapshot::{ClusterSnapshot, InstanceEntry, ServiceSettings, ServiceSnapshot};
pub use store::{ChangeSink, Store, Written};
pub(crate) use view::pick_by_weight;
pub use view::{InstancesView, Selection};

//! The Nacos naming vocabulary, in one place: what a query asks ([`ServiceQuery`]), what a
//! server answers ([`ServiceInfo`], [`BeatAnswer`]), the JSON shapes of both ([`json`]), the
//! one reader of the instance object clients send ([`InstanceIn`]) with the one metadata rule
//! ([`metadata`]), and the client's side of the wire ([`ClientTransport`] and its
//! capabilities).
//!
//! Every front (v1 HTTP, 2.x gRPC, UDP push, the in-memory transport), the peers and the
//! client read and write through these types and nothing else, so a field's default or a
//! metadata value's meaning is decided once: a payload sent over v1 and over gRPC is stored
//! the same.
//!
//! nacre's own JSON form of an [`crate::Instance`] (its serde implementation in `model`: the
//! rows of a `FileStore`, the JSON peer format for debugging) is not a client's object: it
//! reads back only what nacre wrote, strictly (every field named, metadata values text).
//!
//! The module sits above the registry (answers carry its [`crate::ServiceList`] and
//! [`crate::StoreError`]) and below everything that speaks to the outside: [`crate::front`]
//! and the fronts on one side, [`crate::client`] on the other. Neither of those imports the
//! other.

mod instance;
pub mod json;
pub mod metadata;
mod transport;

pub use crate::model::{
    DrainAction, DrainPending, DrainReport, FrontDrain, DRAIN_PARAM, DRAIN_PENDING_LISTED,
};
pub use instance::InstanceIn;
pub use transport::{
    BeatAnswer, BeatInfo, BeatTransport, ClientTransport, PushReceiver, PushSink, PushTransport,
    Receipt, ServerListError, ServiceInfo, ServiceListQuery, ServiceQuery, Taken, TransportError,
    DEFAULT_CACHE_MILLIS,
};

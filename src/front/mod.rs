//! The front layer: what every protocol front shares, so that each front is only a wire format.
//!
//! | piece | job |
//! | --- | --- |
//! | [`access`] | [`access::Access`]: who the caller is and what it may touch ([`access::AccessControl`]), asked by every front when auth is on |
//! | [`audit`] | [`audit::Audit`]: every access decision counted by front and outcome, and logged within a line budget |
//! | [`Backend`] | the node behind a front (a [`crate::Registry`] or a [`crate::cluster::ClusterNode`]); every write goes through [`Backend::execute`], beats answer through [`Backend::beat`] |
//! | [`ServiceAnswer`] | the one answer to a service query: clusters filter, enabled, healthy-only, protect threshold, `cacheMillis`, checksum; used by every list answer and every push |
//! | [`drain`] | [`drain::Drainer`]: a deregistration or `enabled=false` that waits until every subscriber on every push hub took a push without the instance, and says who did |
//! | [`push`] | the push hub: subscribers keyed by service, clusters and target, renewal and expiry, a merge window, acks, retries and failure counts, behind the [`push::PushTarget`] trait |
//! | [`catalog`] | which services a node holds: filtered by namespace, group and name, paged, with a console's counts; used by every service listing |
//! | [`cidr`] | [`cidr::Cidr`]: a block of IP addresses (auth's `register_cidrs`, the probes' deny list) |
//! | [`gate`] | admission of a listener's connections and streams: a total and a share per source address, refusals logged at most once per interval |
//! | [`grpc_config`] | the gRPC front's timing and bounds, feature-free so the server's settings hold them |
//! | `tls` (feature `tls`) | TLS for a front's listener: certificate, key and client CA from PEM files, checked at load; the handshake within a timeout, its failures logged at most once per interval |
//! | [`json`] | the Nacos JSON of an instance and a `ServiceInfo`, shared by the v1 and 2.x fronts |
//! | [`ErrorClass`] | what kind of failure an error is; each front turns it into its own status or code |
//! | [`NotReady`] | why a node is not ready (loading, or its disk failing), for every probe: [`Backend::readiness`] |
//!
//! Fronts sit above this layer and never below each other: `http` (the Nacos v1 API, feature
//! `http`), gRPC (feature `grpc`) and [`crate::transport::memory::MemoryClientTransport`]. A
//! front adds a wire format and, if it pushes, a [`push::PushTarget`]; it writes no query,
//! write or push path of its own. (`udp` is not a front but the v1 front's push target and
//! its client's receiver: `http` uses it, it uses only this layer.)
//!
//! ```text
//!   http (v1) + udp push     memory transport     grpc (2.x)
//!        \               |                  /
//!         +--- Backend · ServiceAnswer · PushHub · ErrorClass ---+
//!                              |
//!                 Registry  /  ClusterNode (Command route)
//! ```

pub mod access;
pub mod audit;
mod backend;
pub mod catalog;
pub mod cidr;
pub mod drain;
mod error;
pub mod gate;
pub mod grpc_config;
pub mod json;
pub mod push;
mod query;
mod ready;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

pub use backend::Backend;
pub use error::ErrorClass;
pub use query::{Hosts, ServiceAnswer, PULL_CACHE_MILLIS, PUSH_CACHE_MILLIS};
pub use ready::NotReady;

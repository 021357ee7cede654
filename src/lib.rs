//! # nacre
//!
//! An embeddable, in-process service registry modelled on the naming half of Alibaba Nacos.
//!
//! Services register instances (ip, port, weight, metadata, cluster) under
//! namespace → group → service → cluster; clients send heartbeats; an instance is marked
//! unhealthy after 15 s without a beat and removed after 30 s; consumers query, pick a
//! weighted-random healthy instance, and subscribe to change events.
//!
//! nacre does this inside your process. It never opens a socket and never reads the system
//! time on its own: time comes from a [`Clock`] you pass in, so every timing rule can be tested
//! with a [`ManualClock`] in microseconds, with no sleeps.
//!
//! ```
//! use nacre::{Instance, InstanceKey, ManualClock, NamingEvent, Registry, ServiceKey};
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let registry = Registry::builder().clock(clock.clone()).build();
//! let orders = ServiceKey::named("orders")?;
//!
//! // Watch the service.
//! let events = Arc::new(Mutex::new(Vec::new()));
//! let log = events.clone();
//! registry.subscribe(&orders, &[], move |e: &NamingEvent| {
//!     let healthy = e.instances.iter().filter(|i| i.healthy()).count();
//!     log.lock().unwrap().push((e.revision, e.instances.len(), healthy));
//! });
//!
//! // Two providers register; consumers pick one by weight.
//! registry.register_instance(&orders, Instance::builder("10.0.0.1", 8080).weight(3.0).build()?)?;
//! registry.register_instance(&orders, Instance::new("10.0.0.2", 8080)?)?;
//! let picked = registry.select_one_healthy_instance(&orders, &[])?;
//! assert_eq!(picked.port(), 8080);
//!
//! // Only the first keeps beating.
//! let first = InstanceKey::in_default_cluster("10.0.0.1", 8080)?;
//! for _ in 0..3 {
//!     clock.advance(Duration::from_secs(5));
//!     registry.heartbeat(&orders, &first)?;
//!     registry.check_health();
//! }
//! // 15 s without a beat: the second is unhealthy; healthy-only queries skip it.
//! let healthy = registry.select_instances(&orders, &[], true);
//! assert_eq!(healthy.len(), 1);
//!
//! // 30 s: it is removed.
//! for _ in 0..3 {
//!     clock.advance(Duration::from_secs(5));
//!     registry.heartbeat(&orders, &first)?;
//!     registry.check_health();
//! }
//! assert_eq!(registry.get_all_instances(&orders, &[]).len(), 1);
//!
//! assert!(registry.wait_for_events(Duration::from_secs(5)));
//! let seen = events.lock().unwrap();
//! assert_eq!(seen.last().map(|e| (e.1, e.2)), Some((1, 1)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Layers
//!
//! | module | job |
//! | --- | --- |
//! | [`model`] | validated value types: keys, names, [`Instance`], the Nacos string forms |
//! | [`clock`] | [`Clock`], [`SystemClock`], [`ManualClock`] |
//! | [`store`] | copy-on-write snapshots behind `ArcSwap`; lock-free reads |
//! | [`health`] | the beat-check policy (pure) and its driver |
//! | [`events`] | subscriptions and coalesced, off-path event delivery |
//! | [`registry`] | [`Registry`]: the handle that puts them together; [`Command`], the one write path |
//! | [`persist`] | durability of persistent instances and service settings: the [`persist::Persistence`] trait, group commit; `persist::FileStore` on redb (feature `persist`) |
//! | [`cluster`] | Distro replication: membership, mapper, sync, verify, merge; [`cluster::ClusterNode`] |
//! | [`client`] | [`NamingClient`]: beats, local cache with pull + push, failover, selection |
//! | [`front`] | what every protocol front shares: the backend, the one query answer, the push hub, error classes |
//! | [`transport`] | in-process transports with fault injection, and a deterministic cluster simulator |
//! | `grpc` (feature `grpc`) | the Nacos 2.x gRPC naming protocol: server push, connection-bound instances, a gRPC client transport |
//! | `console` (feature `console`) | a web console: namespaces, services, instances, live over server-sent events, with edits |
//! | `discover` (feature `tower`) | a `tower::discover::Discover` over a subscription, for tower's balancers |
//! | `metrics` (feature `metrics`) | Prometheus metrics: a collector over a node, HTTP request counts, `GET /metrics` |
//! | `http` (feature `http`) | the Nacos v1 open API as an axum router, peer traffic and a client transport over HTTP, the `nacre-server` binary |

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod clock;
pub mod cluster;
#[cfg(feature = "console")]
#[cfg_attr(docsrs, doc(cfg(feature = "console")))]
pub mod console;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod discover;
pub mod events;
pub mod front;
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub mod grpc;
pub mod health;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod model;
pub mod persist;
pub mod protocol;
pub mod registry;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
pub mod store;
pub mod transport;
#[cfg(feature = "udp")]
#[cfg_attr(docsrs, doc(cfg(feature = "udp")))]
pub mod udp;
mod util;

/// Re-exported so that implementing [`cluster::Transport`] or [`client::ClientTransport`] needs
/// no extra dependency: put `#[nacre::async_trait]` on the `impl`.
pub use async_trait::async_trait;

/// Every code block of the README, compiled and run as a doctest, so that the README cannot
/// drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use client::{ClientError, ClientTransport, NamingClient, NamingClientBuilder};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use events::{EventListener, NamingEvent, SubscriptionId};
pub use health::{HealthConfig, HealthDriver, SweepReport};
pub use model::{
    ClusterName, Endpoint, GroupName, Host, Instance, InstanceBuilder, InstanceId, InstanceKey,
    Limits, NamespaceId, ServiceKey, ServiceName, ValidationError,
};
pub use registry::{
    BeatReply, Command, CommandOutput, ExecuteError, InstanceUpdate, InstancesView, Registry,
    RegistryBuilder, RegistryReader, RegistryStats, ServiceList, ServiceSettings, StoreError,
};
pub use transport::memory::MemoryClientTransport;

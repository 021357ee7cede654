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
//! The modules and their jobs follow, from the core down to the server.
#![doc = include_str!("../docs/layout.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
pub mod auth;
pub mod client;
pub mod clock;
pub mod cluster;
#[cfg(feature = "console")]
#[cfg_attr(docsrs, doc(cfg(feature = "console")))]
pub mod console;
#[cfg(feature = "control")]
#[cfg_attr(docsrs, doc(cfg(feature = "control")))]
pub mod control;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod discover;
#[cfg(feature = "dns")]
#[cfg_attr(docsrs, doc(cfg(feature = "dns")))]
pub mod dns;
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
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod probe;
pub mod protocol;
pub mod registry;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
pub mod store;
pub mod timeline;
pub mod transport;
#[cfg(feature = "udp")]
#[cfg_attr(docsrs, doc(cfg(feature = "udp")))]
pub mod udp;
mod util;

// Unit tests include property-test code written against the public paths (`nacre::...`).
#[cfg(test)]
extern crate self as nacre;
#[cfg(test)]
mod fuzz_kit;

/// Re-exported so that implementing [`cluster::PeerTransport`] or [`client::ClientTransport`] needs
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
    ClusterName, DrainAction, DrainReport, Endpoint, GroupName, Host, Instance, InstanceBuilder,
    InstanceId, InstanceKey, Limits, NamespaceId, ServiceKey, ServiceName, ValidationError,
};
pub use registry::{
    BeatReply, Command, CommandOutput, ExecuteError, InstanceUpdate, InstancesView, Registry,
    RegistryBuilder, RegistryReader, RegistryStats, ServiceList, ServiceSettings, StoreError,
};
pub use transport::memory::MemoryClientTransport;

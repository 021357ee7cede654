//! The client side: [`NamingClient`], what a service links to register itself and discover
//! others (Nacos' `NamingService` with its `BeatReactor` and `HostReactor`).
//!
//! - **Registration and beats**: each registered
//!   ephemeral instance beats on its own schedule, at the interval the server answers. A "not
//!   found" answer means the server lost the instance (eviction, restart): the client then
//!   registers everything it registered again (*redo*) and renews its push subscriptions.
//! - **Service cache**: a service read with `subscribe = true`, or subscribed with a listener,
//!   is *watched*: kept in memory, updated by pushes and by a pull every `cacheMillis` (10 s by
//!   default, as the server answers). Listeners hear only of real changes. With push-empty
//!   protection (on by default) an empty answer never wipes a non-empty cached list.
//! - **Failover**: with a cache directory, every change of a watched service is written to disk
//!   atomically ([`FailoverStore`]); when no server answers, at start or later, reads are
//!   served from memory and then from disk.
//! - **Selection** follows the Nacos Java client: `select_instances(healthy)` returns the
//!   enabled instances of weight above 0 whose healthy flag *equals* `healthy`;
//!   `select_one_healthy_instance` picks among healthy ones in proportion to weight.
//!
//! The client talks to servers only through a [`ClientTransport`], and reads time only from
//! the [`crate::Clock`] it is built with, so a test drives it with a [`crate::ManualClock`]
//! and [`crate::transport::memory::MemoryClientTransport`]: advance the clock, then wait for
//! the effect with [`NamingClient::wait_until`].
//!
//! ## Registration and beats
//!
//! ```
//! use nacre::client::NamingClient;
//! use nacre::model::DEFAULT_GROUP;
//! use nacre::transport::memory::MemoryClientTransport;
//! use nacre::{Instance, ManualClock, NamingEvent, Registry};
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! const WAIT: Duration = Duration::from_secs(10);
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! let clock = ManualClock::new();
//! let node = Registry::builder().clock(clock.clone()).build();
//! let transport = MemoryClientTransport::new(node.clone());
//!
//! // A provider registers itself; its beats keep it healthy.
//! let provider = NamingClient::builder(transport.clone()).clock(clock.clone()).build()?;
//! provider
//!     .register_instance("orders", DEFAULT_GROUP, Instance::new("10.0.0.1", 8080)?)
//!     .await?;
//!
//! // A consumer watches the service and picks an instance.
//! let consumer = NamingClient::builder(transport).clock(clock.clone()).build()?;
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = seen.clone();
//! consumer
//!     .subscribe("orders", DEFAULT_GROUP, &[], move |e: &NamingEvent| {
//!         log.lock().unwrap().push(e.instances.len());
//!     })
//!     .await?;
//! let picked = consumer
//!     .select_one_healthy_instance("orders", DEFAULT_GROUP, &[], true)
//!     .await?;
//! assert_eq!(picked.port(), 8080);
//!
//! // A minute passes: 12 beats, and the node still finds the instance healthy.
//! for beat in 1..=12 {
//!     clock.advance(Duration::from_secs(5));
//!     provider.wait_until(|s| s.beats_sent >= beat, WAIT).await?;
//!     node.check_health();
//! }
//! assert_eq!(node.select_instances(&provider.service_key("orders", DEFAULT_GROUP)?, &[], true).len(), 1);
//!
//! assert!(consumer.wait_for_events(Duration::from_secs(5)));
//! assert_eq!(*seen.lock().unwrap(), vec![1]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod beat;
mod builder;
mod cache;
mod error;
mod failover;
mod naming_client;
mod select;
mod stats;

pub use crate::protocol::{
    BeatAnswer, BeatInfo, BeatTransport, ClientTransport, DrainAction, DrainPending, DrainReport,
    FrontDrain, PushReceiver, PushSink, PushTransport, Receipt, ServerListError, ServiceInfo,
    ServiceListQuery, ServiceQuery, Taken, TransportError, DEFAULT_CACHE_MILLIS,
};
pub use builder::{NamingClientBuilder, DEFAULT_BEAT_INTERVAL};
pub use error::ClientError;
pub use failover::{FailoverError, FailoverStore, MAX_FAILOVER_FILE_BYTES};
pub use naming_client::NamingClient;
pub use stats::ClientStats;

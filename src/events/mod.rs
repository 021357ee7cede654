//! Change events: [`EventListener`], [`NamingEvent`] and the [`Dispatcher`] that delivers them.
//!
//! Subscribe to a service (optionally to some of its clusters) and get a [`NamingEvent`] with
//! the full current instance list of those clusters whenever it changes: registrations,
//! deregistrations, updates, health flips and evictions. The first event, delivered right after
//! subscribing, carries the current state if the service exists.
//!
//! Guarantees:
//! - Delivery is off the writer's path: a write only pushes its snapshot onto a channel.
//! - Coalesced: a slow listener gets the latest state when it is ready, not a backlog.
//! - Revisions strictly increase per listener; one listener is never called concurrently.
//! - A listener that panics is isolated; a slow one blocks only the delivery thread serving it
//!   (the pool has [`crate::RegistryBuilder::delivery_threads`] threads, 2 by default).
//! - A listener hears of a change only when the instance list of its clusters really changed.
//! - Bounded: whatever the write rate, the dispatcher holds at most one snapshot per watched
//!   service and one pending event per subscriber, so there is no queue to overflow; a burst
//!   is coalesced to its newest state (see [`Dispatcher`]'s module documentation and
//!   [`crate::RegistryReader::event_backlog`]).
//!
//! ```
//! use nacre::{Instance, Registry, ServiceKey, NamingEvent};
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//!
//! let registry = Registry::builder().build();
//! let key = ServiceKey::named("orders").unwrap();
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = seen.clone();
//! registry.subscribe(&key, &[], move |e: &NamingEvent| {
//!     log.lock().unwrap().push(e.instances.len());
//! });
//! registry.register_instance(&key, Instance::new("10.0.0.1", 80).unwrap()).unwrap();
//! registry.register_instance(&key, Instance::new("10.0.0.2", 80).unwrap()).unwrap();
//! assert!(registry.wait_for_events(Duration::from_secs(5)));
//! assert_eq!(seen.lock().unwrap().last(), Some(&2));
//! ```

mod dispatcher;
mod drain;
mod event;

pub use dispatcher::Dispatcher;
pub use drain::{ListenerDrainId, ListenerDrainOutcome};
pub use event::{EventListener, NamingEvent, SubscriptionId};

//! Drains: a write that takes an instance out of rotation (deregistration, `enabled=false`)
//! and returns when it is safe to stop the instance — when every subscriber of the service,
//! on every front, has taken a push without it — or when the caller's deadline passes. The
//! answer says which: a [`DrainReport`] with the ack counts per front and the subscribers
//! still pending.
//!
//! Every front calls [`Drainer::around`] with its own write, so the rule is written once:
//! begin a drain on every push hub of the node **before** the write (so no push made after it
//! can be missed), make the write, then wait on the node's clock. What clears a subscriber is
//! decided by the data it acked, not by time (see [`crate::front::push::PushHub::begin_drain`]).
//!
//! Bounds: the wait is at most [`DrainConfig::max_wait`] (a longer `drainMillis` is refused,
//! 400, rather than cut short in silence). A drain holds its caller's request open and a
//! pending entry in every hub and in the listeners' book until it ends, so the drains in
//! progress through one [`Drainer`] are bounded in total ([`DrainConfig::max_drains`]) and
//! per client address ([`DrainConfig::max_per_client`]): one more is refused with
//! [`DrainError::Busy`] (429) before its write, which is then not made. Each hub also holds
//! at most [`crate::front::push::PushConfig::max_drains`] drains at once.
//!
//! Differences from Nacos: Nacos has no drain. A cluster member waits for its own
//! subscribers only (as its subscriber listing lists only its own): clients connected to
//! other members are pushed by them, and are not counted. A rolling deploy that must be
//! exact drains through each member a consumer may be connected to, or makes its consumers
//! connect where it drains.

use super::push::PushHub;
use crate::model::{InstanceKey, ServiceKey};
use crate::protocol::DrainReport;
use crate::registry::RegistryReader;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The bounds of drains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainConfig {
    /// The longest a drain may wait (default 60 s): a `drainMillis` above it is refused.
    pub max_wait: Duration,
    /// Drains in progress at once, in total (default 1 000).
    pub max_drains: usize,
    /// Drains in progress at once from one client address (default 16).
    pub max_per_client: usize,
}

/// The default of [`DrainConfig::max_wait`].
pub const DEFAULT_MAX_DRAIN_WAIT: Duration = Duration::from_secs(60);
/// The default of [`DrainConfig::max_drains`].
pub const DEFAULT_MAX_DRAINS_IN_PROGRESS: usize = 1_000;
/// The default of [`DrainConfig::max_per_client`].
pub const DEFAULT_MAX_DRAINS_PER_CLIENT: usize = 16;

impl Default for DrainConfig {
    fn default() -> Self {
        Self {
            max_wait: DEFAULT_MAX_DRAIN_WAIT,
            max_drains: DEFAULT_MAX_DRAINS_IN_PROGRESS,
            max_per_client: DEFAULT_MAX_DRAINS_PER_CLIENT,
        }
    }
}

/// A drain that cannot be made as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrainError {
    /// The wait asked for is longer than [`DrainConfig::max_wait`].
    #[error("drainMillis {asked} is longer than this server allows ({max} ms)")]
    TooLong {
        /// Milliseconds asked for.
        asked: u64,
        /// The most allowed.
        max: u64,
    },
    /// As many drains as allowed are in progress, in total or from this client.
    #[error("{in_progress} drains are in progress {whose}, the most this server allows; try again once one ended")]
    Busy {
        /// Whose drains: `in total` or `from ADDRESS`.
        whose: String,
        /// How many.
        in_progress: usize,
    },
}

impl DrainError {
    /// How every front answers it: a wait too long is a bad request, a drain past the bounds
    /// one over a limit (429).
    pub fn class(&self) -> super::error::ErrorClass {
        match self {
            DrainError::TooLong { .. } => super::error::ErrorClass::BadRequest,
            DrainError::Busy { .. } => super::error::ErrorClass::OverLimit,
        }
    }
}

/// The drains in progress through a [`Drainer`], in total and per client address.
#[derive(Debug, Default)]
struct Slots {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// A drain asked for and admitted ([`Drainer::wait`]): how long it may wait, and its place
/// among the drains in progress, given back when it is dropped.
#[derive(Debug)]
pub struct DrainWait {
    wait: Duration,
    slots: Arc<Mutex<Slots>>,
    client: Option<IpAddr>,
}

impl DrainWait {
    /// How long the drain may wait.
    pub fn duration(&self) -> Duration {
        self.wait
    }
}

impl Drop for DrainWait {
    fn drop(&mut self) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.total = slots.total.saturating_sub(1);
        if let Some(client) = self.client {
            if let Some(n) = slots.per_client.get_mut(&client) {
                *n -= 1;
                if *n == 0 {
                    slots.per_client.remove(&client);
                }
            }
        }
    }
}

/// Drains over the push hubs of a node: see the module documentation.
///
/// ```
/// use nacre::client::PushSink;
/// use nacre::front::drain::{DrainConfig, Drainer};
/// use nacre::front::push::{PushConfig, PushHub};
/// use nacre::{Instance, InstanceKey, Registry, ServiceKey};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let registry = Registry::default();
/// let config = PushConfig { merge_window: Duration::ZERO, ..PushConfig::default() };
/// let hub = PushHub::named(registry.clone(), config, "in-memory");
/// hub.start();
/// let orders = ServiceKey::named("orders")?;
/// registry.register_instance(&orders, Instance::new("10.0.0.1", 8080)?)?;
/// let (sink, mut pushes) = PushSink::channel();
/// hub.subscribe(&orders, &[], Arc::new(sink));
/// // The client: a push counts once it has taken it (here, read it).
/// tokio::spawn(async move { while pushes.recv().await.is_some() {} });
///
/// let drainer = Drainer::new(vec![hub], DrainConfig::default());
/// let key = InstanceKey::in_default_cluster("10.0.0.1", 8080)?;
/// let wait = drainer.wait(Some(5_000), None)?;
/// let ((), report) = drainer
///     .around(&orders, &key, wait, async {
///         registry.deregister_instance(&orders, &key);
///         Ok::<(), nacre::StoreError>(())
///     })
///     .await?;
/// assert!(report.drained);
/// assert_eq!((report.subscribers, report.acked), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Drainer {
    hubs: Vec<PushHub>,
    listeners: Option<RegistryReader>,
    config: DrainConfig,
    slots: Arc<Mutex<Slots>>,
}

impl Drainer {
    /// Drains over `hubs` (each named by its front), bounded by `config`.
    pub fn new(hubs: Vec<PushHub>, config: DrainConfig) -> Self {
        Self {
            hubs,
            listeners: None,
            config,
            slots: Arc::default(),
        }
    }

    /// Waits for the in-process listeners of `registry` too (the front `listeners`: see
    /// [`crate::registry::drain`]).
    pub fn with_listeners(mut self, registry: RegistryReader) -> Self {
        self.listeners = Some(registry);
        self
    }

    /// Adds a hub.
    pub fn push(&mut self, hub: PushHub) {
        self.hubs.push(hub);
    }

    /// The bound.
    pub fn config(&self) -> DrainConfig {
        self.config
    }

    /// The drain a request's `drainMillis` asks for, made by `client` (its address, when it
    /// has one): `None` (no drain) when absent; refused above [`DrainConfig::max_wait`], and
    /// while [`DrainConfig::max_drains`] drains, or [`DrainConfig::max_per_client`] of this
    /// client's, are in progress. The drain counts as in progress until the [`DrainWait`] is
    /// dropped ([`Drainer::around`] drops it when the drain ends).
    pub fn wait(
        &self,
        millis: Option<u64>,
        client: Option<IpAddr>,
    ) -> Result<Option<DrainWait>, DrainError> {
        let Some(asked) = millis else {
            return Ok(None);
        };
        let max = u64::try_from(self.config.max_wait.as_millis()).unwrap_or(u64::MAX);
        if asked > max {
            return Err(DrainError::TooLong { asked, max });
        }
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.total >= self.config.max_drains {
            return Err(DrainError::Busy {
                whose: "in total".to_owned(),
                in_progress: slots.total,
            });
        }
        if let Some(client) = client {
            let mine = slots.per_client.entry(client).or_default();
            if *mine >= self.config.max_per_client {
                return Err(DrainError::Busy {
                    whose: format!("from {client}"),
                    in_progress: *mine,
                });
            }
            *mine += 1;
        }
        slots.total += 1;
        Ok(Some(DrainWait {
            wait: Duration::from_millis(asked),
            slots: self.slots.clone(),
            client,
        }))
    }

    /// Makes `write` (which takes `instance` of `service` out of rotation); with a `wait`,
    /// then waits up to it for every subscriber that could see the instance to take a push
    /// without it, and reports. Without a wait, the write alone, and an empty report.
    pub async fn around<T, E>(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
        wait: Option<DrainWait>,
        write: impl Future<Output = Result<T, E>>,
    ) -> Result<(T, DrainReport), E> {
        let Some(admitted) = wait else {
            return Ok((write.await?, DrainReport::default()));
        };
        let wait = admitted.duration();
        let tickets: Vec<_> = self
            .hubs
            .iter()
            .map(|hub| hub.begin_drain(service, instance))
            .collect();
        let listeners = self
            .listeners
            .as_ref()
            .map(|r| r.begin_drain(service, instance));
        // A failed write drops the tickets, which ends their drains.
        let written = write.await?;
        let clock = self
            .hubs
            .first()
            .map(|h| h.registry())
            .or(self.listeners.as_ref())
            .map(|r| r.clock().clone());
        let Some(clock) = clock else {
            return Ok((written, DrainReport::new(Vec::new(), Duration::ZERO)));
        };
        let start = clock.now();
        let deadline = start + wait;
        // One deadline for all: waiting on the tickets in turn ends when the slowest does.
        let mut fronts = Vec::with_capacity(tickets.len() + 1);
        for ticket in tickets {
            fronts.push(ticket.wait_until(deadline).await);
        }
        if let Some(listeners) = listeners {
            fronts.push(listeners.wait_until(deadline).await);
        }
        let waited = clock.now().saturating_since(start);
        Ok((written, DrainReport::new(fronts, waited)))
    }
}

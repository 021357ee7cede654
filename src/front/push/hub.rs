//! [`PushHub`]: the thin driver around [`PushState`]. It watches the registry's events for the
//! services someone subscribed to, and runs [`PushState::poll`] on tokio whenever a change
//! arrives or [`PushState::next_wakeup`] comes, sleeping on the registry's clock.

use super::state::{PushState, SubscriberInfo, Watch};
use super::target::{AckId, PushTarget, TargetKey};
use super::{PushConfig, PushStats};
use crate::clock::{Clock, Timestamp};
use crate::events::{NamingEvent, SubscriptionId};
use crate::front::ServiceAnswer;
use crate::model::{ClusterName, ServiceKey};
use crate::protocol::ServiceQuery;
use crate::registry::RegistryReader;
use crate::util::{lock, next_round, TaskSlot};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Notify;

struct Shared {
    state: Mutex<PushState>,
    registry: RegistryReader,
    watches: Mutex<HashMap<ServiceKey, SubscriptionId>>,
    wake: Arc<Notify>,
    task: TaskSlot,
}

impl Drop for Shared {
    fn drop(&mut self) {
        for (_, id) in lock(&self.watches).drain() {
            self.registry.unsubscribe(id);
        }
    }
}

/// Pushes every change of a watched service to its subscribers: see
/// [`crate::front::push`]. Cheap to clone; the driver stops when the last clone is dropped.
///
/// ```
/// use nacre::client::PushSink;
/// use nacre::front::push::{PushConfig, PushHub};
/// use nacre::{Instance, ManualClock, Registry, ServiceKey};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let clock = ManualClock::new();
/// let registry = Registry::builder().clock(clock.clone()).build();
/// let hub = PushHub::new(registry.clone(), PushConfig::default()); // 500 ms merge window
/// hub.start();
/// let orders = ServiceKey::named("orders")?;
/// let (sink, mut pushes) = PushSink::channel();
/// hub.subscribe(&orders, &[], Arc::new(sink));
///
/// registry.register_instance(&orders, Instance::new("10.0.0.1", 8080)?)?;
/// registry.register_instance(&orders, Instance::new("10.0.0.2", 8080)?)?;
/// assert!(registry.wait_for_events(Duration::from_secs(5)));
/// clock.advance(Duration::from_millis(500));     // the window closes: one merged push
/// let info = pushes.recv().await.unwrap();
/// assert_eq!(info.hosts.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PushHub {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PushHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PushHub")
            .field(&*lock(&self.shared.state))
            .finish()
    }
}

impl PushHub {
    /// A hub over `registry`. Call [`PushHub::start`] on a tokio runtime to run its driver, or
    /// step it by hand with [`PushHub::poll`].
    pub fn new(registry: impl Into<RegistryReader>, config: PushConfig) -> Self {
        let registry = registry.into();
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(PushState::new(config)),
                registry,
                watches: Mutex::new(HashMap::new()),
                wake: Arc::new(Notify::new()),
                task: TaskSlot::default(),
            }),
        }
    }

    /// Starts the driver on the current tokio runtime. Starting twice does nothing.
    pub fn start(&self) {
        self.shared.task.start(|| {
            let weak = Arc::downgrade(&self.shared);
            let wake = self.shared.wake.clone();
            let clock = self.shared.registry.clock().clone();
            drive(weak, wake, clock)
        });
    }

    /// The registry the hub watches.
    pub fn registry(&self) -> &RegistryReader {
        &self.shared.registry
    }

    /// Subscribes `target` to `service` in `clusters` (all if empty), or renews that
    /// subscription. A new subscriber is sent the current state at once. Returns `false` when
    /// the hub is full ([`PushConfig::max_subscriptions`]).
    pub fn subscribe(
        &self,
        service: &ServiceKey,
        clusters: &[ClusterName],
        target: Arc<dyn PushTarget>,
    ) -> bool {
        let now = self.shared.registry.clock().now();
        let watch = lock(&self.shared.state).subscribe_watch(service, clusters, target, now);
        let Some(watch) = watch else {
            return false;
        };
        self.follow(watch);
        self.shared.wake.notify_one();
        true
    }

    /// Cancels a subscription; returns whether it existed.
    pub fn unsubscribe(
        &self,
        service: &ServiceKey,
        clusters: &[ClusterName],
        target: &TargetKey,
    ) -> bool {
        let (found, watch) = lock(&self.shared.state).unsubscribe_watch(service, clusters, target);
        self.follow(watch);
        found
    }

    /// Drops `target` and every subscription it holds (its connection closed).
    pub fn remove_target(&self, target: &TargetKey) {
        let stopped = lock(&self.shared.state).remove_target(target);
        self.follow(Watch {
            started: None,
            stopped,
        });
    }

    /// `target` acked push `ack`; returns whether that push was waiting for it.
    pub fn ack(&self, target: &TargetKey, ack: AckId) -> bool {
        lock(&self.shared.state).ack(target, ack)
    }

    /// The configuration.
    pub fn config(&self) -> PushConfig {
        *lock(&self.shared.state).config()
    }

    /// Counters.
    pub fn stats(&self) -> PushStats {
        lock(&self.shared.state).stats()
    }

    /// The subscriptions to `service`.
    pub fn subscribers(&self, service: &ServiceKey) -> Vec<SubscriberInfo> {
        lock(&self.shared.state).subscribers(service)
    }

    /// Subscriptions in force.
    pub fn subscription_count(&self) -> usize {
        lock(&self.shared.state).subscription_count()
    }

    /// Runs one round of the hub at the clock's current time (what the driver does when it
    /// wakes up): for hosts without tokio, and for tests.
    pub fn poll(&self) {
        let _ = poll(&self.shared);
    }

    fn follow(&self, watch: Watch) {
        follow(&self.shared, watch);
    }
}

/// Starts and stops the registry subscriptions behind the watched services.
fn follow(shared: &Arc<Shared>, watch: Watch) {
    let registry = &shared.registry;
    for service in watch.stopped {
        if let Some(id) = lock(&shared.watches).remove(&service) {
            registry.unsubscribe(id);
        }
    }
    if let Some(service) = watch.started {
        // The listener holds the hub weakly: a hub must not keep itself alive through the
        // registry it watches.
        let weak: Weak<Shared> = Arc::downgrade(shared);
        let id = registry.subscribe_unlisted(&service, move |event: &NamingEvent| {
            if let Some(shared) = weak.upgrade() {
                let now = shared.registry.clock().now();
                lock(&shared.state).changed(&event.service, now);
                shared.wake.notify_one();
            }
        });
        // The service may have lost its last subscriber in between: then stop at once.
        let still = lock(&shared.state).is_watched(&service);
        if still {
            if let Some(old) = lock(&shared.watches).insert(service, id) {
                registry.unsubscribe(old);
            }
        } else {
            registry.unsubscribe(id);
        }
    }
}

/// One round at the clock's current time; returns that time and the next wake-up.
fn poll(shared: &Arc<Shared>) -> (Timestamp, Option<Timestamp>) {
    let registry = &shared.registry;
    let now = registry.clock().now();
    let (stopped, next) = {
        let mut state = lock(&shared.state);
        let cache_millis = state.config().cache_millis;
        let stopped = state.poll(now, |service, clusters| {
            let query = ServiceQuery {
                service: service.clone(),
                clusters: clusters.to_vec(),
                healthy_only: false,
            };
            ServiceAnswer::new(registry, &query, cache_millis).to_info()
        });
        (stopped, state.next_wakeup())
    };
    follow(
        shared,
        Watch {
            started: None,
            stopped,
        },
    );
    (now, next)
}

async fn drive(weak: Weak<Shared>, wake: Arc<Notify>, clock: Arc<dyn Clock>) {
    loop {
        let (now, next) = match weak.upgrade() {
            Some(shared) => poll(&shared),
            None => return,
        };
        next_round(&*clock, now, next, &wake).await;
    }
}

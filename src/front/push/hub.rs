//! [`PushHub`]: the thin driver around [`PushState`]. It watches the registry's events for the
//! services someone subscribed to, and runs [`PushState::poll`] on tokio whenever a change
//! arrives or [`PushState::next_wakeup`] comes, sleeping on the registry's clock.

use super::drain::DrainId;
use super::state::{PushState, SubscriberInfo, Watch};
use super::target::{AckId, PushTarget, TargetKey};
use super::{PushConfig, PushStats};
use crate::clock::{Clock, Timestamp};
use crate::events::{NamingEvent, SubscriptionId};
use crate::front::ServiceAnswer;
use crate::model::{ClusterName, InstanceKey, ServiceKey};
use crate::protocol::{DrainPending, FrontDrain, ServiceQuery};
use crate::registry::RegistryReader;
use crate::util::{lock, next_round, TaskSlot};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Notify;

struct Shared {
    /// The front the hub pushes for, as drains and metrics name it.
    front: Arc<str>,
    state: Mutex<PushState>,
    /// Bumped whenever a drain makes progress: its waiters look again.
    drained: tokio::sync::watch::Sender<u64>,
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
        Self::named(registry, config, "push")
    }

    /// A hub over `registry` pushing for the front `front` (`grpc`, `udp`...), the name drain
    /// reports give it.
    pub fn named(
        registry: impl Into<RegistryReader>,
        config: PushConfig,
        front: impl Into<Arc<str>>,
    ) -> Self {
        let registry = registry.into();
        Self {
            shared: Arc::new(Shared {
                front: front.into(),
                state: Mutex::new(PushState::new(config)),
                drained: tokio::sync::watch::Sender::new(0),
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

    /// The front the hub pushes for.
    pub fn front(&self) -> &str {
        &self.shared.front
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
        let (found, watch) = {
            let mut state = lock(&self.shared.state);
            let answer = state.unsubscribe_watch(service, clusters, target);
            progress(&self.shared, &mut state);
            answer
        };
        self.follow(watch);
        found
    }

    /// Drops `target` and every subscription it holds (its connection closed).
    pub fn remove_target(&self, target: &TargetKey) {
        let stopped = {
            let mut state = lock(&self.shared.state);
            let stopped = state.remove_target(target);
            progress(&self.shared, &mut state);
            stopped
        };
        self.follow(Watch {
            started: None,
            stopped,
        });
    }

    /// `target` acked push `ack`; returns whether that push was waiting for it.
    pub fn ack(&self, target: &TargetKey, ack: AckId) -> bool {
        let mut state = lock(&self.shared.state);
        let found = state.ack(target, ack);
        progress(&self.shared, &mut state);
        found
    }

    /// Begins a drain of `instance` of `service`: call it **before** the write that takes the
    /// instance out (deregistration, `enabled=false`), then [`DrainTicket::wait_until`]. The
    /// ticket waits for every subscription that can see the instance now to take a push
    /// without it (see [`crate::front::drain`]). Past [`PushConfig::max_drains`] drains in
    /// progress, the ticket waits for nothing and reports every such subscriber pending.
    pub fn begin_drain(&self, service: &ServiceKey, instance: &InstanceKey) -> DrainTicket {
        let now = self.shared.registry.clock().now();
        let id = lock(&self.shared.state).begin_drain(service, instance, now);
        self.shared.wake.notify_one();
        let refused = match id {
            Some(_) => Vec::new(),
            None => self
                .subscribers(service)
                .into_iter()
                .filter(|s| s.clusters.is_empty() || s.clusters.contains(&instance.cluster))
                .map(|s| s.details)
                .collect(),
        };
        DrainTicket {
            shared: self.shared.clone(),
            id,
            refused,
        }
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
    let (stopped, next, taking) = {
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
        let taking = state.take_taking();
        progress(shared, &mut state);
        (stopped, state.next_wakeup(), taking)
    };
    taken(shared, taking);
    follow(
        shared,
        Watch {
            started: None,
            stopped,
        },
    );
    (now, next)
}

/// Counts each push a drain waits on for its drains once the client took it (see
/// [`PushTarget::push_taking`]); without a runtime to wait on, at once. A client that never
/// takes it holds its task only until the drains it would clear end.
fn taken(shared: &Arc<Shared>, taking: Vec<super::state::Taking>) {
    if taking.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        let mut state = lock(&shared.state);
        for t in taking {
            state.drain_taken(&t.clears, &t.sub);
        }
        progress(shared, &mut state);
        return;
    };
    for t in taking {
        let weak = Arc::downgrade(shared);
        let mut ended = shared.drained.subscribe();
        runtime.spawn(async move {
            let super::state::Taking {
                mut taken,
                clears,
                sub,
            } = t;
            loop {
                tokio::select! {
                    () = &mut taken => break,
                    changed = ended.changed() => {
                        let Some(shared) = weak.upgrade() else { return };
                        if changed.is_err() || !lock(&shared.state).drains_pending(&clears) {
                            return;
                        }
                    }
                }
            }
            if let Some(shared) = weak.upgrade() {
                let mut state = lock(&shared.state);
                state.drain_taken(&clears, &sub);
                progress(&shared, &mut state);
            }
        });
    }
}

/// Wakes the drain waiters when a drain made progress.
fn progress(shared: &Shared, state: &mut PushState) {
    if state.take_drain_progress() {
        shared.drained.send_modify(|n| *n = n.wrapping_add(1));
    }
}

fn pending(details: impl IntoIterator<Item = super::TargetDetails>) -> Vec<DrainPending> {
    details
        .into_iter()
        .take(crate::protocol::DRAIN_PENDING_LISTED)
        .map(|d| DrainPending {
            addr: d.addr,
            agent: d.agent,
            app: d.app,
        })
        .collect()
}

/// One hub's part of a drain, from [`PushHub::begin_drain`]. Dropping it unfinished ends the
/// drain (the write failed, the caller went away).
#[must_use = "a drain ticket does nothing until waited on"]
pub struct DrainTicket {
    shared: Arc<Shared>,
    id: Option<DrainId>,
    /// Refused at the hub's bound: the subscribers it would have waited for.
    refused: Vec<super::TargetDetails>,
}

impl std::fmt::Debug for DrainTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrainTicket")
            .field("front", &self.shared.front)
            .field("id", &self.id)
            .finish()
    }
}

impl DrainTicket {
    /// Waits until every subscriber waited for has taken a push without the instance or gone
    /// away, or the hub's clock reaches `deadline`; then says what they did.
    pub async fn wait_until(mut self, deadline: Timestamp) -> FrontDrain {
        let front = self.shared.front.to_string();
        let Some(id) = self.id.take() else {
            let refused = std::mem::take(&mut self.refused);
            return FrontDrain {
                front,
                subscribers: refused.len(),
                pending: pending(refused),
                ..FrontDrain::default()
            };
        };
        let mut progressed = self.shared.drained.subscribe();
        let clock = self.shared.registry.clock().clone();
        let expiry = clock.sleep_until(deadline);
        tokio::pin!(expiry);
        loop {
            if lock(&self.shared.state).drain_settled(id) {
                break;
            }
            tokio::select! {
                changed = progressed.changed() => if changed.is_err() { break },
                () = &mut expiry => break,
            }
        }
        let (outcome, details) = {
            let mut state = lock(&self.shared.state);
            let finished = state.finish_drain(id);
            progress(&self.shared, &mut state);
            finished
        };
        FrontDrain {
            front,
            subscribers: outcome.subscribers,
            acked: outcome.acked,
            gone: outcome.gone,
            pending: pending(details),
        }
    }
}

impl Drop for DrainTicket {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut state = lock(&self.shared.state);
            let _ = state.finish_drain(id);
            progress(&self.shared, &mut state);
        }
    }
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

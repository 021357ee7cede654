//! [`Dispatcher`]: turns published snapshots into coalesced per-subscriber events, off the
//! writer's path.
//!
//! Three stages:
//!
//! 1. The writer's sink puts the new snapshot in its service's *slot* in the inbox, replacing
//!    the one waiting there if the dispatcher has not taken it yet, and queues the service's
//!    key only if its slot was empty (no blocking; a short lock). A new subscriber's first
//!    event skips this stage: it is offered at once, on the subscribing thread.
//! 2. One dispatcher thread takes keys in order, takes the newest snapshot from each slot,
//!    finds the subscribers of the service and, for each whose cluster view really changed,
//!    replaces its *pending* event (coalescing: a subscriber that has not been served yet only
//!    ever holds the newest state). A subscriber that gets a pending event and is not already
//!    queued is queued.
//! 3. A small pool of delivery threads serves queued subscribers. A subscriber is queued at most
//!    once, so its listener is never called concurrently and sees revisions in order. A slow
//!    listener ties up one delivery thread, not the others; a panicking one is caught.
//!
//! ## Bounded by construction
//!
//! No stage holds more than one item per thing it serves, whatever the write rate: the inbox
//! holds at most one snapshot per watched service (and its queue one key per slot), each
//! subscriber at most one pending event, and the delivery queue at most one entry per
//! subscriber. Overflow therefore cannot happen; what a burst of writes costs is coalescing,
//! never memory: a dispatcher thread that falls behind skips the intermediate snapshots of a
//! service and hands on the newest, exactly as a slow listener skips intermediate events. A
//! listener still sees revisions strictly increase and always ends at the newest state; it may
//! not see every intermediate state, which is what "coalesced" promises.
//! [`Dispatcher::backlog`] reports the inbox's size. (Nacos pushes through a per-service
//! delay task map that merges the same way: one pending push task per service.)

use super::drain::{shows, ListenerDrainId, ListenerDrainOutcome, ListenerDrains};
use super::event::{EventListener, NamingEvent, SubscriptionId};
use crate::model::{ClusterName, InstanceKey, ServiceKey};
use crate::store::{InstancesView, Selection, ServiceSnapshot};
use crate::util::lock;
use arc_swap::ArcSwap;
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

struct Subscriber {
    id: SubscriptionId,
    service: ServiceKey,
    clusters: Vec<ClusterName>,
    listener: Arc<dyn EventListener>,
    /// Listed by [`Dispatcher::listeners`] (a push hub's own watch is not).
    visible: bool,
    active: AtomicBool,
    state: Mutex<SubscriberState>,
}

#[derive(Default)]
struct SubscriberState {
    /// The newest event not yet handed to the listener.
    pending: Option<NamingEvent>,
    /// The revision of the newest event delivered or pending.
    revision: u64,
    /// The instance list of the newest event delivered or pending.
    last: Option<InstancesView>,
    /// Whether the subscriber sits in the delivery queue or is being served.
    queued: bool,
}

/// Counts work not yet done, so tests and shutdown can wait for delivery to settle.
#[derive(Default)]
struct Outstanding {
    count: AtomicUsize,
    lock: Mutex<()>,
    idle: Condvar,
}

impl Outstanding {
    fn add(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
    }
    fn done(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _g = lock(&self.lock);
            self.idle.notify_all();
        }
    }
    fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = lock(&self.lock);
        while self.count.load(Ordering::Acquire) != 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = self
                .idle
                .wait_timeout(guard, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

struct Shared {
    subscribers: Mutex<HashMap<ServiceKey, Vec<Arc<Subscriber>>>>,
    /// The newest snapshot of each service not yet taken by the dispatcher thread; its key
    /// is queued exactly while it has a slot here.
    inbox: Mutex<HashMap<ServiceKey, Arc<ServiceSnapshot>>>,
    outstanding: Outstanding,
    next_id: AtomicU64,
    ready: Sender<Arc<Subscriber>>,
    /// Drains waiting on listeners (see `drain.rs`); `draining` is their number, read
    /// without the lock by every delivery.
    drains: Mutex<ListenerDrains>,
    draining: AtomicUsize,
    /// Callers of [`Dispatcher::until_delivered`] waiting; while there are any, every
    /// delivery bumps `drained`.
    waiters: AtomicUsize,
    /// Bumped when a drain made progress.
    drained: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    fn drain_progress(&self) {
        self.drained.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// The event dispatcher: turns published snapshots into coalesced events for each subscriber,
/// on its own threads.
///
/// Bounded by construction: it holds at most one snapshot per watched service waiting for its
/// dispatcher thread ([`Dispatcher::backlog`]), at most one pending event per subscriber, and
/// each subscriber at most once in the delivery queue, whatever the write rate. A burst is
/// coalesced to its newest state; nothing overflows and nothing is dropped but intermediate
/// states. See [`crate::events`].
pub struct Dispatcher {
    shared: Arc<Shared>,
    tx: Sender<ServiceKey>,
    /// Services with at least one subscriber. Writers check it without locking and skip the
    /// channel for everything else, so a registry nobody watches pays nothing for events.
    watched: ArcSwap<HashSet<ServiceKey>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field(
                "outstanding",
                &self.shared.outstanding.count.load(Ordering::Relaxed),
            )
            .finish()
    }
}

impl Dispatcher {
    /// Starts the dispatcher thread and `delivery_threads` delivery threads (at least one).
    ///
    /// # Panics
    /// If the operating system cannot start a thread.
    pub fn start(delivery_threads: usize) -> Self {
        let (tx, rx) = unbounded::<ServiceKey>();
        let (ready_tx, ready_rx) = unbounded::<Arc<Subscriber>>();
        let shared = Arc::new(Shared {
            subscribers: Mutex::new(HashMap::new()),
            inbox: Mutex::new(HashMap::new()),
            outstanding: Outstanding::default(),
            next_id: AtomicU64::new(1),
            ready: ready_tx,
            drains: Mutex::new(ListenerDrains::default()),
            draining: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            drained: tokio::sync::watch::Sender::new(0),
        });
        for n in 0..delivery_threads.max(1) {
            let ready_rx = ready_rx.clone();
            let shared = Arc::downgrade(&shared);
            std::thread::Builder::new()
                .name(format!("nacre-deliver-{n}"))
                .spawn(move || deliver_loop(&ready_rx, &shared))
                .expect("the OS refused to start an event delivery thread");
        }
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("nacre-dispatch".into())
            .spawn(move || dispatch_loop(&rx, &weak))
            .expect("the OS refused to start the event dispatcher thread");
        Self {
            shared,
            tx,
            watched: ArcSwap::from_pointee(HashSet::new()),
        }
    }

    fn refresh_watched(&self, subs: &HashMap<ServiceKey, Vec<Arc<Subscriber>>>) {
        self.watched.store(Arc::new(subs.keys().cloned().collect()));
    }

    /// Hands a published snapshot to the dispatcher if anyone watches its service: it takes
    /// the service's slot in the inbox, replacing an older one not yet dispatched. Never
    /// blocks for longer than a map insert.
    pub fn publish(&self, snapshot: &Arc<ServiceSnapshot>) {
        // Pairs with the fence in `subscribe`: either this write sees the new subscriber, or
        // the subscriber's first read sees this write's snapshot.
        fence(Ordering::SeqCst);
        if !self.watched.load().contains(snapshot.key()) {
            return;
        }
        let mut inbox = lock(&self.shared.inbox);
        match inbox.get_mut(snapshot.key()) {
            Some(waiting) => {
                // Writers publish one service in revision order; keep the newest regardless.
                if waiting.revision() < snapshot.revision() {
                    *waiting = snapshot.clone();
                }
            }
            None => {
                inbox.insert(snapshot.key().clone(), snapshot.clone());
                self.shared.outstanding.add();
                if self.tx.send(snapshot.key().clone()).is_err() {
                    inbox.remove(snapshot.key());
                    self.shared.outstanding.done();
                }
            }
        }
    }

    /// Snapshots waiting for the dispatcher thread: at most one per watched service, however
    /// fast the writes come (see the module documentation).
    pub fn backlog(&self) -> usize {
        lock(&self.shared.inbox).len()
    }

    /// Subscribes `listener` to `service` (only `clusters`, or all if empty). `current` is the
    /// service's snapshot as read *after* this call registers the subscriber; the dispatcher
    /// delivers it as the first event if the service exists.
    pub fn subscribe(
        &self,
        service: ServiceKey,
        clusters: Vec<ClusterName>,
        listener: Arc<dyn EventListener>,
        load_current: impl FnOnce() -> Option<Arc<ServiceSnapshot>>,
    ) -> SubscriptionId {
        self.subscribe_as(service, clusters, listener, true, load_current)
    }

    /// [`Dispatcher::subscribe`], saying whether [`Dispatcher::listeners`] lists it.
    pub(crate) fn subscribe_as(
        &self,
        service: ServiceKey,
        clusters: Vec<ClusterName>,
        listener: Arc<dyn EventListener>,
        visible: bool,
        load_current: impl FnOnce() -> Option<Arc<ServiceSnapshot>>,
    ) -> SubscriptionId {
        let id = SubscriptionId(self.shared.next_id.fetch_add(1, Ordering::Relaxed));
        let sub = Arc::new(Subscriber {
            id,
            service: service.clone(),
            clusters,
            listener,
            visible,
            active: AtomicBool::new(true),
            state: Mutex::new(SubscriberState::default()),
        });
        {
            let mut subs = lock(&self.shared.subscribers);
            subs.entry(service).or_default().push(sub.clone());
            self.refresh_watched(&subs);
        }
        fence(Ordering::SeqCst);
        // Loaded only now, after the subscriber is in the table: any later change also reaches
        // it through the inbox, and the revision check in `offer` drops whichever comes second.
        if let Some(current) = load_current() {
            offer(&self.shared, &sub, &current);
        }
        id
    }

    /// Cancels a subscription. Returns whether it existed. An event already being delivered
    /// finishes; no later one starts.
    pub fn unsubscribe(&self, id: SubscriptionId) -> bool {
        let mut subs = lock(&self.shared.subscribers);
        let mut found = false;
        subs.retain(|_, list| {
            list.retain(|s| {
                if s.id == id {
                    s.active.store(false, Ordering::Release);
                    found = true;
                    false
                } else {
                    true
                }
            });
            !list.is_empty()
        });
        self.refresh_watched(&subs);
        drop(subs);
        if found && self.shared.draining.load(Ordering::Acquire) > 0 {
            let progress = lock(&self.shared.drains).gone(id);
            if progress {
                self.shared.drain_progress();
            }
        }
        found
    }

    /// Begins a drain of `instance` of `service` over the listeners that can see it (see
    /// `drain.rs`).
    pub(crate) fn begin_drain(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
    ) -> ListenerDrainId {
        let subs = lock(&self.shared.subscribers)
            .get(service)
            .cloned()
            .unwrap_or_default();
        let mut waiting = std::collections::BTreeSet::new();
        let mut already = 0;
        for sub in subs.iter().filter(|s| s.visible) {
            if !(sub.clusters.is_empty() || sub.clusters.contains(&instance.cluster)) {
                continue;
            }
            let state = lock(&sub.state);
            let settled = !state.queued && state.last.as_ref().is_none_or(|v| !shows(v, instance));
            if settled {
                already += 1;
            } else {
                waiting.insert(sub.id);
            }
        }
        let mut drains = lock(&self.shared.drains);
        let id = drains.begin(service, instance, waiting, already);
        self.shared.draining.store(drains.len(), Ordering::Release);
        id
    }

    /// Whether drain `id` waits for nobody any more.
    pub(crate) fn drain_settled(&self, id: ListenerDrainId) -> bool {
        lock(&self.shared.drains).settled(id)
    }

    /// Ends drain `id`.
    pub(crate) fn finish_drain(&self, id: ListenerDrainId) -> ListenerDrainOutcome {
        let mut drains = lock(&self.shared.drains);
        let outcome = drains.finish(id);
        self.shared.draining.store(drains.len(), Ordering::Release);
        outcome
    }

    /// Whether every listener of `service` has been handed its state at `revision` or later
    /// (or found it no change for its clusters) and returned.
    pub(crate) fn delivered(&self, service: &ServiceKey, revision: u64) -> bool {
        if lock(&self.shared.inbox).contains_key(service) {
            return false;
        }
        let subs = lock(&self.shared.subscribers)
            .get(service)
            .cloned()
            .unwrap_or_default();
        subs.iter().all(|sub| {
            let state = lock(&sub.state);
            !sub.active.load(Ordering::Acquire)
                || (state.revision >= revision && state.pending.is_none() && !state.queued)
        })
    }

    /// Resolves once [`Self::delivered`] holds for `service` at `revision`.
    pub(crate) async fn until_delivered(&self, service: &ServiceKey, revision: u64) {
        let mut progress = self.shared.drained.subscribe();
        self.shared.waiters.fetch_add(1, Ordering::AcqRel);
        while !self.delivered(service, revision) {
            if progress.changed().await.is_err() {
                break;
            }
        }
        self.shared.waiters.fetch_sub(1, Ordering::AcqRel);
    }

    /// Changes whenever a drain makes progress.
    pub(crate) fn drain_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.drained.subscribe()
    }

    /// The listeners of `service`: id and clusters of each (a push hub's own watch of the
    /// service is not listed).
    pub fn listeners(&self, service: &ServiceKey) -> Vec<(SubscriptionId, Vec<ClusterName>)> {
        lock(&self.shared.subscribers)
            .get(service)
            .map(|list| {
                list.iter()
                    .filter(|s| s.visible)
                    .map(|s| (s.id, s.clusters.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Number of live subscriptions.
    pub fn subscription_count(&self) -> usize {
        lock(&self.shared.subscribers).values().map(Vec::len).sum()
    }

    /// Blocks until every change published so far has been delivered to every listener (or
    /// coalesced away), or `timeout` passes. Returns whether it settled.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.shared.outstanding.wait(timeout)
    }
}

fn dispatch_loop(rx: &Receiver<ServiceKey>, shared: &std::sync::Weak<Shared>) {
    while let Ok(key) = rx.recv() {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let snapshot = lock(&shared.inbox).remove(&key);
        if let Some(snapshot) = snapshot {
            let subs = lock(&shared.subscribers)
                .get(snapshot.key())
                .cloned()
                .unwrap_or_default();
            for sub in subs {
                offer(&shared, &sub, &snapshot);
            }
        }
        shared.outstanding.done();
        if shared.waiters.load(Ordering::Acquire) > 0 {
            shared.drain_progress();
        }
    }
}

/// Makes `snapshot` the subscriber's pending event if it is newer and its view changed.
fn offer(shared: &Shared, sub: &Arc<Subscriber>, snapshot: &Arc<ServiceSnapshot>) {
    if !sub.active.load(Ordering::Acquire) {
        return;
    }
    let mut state = lock(&sub.state);
    if snapshot.revision() <= state.revision {
        return;
    }
    state.revision = snapshot.revision();
    let live = (!snapshot.is_removed()).then(|| snapshot.clone());
    let view = InstancesView::new(&sub.service, live, &sub.clusters, Selection::All);
    let unchanged = match &state.last {
        Some(last) => last.same_instances(&view),
        // Nothing delivered yet: a removed or empty service is not news.
        None => view.is_empty() && snapshot.is_removed(),
    };
    if unchanged {
        // Keep the pending event (if any) but let it carry the newest revision.
        if let Some(p) = state.pending.as_mut() {
            p.revision = snapshot.revision();
            p.instances = view;
        }
        return;
    }
    state.last = Some(view.clone());
    state.pending = Some(NamingEvent {
        service: sub.service.clone(),
        clusters: sub.clusters.clone(),
        instances: view,
        revision: snapshot.revision(),
    });
    if !state.queued {
        state.queued = true;
        shared.outstanding.add();
        if shared.ready.send(sub.clone()).is_err() {
            state.queued = false;
            shared.outstanding.done();
        }
    }
}

fn deliver_loop(ready: &Receiver<Arc<Subscriber>>, shared: &std::sync::Weak<Shared>) {
    while let Ok(sub) = ready.recv() {
        loop {
            let event = {
                let mut state = lock(&sub.state);
                match state.pending.take() {
                    Some(e) => e,
                    None => {
                        state.queued = false;
                        break;
                    }
                }
            };
            if sub.active.load(Ordering::Acquire) {
                // A panicking listener must not take the delivery thread (and every other
                // listener served by it) down with it.
                let _ = catch_unwind(AssertUnwindSafe(|| sub.listener.on_event(&event)));
                if let Some(shared) = shared.upgrade() {
                    if shared.draining.load(Ordering::Acquire) > 0 {
                        let progress =
                            lock(&shared.drains).delivered(sub.id, &sub.service, &event.instances);
                        if progress {
                            shared.drain_progress();
                        }
                    }
                }
            }
        }
        if let Some(shared) = shared.upgrade() {
            if shared.waiters.load(Ordering::Acquire) > 0 {
                shared.drain_progress();
            }
            shared.outstanding.done();
        }
    }
}

//! A [`tower::discover::Discover`] over a subscription (cargo feature `tower`):
//! [`InstanceDiscover`] turns the instance lists a [`Registry`] or a [`NamingClient`] delivers
//! for one service into the inserts and removals a tower balancer takes, so
//! `tower::balance::p2c::Balance` spreads requests over the service's healthy instances and
//! stops sending to those that leave or turn unhealthy.
//!
//! ```
//! use nacre::discover::InstanceDiscover;
//! use nacre::{Instance, Registry, ServiceKey};
//! use std::convert::Infallible;
//! use tower::balance::p2c::Balance;
//! use tower::load::Constant;
//! use tower::{service_fn, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let registry = Registry::default();
//! let orders = ServiceKey::named("orders")?;
//! registry.register_instance(&orders, Instance::new("10.0.0.1", 8080)?)?;
//!
//! // One service per instance; here it answers with the port it stands for.
//! let discover = InstanceDiscover::subscribe(&registry, &orders, &[], |instance: &Instance| {
//!     let port = instance.port();
//!     Constant::new(service_fn(move |_: ()| async move { Ok::<_, Infallible>(port) }), 0)
//! });
//! let mut balance = Balance::new(discover);
//! let port = balance.ready().await?.call(()).await?;
//! assert_eq!(port, 8080);
//! # Ok(())
//! # }
//! ```
//!
//! ## How it works
//!
//! The subscription's listener hands each [`crate::NamingEvent`]'s instance list to the
//! discover through a channel; when the balancer polls it, it takes the newest list (older
//! ones are skipped: events are coalesced anyway), compares it with the instances it has
//! announced, and yields a [`Change::Remove`] for each that is gone, unhealthy, disabled or
//! of weight 0, and a [`Change::Insert`] for each that is new or whose data (weight,
//! metadata...) changed: the balancer replaces the service of a key inserted again. Services
//! are built by the caller's function, once per insert, so connection pools, timeouts and
//! load measures ([`tower::load`]) are the caller's choice. Dropping the discover ends the
//! subscription.
//!
//! Differences from Nacos' own selection ([`crate::InstancesView::pick_weighted`]): the
//! balancer picks by load (power of two choices), not by weight (weight 0 still excludes an
//! instance), and the protect threshold does not apply: when every instance is unhealthy the
//! balancer has none and waits, rather than sending to unhealthy ones.

use crate::client::{ClientError, NamingClient};
use crate::events::{NamingEvent, SubscriptionId};
use crate::model::{ClusterName, Instance, InstanceKey, ServiceKey};
use crate::registry::Registry;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tower::discover::Change;

/// A [`tower::discover::Discover`] of the healthy, enabled instances of one service, keyed by
/// [`InstanceKey`], with a service built by `F` for each: see the [module docs](self).
pub struct InstanceDiscover<S, F> {
    lists: mpsc::UnboundedReceiver<Vec<Arc<Instance>>>,
    make: F,
    announced: HashMap<InstanceKey, Arc<Instance>>,
    pending: VecDeque<Change<InstanceKey, S>>,
    /// Held for its `Drop`, which ends the subscription.
    _subscription: Subscription,
}

/// Who to unsubscribe from when the discover is dropped.
enum Subscription {
    Registry(Registry, SubscriptionId),
    Client(NamingClient, SubscriptionId),
}

impl Drop for Subscription {
    fn drop(&mut self) {
        match self {
            Subscription::Registry(registry, id) => {
                registry.unsubscribe(*id);
            }
            Subscription::Client(client, id) => {
                let (client, id) = (client.clone(), *id);
                // The client's unsubscribe is async (it may stop its pull of the service);
                // without a runtime the subscription ends with the client.
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move {
                        client.unsubscribe(id).await;
                    });
                }
            }
        }
    }
}

impl<S, F> std::fmt::Debug for InstanceDiscover<S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceDiscover")
            .field("announced", &self.announced.len())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// Whether a balancer should send to `instance`.
fn serves(instance: &Instance) -> bool {
    instance.healthy() && instance.enabled() && instance.weight() > 0.0
}

fn listener(tx: mpsc::UnboundedSender<Vec<Arc<Instance>>>) -> impl Fn(&NamingEvent) {
    move |event: &NamingEvent| {
        // The discover may be gone while its subscription ends; nothing to deliver then.
        let _ = tx.send(event.instances.iter().cloned().collect());
    }
}

impl<S, F> InstanceDiscover<S, F>
where
    F: FnMut(&Instance) -> S,
{
    /// Discovers the instances of `service` in `clusters` (all if empty) held by `registry`,
    /// building a service for each with `make`.
    pub fn subscribe(
        registry: &Registry,
        service: &ServiceKey,
        clusters: &[ClusterName],
        make: F,
    ) -> Self {
        let (tx, lists) = mpsc::unbounded_channel();
        let id = registry.subscribe(service, clusters, listener(tx));
        Self::new(lists, make, Subscription::Registry(registry.clone(), id))
    }

    /// Discovers the instances of `service` in `group` and `clusters` (all if empty) through
    /// `client` (its cache, fed by pull and push from the server), building a service for
    /// each with `make`. Fails as [`NamingClient::subscribe`] does (a bad name).
    pub async fn subscribe_client(
        client: &NamingClient,
        service: &str,
        group: &str,
        clusters: &[&str],
        make: F,
    ) -> Result<Self, ClientError> {
        let (tx, lists) = mpsc::unbounded_channel();
        let id = client
            .subscribe(service, group, clusters, listener(tx))
            .await?;
        Ok(Self::new(
            lists,
            make,
            Subscription::Client(client.clone(), id),
        ))
    }

    fn new(
        lists: mpsc::UnboundedReceiver<Vec<Arc<Instance>>>,
        make: F,
        subscription: Subscription,
    ) -> Self {
        Self {
            lists,
            make,
            announced: HashMap::new(),
            pending: VecDeque::new(),
            _subscription: subscription,
        }
    }

    /// How many instances the balancer has been told of (inserted and not removed).
    pub fn len(&self) -> usize {
        self.announced.len()
    }

    /// Whether the balancer has been told of no instance.
    pub fn is_empty(&self) -> bool {
        self.announced.is_empty()
    }

    /// Queues the changes from what was announced to `list`.
    fn diff(&mut self, list: Vec<Arc<Instance>>) {
        let wanted: HashMap<InstanceKey, Arc<Instance>> = list
            .into_iter()
            .filter(|i| serves(i))
            .map(|i| (i.key(), i))
            .collect();
        let gone: Vec<InstanceKey> = self
            .announced
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            self.announced.remove(&key);
            self.pending.push_back(Change::Remove(key));
        }
        for (key, instance) in wanted {
            let same = self
                .announced
                .get(&key)
                .is_some_and(|seen| Arc::ptr_eq(seen, &instance) || **seen == *instance);
            if !same {
                let service = (self.make)(&instance);
                self.announced.insert(key.clone(), instance);
                self.pending.push_back(Change::Insert(key, service));
            }
        }
    }
}

// No field is pinned structurally: the stream is polled through `&mut self`.
impl<S, F> Unpin for InstanceDiscover<S, F> {}

impl<S, F> futures_core::Stream for InstanceDiscover<S, F>
where
    F: FnMut(&Instance) -> S,
{
    type Item = Result<Change<InstanceKey, S>, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(change) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(change)));
            }
            match this.lists.poll_recv(cx) {
                Poll::Ready(Some(mut newest)) => {
                    while let Ok(newer) = this.lists.try_recv() {
                        newest = newer;
                    }
                    this.diff(newest);
                }
                // The registry or client is gone: no more changes will come.
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

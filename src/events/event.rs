//! [`NamingEvent`] and [`EventListener`].

use crate::model::{ClusterName, ServiceKey};
use crate::store::InstancesView;

/// The current state of a subscribed service, for the clusters the subscriber asked for.
///
/// `instances` holds every instance of those clusters (healthy or not, enabled or not), sharing
/// the registry snapshot it was taken from; nothing was copied to make it.
#[derive(Debug, Clone)]
pub struct NamingEvent {
    /// The service.
    pub service: ServiceKey,
    /// The clusters subscribed to; empty means all.
    pub clusters: Vec<ClusterName>,
    /// The full current instance list of those clusters.
    pub instances: InstancesView,
    /// The service revision this state is from. Strictly increasing per subscriber.
    pub revision: u64,
}

/// Receives [`NamingEvent`]s. Any `Fn(&NamingEvent) + Send + Sync + 'static` closure is one.
///
/// Called from a delivery thread, never from the writer's thread. One listener is never called
/// twice at once. A listener that panics is caught and isolated: the panic is swallowed, and it
/// keeps receiving later events, as do all other listeners.
pub trait EventListener: Send + Sync + 'static {
    /// One event.
    fn on_event(&self, event: &NamingEvent);
}

impl<F> EventListener for F
where
    F: Fn(&NamingEvent) + Send + Sync + 'static,
{
    fn on_event(&self, event: &NamingEvent) {
        self(event)
    }
}

/// Names a subscription, to cancel it with `unsubscribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(pub(crate) u64);

impl SubscriptionId {
    /// The id as a number (unique within one registry or client).
    pub fn get(self) -> u64 {
        self.0
    }
}

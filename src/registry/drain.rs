//! The registry's own drain: a deregistration (or `enabled=false`) that returns when every
//! in-process listener of the service ([`RegistryReader::subscribe`]) has been handed an event
//! without the instance and returned from it, or a deadline on the registry's clock passes.
//!
//! A node that serves clients drains through [`crate::front::drain::Drainer`], which waits for
//! these listeners and for every push hub; this is the part the registry can do alone, for a
//! host that embeds it with its own listeners (a tower balancer over
//! [`crate::discover::InstanceDiscover`], say). The report names the front `listeners`, and a
//! pending listener `in-process#<subscription id>`, as the subscriber listing does.

use super::{Registry, RegistryReader, StoreError};
use crate::clock::Timestamp;
use crate::events::ListenerDrainId;
use crate::model::{
    DrainAction, DrainPending, DrainReport, FrontDrain, InstanceKey, ServiceKey,
    DRAIN_PENDING_LISTED,
};
use crate::store::InstanceUpdate;
use std::time::Duration;

/// The front name of in-process listeners in a [`DrainReport`].
pub const LISTENERS_FRONT: &str = "listeners";

/// A drain over the registry's listeners, from [`RegistryReader::begin_drain`]. Dropping it
/// unfinished ends the drain.
#[derive(Debug)]
#[must_use = "a drain does nothing until waited on"]
pub struct ListenerDrain {
    reader: RegistryReader,
    id: Option<ListenerDrainId>,
}

impl RegistryReader {
    /// Begins a drain of `instance` of `service` over the listeners that can see it (those of
    /// its cluster, or of every cluster): call it **before** the write that takes the instance
    /// out, then [`ListenerDrain::wait_until`].
    pub fn begin_drain(&self, service: &ServiceKey, instance: &InstanceKey) -> ListenerDrain {
        let id = self.dispatcher().begin_drain(service, instance);
        ListenerDrain {
            reader: self.clone(),
            id: Some(id),
        }
    }
}

impl ListenerDrain {
    /// Waits until every listener waited for has returned from an event without the instance
    /// (or unsubscribed), or the registry's clock reaches `deadline`; then says what they did.
    pub async fn wait_until(mut self, deadline: Timestamp) -> FrontDrain {
        let Some(id) = self.id.take() else {
            return FrontDrain::default();
        };
        let dispatcher = self.reader.dispatcher();
        let mut progress = dispatcher.drain_watch();
        let clock = self.reader.clock().clone();
        let expiry = clock.sleep_until(deadline);
        tokio::pin!(expiry);
        while !dispatcher.drain_settled(id) {
            tokio::select! {
                changed = progress.changed() => if changed.is_err() { break },
                () = &mut expiry => break,
            }
        }
        let outcome = dispatcher.finish_drain(id);
        FrontDrain {
            front: LISTENERS_FRONT.to_owned(),
            subscribers: outcome.subscribers,
            acked: outcome.acked,
            gone: outcome.gone,
            pending: outcome
                .pending
                .iter()
                .take(DRAIN_PENDING_LISTED)
                .map(|id| DrainPending {
                    addr: format!("in-process#{}", id.get()),
                    agent: crate::front::push::IN_PROCESS_AGENT.to_owned(),
                    app: String::new(),
                })
                .collect(),
        }
    }
}

impl Drop for ListenerDrain {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let _ = self.reader.dispatcher().finish_drain(id);
        }
    }
}

impl Registry {
    /// Takes `instance` of `service` out of rotation — `action` deregisters it or sets
    /// `enabled=false` — and waits up to `wait` (on the registry's clock) for every
    /// in-process listener of the service to return from an event without it: see
    /// [`crate::registry::drain`](self). Deregistering an unknown instance is not an error;
    /// disabling one is ([`StoreError::InstanceNotFound`]).
    ///
    /// ```
    /// use nacre::{DrainAction, Instance, InstanceKey, NamingEvent, Registry, ServiceKey};
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
    /// let registry = Registry::default();
    /// let orders = ServiceKey::named("orders")?;
    /// registry.register_instance(&orders, Instance::new("10.0.0.1", 8080)?)?;
    /// registry.subscribe(&orders, &[], |_: &NamingEvent| {});
    /// assert!(registry.wait_for_events(Duration::from_secs(5)));
    ///
    /// let key = InstanceKey::in_default_cluster("10.0.0.1", 8080)?;
    /// let wait = Duration::from_secs(5);
    /// let report = registry.drain_instance(&orders, &key, DrainAction::Deregister, wait).await?;
    /// assert!(report.drained);
    /// assert_eq!((report.subscribers, report.acked), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn drain_instance(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
        action: DrainAction,
        wait: Duration,
    ) -> Result<DrainReport, StoreError> {
        let drain = self.reader().begin_drain(service, instance);
        match action {
            DrainAction::Deregister => {
                self.deregister_instance(service, instance);
            }
            DrainAction::Disable => {
                let off = InstanceUpdate {
                    enabled: Some(false),
                    ..InstanceUpdate::default()
                };
                self.update_instance(service, instance, off)?;
            }
        }
        let clock = self.clock().clone();
        let start = clock.now();
        let front = drain.wait_until(start + wait).await;
        let waited = clock.now().saturating_since(start);
        Ok(DrainReport::new(vec![front], waited))
    }
}

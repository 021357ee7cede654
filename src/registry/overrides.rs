//! Operator overrides: what an operator set on an instance (its enabled flag, weight, a
//! metadata patch) laid over every registration of it, so a client's re-registration, a
//! reconnect or a restart of the client process does not undo the operator's edit.
//!
//! The registry does not keep the overrides: the host gives it an [`InstanceOverrides`]
//! ([`Registry::attach_overrides`]), a lookup by service and instance. `nacre-server` attaches
//! the control plane's (`nacre::control`), which holds them in the replicated log, so every
//! member applies the same ones. Every registration on this registry (single or batch, a
//! connection's, a beat that registers again) passes through [`Registry::overlay`] before it
//! is stored: the instance stored, and so every answer, push, selection and replica, is the
//! overridden one.
//!
//! In a cluster the member responsible for a service applies its registrations, so it lays
//! its own applied copy of the overrides over them. An operator's write is answered once the
//! group's leader has applied it; a member behind by a few milliseconds that takes a
//! registration in that window registers it without the new override (the `PUT` also changed
//! the instance itself through that member, so only a registration racing the edit is exposed).
//!
//! An override whose metadata patch would take the instance over
//! [`crate::Limits::max_metadata_bytes`] is laid over without its metadata (the enabled flag
//! and weight still hold), and the registration is not refused for it: the client did nothing
//! wrong.
//!
//! ## Differences from Nacos
//!
//! Nacos 2.x applies a `PUT /nacos/v1/ns/instance` edit to the instance as it stands, and the
//! client's next registration (a gRPC reconnect, a restart) replaces it: a drained instance
//! comes back (alibaba/nacos #10975, #11890). Nacos 1.x's persistent metadata kept some edits;
//! nacre keeps all of them, for ephemeral and persistent instances alike, until the operator
//! clears them.

use super::handle::Registry;
use crate::model::{Instance, ServiceKey};
use crate::store::InstanceUpdate;
use std::sync::Arc;

/// Where the registry looks up the operator's override of an instance: see the module
/// documentation.
///
/// ```
/// use nacre::registry::InstanceOverrides;
/// use nacre::{Instance, InstanceUpdate, Registry, ServiceKey};
/// use std::sync::Arc;
///
/// #[derive(Debug)]
/// struct Drained;
/// impl InstanceOverrides for Drained {
///     fn override_for(&self, _: &ServiceKey, _: &Instance) -> Option<InstanceUpdate> {
///         Some(InstanceUpdate { enabled: Some(false), ..Default::default() })
///     }
/// }
///
/// let registry = Registry::default();
/// registry.attach_overrides(Arc::new(Drained));
/// let orders = ServiceKey::named("orders")?;
/// registry.register_instance(&orders, Instance::new("10.0.0.1", 8080)?)?;
/// assert!(!registry.get_all_instances(&orders, &[]).iter().next().unwrap().enabled());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait InstanceOverrides: Send + Sync + std::fmt::Debug + 'static {
    /// The override of `instance` (about to be registered in `service`), if an operator set
    /// one for its key. Called on every registration: it must be cheap when there is none.
    fn override_for(&self, service: &ServiceKey, instance: &Instance) -> Option<InstanceUpdate>;
}

impl Registry {
    /// Lays the overrides of `overrides` over every registration from now on (see the module
    /// documentation). The first call sets them; later calls change nothing and answer
    /// `false`.
    pub fn attach_overrides(&self, overrides: Arc<dyn InstanceOverrides>) -> bool {
        self.inner.overrides.set(overrides).is_ok()
    }

    /// Lays the operator's override, if there is one, over `instance`, which is about to be
    /// registered in `service`.
    pub(super) fn overlay(&self, service: &ServiceKey, instance: &mut Instance) {
        let Some(overrides) = self.inner.overrides.get() else {
            return;
        };
        let Some(update) = overrides.override_for(service, instance) else {
            return;
        };
        let mut next = instance.clone();
        if update.apply_to(&mut next, &self.inner.limits).is_ok() {
            *instance = next;
            return;
        }
        // The metadata patch does not fit over this registration's metadata: keep the rest.
        tracing::debug!(
            service = %service,
            instance = %instance.key().instance_id(service),
            "an operator's metadata override does not fit the registered metadata; left out"
        );
        let without_metadata = InstanceUpdate {
            metadata: None,
            ..update
        };
        let mut next = instance.clone();
        if without_metadata
            .apply_to(&mut next, &self.inner.limits)
            .is_ok()
        {
            *instance = next;
        }
    }
}

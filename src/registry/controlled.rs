//! Persistent instances held by a control plane: the route their writes take
//! ([`PersistentRoute`]) and how the registry follows the control plane's log
//! ([`Registry::apply_controlled`]).
//!
//! The registry does not know the control plane (`nacre::control` sits above it): the host
//! attaches a [`PersistentRoute`] ([`Registry::attach_persistent_route`]). From then on
//! [`crate::front::Backend::execute`] hands every write of a persistent instance to the route
//! instead of applying it here or routing it to the Distro owner, Distro stops moving
//! persistent data (see [`crate::store::ControlledInstance`]), and the control plane's sink
//! calls [`Registry::apply_controlled`] for each service the log changed, on every member.
//!
//! A write answered by the route has been applied by this member's registry too (the route
//! waits for it, a few seconds at most), so a read right after it on the same member sees it.

use super::command::{Command, CommandOutput};
use super::handle::Registry;
use crate::model::{Instance, ServiceKey};
use crate::store::{ControlledInstance, ControlledSettings, ServiceSettings, StoreError};
use std::sync::Arc;

/// Why a [`PersistentRoute`] did not take a write.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The write broke a rule (unknown instance, a field's rule, a limit).
    #[error(transparent)]
    Refused(#[from] StoreError),
    /// The control plane has no leader, or did not confirm the write in time: Nacos' "no
    /// leader" answer.
    #[error("{0}")]
    NoLeader(String),
}

/// Where writes of persistent instances go: see the module documentation.
#[async_trait::async_trait]
pub trait PersistentRoute: Send + Sync + std::fmt::Debug + 'static {
    /// Whether `command` is one the route takes: a registration of persistent instances, or
    /// a deregistration, update or health change of an instance the control plane holds.
    fn takes(&self, command: &Command) -> bool;

    /// Writes `command` (one [`PersistentRoute::takes`]) through the control plane; answers
    /// once this member's registry shows it.
    async fn execute(&self, command: Command) -> Result<CommandOutput, RouteError>;

    /// `Ok` once this member shows what the control plane's leader had committed when the
    /// member started; why not otherwise (the node's readiness says it).
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A handle to a [`Registry`] that does not keep it alive: what the control plane's route and
/// sink hold, since the registry holds the route (a strong handle would make a cycle, and the
/// registry, its disk file and its threads would never be freed).
#[derive(Debug, Clone)]
pub struct WeakRegistry(std::sync::Weak<super::handle::Inner>);

impl WeakRegistry {
    /// The registry, if something still holds it.
    pub fn upgrade(&self) -> Option<Registry> {
        self.0.upgrade().map(|inner| Registry {
            reader: super::reader::RegistryReader { inner },
        })
    }
}

impl Registry {
    /// A handle that does not keep the registry alive.
    pub fn downgrade(&self) -> WeakRegistry {
        WeakRegistry(Arc::downgrade(&self.inner))
    }

    /// Hands persistent instances to `route` from now on (see the module documentation). The
    /// first call attaches; later calls change nothing and answer `false`.
    pub fn attach_persistent_route(&self, route: Arc<dyn PersistentRoute>) -> bool {
        if self.inner.route.set(route).is_err() {
            return false;
        }
        self.inner.store.hand_persistent_to_control();
        true
    }

    /// The route attached by [`Registry::attach_persistent_route`], if any.
    pub fn persistent_route(&self) -> Option<&Arc<dyn PersistentRoute>> {
        self.inner.route.get()
    }

    /// Makes the persistent instances and settings of `service` what the control plane's log
    /// holds: each of `instances` (with the operator's override laid over it), and none other
    /// that the log made; with `purge_legacy` (the log has imported what this member held from
    /// before), none other at all; and its settings as `settings` says. `removal` is the log's
    /// stamp for what it removes. Returns the service's revision if anything changed.
    pub fn apply_controlled(
        &self,
        service: &ServiceKey,
        mut instances: Vec<ControlledInstance>,
        settings: &ControlledSettings,
        purge_legacy: bool,
        removal: u64,
    ) -> Option<u64> {
        for held in &mut instances {
            self.overlay(service, &mut held.instance);
        }
        let now = self.clock().now();
        self.inner
            .store
            .apply_controlled(service, &instances, settings, purge_legacy, removal, now)
    }

    /// What registering `instances` in `service` here would refuse now, without writing: this
    /// registry's [`crate::Limits`] (field sizes, instances per service, services per
    /// namespace, namespaces). The control plane's route checks a persistent registration
    /// with it before the write goes to the log, whose own bounds are fixed and the same on
    /// every member.
    pub fn check_registration(
        &self,
        service: &ServiceKey,
        instances: &[Instance],
    ) -> Result<(), StoreError> {
        self.inner
            .store
            .check_registration(service, instances, &self.inner.limits)
    }

    /// The services whose snapshot holds a persistent instance (from the log or not), or
    /// settings the log made: what a whole-state apply of the log goes over, beside the
    /// services the log names.
    pub fn services_with_persistent(&self) -> Vec<ServiceKey> {
        self.inner
            .store
            .snapshots()
            .into_iter()
            .filter(|s| s.persistent_count() > 0 || s.meta_version().is_control())
            .map(|s| s.key().clone())
            .collect()
    }

    /// The explicit settings of live services that the control plane did not write: what a
    /// member's store held from before it ran one, for the import.
    pub fn legacy_settings(&self) -> Vec<(ServiceKey, ServiceSettings)> {
        self.inner
            .store
            .snapshots()
            .into_iter()
            .filter(|s| s.has_explicit_settings() && !s.is_removed())
            .filter(|s| !s.meta_version().is_control())
            .map(|s| (s.key().clone(), s.settings().clone()))
            .collect()
    }

    /// The persistent instances this registry holds that the control plane did not write:
    /// what a member's store held from before it ran one, for the import.
    pub fn legacy_persistent(&self) -> Vec<(ServiceKey, Instance)> {
        let mut out = Vec::new();
        for snap in self.inner.store.snapshots() {
            if snap.persistent_count() == 0 {
                continue;
            }
            for entry in snap.entries() {
                if !entry.ephemeral() && !entry.version().is_control() {
                    out.push((snap.key().clone(), Instance::clone(entry.instance())));
                }
            }
        }
        out
    }
}

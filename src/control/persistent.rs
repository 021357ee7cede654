//! Persistent instances and service settings on the log: [`PersistentWrite`] (what a
//! registration, deregistration, update or health change of a persistent instance, or a
//! creation, update or removal of a service's settings, says as a log entry) and
//! [`PersistentData`] (what the applied entries hold).
//!
//! A persistent instance is an operator's: it has no heartbeat and lives until it is
//! deregistered, so its home is the log, as in Nacos (its JRaft group for persistent naming
//! data). Every member applies the same entries, so every member holds the same instances at
//! the same versions: each change is stamped from the log (the proposer's clock in the
//! command, raised to one past the last stamp so stamps grow with the log even when a new
//! leader's clock lags), and [`crate::registry::Registry::apply_controlled`] stores them with
//! [`crate::store::CONTROL_ORIGIN`]. Distro leaves them alone (see [`crate::store`]'s
//! `controlled.rs`).
//!
//! The rules are checked again where a write is applied, with the default
//! [`crate::Limits`] (the same on every member, whatever a member's own flags say), and the
//! totals are bounded: [`MAX_PERSISTENT_INSTANCES`] in all, [`MAX_PERSISTENT_PER_SERVICE`] per
//! service.
//!
//! **Service settings** (protect threshold, metadata, selector) set by an operator are the
//! log's too: [`Command::CreateService`] (refused if the log holds the service's settings
//! already), [`Command::UpdateService`], and [`Command::RemoveService`] (refused while the log
//! holds persistent instances of the service). Whether a service exists through its ephemeral
//! instances alone is the registry's to say: the route checks it on the member that takes the
//! write, as Nacos' leader checks its own view.
//!
//! **Import**: a member whose `--data-dir` held persistent instances or service settings before
//! it ran a control plane proposes them once ([`PersistentWrite::Import`]). The first import applied is kept;
//! later ones (another member's, or a restart's) are refused, and from then on every member
//! drops the persistent instances its own store held from before.
//!
//! Each service's instances sit behind an [`Arc`], so publishing the state after a write
//! copies the map of the one service it changed, not every instance.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::command::ControlError;
use crate::model::{Instance, InstanceKey, Limits, ServiceKey};
use crate::registry::Command;
use crate::store::{ControlledInstance, ServiceSettings};

/// The most persistent instances the control plane holds.
pub const MAX_PERSISTENT_INSTANCES: usize = 100_000;
/// The most persistent instances of one service the control plane holds.
pub const MAX_PERSISTENT_PER_SERVICE: usize = 10_000;
/// The most services whose settings the control plane holds.
pub const MAX_SERVICE_SETTINGS: usize = 100_000;

/// A write of a persistent instance, as a log entry (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PersistentWrite {
    /// The registry's own command: [`Command::Register`] of a persistent instance (or a
    /// replacement of one), [`Command::Deregister`], [`Command::Update`] or
    /// [`Command::SetHealth`] of one the log holds (a deregistration, update or health change
    /// of one it does not hold is refused with [`ControlError::PersistentNotFound`]);
    /// [`Command::CreateService`], [`Command::UpdateService`] or [`Command::RemoveService`]
    /// (see the module documentation). Any other command is refused.
    Write(Command),
    /// What a member's store held before it ran a control plane: applied once, the first time
    /// (see the module documentation).
    Import {
        /// Its persistent instances.
        instances: Vec<(ServiceKey, Instance)>,
        /// Its services' explicit settings.
        settings: Vec<(ServiceKey, ServiceSettings)>,
    },
}

impl PersistentWrite {
    /// The service the write may change; `None` for an import (it may change every one).
    pub fn service(&self) -> Option<&ServiceKey> {
        match self {
            PersistentWrite::Write(command) => Some(command.service()),
            PersistentWrite::Import { .. } => None,
        }
    }
}

/// One persistent instance as the log holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Held {
    instance: Instance,
    written: u64,
    version: u64,
}

/// A service's settings as the log holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct HeldSettings {
    settings: Arc<ServiceSettings>,
    version: u64,
}

/// The persistent instances (by service then instance) and service settings the applied log
/// holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PersistentData {
    services: BTreeMap<ServiceKey, Arc<BTreeMap<InstanceKey, Held>>>,
    count: usize,
    settings: BTreeMap<ServiceKey, HeldSettings>,
    /// The last stamp given.
    stamp: u64,
    /// Whether an import was applied.
    imported: bool,
}

impl PersistentData {
    /// Applies `write`, proposed at `at` (microseconds on the proposer's clock).
    pub(super) fn apply(&mut self, at: u64, write: &PersistentWrite) -> Result<(), ControlError> {
        let stamp = at.max(self.stamp.saturating_add(1));
        match write {
            PersistentWrite::Write(Command::Register { service, instance }) => {
                check(service, instance)?;
                self.put(service, instance.clone(), stamp)?;
            }
            PersistentWrite::Write(Command::Deregister { service, instance }) => {
                let map = self.held_mut(service, instance)?;
                map.remove(instance);
                if map.is_empty() {
                    self.services.remove(service);
                }
                self.count -= 1;
            }
            PersistentWrite::Write(Command::Update {
                service,
                instance,
                update,
            }) => {
                let held = self.held_mut(service, instance)?;
                let Some(entry) = held.get_mut(instance) else {
                    return Err(not_found(service, instance));
                };
                let mut next = entry.instance.clone();
                update
                    .apply_to(&mut next, &Limits::default())
                    .map_err(|e| ControlError::InvalidInstance(e.to_string()))?;
                entry.instance = next;
                entry.written = stamp;
                entry.version = stamp;
            }
            PersistentWrite::Write(Command::SetHealth {
                service,
                instance,
                healthy,
            }) => {
                let held = self.held_mut(service, instance)?;
                let Some(entry) = held.get_mut(instance) else {
                    return Err(not_found(service, instance));
                };
                entry.instance.set_healthy(*healthy);
                entry.version = stamp;
            }
            PersistentWrite::Write(Command::CreateService { service, settings }) => {
                if self.settings.contains_key(service) {
                    return Err(ControlError::ServiceExists(service.clone()));
                }
                self.set_settings(service, settings, stamp)?;
            }
            PersistentWrite::Write(Command::UpdateService { service, settings }) => {
                self.set_settings(service, settings, stamp)?;
            }
            PersistentWrite::Write(Command::RemoveService { service }) => {
                let instances = self.services.get(service).map_or(0, |m| m.len());
                if instances > 0 {
                    return Err(ControlError::ServiceNotEmpty {
                        service: service.clone(),
                        instances,
                    });
                }
                if self.settings.remove(service).is_none() {
                    return Err(ControlError::ServiceNotFound(service.clone()));
                }
            }
            PersistentWrite::Import {
                instances,
                settings,
            } => {
                if self.imported {
                    return Err(ControlError::AlreadyImported);
                }
                self.imported = true;
                for (service, settings) in settings {
                    if !self.settings.contains_key(service) {
                        let _ = self.set_settings(service, settings, stamp);
                    }
                }
                // Each instance is checked on its own: one that breaks a rule is left out,
                // not the import.
                for (service, instance) in instances {
                    if check(service, instance).is_ok()
                        && self.get(service, &instance.key()).is_none()
                    {
                        let _ = self.put(service, instance.clone(), stamp);
                    }
                }
            }
            PersistentWrite::Write(other) => {
                return Err(ControlError::InvalidInstance(format!(
                    "the control plane takes writes of one persistent instance or of a \
                     service's settings, not {}",
                    other.kind()
                )))
            }
        }
        self.stamp = stamp;
        Ok(())
    }

    fn put(
        &mut self,
        service: &ServiceKey,
        instance: Instance,
        stamp: u64,
    ) -> Result<(), ControlError> {
        let key = instance.key();
        let known = self.services.get(service);
        let is_new = known.is_none_or(|m| !m.contains_key(&key));
        if is_new {
            if self.count >= MAX_PERSISTENT_INSTANCES {
                return Err(ControlError::TooManyPersistent {
                    limit: MAX_PERSISTENT_INSTANCES,
                });
            }
            if known.map_or(0, |m| m.len()) >= MAX_PERSISTENT_PER_SERVICE {
                return Err(ControlError::TooManyPersistent {
                    limit: MAX_PERSISTENT_PER_SERVICE,
                });
            }
        }
        let map = Arc::make_mut(self.services.entry(service.clone()).or_default());
        map.insert(
            key,
            Held {
                instance,
                written: stamp,
                version: stamp,
            },
        );
        self.count += usize::from(is_new);
        Ok(())
    }

    fn set_settings(
        &mut self,
        service: &ServiceKey,
        settings: &ServiceSettings,
        stamp: u64,
    ) -> Result<(), ControlError> {
        settings
            .check(&Limits::default())
            .map_err(|e| ControlError::InvalidInstance(e.to_string()))?;
        if !self.settings.contains_key(service) && self.settings.len() >= MAX_SERVICE_SETTINGS {
            return Err(ControlError::TooManyPersistent {
                limit: MAX_SERVICE_SETTINGS,
            });
        }
        self.settings.insert(
            service.clone(),
            HeldSettings {
                settings: Arc::new(settings.clone()),
                version: stamp,
            },
        );
        Ok(())
    }

    /// The settings of `service` the log holds, with the stamp of their last change.
    pub fn settings(&self, service: &ServiceKey) -> Option<(&ServiceSettings, u64)> {
        self.settings
            .get(service)
            .map(|h| (h.settings.as_ref(), h.version))
    }

    /// Every service whose settings the log holds.
    pub fn services_with_settings(&self) -> impl Iterator<Item = &ServiceKey> + '_ {
        self.settings.keys()
    }

    fn held_mut(
        &mut self,
        service: &ServiceKey,
        instance: &InstanceKey,
    ) -> Result<&mut BTreeMap<InstanceKey, Held>, ControlError> {
        match self.services.get_mut(service) {
            Some(map) if map.contains_key(instance) => Ok(Arc::make_mut(map)),
            _ => Err(not_found(service, instance)),
        }
    }

    /// The persistent instance `instance` of `service`, if held.
    pub fn get(&self, service: &ServiceKey, instance: &InstanceKey) -> Option<&Instance> {
        self.services
            .get(service)
            .and_then(|m| m.get(instance))
            .map(|h| &h.instance)
    }

    /// The persistent instances of `service`, with the log's versions, in key order.
    pub fn of_service(&self, service: &ServiceKey) -> Vec<ControlledInstance> {
        self.services
            .get(service)
            .map(|m| {
                m.values()
                    .map(|h| ControlledInstance {
                        instance: h.instance.clone(),
                        written: h.written,
                        version: h.version,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every service holding a persistent instance.
    pub fn services(&self) -> impl Iterator<Item = &ServiceKey> + '_ {
        self.services.keys()
    }

    /// How many persistent instances are held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The last stamp the log gave: every held version is at most this.
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// Whether an import was applied (from then on, what a member's store held from before
    /// the control plane is dropped).
    pub fn imported(&self) -> bool {
        self.imported
    }
}

fn check(service: &ServiceKey, instance: &Instance) -> Result<(), ControlError> {
    if instance.ephemeral() {
        return Err(ControlError::InvalidInstance(format!(
            "instance {} is ephemeral: only persistent instances are written to the control plane",
            instance.key().instance_id(service)
        )));
    }
    Limits::default()
        .check_instance(instance)
        .map_err(|e| ControlError::InvalidInstance(e.to_string()))
}

fn not_found(service: &ServiceKey, instance: &InstanceKey) -> ControlError {
    ControlError::PersistentNotFound(instance.instance_id(service).to_string())
}

#[cfg(test)]
#[path = "persistent_tests.rs"]
mod tests;

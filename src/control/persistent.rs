//! Persistent instances on the log: [`PersistentWrite`] (what a registration, deregistration,
//! update or health change of a persistent instance says as a log entry) and
//! [`PersistentInstances`] (what the applied entries hold).
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
//! **Import**: a member whose `--data-dir` held persistent instances before it ran a control
//! plane proposes them once ([`PersistentWrite::Import`]). The first import applied is kept;
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
use crate::store::ControlledInstance;

/// The most persistent instances the control plane holds.
pub const MAX_PERSISTENT_INSTANCES: usize = 100_000;
/// The most persistent instances of one service the control plane holds.
pub const MAX_PERSISTENT_PER_SERVICE: usize = 10_000;

/// A write of a persistent instance, as a log entry (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PersistentWrite {
    /// The registry's own command: [`Command::Register`] of a persistent instance (or a
    /// replacement of one), [`Command::Deregister`], [`Command::Update`] or
    /// [`Command::SetHealth`] of one the log holds (a deregistration, update or health change
    /// of one it does not hold is refused with [`ControlError::PersistentNotFound`]). Any other
    /// command is refused.
    Write(Command),
    /// The persistent instances a member's store held before it ran a control plane: applied
    /// once, the first time (see the module documentation).
    Import(Vec<(ServiceKey, Instance)>),
}

impl PersistentWrite {
    /// The service the write may change; `None` for an import (it may change every one).
    pub fn service(&self) -> Option<&ServiceKey> {
        match self {
            PersistentWrite::Write(command) => Some(command.service()),
            PersistentWrite::Import(_) => None,
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

/// The persistent instances the applied log holds, by service then instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PersistentInstances {
    services: BTreeMap<ServiceKey, Arc<BTreeMap<InstanceKey, Held>>>,
    count: usize,
    /// The last stamp given.
    stamp: u64,
    /// Whether an import was applied.
    imported: bool,
}

impl PersistentInstances {
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
            PersistentWrite::Import(instances) => {
                if self.imported {
                    return Err(ControlError::AlreadyImported);
                }
                self.imported = true;
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
                    "the control plane takes registrations, deregistrations, updates and health \
                     changes of persistent instances one at a time, not {}",
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

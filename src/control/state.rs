//! [`ControlState`]: what the control plane's log builds, applied one entry at a time.
//!
//! Applying is a pure function of the state and the command: no clock, no randomness, no
//! hash-ordered iteration (the maps are `BTreeMap`s, so a snapshot of equal states is equal
//! bytes on every member).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::clusters::ClusterTable;
use super::command::{ControlCommand, ControlError, ControlResponse, Namespace, MAX_NAMESPACES};
use super::overrides::{InstanceOverride, Overrides};
use super::persistent::PersistentData;
use super::users::Users;
use crate::model::{InstanceKey, NamespaceId, ServiceKey, DEFAULT_NAMESPACE};

/// The replicated state: namespaces, operator overrides of instances, and the users, roles and
/// permissions written through the API; service and cluster settings and persistent instances
/// join it as the control plane grows.
///
/// ```
/// use nacre::control::{ControlCommand, ControlResponse, ControlState, Namespace};
/// use nacre::NamespaceId;
///
/// let mut state = ControlState::default();
/// let dev = Namespace::new(NamespaceId::new("dev")?, "Development", "", 200)?;
/// assert_eq!(state.apply(&ControlCommand::CreateNamespace(dev.clone())), ControlResponse::Done);
/// assert_eq!(state.namespace("dev"), Some(&dev));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlState {
    namespaces: BTreeMap<NamespaceId, Namespace>,
    overrides: Overrides,
    users: Users,
    /// Cluster settings: see [`super::clusters`].
    pub(super) clusters: ClusterTable,
    /// Persistent instances: see [`super::persistent`].
    persistent: PersistentData,
}

impl ControlState {
    /// Applies one command: [`ControlResponse::Done`], or [`ControlResponse::Rejected`] with
    /// the state unchanged.
    pub fn apply(&mut self, command: &ControlCommand) -> ControlResponse {
        if let ControlCommand::Batch(commands) = command {
            return ControlResponse::Batch(
                commands
                    .iter()
                    .map(|c| match c {
                        ControlCommand::Batch(_) => {
                            ControlResponse::Rejected(ControlError::NestedBatch)
                        }
                        single => self.apply(single),
                    })
                    .collect(),
            );
        }
        if matches!(command, ControlCommand::Barrier) {
            return ControlResponse::Unchanged;
        }
        match self.try_apply(command) {
            Ok(()) => ControlResponse::Done,
            Err(e) => ControlResponse::Rejected(e),
        }
    }

    fn try_apply(&mut self, command: &ControlCommand) -> Result<(), ControlError> {
        match command {
            ControlCommand::CreateNamespace(ns) => {
                reserved(&ns.id)?;
                ns.check()?;
                if self.namespaces.contains_key(&ns.id) {
                    return Err(ControlError::NamespaceExists(ns.id.clone()));
                }
                if self.namespaces.len() >= MAX_NAMESPACES {
                    return Err(ControlError::TooManyNamespaces {
                        limit: MAX_NAMESPACES,
                    });
                }
                self.namespaces.insert(ns.id.clone(), ns.clone());
            }
            ControlCommand::UpdateNamespace(ns) => {
                reserved(&ns.id)?;
                ns.check()?;
                let Some(slot) = self.namespaces.get_mut(&ns.id) else {
                    return Err(ControlError::NamespaceNotFound(ns.id.clone()));
                };
                *slot = ns.clone();
            }
            // `apply` takes batches apart; one that reaches here is inside another.
            ControlCommand::Batch(_) => return Err(ControlError::NestedBatch),
            // `apply` answers it before it gets here.
            ControlCommand::Barrier => {}
            ControlCommand::DeleteNamespace { id } => {
                reserved(id)?;
                if self.namespaces.remove(id).is_none() {
                    return Err(ControlError::NamespaceNotFound(id.clone()));
                }
            }
            ControlCommand::SetOverride {
                service,
                instance,
                change,
            } => self.overrides.set(service, instance, change)?,
            ControlCommand::ClearOverride { service, instance } => {
                self.overrides.clear(service, instance)?
            }
            ControlCommand::DropOverrideMetadata {
                service,
                instance,
                keys,
            } => self.overrides.drop_metadata(service, instance, keys),
            ControlCommand::Users(command) => self.users.apply(command)?,
            ControlCommand::SetClusterSettings(settings) => self.clusters.set(settings)?,
            ControlCommand::Persistent { at, write } => self.persistent.apply(*at, write)?,
        }
        Ok(())
    }

    /// The namespace with this id (never `public`, which is implicit).
    pub fn namespace(&self, id: &str) -> Option<&Namespace> {
        self.namespaces.get(id)
    }

    /// Every namespace but `public`, by id.
    pub fn namespaces(&self) -> impl Iterator<Item = &Namespace> {
        self.namespaces.values()
    }

    /// The operator's override of `instance` in `service`, if one is kept.
    pub fn instance_override(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
    ) -> Option<&InstanceOverride> {
        self.overrides.get(service, instance)
    }

    /// The overrides kept for `service`'s instances, by instance.
    pub fn service_overrides(
        &self,
        service: &ServiceKey,
    ) -> impl Iterator<Item = (&InstanceKey, &InstanceOverride)> + '_ {
        self.overrides.of_service(service)
    }

    /// How many overrides are kept.
    pub fn override_count(&self) -> usize {
        self.overrides.len()
    }

    /// How many users the control plane holds (the users file's not counted).
    pub fn users_count(&self) -> usize {
        self.users.usernames().count()
    }

    /// The persistent instances.
    pub fn persistent(&self) -> &PersistentData {
        &self.persistent
    }

    /// The users, role bindings and permissions written through the API.
    pub fn users(&self) -> &Users {
        &self.users
    }
}

fn reserved(id: &NamespaceId) -> Result<(), ControlError> {
    if id.as_str() == DEFAULT_NAMESPACE {
        return Err(ControlError::DefaultNamespaceReserved(id.clone()));
    }
    Ok(())
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

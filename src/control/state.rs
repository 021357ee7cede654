//! [`ControlState`]: what the control plane's log builds, applied one entry at a time.
//!
//! Applying is a pure function of the state and the command: no clock, no randomness, no
//! hash-ordered iteration (the maps are `BTreeMap`s, so a snapshot of equal states is equal
//! bytes on every member).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::clusters::ClusterTable;
use super::command::{ControlCommand, ControlError, ControlResponse, Namespace, MAX_NAMESPACES};
use crate::model::{NamespaceId, DEFAULT_NAMESPACE};

/// The replicated state: namespaces for now; service and cluster settings, persistent
/// instances, overrides and users join it as the control plane grows.
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlState {
    namespaces: BTreeMap<NamespaceId, Namespace>,
    /// Cluster settings: see [`super::clusters`].
    pub(super) clusters: ClusterTable,
}

impl ControlState {
    /// Applies one command: [`ControlResponse::Done`], or [`ControlResponse::Rejected`] with
    /// the state unchanged.
    pub fn apply(&mut self, command: &ControlCommand) -> ControlResponse {
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
            ControlCommand::DeleteNamespace { id } => {
                reserved(id)?;
                if self.namespaces.remove(id).is_none() {
                    return Err(ControlError::NamespaceNotFound(id.clone()));
                }
            }
            ControlCommand::SetClusterSettings(settings) => self.clusters.set(settings)?,
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

//! Operator overrides in the control plane: an [`InstanceOverride`] per instance id (service
//! plus cluster, ip and port), set by `PUT`/`PATCH /nacos/v1/ns/instance` and the console,
//! cleared by an operator, and laid over every registration of that instance by every member
//! ([`ControlOverrides`], the registry's [`InstanceOverrides`]).
//!
//! - **Kept by id, not by instance.** An override outlives the instance it was set on: a
//!   client that deregisters and registers again (a restart), or that reconnects after its
//!   instance expired, finds it waiting. Setting one for an instance that is not registered
//!   keeps it for when it registers (Nacos 2.x keeps such an edit as "instance metadata" for the
//!   address, too).
//! - **Merged.** A new override of the same id changes only what it names: the enabled flag and
//!   weight it carries, the metadata keys it carries. Clearing removes the whole override.
//! - **Bounded.** At most [`MAX_OVERRIDES`] overrides in the control plane, a metadata patch of
//!   at most [`MAX_OVERRIDE_METADATA_BYTES`] (keys plus values, checked by the instance
//!   metadata rules), weight from 0 to [`crate::model::MAX_WEIGHT`].
//!
//! The lookup on a registration takes no lock (the control state is an `ArcSwap`), and costs
//! one emptiness check while no override exists.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::command::ControlError;
use super::plane::ControlPlane;
use crate::model::{Instance, InstanceKey, ServiceKey};
use crate::registry::InstanceOverrides;
use crate::store::InstanceUpdate;

/// The most overrides the control plane holds.
pub const MAX_OVERRIDES: usize = 100_000;
/// The largest metadata patch of one override, keys plus values, in bytes.
pub const MAX_OVERRIDE_METADATA_BYTES: usize = 4 * 1024;

/// A weight an override sets: finite, 0 to [`crate::model::MAX_WEIGHT`] (so equality is
/// total).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct OverrideWeight(f64);

impl Eq for OverrideWeight {}

impl OverrideWeight {
    /// The weight, checked.
    pub fn new(weight: f64) -> Result<OverrideWeight, ControlError> {
        if !weight.is_finite() || !(0.0..=crate::model::MAX_WEIGHT).contains(&weight) {
            return Err(ControlError::InvalidOverride {
                field: "weight".to_owned(),
                rule: format!(
                    "must be a number from 0 to {}, not {weight}",
                    crate::model::MAX_WEIGHT
                ),
            });
        }
        Ok(OverrideWeight(weight))
    }

    /// The weight.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// What an operator set on an instance, laid over what its client registers.
///
/// ```
/// use nacre::control::{InstanceOverride, OverrideWeight};
///
/// let mut drained = InstanceOverride { enabled: Some(false), ..Default::default() };
/// let heavier = InstanceOverride { weight: Some(OverrideWeight::new(5.0)?), ..Default::default() };
/// drained.merge(&heavier);
/// assert_eq!(drained.enabled, Some(false));
/// assert_eq!(drained.weight.map(OverrideWeight::get), Some(5.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceOverride {
    /// The enabled flag, if the operator set it.
    pub enabled: Option<bool>,
    /// The weight, if the operator set it.
    pub weight: Option<OverrideWeight>,
    /// Metadata keys the operator set, laid over the client's metadata.
    pub metadata: BTreeMap<String, String>,
}

impl InstanceOverride {
    /// Whether it sets nothing.
    pub fn is_empty(&self) -> bool {
        self.enabled.is_none() && self.weight.is_none() && self.metadata.is_empty()
    }

    /// Checks the rules: something set, the weight's range, the metadata's rules and size.
    pub fn check(&self) -> Result<(), ControlError> {
        if self.is_empty() {
            return Err(ControlError::InvalidOverride {
                field: "override".to_owned(),
                rule: "must set the enabled flag, the weight or metadata".to_owned(),
            });
        }
        if let Some(w) = self.weight {
            OverrideWeight::new(w.get())?;
        }
        let size: usize = self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_OVERRIDE_METADATA_BYTES {
            return Err(ControlError::InvalidOverride {
                field: "metadata".to_owned(),
                rule: format!(
                    "must be at most {MAX_OVERRIDE_METADATA_BYTES} bytes (keys plus values), not {size}"
                ),
            });
        }
        Instance::builder("127.0.0.1", 1)
            .metadata_map(self.metadata.clone())
            .build()
            .map_err(|e| ControlError::InvalidOverride {
                field: "metadata".to_owned(),
                rule: e.to_string(),
            })?;
        Ok(())
    }

    /// Takes what `change` sets: its enabled flag and weight where given, its metadata keys.
    pub fn merge(&mut self, change: &InstanceOverride) {
        if change.enabled.is_some() {
            self.enabled = change.enabled;
        }
        if change.weight.is_some() {
            self.weight = change.weight;
        }
        self.metadata
            .extend(change.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// The override as the registry's change to an instance (metadata merged).
    pub fn to_update(&self) -> InstanceUpdate {
        InstanceUpdate {
            weight: self.weight.map(OverrideWeight::get),
            enabled: self.enabled,
            metadata: (!self.metadata.is_empty()).then(|| self.metadata.clone()),
            merge_metadata: true,
        }
    }
}

/// The overrides of the control state, by service then instance. Each service's map is
/// shared between the state and its published copies ([`super::StateView`]): a write copies
/// the one service it changes, not every override.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Overrides {
    by_service: BTreeMap<ServiceKey, Arc<BTreeMap<InstanceKey, InstanceOverride>>>,
    count: usize,
}

impl Overrides {
    /// Merges `change` into the override of `instance` (made if there is none).
    pub(crate) fn set(
        &mut self,
        service: &ServiceKey,
        instance: &InstanceKey,
        change: &InstanceOverride,
    ) -> Result<(), ControlError> {
        change.check()?;
        let existing = self
            .by_service
            .get(service)
            .and_then(|s| s.get(instance))
            .cloned();
        let merged = match existing {
            Some(mut current) => {
                current.merge(change);
                current.check()?;
                current
            }
            None => {
                if self.count >= MAX_OVERRIDES {
                    return Err(ControlError::TooManyOverrides {
                        limit: MAX_OVERRIDES,
                    });
                }
                self.count += 1;
                change.clone()
            }
        };
        Arc::make_mut(self.by_service.entry(service.clone()).or_default())
            .insert(instance.clone(), merged);
        Ok(())
    }

    /// Removes `keys` from the metadata of `instance`'s override, and the override when
    /// nothing is left of it.
    pub(crate) fn drop_metadata(
        &mut self,
        service: &ServiceKey,
        instance: &InstanceKey,
        keys: &[String],
    ) {
        let Some(instances) = self.by_service.get_mut(service) else {
            return;
        };
        let holds = instances
            .get(instance)
            .is_some_and(|o| keys.iter().any(|k| o.metadata.contains_key(k)));
        if !holds {
            return;
        }
        let instances = Arc::make_mut(instances);
        let emptied = instances.get_mut(instance).is_some_and(|o| {
            o.metadata.retain(|k, _| !keys.contains(k));
            o.is_empty()
        });
        if emptied {
            instances.remove(instance);
            self.count -= 1;
            if instances.is_empty() {
                self.by_service.remove(service);
            }
        }
    }

    /// Removes the override of `instance`.
    pub(crate) fn clear(
        &mut self,
        service: &ServiceKey,
        instance: &InstanceKey,
    ) -> Result<(), ControlError> {
        let not_found =
            || ControlError::OverrideNotFound(instance.instance_id(service).to_string());
        let instances = self.by_service.get_mut(service).ok_or_else(not_found)?;
        if !instances.contains_key(instance) {
            return Err(not_found());
        }
        let instances = Arc::make_mut(instances);
        instances.remove(instance);
        if instances.is_empty() {
            self.by_service.remove(service);
        }
        self.count -= 1;
        Ok(())
    }

    /// The override of `instance` in `service`.
    pub(crate) fn get(
        &self,
        service: &ServiceKey,
        instance: &InstanceKey,
    ) -> Option<&InstanceOverride> {
        self.by_service.get(service)?.get(instance)
    }

    /// The overrides of `service`'s instances.
    pub(crate) fn of_service(
        &self,
        service: &ServiceKey,
    ) -> impl Iterator<Item = (&InstanceKey, &InstanceOverride)> + '_ {
        self.by_service
            .get(service)
            .into_iter()
            .flat_map(|instances| instances.iter())
    }

    /// How many overrides there are.
    pub(crate) fn len(&self) -> usize {
        self.count
    }
}

/// Why [`keep_edit`] kept nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeepError {
    /// The override broke a rule, or there are [`MAX_OVERRIDES`] already.
    #[error(transparent)]
    Refused(ControlError),
    /// The control plane took no write (no leader, stopped).
    #[error(transparent)]
    Unavailable(#[from] super::ControlWriteError),
}

/// Keeps an operator's edit of `instance` (what a front's `PUT`, `PATCH` or console edit sets:
/// `update`'s enabled flag, weight and metadata keys) as the instance id's override; answers
/// once the control plane applied it. An edit that sets none of them keeps nothing. Every
/// front that edits instances calls this before it changes the instance, so a refused or
/// unconfirmed edit changes nothing.
pub async fn keep_edit(
    control: &dyn ControlPlane,
    service: &ServiceKey,
    instance: &InstanceKey,
    update: &InstanceUpdate,
) -> Result<(), KeepError> {
    let change = InstanceOverride {
        enabled: update.enabled,
        weight: update
            .weight
            .map(OverrideWeight::new)
            .transpose()
            .map_err(KeepError::Refused)?,
        metadata: update.metadata.clone().unwrap_or_default(),
    };
    if change.is_empty() {
        return Ok(());
    }
    let command = super::ControlCommand::SetOverride {
        service: service.clone(),
        instance: instance.clone(),
        change,
    };
    match control.write(command).await? {
        super::ControlResponse::Rejected(e) => Err(KeepError::Refused(e)),
        _ => Ok(()),
    }
}

/// Removes `keys` from the override kept for `instance`, when it keeps any of them (a
/// metadata delete, so the next registration does not bring them back); no write otherwise.
pub async fn drop_kept_metadata(
    control: &dyn ControlPlane,
    service: &ServiceKey,
    instance: &InstanceKey,
    keys: &[String],
) -> Result<(), KeepError> {
    let holds = control
        .state()
        .instance_override(service, instance)
        .is_some_and(|o| keys.iter().any(|k| o.metadata.contains_key(k)));
    if !holds {
        return Ok(());
    }
    let command = super::ControlCommand::DropOverrideMetadata {
        service: service.clone(),
        instance: instance.clone(),
        keys: keys.to_vec(),
    };
    match control.write(command).await? {
        super::ControlResponse::Rejected(e) => Err(KeepError::Refused(e)),
        _ => Ok(()),
    }
}

/// The control plane's overrides as the registry looks them up: attach it with
/// [`crate::Registry::attach_overrides`].
#[derive(Debug, Clone)]
pub struct ControlOverrides(Arc<dyn ControlPlane>);

impl ControlOverrides {
    /// The overrides of `control`.
    pub fn new(control: Arc<dyn ControlPlane>) -> Self {
        ControlOverrides(control)
    }
}

impl InstanceOverrides for ControlOverrides {
    fn override_for(&self, service: &ServiceKey, instance: &Instance) -> Option<InstanceUpdate> {
        let state = self.0.state();
        if state.override_count() == 0 {
            return None;
        }
        state
            .instance_override(service, &instance.key())
            .map(InstanceOverride::to_update)
    }
}

#[cfg(test)]
#[path = "overrides_tests.rs"]
mod tests;

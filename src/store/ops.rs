//! The instance and service operations on a [`Store`], each one copy-on-write step.

use super::error::StoreError;
use super::index::Store;
use super::liveness::Liveness;
use super::snapshot::{InstanceEntry, ServiceSettings, ServiceSnapshot};
use super::version::Version;
use crate::clock::Timestamp;
use crate::model::{
    Instance, InstanceKey, LimitExceeded, Limits, ServiceKey, TimingOverrides, ValidationError,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A change to an instance's mutable fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InstanceUpdate {
    /// New weight.
    pub weight: Option<f64>,
    /// New enabled flag.
    pub enabled: Option<bool>,
    /// New metadata: replaces all of it, or with [`InstanceUpdate::merge_metadata`] only the
    /// keys it names.
    pub metadata: Option<BTreeMap<String, String>>,
    /// Whether `metadata` is laid over the current metadata (the keys it names are set, the
    /// others kept) instead of replacing it. Nacos 2.x keeps what a v1 `PUT` or `PATCH` sends
    /// beside the registered metadata and shows the two merged; nacre has one metadata map per
    /// instance, so its v1 front merges.
    #[serde(default)]
    pub merge_metadata: bool,
}

impl InstanceUpdate {
    /// Lays the change over `instance`: the weight and enabled flag it names, and its metadata
    /// (merged or replacing, as [`InstanceUpdate::merge_metadata`] says), checked against the
    /// field rules and `limits`. On an error `instance` may be half changed: apply to a copy.
    pub fn apply_to(
        &self,
        instance: &mut Instance,
        limits: &Limits,
    ) -> Result<(), ValidationError> {
        if let Some(w) = self.weight {
            instance.set_weight(w)?;
        }
        if let Some(e) = self.enabled {
            instance.set_enabled(e);
        }
        if let Some(m) = &self.metadata {
            let m = if self.merge_metadata {
                let mut merged = instance.metadata().clone();
                merged.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
                merged
            } else {
                m.clone()
            };
            instance.set_metadata(m)?;
            limits.check_instance(instance)?;
        }
        Ok(())
    }
}

/// What a beat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeatHit {
    /// Whether the instance was healthy before this beat.
    pub was_healthy: bool,
    /// Whether it is ephemeral (only those are judged by beats).
    pub ephemeral: bool,
    /// Its timing overrides.
    pub overrides: TimingOverrides,
}

fn check_room(snap: &ServiceSnapshot, limits: &Limits, adding: usize) -> Result<(), StoreError> {
    let would_hold = snap.instance_count + adding;
    if adding > 0 && would_hold > limits.max_instances_per_service {
        return Err(LimitExceeded::Instances {
            service: snap.key.clone(),
            would_hold,
            max: limits.max_instances_per_service,
        }
        .into());
    }
    Ok(())
}

/// Puts `instance` into `snap`; returns whether anything visible changed.
fn upsert(
    snap: &mut ServiceSnapshot,
    instance: Instance,
    owner: u64,
    version: Version,
    now: Timestamp,
) -> bool {
    let key = instance.key();
    match snap.entry(&key) {
        Some(old) if *old.instance == instance => {
            old.liveness.beat(now);
            old.liveness.set_owner(owner);
            false
        }
        Some(old) => {
            let liveness = old.liveness.clone();
            liveness.beat(now);
            liveness.set_owner(owner);
            snap.insert(InstanceEntry::new(
                Arc::new(instance),
                liveness,
                version,
                version,
            ));
            true
        }
        None => {
            let liveness = Liveness::new(now);
            liveness.set_owner(owner);
            snap.insert(InstanceEntry::new(
                Arc::new(instance),
                Arc::new(liveness),
                version,
                version,
            ));
            true
        }
    }
}

/// A copy of `entry` with `instance` as its data, a client write at `version`.
fn rewrite_written(entry: &InstanceEntry, instance: Instance, version: Version) -> InstanceEntry {
    InstanceEntry::new(Arc::new(instance), entry.liveness.clone(), version, version)
}

impl Store {
    /// Registers (or re-registers, replacing its data) one instance; creates the service if
    /// needed. Returns the service's revision afterwards; re-registering exactly the same data
    /// only refreshes the beat time and publishes nothing.
    pub(crate) fn register(
        &self,
        key: &ServiceKey,
        instance: Instance,
        limits: &Limits,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        limits.check_instance(&instance)?;
        self.batch_register(key, vec![instance], 0, limits, now)
    }

    /// What [`Store::batch_register`] would refuse of `instances` in `key` now, without writing:
    /// a field rule or size of `limits`, the room left in the service, or the caps on services
    /// and namespaces when the service is not live. A host that applies registrations
    /// elsewhere (the control plane's log) checks them here first, so this node's limits hold
    /// for them too; the write itself may still be refused by a change made meanwhile.
    pub(crate) fn check_registration(
        &self,
        key: &ServiceKey,
        instances: &[Instance],
        limits: &Limits,
    ) -> Result<(), StoreError> {
        for instance in instances {
            limits.check_instance(instance)?;
        }
        match self.load(key) {
            Some(snap) => {
                let adding = instances
                    .iter()
                    .filter(|i| snap.entry(&i.key()).is_none())
                    .count();
                check_room(&snap, limits, adding)
            }
            None => {
                super::write::admit(&crate::util::lock(&self.live), key.namespace(), limits)?;
                let empty = ServiceSnapshot::empty(key.clone(), ServiceSettings::default());
                check_room(&empty, limits, instances.len())
            }
        }
    }

    /// Registers several instances in one step (one snapshot, one revision, one event). All are
    /// checked first: if any is invalid, none is stored. A write that creates the service is
    /// held to the caps on services and namespaces ([`Store::write_admitted`]). `owner` is the
    /// client connection publishing them (0: none; see [`crate::Registry::register_for`]).
    pub(crate) fn batch_register(
        &self,
        key: &ServiceKey,
        instances: Vec<Instance>,
        owner: u64,
        limits: &Limits,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        for instance in &instances {
            limits.check_instance(instance)?;
        }
        let written = self.write_admitted(key, limits, |snap| {
            let adding = instances
                .iter()
                .filter(|i| snap.entry(&i.key()).is_none())
                .count();
            check_room(snap, limits, adding)?;
            // A registration into a removed service is a service-level write that revives it.
            let reviving = snap.meta_removed;
            let mut changed = reviving;
            if reviving {
                snap.revive(now);
                snap.meta_removed = false;
                snap.meta_version = self.next_version(now);
                snap.meta_touched = true;
            }
            let version = self.next_version(now);
            for instance in instances {
                changed |= upsert(snap, instance, owner, version, now);
            }
            Ok::<_, StoreError>(((), changed))
        })?;
        // `create == true` always yields a write.
        Ok(written.map_or(0, |w| w.revision))
    }

    /// Removes one instance. Returns the new revision, or `None` if it was not there (as in
    /// Nacos, deregistering an unknown instance is not an error). With `owner`, only if no
    /// other connection registered it since (its recorded owner is `owner` or none).
    pub(crate) fn deregister(
        &self,
        key: &ServiceKey,
        instance: &InstanceKey,
        owner: Option<u64>,
        now: Timestamp,
    ) -> Option<u64> {
        let written = self
            .write(key, false, |snap| {
                let Some(entry) = snap.entry(instance) else {
                    return Ok::<_, StoreError>(((), false));
                };
                if let Some(owner) = owner {
                    let current = entry.liveness.owner();
                    if current != 0 && current != owner {
                        return Ok(((), false));
                    }
                }
                let version = self.next_version(now);
                snap.remove_deregistered(instance, version, now);
                snap.settle_removal(now);
                Ok(((), true))
            })
            .ok()
            .flatten();
        written.filter(|w| w.changed).map(|w| w.revision)
    }

    /// Changes weight, enabled flag or metadata of a registered instance.
    pub(crate) fn update_instance(
        &self,
        key: &ServiceKey,
        instance: &InstanceKey,
        update: InstanceUpdate,
        limits: &Limits,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let not_found = || StoreError::InstanceNotFound(instance.instance_id(key));
        let written = self.write(key, false, |snap| {
            let Some(old) = snap.entry(instance) else {
                return Err(not_found());
            };
            let mut next = Instance::clone(&old.instance);
            update.apply_to(&mut next, limits)?;
            if next == *old.instance {
                return Ok(((), false));
            }
            let entry = rewrite_written(old, next, self.next_version(now));
            snap.insert(entry);
            Ok(((), true))
        })?;
        match written {
            Some(w) => Ok(w.revision),
            None => Err(not_found()),
        }
    }

    /// Records a beat for a registered instance: one atomic store, nothing copied. `None` if the
    /// instance (or its service) is not registered.
    pub(crate) fn beat(
        &self,
        key: &ServiceKey,
        instance: &InstanceKey,
        now: Timestamp,
    ) -> Option<BeatHit> {
        self.read(key, |snap| {
            let entry = snap.entry(instance)?;
            entry.liveness.beat(now);
            Some(BeatHit {
                was_healthy: entry.instance.healthy(),
                ephemeral: entry.instance.ephemeral(),
                overrides: entry.overrides(),
            })
        })
        .flatten()
    }

    /// Sets one instance's health flag if it differs. Returns the new revision if it changed.
    pub(crate) fn set_healthy(
        &self,
        key: &ServiceKey,
        instance: &InstanceKey,
        healthy: bool,
        now: Timestamp,
    ) -> Option<u64> {
        let written = self
            .write(key, false, |snap| {
                let Some(old) = snap.entry(instance) else {
                    return Ok::<_, StoreError>(((), false));
                };
                if old.instance.healthy() == healthy {
                    return Ok(((), false));
                }
                let entry = old.with_health(healthy, self.next_version(now));
                snap.insert(entry);
                Ok(((), true))
            })
            .ok()
            .flatten();
        written.filter(|w| w.changed).map(|w| w.revision)
    }

    /// Sets the health of a registered persistent instance by hand (an operator, or a health
    /// checker outside nacre). An ephemeral instance's health follows its beats and is refused
    /// with [`StoreError::HealthFollowsBeats`]; an unknown one with
    /// [`StoreError::InstanceNotFound`]. Returns the service's revision afterwards (unchanged
    /// when the flag already was `healthy`).
    pub(crate) fn set_persistent_health(
        &self,
        key: &ServiceKey,
        instance: &InstanceKey,
        healthy: bool,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let not_found = || StoreError::InstanceNotFound(instance.instance_id(key));
        let written = self.write(key, false, |snap| {
            let Some(old) = snap.entry(instance) else {
                return Err(not_found());
            };
            if old.instance.ephemeral() {
                return Err(StoreError::HealthFollowsBeats(instance.instance_id(key)));
            }
            if old.instance.healthy() == healthy {
                return Ok(((), false));
            }
            let entry = old.with_health(healthy, self.next_version(now));
            snap.insert(entry);
            Ok(((), true))
        })?;
        written.map(|w| w.revision).ok_or_else(not_found)
    }

    /// Creates an empty service with `settings`, set explicitly: it stays when it has no
    /// instances. Held to the service metadata size and to the caps on services and
    /// namespaces.
    pub(crate) fn create_service(
        &self,
        key: &ServiceKey,
        settings: ServiceSettings,
        limits: &Limits,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        check_threshold(&settings)?;
        limits.check_service_metadata(&settings.metadata)?;
        let written = self.write_admitted(key, limits, |snap| {
            if !snap.removed {
                return Err(StoreError::ServiceExists(key.clone()));
            }
            snap.set_explicit(settings, self.next_version(now), now);
            snap.meta_touched = true;
            Ok(((), true))
        })?;
        Ok(written.map_or(0, |w| w.revision))
    }

    /// Replaces an existing service's settings. A change makes them explicit: the service then
    /// stays when it has no instances.
    pub(crate) fn update_service(
        &self,
        key: &ServiceKey,
        settings: ServiceSettings,
        limits: &Limits,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        check_threshold(&settings)?;
        limits.check_service_metadata(&settings.metadata)?;
        let written = self.write(key, false, |snap| {
            let changed = *snap.settings != settings;
            if changed {
                snap.meta_version = self.next_version(now);
                snap.meta_touched = true;
                snap.explicit = true;
            }
            snap.settings = Arc::new(settings);
            Ok::<_, StoreError>(((), changed))
        })?;
        match written {
            Some(w) => Ok(w.revision),
            None => Err(StoreError::ServiceNotFound(key.clone())),
        }
    }

    /// Removes a service. Unless `force`, it must hold no instance.
    pub(crate) fn remove_service(
        &self,
        key: &ServiceKey,
        force: bool,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let written = self.write(key, false, |snap| {
            if !force && snap.instance_count > 0 {
                return Err(StoreError::ServiceNotEmpty {
                    service: key.clone(),
                    instances: snap.instance_count,
                });
            }
            let keys: Vec<InstanceKey> = snap.entries().map(|e| e.instance.key()).collect();
            for k in keys {
                let version = self.next_version(now);
                snap.remove_deregistered(&k, version, now);
            }
            snap.mark_removed(now);
            snap.meta_version = self.next_version(now);
            snap.meta_touched = true;
            Ok(((), true))
        })?;
        match written {
            Some(w) => Ok(w.revision),
            None => Err(StoreError::ServiceNotFound(key.clone())),
        }
    }
}

impl ServiceSettings {
    /// Checks the rules a service's settings keep: the protect threshold in `0..=1`, the
    /// metadata within `limits`.
    pub fn check(&self, limits: &Limits) -> Result<(), ValidationError> {
        check_threshold(self)?;
        limits.check_service_metadata(&self.metadata)
    }
}

pub(crate) fn check_threshold(settings: &ServiceSettings) -> Result<(), ValidationError> {
    let t = settings.protect_threshold;
    if !(0.0..=1.0).contains(&t) {
        return Err(ValidationError::BadProtectThreshold(t));
    }
    Ok(())
}

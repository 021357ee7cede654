//! What the properties compare and check about a store: its full replicated state, and the
//! structural invariants of every snapshot.

use nacre::store::{Store, Version};
use nacre::{Instance, InstanceKey, Limits, ServiceKey, ServiceSettings, Timestamp};
use std::collections::BTreeMap;

/// One instance as a store holds it (live or tombstone), without local-only facts
/// (tombstones' `removed_at`, revisions).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Held {
    Live {
        written: Version,
        version: Version,
        last_beat: Timestamp,
        instance: Instance,
    },
    Removed {
        written: Version,
        version: Version,
        last_beat: Timestamp,
        data: Option<Instance>,
        evicted: Option<Timestamp>,
    },
}

impl Held {
    pub(crate) fn version(&self) -> Version {
        match self {
            Held::Live { version, .. } | Held::Removed { version, .. } => *version,
        }
    }

    pub(crate) fn written(&self) -> Version {
        match self {
            Held::Live { written, .. } | Held::Removed { written, .. } => *written,
        }
    }

    pub(crate) fn last_beat(&self) -> Timestamp {
        match self {
            Held::Live { last_beat, .. } | Held::Removed { last_beat, .. } => *last_beat,
        }
    }

    pub(crate) fn data(&self) -> Option<&Instance> {
        match self {
            Held::Live { instance, .. } => Some(instance),
            Held::Removed { data, .. } => data.as_ref(),
        }
    }

    pub(crate) fn evicted(&self) -> Option<Timestamp> {
        match self {
            Held::Live { .. } => None,
            Held::Removed { evicted, .. } => *evicted,
        }
    }
}

/// One service as a store holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HeldService {
    pub(crate) removed: bool,
    pub(crate) meta_version: Version,
    pub(crate) settings: ServiceSettings,
    pub(crate) instances: BTreeMap<InstanceKey, Held>,
    pub(crate) checksum: u64,
}

/// Everything a store holds, removed services and tombstones included.
pub(crate) type State = BTreeMap<ServiceKey, HeldService>;

/// The state of `store`, after checking the structural invariants of every snapshot (so any
/// property that reads a state checks them too).
pub(crate) fn state(store: &Store) -> Result<State, String> {
    let mut out = State::new();
    for key in store.all_keys() {
        let snap = store.load_any(&key).ok_or("a listed key has no cell")?;
        let mut instances = BTreeMap::new();
        let mut counted = 0;
        for (cluster, cs) in snap.clusters() {
            if cs.is_empty() {
                return Err(format!("{key}: an empty cluster {cluster} is kept"));
            }
            for e in cs.instances() {
                counted += 1;
                let inst = Instance::clone(e.instance());
                if inst.cluster() != cluster {
                    return Err(format!("{key}: {inst:?} is filed under cluster {cluster}"));
                }
                let held = Held::Live {
                    written: e.written(),
                    version: e.version(),
                    last_beat: e.liveness().last_beat(),
                    instance: inst.clone(),
                };
                if instances.insert(inst.key(), held).is_some() {
                    return Err(format!("{key}: {:?} is held twice", inst.key()));
                }
            }
        }
        if counted != snap.instance_count() {
            return Err(format!(
                "{key}: instance_count {} but {counted} held",
                snap.instance_count()
            ));
        }
        if snap.is_removed() && counted > 0 {
            return Err(format!("{key}: removed but holds {counted} instances"));
        }
        for (k, t) in snap.tombstones() {
            let held = Held::Removed {
                written: t.written,
                version: t.version,
                last_beat: t.last_beat,
                data: t.data.as_deref().cloned(),
                evicted: t.evicted,
            };
            if instances.insert(k.clone(), held).is_some() {
                return Err(format!("{key}: {k:?} is both live and a tombstone"));
            }
        }
        if (store.load(&key).is_some()) == snap.is_removed() {
            return Err(format!("{key}: load disagrees with the removed flag"));
        }
        out.insert(
            key,
            HeldService {
                removed: snap.is_removed(),
                meta_version: snap.meta_version(),
                settings: snap.settings().clone(),
                instances,
                checksum: snap.checksum(),
            },
        );
    }
    Ok(out)
}

/// The live part of a service: what its checksum is documented to cover.
pub(crate) fn live_part(s: &HeldService) -> (bool, Version, Vec<(InstanceKey, Version)>) {
    let live = s
        .instances
        .iter()
        .filter(|(_, h)| matches!(h, Held::Live { .. }))
        .map(|(k, h)| (k.clone(), h.version()))
        .collect();
    (s.removed, s.meta_version, live)
}

/// Checks that every instance `store` serves is one a client could have registered: it
/// rebuilds through the builder's checks (via its wire form). With `limits`, also that it fits
/// them, and that the service settings are in range, as a client write would have to.
pub(crate) fn servable(store: &Store, limits: Option<&Limits>) -> Result<(), String> {
    for snap in store.snapshots() {
        let key = snap.key();
        for e in snap.entries() {
            let inst = e.instance();
            let wire = serde_json::to_vec(&**inst).map_err(|e| e.to_string())?;
            let again: Instance = serde_json::from_slice(&wire)
                .map_err(|err| format!("{key}: stored {inst:?} does not rebuild: {err}"))?;
            if again != **inst {
                return Err(format!("{key}: {inst:?} rebuilds as {again:?}"));
            }
            if let Some(limits) = limits {
                limits
                    .check_instance(inst)
                    .map_err(|err| format!("{key}: stored {inst:?} breaks the limits: {err}"))?;
            }
        }
        let Some(limits) = limits else { continue };
        let t = snap.settings().protect_threshold;
        if !(0.0..=1.0).contains(&t) {
            return Err(format!("{key}: protect threshold {t} is out of range"));
        }
        if snap.instance_count() > limits.max_instances_per_service {
            return Err(format!("{key}: {} instances", snap.instance_count()));
        }
    }
    Ok(())
}

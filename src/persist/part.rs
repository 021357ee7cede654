//! [`persistent_part`]: which part of a service's snapshot goes to disk, and [`diff`]: the
//! writes that bring the disk there, one row per changed instance. Pure: a snapshot and the
//! rows on disk in, the rows to store out.

use super::StoreWrite;
use crate::model::ServiceKey;
use crate::store::{ServiceRecord, ServiceSnapshot};
use std::collections::{HashMap, HashSet};

/// The row to store for `snap`, given the row on disk now (`on_disk`), or `None` when the
/// service should have no row:
///
/// - its service-level state ([`ServiceSnapshot::meta`]);
/// - every persistent (non-ephemeral) live instance;
/// - the tombstone of every removed persistent instance, stored live here or not (another
///   member's disk may hold it live), and of every instance the row on disk holds: a
///   persistent instance that is removed stays removed after a restart. Tombstones of
///   ephemeral instances never stored are left out; a tombstone collected from memory leaves
///   the row too.
///
/// A service keeps a row while that holds an instance or a tombstone, while its settings are
/// explicit, or while it is removed and had a row (its removal must stay final until the store
/// forgets it). `None` for `snap == None`: the store has forgotten the service.
///
/// ```
/// use nacre::persist::persistent_part;
/// use nacre::{Instance, Registry, ServiceKey};
/// let registry = Registry::default();
/// let db = ServiceKey::named("db")?;
/// registry.register_instance(&db, Instance::new("10.0.0.1", 80)?)?; // ephemeral
/// assert_eq!(persistent_part(registry.service(&db).as_deref(), None), None);
/// let primary = Instance::builder("10.0.0.9", 5432).ephemeral(false).build()?;
/// registry.register_instance(&db, primary.clone())?;
/// let row = persistent_part(registry.service(&db).as_deref(), None).unwrap();
/// assert_eq!(row.instances.len(), 1);
/// registry.deregister_instance(&db, &primary.key());
/// let snap = registry.store().load_any(&db);
/// let after = persistent_part(snap.as_deref(), Some(&row)).unwrap();
/// assert_eq!(after.instances.len(), 1); // its tombstone
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn persistent_part(
    snap: Option<&ServiceSnapshot>,
    on_disk: Option<&ServiceRecord>,
) -> Option<ServiceRecord> {
    let snap = snap?;
    let stored: HashSet<_> = on_disk
        .map(|r| r.instances.iter().map(|i| &i.key).collect())
        .unwrap_or_default();
    let mut instances = Vec::new();
    if snap.persistent_count() > 0 {
        for entry in snap.entries() {
            if !entry.instance().ephemeral() {
                instances.extend(snap.instance_record(&entry.instance().key()));
            }
        }
    }
    // A removal of persistent data is stored even when the live copy never reached this
    // disk: another member's disk may hold it live (see crate::store, "Removals of persistent
    // data"). Other removals only over a live copy stored here.
    for (key, tomb) in snap.tombstones() {
        if tomb.durable || stored.contains(key) {
            instances.extend(snap.instance_record(key));
        }
    }
    let keep = !instances.is_empty()
        || snap.has_explicit_settings()
        || (snap.is_removed() && on_disk.is_some());
    keep.then(|| ServiceRecord {
        key: snap.key().clone(),
        meta: snap.meta(),
        instances,
    })
}

/// The writes that take the rows of `service` from `stored` (on disk now) to `row` (its
/// [`persistent_part`] now): the service's row when its service-level state changed (or it
/// has none yet), the row of each instance whose record changed, the deletion of each
/// instance row `row` no longer holds; or the deletion of the whole service when `row` is
/// `None`. Nothing when nothing changed.
pub(crate) fn diff(
    service: &ServiceKey,
    stored: Option<&ServiceRecord>,
    row: Option<&ServiceRecord>,
) -> Vec<StoreWrite> {
    let Some(row) = row else {
        return match stored {
            Some(_) => vec![StoreWrite::DeleteService(service.clone())],
            None => Vec::new(),
        };
    };
    let mut writes = Vec::new();
    if stored.is_none_or(|s| s.meta != row.meta) {
        writes.push(StoreWrite::PutService {
            service: service.clone(),
            meta: row.meta.clone(),
        });
    }
    let mut before: HashMap<_, _> = stored
        .map(|s| s.instances.iter().map(|i| (&i.key, i)).collect())
        .unwrap_or_default();
    for record in &row.instances {
        if before.remove(&record.key) != Some(record) {
            writes.push(StoreWrite::PutInstance {
                service: service.clone(),
                record: record.clone(),
            });
        }
    }
    let mut gone: Vec<_> = before.into_keys().collect();
    gone.sort();
    writes.extend(gone.into_iter().map(|key| StoreWrite::DeleteInstance {
        service: service.clone(),
        instance: key.clone(),
    }));
    writes
}

/// Whether a change published as `snap` may change what [`persistent_part`] gives, for a
/// service with a row on disk or in flight (`known`). Cheap: no walk over the instances.
pub(crate) fn may_concern_disk(snap: &ServiceSnapshot, known: bool) -> bool {
    known || snap.has_explicit_settings() || snap.persistent_count() > 0
}

/// Live instances and tombstones in `record`.
pub(crate) fn count(record: &ServiceRecord) -> (usize, usize) {
    let live = record.instances.iter().filter(|i| i.is_live()).count();
    (live, record.instances.len() - live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Instance, Registry, ServiceKey, ServiceSettings};

    fn persistent(ip: &str) -> Instance {
        Instance::builder(ip, 5432)
            .ephemeral(false)
            .build()
            .expect("valid")
    }

    #[test]
    fn ephemeral_instances_never_reach_the_row() {
        let r = Registry::default();
        let k = ServiceKey::named("mixed").expect("valid");
        r.register_instance(&k, persistent("10.0.0.1")).expect("ok");
        r.register_instance(&k, Instance::new("10.0.0.2", 80).expect("valid"))
            .expect("ok");
        let row = persistent_part(r.service(&k).as_deref(), None).expect("a row");
        assert_eq!(count(&row), (1, 0));
    }

    #[test]
    fn explicit_settings_keep_a_row_without_instances() {
        let r = Registry::default();
        let k = ServiceKey::named("empty").expect("valid");
        let settings = ServiceSettings {
            protect_threshold: 0.5,
            ..ServiceSettings::default()
        };
        r.create_service(&k, settings).expect("ok");
        let row = persistent_part(r.service(&k).as_deref(), None).expect("a row");
        assert_eq!(row.meta.settings.protect_threshold, 0.5);
        assert!(row.instances.is_empty());
    }

    #[test]
    fn a_row_goes_once_nothing_persistent_is_left() {
        let r = Registry::default();
        let k = ServiceKey::named("gone").expect("valid");
        let p = persistent("10.0.0.1");
        r.register_instance(&k, p.clone()).expect("ok");
        let row = persistent_part(r.service(&k).as_deref(), None).expect("a row");
        r.deregister_instance(&k, &p.key());
        // The tombstone of a stored instance is kept ...
        let snap = r.store().load_any(&k);
        let with_tomb = persistent_part(snap.as_deref(), Some(&row)).expect("a row");
        assert_eq!(count(&with_tomb), (0, 1));
        // ... and once memory collects it, the row goes.
        let far = r.clock().now() + std::time::Duration::from_secs(3600);
        r.store().collect_tombstones(far, Some(far));
        let snap = r.store().load_any(&k);
        assert_eq!(persistent_part(snap.as_deref(), Some(&with_tomb)), None);
    }

    #[test]
    fn a_registration_into_a_large_service_writes_one_instance_row() {
        let r = Registry::default();
        let k = ServiceKey::named("large").expect("valid");
        for i in 0..450 {
            let ip = format!("10.0.{}.{}", i / 200, i % 200 + 1);
            r.register_instance(&k, persistent(&ip)).expect("ok");
        }
        let stored = persistent_part(r.service(&k).as_deref(), None).expect("a row");
        let first = diff(&k, None, Some(&stored));
        assert_eq!(
            first.len(),
            451,
            "a new service: its row and every instance's"
        );
        r.register_instance(&k, persistent("10.9.9.9")).expect("ok");
        let row = persistent_part(r.service(&k).as_deref(), Some(&stored)).expect("a row");
        let writes = diff(&k, Some(&stored), Some(&row));
        assert!(
            matches!(&writes[..], [StoreWrite::PutInstance { record, .. }] if record.key == persistent("10.9.9.9").key()),
            "{writes:?}"
        );
        assert!(diff(&k, Some(&row), Some(&row)).is_empty());
    }

    #[test]
    fn a_deregistration_rewrites_one_row_and_a_forgotten_service_deletes_its_rows() {
        let r = Registry::default();
        let k = ServiceKey::named("dereg").expect("valid");
        let (a, b) = (persistent("10.0.0.1"), persistent("10.0.0.2"));
        r.register_instance(&k, a.clone()).expect("ok");
        r.register_instance(&k, b).expect("ok");
        let stored = persistent_part(r.service(&k).as_deref(), None).expect("a row");
        r.deregister_instance(&k, &a.key());
        let snap = r.store().load_any(&k);
        let row = persistent_part(snap.as_deref(), Some(&stored)).expect("a row");
        let writes = diff(&k, Some(&stored), Some(&row));
        assert!(
            matches!(&writes[..], [StoreWrite::PutInstance { record, .. }] if record.key == a.key() && !record.is_live()),
            "the tombstone replaces the instance's row: {writes:?}"
        );
        assert_eq!(
            diff(&k, Some(&row), None),
            vec![StoreWrite::DeleteService(k.clone())]
        );
        assert!(diff(&k, None, None).is_empty());
    }

    #[test]
    fn unstored_tombstones_stay_out() {
        let r = Registry::default();
        let k = ServiceKey::named("eph").expect("valid");
        let e = Instance::new("10.0.0.2", 80).expect("valid");
        r.register_instance(&k, e.clone()).expect("ok");
        r.register_instance(&k, persistent("10.0.0.1")).expect("ok");
        r.deregister_instance(&k, &e.key());
        let row = persistent_part(r.service(&k).as_deref(), None).expect("a row");
        assert_eq!(count(&row), (1, 0));
    }

    /// A replica whose committer had not written its replicated copy yet when the removal
    /// came: the removal of persistent data is stored all the same, or a peer's disk holding
    /// the instance live would bring it back after a full restart.
    #[test]
    fn a_removal_of_persistent_data_is_stored_without_its_live_copy() {
        let r = Registry::default();
        let k = ServiceKey::named("db").expect("valid");
        let p = persistent("10.0.0.9");
        r.register_instance(&k, p.clone()).expect("ok");
        r.deregister_instance(&k, &p.key());
        let snap = r.store().load_any(&k);
        let row = persistent_part(snap.as_deref(), None).expect("a row for the removal");
        assert_eq!(count(&row), (0, 1));
    }
}

//! A registry's durability against the store's merge, which only the crate reaches: a
//! deregistration loaded from disk outranks a stale peer copy after a restart.

use crate::model::ServiceKey;
use crate::persist::{CommitPolicy, PersistError, Persistence, StoreWrite};
use crate::store::{MergeRules, ServiceRecord};
use crate::util::lock;
use crate::{Instance, Registry};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Rows in memory.
#[derive(Default)]
struct Rows(Mutex<BTreeMap<ServiceKey, ServiceRecord>>);

impl Persistence for Rows {
    fn load(&self) -> Result<Vec<ServiceRecord>, PersistError> {
        Ok(lock(&self.0).values().cloned().collect())
    }
    fn commit(&self, writes: &[StoreWrite]) -> Result<(), PersistError> {
        let mut rows = lock(&self.0);
        for w in writes {
            w.apply_to(&mut rows);
        }
        Ok(())
    }
}

fn attached(rows: &Arc<Rows>) -> Registry {
    let registry = Registry::default();
    registry
        .attach_persistence(rows.clone(), CommitPolicy::default())
        .unwrap();
    registry
}

#[test]
fn a_stored_deregistration_beats_a_stale_peer_copy_after_a_restart() {
    let rows = Arc::new(Rows::default());
    let db = ServiceKey::named("db").unwrap();
    let gone = Instance::builder("10.0.0.3", 5432)
        .ephemeral(false)
        .build()
        .unwrap();
    let stale = {
        let registry = attached(&rows);
        registry.register_instance(&db, gone.clone()).unwrap();
        registry.wait_persisted(&db).unwrap();
        let stale = registry.service(&db).unwrap().to_record(None);
        registry.deregister_instance(&db, &gone.key());
        registry.wait_persisted(&db).unwrap();
        stale
    };
    let registry = attached(&rows);
    // A peer that never heard of the deregistration sends its copy.
    let rules = MergeRules::new(*registry.limits());
    registry
        .store()
        .merge(stale, &rules, registry.clock().now());
    assert!(registry.get_all_instances(&db, &[]).is_empty());
}

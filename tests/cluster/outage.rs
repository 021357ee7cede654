//! Removals of persistent data across long outages, on the deterministic simulator, each
//! member keeping its persistent data in a store of its own (what `nacre-server --data-dir`
//! does) that outlives its crashes:
//! - a member down for longer than the tombstone retention (the default 300 s: it is down
//!   430 s) comes back with its stale copy, and neither the persistent instance nor the
//!   explicit service removed while it was down is listed again, by any member, at any second
//!   after it is back;
//! - the removals are kept past the retention only while a member has not been up for a whole
//!   retention, and collected after;
//! - a full restart after the retention (every member down 430 s, one of them since before the
//!   removal) keeps every persistent instance never removed, and the removal; also with a
//!   retention (2 s) shorter than the verify rounds that hand the removal to the stale member.

use crate::common::{key, secs};
use nacre::cluster::NodeId;
use nacre::persist::{PersistError, Persistence, StoreWrite};
use nacre::store::ServiceRecord;
use nacre::transport::memory::{SimConfig, Simulation};
use nacre::{Command, HealthConfig, Instance, ServiceKey, ServiceSettings};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One member's disk: its rows, in memory.
#[derive(Default)]
struct Disk(Mutex<BTreeMap<ServiceKey, ServiceRecord>>);

impl Disk {
    fn rows(&self) -> std::sync::MutexGuard<'_, BTreeMap<ServiceKey, ServiceRecord>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Persistence for Disk {
    fn load(&self) -> Result<Vec<ServiceRecord>, PersistError> {
        Ok(self.rows().values().cloned().collect())
    }
    fn commit(&self, writes: &[StoreWrite]) -> Result<(), PersistError> {
        let mut rows = self.rows();
        for w in writes {
            w.apply_to(&mut rows);
        }
        Ok(())
    }
}

/// The reproduction waits 430 s against the default 300 s retention.
const DOWN_FOR: Duration = Duration::from_secs(430);

struct Cluster {
    sim: Simulation,
    disks: BTreeMap<NodeId, Arc<Disk>>,
}

impl Cluster {
    /// Three members with the default retention, each with its disk, serving.
    fn new(seed: u64) -> Self {
        Self::with_retention(seed, HealthConfig::default().tombstone_ttl)
    }

    /// Three members with a tombstone retention of `ttl`, each with its disk, serving.
    fn with_retention(seed: u64, ttl: Duration) -> Self {
        let mut config = SimConfig::default();
        config.health.tombstone_ttl = ttl;
        let sim = Simulation::with_nodes(3, seed, config);
        let disks = sim
            .members()
            .iter()
            .map(|id| (id.clone(), Arc::new(Disk::default())))
            .collect();
        let mut cluster = Cluster { sim, disks };
        for id in cluster.sim.members().to_vec() {
            cluster.attach(&id);
        }
        cluster.sim.run_for(secs(2));
        for id in cluster.sim.members().to_vec() {
            assert!(cluster.sim.core(&id).is_some_and(|c| c.is_ready()), "{id}");
        }
        cluster
    }

    fn id(&self, i: usize) -> NodeId {
        self.sim.members()[i].clone()
    }

    /// Loads `id`'s disk into it, as a restarted process does before it serves.
    fn attach(&mut self, id: &NodeId) {
        let disk = self.disks[id].clone();
        self.sim
            .attach_persistence(id, disk)
            .expect("the member runs")
            .expect("its disk loads");
    }

    fn restart(&mut self, id: &NodeId) {
        self.sim.restart(id);
        self.attach(id);
    }

    /// Whether `id` lists `instance` in `service`.
    fn lists(&self, id: &NodeId, service: &ServiceKey, instance: &Instance) -> bool {
        self.sim
            .registry(id)
            .and_then(|r| r.service(service))
            .is_some_and(|s| s.entry(&instance.key()).is_some())
    }

    /// The members (running) that list `instance`.
    fn listing(&self, service: &ServiceKey, instance: &Instance) -> Vec<NodeId> {
        self.sim
            .alive()
            .into_iter()
            .filter(|id| self.lists(id, service, instance))
            .collect()
    }

    fn has_service(&self, id: &NodeId, service: &ServiceKey) -> bool {
        self.sim
            .registry(id)
            .is_some_and(|r| r.service(service).is_some())
    }

    fn held(&self, id: &NodeId) -> u64 {
        self.sim.core(id).map_or(0, |c| c.stats().removals_held)
    }
}

fn persistent(ip: &str) -> Instance {
    Instance::builder(ip, 5432)
        .ephemeral(false)
        .build()
        .expect("a valid instance")
}

fn settings() -> ServiceSettings {
    ServiceSettings {
        protect_threshold: 0.5,
        ..ServiceSettings::default()
    }
}

#[test]
fn a_member_down_longer_than_the_retention_brings_back_nothing_removed_meanwhile() {
    let mut c = Cluster::new(11);
    let (n1, n2, n3) = (c.id(0), c.id(1), c.id(2));
    let db = key("db");
    let cfg = key("cfg");
    let (gone, kept) = (persistent("10.0.0.3"), persistent("10.0.0.4"));
    c.sim.register(&n1, &db, gone.clone()).unwrap();
    c.sim.register(&n1, &db, kept.clone()).unwrap();
    c.sim
        .execute(&n1, Command::create_service(&cfg, settings()))
        .unwrap();
    c.sim.run_for(secs(5));
    assert_eq!(
        c.listing(&db, &gone),
        vec![n1.clone(), n2.clone(), n3.clone()]
    );
    assert!(c.has_service(&n3, &cfg));

    // n3 stops (its disk keeps what it had); both removals are made while it is down.
    c.sim.crash(&n3);
    assert!(c.sim.deregister(&n1, &db, &gone.key()).unwrap());
    c.sim.execute(&n1, Command::remove_service(&cfg)).unwrap();
    c.sim.run_for(DOWN_FOR);
    // Past the retention, the members that are up still keep both removals for n3.
    for id in [&n1, &n2] {
        let store = c.sim.registry(id).unwrap().store();
        let db_snap = store.load_any(&db).expect("db is known");
        assert!(
            db_snap
                .tombstones()
                .any(|(k, t)| *k == gone.key() && t.durable),
            "{id} forgot the removal of a persistent instance while n3 is down"
        );
        assert!(
            store.load_any(&cfg).is_some(),
            "{id} forgot the removed service"
        );
        assert_eq!(c.held(id), 2, "{id}");
    }

    // n3 comes back with its stale disk, which still lists both.
    let stale = c.disks[&n3].rows().clone();
    assert!(stale[&db]
        .instances
        .iter()
        .any(|r| r.key == gone.key() && r.is_live()));
    assert!(stale.contains_key(&cfg));
    c.restart(&n3);
    for second in 0..60 {
        c.sim.run_for(secs(1));
        assert_eq!(
            c.listing(&db, &gone),
            Vec::<NodeId>::new(),
            "{second} s after n3 came back"
        );
        for id in c.sim.alive() {
            assert!(
                !c.has_service(&id, &cfg),
                "{id} lists cfg again at {second} s"
            );
        }
    }
    assert_eq!(c.listing(&db, &kept).len(), 3);

    // Once every member has been up for a whole retention, the removals are collected
    // everywhere, and n3's disk forgets the instance too.
    c.sim
        .run_for(HealthConfig::default().tombstone_ttl + secs(10));
    for id in c.sim.alive() {
        assert_eq!(c.held(&id), 0, "{id}");
        let store = c.sim.registry(&id).unwrap().store();
        assert_eq!(store.load_any(&db).unwrap().tombstones().count(), 0, "{id}");
        assert!(store.load_any(&cfg).is_none(), "{id}");
    }
    assert_eq!(c.listing(&db, &gone), Vec::<NodeId>::new());
    assert_eq!(c.listing(&db, &kept).len(), 3);
    assert_eq!(c.sim.stalls(), 0);
}

/// A retention shorter than the time a silent member takes to count as down
/// (`peer_down_after`, 5 s): the removal is kept all the same, because the stopped member has
/// not been heard from a whole retention after it.
#[test]
fn a_retention_shorter_than_the_down_timeout_keeps_the_removal_for_a_stopped_member() {
    let ttl = secs(2);
    let mut c = Cluster::with_retention(13, ttl);
    let (n1, n3) = (c.id(0), c.id(2));
    let db = key("db");
    let (gone, kept) = (persistent("10.0.0.3"), persistent("10.0.0.4"));
    c.sim.register(&n1, &db, gone.clone()).unwrap();
    c.sim.register(&n1, &db, kept.clone()).unwrap();
    c.sim.run_for(secs(5));
    c.sim.crash(&n3);
    assert!(c.sim.deregister(&n1, &db, &gone.key()).unwrap());
    // Second by second through the time before n3 counts as down, and after.
    for second in 0..30 {
        c.sim.run_for(secs(1));
        for id in c.sim.alive() {
            let snap = c.sim.registry(&id).unwrap().store().load_any(&db).unwrap();
            assert!(
                snap.tombstones().any(|(k, _)| *k == gone.key()),
                "{id} forgot the removal {second} s after it"
            );
        }
    }
    c.restart(&n3);
    for second in 0..20 {
        c.sim.run_for(secs(1));
        assert_eq!(c.listing(&db, &gone), Vec::<NodeId>::new(), "{second} s");
    }
    assert_eq!(c.listing(&db, &kept).len(), 3);
    // Collected once every member has been up for a retention.
    c.sim.run_for(secs(10));
    for id in c.sim.alive() {
        let snap = c.sim.registry(&id).unwrap().store().load_any(&db).unwrap();
        assert_eq!(snap.tombstones().count(), 0, "{id}");
    }
}

#[test]
fn a_full_restart_after_the_retention_keeps_every_persistent_instance_and_the_removal() {
    // The default retention, and one shorter than the verify interval: a member restarted
    // together with the others gets the removal by verify, which takes longer than 2 s.
    for (seed, ttl) in [(12, HealthConfig::default().tombstone_ttl), (14, secs(2))] {
        full_restart(seed, ttl);
    }
}

fn full_restart(seed: u64, ttl: Duration) {
    let mut c = Cluster::with_retention(seed, ttl);
    let (n1, n2, n3) = (c.id(0), c.id(1), c.id(2));
    let db = key("db");
    let (gone, kept) = (persistent("10.0.0.3"), persistent("10.0.0.4"));
    c.sim.register(&n2, &db, gone.clone()).unwrap();
    c.sim.register(&n2, &db, kept.clone()).unwrap();
    c.sim.run_for(secs(5));
    c.sim.crash(&n3);
    assert!(c.sim.deregister(&n1, &db, &gone.key()).unwrap());
    let down = DOWN_FOR.max(ttl * 3);
    c.sim.run_for(down);
    // Then the rest of the cluster goes down too, for longer than the retention: once the
    // removal is on their disks (the deregistration was answered; the journal commits on a
    // thread of its own, in real time, which a busy machine can hold up past the simulated
    // crash).
    for id in [&n1, &n2] {
        c.sim
            .wait_persisted(id, &db)
            .expect("the member runs")
            .expect("the removal reaches the disk");
    }
    c.sim.crash(&n1);
    c.sim.crash(&n2);
    c.sim.run_for(down);
    for id in [&n1, &n2, &n3] {
        c.restart(id);
    }
    // Every member serves at once with what its disk held (all start together); n3's stale
    // copy meets the removal on the others' disks within a few verify rounds. Then it stays
    // gone, also once the removal is collected.
    c.sim.run_for(secs(30));
    for second in 0..60 {
        c.sim.run_for(secs(1));
        assert_eq!(c.listing(&db, &kept).len(), 3, "{ttl:?}: {second} s");
        assert_eq!(
            c.listing(&db, &gone),
            Vec::<NodeId>::new(),
            "{ttl:?}: {second} s"
        );
    }
    assert_eq!(c.sim.stalls(), 0);
}

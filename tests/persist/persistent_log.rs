//! Persistent instances on the control plane's log, in-process: a standalone control plane
//! attached to a registry (`nacre::control::attach_persistent`), writes through the
//! `Backend` every front uses, and what a subscriber, Distro and the member's own disk see
//! (feature `server`).

use crate::durable::Dir;
use nacre::control::{
    attach_persistent, import_legacy, ClosableControl, ControlPlane, StandaloneControl,
};
use nacre::front::Backend;
use nacre::persist::{CommitPolicy, FileStore};
use nacre::{
    Command, Instance, InstanceUpdate, NamingEvent, Registry, ServiceKey, ServiceSettings,
    StoreError,
};
use std::sync::Arc;

/// A registry on the member store in `dir`, loaded.
fn on_disk(dir: &Dir) -> Registry {
    let registry = Registry::default();
    let store = FileStore::open(&dir.0).unwrap();
    registry
        .attach_persistence(Arc::new(store), CommitPolicy::default())
        .unwrap();
    registry
}

fn primary(port: u16) -> Instance {
    Instance::builder("10.0.0.9", port)
        .ephemeral(false)
        .build()
        .unwrap()
}

async fn plane(dir: &Dir) -> (Arc<ClosableControl>, Arc<dyn ControlPlane>) {
    let node = StandaloneControl::start(&dir.0.join("control.redb"), "standalone")
        .await
        .unwrap();
    let closable = Arc::new(ClosableControl::new(node));
    let plane: Arc<dyn ControlPlane> = closable.clone();
    (closable, plane)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_writes_go_through_the_log_and_the_registry_follows_it() {
    let dir = Dir::new("plog-writes");
    let (node, plane) = plane(&dir).await;
    let registry = Registry::default();
    attach_persistent(&plane, &registry);
    let backend = Backend::from(registry.clone());
    let db = ServiceKey::named("db").unwrap();
    let (tx, changes) = std::sync::mpsc::channel();
    registry.subscribe(&db, &[], move |e: &NamingEvent| {
        let _ = tx.send(e.instances.len());
    });

    backend
        .execute(Command::register(&db, primary(5432)))
        .await
        .unwrap();
    let held = plane.state();
    assert!(held.persistent().get(&db, &primary(5432).key()).is_some());
    let snap = registry.service(&db).unwrap();
    let entry = snap.entry(&primary(5432).key()).unwrap();
    assert!(entry.version().is_control(), "{:?}", entry.version());
    // Distro and the member's own disk leave it to the log.
    assert!(snap.instance_record(&primary(5432).key()).is_none());
    let pushed = changes.recv_timeout(std::time::Duration::from_secs(10));
    assert_eq!(pushed, Ok(1), "the subscriber is pushed the registration");

    backend
        .execute(Command::update(
            &db,
            &primary(5432).key(),
            InstanceUpdate {
                weight: Some(3.0),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    backend
        .execute(Command::set_health(&db, &primary(5432).key(), false))
        .await
        .unwrap();
    let all = registry.get_all_instances(&db, &[]);
    let one = all.iter().next().unwrap();
    assert_eq!((one.weight(), one.healthy()), (3.0, false));

    let gone = backend
        .execute(Command::deregister(&db, &primary(5432).key()))
        .await
        .unwrap();
    assert!(gone.into_deregistered().unwrap());
    assert_eq!(registry.get_all_instances(&db, &[]).len(), 0);
    assert!(plane.state().persistent().is_empty());
    // A second deregistration finds nothing, as the registry's would.
    let again = backend
        .execute(Command::deregister(&db, &primary(5432).key()))
        .await
        .unwrap();
    assert!(!again.into_deregistered().unwrap());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_persistent_write_is_a_typed_error_and_changes_nothing() {
    let dir = Dir::new("plog-refused");
    let (node, plane) = plane(&dir).await;
    let registry = Registry::default();
    attach_persistent(&plane, &registry);
    let backend = Backend::from(registry.clone());
    let db = ServiceKey::named("db").unwrap();
    backend
        .execute(Command::register(&db, primary(5432)))
        .await
        .unwrap();
    let before = plane.state();
    let err = backend
        .execute(Command::update(
            &db,
            &primary(5432).key(),
            InstanceUpdate {
                weight: Some(-2.0),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("weight"), "{err}");
    let mixed = backend
        .execute(Command::batch_register(
            &db,
            vec![primary(5433), Instance::new("10.0.0.1", 80).unwrap()],
        ))
        .await
        .unwrap_err();
    assert!(mixed.to_string().contains("mix"), "{mixed}");
    assert_eq!(*plane.state(), *before);
    assert_eq!(registry.get_all_instances(&db, &[]).len(), 1);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_store_held_from_before_is_imported_once_and_survives_a_restart() {
    let dir = Dir::new("plog-import");
    let db = ServiceKey::named("db").unwrap();
    // Before the control plane: a persistent instance in the member's own store.
    {
        let registry = on_disk(&dir);
        Backend::from(registry.clone())
            .execute(Command::register(&db, primary(5432)))
            .await
            .unwrap();
        registry.wait_persisted(&db).unwrap();
    }
    // With one: imported, then held by the log alone.
    {
        let registry = on_disk(&dir);
        assert_eq!(registry.legacy_persistent().len(), 1);
        let (node, plane) = plane(&dir).await;
        attach_persistent(&plane, &registry);
        assert!(import_legacy(&plane, &registry).await.unwrap());
        assert!(!import_legacy(&plane, &registry).await.unwrap());
        assert!(registry.legacy_persistent().is_empty());
        let all = registry.get_all_instances(&db, &[]);
        assert_eq!(all.len(), 1);
        Backend::from(registry.clone())
            .execute(Command::register(&db, primary(5433)))
            .await
            .unwrap();
        node.shutdown().await;
        registry.wait_persisted(&db).unwrap();
    }
    // Restarted: the log brings both back, and the old store's copy does not come back as a
    // second one.
    {
        let registry = on_disk(&dir);
        let (node, plane) = plane(&dir).await;
        attach_persistent(&plane, &registry);
        let mut ports: Vec<u16> = registry
            .get_all_instances(&db, &[])
            .iter()
            .map(|i| i.port())
            .collect();
        ports.sort_unstable();
        assert_eq!(ports, [5432, 5433]);
        assert!(registry.legacy_persistent().is_empty());
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_settings_go_through_the_log_with_the_registrys_rules() {
    let dir = Dir::new("plog-settings");
    let (node, plane) = plane(&dir).await;
    let registry = Registry::default();
    attach_persistent(&plane, &registry);
    let backend = Backend::from(registry.clone());
    let db = ServiceKey::named("db").unwrap();
    let guarded = ServiceSettings {
        protect_threshold: 0.6,
        ..Default::default()
    };
    backend
        .execute(Command::create_service(&db, guarded.clone()))
        .await
        .unwrap();
    assert_eq!(
        plane.state().persistent().settings(&db).unwrap().0,
        &guarded
    );
    let snap = registry.service(&db).unwrap();
    assert_eq!(*snap.settings(), guarded);
    assert!(snap.meta_version().is_control());
    let again = backend
        .execute(Command::create_service(&db, guarded.clone()))
        .await;
    assert!(
        matches!(
            again,
            Err(nacre::cluster::ClusterError::Registry(
                StoreError::ServiceExists(_)
            ))
        ),
        "{again:?}"
    );

    // A service that exists through an ephemeral instance alone can be updated, not created.
    let web = ServiceKey::named("web").unwrap();
    backend
        .execute(Command::register(
            &web,
            Instance::new("10.0.0.1", 80).unwrap(),
        ))
        .await
        .unwrap();
    let exists = backend
        .execute(Command::create_service(&web, guarded.clone()))
        .await;
    assert!(exists.is_err(), "{exists:?}");
    backend
        .execute(Command::update_service(&web, guarded.clone()))
        .await
        .unwrap();
    assert_eq!(*registry.service(&web).unwrap().settings(), guarded);
    let busy = backend.execute(Command::remove_service(&web)).await;
    assert!(
        matches!(
            busy,
            Err(nacre::cluster::ClusterError::Registry(
                StoreError::ServiceNotEmpty { .. }
            ))
        ),
        "{busy:?}"
    );

    backend.execute(Command::remove_service(&db)).await.unwrap();
    assert!(plane.state().persistent().settings(&db).is_none());
    assert!(registry.service(&db).is_none_or(|s| s.is_removed()));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registrys_own_limits_hold_for_writes_that_go_to_the_log() {
    let dir = Dir::new("plog-limits");
    let (node, plane) = plane(&dir).await;
    let registry = Registry::builder()
        .limits(nacre::Limits {
            max_instances_per_service: 1,
            max_metadata_bytes: 64,
            ..nacre::Limits::default()
        })
        .build();
    attach_persistent(&plane, &registry);
    let backend = Backend::from(registry.clone());
    let db = ServiceKey::named("db").unwrap();
    let big = Instance::builder("10.0.0.9", 5433)
        .ephemeral(false)
        .metadata("note", &"x".repeat(100))
        .build()
        .unwrap();
    let over_size = backend.execute(Command::register(&db, big)).await;
    assert!(
        matches!(
            over_size,
            Err(nacre::cluster::ClusterError::Registry(StoreError::Invalid(
                _
            )))
        ),
        "{over_size:?}"
    );
    backend
        .execute(Command::register(&db, primary(5432)))
        .await
        .unwrap();
    let over_count = backend.execute(Command::register(&db, primary(5434))).await;
    assert!(
        matches!(
            over_count,
            Err(nacre::cluster::ClusterError::Registry(StoreError::Limit(_)))
        ),
        "{over_count:?}"
    );
    let grown = InstanceUpdate {
        metadata: Some([("note".to_owned(), "y".repeat(100))].into()),
        ..Default::default()
    };
    let over_update = backend
        .execute(Command::update(&db, &primary(5432).key(), grown))
        .await;
    assert!(over_update.is_err(), "{over_update:?}");
    // Nothing of it reached the log.
    let held = plane.state();
    assert_eq!(held.persistent().len(), 1);
    assert!(held
        .persistent()
        .get(&db, &primary(5432).key())
        .unwrap()
        .metadata()
        .is_empty());
    node.shutdown().await;
}

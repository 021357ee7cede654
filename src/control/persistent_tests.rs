use super::*;
use crate::registry::Command;
use crate::store::{InstanceUpdate, ServiceSettings};

fn db() -> ServiceKey {
    ServiceKey::named("db").unwrap()
}

fn primary(port: u16) -> Instance {
    Instance::builder("10.0.0.9", port)
        .ephemeral(false)
        .build()
        .unwrap()
}

fn register(held: &mut PersistentData, at: u64, port: u16) -> Result<(), ControlError> {
    held.apply(
        at,
        &PersistentWrite::Write(Command::register(&db(), primary(port))),
    )
}

#[test]
fn stamps_grow_with_the_log_even_when_the_proposers_clock_goes_back() {
    let mut held = PersistentData::default();
    register(&mut held, 1_000, 5432).unwrap();
    register(&mut held, 500, 5433).unwrap();
    let versions: Vec<u64> = held.of_service(&db()).iter().map(|i| i.version).collect();
    assert_eq!(versions, [1_000, 1_001]);
    assert_eq!(held.stamp(), 1_001);
    assert_eq!(held.len(), 2);
}

#[test]
fn an_ephemeral_instance_is_refused_and_changes_nothing() {
    let mut held = PersistentData::default();
    let eph = Instance::new("10.0.0.1", 80).unwrap();
    let refused = held.apply(1, &PersistentWrite::Write(Command::register(&db(), eph)));
    assert!(matches!(refused, Err(ControlError::InvalidInstance(_))));
    assert_eq!(held, PersistentData::default());
}

#[test]
fn deregister_update_and_health_of_an_unknown_instance_are_refused() {
    let mut held = PersistentData::default();
    let key = primary(5432).key();
    for command in [
        Command::deregister(&db(), &key),
        Command::set_health(&db(), &key, false),
        Command::update(&db(), &key, InstanceUpdate::default()),
    ] {
        assert!(matches!(
            held.apply(1, &PersistentWrite::Write(command)),
            Err(ControlError::PersistentNotFound(_))
        ));
    }
    assert_eq!(held, PersistentData::default());
}

#[test]
fn a_health_change_keeps_the_write_and_moves_the_version() {
    let mut held = PersistentData::default();
    register(&mut held, 10, 5432).unwrap();
    let sick = Command::set_health(&db(), &primary(5432).key(), false);
    held.apply(20, &PersistentWrite::Write(sick)).unwrap();
    let one = &held.of_service(&db())[0];
    assert_eq!((one.written, one.version), (10, 20));
    assert!(!one.instance.healthy());
}

#[test]
fn an_update_that_breaks_a_rule_changes_nothing() {
    let mut held = PersistentData::default();
    register(&mut held, 10, 5432).unwrap();
    let before = held.clone();
    let bad = PersistentWrite::Write(Command::update(
        &db(),
        &primary(5432).key(),
        InstanceUpdate {
            weight: Some(-1.0),
            ..Default::default()
        },
    ));
    assert!(matches!(
        held.apply(20, &bad),
        Err(ControlError::InvalidInstance(_))
    ));
    assert_eq!(held, before);
}

#[test]
fn deregistering_the_last_instance_drops_the_service() {
    let mut held = PersistentData::default();
    register(&mut held, 10, 5432).unwrap();
    let gone = Command::deregister(&db(), &primary(5432).key());
    held.apply(11, &PersistentWrite::Write(gone)).unwrap();
    assert!(held.is_empty());
    assert_eq!(held.services().count(), 0);
}

#[test]
fn the_first_import_is_kept_and_every_later_one_refused() {
    let mut held = PersistentData::default();
    let eph = Instance::new("10.0.0.1", 80).unwrap();
    held.apply(
        5,
        &PersistentWrite::Import {
            instances: vec![(db(), primary(5432)), (db(), eph)],
            settings: vec![(db(), ServiceSettings::default())],
        },
    )
    .unwrap();
    assert!(held.imported());
    // The ephemeral one broke a rule and was left out, not the import.
    assert_eq!(held.len(), 1);
    assert!(held.settings(&db()).is_some());
    assert_eq!(
        held.apply(
            6,
            &PersistentWrite::Import {
                instances: vec![(db(), primary(5433))],
                settings: Vec::new(),
            }
        ),
        Err(ControlError::AlreadyImported)
    );
    assert_eq!(held.len(), 1);
}

#[test]
fn a_command_other_than_the_four_is_refused() {
    let mut held = PersistentData::default();
    let beat = Command::light_beat(&db(), &primary(5432).key());
    assert!(matches!(
        held.apply(1, &PersistentWrite::Write(beat)),
        Err(ControlError::InvalidInstance(_))
    ));
    assert_eq!(held, PersistentData::default());
}

#[test]
fn the_service_limit_is_checked_where_it_is_applied() {
    let mut held = PersistentData::default();
    for port in 1..=MAX_PERSISTENT_PER_SERVICE as u16 {
        register(&mut held, u64::from(port), port).unwrap();
    }
    assert_eq!(
        register(&mut held, 1_000_000, 60_000),
        Err(ControlError::TooManyPersistent {
            limit: MAX_PERSISTENT_PER_SERVICE
        })
    );
    // Registering one held again is a replacement, not a new one.
    register(&mut held, 1_000_001, 1).unwrap();
    assert_eq!(held.len(), MAX_PERSISTENT_PER_SERVICE);
}

#[test]
fn service_settings_are_created_once_updated_and_removed_only_when_no_instance_is_held() {
    let mut held = PersistentData::default();
    let settings = ServiceSettings {
        protect_threshold: 0.5,
        ..Default::default()
    };
    let create = Command::create_service(&db(), settings.clone());
    held.apply(10, &PersistentWrite::Write(create.clone()))
        .unwrap();
    assert_eq!(held.settings(&db()), Some((&settings, 10)));
    assert_eq!(
        held.apply(11, &PersistentWrite::Write(create)),
        Err(ControlError::ServiceExists(db()))
    );
    let bad = ServiceSettings {
        protect_threshold: 2.0,
        ..Default::default()
    };
    assert!(matches!(
        held.apply(
            12,
            &PersistentWrite::Write(Command::update_service(&db(), bad))
        ),
        Err(ControlError::InvalidInstance(_))
    ));
    register(&mut held, 13, 5432).unwrap();
    let remove = PersistentWrite::Write(Command::remove_service(&db()));
    assert!(matches!(
        held.apply(14, &remove),
        Err(ControlError::ServiceNotEmpty { instances: 1, .. })
    ));
    let gone = Command::deregister(&db(), &primary(5432).key());
    held.apply(15, &PersistentWrite::Write(gone)).unwrap();
    held.apply(16, &remove).unwrap();
    assert_eq!(held.settings(&db()), None);
    assert_eq!(
        held.apply(17, &remove),
        Err(ControlError::ServiceNotFound(db()))
    );
}

#[test]
fn the_total_of_persistent_instances_is_checked_where_it_is_applied() {
    let mut held = PersistentData::default();
    let per_service = MAX_PERSISTENT_PER_SERVICE;
    for s in 0..MAX_PERSISTENT_INSTANCES / per_service {
        let service = ServiceKey::named(&format!("db-{s}")).unwrap();
        for port in 1..=per_service as u16 {
            let write = PersistentWrite::Write(Command::register(&service, primary(port)));
            held.apply(1, &write).unwrap();
        }
    }
    assert_eq!(held.len(), MAX_PERSISTENT_INSTANCES);
    let one_more = PersistentWrite::Write(Command::register(
        &ServiceKey::named("db-extra").unwrap(),
        primary(1),
    ));
    assert_eq!(
        held.apply(2, &one_more),
        Err(ControlError::TooManyPersistent {
            limit: MAX_PERSISTENT_INSTANCES
        })
    );
    assert_eq!(held.len(), MAX_PERSISTENT_INSTANCES);
}

#[test]
fn the_total_of_service_settings_is_checked_where_it_is_applied() {
    let mut held = PersistentData::default();
    for s in 0..MAX_SERVICE_SETTINGS {
        let service = ServiceKey::named(&format!("svc-{s}")).unwrap();
        let create = Command::create_service(&service, ServiceSettings::default());
        held.apply(1, &PersistentWrite::Write(create)).unwrap();
    }
    let one_more = Command::create_service(
        &ServiceKey::named("svc-extra").unwrap(),
        ServiceSettings::default(),
    );
    assert_eq!(
        held.apply(2, &PersistentWrite::Write(one_more)),
        Err(ControlError::TooManyPersistent {
            limit: MAX_SERVICE_SETTINGS
        })
    );
}

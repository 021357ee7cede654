use super::*;
use crate::registry::Command;
use crate::store::InstanceUpdate;

fn db() -> ServiceKey {
    ServiceKey::named("db").unwrap()
}

fn primary(port: u16) -> Instance {
    Instance::builder("10.0.0.9", port)
        .ephemeral(false)
        .build()
        .unwrap()
}

fn register(held: &mut PersistentInstances, at: u64, port: u16) -> Result<(), ControlError> {
    held.apply(
        at,
        &PersistentWrite::Write(Command::register(&db(), primary(port))),
    )
}

#[test]
fn stamps_grow_with_the_log_even_when_the_proposers_clock_goes_back() {
    let mut held = PersistentInstances::default();
    register(&mut held, 1_000, 5432).unwrap();
    register(&mut held, 500, 5433).unwrap();
    let versions: Vec<u64> = held.of_service(&db()).iter().map(|i| i.version).collect();
    assert_eq!(versions, [1_000, 1_001]);
    assert_eq!(held.stamp(), 1_001);
    assert_eq!(held.len(), 2);
}

#[test]
fn an_ephemeral_instance_is_refused_and_changes_nothing() {
    let mut held = PersistentInstances::default();
    let eph = Instance::new("10.0.0.1", 80).unwrap();
    let refused = held.apply(1, &PersistentWrite::Write(Command::register(&db(), eph)));
    assert!(matches!(refused, Err(ControlError::InvalidInstance(_))));
    assert_eq!(held, PersistentInstances::default());
}

#[test]
fn deregister_update_and_health_of_an_unknown_instance_are_refused() {
    let mut held = PersistentInstances::default();
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
    assert_eq!(held, PersistentInstances::default());
}

#[test]
fn a_health_change_keeps_the_write_and_moves_the_version() {
    let mut held = PersistentInstances::default();
    register(&mut held, 10, 5432).unwrap();
    let sick = Command::set_health(&db(), &primary(5432).key(), false);
    held.apply(20, &PersistentWrite::Write(sick)).unwrap();
    let one = &held.of_service(&db())[0];
    assert_eq!((one.written, one.version), (10, 20));
    assert!(!one.instance.healthy());
}

#[test]
fn an_update_that_breaks_a_rule_changes_nothing() {
    let mut held = PersistentInstances::default();
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
    let mut held = PersistentInstances::default();
    register(&mut held, 10, 5432).unwrap();
    let gone = Command::deregister(&db(), &primary(5432).key());
    held.apply(11, &PersistentWrite::Write(gone)).unwrap();
    assert!(held.is_empty());
    assert_eq!(held.services().count(), 0);
}

#[test]
fn the_first_import_is_kept_and_every_later_one_refused() {
    let mut held = PersistentInstances::default();
    let eph = Instance::new("10.0.0.1", 80).unwrap();
    held.apply(
        5,
        &PersistentWrite::Import(vec![(db(), primary(5432)), (db(), eph)]),
    )
    .unwrap();
    assert!(held.imported());
    // The ephemeral one broke a rule and was left out, not the import.
    assert_eq!(held.len(), 1);
    assert_eq!(
        held.apply(6, &PersistentWrite::Import(vec![(db(), primary(5433))])),
        Err(ControlError::AlreadyImported)
    );
    assert_eq!(held.len(), 1);
}

#[test]
fn a_command_other_than_the_four_is_refused() {
    let mut held = PersistentInstances::default();
    let beat = Command::light_beat(&db(), &primary(5432).key());
    assert!(matches!(
        held.apply(1, &PersistentWrite::Write(beat)),
        Err(ControlError::InvalidInstance(_))
    ));
    assert_eq!(held, PersistentInstances::default());
}

#[test]
fn the_service_limit_is_checked_where_it_is_applied() {
    let mut held = PersistentInstances::default();
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

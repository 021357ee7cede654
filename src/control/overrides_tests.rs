//! Override commands: merging, clearing, the bounds, typed rejections that change nothing,
//! and the registry laying an override over registrations.

use super::*;
use crate::control::{ControlCommand, ControlResponse, ControlState};
use crate::Registry;

fn orders() -> ServiceKey {
    ServiceKey::named("orders").expect("valid service")
}

fn key(port: u16) -> InstanceKey {
    InstanceKey::in_default_cluster("10.0.0.1", port).expect("valid key")
}

fn set(port: u16, change: InstanceOverride) -> ControlCommand {
    ControlCommand::SetOverride {
        service: orders(),
        instance: key(port),
        change,
    }
}

fn disabled() -> InstanceOverride {
    InstanceOverride {
        enabled: Some(false),
        ..Default::default()
    }
}

fn weighted(w: f64) -> InstanceOverride {
    InstanceOverride {
        weight: Some(OverrideWeight::new(w).expect("valid weight")),
        ..Default::default()
    }
}

fn tagged(k: &str, v: &str) -> InstanceOverride {
    InstanceOverride {
        metadata: [(k.to_owned(), v.to_owned())].into(),
        ..Default::default()
    }
}

#[test]
fn overrides_of_one_instance_merge_and_clear_whole() {
    let mut state = ControlState::default();
    assert_eq!(state.apply(&set(1, disabled())), ControlResponse::Done);
    assert_eq!(state.apply(&set(1, weighted(3.0))), ControlResponse::Done);
    assert_eq!(
        state.apply(&set(1, tagged("zone", "a"))),
        ControlResponse::Done
    );
    assert_eq!(
        state.apply(&set(1, tagged("zone", "b"))),
        ControlResponse::Done
    );
    let kept = state.instance_override(&orders(), &key(1)).expect("kept");
    assert_eq!(kept.enabled, Some(false));
    assert_eq!(kept.weight.map(OverrideWeight::get), Some(3.0));
    assert_eq!(kept.metadata.get("zone").map(String::as_str), Some("b"));
    assert_eq!(state.override_count(), 1);

    assert_eq!(state.apply(&set(2, disabled())), ControlResponse::Done);
    assert_eq!(state.service_overrides(&orders()).count(), 2);
    let clear = ControlCommand::ClearOverride {
        service: orders(),
        instance: key(1),
    };
    assert_eq!(state.apply(&clear), ControlResponse::Done);
    assert!(state.instance_override(&orders(), &key(1)).is_none());
    assert_eq!(state.override_count(), 1);
    assert!(matches!(
        state.apply(&clear),
        ControlResponse::Rejected(ControlError::OverrideNotFound(_))
    ));
}

#[test]
fn bad_overrides_are_rejected_and_change_nothing() {
    let mut state = ControlState::default();
    assert_eq!(state.apply(&set(1, weighted(2.0))), ControlResponse::Done);
    let before = state.clone();
    let too_big = "x".repeat(MAX_OVERRIDE_METADATA_BYTES);
    let bad = [
        InstanceOverride::default(),
        InstanceOverride {
            weight: Some(OverrideWeight(f64::NAN)),
            ..Default::default()
        },
        InstanceOverride {
            weight: Some(OverrideWeight(-1.0)),
            ..Default::default()
        },
        tagged("", "empty key"),
        tagged("big", &too_big),
    ];
    for change in bad {
        let answer = state.apply(&set(1, change.clone()));
        assert!(
            matches!(
                answer,
                ControlResponse::Rejected(ControlError::InvalidOverride { .. })
            ),
            "{change:?}: {answer:?}"
        );
        assert_eq!(state, before, "{change:?} changed the state");
    }
    assert!(OverrideWeight::new(10_000.5).is_err());
    assert!(OverrideWeight::new(f64::INFINITY).is_err());
}

#[test]
fn merged_metadata_over_the_bound_is_rejected() {
    let mut state = ControlState::default();
    let half = "x".repeat(MAX_OVERRIDE_METADATA_BYTES / 2);
    assert_eq!(
        state.apply(&set(1, tagged("a", &half))),
        ControlResponse::Done
    );
    assert!(matches!(
        state.apply(&set(1, tagged("b", &half))),
        ControlResponse::Rejected(ControlError::InvalidOverride { .. })
    ));
    assert_eq!(
        state
            .instance_override(&orders(), &key(1))
            .map(|o| o.metadata.len()),
        Some(1)
    );
}

#[test]
fn the_number_of_overrides_is_bounded() {
    let mut overrides = Overrides::default();
    let service = orders();
    let mut made = 0;
    'fill: for a in 0..=255u8 {
        for port in 1..=u16::MAX {
            if made == MAX_OVERRIDES {
                break 'fill;
            }
            let key =
                InstanceKey::in_default_cluster(&format!("10.0.{a}.1"), port).expect("valid key");
            overrides
                .set(&service, &key, &disabled())
                .expect("below the bound");
            made += 1;
        }
    }
    assert_eq!(overrides.len(), MAX_OVERRIDES);
    let one_more = InstanceKey::in_default_cluster("10.1.0.1", 1).expect("valid key");
    assert_eq!(
        overrides.set(&service, &one_more, &disabled()),
        Err(ControlError::TooManyOverrides {
            limit: MAX_OVERRIDES
        })
    );
    // Changing one that exists is still taken.
    let first = InstanceKey::in_default_cluster("10.0.0.1", 1).expect("valid key");
    assert_eq!(overrides.set(&service, &first, &weighted(1.0)), Ok(()));
}

#[test]
fn the_same_commands_build_the_same_state_and_bytes() {
    let commands = [
        set(3, disabled()),
        set(1, tagged("zone", "a")),
        set(2, weighted(0.0)),
        ControlCommand::ClearOverride {
            service: orders(),
            instance: key(3),
        },
    ];
    let build = || {
        let mut state = ControlState::default();
        for c in &commands {
            state.apply(c);
        }
        state
    };
    let (a, b) = (build(), build());
    assert_eq!(a, b);
    let bytes = postcard::to_allocvec(&a).expect("encodes");
    assert_eq!(bytes, postcard::to_allocvec(&b).expect("encodes"));
    let back: ControlState = postcard::from_bytes(&bytes).expect("decodes");
    assert_eq!(back, a);
}

#[derive(Debug)]
struct Fixed(ControlState);

impl InstanceOverrides for Fixed {
    fn override_for(&self, service: &ServiceKey, instance: &Instance) -> Option<InstanceUpdate> {
        self.0
            .instance_override(service, &instance.key())
            .map(InstanceOverride::to_update)
    }
}

#[test]
fn a_registry_lays_an_override_over_every_kind_of_registration() {
    let mut state = ControlState::default();
    let mut drained = disabled();
    drained.merge(&tagged("zone", "b"));
    state.apply(&set(1, drained));
    let registry = Registry::default();
    assert!(registry.attach_overrides(Arc::new(Fixed(state))));
    assert!(!registry.attach_overrides(Arc::new(Fixed(ControlState::default()))));
    let service = orders();
    let one = Instance::builder("10.0.0.1", 1)
        .metadata("v", "1")
        .build()
        .expect("valid instance");
    let other = Instance::new("10.0.0.1", 2).expect("valid instance");
    let check = |what: &str| {
        let all = registry.get_all_instances(&service, &[]);
        for i in all.iter() {
            let overridden = i.port() == 1;
            assert_eq!(i.enabled(), !overridden, "{what}: {i:?}");
            assert_eq!(
                i.metadata().get("zone").is_some(),
                overridden,
                "{what}: {i:?}"
            );
        }
        assert!(!all.is_empty(), "{what}");
    };
    registry
        .register_instance(&service, one.clone())
        .expect("registers");
    check("register");
    registry
        .batch_register_instance(&service, vec![one.clone(), other.clone()])
        .expect("registers");
    check("batch");
    registry
        .register_for(&service, vec![one.clone(), other], 7)
        .expect("registers");
    check("a connection's");
    assert!(registry.deregister_instance(&service, &one.key()));
    registry
        .heartbeat_with(&service, &one)
        .expect("a beat with data registers again");
    check("a beat that registers again");
}

#[test]
fn a_metadata_override_that_does_not_fit_is_left_out_and_the_rest_holds() {
    let mut state = ControlState::default();
    let mut change = disabled();
    change.merge(&tagged("big", &"x".repeat(3_000)));
    state.apply(&set(1, change));
    let registry = Registry::default();
    registry.attach_overrides(Arc::new(Fixed(state)));
    let service = orders();
    let heavy = Instance::builder("10.0.0.1", 1)
        .metadata("own", &"y".repeat(2_000))
        .build()
        .expect("valid instance");
    registry
        .register_instance(&service, heavy)
        .expect("the registration is not refused for the override");
    let all = registry.get_all_instances(&service, &[]);
    let i = all.iter().next().expect("registered");
    assert!(!i.enabled());
    assert!(i.metadata().get("big").is_none());
    assert!(i.metadata().get("own").is_some());
}

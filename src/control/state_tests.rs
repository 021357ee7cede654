//! Namespace commands: typed rejections, nothing changed by a rejected command, and the same
//! answers and state for the same commands, every time.

use super::*;
use crate::control::command::{MAX_NAMESPACE_DESC_LEN, MAX_NAMESPACE_NAME_LEN};

fn id(s: &str) -> NamespaceId {
    NamespaceId::new(s).expect("valid id")
}

fn ns(s: &str, name: &str) -> Namespace {
    Namespace::new(id(s), name, "", 200).expect("valid namespace")
}

fn create(s: &str) -> ControlCommand {
    ControlCommand::CreateNamespace(ns(s, s))
}

#[test]
fn creating_a_namespace_twice_is_rejected_and_keeps_the_first() {
    let mut state = ControlState::default();
    assert_eq!(state.apply(&create("dev")), ControlResponse::Done);
    let again = ControlCommand::CreateNamespace(ns("dev", "another name"));
    assert_eq!(
        state.apply(&again),
        ControlResponse::Rejected(ControlError::NamespaceExists(id("dev")))
    );
    assert_eq!(state.namespace("dev").map(|n| n.name.as_str()), Some("dev"));
}

#[test]
fn deleting_or_updating_an_unknown_namespace_is_rejected() {
    let mut state = ControlState::default();
    assert_eq!(
        state.apply(&ControlCommand::DeleteNamespace { id: id("ghost") }),
        ControlResponse::Rejected(ControlError::NamespaceNotFound(id("ghost")))
    );
    assert_eq!(
        state.apply(&ControlCommand::UpdateNamespace(ns("ghost", "g"))),
        ControlResponse::Rejected(ControlError::NamespaceNotFound(id("ghost")))
    );
    assert_eq!(state, ControlState::default());
}

#[test]
fn update_replaces_and_delete_removes() {
    let mut state = ControlState::default();
    state.apply(&create("dev"));
    let renamed = Namespace::new(id("dev"), "Development", "the dev stage", 50).expect("valid");
    assert_eq!(
        state.apply(&ControlCommand::UpdateNamespace(renamed.clone())),
        ControlResponse::Done
    );
    assert_eq!(state.namespace("dev"), Some(&renamed));
    assert_eq!(
        state.apply(&ControlCommand::DeleteNamespace { id: id("dev") }),
        ControlResponse::Done
    );
    assert_eq!(state.namespaces().count(), 0);
}

#[test]
fn the_default_namespace_is_reserved() {
    let mut state = ControlState::default();
    for command in [
        create("public"),
        ControlCommand::UpdateNamespace(ns("public", "p")),
        ControlCommand::DeleteNamespace { id: id("public") },
    ] {
        assert_eq!(
            state.apply(&command),
            ControlResponse::Rejected(ControlError::DefaultNamespaceReserved(id("public")))
        );
    }
}

#[test]
fn invalid_fields_are_rejected_at_build_and_at_apply() {
    let too_long_name = "n".repeat(MAX_NAMESPACE_NAME_LEN + 1);
    let too_long_desc = "d".repeat(MAX_NAMESPACE_DESC_LEN + 1);
    for (name, desc, quota, field) in [
        ("", "", 1, "name"),
        (too_long_name.as_str(), "", 1, "name"),
        ("a\u{7}b", "", 1, "name"),
        ("ok", too_long_desc.as_str(), 1, "description"),
        ("ok", "bell\u{7}", 1, "description"),
        ("ok", "", 0, "quota"),
    ] {
        let err = Namespace::new(id("x"), name, desc, quota).expect_err("invalid");
        assert!(
            matches!(&err, ControlError::InvalidNamespace { field: f, .. } if f == field),
            "{err:?}"
        );
        // A command that skipped the check (decoded from a log) is refused at apply.
        let unchecked = Namespace {
            id: id("x"),
            name: name.to_owned(),
            description: desc.to_owned(),
            quota,
        };
        let mut state = ControlState::default();
        assert_eq!(
            state.apply(&ControlCommand::CreateNamespace(unchecked)),
            ControlResponse::Rejected(err)
        );
        assert_eq!(state, ControlState::default());
    }
    assert!(Namespace::new(id("x"), "ok", "line one\nline two\ttab", 1).is_ok());
}

#[test]
fn the_namespace_count_is_bounded() {
    let mut state = ControlState::default();
    for i in 0..MAX_NAMESPACES {
        assert_eq!(
            state.apply(&create(&format!("ns-{i}"))),
            ControlResponse::Done
        );
    }
    assert_eq!(
        state.apply(&create("one-more")),
        ControlResponse::Rejected(ControlError::TooManyNamespaces {
            limit: MAX_NAMESPACES
        })
    );
}

#[test]
fn apply_is_deterministic() {
    // The same commands, in the same order, on two members: the same answers, the same
    // state, the same snapshot bytes.
    let commands: Vec<ControlCommand> = (0..200u32)
        .map(|i| {
            let which = format!("ns-{}", (i * 7919) % 37);
            match i % 4 {
                0 | 1 => create(&which),
                2 => ControlCommand::UpdateNamespace(
                    Namespace::new(id(&which), format!("name {i}"), "", i + 1).expect("valid"),
                ),
                _ => ControlCommand::DeleteNamespace { id: id(&which) },
            }
        })
        .collect();
    let run = || {
        let mut state = ControlState::default();
        let answers: Vec<ControlResponse> = commands.iter().map(|c| state.apply(c)).collect();
        let bytes = postcard::to_allocvec(&state).expect("encodes");
        (answers, state, bytes)
    };
    let (a1, s1, b1) = run();
    let (a2, s2, b2) = run();
    assert_eq!(a1, a2);
    assert_eq!(s1, s2);
    assert_eq!(b1, b2);
    assert!(a1.iter().any(|a| matches!(a, ControlResponse::Rejected(_))));
    assert!(a1.contains(&ControlResponse::Done));
}

#[test]
fn a_batch_applies_each_command_in_order_with_its_own_answer() {
    let mut state = ControlState::default();
    let answer = state.apply(&ControlCommand::Batch(vec![
        create("dev"),
        create("dev"),
        ControlCommand::Batch(vec![create("nested")]),
        ControlCommand::DeleteNamespace { id: id("dev") },
        create("test"),
    ]));
    assert_eq!(
        answer,
        ControlResponse::Batch(vec![
            ControlResponse::Done,
            ControlResponse::Rejected(ControlError::NamespaceExists(id("dev"))),
            ControlResponse::Rejected(ControlError::NestedBatch),
            ControlResponse::Done,
            ControlResponse::Done,
        ])
    );
    assert!(state.namespace("dev").is_none() && state.namespace("nested").is_none());
    assert!(state.namespace("test").is_some());
}

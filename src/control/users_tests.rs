//! User, role and permission commands: bounds, Nacos' rules, deletions that take bindings
//! with them, and rejections that change nothing.

use super::*;

const HASH: &str = "$2b$10$3kT14alSCxAa5wOVXYlFO.dTV1jeBhSGaTyhTN5DLcv1ZHRpKbdtm";

fn create(name: &str) -> UserCommand {
    UserCommand::CreateUser {
        username: name.to_owned(),
        password_bcrypt: HASH.to_owned(),
    }
}

fn bind(role: &str, user: &str) -> UserCommand {
    UserCommand::BindRole {
        role: role.to_owned(),
        username: user.to_owned(),
    }
}

fn perm(role: &str) -> UserPermission {
    UserPermission {
        role: role.to_owned(),
        resource: "public:*:*".to_owned(),
        action: "rw".to_owned(),
    }
}

#[test]
fn deleting_a_user_unbinds_its_roles_and_unbinding_everyone_empties_a_role() {
    let mut users = Users::default();
    for c in [
        create("a"),
        create("b"),
        bind("ops", "a"),
        bind("ops", "b"),
        bind("dev", "a"),
    ] {
        users.apply(&c).expect("applies");
    }
    users
        .apply(&UserCommand::AddPermission(perm("ops")))
        .expect("ops exists");
    users
        .apply(&UserCommand::DeleteUser {
            username: "a".into(),
        })
        .expect("deletes");
    assert_eq!(users.bindings().count(), 1);
    assert!(!users.role_exists("dev"));
    users
        .apply(&UserCommand::UnbindRole {
            role: "ops".into(),
            username: None,
        })
        .expect("unbinds");
    assert_eq!(users.bindings().count(), 0);
    assert_eq!(users.bindings, 0);
    assert!(matches!(
        users.apply(&UserCommand::AddPermission(perm("ops"))),
        Err(ControlError::RoleNotFound(_))
    ));
}

#[test]
fn rules_are_refused_and_change_nothing() {
    let mut users = Users::default();
    users.apply(&create("a")).expect("creates");
    users.apply(&bind("ops", "a")).expect("binds");
    let before = users.clone();
    let bad = [
        (create("a"), "exists"),
        (
            UserCommand::CreateUser {
                username: "b".into(),
                password_bcrypt: "plain".into(),
            },
            "hash",
        ),
        (create(""), "empty"),
        (create(&"x".repeat(MAX_USERNAME_LEN + 1)), "long"),
        (bind(ADMIN_ROLE, "a"), "admin"),
        (bind("ops", "a"), "bound"),
        (
            UserCommand::UnbindRole {
                role: ADMIN_ROLE.into(),
                username: None,
            },
            "admin",
        ),
        (
            UserCommand::SetPassword {
                username: "ghost".into(),
                password_bcrypt: HASH.into(),
            },
            "ghost",
        ),
        (
            UserCommand::AddPermission(UserPermission {
                action: "x".into(),
                ..perm("ops")
            }),
            "action",
        ),
    ];
    for (command, what) in bad {
        assert!(users.apply(&command).is_err(), "{what}: {command:?}");
        assert_eq!(users, before, "{what} changed the state");
    }
}

#[test]
fn the_number_of_users_is_bounded() {
    let mut users = Users::default();
    for n in 0..MAX_USERS {
        users
            .apply(&create(&format!("u{n}")))
            .expect("below the bound");
    }
    assert_eq!(
        users.apply(&create("one-more")),
        Err(ControlError::TooManyAuthEntries {
            what: "users".into(),
            limit: MAX_USERS
        })
    );
}

//! Users, role bindings and permissions in the control plane: what Nacos' `/nacos/v1/auth/users`,
//! `/roles` and `/permissions` write, replicated like every control write, so a user created,
//! a role taken away or a permission revoked on one member holds on every member once applied.
//!
//! - **Users** keep a bcrypt hash, made by the front that took the password: the log, the
//!   snapshots and the wire never hold a password.
//! - **Roles** exist by being bound to a user (Nacos' model: a role is a name in the roles
//!   table). `ROLE_ADMIN` cannot be bound or unbound here (Nacos' rule): the global admin comes
//!   from the users file, the bootstrap, which an API call cannot lock out.
//! - **Permissions** name a role that is bound to someone (Nacos: `role x not found!`), a
//!   resource pattern and an action `r`, `w` or `rw`.
//! - Deleting a user also unbinds its roles (Nacos leaves the bindings behind).
//!
//! Bounds: [`MAX_USERS`] users, [`MAX_ROLE_BINDINGS`] bindings, [`MAX_PERMISSIONS`]
//! permissions; names and resources as long as Nacos' columns allow ([`MAX_USERNAME_LEN`],
//! [`MAX_ROLE_LEN`], [`MAX_RESOURCE_LEN`]), without control characters.
//!
//! How a check reads them (beside the users file) is `nacre::control`'s `LayeredIdentity`
//! (features `control` and `auth`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::command::ControlError;

/// The most users the control plane holds.
pub const MAX_USERS: usize = 10_000;
/// The most role bindings (role, user) it holds.
pub const MAX_ROLE_BINDINGS: usize = 100_000;
/// The most permissions it holds.
pub const MAX_PERMISSIONS: usize = 100_000;
/// The longest username, in bytes (Nacos' `users.username` column).
pub const MAX_USERNAME_LEN: usize = 50;
/// The longest role name, in bytes (Nacos' `roles.role` column).
pub const MAX_ROLE_LEN: usize = 50;
/// The longest resource pattern, in bytes (Nacos' `permissions.resource` column).
pub const MAX_RESOURCE_LEN: usize = 128;
/// The role of the global admin, which only the users file grants.
pub const ADMIN_ROLE: &str = "ROLE_ADMIN";

/// A user, role or permission write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum UserCommand {
    /// Creates a user; the name must be new.
    CreateUser {
        /// The username.
        username: String,
        /// A bcrypt hash of the password.
        password_bcrypt: String,
    },
    /// Replaces a user's password.
    SetPassword {
        /// The username.
        username: String,
        /// A bcrypt hash of the new password.
        password_bcrypt: String,
    },
    /// Deletes a user and its role bindings (nothing if there is no such user, as in Nacos).
    DeleteUser {
        /// The username.
        username: String,
    },
    /// Binds a role to a user (a user of the control plane, or of the users file).
    BindRole {
        /// The role.
        role: String,
        /// The user.
        username: String,
    },
    /// Unbinds a role from a user, or from every user when `username` is `None`.
    UnbindRole {
        /// The role.
        role: String,
        /// The user, or every user.
        username: Option<String>,
    },
    /// Grants a role an action on resources matching a pattern.
    AddPermission(UserPermission),
    /// Takes a permission away (nothing if there is no such permission, as in Nacos).
    DeletePermission(UserPermission),
}

/// One permission: a role may do `action` (`r`, `w` or `rw`) on resources matching
/// `resource` (`public:*:*`, `dev:DEFAULT_GROUP:naming/orders`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserPermission {
    /// The role.
    pub role: String,
    /// The resource pattern.
    pub resource: String,
    /// `r`, `w` or `rw`.
    pub action: String,
}

/// The users, role bindings and permissions of the control state (read them through
/// [`super::ControlState::users`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Users {
    /// Username → bcrypt hash.
    passwords: BTreeMap<String, String>,
    /// Username → roles.
    roles: BTreeMap<String, BTreeSet<String>>,
    bindings: usize,
    permissions: BTreeSet<UserPermission>,
}

fn invalid(field: &str, rule: impl Into<String>) -> ControlError {
    ControlError::InvalidUserData {
        field: field.to_owned(),
        rule: rule.into(),
    }
}

fn too_many(what: &str, limit: usize) -> ControlError {
    ControlError::TooManyAuthEntries {
        what: what.to_owned(),
        limit,
    }
}

fn check_name(field: &str, value: &str, max: usize) -> Result<(), ControlError> {
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(invalid(field, format!("must be at most {max} bytes")));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(
            field,
            "must not contain spaces or control characters",
        ));
    }
    Ok(())
}

fn check_hash(hash: &str) -> Result<(), ControlError> {
    // The shape of a bcrypt hash: `$2a$`, `$2b$` or `$2y$`, a cost, 53 characters of salt and
    // hash. The front makes it; the apply step only refuses what cannot be one.
    let ok = ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
        && hash.len() == 60
        && hash.is_ascii();
    if !ok {
        return Err(invalid("password", "must be stored as a bcrypt hash"));
    }
    Ok(())
}

impl UserPermission {
    /// Checks the role, resource and action.
    pub fn check(&self) -> Result<(), ControlError> {
        check_name("role", &self.role, MAX_ROLE_LEN)?;
        check_name("resource", &self.resource, MAX_RESOURCE_LEN)?;
        if !matches!(self.action.as_str(), "r" | "w" | "rw") {
            return Err(invalid("action", "must be r, w or rw"));
        }
        Ok(())
    }
}

impl Users {
    /// Applies one user, role or permission write.
    pub(crate) fn apply(&mut self, command: &UserCommand) -> Result<(), ControlError> {
        match command {
            UserCommand::CreateUser {
                username,
                password_bcrypt,
            } => {
                check_name("username", username, MAX_USERNAME_LEN)?;
                check_hash(password_bcrypt)?;
                if self.passwords.contains_key(username) {
                    return Err(ControlError::UserExists(username.clone()));
                }
                if self.passwords.len() >= MAX_USERS {
                    return Err(too_many("users", MAX_USERS));
                }
                self.passwords
                    .insert(username.clone(), password_bcrypt.clone());
            }
            UserCommand::SetPassword {
                username,
                password_bcrypt,
            } => {
                check_hash(password_bcrypt)?;
                let Some(slot) = self.passwords.get_mut(username) else {
                    return Err(ControlError::UserNotFound(username.clone()));
                };
                slot.clone_from(password_bcrypt);
            }
            UserCommand::DeleteUser { username } => {
                self.passwords.remove(username);
                if let Some(roles) = self.roles.remove(username) {
                    self.bindings -= roles.len();
                }
            }
            // Whether the user exists is the front's check: the users file, which holds users
            // too, is not replicated, so the apply step (the same on every member) cannot ask it.
            UserCommand::BindRole { role, username } => {
                check_name("role", role, MAX_ROLE_LEN)?;
                check_name("username", username, MAX_USERNAME_LEN)?;
                if role == ADMIN_ROLE {
                    return Err(ControlError::AdminRoleReserved);
                }
                if self.bindings >= MAX_ROLE_BINDINGS {
                    return Err(too_many("role bindings", MAX_ROLE_BINDINGS));
                }
                if !self
                    .roles
                    .entry(username.clone())
                    .or_default()
                    .insert(role.clone())
                {
                    return Err(ControlError::RoleBound {
                        role: role.clone(),
                        username: username.clone(),
                    });
                }
                self.bindings += 1;
            }
            UserCommand::UnbindRole { role, username } => {
                if role == ADMIN_ROLE {
                    return Err(ControlError::AdminRoleReserved);
                }
                let users: Vec<String> = match username {
                    Some(u) => vec![u.clone()],
                    None => self.roles.keys().cloned().collect(),
                };
                for user in users {
                    if let Some(roles) = self.roles.get_mut(&user) {
                        if roles.remove(role) {
                            self.bindings -= 1;
                        }
                        if roles.is_empty() {
                            self.roles.remove(&user);
                        }
                    }
                }
            }
            UserCommand::AddPermission(p) => {
                p.check()?;
                if !self.role_exists(&p.role) {
                    return Err(ControlError::RoleNotFound(p.role.clone()));
                }
                if self.permissions.contains(p) {
                    return Err(ControlError::PermissionExists);
                }
                if self.permissions.len() >= MAX_PERMISSIONS {
                    return Err(too_many("permissions", MAX_PERMISSIONS));
                }
                self.permissions.insert(p.clone());
            }
            UserCommand::DeletePermission(p) => {
                self.permissions.remove(p);
            }
        }
        Ok(())
    }

    /// Whether `role` is bound to some user.
    pub fn role_exists(&self, role: &str) -> bool {
        self.roles.values().any(|roles| roles.contains(role))
    }

    /// The bcrypt hash of `username`'s password, if the control plane holds the user.
    pub fn password_hash(&self, username: &str) -> Option<&str> {
        self.passwords.get(username).map(String::as_str)
    }

    /// The usernames, in order.
    pub fn usernames(&self) -> impl Iterator<Item = &String> + '_ {
        self.passwords.keys()
    }

    /// The roles bound to `username`.
    pub fn roles_of(&self, username: &str) -> impl Iterator<Item = &String> + '_ {
        self.roles.get(username).into_iter().flatten()
    }

    /// Every (role, username) binding, by user then role.
    pub fn bindings(&self) -> impl Iterator<Item = (&String, &String)> + '_ {
        self.roles
            .iter()
            .flat_map(|(user, roles)| roles.iter().map(move |role| (role, user)))
    }

    /// Every permission, in order.
    pub fn permissions(&self) -> impl Iterator<Item = &UserPermission> + '_ {
        self.permissions.iter()
    }
}

#[cfg(test)]
#[path = "users_tests.rs"]
mod tests;

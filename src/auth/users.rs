//! [`IdentityStore`]: who the users are, what their roles may do; and [`UsersFile`], the
//! store read from a TOML file in the shape of Nacos' `users`, `roles` and `permissions`
//! tables:
//!
//! ```toml
//! [[user]]
//! username = "admin"
//! password_bcrypt = "$2b$10$..."
//! [[role]]
//! role = "ROLE_ADMIN"
//! username = "admin"
//! [[role]]
//! role = "readers"
//! username = "reader"
//! [[permission]]
//! role = "readers"
//! resource = "public:*:*"
//! action = "r"
//! [[permission]]
//! role = "writers"
//! resource = "public:DEFAULT_GROUP:naming/orders"
//! action = "rw"
//! register_cidrs = ["10.1.0.0/16"]   # nacre's: the addresses it may register
//! ```
//!
//! Passwords are bcrypt hashes, in the `$2a$` form Nacos stores and the `$2b$`/`$2y$` forms
//! other tools write, so a Nacos `users` table carries over. `ROLE_ADMIN` is the global admin:
//! it may do anything. The file is checked whole when read: an unknown key, a hash that is not
//! bcrypt, an action other than `r`, `w`, `rw`, a role bound to a user the file does not
//! define, or a user defined twice is refused with the entry named, and nothing of it is
//! used. The trait is what the fronts ask, so a replicated store can take the file's place.

use super::permission::{Action, Actions, Cidr, Permission, Resource};
use super::AuthError;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The role that may do anything (Nacos' global admin).
pub const ADMIN_ROLE: &str = "ROLE_ADMIN";

/// A bcrypt hash (cost 10, as `nacre-server hash-password` makes) of a password nobody knows:
/// a login of an unknown user is checked against it.
const UNKNOWN_USER_HASH: &str = "$2b$10$3kT14alSCxAa5wOVXYlFO.dTV1jeBhSGaTyhTN5DLcv1ZHRpKbdtm";

/// What the fronts ask of the users, roles and permissions.
pub trait IdentityStore: Send + Sync + 'static {
    /// Whether `password` is `username`'s (false for an unknown user). Slow on purpose
    /// (bcrypt): call it for logins only.
    fn check_password(&self, username: &str, password: &str) -> bool;
    /// Whether `username` exists.
    fn has_user(&self, username: &str) -> bool;
    /// Whether `username` holds [`ADMIN_ROLE`].
    fn is_admin(&self, username: &str) -> bool;
    /// Whether `username` may do `action` on `resource`.
    fn allows(&self, username: &str, resource: &Resource, action: Action) -> bool;
    /// What `username` may read, at once: everything, or the resource patterns of its read
    /// permissions (none for an unknown user). A listing asks this once and matches every
    /// service against it, instead of asking [`IdentityStore::allows`] per service.
    fn reads(&self, username: &str) -> Reads;
}

/// What a user may read: see [`IdentityStore::reads`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reads {
    /// Everything (the global admin).
    Everything,
    /// What these resource patterns match (`public:*:*`, `dev:G:naming/orders*`).
    Patterns(Vec<String>),
}

/// The users, roles and permissions of a users file: see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct UsersFile {
    /// Username → bcrypt hash.
    passwords: BTreeMap<String, String>,
    /// Username → roles.
    roles: BTreeMap<String, BTreeSet<String>>,
    permissions: Vec<Permission>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    user: Vec<UserRow>,
    #[serde(default)]
    role: Vec<RoleRow>,
    #[serde(default)]
    permission: Vec<PermissionRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRow {
    username: String,
    password_bcrypt: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleRow {
    role: String,
    username: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionRow {
    role: String,
    resource: String,
    action: String,
    #[serde(default)]
    register_cidrs: Vec<String>,
}

impl UsersFile {
    /// Reads the file at `path`.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| AuthError::UsersFile {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        Self::parse(&text).map_err(|reason| AuthError::UsersFile {
            path: shown,
            reason,
        })
    }

    /// Reads the file's text; the error says what is wrong and where.
    pub fn parse(text: &str) -> Result<Self, String> {
        let shape: FileShape = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut file = UsersFile::default();
        for (n, u) in shape.user.into_iter().enumerate() {
            let name = u.username.trim().to_owned();
            if name.is_empty() {
                return Err(format!("user {}: the username is empty", n + 1));
            }
            let hash = u.password_bcrypt.trim();
            if !["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
                || hash.parse::<bcrypt::HashParts>().is_err()
            {
                return Err(format!(
                    "user `{name}`: password_bcrypt is not a bcrypt hash ($2a$, $2b$ or $2y$)"
                ));
            }
            if file
                .passwords
                .insert(name.clone(), hash.to_owned())
                .is_some()
            {
                return Err(format!("user `{name}` is defined twice"));
            }
        }
        for r in shape.role {
            let name = r.username.trim();
            if !file.passwords.contains_key(name) {
                return Err(format!(
                    "role `{}` is bound to user `{name}`, whom the file does not define",
                    r.role
                ));
            }
            file.roles
                .entry(name.to_owned())
                .or_default()
                .insert(r.role.trim().to_owned());
        }
        for p in shape.permission {
            let Some(actions) = Actions::parse(&p.action) else {
                return Err(format!(
                    "permission of role `{}` on `{}`: action `{}` is not r, w or rw",
                    p.role, p.resource, p.action
                ));
            };
            let mut register_cidrs = Vec::with_capacity(p.register_cidrs.len());
            for text in &p.register_cidrs {
                let Some(cidr) = Cidr::parse(text) else {
                    return Err(format!(
                        "permission of role `{}` on `{}`: register_cidrs entry `{text}` is not an address block (10.1.0.0/16, fd00::/8)",
                        p.role, p.resource
                    ));
                };
                register_cidrs.push(cidr);
            }
            file.permissions.push(Permission {
                role: p.role.trim().to_owned(),
                resource: p.resource.trim().to_owned(),
                actions,
                register_cidrs,
            });
        }
        Ok(file)
    }

    /// How many users it defines.
    pub fn user_count(&self) -> usize {
        self.passwords.len()
    }

    fn roles_of(&self, username: &str) -> impl Iterator<Item = &String> {
        self.roles.get(username).into_iter().flatten()
    }
}

impl IdentityStore for UsersFile {
    fn check_password(&self, username: &str, password: &str) -> bool {
        match self.passwords.get(username) {
            Some(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            None => {
                // As slow as a known user's check, so the time of an answer does not tell
                // which usernames exist.
                let _ = bcrypt::verify(password, UNKNOWN_USER_HASH);
                false
            }
        }
    }

    fn has_user(&self, username: &str) -> bool {
        self.passwords.contains_key(username)
    }

    fn is_admin(&self, username: &str) -> bool {
        self.roles_of(username).any(|r| r == ADMIN_ROLE)
    }

    fn allows(&self, username: &str, resource: &Resource, action: Action) -> bool {
        if !self.has_user(username) {
            return false;
        }
        let Some(roles) = self.roles.get(username) else {
            return false;
        };
        roles.contains(ADMIN_ROLE)
            || self
                .permissions
                .iter()
                .any(|p| roles.contains(&p.role) && p.grants(resource, action))
    }

    fn reads(&self, username: &str) -> Reads {
        let roles = match self.roles.get(username) {
            Some(roles) if self.has_user(username) => roles,
            _ => return Reads::Patterns(Vec::new()),
        };
        if roles.contains(ADMIN_ROLE) {
            return Reads::Everything;
        }
        Reads::Patterns(
            self.permissions
                .iter()
                .filter(|p| roles.contains(&p.role) && p.actions.grants(Action::Read))
                .map(|p| p.resource.clone())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServiceKey;

    /// A bcrypt hash of `password` at cost 4, in the `$2a$` form Nacos stores.
    fn hash(password: &str) -> String {
        let b = bcrypt::hash(password, 4).unwrap();
        b.replacen("$2b$", "$2a$", 1)
    }

    fn file() -> UsersFile {
        let text = format!(
            r#"
            [[user]]
            username = "admin"
            password_bcrypt = "{}"
            [[user]]
            username = "reader"
            password_bcrypt = "{}"
            [[user]]
            username = "nobody"
            password_bcrypt = "{}"
            [[role]]
            role = "ROLE_ADMIN"
            username = "admin"
            [[role]]
            role = "readers"
            username = "reader"
            [[permission]]
            role = "readers"
            resource = "public:*:*"
            action = "r"
            [[permission]]
            role = "readers"
            resource = ":DEFAULT_GROUP:naming/orders"
            action = "w"
            "#,
            hash("admin-pass"),
            bcrypt::hash("reader-pass", 4).unwrap(),
            hash("x")
        );
        UsersFile::parse(&text).unwrap()
    }

    #[test]
    fn passwords_check_against_2a_and_2b_hashes() {
        let f = file();
        assert!(f.check_password("admin", "admin-pass"));
        assert!(f.check_password("reader", "reader-pass"));
        assert!(!f.check_password("admin", "reader-pass"));
        assert!(!f.check_password("stranger", "admin-pass"));
        assert!(!f.check_password("admin", ""));
    }

    #[test]
    fn roles_grant_what_their_permissions_say_and_the_admin_everything() {
        let f = file();
        let orders = Resource::of(&ServiceKey::named("orders").unwrap());
        let billing = Resource::of(&ServiceKey::named("billing").unwrap());
        let dev = Resource::of(&ServiceKey::new("dev", "DEFAULT_GROUP", "orders").unwrap());
        assert!(f.allows("reader", &billing, Action::Read));
        assert!(!f.allows("reader", &billing, Action::Write));
        // The 2.x spelling of the public namespace.
        assert!(f.allows("reader", &orders, Action::Write));
        assert!(!f.allows("reader", &dev, Action::Read));
        assert!(f.allows("admin", &dev, Action::Write));
        assert!(f.is_admin("admin") && !f.is_admin("reader"));
        assert!(
            !f.allows("nobody", &orders, Action::Read),
            "no role, no permission"
        );
        assert!(!f.allows("stranger", &orders, Action::Read));
    }

    #[test]
    fn a_bad_file_is_refused_with_the_entry_named() {
        let good = hash("p");
        for (text, says) in [
            ("[[user]]\nusername = \"a\"\npassword_bcrypt = \"plain\"\n", "not a bcrypt hash"),
            ("[[user]]\nusername = \"a\"\npassword_bcrypt = \"$2b$10$short\"\n", "not a bcrypt hash"),
            (&format!("[[user]]\nusername = \"a\"\npassword_bcrypt = \"{good}\"\n[[user]]\nusername = \"a\"\npassword_bcrypt = \"{good}\"\n"), "defined twice"),
            ("[[role]]\nrole = \"r\"\nusername = \"ghost\"\n", "does not define"),
            ("[[permission]]\nrole = \"r\"\nresource = \"*\"\naction = \"rwx\"\n", "not r, w or rw"),
            ("[[user]]\nusername = \"a\"\npassword = \"x\"\n", "unknown field"),
            ("[[users]]\n", "unknown field"),
        ] {
            let err = UsersFile::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}

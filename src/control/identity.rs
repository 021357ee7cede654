//! [`LayeredIdentity`]: the users file and the control plane's users, roles and permissions as
//! one [`IdentityStore`] (features `control` and `auth`).
//!
//! The users file is the bootstrap: it holds the global admin (`ROLE_ADMIN`, which the API
//! cannot grant), and it works before the control plane has started or while it has no
//! leader. The control plane holds what operators add through `/nacos/v1/auth/users`, `/roles`
//! and `/permissions`, the same on every member.
//!
//! - A user is known if either layer has it; a user of both logs in with the file's
//!   password (the API cannot create a name the file holds).
//! - A grant in either layer counts: the file's roles with the file's permissions, and the
//!   control plane's roles with the control plane's permissions, so a role bound through the
//!   API to a user of the file gives that user the permissions added through the API.
//! - Every check reads the control state as applied at that moment (no lock, no cache): a
//!   permission revoked, a role unbound or a user deleted through the API stops counting on a
//!   member as soon as the member applied the write, for tokens already issued too (a token
//!   names its user, and [`crate::auth::Authenticator`] asks whether the user still exists).
//!
//! Differences from Nacos: Nacos' users, roles and permissions live in its database and every
//! member caches them for 15 s (`nacos.core.auth.caching.enabled`); here a revocation holds
//! everywhere once replicated, with no cache to wait out.

use std::sync::{Arc, OnceLock};

use super::plane::ControlPlane;
use crate::auth::{Action, Actions, IdentityStore, Reads, Resource};

/// The users file and the control plane's users as one store: see the module documentation.
///
/// ```
/// use std::sync::Arc;
/// use nacre::auth::{IdentityStore, UsersFile};
/// use nacre::control::LayeredIdentity;
///
/// let identity = LayeredIdentity::new(Arc::new(UsersFile::default()));
/// assert!(!identity.has_user("ops")); // no control plane attached yet: the file only
/// ```
pub struct LayeredIdentity {
    file: Arc<dyn IdentityStore>,
    control: OnceLock<Arc<dyn ControlPlane>>,
}

impl std::fmt::Debug for LayeredIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayeredIdentity")
            .field("control", &self.control.get().is_some())
            .finish_non_exhaustive()
    }
}

impl LayeredIdentity {
    /// The users of `file` alone, until [`LayeredIdentity::attach`].
    pub fn new(file: Arc<dyn IdentityStore>) -> Self {
        LayeredIdentity {
            file,
            control: OnceLock::new(),
        }
    }

    /// Adds the control plane's users, roles and permissions from now on. The first call
    /// attaches; later ones change nothing and answer `false`.
    pub fn attach(&self, control: Arc<dyn ControlPlane>) -> bool {
        self.control.set(control).is_ok()
    }

    /// The users file's store.
    pub fn file(&self) -> &Arc<dyn IdentityStore> {
        &self.file
    }

    fn control_state(&self) -> Option<Arc<super::ControlState>> {
        self.control.get().map(|c| c.state())
    }
}

impl IdentityStore for LayeredIdentity {
    fn check_password(&self, username: &str, password: &str) -> bool {
        if self.file.has_user(username) {
            return self.file.check_password(username, password);
        }
        let hash = self
            .control_state()
            .and_then(|s| s.users().password_hash(username).map(str::to_owned));
        match hash {
            Some(hash) => bcrypt::verify(password, &hash).unwrap_or(false),
            // Unknown to both: the file's check of an unknown user costs a hash too.
            None => self.file.check_password(username, password),
        }
    }

    fn has_user(&self, username: &str) -> bool {
        self.file.has_user(username)
            || self
                .control_state()
                .is_some_and(|s| s.users().password_hash(username).is_some())
    }

    fn is_admin(&self, username: &str) -> bool {
        // ROLE_ADMIN cannot be bound through the API: only the file makes admins.
        self.file.is_admin(username)
    }

    fn allows(&self, username: &str, resource: &Resource, action: Action) -> bool {
        if self.file.allows(username, resource, action) {
            return true;
        }
        let Some(state) = self.control_state() else {
            return false;
        };
        if !self.has_user(username) {
            return false;
        }
        let users = state.users();
        let roles: Vec<&String> = users.roles_of(username).collect();
        if roles.is_empty() {
            return false;
        }
        // No address blocks here: the API's permissions bound no registration by address.
        let granted = users.permissions().any(|p| {
            roles.contains(&&p.role)
                && Actions::parse(&p.action).is_some_and(|a| a.grants(action))
                && resource.matched_by(&p.resource)
        });
        granted
    }

    fn reads(&self, username: &str) -> Reads {
        let from_file = self.file.reads(username);
        let Reads::Patterns(mut patterns) = from_file else {
            return Reads::Everything;
        };
        if let Some(state) = self.control_state() {
            if self.has_user(username) {
                let users = state.users();
                let roles: Vec<&String> = users.roles_of(username).collect();
                patterns.extend(
                    users
                        .permissions()
                        .filter(|p| roles.contains(&&p.role))
                        .filter(|p| {
                            Actions::parse(&p.action).is_some_and(|a| a.grants(Action::Read))
                        })
                        .map(|p| p.resource.clone()),
                );
            }
        }
        Reads::Patterns(patterns)
    }
}

//! [`ReloadingUsersFile`]: a users file that can be read again while the server runs (on
//! SIGHUP, in `nacre-server`), so an operator adds a user, changes a password or takes a
//! permission away without a restart.
//!
//! The file in force is an [`ArcSwap`] of a [`UsersFile`]: checks read it without a lock, and a
//! reload swaps a whole new one in. A file that does not read or parse is refused whole: the
//! one in force stays, and the error says what is wrong. Tokens already issued stay valid for
//! users the new file still has, with the permissions the new file gives them; a user the new
//! file no longer has loses access at once (see `Authenticator::identify`).

use super::permission::{Action, Resource};
use super::users::{IdentityStore, Reads, UsersFile};
use super::AuthError;
use arc_swap::ArcSwap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// See the module documentation.
#[derive(Debug)]
pub struct ReloadingUsersFile {
    path: PathBuf,
    current: ArcSwap<UsersFile>,
}

impl ReloadingUsersFile {
    /// Reads the file at `path`.
    pub fn open(path: &Path) -> Result<Self, AuthError> {
        Ok(Self {
            path: path.to_owned(),
            current: ArcSwap::from_pointee(UsersFile::load(path)?),
        })
    }

    /// Reads the file again; on success it is in force and the answer is how many users it
    /// defines. On failure the file in force stays.
    pub fn reload(&self) -> Result<usize, AuthError> {
        let file = UsersFile::load(&self.path)?;
        let users = file.user_count();
        self.current.store(Arc::new(file));
        Ok(users)
    }

    /// The file it reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many users the file in force defines.
    pub fn user_count(&self) -> usize {
        self.current.load().user_count()
    }
}

impl IdentityStore for ReloadingUsersFile {
    fn check_password(&self, username: &str, password: &str) -> bool {
        self.current.load().check_password(username, password)
    }

    fn has_user(&self, username: &str) -> bool {
        self.current.load().has_user(username)
    }

    fn is_admin(&self, username: &str) -> bool {
        self.current.load().is_admin(username)
    }

    fn allows(&self, username: &str, resource: &Resource, action: Action) -> bool {
        self.current.load().allows(username, resource, action)
    }

    fn reads(&self, username: &str) -> Reads {
        self.current.load().reads(username)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServiceKey;

    fn write(path: &Path, users: &[(&str, &str)]) {
        let mut text = String::new();
        for (name, role) in users {
            let hash = bcrypt::hash("pw", 4).unwrap();
            text.push_str(&format!(
                "[[user]]\nusername = \"{name}\"\npassword_bcrypt = \"{hash}\"\n[[role]]\nrole = \"{role}\"\nusername = \"{name}\"\n"
            ));
        }
        text.push_str(
            "[[permission]]\nrole = \"readers\"\nresource = \"public:*:*\"\naction = \"r\"\n",
        );
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_reload_puts_the_new_file_in_force_and_a_bad_one_changes_nothing() {
        let dir = std::env::temp_dir().join(format!("nacre-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.toml");
        write(&path, &[("ann", "readers")]);
        let users = ReloadingUsersFile::open(&path).unwrap();
        let orders = Resource::of(&ServiceKey::named("orders").unwrap());
        assert!(users.allows("ann", &orders, Action::Read));
        assert!(!users.has_user("bob"));

        write(&path, &[("bob", "readers")]);
        assert_eq!(users.reload().unwrap(), 1);
        assert!(users.has_user("bob") && !users.has_user("ann"));

        std::fs::write(&path, "[[user]]\nusername = \"eve\"\n").unwrap();
        let err = users.reload().unwrap_err();
        assert!(err.to_string().contains("users.toml"), "{err}");
        assert!(users.has_user("bob"), "the file in force stays");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Nacos-compatible auth (cargo feature `auth`): who may read and write what. An
//! [`Authenticator`] is the [`crate::front::access::AccessControl`] every front asks through
//! [`crate::front::access::Access`]: the v1 HTTP API (`NacosApi::access`, UDP subscriptions
//! included, since they ride on its queries), the 2.x gRPC front (`GrpcFront::with_access`),
//! the console and `/metrics`. `nacre-server --users-file PATH --token-secret-file PATH` turns
//! it on for all of them at once.
//!
//! | piece | job |
//! | --- | --- |
//! | [`permission`] | Nacos' permission model: actions `r`/`w`/`rw` on resources `namespace:group:naming/service` with `*`; the public namespace in both its spellings |
//! | [`users`] | [`IdentityStore`], what the fronts ask; [`UsersFile`], the users, roles and permissions of a TOML file, bcrypt passwords as Nacos stores them |
//! | [`token`] | [`TokenKey`]: HS256 tokens as Nacos issues them, verified strictly |
//! | [`reload`] | [`ReloadingUsersFile`]: the users file read again on demand (SIGHUP), the old one kept when the new one is bad |
//! | [`authenticator`] | [`Authenticator`]: logins (Nacos' answer), tokens to callers, permission checks; [`LoginThrottle`], ten failed logins a minute per source |
//!
//! ```
//! use nacre::auth::{Action, IdentityStore, Resource, TokenKey, UsersFile};
//! use nacre::ServiceKey;
//!
//! let hash = bcrypt::hash("s3cret", 4)?;
//! let users = UsersFile::parse(&format!(r#"
//!     [[user]]
//!     username = "reader"
//!     password_bcrypt = "{hash}"
//!     [[role]]
//!     role = "readers"
//!     username = "reader"
//!     [[permission]]
//!     role = "readers"
//!     resource = "public:*:*"
//!     action = "r"
//! "#))?;
//! assert!(users.check_password("reader", "s3cret"));
//! let orders = Resource::of(&ServiceKey::named("orders")?);
//! assert!(users.allows("reader", &orders, Action::Read));
//! assert!(!users.allows("reader", &orders, Action::Write));
//!
//! let key = TokenKey::from_base64("bmFjcmUtdGVzdC1rZXktYXQtbGVhc3QtMzItYnl0ZXMtbG9uZw==")?;
//! let token = key.issue("reader", 2_000_000_000);
//! assert_eq!(key.verify(&token, 1_900_000_000)?, "reader");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Design
//!
//! Nacos' auth history is a list of bypasses: a `User-Agent` that skipped every check, a
//! default signing key, a default server identity. nacre has none of them: no header or
//! agent exempts a request, a token is only ever checked against the key the operator gave
//! (there is no default), and peers authenticate with the cluster secret, never with a user
//! token. Verification is pure code over an explicit `now`, so expiry and every forged-token
//! class are tested without a clock or a server.

pub mod authenticator;
pub mod permission;
pub mod reload;
pub mod token;
pub mod users;

pub use authenticator::{
    Authenticator, Caller, Login, LoginThrottle, DEFAULT_MAX_CONCURRENT_LOGINS, DEFAULT_TOKEN_TTL,
};
pub use permission::{matches, Action, Actions, Cidr, Permission, Resource};
pub use reload::ReloadingUsersFile;
pub use token::{TokenKey, MIN_KEY_BYTES};
pub use users::{IdentityStore, Reads, UsersFile, ADMIN_ROLE};

/// A bcrypt hash of `password` at cost 10 (Nacos' cost), in the `$2b$` form, for a users
/// file's `password_bcrypt` (`nacre-server hash-password`).
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    bcrypt::hash(password, 10).map_err(|e| AuthError::Hash(e.to_string()))
}

/// Why a credential, a token or the users file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token is not one this server signed: malformed, another algorithm, another key.
    #[error("the access token is not valid: {0}")]
    BadToken(&'static str),
    /// The token's time is up.
    #[error("the access token has expired")]
    Expired,
    /// A login with an unknown user or a wrong password.
    #[error("unknown user or wrong password")]
    BadCredentials,
    /// Too many failed logins from this address in the last minute.
    #[error("too many failed logins from this address: try again in a minute")]
    Throttled,
    /// Too many logins are being checked at once (each costs a bcrypt hash): try again.
    #[error("too many logins in progress: try again shortly")]
    Busy,
    /// The signing key cannot be used.
    #[error("the token key cannot be used: {0}")]
    BadKey(String),
    /// A password could not be hashed (bcrypt refuses passwords over 72 bytes).
    #[error("the password cannot be hashed: {0}")]
    Hash(String),
    /// The users file cannot be used.
    #[error("the users file {path} cannot be used: {reason}")]
    UsersFile {
        /// The file.
        path: String,
        /// What is wrong, and where.
        reason: String,
    },
}

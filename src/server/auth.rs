//! Auth in `nacre-server`: the users file and the token key read at start, one
//! [`Access`] handed to every front (the v1 API, gRPC, the console, `/metrics`), and the users
//! file read again on SIGHUP ([`super::RunningServer::reload_users`]).
//!
//! Safe by default (see [`ServerConfig::api_auth`]): with `--users-file` every front checks
//! every request; without it a node serves open only on a loopback address (and says so at
//! start), or anywhere with `--insecure-open-api`. There is no built-in user and no default
//! key. The peer route never takes a user token: members authenticate with the cluster
//! secret.

use super::{ServerConfig, ServerError};
use crate::auth::{Authenticator, ReloadingUsersFile, TokenKey};
use crate::control::LayeredIdentity;
use crate::front::access::Access;
use std::sync::Arc;

/// What guards the fronts when auth is on.
#[derive(Debug, Clone)]
pub(super) struct Guard {
    /// What every front asks.
    pub(super) access: Access,
    /// The users file, for SIGHUP.
    pub(super) users: Arc<ReloadingUsersFile>,
    /// The users file and, once attached, the control plane's users: what the authenticator
    /// asks, and what the user API is served over.
    pub(super) identity: Arc<LayeredIdentity>,
}

/// The guard `config` asks for: `None` when auth is off (which [`ServerConfig::api_auth`]
/// allows only on a loopback bind or with `--insecure-open-api`). An unreadable users file or
/// key stops the start.
pub(super) fn guard(config: &ServerConfig) -> Result<Option<Guard>, ServerError> {
    let Some((users_path, key_path)) = config.api_auth()? else {
        if config.insecure_open_api {
            tracing::warn!(
                bind = %config.bind,
                "auth is off (--insecure-open-api): anyone who reaches the ports may read and write every service"
            );
        } else {
            tracing::warn!(
                bind = %config.bind,
                "auth is off: serving open on a loopback address only, for development (--users-file turns auth on)"
            );
        }
        return Ok(None);
    };
    let users = Arc::new(ReloadingUsersFile::open(&users_path)?);
    let key = TokenKey::from_file(&key_path)?;
    tracing::info!(
        users_file = %users_path.display(),
        users = users.user_count(),
        token_ttl_s = config.token_ttl.as_secs(),
        "auth is on: every request needs a token"
    );
    let identity = Arc::new(LayeredIdentity::new(users.clone()));
    let authenticator = Authenticator::new(identity.clone(), key)
        .token_ttl(config.token_ttl)
        .max_concurrent_logins(config.max_concurrent_logins)
        .throttle_sources(config.login_throttle_sources);
    Ok(Some(Guard {
        access: Access::new(Arc::new(authenticator)),
        users,
        identity,
    }))
}

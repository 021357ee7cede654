//! [`AccessControl`]: what a front asks before it serves a request, when the host turned auth
//! on: who the caller is (from the token the request carries) and whether that caller may read
//! or write the service, or the group, the request touches. It is a trait here, with no
//! crypto, so that every front checks through one interface and a build without feature
//! `auth` still compiles the fronts; `crate::auth::Authenticator` implements it.

use crate::model::{GroupName, NamespaceId, ServiceKey, ServiceName};
use std::net::IpAddr;

/// What a request touches: one service, or every service of a group (a list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTarget {
    /// The namespace.
    pub namespace: NamespaceId,
    /// The group; `None` for every group.
    pub group: Option<GroupName>,
    /// The service; `None` for every service of the group.
    pub service: Option<ServiceName>,
}

impl AccessTarget {
    /// One service.
    pub fn service(key: &ServiceKey) -> Self {
        Self {
            namespace: key.namespace().clone(),
            group: Some(key.group().clone()),
            service: Some(key.service().clone()),
        }
    }
}

/// Why a request was refused. Every front answers it as Nacos does: 403 with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No token, or one that is not valid here (malformed, another key, expired, its user
    /// gone).
    #[error("{0}")]
    NotAuthenticated(String),
    /// A valid caller without the permission.
    #[error("authorization failed: {caller} may not {action} {resource}")]
    Forbidden {
        /// The caller.
        caller: String,
        /// `read` or `write`.
        action: &'static str,
        /// What was touched, in Nacos' resource form.
        resource: String,
    },
    /// A login that failed (unknown user, wrong password, too many tries).
    #[error("{0}")]
    LoginFailed(String),
}

/// See the module documentation.
pub trait AccessControl: Send + Sync + std::fmt::Debug + 'static {
    /// Logs `username` in from `source`; answers Nacos' login JSON
    /// (`{"accessToken","tokenTtl","globalAdmin","username"}`).
    fn login(
        &self,
        source: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<serde_json::Value, AccessError>;

    /// Whether a caller holding `token` may read (`write == false`) or write `target`; the
    /// caller's name when it may.
    fn check(
        &self,
        token: Option<&str>,
        target: &AccessTarget,
        write: bool,
    ) -> Result<String, AccessError>;
}

//! Access control as every front asks it, when the host turned auth on.
//!
//! [`AccessControl`] is what an identity provider answers: who a token belongs to, and whether
//! that caller may read or write what a request touches. It is a trait here, with no crypto,
//! so that every front checks through one interface and a build without feature `auth` still
//! compiles the fronts; `crate::auth::Authenticator` implements it.
//!
//! [`Access`] is what a front holds: the provider and an [`Audit`]. A front turns a request into
//! a [`Need`] (read or write of a service, a listing, an admin-only view) and asks
//! [`Access::check`]; the answer is a [`Grant`] or an [`AccessError`], and either way the
//! audit has counted it and, within its line budget, logged it with the caller and the source
//! address. So the rules of who may do what, and the record of it, are written once for the
//! v1 API, gRPC, the console and the metrics.
//!
//! A listing asks [`Need::List`]: a caller who may read the whole group (or every group) is
//! granted it whole; any other caller who holds a valid token is granted a [`Viewer`], and the
//! listing shows only the services the viewer may read (Nacos answers such a caller 403 and
//! shows nothing; nacre shows what the caller may see, so a team can list its own services).
//!
//! [`own_address`] is the other rule about addresses: with it, a registration is accepted
//! only from the address it registers (a server option, with or without auth).
//!
//! A registration names the addresses it puts into a service ([`AccessTarget::ips`]); a
//! provider whose permissions limit the addresses a role may register (nacre's
//! `register_cidrs`) refuses a write whose address falls outside them.

pub use super::audit::{Audit, Front, Outcome};
use crate::model::{GroupName, NamespaceId, ServiceKey, ServiceName};
use std::net::IpAddr;
use std::sync::Arc;

/// How long a login's token is valid unless the host says otherwise: Nacos' default
/// (`nacos.core.auth.plugin.nacos.token.expire.seconds`, 18 000 s).
pub const DEFAULT_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(18_000);

/// What a request touches: one service, or every service of a group (a list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTarget {
    /// The namespace.
    pub namespace: NamespaceId,
    /// The group; `None` for every group.
    pub group: Option<GroupName>,
    /// The service; `None` for every service of the group.
    pub service: Option<ServiceName>,
    /// The instance addresses a write puts into the service (a registration's `ip`s); empty
    /// for any other request.
    pub ips: Vec<IpAddr>,
}

impl AccessTarget {
    /// One service.
    pub fn service(key: &ServiceKey) -> Self {
        Self {
            namespace: key.namespace().clone(),
            group: Some(key.group().clone()),
            service: Some(key.service().clone()),
            ips: Vec::new(),
        }
    }

    /// Every service of `group` (every group when `None`) in `namespace`.
    pub fn group(namespace: NamespaceId, group: Option<GroupName>) -> Self {
        Self {
            namespace,
            group,
            service: None,
            ips: Vec::new(),
        }
    }

    /// The same target, registering `ips`.
    pub fn registering(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.ips.extend(ips);
        self
    }
}

impl std::fmt::Display for AccessTarget {
    /// Nacos' resource form, `namespace:group:naming/service`, `*` for what it leaves out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = self.group.as_ref().map_or("*", GroupName::as_str);
        let service = self.service.as_ref().map_or("*", ServiceName::as_str);
        write!(f, "{}:{group}:naming/{service}", self.namespace.as_str())
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
        /// `read`, `write` or `administer`.
        action: &'static str,
        /// What was touched, in Nacos' resource form.
        resource: String,
    },
    /// A login that failed (unknown user, wrong password, too many tries).
    #[error("{0}")]
    LoginFailed(String),
    /// A login not checked now: too many are being checked at once (fronts answer 503).
    #[error("{0}")]
    Busy(String),
}

/// An identity provider: see the module documentation.
pub trait AccessControl: Send + Sync + std::fmt::Debug + 'static {
    /// Logs `username` in from `source`; answers Nacos' login JSON
    /// (`{"accessToken","tokenTtl","globalAdmin","username"}`).
    fn login(
        &self,
        source: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<serde_json::Value, AccessError>;

    /// Who holds `token`: [`AccessError::NotAuthenticated`] when there is none, or it is not
    /// valid here.
    fn identify(&self, token: Option<&str>) -> Result<String, AccessError>;

    /// Whether `caller` may read (`write == false`) or write `target` (and register its
    /// [`AccessTarget::ips`]).
    fn permits(&self, caller: &str, target: &AccessTarget, write: bool) -> bool;

    /// Who sends `username` and `password` from `source` on a request, in place of a token:
    /// the checks and the throttle of a login. A provider that takes tokens only refuses it
    /// ([`AccessError::NotAuthenticated`]).
    fn identify_password(
        &self,
        source: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<String, AccessError> {
        let _ = (source, username, password);
        Err(AccessError::NotAuthenticated(
            "this server takes access tokens only: log in (POST /nacos/v1/auth/login)".into(),
        ))
    }

    /// Whether `caller` is the global admin (Nacos' `ROLE_ADMIN`).
    fn is_admin(&self, caller: &str) -> bool;

    /// Whether `caller` may read every service of every namespace (Nacos' `*:*:*` with `r`).
    fn reads_everything(&self, caller: &str) -> bool;

    /// Which services `caller` may read, as one test made once for a listing, when the
    /// provider can answer faster so than through [`AccessControl::permits`] per service.
    fn read_scope(&self, caller: &str) -> Option<ReadScope> {
        let _ = caller;
        None
    }
}

/// Whether a caller may read a service: see [`AccessControl::read_scope`].
pub type ReadScope = Arc<dyn Fn(&ServiceKey) -> bool + Send + Sync>;

/// With registrations bound to the caller's address (`nacre-server
/// --register-own-address-only`): whether a registration of `host` may come from `source`.
/// Only the source's own address passes (IPv4-mapped IPv6 folded); a host name never does.
/// No Nacos, Consul or Eureka has the rule: there any client that may write a service may
/// register any address into it. The error says what was refused.
pub fn own_address(host: &str, source: IpAddr) -> Result<(), String> {
    use super::gate::canonical;
    match host.trim().parse::<IpAddr>() {
        Ok(ip) if canonical(ip) == canonical(source) => Ok(()),
        _ => Err(format!(
            "registrations are bound to the caller's address here: {} may register only itself, not {}",
            canonical(source),
            crate::model::excerpt(host)
        )),
    }
}

/// How a request proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A token from a login (or none).
    Token(Option<&'a str>),
    /// A username and password on the request itself, as the npm client `nacos-naming` sends
    /// them on every request instead of logging in (Nacos logs such a request in).
    Password {
        /// The user.
        username: &'a str,
        /// Its password.
        password: &'a str,
    },
}

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// To read one service (or a group's settings).
    Read(AccessTarget),
    /// To change it.
    Write(AccessTarget),
    /// To list the services of a group (every group when its group is `None`): granted whole,
    /// or through a [`Viewer`].
    List(AccessTarget),
    /// To list the services of every namespace: granted whole to the global admin, to anyone
    /// else through a [`Viewer`].
    ListAll,
    /// To read what the whole node counts (its metrics): a caller who may read every service
    /// (`*:*:*`), or the global admin.
    NodeReport,
    /// To change the whole node (its settings): the global admin only.
    Admin,
}

impl Need {
    fn action(&self) -> &'static str {
        match self {
            Need::Read(_) | Need::List(_) | Need::ListAll | Need::NodeReport => "read",
            Need::Write(_) => "write",
            Need::Admin => "administer",
        }
    }
}

impl std::fmt::Display for Need {
    /// What it touches, in Nacos' resource form (`the node` for the admin's).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Need::Read(t) | Need::Write(t) | Need::List(t) => t.fmt(f),
            Need::ListAll | Need::NodeReport => f.write_str("*:*:naming/*"),
            Need::Admin => f.write_str("the node"),
        }
    }
}

/// What a request was granted.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Who asked.
    pub caller: Arc<str>,
    /// For a [`Need::List`] granted in part: what the caller may see. `None` when the request
    /// is granted whole.
    pub viewer: Option<Viewer>,
}

/// Who made a request, once [`Access`] granted it: the user. A front puts it in the request's
/// extensions for what comes after the check (the instance timeline names the writer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerName(pub Arc<str>);

/// A caller's view of a listing: which services it may read.
#[derive(Clone)]
pub struct Viewer {
    control: Arc<dyn AccessControl>,
    caller: Arc<str>,
    /// What the caller may read, made once (see [`AccessControl::read_scope`]).
    scope: Option<ReadScope>,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Viewer {
    fn eq(&self, other: &Self) -> bool {
        self.caller == other.caller && Arc::ptr_eq(&self.control, &other.control)
    }
}

impl Eq for Viewer {}

impl Viewer {
    /// Who is looking.
    pub fn caller(&self) -> &str {
        &self.caller
    }

    /// Whether the caller may read `key`.
    pub fn may_read(&self, key: &ServiceKey) -> bool {
        match &self.scope {
            Some(scope) => scope(key),
            None => self
                .control
                .permits(&self.caller, &AccessTarget::service(key), false),
        }
    }

    /// Whether the caller may change `key`.
    pub fn may_write(&self, key: &ServiceKey) -> bool {
        self.control
            .permits(&self.caller, &AccessTarget::service(key), true)
    }

    /// Whether the caller may read every service of `namespace`.
    pub fn may_read_namespace(&self, namespace: &NamespaceId) -> bool {
        let target = AccessTarget::group(namespace.clone(), None);
        self.control.permits(&self.caller, &target, false)
    }
}

/// What a front holds when auth is on: the provider and the audit. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Access {
    control: Arc<dyn AccessControl>,
    audit: Arc<Audit>,
}

impl Access {
    /// Checks through `control`, with a new [`Audit`].
    pub fn new(control: Arc<dyn AccessControl>) -> Self {
        Self {
            control,
            audit: Arc::new(Audit::default()),
        }
    }

    /// What `grant`'s caller may see and change beyond the request: the grant's own viewer, or
    /// one made for its caller when the grant was whole. Asking it decides no request, so it
    /// is not audited (the console asks it whether to show a service's edit controls; the
    /// edit itself is checked when it comes).
    pub fn viewer_of(&self, grant: &Grant) -> Viewer {
        grant.viewer.clone().unwrap_or_else(|| Viewer {
            control: self.control.clone(),
            caller: grant.caller.clone(),
            // Asked service by service, not for a listing.
            scope: None,
        })
    }

    /// The audit: its counts by front and outcome, for the metrics.
    pub fn audit(&self) -> &Arc<Audit> {
        &self.audit
    }

    /// Logs `username` in from `source`, through `front`.
    pub fn login(
        &self,
        front: Front,
        source: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<serde_json::Value, AccessError> {
        let answer = self.control.login(source, username, password);
        let outcome = match &answer {
            Ok(_) => Outcome::Login,
            Err(_) => Outcome::LoginFailed,
        };
        let why = answer.as_ref().err().map(ToString::to_string);
        self.audit
            .record(front, outcome, username, source, &"login", why.as_deref());
        answer
    }

    /// Whether the holder of `token`, calling from `source` through `front`, may do what
    /// `need` says; counted and logged by the audit either way.
    pub fn check(
        &self,
        front: Front,
        source: IpAddr,
        token: Option<&str>,
        need: &Need,
    ) -> Result<Grant, AccessError> {
        self.check_with(front, source, Credential::Token(token), need)
    }

    /// [`Access::check`] for a request that proves who it is with `credential`: a token, or a
    /// username and password (see [`Credential::Password`]).
    pub fn check_with(
        &self,
        front: Front,
        source: IpAddr,
        credential: Credential<'_>,
        need: &Need,
    ) -> Result<Grant, AccessError> {
        let credential = match credential {
            Credential::Token(token) => {
                Credential::Token(token.map(str::trim).filter(|t| !t.is_empty()))
            }
            other => other,
        };
        let answer = self.decide(source, credential, need);
        // Nothing is allocated for an allowed request: the audit counts it, and formats it only
        // when it logs it.
        let (outcome, caller): (Outcome, &str) = match &answer {
            Ok(grant) if matches!(need, Need::Write(_)) => (Outcome::Write, &grant.caller),
            Ok(grant) => (Outcome::Read, &grant.caller),
            Err(AccessError::Forbidden { caller, .. }) => (Outcome::Forbidden, caller),
            Err(_) => match credential {
                Credential::Token(None) => (Outcome::NoToken, ""),
                Credential::Token(Some(_)) => (Outcome::BadToken, ""),
                Credential::Password { username, .. } => (Outcome::LoginFailed, username),
            },
        };
        let why = answer.as_ref().err().map(ToString::to_string);
        self.audit
            .record(front, outcome, caller, source, need, why.as_deref());
        answer
    }

    fn decide(
        &self,
        source: IpAddr,
        credential: Credential<'_>,
        need: &Need,
    ) -> Result<Grant, AccessError> {
        let caller: Arc<str> = match credential {
            Credential::Token(token) => self.control.identify(token)?,
            Credential::Password { username, password } => {
                self.control.identify_password(source, username, password)?
            }
        }
        .into();
        let granted = match need {
            Need::Read(target) => self.control.permits(&caller, target, false),
            Need::Write(target) => self.control.permits(&caller, target, true),
            Need::Admin => self.control.is_admin(&caller),
            Need::NodeReport => self.control.reads_everything(&caller),
            Need::List(_) | Need::ListAll => {
                let whole = match need {
                    Need::List(target) => self.control.permits(&caller, target, false),
                    _ => self.control.is_admin(&caller),
                };
                let viewer = (!whole).then(|| Viewer {
                    control: self.control.clone(),
                    caller: caller.clone(),
                    scope: self.control.read_scope(&caller),
                });
                return Ok(Grant { caller, viewer });
            }
        };
        if granted {
            Ok(Grant {
                caller,
                viewer: None,
            })
        } else {
            Err(AccessError::Forbidden {
                caller: caller.to_string(),
                action: need.action(),
                resource: need.to_string(),
            })
        }
    }
}

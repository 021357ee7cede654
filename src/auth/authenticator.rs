//! [`Authenticator`]: logins, tokens and permission checks over an [`IdentityStore`], the one
//! object a front will hold; and [`LoginThrottle`], the bound on password guessing.
//!
//! A login answers what Nacos' login answers (`accessToken`, `tokenTtl` in seconds,
//! `globalAdmin`, `username`), with a token valid for 18 000 s by default (Nacos'
//! `nacos.core.auth.plugin.nacos.token.expire.seconds`). Failed logins are counted per source
//! address over a minute: the first [`LoginThrottle::FREE_FAILURES`] are answered as usual,
//! later ones are refused without checking the password until the minute has passed, so a
//! guesser gets ten tries a minute and a user who mistypes is never locked out by the rule.
//! Each check is a bcrypt hash (tens of milliseconds of CPU at Nacos' cost 10), so at most
//! [`DEFAULT_MAX_CONCURRENT_LOGINS`] run at once and more are refused ([`AuthError::Busy`], 503); a
//! login of an unknown user costs the same hash, so timing does not tell which users exist.
//! Times are parameters (seconds since the epoch), so every rule is tested without a clock.

use super::permission::{Action, Resource};
use super::token::TokenKey;
use super::users::IdentityStore;
use super::AuthError;
use crate::front::access::{AccessError, AccessTarget};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::front::access::DEFAULT_TOKEN_TTL;

/// What a successful login answers (Nacos' login JSON, field for field).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    /// The token to send with every request.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub token_ttl: u64,
    /// Whether the user is the global admin.
    pub global_admin: bool,
    /// The user.
    pub username: String,
}

/// Who a request comes from, once its token checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub username: String,
}

/// See the module documentation.
#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn IdentityStore>,
    key: TokenKey,
    ttl: Duration,
    throttle: Arc<Mutex<LoginThrottle>>,
    /// Logins being checked now (each a bcrypt hash, tens of milliseconds of CPU).
    checking: Arc<std::sync::atomic::AtomicUsize>,
    /// Logins checked at once at most.
    max_checking: usize,
    /// Passwords sent on requests and found right lately, by user: a keyed digest of the
    /// password and until when it stands (see [`Authenticator::identify_password`]).
    checked: Arc<Mutex<CheckedPasswords>>,
}

/// By user: the keyed digest of a password found right, and until when it stands.
type CheckedPasswords = HashMap<String, ([u8; 32], u64)>;

/// How long a password sent on a request, once checked, stands without another bcrypt check.
pub const CHECKED_PASSWORD_TTL: Duration = Duration::from_secs(60);

/// Logins checked at once at most unless the host says otherwise
/// ([`Authenticator::max_concurrent_logins`]; `nacre-server --max-concurrent-logins`); more are
/// refused ([`AuthError::Busy`]) rather than queued, so a crowd of logins from many addresses
/// (each within its throttle) cannot take every core.
pub const DEFAULT_MAX_CONCURRENT_LOGINS: usize = 4;

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Checks against `store`, signing with `key`; tokens last [`DEFAULT_TOKEN_TTL`].
    pub fn new(store: Arc<dyn IdentityStore>, key: TokenKey) -> Self {
        Self {
            store,
            key,
            ttl: DEFAULT_TOKEN_TTL,
            throttle: Arc::default(),
            checking: Arc::default(),
            max_checking: DEFAULT_MAX_CONCURRENT_LOGINS,
            checked: Arc::default(),
        }
    }

    /// Checks at most `n` logins at once (at least one); more are refused, not queued.
    pub fn max_concurrent_logins(mut self, n: usize) -> Self {
        self.max_checking = n.max(1);
        self
    }

    /// Tracks the failed logins of at most `n` source addresses (at least one; see
    /// [`LoginThrottle`]).
    pub fn throttle_sources(self, n: usize) -> Self {
        *crate::util::lock(&self.throttle) = LoginThrottle::with_max_sources(n);
        self
    }

    /// Tokens last `ttl` (whole seconds; at least one).
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// Logs `username` in from `source` at `now` (seconds since the epoch).
    pub fn login(
        &self,
        source: IpAddr,
        username: &str,
        password: &str,
        now: u64,
    ) -> Result<Login, AuthError> {
        use std::sync::atomic::Ordering;
        if !crate::util::lock(&self.throttle).may_try(source, now) {
            return Err(AuthError::Throttled);
        }
        if self.checking.fetch_add(1, Ordering::AcqRel) >= self.max_checking {
            self.checking.fetch_sub(1, Ordering::AcqRel);
            return Err(AuthError::Busy);
        }
        let right = self.store.check_password(username, password);
        self.checking.fetch_sub(1, Ordering::AcqRel);
        if !right {
            crate::util::lock(&self.throttle).failed(source, now);
            return Err(AuthError::BadCredentials);
        }
        let ttl = self.ttl.as_secs();
        Ok(Login {
            access_token: self.key.issue(username, now.saturating_add(ttl)),
            token_ttl: ttl,
            global_admin: self.store.is_admin(username),
            username: username.to_owned(),
        })
    }

    /// Who sends `username` and `password` from `source` on a request at `now`, in place of a
    /// token (the npm client `nacos-naming` sends them on every request; Nacos checks them as
    /// a login each time). The first request is checked as a login is (the throttle, the
    /// bound on concurrent checks, bcrypt); a right password then stands for
    /// [`CHECKED_PASSWORD_TTL`] as a keyed digest (never the password), so a client's steady
    /// requests cost an HMAC, not a bcrypt hash each. A user taken out of the store loses
    /// access at once; a changed password stops working within the minute.
    pub fn identify_password(
        &self,
        source: IpAddr,
        username: &str,
        password: &str,
        now: u64,
    ) -> Result<Caller, AuthError> {
        let digest = self.key.fingerprint(&[username, password]);
        let known = crate::util::lock(&self.checked)
            .get(username)
            .is_some_and(|(d, until)| *d == digest && now < *until);
        if known && self.store.has_user(username) {
            return Ok(Caller {
                username: username.to_owned(),
            });
        }
        self.login(source, username, password, now)?;
        let mut checked = crate::util::lock(&self.checked);
        // One entry per user at most, and only users the store has: bounded by the file.
        checked.retain(|_, (_, until)| now < *until);
        checked.insert(
            username.to_owned(),
            (digest, now.saturating_add(CHECKED_PASSWORD_TTL.as_secs())),
        );
        Ok(Caller {
            username: username.to_owned(),
        })
    }

    /// Who `token` belongs to at `now`: signed by this server's key, not expired, and naming a
    /// user the store still has (a user taken out of the file loses access at once).
    pub fn identify(&self, token: &str, now: u64) -> Result<Caller, AuthError> {
        let username = self.key.verify(token, now)?;
        if !self.store.has_user(&username) {
            return Err(AuthError::BadToken("its user is unknown here"));
        }
        Ok(Caller { username })
    }

    /// Whether `caller` may do `action` on `resource`.
    pub fn allows(&self, caller: &Caller, resource: &Resource, action: Action) -> bool {
        self.store.allows(&caller.username, resource, action)
    }
}

/// Seconds since the epoch, now.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl crate::front::access::AccessControl for Authenticator {
    fn login(
        &self,
        source: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<serde_json::Value, AccessError> {
        let login = Authenticator::login(self, source, username, password, now_secs()).map_err(
            |e| match e {
                AuthError::Busy => AccessError::Busy(e.to_string()),
                e => AccessError::LoginFailed(e.to_string()),
            },
        )?;
        serde_json::to_value(login).map_err(|e| AccessError::LoginFailed(e.to_string()))
    }

    fn identify(&self, token: Option<&str>) -> Result<String, AccessError> {
        let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
            return Err(AccessError::NotAuthenticated(
                "no access token: log in (POST /nacos/v1/auth/login) and send accessToken".into(),
            ));
        };
        Authenticator::identify(self, token.trim(), now_secs())
            .map(|caller| caller.username)
            .map_err(|e| AccessError::NotAuthenticated(e.to_string()))
    }

    fn identify_password(
        &self,
        source: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<String, AccessError> {
        Authenticator::identify_password(self, source, username, password, now_secs())
            .map(|caller| caller.username)
            .map_err(|e| match e {
                AuthError::Busy => AccessError::Busy(e.to_string()),
                e => AccessError::NotAuthenticated(e.to_string()),
            })
    }

    fn permits(&self, caller: &str, target: &AccessTarget, write: bool) -> bool {
        let action = if write { Action::Write } else { Action::Read };
        self.store
            .allows(caller, &Resource::of_target(target), action)
    }

    fn is_admin(&self, caller: &str) -> bool {
        self.store.is_admin(caller)
    }

    fn read_scope(&self, caller: &str) -> Option<crate::front::access::ReadScope> {
        Some(match self.store.reads(caller) {
            super::users::Reads::Everything => Arc::new(|_: &crate::ServiceKey| true),
            super::users::Reads::Patterns(patterns) => Arc::new(move |key: &crate::ServiceKey| {
                patterns.iter().any(|p| {
                    super::permission::matches(
                        p,
                        key.namespace().as_str(),
                        key.group().as_str(),
                        key.service().as_str(),
                    )
                })
            }),
        })
    }

    fn reads_everything(&self, caller: &str) -> bool {
        self.store
            .allows(caller, &Resource::everything(), Action::Read)
    }
}

/// Failed logins per source address over the last minute: see the module documentation.
#[derive(Debug)]
pub struct LoginThrottle {
    /// Source → (start of its minute, failures in it).
    failures: HashMap<IpAddr, (u64, u32)>,
    /// Sources tracked at most.
    max_sources: usize,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::with_max_sources(Self::DEFAULT_MAX_SOURCES)
    }
}

impl LoginThrottle {
    /// Failures a source may make in a minute before its logins are refused unchecked.
    pub const FREE_FAILURES: u32 = 10;
    /// Sources tracked at most unless the host says otherwise
    /// (`nacre-server --login-throttle-sources`); past it the oldest minutes are forgotten
    /// first.
    pub const DEFAULT_MAX_SOURCES: usize = 10_000;
    const WINDOW: u64 = 60;

    /// A throttle tracking at most `max_sources` sources (at least one).
    pub fn with_max_sources(max_sources: usize) -> Self {
        Self {
            failures: HashMap::new(),
            max_sources: max_sources.max(1),
        }
    }

    /// Whether `source` may try a password at `now`.
    pub fn may_try(&mut self, source: IpAddr, now: u64) -> bool {
        match self.failures.get(&source) {
            Some((start, n)) if now < start + Self::WINDOW => *n < Self::FREE_FAILURES,
            Some(_) => {
                self.failures.remove(&source);
                true
            }
            None => true,
        }
    }

    /// `source` failed a login at `now`.
    pub fn failed(&mut self, source: IpAddr, now: u64) {
        if self.failures.len() >= self.max_sources && !self.failures.contains_key(&source) {
            self.failures
                .retain(|_, (start, _)| now < *start + Self::WINDOW);
            if self.failures.len() >= self.max_sources {
                // Every tracked minute is current: forget the oldest one.
                if let Some(oldest) = self
                    .failures
                    .iter()
                    .min_by_key(|(_, (start, _))| *start)
                    .map(|(ip, _)| *ip)
                {
                    self.failures.remove(&oldest);
                }
            }
        }
        let entry = self.failures.entry(source).or_insert((now, 0));
        if now >= entry.0 + Self::WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UsersFile;
    use crate::model::ServiceKey;
    use base64::Engine;

    fn authenticator() -> Authenticator {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let users = UsersFile::parse(&format!(
            "[[user]]\nusername = \"u\"\npassword_bcrypt = \"{hash}\"\n\
             [[user]]\nusername = \"root\"\npassword_bcrypt = \"{hash}\"\n\
             [[role]]\nrole = \"ROLE_ADMIN\"\nusername = \"root\"\n\
             [[role]]\nrole = \"w\"\nusername = \"u\"\n\
             [[permission]]\nrole = \"w\"\nresource = \"public:*:*\"\naction = \"rw\"\n"
        ))
        .unwrap();
        let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        Authenticator::new(Arc::new(users), TokenKey::from_base64(&key).unwrap())
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_login_answers_as_nacos_and_its_token_identifies_the_user() {
        let auth = authenticator();
        let login = auth.login(ip(1), "u", "pw", 1_000).unwrap();
        assert_eq!(
            (login.token_ttl, login.global_admin, login.username.as_str()),
            (18_000, false, "u")
        );
        let json = serde_json::to_value(&login).unwrap();
        for field in ["accessToken", "tokenTtl", "globalAdmin", "username"] {
            assert!(json.get(field).is_some(), "{field}");
        }
        let caller = auth.identify(&login.access_token, 1_001).unwrap();
        assert_eq!(caller.username, "u");
        let orders = Resource::of(&ServiceKey::named("orders").unwrap());
        assert!(auth.allows(&caller, &orders, Action::Write));
        assert_eq!(
            auth.identify(&login.access_token, 19_000),
            Err(AuthError::Expired)
        );
        assert!(auth.login(ip(1), "root", "pw", 1_000).unwrap().global_admin);
        assert_eq!(
            auth.login(ip(1), "u", "bad", 1_000),
            Err(AuthError::BadCredentials)
        );
        assert_eq!(
            auth.login(ip(1), "ghost", "pw", 1_000),
            Err(AuthError::BadCredentials)
        );
    }

    #[test]
    fn ten_failures_a_minute_are_answered_then_a_source_waits() {
        let auth = authenticator();
        for _ in 0..LoginThrottle::FREE_FAILURES {
            assert_eq!(
                auth.login(ip(2), "u", "bad", 100),
                Err(AuthError::BadCredentials)
            );
        }
        // Even the right password waits out the minute from that source...
        assert_eq!(auth.login(ip(2), "u", "pw", 120), Err(AuthError::Throttled));
        // ...while another source is not held up.
        assert!(auth.login(ip(3), "u", "pw", 120).is_ok());
        assert!(auth.login(ip(2), "u", "pw", 160).is_ok());
    }

    #[test]
    fn the_throttle_tracks_a_bounded_number_of_sources() {
        let mut t = LoginThrottle::default();
        for n in 0..(LoginThrottle::DEFAULT_MAX_SOURCES as u32 + 50) {
            t.failed(IpAddr::from(n.to_be_bytes()), 1_000);
        }
        assert!(t.failures.len() <= LoginThrottle::DEFAULT_MAX_SOURCES);
        let mut t = LoginThrottle::with_max_sources(5);
        for n in 0..20u32 {
            t.failed(IpAddr::from(n.to_be_bytes()), 1_000);
        }
        assert_eq!(t.failures.len(), 5);
    }

    #[test]
    fn logins_past_the_concurrent_checks_are_refused_not_queued() {
        use std::sync::atomic::Ordering;
        let auth = authenticator();
        auth.checking
            .store(DEFAULT_MAX_CONCURRENT_LOGINS, Ordering::SeqCst);
        assert_eq!(auth.login(ip(1), "u", "pw", 100), Err(AuthError::Busy));
        assert_eq!(
            auth.checking.load(Ordering::SeqCst),
            DEFAULT_MAX_CONCURRENT_LOGINS
        );
        auth.checking
            .store(DEFAULT_MAX_CONCURRENT_LOGINS - 1, Ordering::SeqCst);
        assert!(auth.login(ip(1), "u", "pw", 100).is_ok());
        assert_eq!(
            auth.checking.load(Ordering::SeqCst),
            DEFAULT_MAX_CONCURRENT_LOGINS - 1
        );
        // A refusal for want of capacity is not a failure of the source.
        auth.checking
            .store(DEFAULT_MAX_CONCURRENT_LOGINS, Ordering::SeqCst);
        for _ in 0..20 {
            assert_eq!(auth.login(ip(2), "u", "pw", 100), Err(AuthError::Busy));
        }
        auth.checking.store(0, Ordering::SeqCst);
        assert!(auth.login(ip(2), "u", "pw", 100).is_ok());
    }

    #[test]
    fn a_read_scope_answers_what_permits_answers() {
        use crate::front::access::{AccessControl, AccessTarget};
        let hash = bcrypt::hash("pw", 4).unwrap();
        let users = UsersFile::parse(&format!(
            "[[user]]\nusername = \"t\"\npassword_bcrypt = \"{hash}\"\n\
             [[user]]\nusername = \"root\"\npassword_bcrypt = \"{hash}\"\n\
             [[user]]\nusername = \"none\"\npassword_bcrypt = \"{hash}\"\n\
             [[role]]\nrole = \"ROLE_ADMIN\"\nusername = \"root\"\n\
             [[role]]\nrole = \"t\"\nusername = \"t\"\n\
             [[permission]]\nrole = \"t\"\nresource = \":G:naming/ord*\"\naction = \"r\"\n\
             [[permission]]\nrole = \"t\"\nresource = \"dev:*:*\"\naction = \"w\"\n\
             [[permission]]\nrole = \"t\"\nresource = \"prod:*:naming/pay\"\naction = \"rw\"\n"
        ))
        .unwrap();
        let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let auth = Authenticator::new(Arc::new(users), TokenKey::from_base64(&key).unwrap());
        let keys: Vec<ServiceKey> = [
            ("public", "G", "orders"),
            ("public", "G", "billing"),
            ("public", "H", "orders"),
            ("dev", "G", "orders"),
            ("prod", "X", "pay"),
            ("prod", "X", "payroll"),
        ]
        .iter()
        .map(|(ns, g, s)| ServiceKey::new(ns, g, s).unwrap())
        .collect();
        for caller in ["t", "root", "none", "ghost"] {
            let scope = auth.read_scope(caller).unwrap();
            for key in &keys {
                assert_eq!(
                    scope(key),
                    auth.permits(caller, &AccessTarget::service(key), false),
                    "{caller} on {key}"
                );
            }
        }
        let scope = auth.read_scope("t").unwrap();
        assert!(scope(&keys[0]) && !scope(&keys[1]) && !scope(&keys[3]) && scope(&keys[4]));
    }

    #[test]
    fn a_password_on_a_request_is_checked_once_then_stands_for_a_minute() {
        use std::sync::atomic::Ordering;
        let auth = authenticator();
        assert_eq!(
            auth.identify_password(ip(1), "u", "pw", 100)
                .unwrap()
                .username,
            "u"
        );
        // No bcrypt check could run now: the right password stands without one...
        auth.checking
            .store(DEFAULT_MAX_CONCURRENT_LOGINS, Ordering::SeqCst);
        assert!(auth.identify_password(ip(1), "u", "pw", 150).is_ok());
        // ...a wrong one does not, nor the right one once its minute is up.
        assert_eq!(
            auth.identify_password(ip(1), "u", "nope", 150),
            Err(AuthError::Busy)
        );
        assert_eq!(
            auth.identify_password(ip(1), "u", "pw", 161),
            Err(AuthError::Busy)
        );
        auth.checking.store(0, Ordering::SeqCst);
        assert_eq!(
            auth.identify_password(ip(1), "u", "nope", 170),
            Err(AuthError::BadCredentials)
        );
        assert_eq!(
            auth.identify_password(ip(1), "ghost", "pw", 170),
            Err(AuthError::BadCredentials)
        );
        // Wrong passwords count against the source as failed logins do.
        for _ in 0..LoginThrottle::FREE_FAILURES {
            let _ = auth.identify_password(ip(2), "u", "nope", 200);
        }
        assert_eq!(
            auth.identify_password(ip(2), "u", "pw", 200),
            Err(AuthError::Throttled)
        );
    }

    #[test]
    fn the_concurrent_logins_are_the_hosts_to_set() {
        use std::sync::atomic::Ordering;
        let auth = authenticator().max_concurrent_logins(1);
        auth.checking.store(1, Ordering::SeqCst);
        assert_eq!(auth.login(ip(1), "u", "pw", 100), Err(AuthError::Busy));
        auth.checking.store(0, Ordering::SeqCst);
        assert!(auth.login(ip(1), "u", "pw", 100).is_ok());
    }
}

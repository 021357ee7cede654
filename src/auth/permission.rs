//! Permissions in Nacos' model: a role may act (`r`, `w`, `rw`) on resources named
//! `namespace:group:naming/service`, with `*` matching anything (separators included, as
//! Nacos' regular expression `.*` does).
//!
//! The public namespace has two spellings: Nacos 2.x writes it empty (`:*:*`), Nacos 3 writes
//! `public` (`public:*:*`); a permission in either form covers it. Difference from Nacos: a
//! permission's resource is a pattern where only `*` is special; Nacos turns it into a
//! regular expression, so a `.` in a service name there also matches any character.
//!
//! nacre's addition: a permission may name the addresses its role may register
//! (`register_cidrs = ["10.1.0.0/16"]`). A write that registers instances is granted by such a
//! permission only when every address it registers lies in one of them, so a client holding
//! valid credentials still cannot put another host's address into a service and take its
//! traffic. A permission without `register_cidrs` limits nothing (as in Nacos).

use crate::front::access::AccessTarget;
pub use crate::front::cidr::Cidr;
use crate::model::ServiceKey;
use std::net::IpAddr;

/// What a request does to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Reads (`r`).
    Read,
    /// Writes (`w`).
    Write,
}

impl Action {
    fn letter(self) -> char {
        match self {
            Action::Read => 'r',
            Action::Write => 'w',
        }
    }
}

/// The actions a permission grants: `r`, `w` or `rw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actions {
    read: bool,
    write: bool,
}

impl Actions {
    /// Reads `text` (`r`, `w`, `rw` or `wr`); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "r" => Some(Self {
                read: true,
                write: false,
            }),
            "w" => Some(Self {
                read: false,
                write: true,
            }),
            "rw" | "wr" => Some(Self {
                read: true,
                write: true,
            }),
            _ => None,
        }
    }

    /// Whether `action` is granted.
    pub fn grants(self, action: Action) -> bool {
        match action {
            Action::Read => self.read,
            Action::Write => self.write,
        }
    }
}

impl std::fmt::Display for Actions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (on, action) in [(self.read, Action::Read), (self.write, Action::Write)] {
            if on {
                write!(f, "{}", action.letter())?;
            }
        }
        Ok(())
    }
}

/// The resource a naming request touches, in Nacos' form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    namespace: String,
    group: String,
    service: String,
    /// The addresses a write registers into it.
    ips: Vec<IpAddr>,
}

impl Resource {
    /// The resource of `service`.
    pub fn of(service: &ServiceKey) -> Self {
        Self {
            namespace: service.namespace().as_str().to_owned(),
            group: service.group().as_str().to_owned(),
            service: service.service().as_str().to_owned(),
            ips: Vec::new(),
        }
    }

    /// Every service of every namespace (`*:*:naming/*`): what only a permission on
    /// everything (`*:*:*`) covers.
    pub fn everything() -> Self {
        Self {
            namespace: "*".to_owned(),
            group: "*".to_owned(),
            service: "*".to_owned(),
            ips: Vec::new(),
        }
    }

    /// The same resource, written by a registration of `ips`.
    pub fn registering(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.ips.extend(ips);
        self
    }

    /// What a front's [`AccessTarget`] touches: a group or a service left out is `*`.
    pub fn of_target(target: &AccessTarget) -> Self {
        Self {
            namespace: target.namespace.as_str().to_owned(),
            group: target
                .group
                .as_ref()
                .map_or_else(|| "*".to_owned(), |g| g.as_str().to_owned()),
            service: target
                .service
                .as_ref()
                .map_or_else(|| "*".to_owned(), |s| s.as_str().to_owned()),
            ips: target.ips.clone(),
        }
    }

    /// Whether `pattern` matches one of the names it goes by: `namespace:group:naming/service`,
    /// and for the public namespace both its spellings (empty, and `public`). Matched on the
    /// parts as they are, with nothing allocated: a listing checks every service it holds.
    pub fn matched_by(&self, pattern: &str) -> bool {
        matches(pattern, &self.namespace, &self.group, &self.service)
    }
}

/// Whether `pattern` matches the service `namespace:group:naming/service` under one of the
/// names it goes by (for the public namespace, both its spellings: empty, and `public`).
/// Matched on the parts as they are, with nothing allocated: a listing checks every service
/// it holds.
pub fn matches(pattern: &str, namespace: &str, group: &str, service: &str) -> bool {
    let public = namespace == crate::model::DEFAULT_NAMESPACE || namespace.is_empty();
    let spellings: &[&str] = if public {
        &["", crate::model::DEFAULT_NAMESPACE]
    } else {
        &[namespace]
    };
    spellings.iter().any(|ns| {
        let name = Name([
            ns.as_bytes(),
            b":",
            group.as_bytes(),
            b":naming/",
            service.as_bytes(),
        ]);
        glob(pattern.as_bytes(), &name)
    })
}

/// A resource name as the parts it is made of.
struct Name<'a>([&'a [u8]; 5]);

impl Name<'_> {
    fn len(&self) -> usize {
        self.0.iter().map(|part| part.len()).sum()
    }

    /// The byte at `i` (below [`Name::len`]).
    fn at(&self, mut i: usize) -> u8 {
        for part in &self.0 {
            if i < part.len() {
                return part[i];
            }
            i -= part.len();
        }
        0
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:naming/{}",
            self.namespace, self.group, self.service
        )
    }
}

/// What one role may do on resources matching a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// The role it belongs to.
    pub role: String,
    /// The resource pattern (`public:*:*`, `dev:DEFAULT_GROUP:naming/orders`).
    pub resource: String,
    /// What it grants.
    pub actions: Actions,
    /// The addresses a registration it grants may put into a service; empty for any.
    pub register_cidrs: Vec<Cidr>,
}

impl Permission {
    /// Whether it lets its role do `action` on `resource`.
    pub fn grants(&self, resource: &Resource, action: Action) -> bool {
        self.actions.grants(action)
            && (action == Action::Read
                || self.register_cidrs.is_empty()
                || resource
                    .ips
                    .iter()
                    .all(|ip| self.register_cidrs.iter().any(|c| c.contains(*ip))))
            && resource.matched_by(&self.resource)
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (none included).
fn glob(p: &[u8], text: &Name<'_>) -> bool {
    // The classic two-pointer match with backtracking to the last `*`, on bytes: `*` is
    // ASCII, and equal UTF-8 texts are equal bytes.
    let len = text.len();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < len {
        if pi < p.len() && p[pi] != b'*' && p[pi] == text.at(ti) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, group: &str, service: &str) -> ServiceKey {
        ServiceKey::new(ns, group, service).unwrap()
    }

    fn permission(resource: &str, actions: &str) -> Permission {
        Permission {
            role: "r".into(),
            resource: resource.into(),
            actions: Actions::parse(actions).unwrap(),
            register_cidrs: Vec::new(),
        }
    }

    #[test]
    fn blocks_hold_the_addresses_their_prefix_covers() {
        let block = |t: &str| Cidr::parse(t).unwrap();
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        assert!(block("10.1.0.0/16").contains(ip("10.1.255.3")));
        assert!(!block("10.1.0.0/16").contains(ip("10.2.0.1")));
        assert!(block("10.1.2.3").contains(ip("10.1.2.3")));
        assert!(!block("10.1.2.3").contains(ip("10.1.2.4")));
        assert!(block("0.0.0.0/0").contains(ip("192.168.1.1")));
        assert!(block("10.0.0.0/9").contains(ip("10.127.0.1")));
        assert!(!block("10.0.0.0/9").contains(ip("10.128.0.1")));
        assert!(block("10.1.0.0/16").contains(ip("::ffff:10.1.0.9")));
        assert!(block("fd00::/8").contains(ip("fd12::1")));
        assert!(!block("fd00::/8").contains(ip("10.1.0.1")));
        for bad in [
            "",
            "10.1.0.0/33",
            "fd00::/129",
            "10.1.0/16",
            "x/8",
            "10.0.0.0/-1",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
        assert_eq!(block("10.1.0.0/16").to_string(), "10.1.0.0/16");
    }

    #[test]
    fn a_permission_with_blocks_grants_only_registrations_inside_them() {
        let orders = Resource::of(&key("public", "DEFAULT_GROUP", "orders"));
        let mut p = permission("public:*:*", "rw");
        p.register_cidrs = vec![Cidr::parse("10.1.0.0/16").unwrap()];
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        assert!(p.grants(&orders.clone().registering([ip("10.1.0.5")]), Action::Write));
        assert!(!p.grants(&orders.clone().registering([ip("10.9.0.5")]), Action::Write));
        assert!(!p.grants(
            &orders.clone().registering([ip("10.1.0.5"), ip("10.9.0.5")]),
            Action::Write
        ));
        // Writes that register nothing (a deregistration, a service's settings), and reads.
        assert!(p.grants(&orders, Action::Write));
        assert!(p.grants(&orders.clone().registering([ip("10.9.0.5")]), Action::Read));
    }

    #[test]
    fn patterns_match_as_nacos_patterns_do() {
        let orders = Resource::of(&key("public", "DEFAULT_GROUP", "orders"));
        let dev = Resource::of(&key("dev", "DEFAULT_GROUP", "orders"));
        for (pattern, on_public, on_dev) in [
            ("public:*:*", true, false),
            (":*:*", true, false),
            ("*:*:*", true, true),
            ("dev:*:*", false, true),
            ("public:DEFAULT_GROUP:naming/orders", true, false),
            ("public:DEFAULT_GROUP:naming/ord*", true, false),
            ("public:DEFAULT_GROUP:naming/billing", false, false),
            ("public:OTHER:*", false, false),
            ("dev:*:naming/orders", false, true),
            ("*", true, true),
            ("", false, false),
        ] {
            let p = permission(pattern, "rw");
            assert_eq!(
                p.grants(&orders, Action::Read),
                on_public,
                "{pattern} on public"
            );
            assert_eq!(p.grants(&dev, Action::Write), on_dev, "{pattern} on dev");
        }
    }

    #[test]
    fn actions_grant_what_they_say() {
        let orders = Resource::of(&key("public", "DEFAULT_GROUP", "orders"));
        let read = permission("public:*:*", "r");
        assert!(read.grants(&orders, Action::Read));
        assert!(!read.grants(&orders, Action::Write));
        let write = permission("public:*:*", "w");
        assert!(!write.grants(&orders, Action::Read));
        assert!(write.grants(&orders, Action::Write));
        for bad in ["", "x", "rwx", "R"] {
            assert_eq!(Actions::parse(bad), None, "{bad}");
        }
        assert_eq!(Actions::parse("wr").unwrap().to_string(), "rw");
    }

    fn glob(pattern: &str, text: &str) -> bool {
        super::glob(
            pattern.as_bytes(),
            &Name([text.as_bytes(), b"", b"", b"", b""]),
        )
    }

    #[test]
    fn a_star_matches_any_run_and_backtracks() {
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(glob("a*b*c", "abc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(glob("**", ""));
        assert!(!glob("a", "ab"));
        assert!(glob("*:naming/*", "public:G:naming/x"));
    }
}

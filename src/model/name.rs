//! Validated names: [`NamespaceId`], [`GroupName`], [`ServiceName`], [`ClusterName`].
//!
//! Each wraps an `Arc<str>`, so cloning a name (and so a [`crate::ServiceKey`]) is a reference
//! count bump, never a copy of the text. Names are checked once, when they are made; serde goes
//! through the same check, so garbage from the wire is refused with a [`ValidationError`].

use super::error::{excerpt, NameKind, ValidationError};
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

/// Longest namespace id, in bytes (Nacos limits namespace ids to 128 characters).
pub const MAX_NAMESPACE_LEN: usize = 128;
/// Longest group or service name, in bytes.
pub const MAX_NAME_LEN: usize = 512;
/// Longest cluster name, in bytes.
pub const MAX_CLUSTER_LEN: usize = 64;

/// The namespace every key uses unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "public";
/// The group every service is in unless told otherwise.
pub const DEFAULT_GROUP: &str = "DEFAULT_GROUP";
/// The cluster every instance is in unless told otherwise.
pub const DEFAULT_CLUSTER: &str = "DEFAULT";

/// The text of a name: one shared allocation when it is one of the defaults (every instance in
/// the default cluster, and every key in the default namespace and group, points at the same
/// `"DEFAULT"`), a new one otherwise. Saves an allocation per instance (32 bytes) on a node
/// whose instances use the default cluster.
fn shared_text(value: &str) -> Arc<str> {
    static DEFAULTS: LazyLock<[Arc<str>; 3]> =
        LazyLock::new(|| [DEFAULT_NAMESPACE, DEFAULT_GROUP, DEFAULT_CLUSTER].map(Arc::from));
    DEFAULTS
        .iter()
        .find(|d| ***d == *value)
        .cloned()
        .unwrap_or_else(|| Arc::from(value))
}

fn check_common(kind: NameKind, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::EmptyName { kind });
    }
    if value.len() > max {
        return Err(ValidationError::NameTooLong {
            kind,
            value: excerpt(value),
            len: value.len(),
            max,
        });
    }
    if let Some(ch) = value.chars().find(|c| c.is_control() || c.is_whitespace()) {
        return Err(ValidationError::BadCharacter {
            kind,
            value: excerpt(value),
            ch,
            rule: "names may not contain white space or control characters",
        });
    }
    Ok(())
}

fn check_no_separator(kind: NameKind, value: &str) -> Result<(), ValidationError> {
    if value.contains("@@") {
        return Err(ValidationError::ContainsSeparator {
            kind,
            value: excerpt(value),
        });
    }
    Ok(())
}

fn check_namespace(value: &str) -> Result<(), ValidationError> {
    let kind = NameKind::Namespace;
    check_common(kind, value, MAX_NAMESPACE_LEN)?;
    check_no_separator(kind, value)?;
    if let Some(ch) = value.chars().find(|c| *c == '#' || *c == '/') {
        return Err(ValidationError::BadCharacter {
            kind,
            value: excerpt(value),
            ch,
            rule: "namespace ids may not contain `#` or `/`",
        });
    }
    Ok(())
}

fn check_group(value: &str) -> Result<(), ValidationError> {
    check_common(NameKind::Group, value, MAX_NAME_LEN)?;
    check_no_separator(NameKind::Group, value)?;
    // A group ending in `@` would make `group@@service` ambiguous when printed.
    if value.ends_with('@') || value.starts_with('@') {
        return Err(ValidationError::BadCharacter {
            kind: NameKind::Group,
            value: excerpt(value),
            ch: '@',
            rule: "group names may not start or end with `@`",
        });
    }
    Ok(())
}

fn check_service(value: &str) -> Result<(), ValidationError> {
    check_common(NameKind::Service, value, MAX_NAME_LEN)?;
    check_no_separator(NameKind::Service, value)?;
    if value.starts_with('@') || value.ends_with('@') {
        return Err(ValidationError::BadCharacter {
            kind: NameKind::Service,
            value: excerpt(value),
            ch: '@',
            rule: "service names may not start or end with `@`",
        });
    }
    Ok(())
}

fn check_cluster(value: &str) -> Result<(), ValidationError> {
    // Nacos allows only 0-9, a-z, A-Z and `-` in cluster names; it keeps `#` and `,` free for
    // instance ids and cluster lists.
    check_common(NameKind::Cluster, value, MAX_CLUSTER_LEN)?;
    if let Some(ch) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(ValidationError::BadCharacter {
            kind: NameKind::Cluster,
            value: excerpt(value),
            ch,
            rule: "cluster names may hold only 0-9, a-z, A-Z, `-` and `_`",
        });
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $check:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Arc<str>);

        impl $name {
            /// Checks `value` and makes the name.
            pub fn new(value: &str) -> Result<Self, ValidationError> {
                $check(value)?;
                Ok(Self(shared_text(value)))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $check(&s)?;
                Ok(Self(shared_text(&s)))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0.to_string()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }
    };
}

name_type!(
    /// A namespace id: the outermost level of isolation (`public` by default).
    ///
    /// Non-empty, at most [`MAX_NAMESPACE_LEN`] bytes, no white space, control characters,
    /// `@@`, `#` or `/`.
    NamespaceId,
    check_namespace
);
name_type!(
    /// A group name (`DEFAULT_GROUP` by default).
    ///
    /// Non-empty, at most [`MAX_NAME_LEN`] bytes, no white space or control characters, no
    /// `@@`, and no `@` at either end (so `group@@service` always splits one way).
    GroupName,
    check_group
);
name_type!(
    /// A service name.
    ///
    /// Non-empty, at most [`MAX_NAME_LEN`] bytes, no white space or control characters, no
    /// `@@`, and no `@` at either end.
    ServiceName,
    check_service
);
name_type!(
    /// A cluster name (`DEFAULT` by default): `0-9`, `a-z`, `A-Z`, `-` and `_` only, at most
    /// [`MAX_CLUSTER_LEN`] bytes.
    ///
    /// ```
    /// use nacre::ClusterName;
    /// assert!(ClusterName::new("hz-a").is_ok());
    /// assert!(ClusterName::new("a,b").is_err());
    /// ```
    ClusterName,
    check_cluster
);

macro_rules! default_name {
    ($name:ident, $value:expr) => {
        impl Default for $name {
            fn default() -> Self {
                Self(shared_text($value))
            }
        }
    };
}
default_name!(NamespaceId, DEFAULT_NAMESPACE);
default_name!(GroupName, DEFAULT_GROUP);
default_name!(ClusterName, DEFAULT_CLUSTER);

/// Parses a comma-separated cluster list as Nacos sends it (`"A,B"`); an empty string is the
/// empty list, which means every cluster.
pub fn parse_cluster_list(list: &str) -> Result<Vec<ClusterName>, ValidationError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(ClusterName::new)
        .collect()
}

//! [`PeerAuth`]: how cluster members know a request comes from a member — a shared
//! [`ClusterSecret`], like Nacos' server identity (`nacos.core.auth.server.identity.key` /
//! `.value`), or, chosen explicitly, nothing at all.
//!
//! A transport that carries peer traffic over a network anyone might reach (the `http`
//! feature's `HttpPeerTransport` and `peer_router`) takes a `PeerAuth`: the sender attaches
//! the secret to every request, the receiver checks it ([`PeerAuth::check`], in constant
//! time) before the request reaches the node, and refuses it otherwise. Without that check,
//! anything that can reach the peer route can act as a member: add or delete any instance,
//! make instances immortal, or dump the registry. There is no default: a host that wants no
//! authentication says so with [`PeerAuth::InsecureNone`], which is visible in its code.
//!
//! The secret proves membership, it does not hide the traffic: over plain HTTP it crosses the
//! network in clear, as Nacos' identity header does. Keep peer traffic on a network only
//! members can reach, or behind TLS.
//!
//! ```
//! use nacre::cluster::{AuthError, ClusterSecret, PeerAuth};
//! let auth = PeerAuth::Secret(ClusterSecret::new("0123456789abcdef0123")?);
//! assert_eq!(auth.check(Some(b"0123456789abcdef0123")), Ok(()));
//! assert_eq!(auth.check(Some(b"guess")), Err(AuthError::Wrong));
//! assert_eq!(auth.check(None), Err(AuthError::Missing));
//! assert_eq!(PeerAuth::InsecureNone.check(None), Ok(()));
//! assert!(ClusterSecret::new("short").is_err());
//! # Ok::<(), nacre::cluster::SecretError>(())
//! ```

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A cluster's shared secret: 16 to 1024 visible ASCII characters (`!` to `~`, no spaces), so
/// that it fits an HTTP header as it is. Its `Debug` form does not show it.
#[derive(Clone)]
pub struct ClusterSecret(Arc<str>);

impl ClusterSecret {
    /// The shortest secret accepted, in bytes.
    pub const MIN_LEN: usize = 16;
    /// The longest secret accepted, in bytes.
    pub const MAX_LEN: usize = 1024;

    /// Checks and wraps a secret.
    pub fn new(secret: &str) -> Result<Self, SecretError> {
        let len = secret.len();
        if len < Self::MIN_LEN {
            return Err(SecretError::TooShort {
                len,
                min: Self::MIN_LEN,
            });
        }
        if len > Self::MAX_LEN {
            return Err(SecretError::TooLong {
                len,
                max: Self::MAX_LEN,
            });
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SecretError::NotPrintable);
        }
        Ok(Self(Arc::from(secret)))
    }

    /// Reads a secret from a file (its whole content, without leading and trailing white
    /// space, so a final newline does not count).
    pub fn from_file(path: &Path) -> Result<Self, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|e| SecretError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::new(text.trim()).map_err(|e| SecretError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// The secret itself, for a transport to send.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret. Takes the same time wherever the two differ (it
    /// depends on this secret's length only), so timing tells an attacker nothing.
    pub fn matches(&self, presented: &[u8]) -> bool {
        constant_time_eq(self.0.as_bytes(), presented)
    }
}

impl PartialEq for ClusterSecret {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other.0.as_bytes())
    }
}

impl Eq for ClusterSecret {}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(<redacted>)")
    }
}

/// Compares `expected` with `presented` in time that depends on `expected.len()` only.
fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
    let mut diff = u64::from(expected.len() != presented.len());
    for (i, e) in expected.iter().enumerate() {
        let p = presented.get(i).copied().unwrap_or(0);
        diff |= u64::from(e ^ p);
    }
    std::hint::black_box(diff) == 0
}

/// How peers authenticate to each other: see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAuth {
    /// Every peer request carries this secret, and requests without it are refused.
    Secret(ClusterSecret),
    /// No authentication: anything that can reach the peer route is taken for a member. Only
    /// for tests, and for networks where nothing but members can reach it.
    InsecureNone,
}

impl PeerAuth {
    /// The secret to send, if any.
    pub fn secret(&self) -> Option<&ClusterSecret> {
        match self {
            PeerAuth::Secret(s) => Some(s),
            PeerAuth::InsecureNone => None,
        }
    }

    /// Checks what a request presented (`None`: nothing).
    pub fn check(&self, presented: Option<&[u8]>) -> Result<(), AuthError> {
        match (self, presented) {
            (PeerAuth::InsecureNone, _) => Ok(()),
            (PeerAuth::Secret(_), None) => Err(AuthError::Missing),
            (PeerAuth::Secret(s), Some(p)) if s.matches(p) => Ok(()),
            (PeerAuth::Secret(_), Some(_)) => Err(AuthError::Wrong),
        }
    }
}

/// Why a peer request was refused before it reached the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carried no secret.
    #[error("the request carries no cluster secret")]
    Missing,
    /// The request carried another secret.
    #[error("the request carries a wrong cluster secret")]
    Wrong,
    /// The receiving node was given no [`PeerAuth`], so it trusts nobody.
    #[error("this node has no cluster secret configured, so it accepts no peer requests")]
    NotConfigured,
}

/// Why a cluster secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// Shorter than [`ClusterSecret::MIN_LEN`].
    #[error(
        "the cluster secret has {len} characters; it needs at least {min} (for example the output of `openssl rand -hex 32`)"
    )]
    TooShort {
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// Longer than [`ClusterSecret::MAX_LEN`].
    #[error("the cluster secret has {len} characters; at most {max} are accepted")]
    TooLong {
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// It holds a character outside visible ASCII (`!` to `~`).
    #[error("the cluster secret may hold visible ASCII characters only (`!` to `~`, no spaces)")]
    NotPrintable,
    /// The secret file could not be read, or its content is not a valid secret.
    #[error("cluster secret file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_must_be_long_enough_and_printable() {
        assert!(matches!(
            ClusterSecret::new("fifteen-chars!!"),
            Err(SecretError::TooShort { len: 15, min: 16 })
        ));
        assert!(ClusterSecret::new("sixteen-chars!!!").is_ok());
        assert_eq!(
            ClusterSecret::new("has a space in the middle"),
            Err(SecretError::NotPrintable)
        );
        assert_eq!(
            ClusterSecret::new("naïve-but-long-enough"),
            Err(SecretError::NotPrintable)
        );
        assert!(matches!(
            ClusterSecret::new(&"x".repeat(1025)),
            Err(SecretError::TooLong { .. })
        ));
    }

    #[test]
    fn only_the_same_bytes_match() {
        let s = ClusterSecret::new("0123456789abcdef").unwrap();
        assert!(s.matches(b"0123456789abcdef"));
        assert!(!s.matches(b"0123456789abcdeF"));
        assert!(!s.matches(b"0123456789abcde"));
        assert!(!s.matches(b"0123456789abcdef0"));
        assert!(!s.matches(b""));
    }

    #[test]
    fn the_debug_form_hides_the_secret() {
        let s = ClusterSecret::new("0123456789abcdef").unwrap();
        let shown = format!("{:?}", PeerAuth::Secret(s));
        assert!(!shown.contains("0123"), "{shown}");
    }

    #[test]
    fn a_secret_file_is_read_without_its_final_newline() {
        let dir = std::env::temp_dir().join(format!("nacre-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "0123456789abcdef\n").unwrap();
        let s = ClusterSecret::from_file(&path).unwrap();
        assert_eq!(s.expose(), "0123456789abcdef");
        std::fs::write(&path, "short\n").unwrap();
        assert!(matches!(
            ClusterSecret::from_file(&path),
            Err(SecretError::File { .. })
        ));
        assert!(matches!(
            ClusterSecret::from_file(&dir.join("missing")),
            Err(SecretError::File { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

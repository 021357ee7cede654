//! The one error type of the model layer: what was wrong with a value, and which rule it broke.

use std::fmt;

/// Which kind of name a [`ValidationError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// A namespace id (`public` by default).
    Namespace,
    /// A group name (`DEFAULT_GROUP` by default).
    Group,
    /// A service name.
    Service,
    /// A cluster name (`DEFAULT` by default).
    Cluster,
    /// A metadata key.
    MetadataKey,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Namespace => "namespace id",
            NameKind::Group => "group name",
            NameKind::Service => "service name",
            NameKind::Cluster => "cluster name",
            NameKind::MetadataKey => "metadata key",
        })
    }
}

/// A value that cannot be stored: it names the value and the rule it broke.
///
/// Every constructor in [`crate::model`] returns this, so bad input is rejected at the edge,
/// before anything reaches the registry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A name was empty.
    #[error("{kind} must not be empty")]
    EmptyName {
        /// Which name.
        kind: NameKind,
    },
    /// A name was longer than its limit.
    #[error("{kind} `{value}` is {len} bytes long; the limit is {max}")]
    NameTooLong {
        /// Which name.
        kind: NameKind,
        /// The first bytes of the value.
        value: String,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A group or service name contained the `@@` separator of grouped names.
    #[error(
        "{kind} `{value}` contains `@@`, which separates group and service in `group@@service`"
    )]
    ContainsSeparator {
        /// Which name.
        kind: NameKind,
        /// The offending value.
        value: String,
    },
    /// A name contained a character its rule does not allow.
    #[error("{kind} `{value}` contains {ch:?}: {rule}")]
    BadCharacter {
        /// Which name.
        kind: NameKind,
        /// The offending value.
        value: String,
        /// The first character that is not allowed.
        ch: char,
        /// The rule, in words.
        rule: &'static str,
    },
    /// Port 0 is not a port an instance can listen on.
    #[error("port 0 is not a valid instance port (1..=65535)")]
    ZeroPort,
    /// A weight that is NaN, infinite, negative or above the maximum.
    #[error("weight {weight} is not allowed: it must be a finite number from 0 to {max}")]
    BadWeight {
        /// The rejected weight.
        weight: f64,
        /// The largest weight allowed.
        max: f64,
    },
    /// A binary instance whose flag byte sets bits that name no flag (healthy, enabled and
    /// ephemeral are bits 0 to 2): written by another format version, or corrupt.
    #[error("instance flags {0:#04x} set unknown bits (only 0x07 is defined)")]
    BadInstanceFlags(u8),
    /// An address that is neither an IP address nor a host name.
    #[error("`{0}` is neither an IP address nor a valid host name")]
    BadHost(String),
    /// Instance metadata larger than the configured limit
    /// ([`crate::Limits::max_metadata_bytes`]).
    #[error(
        "metadata is {size} bytes (keys plus values); the limit (max_metadata_bytes) is {max}"
    )]
    MetadataTooLarge {
        /// Size of keys plus values in bytes.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// Service metadata larger than the configured limit
    /// ([`crate::Limits::max_service_metadata_bytes`]).
    #[error("service metadata is {size} bytes (keys plus values); the limit (max_service_metadata_bytes) is {max}")]
    ServiceMetadataTooLarge {
        /// Size of keys plus values in bytes.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// A `preserved.*` timing outside the range the registry accepts for it (see
    /// [`crate::Limits`]).
    #[error("metadata `{key}` = {value:?} is outside the range this registry accepts, {min:?} to {max:?}")]
    TimingOutOfRange {
        /// The metadata key.
        key: &'static str,
        /// The duration given.
        value: std::time::Duration,
        /// The shortest accepted.
        min: std::time::Duration,
        /// The longest accepted.
        max: std::time::Duration,
    },
    /// A `preserved.*` timing key whose value is not a positive number of milliseconds.
    #[error("metadata `{key}` = `{value}` must be a positive whole number of milliseconds")]
    BadTimingMetadata {
        /// The metadata key.
        key: String,
        /// The value found.
        value: String,
    },
    /// A string that should have been `group@@service` (or a bare service name).
    #[error("`{input}` is not a grouped service name (`group@@service` or `service`): {reason}")]
    BadGroupedName {
        /// The input.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A string that should have been an instance id `ip#port#cluster#group@@service`.
    #[error(
        "`{input}` is not an instance id of the form `ip#port#cluster#group@@service`: {reason}"
    )]
    BadInstanceId {
        /// The input.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A metadata value that is neither text, a number, `true`/`false` nor `null`: a JSON
    /// array or object (see [`crate::protocol::metadata`]).
    #[error(
        "metadata `{key}` is a JSON {found}; a value must be text, a number, true/false or null"
    )]
    BadMetadataValue {
        /// The metadata key.
        key: String,
        /// What was found: `array` or `object`.
        found: &'static str,
    },
    /// A protect threshold outside `0.0..=1.0`.
    #[error("protect threshold {0} must be a number from 0 to 1")]
    BadProtectThreshold(f32),
}

/// Cuts a value for an error message so a megabyte of garbage does not end up in a log line.
pub(crate) fn excerpt(value: &str) -> String {
    const KEEP: usize = 64;
    if value.len() <= KEEP {
        return value.to_owned();
    }
    let mut end = KEEP;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &value[..end])
}

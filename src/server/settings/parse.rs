//! How a setting's text becomes a value, and how a value is printed back as TOML. Each parser
//! takes the name the error should give the setting (`--port`, `NACRE_PORT`, or the key and
//! file) and refuses with what it expected.

use super::super::config::{ConfigError, SecretSource};
use crate::cluster::ClusterSecret;
use crate::persist::CommitPolicy;
use std::net::IpAddr;
use std::time::Duration;

pub(super) fn port_value(port: u16) -> toml::Value {
    toml::Value::Integer(i64::from(port))
}

pub(super) fn count_value(n: usize) -> toml::Value {
    toml::Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

pub(super) fn text(s: impl Into<String>) -> toml::Value {
    toml::Value::String(s.into())
}

/// A duration as [`parse_duration`] reads it back: whole hours, minutes or seconds when it
/// is one, milliseconds otherwise.
pub(super) fn duration_value(d: Duration) -> toml::Value {
    let ms = d.as_millis();
    let shown = if ms == 0 {
        "0s".to_owned()
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    };
    text(shown)
}

pub(super) fn parse_secret(setting: &str, value: &str) -> Result<SecretSource, ConfigError> {
    ClusterSecret::new(value.trim())
        .map(SecretSource::Inline)
        .map_err(|source| ConfigError::BadSecret {
            setting: setting.to_owned(),
            source,
        })
}

pub(super) fn parse_flag(setting: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        _ => Err(bad(setting, value, "true or false")),
    }
}

fn bad(setting: &str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::BadValue {
        setting: setting.to_owned(),
        value: value.to_owned(),
        expected,
    }
}

pub(super) fn parse_port(setting: &str, value: &str) -> Result<u16, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| bad(setting, value, "a port number (0-65535)"))
}

pub(super) fn parse_count(setting: &str, value: &str) -> Result<usize, ConfigError> {
    value
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| bad(setting, value, "a whole number above 0"))
}

/// A count from 0 up (where 0 turns something off).
pub(super) fn parse_count_or_zero(setting: &str, value: &str) -> Result<usize, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| bad(setting, value, "a whole number (0 turns it off)"))
}

/// A count that fits a `u32` (HTTP/2 settings).
pub(super) fn parse_count_u32(setting: &str, value: &str) -> Result<u32, ConfigError> {
    let n = parse_count(setting, value)?;
    u32::try_from(n).map_err(|_| bad(setting, value, "a whole number from 1 to 4294967295"))
}

/// A duration above zero: a whole number with a unit, `ms`, `s`, `m` or `h` (`500ms`, `30s`,
/// `5m`); a bare number is seconds.
pub(in crate::server) fn parse_duration(
    setting: &str,
    value: &str,
) -> Result<Duration, ConfigError> {
    let expected = "a duration above 0, e.g. 500ms, 30s, 5m or 1h (a bare number is seconds)";
    let v = value.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad(setting, value, expected))?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(bad(setting, value, expected)),
    };
    if d.is_zero() {
        return Err(bad(setting, value, expected));
    }
    Ok(d)
}

pub(super) fn parse_bind(setting: &str, value: &str) -> Result<IpAddr, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| bad(setting, value, "an IP address"))
}

pub(super) fn parse_commit(setting: &str, value: &str) -> Result<CommitPolicy, ConfigError> {
    match value.trim() {
        "group" => Ok(CommitPolicy::group()),
        "per-write" => Ok(CommitPolicy::per_write()),
        _ => Err(bad(setting, value, "`group` or `per-write`")),
    }
}

/// A comma-separated list, blanks left out.
pub(super) fn parse_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A file path, not blank.
pub(super) fn parse_path(setting: &str, value: &str) -> Result<std::path::PathBuf, ConfigError> {
    match value.trim() {
        "" => Err(bad(setting, value, "a file path")),
        path => Ok(std::path::PathBuf::from(path)),
    }
}

/// A list as TOML (`None` when empty: left out of `--print-config`).
/// Address blocks, comma separated (`10.0.0.0/8,fd00::/8`; a bare address is its own block).
pub(super) fn parse_cidrs(
    setting: &str,
    value: &str,
) -> Result<Vec<crate::front::cidr::Cidr>, ConfigError> {
    parse_list(value)
        .iter()
        .map(|block| {
            crate::front::cidr::Cidr::parse(block).ok_or_else(|| {
                bad(
                    setting,
                    block,
                    "an address block, e.g. 10.0.0.0/8 or fd00::/8 (a bare address is its own block)",
                )
            })
        })
        .collect()
}

pub(super) fn list_value(items: &[String]) -> Option<toml::Value> {
    (!items.is_empty()).then(|| toml::Value::Array(items.iter().cloned().map(text).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_units_and_print_back_the_same() {
        for (text, d) in [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("30", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("2h", Duration::from_secs(7200)),
        ] {
            let parsed = parse_duration("--x", text).unwrap();
            assert_eq!(parsed, d, "{text}");
            let shown = duration_value(parsed);
            let again = parse_duration("--x", shown.as_str().unwrap()).unwrap();
            assert_eq!(again, d, "{text} printed as {shown}");
        }
        for bad in ["0s", "", "s", "1.5s", "-1s", "10 parsecs", "1d"] {
            let err = parse_duration("--x", bad).unwrap_err();
            assert!(err.to_string().contains("--x"), "{bad}: {err}");
        }
    }
}

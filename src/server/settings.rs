//! The settings of `nacre-server`, once: each one's file key (also its flag, after `--`), its
//! environment variable, how a value is parsed into a [`ServerConfig`], and how it is printed
//! back. The file, the environment and the flags all go through [`SETTINGS`], so a setting
//! added here (and as a field of [`super::flags::Flags`]) works in all three, in
//! `--print-config` and in its error messages.

use super::config::{ConfigError, SecretSource, ServerConfig};
use crate::cluster::ClusterSecret;
use crate::persist::CommitPolicy;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One setting.
pub(super) struct Setting {
    /// Its key in the file, and its flag without the leading `--`.
    pub(super) key: &'static str,
    /// Its environment variable.
    pub(super) env: &'static str,
    /// Parses `value` into the config; `name` is what errors call the setting (the flag, the
    /// variable, or the key and file).
    pub(super) apply: fn(&mut ServerConfig, name: &str, value: &str) -> Result<(), ConfigError>,
    /// Its value in force, as TOML, for `--print-config` (`None`: not set; left out).
    pub(super) show: fn(&ServerConfig) -> Option<toml::Value>,
}

/// The keys of the two ways to give the cluster secret, which one source may not both give.
pub(super) const SECRET_KEYS: [&str; 2] = ["cluster-secret", "cluster-secret-file"];

fn port_value(port: u16) -> toml::Value {
    toml::Value::Integer(i64::from(port))
}

fn count_value(n: usize) -> toml::Value {
    toml::Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn text(s: impl Into<String>) -> toml::Value {
    toml::Value::String(s.into())
}

/// A duration as [`parse_duration`] reads it back: whole seconds as `"300s"`, else
/// milliseconds (`"1500ms"`).
fn duration_value(d: Duration) -> toml::Value {
    if d.subsec_nanos() == 0 {
        text(format!("{}s", d.as_secs()))
    } else {
        text(format!("{}ms", d.as_millis()))
    }
}

/// Every setting, in the order `--print-config` prints them.
pub(super) const SETTINGS: &[Setting] = &[
    Setting {
        key: "port",
        env: "NACRE_PORT",
        apply: |c, name, v| {
            c.port = parse_port(name, v)?;
            Ok(())
        },
        show: |c| Some(port_value(c.port)),
    },
    Setting {
        key: "grpc-port",
        env: "NACRE_GRPC_PORT",
        apply: |c, name, v| {
            c.grpc_port = Some(parse_port(name, v)?);
            Ok(())
        },
        show: |c| c.grpc_port.map(port_value),
    },
    Setting {
        key: "bind",
        env: "NACRE_BIND",
        apply: |c, name, v| {
            c.bind = parse_bind(name, v)?;
            Ok(())
        },
        show: |c| Some(text(c.bind.to_string())),
    },
    Setting {
        key: "node-id",
        env: "NACRE_NODE_ID",
        apply: |c, _, v| {
            c.node_id = Some(v.trim().to_owned());
            Ok(())
        },
        show: |c| c.node_id.clone().map(text),
    },
    Setting {
        key: "members",
        env: "NACRE_MEMBERS",
        apply: |c, _, v| {
            c.members = parse_members(v);
            Ok(())
        },
        show: |c| {
            (!c.members.is_empty())
                .then(|| toml::Value::Array(c.members.iter().cloned().map(text).collect()))
        },
    },
    Setting {
        key: "cluster-secret-file",
        env: "NACRE_CLUSTER_SECRET_FILE",
        apply: |c, _, v| {
            c.cluster_secret = Some(SecretSource::File(PathBuf::from(v.trim())));
            Ok(())
        },
        show: |c| match &c.cluster_secret {
            Some(SecretSource::File(path)) => Some(text(path.display().to_string())),
            _ => None,
        },
    },
    Setting {
        key: "cluster-secret",
        env: "NACRE_CLUSTER_SECRET",
        apply: |c, name, v| {
            c.cluster_secret = Some(parse_secret(name, v)?);
            Ok(())
        },
        // Never printed: see `ServerConfig::to_toml`.
        show: |_| None,
    },
    Setting {
        key: "insecure-cluster",
        env: "NACRE_INSECURE_CLUSTER",
        apply: |c, name, v| {
            c.insecure_cluster = parse_flag(name, v)?;
            Ok(())
        },
        show: |c| Some(toml::Value::Boolean(c.insecure_cluster)),
    },
    Setting {
        key: "peer-port",
        env: "NACRE_PEER_PORT",
        apply: |c, name, v| {
            c.peer_port = Some(parse_port(name, v)?);
            Ok(())
        },
        show: |c| c.peer_port.map(port_value),
    },
    Setting {
        key: "data-dir",
        env: "NACRE_DATA_DIR",
        apply: |c, _, v| {
            c.data_dir = Some(PathBuf::from(v.trim()));
            Ok(())
        },
        show: |c| c.data_dir.as_ref().map(|d| text(d.display().to_string())),
    },
    Setting {
        key: "commit",
        env: "NACRE_COMMIT",
        apply: |c, name, v| {
            c.commit = parse_commit(name, v)?;
            Ok(())
        },
        show: |c| {
            Some(text(if c.commit == CommitPolicy::per_write() {
                "per-write"
            } else {
                "group"
            }))
        },
    },
    Setting {
        key: "grpc-max-subscriptions-per-connection",
        env: "NACRE_GRPC_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        apply: |c, name, v| {
            c.grpc_max_subscriptions_per_connection = parse_count(name, v)?;
            Ok(())
        },
        show: |c| Some(count_value(c.grpc_max_subscriptions_per_connection)),
    },
    Setting {
        key: "grpc-max-subscriptions",
        env: "NACRE_GRPC_MAX_SUBSCRIPTIONS",
        apply: |c, name, v| {
            c.grpc_max_subscriptions = parse_count(name, v)?;
            Ok(())
        },
        show: |c| Some(count_value(c.grpc_max_subscriptions)),
    },
    Setting {
        key: "tombstone-ttl",
        env: "NACRE_TOMBSTONE_TTL",
        apply: |c, name, v| {
            c.tombstone_ttl = parse_duration(name, v)?;
            Ok(())
        },
        show: |c| Some(duration_value(c.tombstone_ttl)),
    },
];

/// The setting with file key (or flag name without `--`) `key`.
pub(super) fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// Applies one source's `(setting, name for errors, value)` triples to `config`, in order.
/// One source may not give both ways of passing the cluster secret; a later source's secret
/// replaces an earlier one's.
pub(super) fn apply_source(
    config: &mut ServerConfig,
    values: &[(&'static Setting, String, String)],
) -> Result<(), ConfigError> {
    let mut secrets = values
        .iter()
        .filter(|(s, _, _)| SECRET_KEYS.contains(&s.key));
    if let (Some((a, first, _)), Some((b, second, _))) = (secrets.next(), secrets.next()) {
        if a.key != b.key {
            return Err(ConfigError::Conflicting {
                first: first.clone(),
                second: second.clone(),
            });
        }
    }
    for (setting, name, value) in values {
        (setting.apply)(config, name, value)?;
    }
    Ok(())
}

/// The environment's values: each setting's variable, if set and not blank.
pub(super) fn from_env(
    env: &impl Fn(&str) -> Option<String>,
) -> Vec<(&'static Setting, String, String)> {
    SETTINGS
        .iter()
        .filter_map(|s| {
            let value = env(s.env).filter(|v| !v.trim().is_empty())?;
            Some((s, s.env.to_owned(), value))
        })
        .collect()
}

/// The values of the TOML file at `path`: every key must be a setting.
pub(super) fn from_file(
    path: &Path,
) -> Result<Vec<(&'static Setting, String, String)>, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::File {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    let mut values = Vec::with_capacity(table.len());
    for (key, value) in table {
        let Some(setting) = find(&key) else {
            return Err(ConfigError::UnknownKey {
                key,
                path: shown,
                known: SETTINGS
                    .iter()
                    .map(|s| s.key)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let name = format!("`{key}` in {shown}");
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) if key == "members" => {
                let mut names = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        toml::Value::String(s) => names.push(s),
                        other => {
                            return Err(ConfigError::BadValue {
                                setting: name,
                                value: other.to_string(),
                                expected: "member ids as strings, e.g. [\"10.0.0.1:8848\"]",
                            })
                        }
                    }
                }
                names.join(",")
            }
            other => {
                return Err(ConfigError::BadValue {
                    setting: name,
                    value: other.to_string(),
                    expected: "a string, a whole number or a boolean",
                })
            }
        };
        values.push((setting, name, value));
    }
    // The file's order is the table's (key order); conflicts do not depend on it.
    Ok(values)
}

fn parse_secret(setting: &str, value: &str) -> Result<SecretSource, ConfigError> {
    ClusterSecret::new(value.trim())
        .map(SecretSource::Inline)
        .map_err(|source| ConfigError::BadSecret {
            setting: setting.to_owned(),
            source,
        })
}

fn parse_flag(setting: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        _ => Err(ConfigError::BadValue {
            setting: setting.to_owned(),
            value: value.to_owned(),
            expected: "true or false",
        }),
    }
}

fn parse_port(setting: &str, value: &str) -> Result<u16, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::BadValue {
        setting: setting.to_owned(),
        value: value.to_owned(),
        expected: "a port number (0-65535)",
    })
}

fn parse_count(setting: &str, value: &str) -> Result<usize, ConfigError> {
    value
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ConfigError::BadValue {
            setting: setting.to_owned(),
            value: value.to_owned(),
            expected: "a whole number above 0",
        })
}

/// A duration above zero: a whole number of seconds (`300`), or a whole number with a unit,
/// `ms`, `s`, `m` or `h` (`1500ms`, `300s`, `5m`, `1h`).
fn parse_duration(setting: &str, value: &str) -> Result<Duration, ConfigError> {
    let bad = || ConfigError::BadValue {
        setting: setting.to_owned(),
        value: value.to_owned(),
        expected: "a duration above 0: seconds (300) or a number with ms, s, m or h (1500ms, 5m)",
    };
    let v = value.trim();
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (number, unit) = v.split_at(digits);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let d = match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
        "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(bad());
    }
    Ok(d)
}

fn parse_bind(setting: &str, value: &str) -> Result<IpAddr, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::BadValue {
        setting: setting.to_owned(),
        value: value.to_owned(),
        expected: "an IP address",
    })
}

fn parse_commit(setting: &str, value: &str) -> Result<CommitPolicy, ConfigError> {
    match value.trim() {
        "group" => Ok(CommitPolicy::group()),
        "per-write" => Ok(CommitPolicy::per_write()),
        _ => Err(ConfigError::BadValue {
            setting: setting.to_owned(),
            value: value.to_owned(),
            expected: "`group` or `per-write`",
        }),
    }
}

fn parse_members(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect()
}

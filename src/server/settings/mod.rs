//! The settings of `nacre-server`, once: each one's file key (also its flag, after `--`), its
//! environment variable, how a value is parsed into a [`ServerConfig`], and how it is printed
//! back. The file, the environment and the flags (built from the same list) all go through
//! [`SETTINGS`], so a setting added there works in all three, in `--help`, in
//! `--print-config` and in its error messages.
//!
//! | file | job |
//! | --- | --- |
//! | `list.rs` | [`SETTINGS`]: every setting, once |
//! | `macros.rs` | the shapes most settings share (a count, a duration, a path, a switch) |
//! | `parse.rs` | the parsers (each error names the setting as its source spells it) and printers |
//! | `mod.rs` | [`Setting`], and reading each source: file, environment, flags' values |

#[macro_use]
mod macros;
mod list;
mod parse;

pub(super) use list::SETTINGS;
pub(super) use parse::parse_duration;

use super::config::{ConfigError, ServerConfig};
use std::path::Path;

/// One setting.
pub(super) struct Setting {
    /// Its key in the file, and its flag without the leading `--`.
    pub(super) key: &'static str,
    /// Its environment variable.
    pub(super) env: &'static str,
    /// What `--help` calls its value (`N`, `DURATION`, `ADDR`).
    pub(super) value_name: &'static str,
    /// Its line in `--help`.
    pub(super) help: &'static str,
    /// Its default as `--help` says it, when the printed default would not say it well
    /// (`None`: the default config's printed value).
    pub(super) default: Option<&'static str>,
    /// A switch: `--flag` alone means `true` (`--flag=false` is allowed).
    pub(super) switch: bool,
    /// Parses `value` into the config; `name` is what errors call the setting (the flag, the
    /// variable, or the key and file).
    pub(super) apply: fn(&mut ServerConfig, name: &str, value: &str) -> Result<(), ConfigError>,
    /// Its value in force, as TOML, for `--print-config` (`None`: not set; left out).
    pub(super) show: fn(&ServerConfig) -> Option<toml::Value>,
}

/// The keys of the two ways to give the cluster secret, which one source may not both give.
pub(super) const SECRET_KEYS: [&str; 2] = ["cluster-secret", "cluster-secret-file"];

/// The settings whose file value may be a TOML array of strings (or one comma-separated
/// string).
/// On the command line they may also be repeated.
pub(super) const LIST_KEYS: [&str; 3] = ["members", "allowed-hosts", "probe-deny"];

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
            toml::Value::Array(items) if LIST_KEYS.contains(&key.as_str()) => {
                let mut names = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        toml::Value::String(s) => names.push(s),
                        other => {
                            return Err(ConfigError::BadValue {
                                setting: name,
                                value: other.to_string(),
                                expected: "a list of strings, e.g. [\"10.0.0.1:8848\"]",
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

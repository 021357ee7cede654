//! [`Flags`]: the command line of `nacre-server`, parsed by clap and built from
//! [`super::settings::SETTINGS`]: each value flag is a setting (same name, without `--`), kept
//! as text here and parsed there, so a flag, its environment variable and its file key share
//! one parser and one error message, and `--help` lists every setting with its variable and
//! default.

use super::config::{ConfigError, ServerConfig};
use super::settings::{Setting, LIST_KEYS, SETTINGS};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command};
use std::path::PathBuf;

/// What follows the flags in `--help`.
const NOTES: &str = "\
Settings come from, each overriding the one before: the defaults, the file (--config or
NACRE_CONFIG), the environment variables (NACRE_*), the flags. The file is TOML with the flags'
names as keys, e.g.

    port = 8848
    members = [\"10.0.0.1:8848\", \"10.0.0.2:8848\", \"10.0.0.3:8848\"]
    cluster-secret-file = \"/etc/nacre/cluster.secret\"
    data-dir = \"/var/lib/nacre\"

--print-config prints the settings in force in that form.

Without members the node runs standalone. A cluster member sends the cluster secret with every
peer request and refuses requests without it (403); it does not start without one unless given
--insecure-cluster. The secret crosses the network in clear: serve the peer route (--peer-port)
only where members, not arbitrary clients, can reach it.

Without --data-dir everything lives in memory, and a restart loses persistent (ephemeral=false)
instances and service settings; ephemeral instances are never written (their beats rebuild
them). A damaged store stops the start with a message naming the file.

Prometheus metrics are served at GET /metrics.";

/// The command line of `nacre-server`: `--config`, `--print-config`, and the settings given.
pub(super) struct Flags {
    /// TOML file of settings.
    pub(super) config: Option<PathBuf>,
    /// Print the settings in force and exit.
    pub(super) print_config: bool,
    values: Vec<(&'static Setting, String, String)>,
}

/// The help line of `setting`: its text, its variable and its default.
fn help_line(setting: &Setting) -> String {
    let default = match setting.default {
        Some(text) => text.to_owned(),
        None => (setting.show)(&ServerConfig::default()).map_or_else(
            || "none".to_owned(),
            |v| match v {
                toml::Value::String(s) => s,
                other => other.to_string(),
            },
        ),
    };
    format!("{} [{}; default {default}]", setting.help, setting.env)
}

fn command() -> Command {
    let mut command = Command::new("nacre-server")
        .about("A nacre registry node speaking the Nacos naming API (v1 HTTP, 2.x gRPC)")
        .after_help(NOTES)
        .args_override_self(true)
        .disable_version_flag(true)
        .arg(
            Arg::new("config")
                .long("config")
                .value_name("PATH")
                .help("TOML file of settings (keys: the flags' names without `--`) [NACRE_CONFIG]"),
        )
        .arg(
            Arg::new("print-config")
                .long("print-config")
                .action(ArgAction::SetTrue)
                .help("Print the settings in force (file, environment and flags applied) as TOML, and exit"),
        );
    for setting in SETTINGS {
        let mut arg = Arg::new(setting.key)
            .long(setting.key)
            .value_name(setting.value_name)
            .help(help_line(setting));
        if setting.switch {
            arg = arg
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true");
        }
        if LIST_KEYS.contains(&setting.key) {
            arg = arg.action(ArgAction::Append);
        }
        command = command.arg(arg);
    }
    command
}

impl Flags {
    /// Parses `args` (without the program name).
    pub(super) fn read(args: impl IntoIterator<Item = String>) -> Result<Self, ConfigError> {
        let argv = std::iter::once("nacre-server".to_owned()).chain(args);
        let matches = command().try_get_matches_from(argv).map_err(from_clap)?;
        let values = SETTINGS
            .iter()
            .filter_map(|setting| {
                // A list flag may be repeated: its values join as one list.
                let values: Vec<&String> = matches.get_many::<String>(setting.key)?.collect();
                let value = values
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(",");
                Some((setting, format!("--{}", setting.key), value))
            })
            .collect();
        Ok(Self {
            config: matches.get_one::<String>("config").map(PathBuf::from),
            print_config: matches.get_flag("print-config"),
            values,
        })
    }

    /// The settings given, as `(setting, flag, value)`, in [`SETTINGS`] order.
    pub(super) fn values(&self) -> Vec<(&'static Setting, String, String)> {
        self.values.clone()
    }
}

/// The help text of `nacre-server` (`--help`).
pub(super) fn help() -> String {
    command().render_help().to_string()
}

/// clap's refusal as a [`ConfigError`].
fn from_clap(e: clap::Error) -> ConfigError {
    let arg = || match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.split_whitespace().next().unwrap_or(s).to_owned(),
        _ => String::new(),
    };
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            ConfigError::Help
        }
        ErrorKind::UnknownArgument => ConfigError::UnknownFlag(arg()),
        ErrorKind::InvalidValue if matches!(e.get(ContextKind::InvalidValue), Some(ContextValue::String(v)) if v.is_empty()) => {
            ConfigError::MissingValue(arg())
        }
        _ => ConfigError::Flags(e.render().to_string().trim().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_a_flag_with_its_variable_in_the_help() {
        command().debug_assert();
        let help = help();
        for setting in SETTINGS {
            assert!(
                help.contains(&format!("--{}", setting.key)),
                "{}",
                setting.key
            );
            assert!(help.contains(setting.env), "{}", setting.env);
        }
        let all: Vec<String> = SETTINGS.iter().map(|s| format!("--{}=1", s.key)).collect();
        let parsed = Flags::read(all).unwrap();
        assert_eq!(parsed.values().len(), SETTINGS.len());
    }

    #[test]
    fn a_switch_alone_means_true() {
        let flags = Flags::read(["--insecure-cluster".to_owned()]).unwrap();
        assert_eq!(flags.values()[0].2, "true");
    }
}

//! [`Flags`]: the command line of `nacre-server`, parsed by clap. Each value flag is a
//! setting of [`super::settings::SETTINGS`] (same name, without `--`), kept as text here and
//! parsed there, so a flag, its environment variable and its file key share one parser and
//! one error message.

use super::config::ConfigError;
use super::settings::{find, Setting};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};
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

/// The command line of `nacre-server`.
#[derive(Debug, Parser)]
#[command(
    name = "nacre-server",
    about = "A nacre registry node speaking the Nacos naming API (v1 HTTP, 2.x gRPC)",
    after_help = NOTES,
    args_override_self = true,
    disable_version_flag = true
)]
pub(super) struct Flags {
    /// TOML file of settings (keys: the flags' names without `--`) [NACRE_CONFIG]
    #[arg(long, value_name = "PATH")]
    pub(super) config: Option<PathBuf>,
    /// Print the settings in force (file, environment and flags applied) as TOML, and exit
    #[arg(long)]
    pub(super) print_config: bool,
    /// Port to listen on, 0 for any free one [NACRE_PORT; default 8848]
    #[arg(long, value_name = "N")]
    port: Option<String>,
    /// Port of the Nacos 2.x gRPC API (feature grpc) [NACRE_GRPC_PORT; default PORT+1000]
    #[arg(long, value_name = "N")]
    grpc_port: Option<String>,
    /// Address to listen on [NACRE_BIND; default 127.0.0.1]
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// This member's id, the host:port peers reach it at [NACRE_NODE_ID; default BIND:PORT, or
    /// BIND:PEER-PORT]
    #[arg(long, value_name = "HOST:PORT")]
    node_id: Option<String>,
    /// Cluster members, comma separated, this node included (--node-id must be one of them)
    /// [NACRE_MEMBERS; default none: standalone]
    #[arg(long, value_name = "HOST:PORT,...")]
    members: Option<String>,
    /// File holding the cluster's shared secret (16 to 1024 visible ASCII characters)
    /// [NACRE_CLUSTER_SECRET_FILE]
    #[arg(long, value_name = "PATH")]
    cluster_secret_file: Option<String>,
    /// The secret itself; shows in `ps`, prefer the file [NACRE_CLUSTER_SECRET]
    #[arg(long, value_name = "S")]
    cluster_secret: Option<String>,
    /// Run a cluster member without a secret: anything that reaches the peer route can act as
    /// a member [NACRE_INSECURE_CLUSTER=true]
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    insecure_cluster: Option<String>,
    /// Serve peer traffic on a port of its own (node ids are then BIND:PEER-PORT)
    /// [NACRE_PEER_PORT; default: the client port]
    #[arg(long, value_name = "N")]
    peer_port: Option<String>,
    /// Keep persistent instances and service settings in DIR/nacre.redb, loaded at start (a
    /// write answers once it is on disk) [NACRE_DATA_DIR; default none: memory only]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// With --data-dir: `group` (writes arriving together share one fsync) or `per-write` (one
    /// fsync each; for measurements) [NACRE_COMMIT; default group]
    #[arg(long, value_name = "MODE")]
    commit: Option<String>,
    /// Push subscriptions one gRPC connection may hold; more are refused with 429
    /// [NACRE_GRPC_MAX_SUBSCRIPTIONS_PER_CONNECTION; default 5000]
    #[arg(long, value_name = "N")]
    grpc_max_subscriptions_per_connection: Option<String>,
    /// Push subscriptions the gRPC front holds over all connections; more are refused with 503
    /// [NACRE_GRPC_MAX_SUBSCRIPTIONS; default 100000]
    #[arg(long, value_name = "N")]
    grpc_max_subscriptions: Option<String>,
    /// How long a removal is remembered, so a stale copy from a peer cannot bring it back:
    /// seconds, or with a unit (1500ms, 5m); in a cluster, removals of persistent data are
    /// kept longer, until every member has been up for this long [NACRE_TOMBSTONE_TTL;
    /// default 300s]
    #[arg(long, value_name = "DURATION")]
    tombstone_ttl: Option<String>,
}

impl Flags {
    /// Parses `args` (without the program name).
    pub(super) fn read(args: impl IntoIterator<Item = String>) -> Result<Self, ConfigError> {
        let argv = std::iter::once("nacre-server".to_owned()).chain(args);
        Flags::try_parse_from(argv).map_err(from_clap)
    }

    /// The settings given, as `(setting, flag, value)`, in [`super::settings::SETTINGS`]
    /// order.
    pub(super) fn values(&self) -> Vec<(&'static Setting, String, String)> {
        [
            ("port", &self.port),
            ("grpc-port", &self.grpc_port),
            ("bind", &self.bind),
            ("node-id", &self.node_id),
            ("members", &self.members),
            ("cluster-secret-file", &self.cluster_secret_file),
            ("cluster-secret", &self.cluster_secret),
            ("insecure-cluster", &self.insecure_cluster),
            ("peer-port", &self.peer_port),
            ("data-dir", &self.data_dir),
            ("commit", &self.commit),
            (
                "grpc-max-subscriptions-per-connection",
                &self.grpc_max_subscriptions_per_connection,
            ),
            ("grpc-max-subscriptions", &self.grpc_max_subscriptions),
            ("tombstone-ttl", &self.tombstone_ttl),
        ]
        .into_iter()
        .filter_map(|(key, value)| {
            let value = value.clone()?;
            // Every key above is one of SETTINGS (a unit test checks it).
            let setting = find(key)?;
            Some((setting, format!("--{key}"), value))
        })
        .collect()
    }
}

/// The help text of `nacre-server` (`--help`).
pub(super) fn help() -> String {
    Flags::command().render_help().to_string()
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
    fn every_flag_is_a_setting_and_every_setting_a_flag() {
        let flags = Flags::command();
        for setting in super::super::settings::SETTINGS {
            let id = setting.key.replace('-', "_");
            assert!(
                flags.get_arguments().any(|a| a.get_id() == id.as_str()),
                "no flag for {}",
                setting.key
            );
        }
        let all: Vec<String> = super::super::settings::SETTINGS
            .iter()
            .map(|s| format!("--{}=1", s.key))
            .collect();
        let parsed = Flags::read(all).unwrap();
        assert_eq!(
            parsed.values().len(),
            super::super::settings::SETTINGS.len()
        );
        flags.debug_assert();
    }
}

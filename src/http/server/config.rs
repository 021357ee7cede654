//! [`ServerConfig`]: what `nacre-server` runs, from its flags and environment.

use super::super::serve::ServeConfig;
use crate::cluster::{ClusterSecret, NodeId, PeerAuth, SecretError};
use crate::model::ValidationError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// The help text of `nacre-server`.
pub const USAGE: &str = "\
nacre-server: a nacre registry node speaking the Nacos naming API (v1 HTTP, 2.x gRPC)

USAGE:
    nacre-server [--port N] [--grpc-port N] [--bind ADDR] [--node-id HOST:PORT] [--members HOST:PORT,...]
                 [--cluster-secret-file PATH | --insecure-cluster] [--peer-port N]
                 [--data-dir DIR [--commit group|per-write]]

FLAGS (each may also be set by the environment variable shown; a flag wins):
    --port N           port to listen on, 0 for any free one        [NACRE_PORT, default 8848]
    --grpc-port N      port of the Nacos 2.x gRPC API (built with    [NACRE_GRPC_PORT, default PORT+1000]
                       feature grpc)
    --bind ADDR        address to listen on                         [NACRE_BIND, default 127.0.0.1]
    --node-id ID       this member's id, the host:port peers reach  [NACRE_NODE_ID, default BIND:PORT,
                                                                     or BIND:PEER-PORT]
    --members LIST     cluster members, comma separated, this node  [NACRE_MEMBERS, default none:
                       included (--node-id must be one of them)      standalone]
    --cluster-secret-file PATH
                       file holding the cluster's shared secret     [NACRE_CLUSTER_SECRET_FILE]
                       (16 to 1024 visible ASCII characters)
    --cluster-secret S the secret itself; shows in `ps`, prefer the [NACRE_CLUSTER_SECRET]
                       file
    --insecure-cluster run a cluster member without a secret:       [NACRE_INSECURE_CLUSTER=true]
                       anything that reaches the peer route can act
                       as a member
    --peer-port N      serve peer traffic on a port of its own      [NACRE_PEER_PORT, default: the
                       (node ids are then BIND:PEER-PORT)            client port]
    --data-dir DIR     keep persistent instances and service         [NACRE_DATA_DIR, default none:
                       settings in DIR/nacre.redb, loaded at start   memory only]
                       (a write answers once it is on disk)
    --commit MODE      with --data-dir: `group` (writes arriving     [NACRE_COMMIT, default group]
                       together share one fsync) or `per-write`
                       (one fsync each; for measurements)
    -h, --help         print this help

Without members the node runs standalone. A cluster member sends the cluster secret with every
peer request and refuses requests without it (403); it does not start without one unless given
--insecure-cluster. The secret crosses the network in clear: serve the peer route (--peer-port)
only where members, not arbitrary clients, can reach it.

Without --data-dir everything lives in memory, and a restart loses persistent (ephemeral=false)
instances and service settings; ephemeral instances are never written (their beats rebuild
them). A damaged store stops the start with a message naming the file.";

/// Why the flags or environment were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `--help` was asked for.
    #[error("help requested")]
    Help,
    /// A flag that is not known.
    #[error("unknown flag `{0}`")]
    UnknownFlag(String),
    /// A flag without its value.
    #[error("flag `{0}` needs a value")]
    MissingValue(String),
    /// A value that does not fit its flag.
    #[error("`{value}` is not a valid value for {setting}: expected {expected}")]
    BadValue {
        /// The flag or variable.
        setting: String,
        /// The value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A node or member id that is not valid.
    #[error("bad node id: {0}")]
    BadNodeId(#[from] ValidationError),
    /// A cluster member needs an id its peers can reach.
    #[error(
        "a cluster member needs --node-id when it binds to {0} (peers cannot reach that address) or to port 0"
    )]
    NeedsNodeId(String),
    /// A cluster member was given neither a secret nor `--insecure-cluster`.
    #[error(
        "a cluster member needs the cluster's shared secret, so that only members can use its \
         peer route: put one (16 to 1024 visible ASCII characters, e.g. from `openssl rand -hex \
         32`) in a file only nacre-server can read, the same on every member, and pass \
         --cluster-secret-file PATH (or NACRE_CLUSTER_SECRET_FILE; --cluster-secret and \
         NACRE_CLUSTER_SECRET work too, but show in `ps` or the environment); to run without \
         one, on a network only members can reach, pass --insecure-cluster"
    )]
    NoClusterSecret,
    /// A cluster secret that is not usable.
    #[error("{setting}: {source}")]
    BadSecret {
        /// The flag or variable.
        setting: String,
        /// What is wrong with it.
        #[source]
        source: SecretError,
    },
    /// Two settings that exclude each other.
    #[error("{first} and {second} exclude each other: give one")]
    Conflicting {
        /// One.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
    /// This node's id is not one of the members: its peers would refuse it.
    #[error(
        "this node's id `{node_id}` is not one of --members ({members}): every member's \
         --members must list every member, this one included; set --node-id to this node's \
         entry in --members (the host:port its peers reach it at), or add `{node_id}` to \
         --members on every member"
    )]
    NotAMember {
        /// This node's id.
        node_id: String,
        /// The members given, comma separated.
        members: String,
    },
}

/// Where a cluster member's secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Given as it is (`--cluster-secret`, `NACRE_CLUSTER_SECRET`).
    Inline(ClusterSecret),
    /// Read from this file at start (`--cluster-secret-file`, `NACRE_CLUSTER_SECRET_FILE`).
    File(PathBuf),
}

/// What `nacre-server` runs: see [`USAGE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on (default 127.0.0.1).
    pub bind: IpAddr,
    /// Port to listen on (default 8848; 0 for any free port).
    pub port: u16,
    /// This member's id (default `bind:port`, or `bind:peer_port`).
    pub node_id: Option<String>,
    /// The cluster members; empty for a standalone node.
    pub members: Vec<String>,
    /// The port of the Nacos 2.x gRPC API (feature `grpc`); default the HTTP port + 1000, as
    /// Nacos clients expect it (any free port when the HTTP port is 0).
    pub grpc_port: Option<u16>,
    /// Timeouts and caps of the HTTP listener (see [`super::serve`]).
    pub serve: ServeConfig,
    /// The cluster's shared secret (a cluster member needs it, or `insecure_cluster`).
    pub cluster_secret: Option<SecretSource>,
    /// Run a cluster member without a secret.
    pub insecure_cluster: bool,
    /// A port of its own for peer traffic; default: the client port.
    pub peer_port: Option<u16>,
    /// Where persistent instances and service settings are kept (`--data-dir`); `None`:
    /// memory only.
    pub data_dir: Option<PathBuf>,
    /// How commits to the data directory are batched (`--commit`).
    pub commit: crate::persist::CommitPolicy,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8848,
            node_id: None,
            members: Vec::new(),
            grpc_port: None,
            serve: ServeConfig::default(),
            cluster_secret: None,
            insecure_cluster: false,
            peer_port: None,
            data_dir: None,
            commit: crate::persist::CommitPolicy::default(),
        }
    }
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

fn parse_bind(setting: &str, value: &str) -> Result<IpAddr, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::BadValue {
        setting: setting.to_owned(),
        value: value.to_owned(),
        expected: "an IP address",
    })
}

fn parse_commit(setting: &str, value: &str) -> Result<crate::persist::CommitPolicy, ConfigError> {
    match value.trim() {
        "group" => Ok(crate::persist::CommitPolicy::group()),
        "per-write" => Ok(crate::persist::CommitPolicy::per_write()),
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

impl ServerConfig {
    /// Reads the environment (through `env`, e.g. `|k| std::env::var(k).ok()`), then `args`
    /// (without the program name), which win. Flags take their value as the next argument or
    /// after `=`.
    pub fn from_args_and_env(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut config = ServerConfig::default();
        if let Some(v) = env("NACRE_PORT") {
            config.port = parse_port("NACRE_PORT", &v)?;
        }
        if let Some(v) = env("NACRE_BIND") {
            config.bind = parse_bind("NACRE_BIND", &v)?;
        }
        if let Some(v) = env("NACRE_NODE_ID").filter(|v| !v.trim().is_empty()) {
            config.node_id = Some(v.trim().to_owned());
        }
        if let Some(v) = env("NACRE_MEMBERS") {
            config.members = parse_members(&v);
        }
        if let Some(v) = env("NACRE_GRPC_PORT") {
            config.grpc_port = Some(parse_port("NACRE_GRPC_PORT", &v)?);
        }
        if let Some(v) = env("NACRE_PEER_PORT") {
            config.peer_port = Some(parse_port("NACRE_PEER_PORT", &v)?);
        }
        if let Some(v) = env("NACRE_DATA_DIR").filter(|v| !v.trim().is_empty()) {
            config.data_dir = Some(PathBuf::from(v.trim()));
        }
        if let Some(v) = env("NACRE_COMMIT") {
            config.commit = parse_commit("NACRE_COMMIT", &v)?;
        }
        if let Some(v) = env("NACRE_INSECURE_CLUSTER") {
            config.insecure_cluster = parse_flag("NACRE_INSECURE_CLUSTER", &v)?;
        }
        match (
            env("NACRE_CLUSTER_SECRET"),
            env("NACRE_CLUSTER_SECRET_FILE"),
        ) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflicting {
                    first: "NACRE_CLUSTER_SECRET",
                    second: "NACRE_CLUSTER_SECRET_FILE",
                })
            }
            (Some(v), None) => {
                config.cluster_secret = Some(parse_secret("NACRE_CLUSTER_SECRET", &v)?)
            }
            (None, Some(v)) => {
                config.cluster_secret = Some(SecretSource::File(PathBuf::from(v.trim())))
            }
            (None, None) => {}
        }
        // A secret given by flag replaces the environment's; two given by flag conflict.
        let mut secret_flag: Option<&'static str> = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            if flag == "-h" || flag == "--help" {
                return Err(ConfigError::Help);
            }
            if flag == "--insecure-cluster" {
                config.insecure_cluster = match inline {
                    Some(v) => parse_flag(&flag, &v)?,
                    None => true,
                };
                continue;
            }
            if !matches!(
                flag.as_str(),
                "--port"
                    | "--bind"
                    | "--node-id"
                    | "--members"
                    | "--grpc-port"
                    | "--peer-port"
                    | "--cluster-secret"
                    | "--cluster-secret-file"
                    | "--data-dir"
                    | "--commit"
            ) {
                return Err(ConfigError::UnknownFlag(arg));
            }
            let value = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| ConfigError::MissingValue(flag.clone()))?,
            };
            match flag.as_str() {
                "--port" => config.port = parse_port(&flag, &value)?,
                "--bind" => config.bind = parse_bind(&flag, &value)?,
                "--node-id" => config.node_id = Some(value.trim().to_owned()),
                "--grpc-port" => config.grpc_port = Some(parse_port(&flag, &value)?),
                "--peer-port" => config.peer_port = Some(parse_port(&flag, &value)?),
                "--data-dir" => config.data_dir = Some(PathBuf::from(value.trim())),
                "--commit" => config.commit = parse_commit(&flag, &value)?,
                "--cluster-secret" | "--cluster-secret-file" => {
                    let this = if flag == "--cluster-secret" {
                        "--cluster-secret"
                    } else {
                        "--cluster-secret-file"
                    };
                    if let Some(first) = secret_flag.filter(|f| *f != this) {
                        return Err(ConfigError::Conflicting {
                            first,
                            second: this,
                        });
                    }
                    secret_flag = Some(this);
                    config.cluster_secret = Some(if this == "--cluster-secret" {
                        parse_secret(this, &value)?
                    } else {
                        SecretSource::File(PathBuf::from(value.trim()))
                    });
                }
                _ => config.members = parse_members(&value),
            }
        }
        Ok(config)
    }

    /// How this node authenticates its peers: the secret (read from its file now, if it comes
    /// from one), or [`PeerAuth::InsecureNone`] with `--insecure-cluster`. A cluster member
    /// with neither is [`ConfigError::NoClusterSecret`], whose message says how to fix it.
    pub fn peer_auth(&self) -> Result<PeerAuth, ConfigError> {
        match (&self.cluster_secret, self.insecure_cluster) {
            (Some(_), true) => Err(ConfigError::Conflicting {
                first: "--insecure-cluster",
                second: "a cluster secret",
            }),
            (Some(SecretSource::Inline(secret)), false) => Ok(PeerAuth::Secret(secret.clone())),
            (Some(SecretSource::File(path)), false) => ClusterSecret::from_file(path)
                .map(PeerAuth::Secret)
                .map_err(|source| ConfigError::BadSecret {
                    setting: "--cluster-secret-file".to_owned(),
                    source,
                }),
            (None, true) => Ok(PeerAuth::InsecureNone),
            (None, false) => Err(ConfigError::NoClusterSecret),
        }
    }

    /// The gRPC port in force: `--grpc-port`, else the HTTP port + 1000 (0 when the HTTP
    /// port is 0). `None` when the HTTP port + 1000 is not a port.
    pub fn grpc_port(&self) -> Option<u16> {
        match (self.grpc_port, self.port) {
            (Some(p), _) => Some(p),
            (None, 0) => Some(0),
            (None, p) => p.checked_add(1000),
        }
    }

    /// Whether the node runs standalone (no members).
    pub fn is_standalone(&self) -> bool {
        self.members.is_empty()
    }

    /// This member's id: `--node-id`, else `bind:peer_port` (`bind:port` without a peer
    /// port), where its peers reach it.
    pub fn node_id(&self) -> Result<NodeId, ConfigError> {
        if let Some(id) = &self.node_id {
            return Ok(NodeId::new(id)?);
        }
        let port = self.peer_port.unwrap_or(self.port);
        if self.bind.is_unspecified() || port == 0 {
            return Err(ConfigError::NeedsNodeId(
                SocketAddr::new(self.bind, port).to_string(),
            ));
        }
        Ok(NodeId::new(&SocketAddr::new(self.bind, port).to_string())?)
    }

    /// Every member's id. The list must name this node ([`ServerConfig::node_id`]), or this
    /// is [`ConfigError::NotAMember`].
    pub fn member_ids(&self) -> Result<Vec<NodeId>, ConfigError> {
        let me = self.node_id()?;
        let mut ids = self
            .members
            .iter()
            .map(|m| NodeId::new(m))
            .collect::<Result<Vec<_>, _>>()?;
        if !ids.contains(&me) {
            return Err(ConfigError::NotAMember {
                node_id: me.to_string(),
                members: self.members.join(","),
            });
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServerConfig, ConfigError> {
        ServerConfig::from_args_and_env(args.iter().map(|s| s.to_string()), |_| None)
    }

    #[test]
    fn data_dir_and_commit_from_flag_or_environment() {
        assert_eq!(parse(&[]).unwrap().data_dir, None);
        let c = parse(&["--data-dir", "/var/lib/nacre", "--commit=per-write"]).unwrap();
        assert_eq!(c.data_dir, Some(PathBuf::from("/var/lib/nacre")));
        assert_eq!(c.commit, crate::persist::CommitPolicy::per_write());
        let env = |k: &str| (k == "NACRE_DATA_DIR").then(|| "/tmp/n".to_owned());
        let c = ServerConfig::from_args_and_env(Vec::new(), env).unwrap();
        assert_eq!(c.data_dir, Some(PathBuf::from("/tmp/n")));
        assert!(matches!(
            parse(&["--commit", "sometimes"]),
            Err(ConfigError::BadValue { .. })
        ));
    }

    #[test]
    fn defaults_are_nacos_standalone_on_loopback() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.port, 8848);
        assert_eq!(c.bind, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(c.is_standalone());
    }

    #[test]
    fn flags_win_over_environment() {
        let env = |k: &str| match k {
            "NACRE_PORT" => Some("1000".to_owned()),
            "NACRE_MEMBERS" => Some("a:1,b:2".to_owned()),
            _ => None,
        };
        let c = ServerConfig::from_args_and_env(["--port=2000".to_owned()], env).unwrap();
        assert_eq!(c.port, 2000);
        assert_eq!(c.members, vec!["a:1", "b:2"]);
    }

    #[test]
    fn bad_flags_are_refused_with_their_name() {
        assert_eq!(
            parse(&["--port", "x"]),
            Err(ConfigError::BadValue {
                setting: "--port".into(),
                value: "x".into(),
                expected: "a port number (0-65535)"
            })
        );
        assert_eq!(
            parse(&["--nope"]),
            Err(ConfigError::UnknownFlag("--nope".into()))
        );
        assert_eq!(
            parse(&["--bind"]),
            Err(ConfigError::MissingValue("--bind".into()))
        );
        assert_eq!(parse(&["-h"]), Err(ConfigError::Help));
    }

    #[test]
    fn a_member_on_an_unspecified_address_needs_a_node_id() {
        let c = parse(&["--bind", "0.0.0.0", "--members", "a:1"]).unwrap();
        assert!(matches!(c.node_id(), Err(ConfigError::NeedsNodeId(_))));
        let c = parse(&[
            "--bind",
            "0.0.0.0",
            "--members",
            "a:1,b:2",
            "--node-id",
            "b:2",
        ])
        .unwrap();
        assert_eq!(c.member_ids().unwrap().len(), 2);
    }

    #[test]
    fn a_node_id_that_is_not_one_of_the_members_is_refused_with_the_fix() {
        let c = parse(&[
            "--port",
            "9000",
            "--members",
            "127.0.0.1:9001,127.0.0.1:9002",
        ])
        .unwrap();
        let err = c.member_ids().unwrap_err();
        assert_eq!(
            err,
            ConfigError::NotAMember {
                node_id: "127.0.0.1:9000".into(),
                members: "127.0.0.1:9001,127.0.0.1:9002".into()
            }
        );
        let message = err.to_string();
        assert!(message.contains("set --node-id"), "{message}");
        let c = parse(&[
            "--node-id",
            "127.0.0.1:9001",
            "--members",
            "127.0.0.1:9001,127.0.0.1:9002",
        ])
        .unwrap();
        assert_eq!(c.member_ids().unwrap().len(), 2);
    }

    #[test]
    fn a_member_needs_a_secret_or_the_insecure_flag() {
        let members = ["--node-id", "a:1", "--members", "a:1,b:2"];
        let c = parse(&members).unwrap();
        assert_eq!(c.peer_auth(), Err(ConfigError::NoClusterSecret));
        let with = |extra: &[&str]| {
            let mut args = members.to_vec();
            args.extend_from_slice(extra);
            parse(&args)
        };
        let c = with(&["--cluster-secret", "0123456789abcdef"]).unwrap();
        assert!(matches!(c.peer_auth(), Ok(PeerAuth::Secret(_))));
        let c = with(&["--insecure-cluster"]).unwrap();
        assert_eq!(c.peer_auth(), Ok(PeerAuth::InsecureNone));
        let c = with(&["--insecure-cluster", "--cluster-secret=0123456789abcdef"]).unwrap();
        assert!(matches!(
            c.peer_auth(),
            Err(ConfigError::Conflicting { .. })
        ));
        assert!(matches!(
            with(&["--cluster-secret", "short"]),
            Err(ConfigError::BadSecret { .. })
        ));
        assert!(matches!(
            with(&[
                "--cluster-secret",
                "0123456789abcdef",
                "--cluster-secret-file",
                "/x"
            ]),
            Err(ConfigError::Conflicting { .. })
        ));
        let c = with(&["--cluster-secret-file", "/nonexistent/nacre-secret"]).unwrap();
        assert!(matches!(
            c.peer_auth(),
            Err(ConfigError::BadSecret {
                source: SecretError::File { .. },
                ..
            })
        ));
    }

    #[test]
    fn the_secret_comes_from_the_environment_unless_a_flag_gives_one() {
        let env = |k: &str| match k {
            "NACRE_MEMBERS" => Some("a:1,b:2".to_owned()),
            "NACRE_NODE_ID" => Some("a:1".to_owned()),
            "NACRE_CLUSTER_SECRET_FILE" => Some("/run/secrets/nacre".to_owned()),
            "NACRE_INSECURE_CLUSTER" => Some("false".to_owned()),
            _ => None,
        };
        let c = ServerConfig::from_args_and_env(Vec::new(), env).unwrap();
        assert_eq!(
            c.cluster_secret,
            Some(SecretSource::File(PathBuf::from("/run/secrets/nacre")))
        );
        let args = ["--cluster-secret", "0123456789abcdef"].map(String::from);
        let c = ServerConfig::from_args_and_env(args, env).unwrap();
        assert!(matches!(c.cluster_secret, Some(SecretSource::Inline(_))));
        assert!(!format!("{c:?}").contains("0123456789abcdef"), "redacted");
    }

    #[test]
    fn with_a_peer_port_the_node_id_is_the_peer_address() {
        let c = parse(&[
            "--port",
            "8848",
            "--peer-port",
            "7848",
            "--members",
            "127.0.0.1:7848",
        ])
        .unwrap();
        assert_eq!(c.node_id().unwrap().as_str(), "127.0.0.1:7848");
        assert_eq!(c.member_ids().unwrap().len(), 1);
    }
}

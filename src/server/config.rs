//! [`ServerConfig`]: what `nacre-server` runs, from its config file, environment and flags.
//!
//! The order of the sources is described in the [server module](super).
//!
//! To add a setting: a field of [`ServerConfig`] and an entry of `settings/list.rs` (key,
//! variable, help line, parser, printer); the flag is built from the entry.

use super::flags::Flags;
use super::serve::ServeConfig;
use super::settings;
use crate::cluster::{ClusterSecret, NodeId, PeerAuth, SecretError};
use crate::model::ValidationError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// The help text of `nacre-server` (`--help`): every flag with its environment variable and
/// default, where settings come from and in which order.
pub fn usage() -> String {
    super::flags::help()
}

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
    /// The flags were refused for another reason: clap's message.
    #[error("{0}")]
    Flags(String),
    /// The config file could not be read, or is not TOML.
    #[error("the config file {path} cannot be used: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why (for TOML errors, with line and column).
        reason: String,
    },
    /// A key the config file may not have.
    #[error("unknown key `{key}` in the config file {path}; the keys are: {known}")]
    UnknownKey {
        /// The key.
        key: String,
        /// The file.
        path: String,
        /// The keys it may have, comma separated.
        known: String,
    },
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
    /// A setting given without another it needs.
    #[error("{setting} needs {needs}: {fix}")]
    Needs {
        /// The setting given.
        setting: String,
        /// What it needs.
        needs: String,
        /// How to fix it.
        fix: &'static str,
    },
    /// TLS on the client port of a cluster member whose peers reach it there: they speak
    /// plain HTTP.
    #[error(
        "TLS on the client port (--tls-cert) would shut this member's peers out: they reach it \
         over plain HTTP (with the cluster secret) on the client port unless --peer-port \
         gives them a listener of their own; set --peer-port on every member (member ids are \
         then HOST:PEER-PORT, in --members and --node-id)"
    )]
    TlsNeedsPeerPort,
    /// Two settings that exclude each other.
    #[error("{first} and {second} exclude each other: give one")]
    Conflicting {
        /// One.
        first: String,
        /// The other.
        second: String,
    },
    /// A node that others can reach, serving without auth and without `--insecure-open-api`.
    #[error(
        "nacre-server binds {bind}, which other hosts can reach, and has no --users-file: \
         anyone who reaches it could register, deregister and read every service. Turn auth \
         on with --users-file PATH and --token-secret-file PATH (the README's \"Auth\" section \
         shows both files; `nacre-server hash-password` prints a password's hash), bind \
         127.0.0.1, or pass --insecure-open-api to serve open on a network you trust"
    )]
    OpenApi {
        /// The address.
        bind: IpAddr,
    },
    /// `--users-file` without the key to sign tokens with.
    #[error(
        "--users-file needs --token-secret-file PATH: a file only nacre-server can read, \
         holding the base64 of at least 32 random bytes (e.g. `openssl rand -base64 32`), the \
         same on every member of a cluster. There is no default key"
    )]
    NoTokenSecret,
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

/// What `nacre-server` runs: see the [server module](super) and [`usage`].
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
    /// What `GET /nacos/serverlist` lists (`--server-list`); empty: the members, or the address
    /// a standalone node was reached at.
    pub server_list: Vec<String>,
    /// The port of the Nacos 2.x gRPC API (feature `grpc`); default the HTTP port + 1000, as
    /// Nacos clients expect it (any free port when the HTTP port is 0).
    pub grpc_port: Option<u16>,
    /// The port of the DNS front (feature `dns`, UDP and TCP); none: no DNS front.
    pub dns_port: Option<u16>,
    /// The zone the DNS front answers for.
    pub dns_domain: String,
    /// The TTL of the DNS front's records, in seconds.
    pub dns_ttl: u32,
    /// Serve the DNS front with auth on: DNS carries no credentials, so it answers anyone who
    /// reaches its port. Without it, a server with auth refuses to start a DNS front.
    pub dns_open: bool,
    /// Queries a second one source address may send the DNS front (bursts of twice as many).
    pub dns_queries_per_second: u32,
    /// The DNS front's TCP connections at once, in total and per source address.
    pub dns_connections: crate::front::gate::GateLimits,
    /// Timeouts and caps of the HTTP listener (see [`super::serve::serve`]).
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
    /// Persistent instances and service settings on each member's own store and Distro (AP)
    /// instead of the control plane's log (`--ap-persistent-instances`; default `false`: on the
    /// log).
    pub ap_persistent_instances: bool,
    /// How commits to the data directory are batched (`--commit`).
    pub commit: crate::persist::CommitPolicy,
    /// The address of the `--peer-port` listener (`--peer-bind`); default: [`Self::bind`].
    pub peer_bind: Option<IpAddr>,
    /// Connections the `--peer-port` listener holds, in total and per address
    /// (`--peer-max-connections`, 1 024; `--peer-max-connections-per-ip`, 256).
    pub peer_connections: crate::front::gate::GateLimits,
    /// Host names the server answers to besides IP addresses and `localhost`
    /// (`--allowed-hosts`): see [`crate::http::HostCheck`].
    pub allowed_hosts: Vec<String>,
    /// TLS on the client HTTP port and the gRPC port (`--tls-cert`, `--tls-key`,
    /// `--tls-client-ca`; default off).
    pub tls: super::TlsSettings,
    /// The gRPC front's bounds and timing (`--grpc-*`; used when the build has feature
    /// `grpc`).
    pub grpc: crate::front::grpc_config::GrpcConfig,
    /// The console's live event streams, in total and per address (`--console-max-streams`,
    /// `--console-max-streams-per-ip`; default 64 and 8; used with feature `console`).
    pub console_streams: crate::front::gate::GateLimits,
    /// How long one console event stream lasts before the browser reconnects
    /// (`--console-stream-lifetime`, default 5 minutes).
    pub console_stream_lifetime: std::time::Duration,
    /// UDP push to v1 clients: its hub's bounds (`--udp-max-subscriptions`,
    /// `--udp-max-subscriptions-per-source`).
    pub udp: crate::udp::UdpPushConfig,
    /// Drains (`drainMillis`): the longest wait a client may ask for (`--drain-max-wait`,
    /// default 60 s), and how many may be in progress in total and from one client address
    /// (`--drain-max`, 1 000; `--drain-max-per-client`, 16).
    pub drain: crate::front::drain::DrainConfig,
    /// The instance timeline's bounds (`--timeline-instances`, `--timeline-entries`).
    pub timeline: crate::timeline::TimelineConfig,
    /// What the registry stores at most (`--max-metadata-bytes`, `--max-instances-per-service`,
    /// `--max-services-per-namespace`, `--max-namespaces`).
    pub limits: crate::Limits,
    /// The registry's beat timing and retention: the default beat interval, beat and delete
    /// timeouts (an instance's `preserved.*` metadata overrides them), the sweep gap, and the
    /// tombstone retention (`--beat-interval`, `--beat-timeout`, `--delete-timeout`,
    /// `--min-sweep-gap`, `--tombstone-ttl`).
    pub health: crate::HealthConfig,
    /// The users, roles and permissions (`--users-file`): auth is on when it is given.
    pub users_file: Option<PathBuf>,
    /// The key tokens are signed with (`--token-secret-file`); needed with `users_file`.
    pub token_secret_file: Option<PathBuf>,
    /// How long a login's token is valid (`--token-ttl`, 18 000 s as in Nacos).
    pub token_ttl: std::time::Duration,
    /// Logins checked at once (`--max-concurrent-logins`, 4): each is a bcrypt hash.
    pub max_concurrent_logins: usize,
    /// Source addresses whose failed logins are counted (`--login-throttle-sources`, 10 000).
    pub login_throttle_sources: usize,
    /// Serve without auth on an address other hosts can reach (`--insecure-open-api`).
    pub insecure_open_api: bool,
    /// Accept a registration only when its `ip` is the address the request comes from
    /// (`--register-own-address-only`).
    pub register_own_address_only: bool,
    /// Address blocks the active health checks never connect to, besides
    /// [`crate::probe::DEFAULT_DENIED`] (`--probe-deny`).
    pub probe_deny: Vec<crate::front::cidr::Cidr>,
    /// Active health checks running at once (`--max-concurrent-probes`, 64).
    pub max_concurrent_probes: usize,
    /// The most one active health check may take (`--probe-timeout`, 500 ms).
    pub probe_timeout: std::time::Duration,
    /// A cluster member's Distro timing and bounds (`--sync-delay`, `--verify-interval`,
    /// `--peer-request-timeout`, `--peer-down-after`, `--max-pending-per-peer`,
    /// `--max-clock-skew`).
    pub distro: crate::cluster::DistroConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8848,
            node_id: None,
            members: Vec::new(),
            server_list: Vec::new(),
            grpc_port: None,
            dns_port: None,
            dns_domain: "nacre".to_owned(),
            dns_ttl: 3,
            dns_open: false,
            dns_queries_per_second: 200,
            dns_connections: crate::front::gate::GateLimits {
                max_total: 256,
                max_per_ip: 16,
            },
            serve: ServeConfig::default(),
            cluster_secret: None,
            insecure_cluster: false,
            peer_port: None,
            data_dir: None,
            ap_persistent_instances: false,
            commit: crate::persist::CommitPolicy::default(),
            peer_bind: None,
            peer_connections: crate::front::gate::GateLimits {
                max_total: 1024,
                max_per_ip: 256,
            },
            allowed_hosts: Vec::new(),
            tls: super::TlsSettings::default(),
            grpc: crate::front::grpc_config::GrpcConfig::default(),
            console_streams: crate::front::gate::DEFAULT_STREAM_LIMITS,
            console_stream_lifetime: crate::front::gate::DEFAULT_STREAM_LIFETIME,
            limits: crate::Limits::default(),
            udp: crate::udp::UdpPushConfig::default(),
            drain: crate::front::drain::DrainConfig::default(),
            timeline: crate::timeline::TimelineConfig::default(),
            health: crate::HealthConfig::default(),
            distro: crate::cluster::DistroConfig::default(),
            users_file: None,
            token_secret_file: None,
            token_ttl: crate::front::access::DEFAULT_TOKEN_TTL,
            max_concurrent_logins: crate::auth::DEFAULT_MAX_CONCURRENT_LOGINS,
            login_throttle_sources: crate::auth::LoginThrottle::DEFAULT_MAX_SOURCES,
            insecure_open_api: false,
            register_own_address_only: false,
            probe_deny: Vec::new(),
            max_concurrent_probes: crate::probe::DEFAULT_MAX_CONCURRENT_PROBES,
            probe_timeout: crate::probe::DEFAULT_PROBE_TIMEOUT,
        }
    }
}

/// What the command line asks for: run with a config, or print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The settings in force.
    pub config: ServerConfig,
    /// `--print-config`: print [`ServerConfig::to_toml`] and exit instead of serving.
    pub print_config: bool,
}

impl ServerConfig {
    /// The settings in force from the file (if `--config` or `NACRE_CONFIG` names one), the
    /// environment (read through `env`, e.g. `|k| std::env::var(k).ok()`) and `args` (without
    /// the program name), each overriding the one before: see the [server module](super).
    pub fn from_args_and_env(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::invocation(args, env).map(|i| i.config)
    }

    /// [`ServerConfig::from_args_and_env`], and whether `--print-config` was asked for.
    pub fn invocation(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Invocation, ConfigError> {
        let flags = Flags::read(args)?;
        let file = flags.config.clone().or_else(|| {
            env("NACRE_CONFIG")
                .filter(|v| !v.trim().is_empty())
                .map(|v| PathBuf::from(v.trim()))
        });
        let mut config = ServerConfig::default();
        if let Some(path) = file {
            settings::apply_source(&mut config, &settings::from_file(&path)?)?;
        }
        settings::apply_source(&mut config, &settings::from_env(&env))?;
        settings::apply_source(&mut config, &flags.values())?;
        super::tls::check(&config)?;
        Ok(Invocation {
            config,
            print_config: flags.print_config,
        })
    }

    /// The settings in force as a TOML config file, every setting that has a value (defaults
    /// included), in `--help` order. An inline cluster secret is not printed (a comment says
    /// it is set): give it in a file (`cluster-secret-file`) to keep the output complete.
    ///
    /// ```
    /// use nacre::server::ServerConfig;
    /// let args = ["--port", "9000", "--members", "127.0.0.1:9000,127.0.0.1:9001"];
    /// let config = ServerConfig::from_args_and_env(args.map(String::from), |_| None).unwrap();
    /// let toml = config.to_toml();
    /// assert!(toml.contains("port = 9000\n"), "{toml}");
    /// assert!(toml.contains(r#"members = ["127.0.0.1:9000", "127.0.0.1:9001"]"#), "{toml}");
    /// ```
    pub fn to_toml(&self) -> String {
        let mut out = String::from("# nacre-server settings in force (--print-config)\n");
        for setting in settings::SETTINGS {
            if let Some(value) = (setting.show)(self) {
                out.push_str(&format!("{} = {value}\n", setting.key));
            }
        }
        if matches!(self.cluster_secret, Some(SecretSource::Inline(_))) {
            out.push_str("# cluster-secret is set (not printed)\n");
        }
        out
    }

    /// How this node authenticates its peers: the secret (read from its file now, if it comes
    /// from one), or [`PeerAuth::InsecureNone`] with `--insecure-cluster`. A cluster member
    /// with neither is [`ConfigError::NoClusterSecret`], whose message says how to fix it.
    pub fn peer_auth(&self) -> Result<PeerAuth, ConfigError> {
        match (&self.cluster_secret, self.insecure_cluster) {
            (Some(_), true) => Err(ConfigError::Conflicting {
                first: "--insecure-cluster".to_owned(),
                second: "a cluster secret".to_owned(),
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

    /// How the API is guarded: the users file and the token key when auth is on, else `None`.
    /// A node without a users file that binds an address other hosts can reach is
    /// [`ConfigError::OpenApi`] unless `insecure_open_api` says so; a users file without a
    /// token key is [`ConfigError::NoTokenSecret`].
    pub fn api_auth(&self) -> Result<Option<(PathBuf, PathBuf)>, ConfigError> {
        match (&self.users_file, &self.token_secret_file) {
            (Some(_), _) if self.insecure_open_api => Err(ConfigError::Conflicting {
                first: "--insecure-open-api".to_owned(),
                second: "--users-file".to_owned(),
            }),
            (Some(users), Some(key)) => Ok(Some((users.clone(), key.clone()))),
            (Some(_), None) => Err(ConfigError::NoTokenSecret),
            (None, _) if !self.bind.is_loopback() && !self.insecure_open_api => {
                Err(ConfigError::OpenApi { bind: self.bind })
            }
            (None, _) => Ok(None),
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

    /// The beat timing and retention of the node's registry ([`ServerConfig::health`]'s
    /// field, as a method for callers that read it so).
    pub fn health(&self) -> crate::HealthConfig {
        self.health
    }

    /// The active health checks' bounds: the default deny list plus `--probe-deny`,
    /// `--max-concurrent-probes`, `--probe-timeout`, Nacos' timing.
    pub fn probe_config(&self) -> crate::probe::ProbeConfig {
        let mut deny = crate::probe::DenyList::default();
        for block in &self.probe_deny {
            deny.add(*block);
        }
        crate::probe::ProbeConfig {
            deny,
            max_concurrent: self.max_concurrent_probes,
            timeout: self.probe_timeout,
            ..crate::probe::ProbeConfig::default()
        }
    }

    /// Whether the node runs standalone (no members).
    pub fn is_standalone(&self) -> bool {
        self.members.is_empty()
    }

    /// This member's id: `--node-id`, else `peer_bind:peer_port` (`bind:port` without a
    /// peer port), where its peers reach it.
    pub fn node_id(&self) -> Result<NodeId, ConfigError> {
        if let Some(id) = &self.node_id {
            return Ok(NodeId::new(id)?);
        }
        let (host, port) = match self.peer_port {
            Some(port) => (self.peer_bind.unwrap_or(self.bind), port),
            None => (self.bind, self.port),
        };
        if host.is_unspecified() || port == 0 {
            return Err(ConfigError::NeedsNodeId(
                SocketAddr::new(host, port).to_string(),
            ));
        }
        Ok(NodeId::new(&SocketAddr::new(host, port).to_string())?)
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
#[path = "config_tests.rs"]
pub(super) mod tests;

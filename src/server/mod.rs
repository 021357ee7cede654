//! The `nacre-server` application (feature `server`): [`ServerConfig`] (flags, environment,
//! config file) and [`start`], which wires the node, its drivers and every front the build
//! has. The fronts themselves are libraries ([`crate::http`], `crate::grpc`,
//! `crate::console`, [`crate::metrics`]) a host can mount on its own servers; this module is
//! only what an operator runs.
//!
//! Without members it runs one [`crate::Registry`] with its health driver, like Nacos'
//! standalone mode. With `--members` it runs a [`ClusterNode`] that reaches its peers over
//! [`HttpPeerTransport`], and serves the peer route on the same listener, or on a listener of its
//! own with `--peer-port` (then node ids are `host:peer-port`).
//!
//! A cluster member needs the cluster's shared secret ([`crate::cluster::PeerAuth`]), best from
//! a file (`--cluster-secret-file`, so it shows neither in `ps` nor in the environment); it
//! refuses to start without one unless given `--insecure-cluster`
//! ([`ConfigError::NoClusterSecret`]). Its own id must be one of `--members`
//! ([`ConfigError::NotAMember`]).
//!
//! The node's background work (health sweeps; for a cluster member the Distro driver, which
//! sweeps too) runs on a thread of its own with a single-threaded runtime, not on the HTTP
//! workers: a sweep that flips a hundred thousand instances takes seconds, and on a worker it
//! would stall the accept loop with it.
//!
//! ```
//! use nacre::server::ServerConfig;
//! let env = |name: &str| (name == "NACRE_PORT").then(|| "9000".to_owned());
//! let args = ["--members", "127.0.0.1:9000,127.0.0.1:9001,127.0.0.1:9002"].map(String::from);
//! let config = ServerConfig::from_args_and_env(args, env).unwrap();
//! assert_eq!(config.port, 9000);
//! assert_eq!(config.node_id().unwrap().as_str(), "127.0.0.1:9000");
//! assert_eq!(config.member_ids().unwrap().len(), 3);
//! ```
//!
//! Built with feature `console`, it serves the web console at `/console/`
//! ([`crate::console`]).
//!
//! It serves Prometheus metrics at `GET /metrics` ([`crate::metrics`]): the node's counts and
//! counters, its UDP and gRPC pushes, its Distro sync per peer, and its own HTTP requests by
//! route and status.
//!
//! With `--data-dir DIR` the node keeps persistent instances and service settings in
//! `DIR/nacre.redb` ([`crate::persist::FileStore`]), loads them before it listens, and answers
//! a write that touches them once it is on disk. A store that cannot be read stops the start
//! ([`ServerError::Persist`]).
//!
//! With `--data-dir` a node also runs the control plane on `DIR/control.redb` (see [`control`])
//! and serves Nacos' namespace API over it (`/nacos/v1/console/namespaces`,
//! `/nacos/v2/console/namespace`; [`crate::http::namespaces`]): a standalone node as a
//! one-member Raft group, a cluster member as a voter of the group of `--members`, whose Raft
//! messages travel over the peer transport and route. Its state is in the metrics
//! (`nacre_control_leader`, `nacre_control_term`, `nacre_control_applied_index`). Without
//! `--data-dir` there is no control plane and no namespace API (a member warns at start).
//! The same control plane holds operators' overrides of instances, cluster settings
//! (`PUT /nacos/v1/ns/cluster`) and, with auth, users, roles and permissions.
//!
//! It checks its persistent instances actively ([`crate::probe`], wired in `probes`): each
//! cluster as its settings say (TCP on the instance's port when it has none, or when the node
//! runs no control plane), on a cluster member only the services it owns, within
//! `--max-concurrent-probes` and `--probe-timeout`, never towards `--probe-deny` or the
//! link-local and metadata addresses. `PUT /nacos/v1/ns/health/instance` then writes only to
//! clusters whose checker is `NONE`, as in Nacos.
//!
//! ## Settings
//!
//! Settings are read from four sources, each overriding the one before:
//!
//! 1. the defaults ([`ServerConfig::default`]);
//! 2. the TOML file named by `--config PATH` (or `NACRE_CONFIG`), whose keys are the flags'
//!    names without `--` (`port = 8848`, `members = ["a:8848", "b:8848"]`; `members` may
//!    also be one comma-separated string);
//! 3. the environment variables (`NACRE_PORT`...; a blank one counts as unset);
//! 4. the flags (parsed by clap; `--flag value` or `--flag=value`; a repeated flag: the last
//!    wins, but a list — `--members`, `--allowed-hosts`, `--probe-deny` — adds up).
//!
//! One source may not give both `cluster-secret` and `cluster-secret-file`; a later source's
//! secret replaces an earlier one's. Every error names the setting as its source spells it:
//! `--port`, `NACRE_PORT`, or `` `port` in /etc/nacre.toml ``; a key the file should not have
//! is refused with the list of keys it may have. `--print-config` prints the settings in force
//! in the file's form ([`ServerConfig::to_toml`]), which `--config` reads back (an inline
//! secret is not printed).
//!
//! | file | job |
//! | --- | --- |
//! | `config.rs` | [`ServerConfig`]: the sources of settings and their order, [`usage`], [`ConfigError`] |
//! | `settings/` | every setting once: file key, environment variable, help line, parser, printer |
//! | `flags.rs` | the command line, parsed by clap, built from the settings |
//! | `serve.rs` | [`serve::serve`]: the hardened HTTP accept loop (timeouts, connection cap, body cap) |
//! | `auth.rs` | the users file and token key read at start, the one [`crate::front::access::Access`] every front asks |
//! | `tls.rs` | [`TlsSettings`]: the TLS files, checked together, loaded at start |
//! | `fronts.rs` | the optional fronts (gRPC, console), each behind its feature: the one file with `cfg(feature)` lines |
//! | `tools.rs` | the subcommands that do not serve: `hash-password`, `issue-token` |
//! | `open_files.rs` | raises `RLIMIT_NOFILE` at start and fits the connection caps into it |
//! | `control.rs` | the control plane on `DIR/control.redb`: a group of one, or the `--members`' group over the peer transport |
//! | `running.rs` | [`RunningServer`]: the started server, its graceful [`RunningServer::shutdown`] |
//! | `mod.rs` | [`start`]: binds, builds the node, wires the fronts |

mod auth;
mod config;
pub mod control;
mod flags;
mod fronts;
pub mod open_files;
mod probes;
mod running;
pub mod serve;
mod settings;
mod tls;
mod tools;

pub use config::{usage, ConfigError, Invocation, SecretSource, ServerConfig};
pub use running::{RunningServer, ShutdownReport};
pub use tls::TlsSettings;
pub use tools::{tool, ToolResult};

use crate::cluster::{ClusterNode, PeerAuth};
use crate::front::Backend;
use crate::http::{peer_router, HostCheck, HttpPeerTransport, NacosApi};
use crate::metrics::{HttpMetrics, NacreMetrics};
use crate::udp::UdpPush;
use crate::Registry;
use running::{DriverThread, PeerListener};
use serve::{serve, ServeStats, Shutdown};
use std::net::SocketAddr;
use std::sync::Arc;

/// The instance timeline's file in `--data-dir`: the persistent instances' histories (see
/// [`crate::timeline`]).
pub const TIMELINE_FILE: &str = "timeline.jsonl";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listener could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The instance timeline's file could not be opened or read.
    #[error("cannot open the instance timeline file {}: {source}", path.display())]
    Timeline {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The node could not be set up as a cluster member.
    #[error(transparent)]
    Membership(#[from] crate::cluster::MembershipError),
    /// The data directory (`--data-dir`) could not be opened or read: see the message for the
    /// file and what to do.
    #[error("the data directory cannot be used: {0}")]
    Persist(#[from] crate::persist::PersistError),
    /// Too few open files to serve (see [`open_files`]).
    #[error(transparent)]
    OpenFiles(#[from] open_files::OpenFilesError),
    /// The users file or the token key (`--users-file`, `--token-secret-file`) cannot be used.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// The thread for the node's drivers could not be started.
    #[error("cannot start the driver thread: {0}")]
    Drivers(#[source] std::io::Error),
    /// The TLS files (`--tls-cert`, `--tls-key`, `--tls-client-ca`) cannot be used: the
    /// message names the file and what is wrong with it.
    #[error(transparent)]
    Tls(#[from] crate::front::tls::TlsError),
    /// The control plane (`DIR/control.redb`) could not start.
    #[error("the control plane cannot start: {0}")]
    Control(#[from] crate::control::ControlStartError),
}

/// Opens the listener, starts the node (standalone with its health driver, or a cluster member
/// with its Distro driver, on a thread of their own) and serves the Nacos v1 API on the
/// current tokio runtime, on the system clock.
///
/// A cluster member is refused before anything starts if its id is not one of the members or
/// it has no cluster secret (and no `insecure_cluster`): see [`ServerConfig::peer_auth`]. So
/// is a TLS file that cannot be used ([`ServerError::Tls`]).
pub async fn start(config: &ServerConfig) -> Result<RunningServer, ServerError> {
    let mut control = None;
    let started = start_with(config, &mut control).await;
    if started.is_err() {
        // Started before the step that failed: its file is closed before the error is told.
        if let Some(control) = control {
            control.shutdown().await;
        }
    }
    started
}

/// [`start`], leaving the control plane in `control` as soon as it runs, so that [`start`]
/// closes it if a later step fails.
async fn start_with(
    config: &ServerConfig,
    control: &mut Option<Arc<crate::control::ClosableControl>>,
) -> Result<RunningServer, ServerError> {
    let mut fitted = config.clone();
    match open_files::raise() {
        Ok((limit, hard)) => {
            if let Some(lowered) = open_files::fit(&mut fitted, limit, hard)? {
                for (flag, from, to) in &lowered.caps {
                    tracing::info!(
                        open_files = lowered.limit,
                        "{flag} lowered from {from} to {to} to fit the open-files limit (raise it with ulimit -n, or set the cap)"
                    );
                }
            }
        }
        Err(error) => tracing::warn!(%error, "cannot read the open-files limit"),
    }
    let config = &fitted;
    let guard = auth::guard(config)?;
    // Before anything listens: a bad file stops the start.
    let tls = tls::load(config)?;
    // Before anything listens: the node serves what it had, or does not start. Opened before
    // the control plane too, which keeps its file in the directory this creates.
    let store = match &config.data_dir {
        Some(dir) => Some(crate::persist::FileStore::open(dir)?),
        None => None,
    };
    let (backend, auth, transport) = if config.is_standalone() {
        let registry = Registry::builder()
            .limits(config.limits)
            .health(config.health())
            .timeline(config.timeline)
            .build();
        (Backend::from(registry), None, None)
    } else {
        let me = config.node_id()?;
        let members = config.member_ids()?;
        let auth = config.peer_auth()?;
        if auth == PeerAuth::InsecureNone {
            tracing::warn!(
                "cluster member without a cluster secret (--insecure-cluster): anything that can reach its peer route can act as a member"
            );
        }
        let transport = HttpPeerTransport::new(me.clone(), auth.clone());
        let peers: Arc<dyn crate::cluster::PeerTransport> = Arc::new(transport.clone());
        *control = control::start_member(config, &me, &members, peers.clone()).await?;
        let mut node = ClusterNode::builder(me, members, peers)
            .config(config.distro)
            .registry(
                Registry::builder()
                    .limits(config.limits)
                    .health(config.health())
                    .timeline(config.timeline),
            );
        if let Some(control) = control.as_ref() {
            node = node.control(control.node().handler());
        }
        (Backend::from(node.build()?), Some(auth), Some(transport))
    };
    if let Some(dir) = &config.data_dir {
        // The persistent instances' histories, kept across restarts (see crate::timeline).
        let path = dir.join(TIMELINE_FILE);
        let read = backend
            .local_registry()
            .timeline()
            .attach_file(&path)
            .map_err(|source| ServerError::Timeline {
                path: path.clone(),
                source,
            })?;
        tracing::debug!(path = %path.display(), entries = read, "instance timeline file read");
    }
    if let Some(store) = store {
        let path = store.path().display().to_string();
        let loaded = backend.attach_persistence(Arc::new(store), config.commit)?;
        tracing::info!(
            path,
            services = loaded.services,
            instances = loaded.instances,
            "persistent store loaded"
        );
    }
    if config.is_standalone() {
        *control = control::start_standalone(config).await?;
    }
    let control = control.clone();
    if let Some(control) = &control {
        // Before anything registers: every registration takes the operators' overrides.
        let plane: Arc<dyn crate::control::ControlPlane> = control.clone();
        backend
            .local_registry()
            .attach_overrides(Arc::new(crate::control::ControlOverrides::new(
                plane.clone(),
            )));
        // Persistent instances live on the log from here on (unless the operator keeps them on
        // Distro); what the store held from before is proposed once, in the background (it
        // waits for a leader).
        if !config.ap_persistent_instances {
            let route = crate::control::attach_persistent(&plane, backend.local_registry());
            control::spawn_catch_up(plane, route, backend.local_registry().clone());
        }
    }
    let (listener, addr) = listen(SocketAddr::new(config.bind, config.port)).await?;
    let peer_listener = match (&auth, config.peer_port) {
        (Some(_), Some(port)) => {
            let bind = config.peer_bind.unwrap_or(config.bind);
            Some(listen(SocketAddr::new(bind, port)).await?)
        }
        _ => None,
    };
    let access = guard.as_ref().map(|g| g.access.clone());
    let fronts = fronts::bind(
        config,
        &backend,
        access.as_ref(),
        tls.as_ref(),
        control.as_ref(),
    )
    .await?;
    let drivers = DriverThread::spawn(backend.clone()).map_err(ServerError::Drivers)?;
    let udp_addr = SocketAddr::new(config.bind, 0);
    let udp = UdpPush::bind(backend.registry().clone(), udp_addr, config.udp)
        .await
        .map_err(|source| ServerError::Bind {
            addr: udp_addr,
            source,
        })?;
    let shutdown = Shutdown::new();
    let mut api = NacosApi::new(backend.clone())
        .udp_push(udp.clone())
        .server_list(server_list(config));
    let host_check = api_host_check(config);
    if let Some(check) = &host_check {
        api = api.host_check(check.clone());
    }
    if let Some(access) = &access {
        api = api.access(access.clone());
    }
    if config.register_own_address_only {
        api = api.register_own_address_only();
    }
    if let Some(control) = &control {
        api = api.control(control.clone());
        if let Some(guard) = &guard {
            let plane: Arc<dyn crate::control::ControlPlane> = control.clone();
            guard.identity.attach(plane);
            api = api.users_api(guard.identity.clone());
        }
    }
    let (checks, prober) = probes::start(config, &backend, control.as_ref());
    api = api.health_checks(checks);
    for hub in fronts.iter().filter_map(|f| f.hub()) {
        api = api.subscribers_from(hub);
    }
    // Every front's drain waits on every hub of the node and on its listeners, and the
    // bounds of drains in progress hold for all fronts together.
    let drainer = crate::front::drain::Drainer::new(
        std::iter::once(udp.hub().clone())
            .chain(fronts.iter().filter_map(|f| f.hub()))
            .collect(),
        config.drain,
    )
    .with_listeners(backend.registry().clone());
    api = api.drainer(drainer.clone());
    for front in &fronts {
        front.drains(&drainer);
    }
    let peer = match (peer_listener, backend.cluster_node(), &auth) {
        (Some((listener, addr)), Some(node), Some(auth)) => {
            api = api.without_peer_route();
            let app = peer_router(Arc::new(node.clone()), auth.clone());
            let task = tokio::spawn(serve(
                listener,
                app,
                peer_serve_config(config),
                None,
                shutdown.clone(),
                Arc::new(ServeStats::default()),
            ));
            Some(PeerListener { addr, task })
        }
        _ => {
            if let Some(auth) = &auth {
                api = api.peer_auth(auth.clone());
            }
            None
        }
    };
    let mut app = api.router();
    for router in fronts.iter().filter_map(|f| f.router()) {
        app = app.merge(router);
    }
    let mut metrics = NacreMetrics::new(backend.clone());
    if let Some(control) = &control {
        metrics = metrics.control(control.node().clone());
    }
    let app = with_metrics(
        app,
        metrics,
        &udp,
        &fronts,
        transport,
        host_check.as_ref(),
        access.as_ref(),
    );
    let serve_stats = Arc::new(ServeStats::default());
    let task = tokio::spawn(serve(
        listener,
        app,
        config.serve,
        tls.as_ref().map(|tls| tls.http1()),
        shutdown.clone(),
        serve_stats.clone(),
    ));
    let listening: Vec<_> = fronts
        .iter()
        .filter_map(|f| Some((f.name(), f.addr()?)))
        .collect();
    if let Some(tls) = &tls {
        let grpc = listening.iter().find(|(name, _)| *name == fronts::GRPC);
        tls::log_on(tls, config, addr, grpc.map(|(_, a)| *a));
    }
    let hand_overs = fronts.iter().filter_map(|f| f.hand_over()).collect();
    let hand_over_to = hand_over_targets(config, &backend);
    let front_tasks = fronts
        .into_iter()
        .filter_map(|f| f.serve(shutdown.clone()))
        .collect();
    Ok(RunningServer {
        addr,
        listening,
        backend,
        task,
        front_tasks,
        hand_overs,
        hand_over_to,
        shutdown,
        serve_stats,
        peer,
        drivers,
        udp,
        users: guard.map(|g| g.users),
        control,
        prober,
    })
}

/// The `Host` check of the v1 API and the metrics: on a loopback bind always (only local
/// software, or a page that rebinds its name, reaches it), elsewhere when the operator named
/// the server (`--allowed-hosts`). See [`HostCheck`].
fn api_host_check(config: &ServerConfig) -> Option<HostCheck> {
    (config.bind.is_loopback() || !config.allowed_hosts.is_empty())
        .then(|| HostCheck::new(&config.allowed_hosts))
}

/// The peer listener's bounds: the client listener's timeouts, and caps of its own, sized
/// for a cluster's members rather than its clients (`--peer-max-connections`, 1 024;
/// `--peer-max-connections-per-ip`, 256: a member keeps a small pool to each peer).
fn peer_serve_config(config: &ServerConfig) -> serve::ServeConfig {
    serve::ServeConfig {
        max_connections: config.peer_connections.max_total,
        max_connections_per_ip: config.peer_connections.max_per_ip,
        ..config.serve
    }
}

/// A TCP listener on `addr`, and the address it got (the port, when `addr` asked for 0).
async fn listen(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), ServerError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    Ok((listener, local))
}

/// The Prometheus metrics of the node (`metrics`: its state, and its control plane's), its
/// push hubs (UDP and each front's), its peer transport and the HTTP API itself, served at
/// `GET /metrics` beside `app` (see [`crate::metrics`]).
fn with_metrics(
    app: axum::Router,
    metrics: NacreMetrics,
    udp: &UdpPush,
    fronts: &[Box<dyn fronts::Front>],
    transport: Option<HttpPeerTransport>,
    host_check: Option<&HostCheck>,
    access: Option<&crate::front::access::Access>,
) -> axum::Router {
    let mut metrics = metrics.push_hub("udp", udp.hub().clone());
    for front in fronts {
        if let Some(hub) = front.hub() {
            metrics = metrics.push_hub(front.name(), hub);
        }
    }
    if let Some(transport) = transport {
        metrics = metrics.http_transport(transport);
    }
    if let Some(access) = access {
        metrics = metrics.audit(access.audit().clone());
    }
    let http = HttpMetrics::new();
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    http.register(&mut registry);
    let metrics = crate::metrics::router(Arc::new(registry));
    let metrics = match access {
        Some(access) => crate::http::guarded(
            metrics,
            access.clone(),
            crate::front::access::Front::Metrics,
            crate::front::access::Need::NodeReport,
        ),
        None => metrics,
    };
    let metrics = match host_check {
        Some(check) => check.layer(metrics),
        None => metrics,
    };
    app.merge(metrics).layer(http)
}

/// Where a stopping member sends its clients: the server list's addresses (`--server-list`,
/// else the members' ids when they are client addresses) other than this member's own id.
/// None for a standalone node, or members without a server list behind `--peer-port` (the
/// clients then take the next server of their own lists).
fn hand_over_targets(config: &ServerConfig, backend: &Backend) -> Vec<String> {
    let Some(node) = backend.cluster_node() else {
        return config.server_list.clone();
    };
    let own = node.id().as_str();
    let listed: Vec<String> = if !config.server_list.is_empty() {
        config.server_list.clone()
    } else if config.peer_port.is_none() {
        node.members().map(|m| m.as_str().to_owned()).collect()
    } else {
        Vec::new()
    };
    listed.into_iter().filter(|m| m != own).collect()
}

/// What `GET /nacos/serverlist` lists: `--server-list`, else the members when their ids are
/// client addresses (no `--peer-port`), else nothing (a 404 saying to set `--server-list`).
fn server_list(config: &ServerConfig) -> crate::http::ServerList {
    use crate::http::ServerList;
    if !config.server_list.is_empty() {
        ServerList::Fixed(config.server_list.clone())
    } else if config.peer_port.is_some() && !config.is_standalone() {
        ServerList::Unknown(
            "the members' ids are peer addresses (--peer-port): set --server-list to the \
             members' client addresses"
                .to_owned(),
        )
    } else {
        ServerList::Members
    }
}

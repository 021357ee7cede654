//! `nacre-server`: a standalone nacre node, or a cluster member, serving the Nacos v1 naming
//! API over HTTP and (feature `grpc`) the 2.x API over gRPC on the HTTP port + 1000. Run with `--help` for the flags; see [`nacre::server`].
//! `nacre-server hash-password` and `nacre-server issue-token` are tools that do not serve
//! (`nacre::server::tool`).

/// The process allocator: mimalloc (see `Cargo.toml`; measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use nacre::server::{self, ConfigError, ServerConfig};
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// What is logged when `RUST_LOG` is unset. openraft narrates every election and startup step
/// at info, so only its warnings; and none of its replication's: while a member is down they
/// come four to a retry, two retries a second (the cluster's membership logs a member going
/// down and coming back, once each).
const DEFAULT_LOG: &str = "info,openraft=warn,openraft::replication=off,\
                           openraft::engine::handler::replication_handler=off";

/// Logs to stderr, filtered by `RUST_LOG` ([`DEFAULT_LOG`] when unset; directives such as
/// `warn,nacre::cluster=debug`; span and field filters are not supported).
fn init_logging() {
    let spec = std::env::var("RUST_LOG").unwrap_or_default();
    let filter: Targets = match spec.trim() {
        "" => DEFAULT_LOG.parse().unwrap_or_default(),
        s => s.parse().unwrap_or_else(|e| {
            eprintln!("nacre-server: RUST_LOG=`{s}` is not understood ({e}); logging at info");
            "info".parse().unwrap_or_default()
        }),
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    tracing_subscriber::registry().with(fmt).with(filter).init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(done) = server::tool(&args, &mut std::io::stdin().lock()) {
        return match done {
            Ok(output) => {
                println!("{output}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("nacre-server: {e}");
                ExitCode::from(2)
            }
        };
    }
    init_logging();
    let mut signals = Signals::install();
    let invocation = match ServerConfig::invocation(args, |k| std::env::var(k).ok()) {
        Ok(i) => i,
        Err(ConfigError::Help) => {
            println!("{}", server::usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("nacre-server: {e}\n\nRun `nacre-server --help` for the settings.");
            return ExitCode::from(2);
        }
    };
    let config = invocation.config;
    if invocation.print_config {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    let running = match server::start(&config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("nacre-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mode = match config.member_ids() {
        Ok(members) if !config.is_standalone() => format!(
            "cluster member {} of {}",
            config
                .node_id()
                .map(|id| id.to_string())
                .unwrap_or_default(),
            members.len()
        ),
        _ => "standalone".to_owned(),
    };
    let grpc = running
        .grpc_addr()
        .map_or_else(String::new, |a| format!(", gRPC on {a}"));
    let grpc = match running.dns_addr() {
        Some(dns) => format!("{grpc}, DNS on {dns}"),
        None => grpc,
    };
    let grpc = match running.peer_addr() {
        Some(peer) => format!("{grpc}, peers on {peer}"),
        None => grpc,
    };
    tracing::info!(
        addr = %running.local_addr(),
        udp_push = %running.udp_push().local_addr(),
        "nacre-server listening on {} ({mode}){grpc}",
        running.local_addr()
    );
    let signal = loop {
        match signals.recv().await {
            "SIGHUP" => match running.reload_users() {
                Some(Ok(users)) => tracing::info!(users, "users file reloaded (SIGHUP)"),
                Some(Err(error)) => {
                    tracing::error!(%error, "users file not reloaded (SIGHUP): the one in force stays")
                }
                None => tracing::info!("SIGHUP: nothing to reload (no --users-file)"),
            },
            signal => break signal,
        }
    };
    tracing::info!(
        signal,
        "shutting down gracefully (at most {} s)",
        GRACE.as_secs()
    );
    // A shutdown that was asked for exits 0 even when a connection had to be cut (the report
    // is logged).
    let _report = running.shutdown(GRACE).await;
    ExitCode::SUCCESS
}

/// How long a graceful shutdown may take.
const GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// SIGTERM and SIGINT (Ctrl-C), and SIGHUP (read the users file again), listened for from
/// the start, so a signal that arrives while the server starts is not lost to the default
/// action.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
                hup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    /// Resolves on the first signal, with its name.
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            let (Some(term), Some(int), Some(hup)) =
                (self.term.as_mut(), self.int.as_mut(), self.hup.as_mut())
            else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = hup.recv() => "SIGHUP",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

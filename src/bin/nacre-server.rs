//! `nacre-server`: a standalone nacre node, or a cluster member, serving the Nacos v1 naming
//! API over HTTP and (feature `grpc`) the 2.x API over gRPC on the HTTP port + 1000. Run with `--help` for the flags; see [`nacre::http::server`].

use nacre::http::{server, ConfigError, ServerConfig};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match ServerConfig::from_args_and_env(std::env::args().skip(1), |k| {
        std::env::var(k).ok()
    }) {
        Ok(c) => c,
        Err(ConfigError::Help) => {
            println!("{}", server::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("nacre-server: {e}\n\n{}", server::USAGE);
            return ExitCode::from(2);
        }
    };
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
    match running.grpc_addr() {
        Some(grpc) => eprintln!(
            "nacre-server listening on {} ({mode}), gRPC on {grpc}",
            running.local_addr()
        ),
        None => eprintln!(
            "nacre-server listening on {} ({mode})",
            running.local_addr()
        ),
    }
    match running.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nacre-server: {e}");
            ExitCode::FAILURE
        }
    }
}

//! The baseline for the HTTP benchmarks (`benches/wrk/run.sh`): a trivial axum server on the
//! same routes as nacre's Nacos API, answering fixed bodies without parsing anything or
//! touching a registry. What nacre-server does beyond it is nacre's overhead over axum.
//!
//! `cargo bench --features http,server --bench http_baseline -- PORT LIST_BODY_FILE`
//!
//! - `POST /nacos/v1/ns/instance` answers `ok`;
//! - `PUT /nacos/v1/ns/instance/beat` answers a fixed beat answer;
//! - `GET /nacos/v1/ns/instance/list` answers the bytes of `LIST_BODY_FILE` as JSON (the run
//!   script saves nacre's own answer for the benchmarked service there, so the sizes match).

#[path = "../support/cli.rs"]
mod cli;

/// nacre-server's allocator, so the floor allocates as nacre-server does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::http::header;
use axum::routing::{get, post, put};
use axum::Router;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = cli::args().into_iter();
    let (Some(port), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: http_baseline PORT LIST_BODY_FILE");
        return ExitCode::from(2);
    };
    let list = match std::fs::read(&file) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("http_baseline: cannot read {file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let beat = r#"{"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}"#;
    let app = Router::new()
        .route("/nacos/v1/ns/instance", post(|| async { "ok" }))
        .route(
            "/nacos/v1/ns/instance/beat",
            put(move || async move { ([(header::CONTENT_TYPE, "application/json")], beat) }),
        )
        .route(
            "/nacos/v1/ns/instance/list",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], list) }),
        );
    let listener = match tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("http_baseline: cannot listen on port {port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("http_baseline listening on 127.0.0.1:{port}");
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_baseline: {e}");
            ExitCode::FAILURE
        }
    }
}

//! TLS settings the server refuses at start: a file that cannot be used (named in the
//! message), a certificate without its key, a cluster member whose peers could not reach it.

use crate::support::Server;
use crate::Files;
use std::process::Command;

fn run(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut full = vec!["--port", "0", "--grpc-port", "0"];
    full.extend_from_slice(args);
    Server::run_to_end(Command::new(env!("CARGO_BIN_EXE_nacre-server")), &full)
}

#[test]
fn a_file_that_cannot_be_used_stops_the_start_and_is_named() {
    let files = Files::new("start-files");
    let cert = files.path("server.pem");
    let wrong_key = files.path("client.key");
    let (status, err) = run(&["--tls-cert", &cert, "--tls-key", &wrong_key]);
    assert!(!status.success());
    assert!(
        err.contains(&wrong_key) && err.contains("is not the key of"),
        "{err}"
    );
    assert!(!err.contains("listening on"), "{err}");

    let missing = files.dir().join("missing.key").display().to_string();
    let (status, err) = run(&["--tls-cert", &cert, "--tls-key", &missing]);
    assert!(!status.success());
    assert!(err.contains(&missing), "{err}");

    let (status, err) = run(&["--tls-cert", &cert, "--tls-key", &cert]);
    assert!(!status.success());
    assert!(err.contains("holds no private key"), "{err}");
}

#[test]
fn settings_that_do_not_go_together_are_refused_with_the_fix() {
    let files = Files::new("start-settings");
    let cert = files.path("server.pem");
    let key = files.path("server.key");
    let (status, err) = run(&["--tls-cert", &cert]);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("--tls-cert needs --tls-key"), "{err}");

    let (status, err) = run(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--node-id",
        "127.0.0.1:19000",
        "--members",
        "127.0.0.1:19000,127.0.0.1:19001",
        "--insecure-cluster",
    ]);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("set --peer-port"), "{err}");
}

//! TLS on the client HTTP port and the gRPC port (`--tls-cert`, `--tls-key`,
//! `--tls-client-ca`), against the real `nacre-server` binary with certificates made for the
//! run ([`certs`]): HTTPS and gRPC over TLS are served to a client that trusts the CA, refused
//! to one that does not, to plaintext, and (with a client CA) to a client without the right
//! certificate; a handshake that never finishes frees its connection's place after the
//! timeout; a bad file stops the start. Servers run on ports they pick, found from their log,
//! and are killed by their pid (`tests/hostile/support.rs`).
#![cfg(all(feature = "server", feature = "grpc"))]

#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../hostile/support.rs"]
mod support;

mod certs;
mod client;
mod grpc;
mod https;
mod start;

use certs::Certs;
use std::path::{Path, PathBuf};
use support::Server;

/// One test's certificates, written to a scratch folder removed when dropped.
pub(crate) struct Files {
    pub(crate) certs: Certs,
    dir: PathBuf,
}

impl Files {
    /// Fresh certificates in a folder of `test`'s own.
    pub(crate) fn new(test: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("nacre-tls-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let certs = Certs::generate();
        certs
            .write_to(&dir)
            .expect("the scratch folder is writable");
        Files { certs, dir }
    }

    /// The path of `name` (`server.pem`, `ca.pem`...) as a string for a flag.
    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts `nacre-server` with TLS (and a client CA when `mutual`), and `extra` flags.
    pub(crate) fn server(&self, mutual: bool, extra: &[&str]) -> Server {
        let (cert, key, ca) = (
            self.path("server.pem"),
            self.path("server.key"),
            self.path("ca.pem"),
        );
        let mut args = vec!["--tls-cert", &cert, "--tls-key", &key];
        if mutual {
            args.extend(["--tls-client-ca", &ca]);
        }
        args.extend_from_slice(extra);
        Server::start(&args)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

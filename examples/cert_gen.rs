//! Writes a throwaway CA and certificates into a folder, for trying nacre-server's TLS
//! (`--tls-cert`, `--tls-key`, `--tls-client-ca`) and for `tests/tls/run.sh`: `ca.pem`,
//! `server.pem` and `server.key` (for `127.0.0.1` and `localhost`), `client.pem` and
//! `client.key` (signed by the CA, for mutual TLS), `stranger.pem` and `stranger.key` (signed
//! by another CA). The keys are P-256, PKCS#8. Not for production: the CA's key is thrown away
//! and nothing expires before the year 4096.
//!
//! ```text
//! cargo run --example cert_gen -- /tmp/nacre-certs
//! nacre-server --tls-cert /tmp/nacre-certs/server.pem --tls-key /tmp/nacre-certs/server.key
//! curl --cacert /tmp/nacre-certs/ca.pem https://127.0.0.1:8848/nacos/v1/ns/service/list
//! ```

#[path = "../tests/tls/certs.rs"]
mod certs;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: cert_gen DIR");
        return ExitCode::from(2);
    };
    match certs::Certs::generate().write_to(&dir) {
        Ok(()) => {
            println!("{}", dir.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("cert_gen: cannot write to {}: {error}", dir.display());
            ExitCode::FAILURE
        }
    }
}

//! TLS of `nacre-server` (`--tls-cert`, `--tls-key`, `--tls-client-ca`): the settings
//! ([`TlsSettings`]), checked together when the settings are read, and loaded at start
//! ([`crate::front::tls::TlsConfig`]) so a bad file stops the start with what is wrong with
//! it, before anything listens.
//!
//! TLS covers the client HTTP port (the v1 API, the console, metrics) and the gRPC port. Peer
//! traffic stays plain HTTP, each request carrying the cluster secret in a header, in clear:
//! the `--peer-port` listener, and this node's own requests to its peers
//! ([`crate::http::HttpPeerTransport`] speaks no TLS). So a cluster member with TLS must serve
//! its peers on `--peer-port`, or they could not reach it
//! ([`ConfigError::TlsNeedsPeerPort`]). UDP pushes to v1 clients are plaintext, as in Nacos.

use super::config::{ConfigError, ServerConfig};
use crate::front::tls::{TlsConfig, TlsError};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The TLS files, each a setting of its own; [`ServerConfig`] checks them together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server's certificate chain, PEM, its own certificate first (`--tls-cert`).
    pub cert: Option<PathBuf>,
    /// The certificate's private key, PEM: PKCS#8, PKCS#1 or SEC1 (`--tls-key`).
    pub key: Option<PathBuf>,
    /// The CA certificates, PEM, that client certificates must chain to; given, every client
    /// must present one (`--tls-client-ca`).
    pub client_ca: Option<PathBuf>,
}

impl TlsSettings {
    /// Whether TLS is asked for (a certificate or a key is given).
    pub fn is_on(&self) -> bool {
        self.cert.is_some() || self.key.is_some()
    }
}

/// Checks the TLS settings of `config` together: certificate and key both or neither, a
/// client CA only with them, and a cluster member with TLS serves its peers on `--peer-port`.
pub(super) fn check(config: &ServerConfig) -> Result<(), ConfigError> {
    let tls = &config.tls;
    match (&tls.cert, &tls.key) {
        (Some(_), None) => {
            return Err(ConfigError::Needs {
                setting: "--tls-cert".to_owned(),
                needs: "--tls-key".to_owned(),
                fix: "give the certificate's private key (PEM) with --tls-key, or neither to serve without TLS",
            })
        }
        (None, Some(_)) => {
            return Err(ConfigError::Needs {
                setting: "--tls-key".to_owned(),
                needs: "--tls-cert".to_owned(),
                fix: "give the certificate chain (PEM) with --tls-cert, or neither to serve without TLS",
            })
        }
        (None, None) if tls.client_ca.is_some() => {
            return Err(ConfigError::Needs {
                setting: "--tls-client-ca".to_owned(),
                needs: "--tls-cert and --tls-key".to_owned(),
                fix: "client certificates are asked for in a TLS handshake: turn TLS on with --tls-cert and --tls-key, or leave out --tls-client-ca",
            })
        }
        _ => {}
    }
    if tls.is_on() && !config.is_standalone() && config.peer_port.is_none() {
        return Err(ConfigError::TlsNeedsPeerPort);
    }
    Ok(())
}

/// The TLS setup of `config`, its files read and checked; `None` without TLS.
pub(super) fn load(config: &ServerConfig) -> Result<Option<TlsConfig>, super::ServerError> {
    check(config)?;
    let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) else {
        return Ok(None);
    };
    let loaded: Result<TlsConfig, TlsError> =
        TlsConfig::from_pem_files(cert, key, config.tls.client_ca.as_deref());
    Ok(Some(loaded?))
}

/// Says at start that TLS is on, for which listeners, and whether clients need certificates.
pub(super) fn log_on(
    tls: &TlsConfig,
    config: &ServerConfig,
    http: SocketAddr,
    grpc: Option<SocketAddr>,
) {
    let client_certs = if tls.requires_client_certs() {
        "required"
    } else {
        "not asked"
    };
    let cert = config
        .tls
        .cert
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    tracing::info!(
        %http,
        grpc = grpc.map(|a| a.to_string()).unwrap_or_else(|| "none".to_owned()),
        client_certs,
        cert,
        "TLS on the client HTTP port and the gRPC port (peer traffic stays plain HTTP)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::tests::parse;

    #[test]
    fn the_files_come_from_flags_environment_or_file_and_print_back() {
        let c = parse(&[
            "--tls-cert",
            "/etc/n/server.pem",
            "--tls-key=/etc/n/server.key",
        ])
        .unwrap();
        assert_eq!(c.tls.cert, Some(PathBuf::from("/etc/n/server.pem")));
        assert_eq!(c.tls.key, Some(PathBuf::from("/etc/n/server.key")));
        assert_eq!(c.tls.client_ca, None);
        let env = |k: &str| match k {
            "NACRE_TLS_CERT" => Some("/a.pem".to_owned()),
            "NACRE_TLS_KEY" => Some("/a.key".to_owned()),
            "NACRE_TLS_CLIENT_CA" => Some("/ca.pem".to_owned()),
            _ => None,
        };
        let c = ServerConfig::from_args_and_env(Vec::new(), env).unwrap();
        assert_eq!(c.tls.client_ca, Some(PathBuf::from("/ca.pem")));
        let toml = c.to_toml();
        assert!(toml.contains("tls-cert = \"/a.pem\"\n"), "{toml}");
        assert!(toml.contains("tls-client-ca = \"/ca.pem\"\n"), "{toml}");
        let file = std::env::temp_dir().join(format!("nacre-tls-{}.toml", std::process::id()));
        std::fs::write(&file, &toml).unwrap();
        let again = parse(&["--config", &file.display().to_string()]);
        let _ = std::fs::remove_file(&file);
        assert_eq!(again.unwrap(), c, "{toml}");
        assert!(!parse(&[]).unwrap().to_toml().contains("tls-"));
        assert!(matches!(
            parse(&["--tls-cert", " ", "--tls-key", "/k"]),
            Err(ConfigError::BadValue { .. })
        ));
    }

    #[test]
    fn certificate_and_key_come_together_and_a_client_ca_only_with_them() {
        for (args, setting) in [
            (&["--tls-cert", "/c.pem"][..], "--tls-cert"),
            (&["--tls-key", "/c.key"][..], "--tls-key"),
            (&["--tls-client-ca", "/ca.pem"][..], "--tls-client-ca"),
            (
                &["--tls-key", "/k", "--tls-client-ca", "/ca"][..],
                "--tls-key",
            ),
        ] {
            match parse(args) {
                Err(ConfigError::Needs { setting: s, .. }) => assert_eq!(s, setting, "{args:?}"),
                other => panic!("{args:?}: {other:?}"),
            }
        }
        let err = parse(&["--tls-cert", "/c.pem"]).unwrap_err().to_string();
        assert!(err.contains("--tls-key"), "{err}");
    }

    #[test]
    fn a_cluster_member_with_tls_must_serve_its_peers_on_a_port_of_their_own() {
        let tls = ["--tls-cert", "/c.pem", "--tls-key", "/c.key"];
        let members = [
            "--port",
            "9000",
            "--members",
            "127.0.0.1:9000,127.0.0.1:9001",
        ];
        let mut args = tls.to_vec();
        args.extend(members);
        let err = parse(&args).unwrap_err();
        assert_eq!(err, ConfigError::TlsNeedsPeerPort);
        assert!(err.to_string().contains("--peer-port"), "{err}");
        let mut args = tls.to_vec();
        args.extend([
            "--peer-port",
            "9100",
            "--members",
            "127.0.0.1:9100,127.0.0.1:9101",
        ]);
        let c = parse(&args).unwrap();
        assert_eq!(c.node_id().unwrap().as_str(), "127.0.0.1:9100");
        // A standalone node needs no peer port.
        assert!(parse(&tls).is_ok());
    }
}

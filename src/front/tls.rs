//! TLS for the fronts' listeners (feature `tls`): [`TlsConfig`] loads a certificate chain and
//! its private key from PEM files (and, for mutual TLS, the CA that signs client
//! certificates), checks them at once, and hands each front a `rustls` server configuration
//! with the ALPN protocol its clients expect: `http/1.1` for the v1 HTTP API
//! ([`TlsConfig::http1`]), `h2` for gRPC ([`TlsConfig::grpc`]; grpc-java and netty refuse a
//! TLS server that does not choose `h2`).
//!
//! ```no_run
//! use nacre::front::tls::TlsConfig;
//! use std::path::Path;
//!
//! # fn run() -> Result<(), nacre::front::tls::TlsError> {
//! let tls = TlsConfig::from_pem_files(
//!     Path::new("/etc/nacre/server.pem"),
//!     Path::new("/etc/nacre/server.key"),
//!     Some(Path::new("/etc/nacre/clients-ca.pem")), // `None`: no client certificates asked
//! )?;
//! assert!(tls.requires_client_certs());
//! let for_grpc = tls.grpc(); // give it to `GrpcFront::with_tls`
//! assert_eq!(for_grpc.alpn_protocols, [b"h2".to_vec()]);
//! # Ok(())
//! # }
//! ```
//!
//! ## Design
//! - **rustls on ring, no OpenSSL**: the crypto provider is passed explicitly (not the
//!   process-wide default), so the build holds one provider and nothing panics choosing one.
//!   TLS 1.3 and 1.2, rustls' safe defaults. ring offers no post-quantum key exchange
//!   (rustls has it on aws-lc-rs only), which is why rustls marks its ring provider
//!   deprecated; nacre keeps ring so the build needs no C toolchain beyond ring's own.
//! - **Everything is checked at load**: a missing or unreadable file, a file with no
//!   certificate or no key, a key rustls cannot use, a key that is not the certificate's, a CA
//!   file with no usable certificate: each is a [`TlsError`] naming the file and what is
//!   wrong, so a bad file stops a server's start rather than its first handshake. Keys may be
//!   PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1
//!   (`BEGIN EC PRIVATE KEY`); the first key in the key file is used, and the certificate
//!   file holds the server's certificate first, then the intermediates.
//! - **Client certificates, when asked, are required**: with a client CA every client must
//!   present a certificate that chains to it (mutual TLS); without one none is asked.
//! - **The handshake holds the connection's place**: a listener runs it after its connection
//!   gate admitted the connection, bounded by a timeout (the HTTP header timeout, the gRPC
//!   setup timeout), so a client that never finishes it frees its place when the timeout
//!   passes. Failed handshakes are logged at debug each, and at warn at most once per
//!   [`crate::front::gate::REFUSAL_LOG_INTERVAL`] with the count left unlogged.
//!
//! ## Differences from Nacos
//! - Nacos configures TLS twice: Spring Boot's `server.ssl.*` (a Java keystore) for the HTTP
//!   port, `nacos.remote.server.rpc.tls.*` (PEM files, optional mutual auth) for the gRPC
//!   port. nacre has one certificate, key and client CA for both (`--tls-cert`, `--tls-key`,
//!   `--tls-client-ca` of `nacre-server`), PEM only.
//! - Nacos' gRPC TLS can accept plaintext and TLS on one port (`compatibility`); a nacre port
//!   is one or the other.
//! - No certificate reload while running: restart to change the files.

use super::gate::{RefusalLog, REFUSAL_LOG_INTERVAL};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// The ALPN protocol of HTTP/1.1, offered by the v1 HTTP listener.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";
/// The ALPN protocol of HTTP/2, chosen by the gRPC listener.
pub const ALPN_H2: &[u8] = b"h2";

/// Which of the TLS files an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    /// The server's certificate chain (`--tls-cert`).
    Certificate,
    /// The server's private key (`--tls-key`).
    Key,
    /// The CA certificates client certificates must chain to (`--tls-client-ca`).
    ClientCa,
}

impl fmt::Display for TlsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Certificate => "certificate",
            Self::Key => "private key",
            Self::ClientCa => "client CA",
        })
    }
}

/// Why the TLS files cannot be used. Each names the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The file cannot be read (missing, unreadable).
    #[error("cannot read the TLS {file} file {path}: {source}")]
    Read {
        /// Which file.
        file: TlsFile,
        /// Its path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not well-formed PEM.
    #[error("the TLS {file} file {path} is not well-formed PEM: {reason}")]
    Pem {
        /// Which file.
        file: TlsFile,
        /// Its path.
        path: PathBuf,
        /// What the PEM reader found.
        reason: String,
    },
    /// The file holds no `BEGIN CERTIFICATE` block.
    #[error(
        "the TLS {file} file {path} holds no certificate (a PEM `-----BEGIN CERTIFICATE-----` block)"
    )]
    NoCertificate {
        /// Which file.
        file: TlsFile,
        /// Its path.
        path: PathBuf,
    },
    /// The key file holds no private key block.
    #[error(
        "the TLS key file {path} holds no private key (a PEM `BEGIN PRIVATE KEY` (PKCS#8), \
         `BEGIN RSA PRIVATE KEY` (PKCS#1) or `BEGIN EC PRIVATE KEY` (SEC1) block)"
    )]
    NoKey {
        /// Its path.
        path: PathBuf,
    },
    /// The private key is not one rustls can sign with (an unsupported algorithm or curve,
    /// or bytes that are not a key).
    #[error("the private key in {path} cannot be used: {reason}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// rustls' reason.
        reason: String,
    },
    /// A certificate that cannot be parsed or used.
    #[error("a certificate in the TLS {file} file {path} cannot be used: {reason}")]
    BadCertificate {
        /// Which file.
        file: TlsFile,
        /// Its path.
        path: PathBuf,
        /// rustls' reason.
        reason: String,
    },
    /// The key is not the key of the chain's first certificate.
    #[error(
        "the private key in {key} is not the key of the first certificate in {cert}: give the \
         key the certificate was issued for, and put the server's own certificate first in \
         its file, its intermediates after it"
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the configuration for another reason.
    #[error("TLS cannot be set up: {0}")]
    Setup(String),
}

/// A loaded, checked TLS setup: see the module documentation. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// Without ALPN; each front's copy adds its protocol.
    base: Arc<rustls::ServerConfig>,
    client_certs_required: bool,
}

impl TlsConfig {
    /// Loads the certificate chain at `cert` and the private key at `key` (PEM), and with
    /// `client_ca` requires every client to present a certificate that chains to one of the
    /// CA certificates in it. Checks everything it can before a handshake: see [`TlsError`].
    pub fn from_pem_files(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<Self, TlsError> {
        // rustls 0.23.48 deprecates its ring provider for want of post-quantum key exchange
        // (X25519MLKEM768 is aws-lc-rs' alone); ring keeps the build free of aws-lc's C and
        // cmake. Key exchange is X25519, P-256 or P-384.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certificates(TlsFile::Certificate, cert)?;
        let key_der = private_key(key)?;
        let signing_key = provider
            .key_provider
            .load_private_key(key_der)
            .map_err(|e| TlsError::BadKey {
                path: key.to_owned(),
                reason: e.to_string(),
            })?;
        let certified = CertifiedKey::new(chain, signing_key);
        match certified.keys_match() {
            // A key that cannot say its public key (none of ring's): nothing to compare.
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(_)) => {
                return Err(TlsError::KeyMismatch {
                    cert: cert.to_owned(),
                    key: key.to_owned(),
                })
            }
            Err(e) => {
                return Err(TlsError::BadCertificate {
                    file: TlsFile::Certificate,
                    path: cert.to_owned(),
                    reason: e.to_string(),
                })
            }
        }
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => builder.with_client_cert_verifier(client_verifier(path, provider)?),
        };
        let config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        Ok(Self {
            base: Arc::new(config),
            client_certs_required: client_ca.is_some(),
        })
    }

    /// Whether clients must present a certificate (a client CA was given).
    pub fn requires_client_certs(&self) -> bool {
        self.client_certs_required
    }

    /// The configuration for an HTTP/1.1 listener: ALPN `http/1.1`.
    pub fn http1(&self) -> Arc<rustls::ServerConfig> {
        self.with_alpn(ALPN_HTTP1)
    }

    /// The configuration for a gRPC listener: ALPN `h2`.
    pub fn grpc(&self) -> Arc<rustls::ServerConfig> {
        self.with_alpn(ALPN_H2)
    }

    fn with_alpn(&self, protocol: &[u8]) -> Arc<rustls::ServerConfig> {
        let mut config = (*self.base).clone();
        config.alpn_protocols = vec![protocol.to_vec()];
        Arc::new(config)
    }
}

fn read(file: TlsFile, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        file,
        path: path.to_owned(),
        source,
    })
}

fn pem_error(file: TlsFile, path: &Path, error: rustls::pki_types::pem::Error) -> TlsError {
    TlsError::Pem {
        file,
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

/// Every certificate in the PEM file at `path`, in order; at least one.
fn certificates(file: TlsFile, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(file, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(file, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            file,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in the PEM file at `path`.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(TlsFile::Key, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_owned(),
        },
        other => pem_error(TlsFile::Key, path, other),
    })
}

/// A verifier that requires a client certificate chaining to a CA in the file at `path`.
fn client_verifier(
    path: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let bad = |reason: String| TlsError::BadCertificate {
        file: TlsFile::ClientCa,
        path: path.to_owned(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(TlsFile::ClientCa, path)? {
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| bad(e.to_string()))
}

/// The TLS side of one listener: runs each admitted connection's handshake within a
/// timeout, and logs failures without letting a flood of them flood the log. (The listeners
/// that use it are the gRPC front's and the server's: with feature `tls` alone it is unused.)
#[cfg_attr(not(any(feature = "grpc", feature = "server")), allow(dead_code))]
pub(crate) struct TlsAcceptor {
    acceptor: tokio_rustls::TlsAcceptor,
    /// The listener, as logs name it (`"HTTP"`, `"gRPC"`).
    listener: &'static str,
    failures: RefusalLog,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

#[cfg_attr(not(any(feature = "grpc", feature = "server")), allow(dead_code))]
impl TlsAcceptor {
    /// The acceptor of `listener` (named in its logs) with `config`.
    pub(crate) fn new(config: Arc<rustls::ServerConfig>, listener: &'static str) -> Self {
        Self {
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            listener,
            failures: RefusalLog::new(REFUSAL_LOG_INTERVAL),
        }
    }

    /// The TLS stream of `stream` (from `peer`) once its handshake is done, or `None` when
    /// it fails or is not done within `timeout` (then the connection is dropped: closed).
    pub(crate) async fn handshake(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        timeout: Duration,
    ) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
        let error = match tokio::time::timeout(timeout, self.acceptor.accept(stream)).await {
            Ok(Ok(tls)) => return Some(tls),
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("not finished within {timeout:?}"),
        };
        let listener = self.listener;
        tracing::debug!(listener, %peer, %error, "TLS handshake failed");
        if let Some(unlogged) = self.failures.due(Instant::now()) {
            tracing::warn!(listener, %peer, %error, unlogged, "TLS handshake failed");
        }
        None
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;

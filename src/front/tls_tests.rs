use super::*;
use std::path::PathBuf;

#[path = "../../tests/tls/certs.rs"]
mod certs;

use certs::Certs;

/// A scratch folder for one test's files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("nacre-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `text` to `name` in the folder; its path.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tls/fixtures")
        .join(name)
}

#[test]
fn a_certificate_and_its_key_load_and_each_front_gets_its_alpn() {
    let certs = Certs::generate();
    let dir = Scratch::new("load");
    let cert = dir.file("server.pem", &certs.server.cert);
    let key = dir.file("server.key", &certs.server.key);
    let tls = TlsConfig::from_pem_files(&cert, &key, None).unwrap();
    assert!(!tls.requires_client_certs());
    assert_eq!(tls.http1().alpn_protocols, [b"http/1.1".to_vec()]);
    assert_eq!(tls.grpc().alpn_protocols, [b"h2".to_vec()]);
}

#[test]
fn keys_in_pkcs8_pkcs1_and_sec1_all_load() {
    let certs = Certs::generate();
    let dir = Scratch::new("formats");
    let pkcs8 = dir.file("server.key", &certs.server.key);
    assert!(certs.server.key.starts_with("-----BEGIN PRIVATE KEY-----"));
    let cert = dir.file("server.pem", &certs.server.cert);
    TlsConfig::from_pem_files(&cert, &pkcs8, None).expect("PKCS#8");
    let rsa = fixture("rsa-pkcs1.key");
    assert!(std::fs::read_to_string(&rsa)
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    TlsConfig::from_pem_files(&fixture("rsa.pem"), &rsa, None).expect("PKCS#1");
    let ec = fixture("ec-sec1.key");
    assert!(std::fs::read_to_string(&ec)
        .unwrap()
        .starts_with("-----BEGIN EC PRIVATE KEY-----"));
    TlsConfig::from_pem_files(&fixture("ec.pem"), &ec, None).expect("SEC1");
}

#[test]
fn a_missing_file_is_refused_with_its_name() {
    let certs = Certs::generate();
    let dir = Scratch::new("missing");
    let key = dir.file("server.key", &certs.server.key);
    let missing = dir.0.join("nowhere.pem");
    let err = TlsConfig::from_pem_files(&missing, &key, None).unwrap_err();
    assert!(
        matches!(&err, TlsError::Read { file: TlsFile::Certificate, path, .. } if *path == missing),
        "{err:?}"
    );
    assert!(err.to_string().contains("nowhere.pem"), "{err}");
}

#[test]
fn files_swapped_or_without_their_block_are_refused() {
    let certs = Certs::generate();
    let dir = Scratch::new("swapped");
    let cert = dir.file("server.pem", &certs.server.cert);
    let key = dir.file("server.key", &certs.server.key);
    let err = TlsConfig::from_pem_files(&key, &cert, None).unwrap_err();
    assert!(
        matches!(&err, TlsError::NoCertificate { file: TlsFile::Certificate, path } if *path == key),
        "{err:?}"
    );
    let err = TlsConfig::from_pem_files(&cert, &cert, None).unwrap_err();
    assert!(
        matches!(&err, TlsError::NoKey { path } if *path == cert),
        "{err:?}"
    );
    assert!(err.to_string().contains("PKCS#8"), "{err}");
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let certs = Certs::generate();
    let dir = Scratch::new("mismatch");
    let cert = dir.file("server.pem", &certs.server.cert);
    let other = dir.file("client.key", &certs.client.key);
    let err = TlsConfig::from_pem_files(&cert, &other, None).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("server.pem") && text.contains("client.key"),
        "{text}"
    );
}

#[test]
fn broken_pem_is_refused() {
    let certs = Certs::generate();
    let dir = Scratch::new("broken");
    let cut = &certs.server.cert[..certs.server.cert.len() / 2];
    let cert = dir.file("server.pem", cut);
    let key = dir.file("server.key", &certs.server.key);
    let err = TlsConfig::from_pem_files(&cert, &key, None).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::Pem {
                file: TlsFile::Certificate,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_client_ca_makes_client_certificates_required_and_must_hold_one() {
    let certs = Certs::generate();
    let dir = Scratch::new("client-ca");
    let cert = dir.file("server.pem", &certs.server.cert);
    let key = dir.file("server.key", &certs.server.key);
    let ca = dir.file("ca.pem", &certs.ca);
    let tls = TlsConfig::from_pem_files(&cert, &key, Some(&ca)).unwrap();
    assert!(tls.requires_client_certs());
    let err = TlsConfig::from_pem_files(&cert, &key, Some(&key)).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::NoCertificate {
                file: TlsFile::ClientCa,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A client config trusting `ca`, offering `alpn`.
fn client(ca: &str, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// The ALPN protocol a handshake with `server` settles on when the client offers `h2` and
/// `http/1.1`.
async fn negotiated(server: Arc<rustls::ServerConfig>, ca: &str) -> Option<Vec<u8>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connector = tokio_rustls::TlsConnector::from(client(ca, &[ALPN_H2, ALPN_HTTP1]));
    let connecting = tokio::spawn(async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        connector.connect(name, tcp).await.unwrap()
    });
    let (stream, peer) = listener.accept().await.unwrap();
    let acceptor = TlsAcceptor::new(server, "test");
    let tls = acceptor
        .handshake(stream, peer, Duration::from_secs(10))
        .await
        .expect("the handshake completes");
    let _client = connecting.await.unwrap();
    tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
}

#[tokio::test]
async fn grpc_settles_on_h2_and_http_on_http11() {
    let certs = Certs::generate();
    let dir = Scratch::new("alpn");
    let cert = dir.file("server.pem", &certs.server.cert);
    let key = dir.file("server.key", &certs.server.key);
    let tls = TlsConfig::from_pem_files(&cert, &key, None).unwrap();
    assert_eq!(
        negotiated(tls.grpc(), &certs.ca).await.as_deref(),
        Some(ALPN_H2)
    );
    assert_eq!(
        negotiated(tls.http1(), &certs.ca).await.as_deref(),
        Some(ALPN_HTTP1)
    );
}

#[tokio::test]
async fn a_handshake_not_done_within_its_timeout_is_given_up() {
    let certs = Certs::generate();
    let dir = Scratch::new("timeout");
    let cert = dir.file("server.pem", &certs.server.cert);
    let key = dir.file("server.key", &certs.server.key);
    let tls = TlsConfig::from_pem_files(&cert, &key, None).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // A client that connects and says nothing.
    let _silent = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (stream, peer) = listener.accept().await.unwrap();
    let started = Instant::now();
    let acceptor = TlsAcceptor::new(tls.http1(), "test");
    let done = acceptor
        .handshake(stream, peer, Duration::from_millis(300))
        .await;
    assert!(done.is_none());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

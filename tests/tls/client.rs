//! The tests' TLS clients, on rustls and ring: raw HTTP/1.1 over TLS, and a tonic channel
//! over TLS (tonic's own TLS features are not built; the connector does the handshake).

use crate::certs::Pem;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A client that trusts the CA certificates in `trust` (none: it trusts no server), presents
/// `identity` when given, and offers `alpn`.
pub(crate) fn config(
    trust: Option<&str>,
    identity: Option<&Pem>,
    alpn: &[&[u8]],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(trust.unwrap_or_default().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    // The provider the server uses (rustls marks it deprecated: no post-quantum exchange).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let chain = CertificateDer::pem_slice_iter(pem.cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(pem.key.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A TLS connection to `addr`, checked against its IP address.
pub(crate) async fn connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::IpAddress(addr.ip().into());
    TlsConnector::from(config).connect(name, tcp).await
}

/// Sends `raw` over TLS to `addr` and reads until the server closes (or 20 s pass): the
/// answer, or why there is none (the handshake failed, or the server closed with an alert
/// before answering).
pub(crate) async fn exchange(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    raw: &[u8],
) -> std::io::Result<String> {
    let mut tls = connect(addr, config).await?;
    tls.write_all(raw).await?;
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut out)).await;
    if let Ok(Err(error)) = read {
        if out.is_empty() {
            return Err(error);
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A `method path` request with an empty body, closing the connection after.
pub(crate) fn request(method: &str, path: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// A gRPC channel to `addr` over TLS with `config` (which should offer `h2`).
pub(crate) async fn grpc_channel(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let connector = tower::service_fn(move |_: tonic::codegen::http::Uri| {
        let config = config.clone();
        async move {
            let tls = connect(addr, config).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
        }
    });
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("a valid address")
        .connect_timeout(Duration::from_secs(10))
        .connect_with_connector(connector)
        .await
}

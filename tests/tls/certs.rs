//! Certificates made fresh for a test run with rcgen (on ring, as the server's rustls): a CA,
//! a server certificate for `127.0.0.1` and `localhost` signed by it, a client certificate
//! signed by it, and a client certificate signed by another CA (a stranger's). Shared by the
//! unit tests of `nacre::front::tls`, the integration tests in `tests/tls`, and the
//! `cert_gen` tool that `tests/tls/run.sh` builds, each including this file with `#[path]`.
#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::Path;

/// A certificate and its private key (PKCS#8), PEM.
#[derive(Debug, Clone)]
pub(crate) struct Pem {
    pub(crate) cert: String,
    pub(crate) key: String,
}

/// One run's certificates: see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct Certs {
    /// The certificate of the CA that signs the server's and the client's certificates.
    pub(crate) ca: String,
    /// For `127.0.0.1` and `localhost`, signed by [`Certs::ca`].
    pub(crate) server: Pem,
    /// A client certificate signed by [`Certs::ca`].
    pub(crate) client: Pem,
    /// A client certificate signed by another CA.
    pub(crate) stranger: Pem,
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names to check");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("ring makes a P-256 key");
    CertifiedIssuer::self_signed(params, key).expect("a CA certificate")
}

fn leaf(
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &CertifiedIssuer<'static, KeyPair>,
) -> Pem {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("valid names");
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("ring makes a P-256 key");
    let cert = params
        .signed_by(&key, issuer)
        .expect("a signed certificate");
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

impl Certs {
    /// A fresh set.
    pub(crate) fn generate() -> Certs {
        let ca = new_ca("nacre test CA");
        let other = new_ca("a stranger's CA");
        Certs {
            server: leaf(
                &["127.0.0.1", "localhost"],
                ExtendedKeyUsagePurpose::ServerAuth,
                &ca,
            ),
            client: leaf(
                &["client.nacre.test"],
                ExtendedKeyUsagePurpose::ClientAuth,
                &ca,
            ),
            stranger: leaf(
                &["stranger.nacre.test"],
                ExtendedKeyUsagePurpose::ClientAuth,
                &other,
            ),
            ca: ca.pem(),
        }
    }

    /// Writes them into `dir` (made if missing): `ca.pem`, `server.pem`, `server.key`,
    /// `client.pem`, `client.key`, `stranger.pem`, `stranger.key`.
    pub(crate) fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ca.pem"), &self.ca)?;
        for (name, pem) in [
            ("server", &self.server),
            ("client", &self.client),
            ("stranger", &self.stranger),
        ] {
            std::fs::write(dir.join(format!("{name}.pem")), &pem.cert)?;
            std::fs::write(dir.join(format!("{name}.key")), &pem.key)?;
        }
        Ok(())
    }
}

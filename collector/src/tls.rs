//! TLS for the collector's listeners (rustls): the HTTP API and ingest, and syslog over TLS
//! (RFC 5425). One certificate and key, read from PEM files at start, serve both. With a client
//! CA (`[tls] client_ca_file`) every client of both must present a certificate signed by it
//! (mutual TLS); a client without one is refused at the handshake, before any HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file cannot be read or holds no PEM certificate.
    #[error("TLS certificate file {path}: {reason}")]
    Cert { path: PathBuf, reason: String },
    /// The key file cannot be read or holds no PEM private key.
    #[error("TLS key file {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    /// The client CA file cannot be read, holds no certificate, or rustls refuses it as a
    /// trust anchor.
    #[error("TLS client CA file {path}: {reason}")]
    ClientCa { path: PathBuf, reason: String },
    /// rustls refused the pair (the key does not match the certificate, an unsupported key).
    #[error("TLS certificate {cert} with key {key}: {source}")]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// Where the certificate chain and its key are (`[tls] cert_file`, `key_file`), and the CA
/// that client certificates must be signed by (`client_ca_file`), if clients need one.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// The server side of TLS, as the listeners take it.
pub type Acceptor = tokio_rustls::TlsAcceptor;

impl TlsFiles {
    /// Reads both files and builds the server configuration; `alpn` lists the application
    /// protocols offered (`http/1.1` for the API, none for syslog).
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let certs = read_certs(&self.cert)?;
        let key = read_key(&self.key)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Pair {
                cert: self.cert.clone(),
                key: self.key.clone(),
                source,
            })?;
        let builder = match &self.client_ca {
            Some(path) => builder.with_client_cert_verifier(client_verifier(path, provider)?),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|source| TlsError::Pair {
                cert: self.cert.clone(),
                key: self.key.clone(),
                source,
            })?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    pub fn acceptor(&self, alpn: &[&[u8]]) -> Result<Acceptor, TlsError> {
        Ok(tokio_rustls::TlsAcceptor::from(self.server_config(alpn)?))
    }
}

/// Accepts only clients whose certificate chains to a CA of `path`.
fn client_verifier(
    path: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let err = |reason: String| TlsError::ClientCa {
        path: path.to_owned(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = read_certs(path).map_err(|e| match e {
        TlsError::Cert { reason, .. } => err(reason),
        other => other,
    })?;
    for cert in certs {
        roots.add(cert).map_err(|e| err(e.to_string()))?;
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| err(e.to_string()))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = logwarden_core::tls::read_ca_file(path).map_err(|e| TlsError::Cert {
        path: e.path,
        reason: e.reason,
    })?;
    Ok(certs.into_iter().map(CertificateDer::from).collect())
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Key {
        path: path.to_owned(),
        reason: format!("{e} (a PEM private key: PKCS#8, PKCS#1 or SEC1)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_wrong_files_are_named_with_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let files = TlsFiles {
            cert: dir.path().join("missing.pem"),
            key: empty.clone(),
            client_ca: None,
        };
        let err = files.server_config(&[]).unwrap_err().to_string();
        assert!(err.contains("missing.pem"), "{err}");
        let files = TlsFiles {
            cert: empty.clone(),
            key: empty,
            client_ca: None,
        };
        let err = files.server_config(&[]).unwrap_err().to_string();
        assert!(
            err.contains("empty.pem") && err.contains("no PEM certificate"),
            "{err}"
        );
    }

    #[test]
    fn a_client_ca_file_without_a_certificate_is_named_as_the_client_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("clients-ca.pem");
        std::fs::write(&ca, "not a certificate\n").unwrap();
        let err = client_verifier(&ca, Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("client CA") && err.contains("clients-ca.pem"),
            "{err}"
        );
    }
}

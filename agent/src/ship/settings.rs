//! What shipping is configured with: the compression of batches and the client identity for
//! mutual TLS. A leaf of `ship/`, so that the agent's config can name them without depending on
//! the shipper.

use std::path::PathBuf;

use anyhow::Context;

/// How a batch is compressed on the wire (`[batch] compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Zstd,
    Gzip,
    None,
}

/// The agent's client certificate and key (PEM files) for collectors that demand mutual TLS.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientIdentity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl ClientIdentity {
    /// Reads both files (a missing or wrong one is named).
    pub fn load(&self) -> anyhow::Result<reqwest::Identity> {
        let pem = logwarden_core::tls::read_client_identity(&self.cert, &self.key)?;
        reqwest::Identity::from_pem(&pem).with_context(|| {
            format!(
                "client certificate {} with key {}",
                self.cert.display(),
                self.key.display()
            )
        })
    }
}

//! `[tls]`: the certificate that turns on TLS for the HTTP API, ingest and syslog over TLS.

use std::path::PathBuf;

use anyhow::bail;
use serde::Deserialize;

use super::overrides::Overrides;
use crate::tls::TlsFiles;

/// `[tls]`: a certificate turns on TLS for the HTTP API (and ingest) and syslog over TLS.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, the server's certificate first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    pub key_file: Option<PathBuf>,
    /// PEM CA certificate(s): every client (agents, CLI, browsers, syslog senders) must then
    /// present a certificate signed by one of them (mutual TLS).
    pub client_ca_file: Option<PathBuf>,
}

impl TlsConfig {
    /// The certificate, key and client CA of the file or the flags, read now so that `config
    /// check` and the start name a bad file; `None` when TLS is off.
    pub(super) fn build(self, flags: &Overrides) -> anyhow::Result<Option<TlsFiles>> {
        let client_ca = flags.tls_client_ca.clone().or(self.client_ca_file);
        Ok(
            match (
                flags.tls_cert.clone().or(self.cert_file),
                flags.tls_key.clone().or(self.key_file),
            ) {
                (Some(cert), Some(key)) => {
                    let files = TlsFiles {
                        cert,
                        key,
                        client_ca,
                    };
                    files.server_config(&[])?;
                    Some(files)
                }
                (None, None) if client_ca.is_some() => {
                    bail!("[tls] client_ca_file needs cert_file and key_file (mutual TLS is TLS)")
                }
                (None, None) => None,
                _ => bail!("[tls] needs both cert_file and key_file"),
            },
        )
    }
}

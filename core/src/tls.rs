//! Trusting a private CA: the agent's `ca_file` and the CLI's `--ca-file` name a PEM file of
//! one or more CA certificates (or the collector's self-signed certificate) to trust for
//! `https://` collectors, besides the system's roots.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The CA file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("CA file {path}: {reason}")]
pub struct CaFileError {
    pub path: PathBuf,
    pub reason: String,
}

/// The certificates (DER) of a PEM file; an unreadable file or one without a certificate is
/// an error that names it.
pub fn read_ca_file(path: &Path) -> Result<Vec<Vec<u8>>, CaFileError> {
    let err = |reason: String| CaFileError {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
        ));
    }
    Ok(certs)
}

/// The client certificate or its key cannot be used (mutual TLS).
#[derive(Debug, thiserror::Error)]
#[error("client {what} file {path}: {reason}")]
pub struct ClientIdentityError {
    pub what: &'static str,
    pub path: PathBuf,
    pub reason: String,
}

/// The agent's `client_cert_file`/`client_key_file` and the CLI's `--client-cert`/`--client-key`
/// as one PEM buffer, key first (what reqwest's `Identity::from_pem` takes); each file is
/// checked to hold what it should, so that an error names the right one.
pub fn read_client_identity(cert: &Path, key: &Path) -> Result<Vec<u8>, ClientIdentityError> {
    let err = |what, path: &Path, reason: String| ClientIdentityError {
        what,
        path: path.to_owned(),
        reason,
    };
    read_ca_file(cert).map_err(|e| err("certificate", cert, e.reason))?;
    rustls_pki_types::PrivateKeyDer::from_pem_file(key).map_err(|e| {
        err(
            "key",
            key,
            format!("{e} (a PEM private key: PKCS#8, PKCS#1 or SEC1)"),
        )
    })?;
    let mut pem = std::fs::read(key).map_err(|e| err("key", key, e.to_string()))?;
    pem.push(b'\n');
    pem.extend(std::fs::read(cert).map_err(|e| err("certificate", cert, e.to_string()))?);
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_named() {
        let dir = std::env::temp_dir().join(format!("lw-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ca.pem");
        std::fs::write(&path, "hello\n").unwrap();
        let e = read_ca_file(&path).unwrap_err().to_string();
        assert!(
            e.contains("ca.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let e = read_ca_file(&dir.join("missing.pem"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.pem"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_client_identity_names_the_file_that_is_wrong() {
        let dir = std::env::temp_dir().join(format!("lw-id-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "hello\n").unwrap();
        let e = read_client_identity(&junk, &junk).unwrap_err().to_string();
        assert!(e.contains("certificate") && e.contains("junk.pem"), "{e}");
        let e = read_client_identity(&dir.join("missing.pem"), &junk)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.pem"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! How the e-mail receiver secures its SMTP connection: `tls = "starttls" | "tls" | "none"`, the
//! roots it trusts (the system's, plus a CA file), and the rule that a password never goes out
//! over a connection that is not encrypted.
//!
//! - `starttls`: a plain connection upgraded with `STARTTLS` before anything else is sent; a
//!   server that does not offer it is refused (no silent fallback to plain text). Port 587.
//! - `tls`: TLS from the first byte ("implicit TLS", SMTPS). Port 465.
//! - `none`: plain SMTP, for a relay on the same host or a trusted link. Port 25. With
//!   credentials it is refused at config time unless `allow_plain_auth = true` says so.
//!
//! The default is `starttls` when the receiver has credentials and `none` otherwise, so that a
//! config written for a local relay keeps working and one with a password is never sent in clear.
//! The server's certificate must chain to the system's trusted roots (rustls-native-certs:
//! `/etc/ssl/certs`) or to the PEM certificates of `ca_file`, and name the host of `smtp`.

use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};

/// The `tls` setting of an e-mail receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    StartTls,
    Tls,
}

impl SmtpTls {
    pub fn parse(s: &str) -> Option<SmtpTls> {
        match s {
            "none" => Some(SmtpTls::None),
            "starttls" => Some(SmtpTls::StartTls),
            "tls" => Some(SmtpTls::Tls),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::None => "none",
            SmtpTls::StartTls => "starttls",
            SmtpTls::Tls => "tls",
        }
    }

    /// The port of `smtp` when it names none.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// Why an e-mail receiver's TLS settings are refused (at config time).
#[derive(Debug, thiserror::Error)]
pub enum SmtpTlsError {
    #[error(
        "`tls = \"none\"` with `username`/`password` would send the password in clear: use `tls = \"starttls\"` or `\"tls\"`, or set `allow_plain_auth = true` for a relay on a trusted link"
    )]
    PlainAuth,
    #[error("`tls` {0:?} is not one of \"starttls\", \"tls\", \"none\"")]
    Unknown(String),
    #[error("ca_file {path}: {reason}")]
    CaFile { path: String, reason: String },
}

/// Decides the mode: the one given, else `starttls` with credentials and `none` without.
pub fn mode(
    given: Option<&str>,
    has_credentials: bool,
    allow_plain_auth: bool,
) -> Result<SmtpTls, SmtpTlsError> {
    let mode = match given {
        Some(s) => SmtpTls::parse(s).ok_or_else(|| SmtpTlsError::Unknown(s.to_owned()))?,
        None if has_credentials => SmtpTls::StartTls,
        None => SmtpTls::None,
    };
    if mode == SmtpTls::None && has_credentials && !allow_plain_auth {
        return Err(SmtpTlsError::PlainAuth);
    }
    Ok(mode)
}

/// Reads a PEM file of CA certificates (checked at config time; kept as text).
pub fn read_ca_file(path: &std::path::Path) -> Result<String, SmtpTlsError> {
    let err = |reason: String| SmtpTlsError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(err("no PEM certificate in it".into()));
    }
    Certificate::from_pem(pem.as_bytes()).map_err(|e| err(e.to_string()))?;
    Ok(pem)
}

/// lettre's TLS setting for a connection to `host`.
pub fn lettre_tls(
    mode: SmtpTls,
    host: &str,
    ca_pem: Option<&str>,
) -> Result<Tls, lettre::transport::smtp::Error> {
    if mode == SmtpTls::None {
        return Ok(Tls::None);
    }
    let mut params = TlsParameters::builder(host.to_owned());
    if let Some(pem) = ca_pem {
        params = params.add_root_certificate(Certificate::from_pem(pem.as_bytes())?);
    }
    let params = params.build_rustls()?;
    Ok(match mode {
        SmtpTls::StartTls => Tls::Required(params),
        _ => Tls::Wrapper(params),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_default_to_clear_text() {
        assert_eq!(mode(None, true, false).unwrap(), SmtpTls::StartTls);
        assert_eq!(mode(None, false, false).unwrap(), SmtpTls::None);
        assert!(matches!(
            mode(Some("none"), true, false),
            Err(SmtpTlsError::PlainAuth)
        ));
        assert_eq!(mode(Some("none"), true, true).unwrap(), SmtpTls::None);
        assert_eq!(mode(Some("tls"), true, false).unwrap(), SmtpTls::Tls);
        assert!(matches!(
            mode(Some("ssl"), false, false),
            Err(SmtpTlsError::Unknown(_))
        ));
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a certificate").unwrap();
        let e = read_ca_file(&p).unwrap_err().to_string();
        assert!(e.contains("ca.pem") && e.contains("no PEM"), "{e}");
        assert!(read_ca_file(&dir.path().join("missing.pem")).is_err());
    }
}

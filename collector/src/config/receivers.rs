//! `[[alerts.receivers]]`: where alerts are sent (webhook, Slack, PagerDuty, e-mail, a command),
//! checked into [`Receiver`]s.

use std::path::PathBuf;

use anyhow::{Context, bail};
use logwarden_core::config_duration::{ConfigDuration, DurationKey};
use serde::Deserialize;

use crate::notify::{Receiver, ReceiverKind, email::EmailSettings, smtp_tls};

/// `[[alerts.receivers]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    /// `webhook`, `slack`, `pagerduty`, `email` or `command`.
    #[serde(rename = "type")]
    pub kind: String,
    pub url: Option<String>,
    pub routing_key: Option<String>,
    /// `host:port` of the SMTP server (email).
    pub smtp: Option<String>,
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    pub username: Option<String>,
    /// With where it is written, for the error of a password that would go in clear.
    pub password: Option<toml::Spanned<String>>,
    /// email: `starttls`, `tls` or `none` (notify::smtp_tls), with where it is written.
    pub tls: Option<toml::Spanned<String>>,
    /// email: PEM CA certificates trusted besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// email: AUTH over `tls = "none"` (a relay on a trusted link).
    #[serde(default)]
    pub allow_plain_auth: bool,
    #[serde(default)]
    pub command: Vec<String>,
    /// command: how long the command may run (`"30s"`, the default).
    pub timeout: Option<ConfigDuration>,
    /// Deprecated: `timeout` in seconds.
    pub timeout_s: Option<f64>,
    #[serde(default)]
    pub severities: Vec<String>,
    /// `NAME=VALUE` or `NAME!=VALUE` over the alert's labels, `alertname`, `severity`.
    #[serde(default)]
    pub matchers: Vec<String>,
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

impl ReceiverConfig {
    /// The duration key, with its deprecated spelling in seconds.
    pub(super) fn duration_keys(&self) -> [DurationKey<'_>; 1] {
        [DurationKey::new(
            "[[alerts.receivers]]",
            "timeout",
            self.timeout,
            "timeout_s",
            self.timeout_s,
        )]
    }
}

/// How long a command receiver may run when the file does not say.
const DEFAULT_COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn yes() -> bool {
    true
}

/// The TLS mode of an e-mail receiver, or why it is refused (an unknown mode, credentials that
/// would go in clear).
fn email_tls(r: &ReceiverConfig) -> Result<smtp_tls::SmtpTls, smtp_tls::SmtpTlsError> {
    let has_credentials = r.username.is_some() || r.password.is_some();
    let tls = r.tls.as_ref().map(|t| t.get_ref().as_str());
    smtp_tls::mode(tls, has_credentials, r.allow_plain_auth)
}

/// What is wrong with the e-mail receivers' TLS, named by file and line (the `tls` key, else
/// the `password`), for `config check`, a start and a reload.
pub(super) fn check_tls(
    receivers: &[ReceiverConfig],
    path: &std::path::Path,
    text: &str,
) -> anyhow::Result<()> {
    for r in receivers.iter().filter(|r| r.kind == "email") {
        let Err(e) = email_tls(r) else { continue };
        let span = r.tls.as_ref().map(|t| t.span());
        let at = match span.or_else(|| r.password.as_ref().map(|p| p.span())) {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("config file {}, line {line}", path.display())
            }
            None => format!("config file {}", path.display()),
        };
        bail!("{at}: receiver {:?} (email): {e}", r.name);
    }
    Ok(())
}

pub(super) fn receiver(r: ReceiverConfig) -> anyhow::Result<Receiver> {
    let need = |v: Option<String>, key: &str| {
        v.filter(|s| !s.trim().is_empty())
            .with_context(|| format!("receiver {:?} ({}) needs `{key}`", r.name, r.kind))
    };
    let kind = match r.kind.as_str() {
        "webhook" => ReceiverKind::Webhook {
            url: need(r.url.clone(), "url")?,
        },
        "slack" => ReceiverKind::Slack {
            url: need(r.url.clone(), "url")?,
        },
        "pagerduty" => ReceiverKind::PagerDuty {
            url: r
                .url
                .clone()
                .unwrap_or_else(|| crate::notify::pagerduty::EVENTS_URL.into()),
            routing_key: need(r.routing_key.clone(), "routing_key")?,
        },
        "email" => {
            let smtp = need(r.smtp.clone(), "smtp")?;
            let tls =
                email_tls(&r).map_err(|e| anyhow::anyhow!("receiver {:?} (email): {e}", r.name))?;
            let (host, port) = match smtp.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_owned(),
                    p.parse()
                        .with_context(|| format!("receiver {:?}: smtp port {p:?}", r.name))?,
                ),
                None => (smtp.clone(), tls.default_port()),
            };
            let ca_pem = match &r.ca_file {
                Some(p) => Some(
                    smtp_tls::read_ca_file(p)
                        .map_err(|e| anyhow::anyhow!("receiver {:?} (email): {e}", r.name))?,
                ),
                None => None,
            };
            if r.to.is_empty() {
                bail!("receiver {:?} (email) needs `to`", r.name);
            }
            ReceiverKind::Email(EmailSettings {
                host,
                port,
                from: need(r.from.clone(), "from")?,
                to: r.to.clone(),
                username: r.username.clone(),
                password: r.password.as_ref().map(|p| p.get_ref().clone()),
                tls,
                ca_pem,
            })
        }
        "command" => {
            if r.command.is_empty() {
                bail!(
                    "receiver {:?} (command) needs `command = [\"prog\", \"arg\"]`",
                    r.name
                );
            }
            let [timeout] = r.duration_keys();
            ReceiverKind::Command {
                argv: r.command.clone(),
                timeout: timeout.or(DEFAULT_COMMAND_TIMEOUT)?,
            }
        }
        other => bail!(
            "receiver {:?}: type {other:?} is not one of webhook, slack, pagerduty, email, command",
            r.name
        ),
    };
    let severities = r
        .severities
        .iter()
        .map(|s| {
            logwarden_core::wire::AlertSeverity::parse(s).with_context(|| {
                format!(
                    "receiver {:?}: severity {s:?} is not info, warning or critical",
                    r.name
                )
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let matchers = r
        .matchers
        .iter()
        .map(|m| {
            m.parse()
                .map_err(|e: String| anyhow::anyhow!("receiver {:?}: {e}", r.name))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Receiver {
        name: r.name,
        kind,
        severities,
        matchers,
        send_resolved: r.send_resolved,
    })
}

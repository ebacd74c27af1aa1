//! E-mail over SMTP (lettre): a plain-text message a person can read on a phone, one line per
//! alert with its summary, labels and id, and how to acknowledge it.
//!
//! The connection is secured as [`super::smtp_tls`] says (`starttls`, `tls` or `none`).

use std::fmt::Write;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::error::NotifyError;
use super::notification::Notification;
use super::smtp_tls::{self, SmtpTls};

#[derive(Debug, Clone, PartialEq)]
pub struct EmailSettings {
    /// SMTP server host.
    pub host: String,
    pub port: u16,
    pub from: String,
    pub to: Vec<String>,
    /// Optional SMTP AUTH (never over `SmtpTls::None` unless the config allows it).
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: SmtpTls,
    /// PEM certificates trusted besides the system's roots (`ca_file`, read at config time).
    pub ca_pem: Option<String>,
}

/// Subject and body of the message.
pub fn render(n: &Notification) -> (String, String) {
    let mut body = String::new();
    for a in &n.alerts {
        let summary = a.annotations.get("summary").map_or("", String::as_str);
        let _ = writeln!(
            body,
            "{} {} ({})\n  {summary}",
            a.status.as_str().to_uppercase(),
            a.name,
            a.severity
        );
        let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(body, "  labels: {}", labels.join(" "));
        if let Some(url) = a.annotations.get("runbook_url").filter(|u| !u.is_empty()) {
            let _ = writeln!(body, "  runbook: {url}");
        }
        let _ = writeln!(
            body,
            "  since {}  id {}\n",
            a.starts_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            a.id
        );
    }
    if n.firing().next().is_some() {
        let _ = writeln!(
            body,
            "Acknowledge: logwarden ack ID    Silence: logwarden silence add alertname=NAME host=HOST --duration 2h"
        );
    }
    let _ = writeln!(body, "{}", n.external_url);
    (n.title(), body)
}

pub async fn send(s: &EmailSettings, n: &Notification) -> Result<(), NotifyError> {
    let bad = |e: &dyn std::fmt::Display| NotifyError::BadMessage(e.to_string());
    let (subject, body) = render(n);
    let from: Mailbox = s.from.parse().map_err(|e| bad(&e))?;
    let mut msg = Message::builder().from(from).subject(subject);
    for to in &s.to {
        msg = msg.to(to.parse::<Mailbox>().map_err(|e| bad(&e))?);
    }
    let msg = msg
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| bad(&e))?;
    let server = format!("{}:{}", s.host, s.port);
    let tls = smtp_tls::lettre_tls(s.tls, &s.host, s.ca_pem.as_deref()).map_err(|e| {
        NotifyError::Smtp {
            server: server.clone(),
            reason: format!("TLS setup: {e}"),
            permanent: true,
        }
    })?;
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
        .port(s.port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(30)));
    if let (Some(u), Some(p)) = (&s.username, &s.password) {
        transport = transport.credentials(Credentials::new(u.clone(), p.clone()));
    }
    transport
        .build()
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| NotifyError::Smtp {
            server,
            reason: smtp_reason(&e),
            permanent: e.is_permanent(),
        })
}

/// The error with its causes (a TLS failure says why the certificate was refused).
fn smtp_reason(e: &lettre::transport::smtp::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        source = cause.source();
    }
    // lettre's text and its cause's may repeat a part ("Connection error: Connection error").
    let mut parts: Vec<&str> = s.split(": ").collect();
    parts.dedup();
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_support::{notification, view};
    use logwarden_core::wire::{AlertSeverity, AlertStatus};

    #[test]
    fn the_message_says_what_where_and_how_to_ack() {
        let n = notification(vec![view(
            "RaidArrayDegraded",
            AlertSeverity::Critical,
            AlertStatus::Firing,
        )]);
        let (subject, body) = render(&n);
        assert_eq!(subject, "[FIRING:1] RaidArrayDegraded host=mbox3");
        assert!(body.contains("md2 on mbox3 degraded"), "{body}");
        assert!(body.contains("logwarden ack"), "{body}");
        assert!(body.contains("id 0123456789abcdef"), "{body}");
    }
}

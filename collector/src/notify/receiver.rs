//! Who a receiver is ([`Receiver`]): its name, how it is reached ([`ReceiverKind`], one transport
//! each) and the flat form's filters. Built from the configuration; read by the routing tree
//! ([`super::route`]) and by [`super::delivery`].

use std::time::Duration;

use logwarden_core::wire::{AlertSeverity, Matcher};

use super::email;

/// How a receiver is reached.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiverKind {
    /// Alertmanager's webhook JSON, POSTed.
    Webhook { url: String },
    /// A Slack incoming webhook.
    Slack { url: String },
    /// PagerDuty Events API v2: one event per alert, the dedup key being the alert's id.
    PagerDuty { url: String, routing_key: String },
    /// Plain-text e-mail over SMTP.
    Email(email::EmailSettings),
    /// A program run with the webhook JSON on stdin.
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
}

/// A configured receiver and the alerts it wants.
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    pub name: String,
    pub kind: ReceiverKind,
    /// The flat form's filters (without `[alerts.route]`): empty: every severity.
    pub severities: Vec<AlertSeverity>,
    /// Every matcher must match the alert's labels (plus `alertname`, `severity`).
    pub matchers: Vec<Matcher>,
    pub send_resolved: bool,
}

impl Receiver {
    /// PagerDuty is told about acknowledgements; the others only stop getting repeats.
    pub fn tracks_acks(&self) -> bool {
        matches!(self.kind, ReceiverKind::PagerDuty { .. })
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ReceiverKind::Webhook { .. } => "webhook",
            ReceiverKind::Slack { .. } => "slack",
            ReceiverKind::PagerDuty { .. } => "pagerduty",
            ReceiverKind::Email(_) => "email",
            ReceiverKind::Command { .. } => "command",
        }
    }
}

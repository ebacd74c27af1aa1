//! Notifications as transports: who a receiver is ([`Receiver`]), what one is sent
//! ([`Notification`], one per group of alerts), how each kind of receiver is spoken to (one file
//! each: [`webhook`], [`slack`], [`pagerduty`], [`email`], [`command`]), delivery at least once
//! ([`deliver`]: retries with backoff, `Retry-After` honoured) and the routing tree ([`route`]:
//! which receivers a set of labels reaches, a pure function of the labels).
//!
//! Nothing here knows the alert table: *when* to send, and what, is decided in `rules/`
//! (`rules::dispatch` from the notification log, the engine's delivery timers), which calls
//! into this module. Calls go one way, rules -> notify.

pub mod command;
pub mod email;
pub mod pagerduty;
pub mod route;
pub mod route_config;
pub mod slack;
pub mod smtp_tls;
pub mod webhook;

use std::collections::BTreeMap;
use std::time::Duration;

use logwarden_core::wire::{AlertSeverity, AlertView, Matcher};

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The receiver could not be reached or did not answer in time.
    #[error("cannot reach {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The receiver answered with an error status.
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
        /// From a `Retry-After` header (429, 503).
        retry_after: Option<Duration>,
    },
    /// The SMTP server refused the message or the conversation failed.
    #[error("SMTP to {server}: {reason}")]
    Smtp {
        server: String,
        reason: String,
        /// A 5xx answer (or a setup that cannot work): sending again will not help.
        permanent: bool,
    },
    /// An address or the message could not be built.
    #[error("e-mail not built: {0}")]
    BadMessage(String),
    /// The command could not be started, or failed, or timed out.
    #[error("command {program}: {reason}")]
    Command { program: String, reason: String },
}

impl NotifyError {
    /// Whether trying again may help (a 4xx other than 408/429 will not).
    pub fn retryable(&self) -> bool {
        match self {
            NotifyError::Status { status, .. } => {
                *status == 408 || *status == 429 || *status >= 500
            }
            NotifyError::BadMessage(_) => false,
            NotifyError::Smtp { permanent, .. } => !permanent,
            _ => true,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            NotifyError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

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

/// What one receiver is sent about one group of alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub receiver: String,
    /// The group's key (`{}:{alertname="X",host="y"}`, as Alertmanager writes it).
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    /// Firing alerts of the group, then the resolved ones being reported.
    pub alerts: Vec<AlertView>,
    /// Where a person can see the alerts (the collector's page).
    pub external_url: String,
}

impl Notification {
    pub fn firing(&self) -> impl Iterator<Item = &AlertView> {
        self.alerts
            .iter()
            .filter(|a| a.status == logwarden_core::wire::AlertStatus::Firing)
    }

    /// `firing` when any alert fires, else `resolved`.
    pub fn status(&self) -> &'static str {
        if self.firing().next().is_some() {
            "firing"
        } else {
            "resolved"
        }
    }

    /// One line: `[FIRING:2] RaidArrayDegraded host=mbox3`.
    pub fn title(&self) -> String {
        let n = self.firing().count();
        let state = if n > 0 {
            format!("[FIRING:{n}]")
        } else {
            "[RESOLVED]".to_owned()
        };
        let labels: Vec<String> = self
            .group_labels
            .iter()
            .filter(|(k, _)| *k != "alertname")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let name = self
            .group_labels
            .get("alertname")
            .cloned()
            .or_else(|| self.alerts.first().map(|a| a.name.clone()))
            .unwrap_or_default();
        format!("{state} {name} {}", labels.join(" "))
            .trim_end()
            .to_owned()
    }
}

/// Sends one notification once.
pub async fn send_once(
    receiver: &Receiver,
    http: &reqwest::Client,
    n: &Notification,
) -> Result<(), NotifyError> {
    match &receiver.kind {
        ReceiverKind::Webhook { url } => webhook::send(http, url, n).await,
        ReceiverKind::Slack { url } => slack::send(http, url, n).await,
        ReceiverKind::PagerDuty { url, routing_key } => {
            pagerduty::send(http, url, routing_key, n).await
        }
        ReceiverKind::Email(settings) => email::send(settings, n).await,
        ReceiverKind::Command { argv, timeout } => command::send(argv, *timeout, n).await,
    }
}

/// How hard [`deliver`] tries.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 8,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// Sends with retries: exponential backoff between attempts, or the receiver's `Retry-After`
/// (capped at five minutes) when it gives one; gives up at once on an error that retrying cannot
/// fix, and after `policy.attempts` otherwise (the engine tries the group again later).
pub async fn deliver(
    receiver: &Receiver,
    http: &reqwest::Client,
    n: &Notification,
    policy: &RetryPolicy,
) -> Result<(), NotifyError> {
    let mut backoff = policy.first_backoff;
    let mut attempt = 1;
    loop {
        match send_once(receiver, http, n).await {
            Ok(()) => return Ok(()),
            Err(e) if !e.retryable() || attempt >= policy.attempts => return Err(e),
            Err(e) => {
                let wait = e
                    .retry_after()
                    .map(|d| d.min(Duration::from_secs(300)))
                    .unwrap_or(backoff);
                tracing::warn!(receiver = %receiver.name, attempt, error = %e,
                    wait_ms = wait.as_millis() as u64, "notification failed; retrying");
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(policy.max_backoff);
                attempt += 1;
            }
        }
    }
}

/// Reads an HTTP answer: `Ok` on 2xx, else a [`NotifyError::Status`] with `Retry-After`.
pub(crate) async fn check_response(
    url: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<(), NotifyError> {
    let resp = sent.map_err(|source| NotifyError::Unreachable {
        url: url.to_owned(),
        source,
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut body = resp.text().await.unwrap_or_default();
    body.truncate(500);
    Err(NotifyError::Status {
        url: url.to_owned(),
        status: status.as_u16(),
        body,
        retry_after,
    })
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use chrono::Utc;
    use logwarden_core::wire::AlertStatus;

    pub fn view(name: &str, sev: AlertSeverity, status: AlertStatus) -> AlertView {
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        AlertView {
            id: "0123456789abcdef".into(),
            name: name.into(),
            severity: sev,
            status,
            labels: BTreeMap::from([
                ("host".into(), "mbox3".into()),
                ("array".into(), "md2".into()),
            ]),
            annotations: BTreeMap::from([(
                "summary".into(),
                "md2 on mbox3 degraded: raid6 [8/6], no spare, 0 redundancy left".into(),
            )]),
            starts_at: t,
            ends_at: (status == AlertStatus::Resolved).then_some(t),
            updated_at: t,
            ack: None,
            silenced_by: vec![],
            inhibited_by: None,
        }
    }

    pub fn notification(alerts: Vec<AlertView>) -> Notification {
        Notification {
            receiver: "ops".into(),
            group_key: "{}:{alertname=\"RaidArrayDegraded\",host=\"mbox3\"}".into(),
            group_labels: BTreeMap::from([
                ("alertname".into(), "RaidArrayDegraded".into()),
                ("host".into(), "mbox3".into()),
            ]),
            alerts,
            external_url: "http://127.0.0.1:7070/".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn delivery_backs_off_exponentially_and_gives_up_after_its_attempts() {
        // Nothing listens on port 1: every attempt is refused at once, and only the backoff
        // timers (of paused tokio time) take time.
        let receiver = Receiver {
            name: "hook".into(),
            kind: ReceiverKind::Webhook {
                url: "http://127.0.0.1:1/".into(),
            },
            severities: vec![],
            matchers: vec![],
            send_resolved: true,
        };
        let policy = RetryPolicy {
            attempts: 4,
            first_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(15),
        };
        let n = test_support::notification(vec![]);
        let start = tokio::time::Instant::now();
        let err = deliver(&receiver, &reqwest::Client::new(), &n, &policy)
            .await
            .unwrap_err();
        assert!(matches!(err, NotifyError::Unreachable { .. }), "{err}");
        // Waited 10 s, 15 s (capped), 15 s between the four attempts.
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(40) && waited < Duration::from_secs(41),
            "{waited:?}"
        );
    }

    #[test]
    fn only_429_408_and_5xx_are_worth_retrying() {
        let status = |s| NotifyError::Status {
            url: "u".into(),
            status: s,
            body: String::new(),
            retry_after: None,
        };
        assert!(status(429).retryable());
        assert!(status(503).retryable());
        assert!(!status(400).retryable());
        assert!(!status(404).retryable());
    }
}

//! Delivery: one attempt with the receiver's transport ([`send_once`]), and delivery at least once
//! ([`deliver`]: retries with backoff, `Retry-After` honoured).

use std::time::Duration;

use super::error::NotifyError;
use super::notification::Notification;
use super::receiver::{Receiver, ReceiverKind};
use super::{command, email, pagerduty, slack, webhook};

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
                // The target this line had before it moved out of notify/mod.rs, so that the
                // log line reads as before.
                tracing::warn!(target: "logwarden_collector::notify", receiver = %receiver.name,
                    attempt, error = %e, wait_ms = wait.as_millis() as u64,
                    "notification failed; retrying");
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(policy.max_backoff);
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_support;

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
}

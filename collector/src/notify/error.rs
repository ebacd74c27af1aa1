//! Why a notification was not delivered ([`NotifyError`]), and whether trying again may help.
//! A leaf: every transport returns it, and [`super::delivery`] decides on it.

use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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

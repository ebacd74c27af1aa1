//! Reading an HTTP receiver's answer (webhook, Slack, PagerDuty): a 2xx is a delivery, anything
//! else a [`NotifyError::Status`] carrying the receiver's `Retry-After`.

use std::time::Duration;

use super::error::NotifyError;

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

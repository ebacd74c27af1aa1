//! `[limits]`: bounds on ingest requests and HTTP connections, checked into [`Limits`] and
//! [`HttpLimits`].

use std::time::Duration;

use anyhow::bail;
use logwarden_core::config_duration::{self, ConfigDuration, DurationKey};
use serde::Deserialize;

use crate::api::listener::HttpLimits;
use crate::ingest::Limits;

/// `[limits]` on ingest requests and HTTP connections.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_body_bytes: usize,
    pub max_decoded_bytes: usize,
    pub max_line_bytes: usize,
    pub max_lines: usize,
    /// HTTP connections open at once; more are answered 429.
    pub max_connections: usize,
    /// How long a request's headers may take (also the keep-alive idle timeout).
    pub header_timeout: Option<ConfigDuration>,
    /// Deprecated: `header_timeout` in seconds.
    pub header_timeout_s: Option<f64>,
    /// How long an ingest body may take to arrive after its headers.
    pub body_timeout: Option<ConfigDuration>,
    /// Deprecated: `body_timeout` in seconds.
    pub body_timeout_s: Option<f64>,
    /// HTTP connections one client address may hold open at once; more are answered 429.
    pub max_connections_per_client: usize,
    /// Live tails open at once, apart from `max_connections` (readers never lock agents out).
    pub max_tail_streams: usize,
    /// How long a response may wait for the client to take a write before the connection is
    /// dropped.
    pub write_timeout: Option<ConfigDuration>,
    /// Deprecated: `write_timeout` in seconds.
    pub write_timeout_s: Option<f64>,
    /// Bytes all ingest bodies, their decompressed forms and live tails' queued chunks may
    /// hold at once.
    pub max_memory_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        let d = Limits::default();
        LimitsConfig {
            max_body_bytes: d.max_body_bytes,
            max_decoded_bytes: d.max_decoded_bytes,
            max_line_bytes: d.max_line_bytes,
            max_lines: d.max_lines,
            max_connections: HttpLimits::default().max_connections,
            header_timeout: None,
            header_timeout_s: None,
            body_timeout: None,
            body_timeout_s: None,
            max_connections_per_client: HttpLimits::default().max_connections_per_client,
            max_tail_streams: HttpLimits::default().max_tail_streams,
            write_timeout: None,
            write_timeout_s: None,
            max_memory_bytes: HttpLimits::default().max_memory_bytes,
        }
    }
}

/// `[limits]` checked: the ingest request bounds, the HTTP connection bounds and how long an
/// ingest body may take.
pub(super) struct LimitsSettings {
    pub ingest: Limits,
    pub http: HttpLimits,
    pub body_timeout: Duration,
}

const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);

impl LimitsConfig {
    /// The duration keys, each with its deprecated spelling in seconds.
    pub(super) fn duration_keys(&self) -> [DurationKey<'_>; 3] {
        let s = "[limits]";
        [
            DurationKey::new(
                s,
                "header_timeout",
                self.header_timeout,
                "header_timeout_s",
                self.header_timeout_s,
            ),
            DurationKey::new(
                s,
                "body_timeout",
                self.body_timeout,
                "body_timeout_s",
                self.body_timeout_s,
            ),
            DurationKey::new(
                s,
                "write_timeout",
                self.write_timeout,
                "write_timeout_s",
                self.write_timeout_s,
            ),
        ]
    }

    pub(super) fn build(&self) -> anyhow::Result<LimitsSettings> {
        let l = self;
        if l.max_body_bytes == 0
            || l.max_decoded_bytes == 0
            || l.max_line_bytes == 0
            || l.max_lines == 0
            || l.max_connections == 0
            || l.max_connections_per_client == 0
            || l.max_tail_streams == 0
        {
            bail!("[limits] values must be above zero");
        }
        if l.max_memory_bytes < l.max_body_bytes.saturating_add(l.max_decoded_bytes) {
            bail!(
                "[limits] max_memory_bytes ({}) must hold at least one largest request: max_body_bytes + max_decoded_bytes ({})",
                l.max_memory_bytes,
                l.max_body_bytes.saturating_add(l.max_decoded_bytes)
            );
        }
        let [header_timeout, body_timeout, write_timeout] = self.duration_keys();
        let defaults = HttpLimits::default();
        let http = HttpLimits {
            max_connections: l.max_connections,
            header_timeout: connection_timeout(header_timeout, defaults.header_timeout)?,
            max_connections_per_client: l.max_connections_per_client,
            max_tail_streams: l.max_tail_streams,
            write_timeout: connection_timeout(write_timeout, defaults.write_timeout)?,
            max_memory_bytes: l.max_memory_bytes,
        };
        Ok(LimitsSettings {
            ingest: Limits {
                max_body_bytes: l.max_body_bytes,
                max_decoded_bytes: l.max_decoded_bytes,
                max_line_bytes: l.max_line_bytes,
                max_lines: l.max_lines,
            },
            http,
            body_timeout: connection_timeout(body_timeout, DEFAULT_BODY_TIMEOUT)?,
        })
    }
}

/// A connection timeout (`default` when the file has none): above 0, at most a day.
pub(super) fn connection_timeout(key: DurationKey, default: Duration) -> anyhow::Result<Duration> {
    let d = key.or(default)?;
    if d.is_zero() || d > Duration::from_secs(86_400) {
        bail!(
            "{} must be above 0 (at most a day), not {}",
            key.written(),
            config_duration::format(d)
        );
    }
    Ok(d)
}

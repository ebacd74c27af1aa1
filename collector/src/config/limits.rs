//! `[limits]`: bounds on ingest requests and HTTP connections, checked into [`Limits`] and
//! [`HttpLimits`].

use std::time::Duration;

use anyhow::bail;
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
    /// Seconds a request's headers may take (also the keep-alive idle timeout).
    pub header_timeout_s: f64,
    /// Seconds an ingest body may take to arrive after its headers.
    pub body_timeout_s: f64,
    /// HTTP connections one client address may hold open at once; more are answered 429.
    pub max_connections_per_client: usize,
    /// Live tails open at once, apart from `max_connections` (readers never lock agents out).
    pub max_tail_streams: usize,
    /// Seconds a response may wait for the client to take a write before the connection is
    /// dropped.
    pub write_timeout_s: f64,
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
            header_timeout_s: HttpLimits::default().header_timeout.as_secs_f64(),
            body_timeout_s: 60.0,
            max_connections_per_client: HttpLimits::default().max_connections_per_client,
            max_tail_streams: HttpLimits::default().max_tail_streams,
            write_timeout_s: HttpLimits::default().write_timeout.as_secs_f64(),
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

impl LimitsConfig {
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
        let http = HttpLimits {
            max_connections: l.max_connections,
            header_timeout: timeout("[limits] header_timeout_s", l.header_timeout_s)?,
            max_connections_per_client: l.max_connections_per_client,
            max_tail_streams: l.max_tail_streams,
            write_timeout: timeout("[limits] write_timeout_s", l.write_timeout_s)?,
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
            body_timeout: timeout("[limits] body_timeout_s", l.body_timeout_s)?,
        })
    }
}

/// A connection timeout: above 0, at most a day.
pub(super) fn timeout(key: &str, v: f64) -> anyhow::Result<Duration> {
    if !v.is_finite() || v <= 0.0 || v > 86_400.0 {
        bail!("{key} must be a number of seconds above 0 (at most a day), not {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

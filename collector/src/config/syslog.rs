//! `[syslog]`: the plain syslog listeners (UDP, TCP, and TLS when `[tls]` has a certificate),
//! checked into [`SyslogSettings`].

use std::time::Duration;

use anyhow::bail;
use logwarden_core::config_duration::{ConfigDuration, DurationKey};
use serde::Deserialize;

use super::limits::connection_timeout;
use super::listen::listener_addr;
use super::overrides::Overrides;
use crate::syslog::SyslogSettings;
use crate::tls::TlsFiles;

/// `[syslog]`: the plain syslog listeners.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    /// UDP address, or `"off"`.
    pub udp: String,
    /// TCP address (both RFC 6587 framings), or `"off"`.
    pub tcp: String,
    /// Syslog over TLS (RFC 5425) address, or `"off"`; used only when `[tls]` has a certificate.
    pub tls: String,
    pub max_message_bytes: usize,
    pub max_connections: usize,
    /// TCP connections one sender address may hold at once; more are closed at once.
    pub max_connections_per_client: usize,
    /// A TCP connection that sends nothing for this long is closed (`"10m"`).
    pub idle_timeout: Option<ConfigDuration>,
    /// Deprecated: `idle_timeout` in seconds.
    pub idle_timeout_s: Option<f64>,
}

pub const DEFAULT_SYSLOG: &str = "127.0.0.1:5514";
pub const DEFAULT_SYSLOG_TLS: &str = "127.0.0.1:6514";

impl Default for SyslogConfig {
    fn default() -> SyslogConfig {
        SyslogConfig {
            udp: DEFAULT_SYSLOG.into(),
            tcp: DEFAULT_SYSLOG.into(),
            tls: DEFAULT_SYSLOG_TLS.into(),
            max_message_bytes: 64 * 1024,
            max_connections: 1024,
            max_connections_per_client: 64,
            idle_timeout: None,
            idle_timeout_s: None,
        }
    }
}

const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

impl SyslogConfig {
    /// The duration key, with its deprecated spelling in seconds.
    pub(super) fn duration_keys(&self) -> [DurationKey<'_>; 1] {
        [DurationKey::new(
            "[syslog]",
            "idle_timeout",
            self.idle_timeout,
            "idle_timeout_s",
            self.idle_timeout_s,
        )]
    }

    /// The listeners of the file or the flags; syslog over TLS only with a certificate.
    pub(super) fn build(
        self,
        flags: &Overrides,
        tls: Option<&TlsFiles>,
    ) -> anyhow::Result<SyslogSettings> {
        if self.max_message_bytes < 480
            || self.max_connections == 0
            || self.max_connections_per_client == 0
        {
            bail!(
                "[syslog] max_message_bytes must be at least 480 (RFC 3164), max_connections and max_connections_per_client above zero"
            );
        }
        let [idle_timeout] = self.duration_keys();
        let idle_timeout = connection_timeout(idle_timeout, DEFAULT_IDLE_TIMEOUT)?;
        let udp = flags.syslog_udp.clone().unwrap_or(self.udp);
        let tcp = flags.syslog_tcp.clone().unwrap_or(self.tcp);
        let syslog_tls = flags.syslog_tls.clone().unwrap_or(self.tls);
        Ok(SyslogSettings {
            udp: listener_addr("syslog UDP", &udp)?,
            tcp: listener_addr("syslog TCP", &tcp)?,
            tls: match tls {
                Some(files) => {
                    listener_addr("syslog TLS", &syslog_tls)?.map(|addr| (addr, files.clone()))
                }
                None => None,
            },
            max_message_bytes: self.max_message_bytes,
            max_connections: self.max_connections,
            max_connections_per_client: self.max_connections_per_client,
            idle_timeout,
        })
    }
}

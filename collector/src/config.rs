//! The collector's configuration: the TOML file (every key in docs/configuration.md), the
//! flags that override it, and their validation into [`Settings`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::ingest::Limits;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// HTTP API address (`127.0.0.1:7070`).
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// This collector's site name, shown in status.
    pub site: Option<String>,
    /// Bearer tokens accepted for ingest; none means no token is asked for.
    #[serde(default)]
    pub tokens: Vec<String>,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub wal: WalConfig,
    #[serde(default)]
    pub syslog: SyslogConfig,
}

/// `[syslog]`: the plain syslog listeners.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    /// UDP address, or `"off"`.
    pub udp: String,
    /// TCP address (both RFC 6587 framings), or `"off"`.
    pub tcp: String,
    pub max_message_bytes: usize,
    pub max_connections: usize,
}

pub const DEFAULT_SYSLOG: &str = "127.0.0.1:5514";

impl Default for SyslogConfig {
    fn default() -> SyslogConfig {
        SyslogConfig {
            udp: DEFAULT_SYSLOG.into(),
            tcp: DEFAULT_SYSLOG.into(),
            max_message_bytes: 64 * 1024,
            max_connections: 1024,
        }
    }
}

/// `[limits]` on one ingest request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_body_bytes: usize,
    pub max_decoded_bytes: usize,
    pub max_line_bytes: usize,
    pub max_lines: usize,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        let d = Limits::default();
        LimitsConfig {
            max_body_bytes: d.max_body_bytes,
            max_decoded_bytes: d.max_decoded_bytes,
            max_line_bytes: d.max_line_bytes,
            max_lines: d.max_lines,
        }
    }
}

/// `[wal]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalConfig {
    pub segment_bytes: u64,
    /// Ingest answers 429 while the WAL holds more than this (0: no limit).
    pub max_bytes: u64,
    /// Ingest answers 429 while the file system of the data directory has less free space.
    pub min_free_bytes: u64,
}

impl Default for WalConfig {
    fn default() -> WalConfig {
        WalConfig {
            segment_bytes: crate::wal::WalOptions::default().segment_bytes,
            max_bytes: 0,
            min_free_bytes: 512 << 20,
        }
    }
}

/// Flags of `logwarden-collector run` that override the file.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Address of the HTTP API (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
    /// A bearer token accepted for ingest (repeat). Replaces the file's `tokens`.
    #[arg(long = "token", value_name = "TOKEN")]
    pub tokens: Vec<String>,
    /// Syslog UDP address (default 127.0.0.1:5514), or `off`.
    #[arg(long, value_name = "ADDR")]
    pub syslog_udp: Option<String>,
    /// Syslog TCP address (default 127.0.0.1:5514), or `off`.
    #[arg(long, value_name = "ADDR")]
    pub syslog_tcp: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub site: String,
    pub tokens: Vec<String>,
    pub limits: Limits,
    pub wal: crate::wal::WalOptions,
    pub space: crate::ingest::SpaceLimits,
    pub syslog: crate::syslog::SyslogSettings,
}

/// `"off"` (or empty) disables a listener; anything else must be IP:PORT.
fn listener_addr(what: &str, value: &str) -> anyhow::Result<Option<SocketAddr>> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .with_context(|| format!("{what} address {value:?} is not IP:PORT or \"off\""))
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

impl Settings {
    pub fn build(file: FileConfig, flags: Overrides) -> anyhow::Result<Settings> {
        let listen = flags
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr = listen
            .parse()
            .with_context(|| format!("listen address {listen:?} is not IP:PORT"))?;
        let tokens = if flags.tokens.is_empty() {
            file.tokens
        } else {
            flags.tokens
        };
        if tokens.iter().any(|t| t.trim().is_empty()) {
            bail!("an empty token is not allowed");
        }
        let l = file.limits;
        if l.max_body_bytes == 0
            || l.max_decoded_bytes == 0
            || l.max_line_bytes == 0
            || l.max_lines == 0
        {
            bail!("[limits] values must be above zero");
        }
        let sys = file.syslog;
        let udp = flags.syslog_udp.unwrap_or(sys.udp);
        let tcp = flags.syslog_tcp.unwrap_or(sys.tcp);
        if sys.max_message_bytes < 480 || sys.max_connections == 0 {
            bail!(
                "[syslog] max_message_bytes must be at least 480 (RFC 3164) and max_connections above zero"
            );
        }
        let syslog = crate::syslog::SyslogSettings {
            udp: listener_addr("syslog UDP", &udp)?,
            tcp: listener_addr("syslog TCP", &tcp)?,
            max_message_bytes: sys.max_message_bytes,
            max_connections: sys.max_connections,
        };
        if file.wal.segment_bytes < 1 << 20 {
            bail!("[wal] segment_bytes must be at least 1 MiB");
        }
        Ok(Settings {
            listen,
            data_dir: flags
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./logwarden-data")),
            site: flags.site.or(file.site).unwrap_or_else(|| "default".into()),
            tokens,
            limits: Limits {
                max_body_bytes: l.max_body_bytes,
                max_decoded_bytes: l.max_decoded_bytes,
                max_line_bytes: l.max_line_bytes,
                max_lines: l.max_lines,
            },
            wal: crate::wal::WalOptions {
                segment_bytes: file.wal.segment_bytes,
            },
            space: crate::ingest::SpaceLimits {
                max_wal_bytes: file.wal.max_bytes,
                min_free_bytes: file.wal.min_free_bytes,
            },
            syslog,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_refused_with_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("collector.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:1\"\n[limits]\nmax_bodybytes = 1\n",
        )
        .unwrap();
        let err = format!("{:#}", load(&path).unwrap_err());
        assert!(
            err.contains("collector.toml")
                && err.contains("line 3")
                && err.contains("max_bodybytes"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_listen_address_is_named() {
        let flags = Overrides {
            listen: Some("localhost".into()),
            ..Overrides::default()
        };
        let err = format!(
            "{:#}",
            Settings::build(FileConfig::default(), flags).unwrap_err()
        );
        assert!(err.contains("\"localhost\""), "{err}");
    }
}

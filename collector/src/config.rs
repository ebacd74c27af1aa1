//! The collector's configuration: the TOML file (every key in docs/configuration.md), the
//! flags that override it, and their validation into [`Settings`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use logwarden_core::config_text;
use serde::Deserialize;

use crate::api::listener::HttpLimits;
use crate::auth::ConfigTokens;
use crate::ingest::Limits;
use crate::notify::route::{Route, RouteTree, Timing};
use crate::notify::route_config::{self, RouteConfig};
use crate::notify::{Receiver, ReceiverKind, email::EmailSettings, smtp_tls};
use crate::replication::{Mode, ReplicationSettings, Role};
use crate::rules::EngineSettings;
use crate::rules::user::{Query, UserRule};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// HTTP API address (`127.0.0.1:7070`).
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// This collector's site name, shown in status.
    pub site: Option<String>,
    /// Bearer tokens accepted for ingest, in plain text (kept for existing configs; the
    /// tokens file stores them hashed). None and none in the tokens file: loopback only.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Bearer tokens for the read calls (search, count, tail, status, fleet, alerts list).
    #[serde(default)]
    pub read_tokens: Vec<String>,
    /// Named, hashed tokens edited by `logwarden-collector token` (default `<data_dir>/tokens`).
    pub tokens_file: Option<PathBuf>,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub wal: WalConfig,
    #[serde(default)]
    pub index: IndexConfig,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub syslog: SyslogConfig,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub replication: ReplicationConfig,
}

/// `[replication]`: the standby site (docs/failover.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// `primary` or `standby`: the role at the first start (later, `failover.json` rules).
    pub role: String,
    /// The other collector's base URL.
    pub peer: Option<String>,
    /// `sync` or `async`.
    pub mode: String,
    pub sync_timeout_s: f64,
    /// Bearer token sent to the peer (one of its tokens).
    pub token: Option<String>,
    /// The witness's URL (`logwarden-collector witness`): turns on automatic failover.
    pub witness: Option<String>,
    /// How long the primary must be unreachable before the standby takes over.
    pub failover_timeout_s: f64,
    /// How long a primary keeps the WAL its standby has not copied while the standby is away.
    pub standby_wal_hold_s: f64,
}

impl Default for ReplicationConfig {
    fn default() -> ReplicationConfig {
        ReplicationConfig {
            role: "primary".into(),
            peer: None,
            mode: "sync".into(),
            sync_timeout_s: 5.0,
            token: None,
            witness: None,
            failover_timeout_s: 10.0,
            standby_wal_hold_s: crate::replication::STANDBY_HOLD.as_secs_f64(),
        }
    }
}

impl ReplicationConfig {
    fn build(self, flags: &Overrides) -> anyhow::Result<ReplicationSettings> {
        let role = match flags.role.as_deref().unwrap_or(&self.role) {
            "primary" => Role::Primary,
            "standby" => Role::Standby,
            other => bail!("[replication] role {other:?} is not \"primary\" or \"standby\""),
        };
        let mode = match flags.replication.as_deref().unwrap_or(&self.mode) {
            "sync" => Mode::Sync,
            "async" => Mode::Async,
            other => bail!("[replication] mode {other:?} is not \"sync\" or \"async\""),
        };
        let url = |what: &str, v: Option<&str>| -> anyhow::Result<Option<reqwest::Url>> {
            let Some(p) = v else { return Ok(None) };
            let url: reqwest::Url = p
                .parse()
                .with_context(|| format!("[replication] {what} {p:?} is not a URL"))?;
            if !matches!(url.scheme(), "http" | "https") {
                bail!("[replication] {what} {p:?} must be an http:// or https:// URL");
            }
            Ok(Some(url))
        };
        let peer = url("peer", flags.peer.as_deref().or(self.peer.as_deref()))?;
        let witness = url(
            "witness",
            flags.witness.as_deref().or(self.witness.as_deref()),
        )?;
        if witness.is_some() && peer.is_none() {
            bail!("[replication] witness is set but peer is not: a witness needs two collectors");
        }
        // The witness, after a restart, waits 60 s (longer than any lease) before it grants.
        if !self.failover_timeout_s.is_finite() || !(1.0..=60.0).contains(&self.failover_timeout_s)
        {
            bail!("[replication] failover_timeout_s must be a number of seconds from 1 to 60");
        }
        if role == Role::Standby && peer.is_none() {
            bail!("a standby needs the primary's URL: [replication] peer or --peer");
        }
        if !self.sync_timeout_s.is_finite() || self.sync_timeout_s <= 0.0 {
            bail!("[replication] sync_timeout_s must be a number of seconds above 0");
        }
        let standby_wal_hold =
            Duration::try_from_secs_f64(self.standby_wal_hold_s).map_err(|_| {
                anyhow::anyhow!(
                    "[replication] standby_wal_hold_s = {} is not a number of seconds (0 or more)",
                    self.standby_wal_hold_s
                )
            })?;
        Ok(ReplicationSettings {
            role,
            peer,
            mode,
            sync_timeout: Duration::from_secs_f64(self.sync_timeout_s),
            token: self.token,
            witness,
            failover_timeout: Duration::from_secs_f64(self.failover_timeout_s),
            standby_wal_hold,
        })
    }
}

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
    /// A TCP connection that sends nothing for this long is closed.
    pub idle_timeout_s: f64,
}

pub const DEFAULT_SYSLOG: &str = "127.0.0.1:5514";
pub const DEFAULT_SYSLOG_TLS: &str = "127.0.0.1:6514";

/// `[tls]`: a certificate turns on TLS for the HTTP API (and ingest) and syslog over TLS.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, the server's certificate first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    pub key_file: Option<PathBuf>,
    /// PEM CA certificate(s): every client (agents, CLI, browsers, syslog senders) must then
    /// present a certificate signed by one of them (mutual TLS).
    pub client_ca_file: Option<PathBuf>,
}

impl Default for SyslogConfig {
    fn default() -> SyslogConfig {
        SyslogConfig {
            udp: DEFAULT_SYSLOG.into(),
            tcp: DEFAULT_SYSLOG.into(),
            tls: DEFAULT_SYSLOG_TLS.into(),
            max_message_bytes: 64 * 1024,
            max_connections: 1024,
            max_connections_per_client: 64,
            idle_timeout_s: 600.0,
        }
    }
}

/// `[alerts]`: the rules engine, its thresholds and timers, receivers and user rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub group_by: Vec<String>,
    pub group_wait_s: f64,
    pub group_interval_s: f64,
    pub repeat_interval_s: f64,
    pub resolve_hold_s: f64,
    pub external_url: Option<String>,
    /// Where docs/alerts.md is served; built-in alerts link to their section.
    pub runbook_base_url: Option<String>,
    pub admin_tokens: Vec<String>,
    pub fs_warn_percent: f64,
    pub fs_crit_percent: f64,
    pub heartbeat_interval_s: f64,
    pub silent_intervals: u32,
    pub mass_delete_per_minute: u64,
    pub auth_failures: u64,
    pub auth_window_s: f64,
    pub log_quiet_s: f64,
    pub deferred_after_s: f64,
    pub receivers: Vec<ReceiverConfig>,
    /// The routing tree (notify::route_config); none: each receiver filters for itself.
    pub route: Option<RouteConfig>,
    /// Beside the built-in ones (rules::inhibit). Checked with the file's text in `parse`.
    pub inhibit_rules: Vec<crate::rules::inhibit::InhibitRuleConfig>,
    /// Recurring maintenance windows (rules::maintenance).
    pub maintenance: Vec<crate::rules::maintenance::WindowConfig>,
    /// The rules `parse` built from `inhibit_rules`.
    #[serde(skip)]
    pub inhibit_checked: Vec<crate::rules::inhibit::InhibitRule>,
    pub rules: Vec<RuleConfig>,
}

impl Default for AlertsConfig {
    fn default() -> AlertsConfig {
        let e = EngineSettings::default();
        let b = &e.builtin;
        AlertsConfig {
            group_by: e.group_by.clone(),
            group_wait_s: e.group_wait.as_secs_f64(),
            group_interval_s: e.group_interval.as_secs_f64(),
            repeat_interval_s: e.repeat_interval.as_secs_f64(),
            resolve_hold_s: e.resolve_hold.as_secs_f64(),
            external_url: None,
            runbook_base_url: None,
            admin_tokens: Vec::new(),
            fs_warn_percent: b.fs_warn_percent,
            fs_crit_percent: b.fs_crit_percent,
            heartbeat_interval_s: b.heartbeat_interval.num_milliseconds() as f64 / 1000.0,
            silent_intervals: b.silent_intervals,
            mass_delete_per_minute: b.mass_delete_per_minute,
            auth_failures: b.auth_failures,
            auth_window_s: b.auth_window.num_seconds() as f64,
            log_quiet_s: b.log_quiet.num_seconds() as f64,
            deferred_after_s: b.deferred_after.num_seconds() as f64,
            receivers: Vec::new(),
            route: None,
            inhibit_rules: Vec::new(),
            inhibit_checked: Vec::new(),
            maintenance: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// `[[alerts.receivers]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    /// `webhook`, `slack`, `pagerduty`, `email` or `command`.
    #[serde(rename = "type")]
    pub kind: String,
    pub url: Option<String>,
    pub routing_key: Option<String>,
    /// `host:port` of the SMTP server (email).
    pub smtp: Option<String>,
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// email: `starttls`, `tls` or `none` (notify::smtp_tls).
    pub tls: Option<String>,
    /// email: PEM CA certificates trusted besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// email: AUTH over `tls = "none"` (a relay on a trusted link).
    #[serde(default)]
    pub allow_plain_auth: bool,
    #[serde(default)]
    pub command: Vec<String>,
    pub timeout_s: Option<f64>,
    #[serde(default)]
    pub severities: Vec<String>,
    /// `NAME=VALUE` or `NAME!=VALUE` over the alert's labels, `alertname`, `severity`.
    #[serde(default)]
    pub matchers: Vec<String>,
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

fn yes() -> bool {
    true
}

/// `[[alerts.rules]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    pub query: toml::Spanned<String>,
    #[serde(default = "one")]
    pub threshold: u64,
    #[serde(default = "five_minutes")]
    pub window_s: f64,
    #[serde(default)]
    pub group_by: Vec<String>,
    #[serde(default = "warning")]
    pub severity: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Put into the annotations as `runbook_url` (templates allowed, rules::template).
    pub runbook_url: Option<String>,
}

fn one() -> u64 {
    1
}
fn five_minutes() -> f64 {
    300.0
}
fn warning() -> String {
    "warning".into()
}

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

/// `[wal]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalConfig {
    pub segment_bytes: u64,
    /// Ingest answers 429 while the WAL holds more than this (0: no limit).
    pub max_bytes: u64,
    /// Ingest answers 429 while the file system of the data directory has less free space.
    pub min_free_bytes: u64,
    /// The oldest segments that nothing needs any more are deleted down to this size (0: the
    /// WAL is never trimmed).
    pub keep_bytes: u64,
}

impl Default for WalConfig {
    fn default() -> WalConfig {
        WalConfig {
            segment_bytes: crate::wal::WalOptions::default().segment_bytes,
            max_bytes: 0,
            min_free_bytes: 512 << 20,
            keep_bytes: crate::retention::DEFAULT_KEEP_BYTES,
        }
    }
}

/// `[index] max_backlog_mb`: about 15 s of indexing here for burst events of ~350 bytes.
const DEFAULT_MAX_BACKLOG_MB: u64 = 256;

/// `[index]`: retention and indexing memory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexConfig {
    /// Day partitions are dropped once all their events are older than this many days (0: kept
    /// whatever their age).
    pub retention_days: u32,
    /// The index may hold at most this many bytes; the oldest days are dropped to stay under it
    /// (0: no limit).
    pub max_bytes: u64,
    /// Heap of the tantivy writers together, in MiB (at least 15).
    pub memory_mb: u64,
    /// Ingest answers 429 and syslog intake waits while more than this many MiB of events are
    /// durable but not yet indexed (0: no limit).
    pub max_backlog_mb: u64,
    /// Added to the indexing threads' nice value (0 to 19; 0: the collector's own priority).
    pub nice: i32,
    /// While the index trails the WAL, it commits this often (milliseconds, 250 to 60,000).
    pub commit_behind_ms: u64,
    /// Events claiming a time more than this many seconds after their arrival are moved to
    /// it (`wal/future.rs`; 0: kept as they are).
    pub max_future_s: u64,
}

impl Default for IndexConfig {
    fn default() -> IndexConfig {
        let d = crate::index::IndexSettings::default();
        IndexConfig {
            retention_days: d
                .retention
                .max_age
                .map_or(0, |a| a.num_days().try_into().unwrap_or(u32::MAX)),
            max_bytes: d.retention.max_bytes,
            memory_mb: (d.memory_bytes >> 20) as u64,
            max_backlog_mb: DEFAULT_MAX_BACKLOG_MB,
            nice: d.nice,
            commit_behind_ms: d.commit_behind.as_millis() as u64,
            max_future_s: crate::wal::future::DEFAULT_MAX_FUTURE_S,
        }
    }
}

impl IndexConfig {
    fn settings(&self) -> anyhow::Result<crate::index::IndexSettings> {
        if self.memory_mb < 15 {
            bail!(
                "[index] memory_mb = {} is too small: tantivy needs at least 15",
                self.memory_mb
            );
        }
        if !(0..=19).contains(&self.nice) {
            bail!("[index] nice = {} is out of range: 0 to 19", self.nice);
        }
        if !(250..=60_000).contains(&self.commit_behind_ms) {
            bail!(
                "[index] commit_behind_ms = {} is out of range: 250 to 60000",
                self.commit_behind_ms
            );
        }
        let memory_bytes = usize::try_from(self.memory_mb)
            .ok()
            .and_then(|m| m.checked_mul(1 << 20))
            .with_context(|| format!("[index] memory_mb = {} is too large", self.memory_mb))?;
        Ok(crate::index::IndexSettings {
            retention: crate::index::Retention {
                max_age: (self.retention_days > 0)
                    .then(|| chrono::Duration::days(self.retention_days.into())),
                max_bytes: self.max_bytes,
            },
            memory_bytes,
            nice: self.nice,
            commit_behind: std::time::Duration::from_millis(self.commit_behind_ms),
            // (A bound too large to hold in bytes is refused where the bound is read.)
            yield_below: self.max_backlog_mb.saturating_mul(1 << 20) / 2,
            max_future: match self.max_future_s {
                0 => None,
                s => Some(
                    i64::try_from(s)
                        .ok()
                        .and_then(chrono::Duration::try_seconds)
                        .with_context(|| format!("[index] max_future_s = {s} is too large"))?,
                ),
            },
        })
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
    /// A file of ingest tokens, one a line (repeat): as `--token`, without showing in `ps`.
    #[arg(long = "token-file", value_name = "FILE")]
    pub token_files: Vec<PathBuf>,
    /// A file of read tokens, one a line (repeat): as `--read-token`.
    #[arg(long = "read-token-file", value_name = "FILE")]
    pub read_token_files: Vec<PathBuf>,
    /// A file of admin tokens, one a line (repeat): as `--admin-token`.
    #[arg(long = "admin-token-file", value_name = "FILE")]
    pub admin_token_files: Vec<PathBuf>,
    /// Syslog UDP address (default 127.0.0.1:5514), or `off`.
    #[arg(long, value_name = "ADDR")]
    pub syslog_udp: Option<String>,
    /// Syslog TCP address (default 127.0.0.1:5514), or `off`.
    #[arg(long, value_name = "ADDR")]
    pub syslog_tcp: Option<String>,
    /// Days of events the index keeps (`[index] retention_days`; 0 keeps them whatever their age).
    #[arg(long, value_name = "DAYS")]
    pub retention_days: Option<u32>,
    /// Syslog over TLS address (default 127.0.0.1:6514 once a certificate is set), or `off`.
    #[arg(long, value_name = "ADDR")]
    pub syslog_tls: Option<String>,
    /// PEM certificate: the API and ingest speak HTTPS, and syslog over TLS listens.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA: only clients with a certificate signed by it complete the TLS handshake.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// A webhook receiver (Alertmanager's format) for every alert (repeat).
    #[arg(long = "webhook", value_name = "URL")]
    pub webhooks: Vec<String>,
    /// A token for acks and silences (repeat). Adds to `[alerts] admin_tokens`.
    #[arg(long = "admin-token", value_name = "TOKEN")]
    pub admin_tokens: Vec<String>,
    /// `primary` or `standby` at the first start (docs/failover.md).
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// The other collector's URL (replication, failover).
    #[arg(long, value_name = "URL")]
    pub peer: Option<String>,
    /// `sync` (default) or `async`.
    #[arg(long, value_name = "MODE")]
    pub replication: Option<String>,
    /// The witness's URL: turns on automatic failover.
    #[arg(long, value_name = "URL")]
    pub witness: Option<String>,
    /// A token for search, count, tail, status, fleet and alert lists (repeat). Adds to
    /// `read_tokens`.
    #[arg(long = "read-token", value_name = "TOKEN")]
    pub read_tokens: Vec<String>,
    /// The tokens file of `logwarden-collector token` (default: `<data dir>/tokens`).
    #[arg(long, value_name = "FILE")]
    pub tokens_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub site: String,
    /// The plain tokens of the config and flags, by role.
    pub tokens: ConfigTokens,
    /// Hashed, named tokens, re-read while running.
    pub tokens_file: PathBuf,
    pub limits: Limits,
    pub http: HttpLimits,
    /// How long an ingest body may take to arrive.
    pub body_timeout: Duration,
    pub wal: crate::wal::WalOptions,
    /// `[wal] keep_bytes`: what WAL retention trims down to (0: never).
    pub wal_keep_bytes: u64,
    pub space: crate::ingest::SpaceLimits,
    pub index: crate::index::IndexSettings,
    /// The certificate and key when TLS is on.
    pub tls: Option<crate::tls::TlsFiles>,
    pub syslog: crate::syslog::SyslogSettings,
    pub alerts: EngineSettings,
    pub replication: ReplicationSettings,
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
pub const DEFAULT_DATA_DIR: &str = "./logwarden-data";

pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    parse(path, &text)
}

/// Parses the text of a config file; `path` only names it in errors. (The fuzz target
/// `collector_config` feeds it arbitrary text.)
pub fn parse(path: &Path, text: &str) -> anyhow::Result<FileConfig> {
    let file: FileConfig = toml::from_str(text)
        .map_err(|e| anyhow::anyhow!(config_text::describe(path, text, e.message(), e.span())))?;
    // What serde cannot see: the routes' receivers and matchers, queries of user rules, named
    // by file and line.
    if let Some(route) = &file.alerts.route {
        let names: Vec<&str> = file
            .alerts
            .receivers
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        route_config::check(route, &names, path, text).map_err(|e| anyhow::anyhow!(e))?;
    }
    let mut file = file;
    file.alerts.inhibit_checked = file
        .alerts
        .inhibit_rules
        .iter()
        .map(|r| r.to_rule(path, text))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!(e))?;
    for rule in &file.alerts.rules {
        if let Err(e) = Query::parse(rule.query.get_ref()) {
            let line = text[..rule.query.span().start.min(text.len())]
                .matches('\n')
                .count()
                + 1;
            bail!(
                "config file {}, line {line}: rule {:?}: query {:?}: {e}",
                path.display(),
                rule.name,
                rule.query.get_ref()
            );
        }
    }
    Ok(file)
}

/// Reads, parses and checks a config file with the flags over it: every error names the file,
/// and the line and key where the check can tell (`config check` and `run` use this).
pub fn load_settings(path: &Path, flags: Overrides) -> anyhow::Result<Settings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let file = parse(path, &text)?;
    Settings::build(file, flags)
        .map_err(|e| anyhow::anyhow!(config_text::locate(path, &text, &format!("{e:#}"))))
}

fn secs(what: &str, v: f64) -> anyhow::Result<Duration> {
    if !v.is_finite() || v < 0.0 {
        bail!("[alerts] {what} must be a number of seconds, 0 or more");
    }
    Ok(Duration::from_secs_f64(v))
}

fn receiver(r: ReceiverConfig) -> anyhow::Result<Receiver> {
    let need = |v: Option<String>, key: &str| {
        v.filter(|s| !s.trim().is_empty())
            .with_context(|| format!("receiver {:?} ({}) needs `{key}`", r.name, r.kind))
    };
    let kind = match r.kind.as_str() {
        "webhook" => ReceiverKind::Webhook {
            url: need(r.url.clone(), "url")?,
        },
        "slack" => ReceiverKind::Slack {
            url: need(r.url.clone(), "url")?,
        },
        "pagerduty" => ReceiverKind::PagerDuty {
            url: r
                .url
                .clone()
                .unwrap_or_else(|| crate::notify::pagerduty::EVENTS_URL.into()),
            routing_key: need(r.routing_key.clone(), "routing_key")?,
        },
        "email" => {
            let smtp = need(r.smtp.clone(), "smtp")?;
            let has_credentials = r.username.is_some() || r.password.is_some();
            let tls = smtp_tls::mode(r.tls.as_deref(), has_credentials, r.allow_plain_auth)
                .map_err(|e| anyhow::anyhow!("receiver {:?} (email): {e}", r.name))?;
            let (host, port) = match smtp.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_owned(),
                    p.parse()
                        .with_context(|| format!("receiver {:?}: smtp port {p:?}", r.name))?,
                ),
                None => (smtp.clone(), tls.default_port()),
            };
            let ca_pem = match &r.ca_file {
                Some(p) => Some(
                    smtp_tls::read_ca_file(p)
                        .map_err(|e| anyhow::anyhow!("receiver {:?} (email): {e}", r.name))?,
                ),
                None => None,
            };
            if r.to.is_empty() {
                bail!("receiver {:?} (email) needs `to`", r.name);
            }
            ReceiverKind::Email(EmailSettings {
                host,
                port,
                from: need(r.from.clone(), "from")?,
                to: r.to.clone(),
                username: r.username.clone(),
                password: r.password.clone(),
                tls,
                ca_pem,
            })
        }
        "command" => {
            if r.command.is_empty() {
                bail!(
                    "receiver {:?} (command) needs `command = [\"prog\", \"arg\"]`",
                    r.name
                );
            }
            ReceiverKind::Command {
                argv: r.command.clone(),
                timeout: secs("timeout_s", r.timeout_s.unwrap_or(30.0))?,
            }
        }
        other => bail!(
            "receiver {:?}: type {other:?} is not one of webhook, slack, pagerduty, email, command",
            r.name
        ),
    };
    let severities = r
        .severities
        .iter()
        .map(|s| {
            logwarden_core::wire::AlertSeverity::parse(s).with_context(|| {
                format!(
                    "receiver {:?}: severity {s:?} is not info, warning or critical",
                    r.name
                )
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let matchers = r
        .matchers
        .iter()
        .map(|m| {
            m.parse()
                .map_err(|e: String| anyhow::anyhow!("receiver {:?}: {e}", r.name))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Receiver {
        name: r.name,
        kind,
        severities,
        matchers,
        send_resolved: r.send_resolved,
    })
}

/// The routing tree: `[alerts.route]` with the `--webhook` receivers first (each `continue`), or
/// without one, the flat form where each receiver filters for itself.
fn route_tree(
    route: Option<&RouteConfig>,
    flag_routes: Vec<Route>,
    e: &EngineSettings,
) -> anyhow::Result<RouteTree> {
    let defaults = Timing {
        group_by: e.group_by.clone(),
        group_wait: e.group_wait,
        group_interval: e.group_interval,
        repeat_interval: e.repeat_interval,
    };
    let Some(route) = route else {
        return Ok(RouteTree::flat(&e.receivers, &defaults));
    };
    if let Some(r) = e
        .receivers
        .iter()
        .find(|r| !r.severities.is_empty() || !r.matchers.is_empty())
    {
        bail!(
            "[alerts.receivers] receiver {:?} has `severities` or `matchers`: with [alerts.route], filter in the routes instead",
            r.name
        );
    }
    let mut root = route.to_route()?;
    root.routes.splice(0..0, flag_routes);
    Ok(RouteTree::build(&root, &e.receivers, &defaults)?)
}

fn alert_settings(
    a: AlertsConfig,
    webhooks: Vec<String>,
    listen: SocketAddr,
) -> anyhow::Result<EngineSettings> {
    let mut e = EngineSettings::default();
    if a.fs_warn_percent > a.fs_crit_percent {
        bail!("[alerts] fs_warn_percent must not be above fs_crit_percent");
    }
    if a.silent_intervals == 0 || a.mass_delete_per_minute == 0 || a.auth_failures == 0 {
        bail!(
            "[alerts] silent_intervals, mass_delete_per_minute and auth_failures must be above zero"
        );
    }
    let chrono = |what: &str, v: f64| -> anyhow::Result<chrono::Duration> {
        Ok(chrono::Duration::from_std(secs(what, v)?)?)
    };
    e.builtin.fs_warn_percent = a.fs_warn_percent;
    e.builtin.fs_crit_percent = a.fs_crit_percent;
    e.builtin.heartbeat_interval = chrono("heartbeat_interval_s", a.heartbeat_interval_s)?;
    e.builtin.silent_intervals = a.silent_intervals;
    e.builtin.mass_delete_per_minute = a.mass_delete_per_minute;
    e.builtin.auth_failures = a.auth_failures;
    e.builtin.auth_window = chrono("auth_window_s", a.auth_window_s)?;
    e.builtin.log_quiet = chrono("log_quiet_s", a.log_quiet_s)?;
    e.builtin.deferred_after = chrono("deferred_after_s", a.deferred_after_s)?;
    e.group_by = a.group_by;
    e.group_wait = secs("group_wait_s", a.group_wait_s)?;
    e.group_interval = secs("group_interval_s", a.group_interval_s)?;
    e.repeat_interval = secs("repeat_interval_s", a.repeat_interval_s)?;
    e.resolve_hold = secs("resolve_hold_s", a.resolve_hold_s)?;
    e.external_url = a
        .external_url
        .unwrap_or_else(|| format!("http://{listen}/"));
    let mut names = std::collections::HashSet::new();
    for r in a.receivers {
        if !names.insert(r.name.clone()) {
            bail!("[[alerts.receivers]] name {:?} is used twice", r.name);
        }
        e.receivers.push(receiver(r)?);
    }
    let mut flag_routes = Vec::new();
    for (i, url) in webhooks.into_iter().enumerate() {
        let name = format!("webhook-{}", i + 1);
        flag_routes.push(Route {
            receiver: Some(name.clone()),
            continue_: true,
            ..Route::default()
        });
        e.receivers.push(Receiver {
            name,
            kind: ReceiverKind::Webhook { url },
            severities: vec![],
            matchers: vec![],
            send_resolved: true,
        });
    }
    e.routes = Some(route_tree(a.route.as_ref(), flag_routes, &e)?);
    e.inhibit_rules = a.inhibit_checked;
    e.runbook_base_url = a.runbook_base_url.filter(|u| !u.trim().is_empty());
    let mut window_names = std::collections::HashSet::new();
    for w in &a.maintenance {
        if !window_names.insert(w.name.clone()) {
            bail!("[[alerts.maintenance]] name {:?} is used twice", w.name);
        }
        e.maintenance.push(
            w.to_window()
                .map_err(|err| anyhow::anyhow!("[[alerts.maintenance]] {err}"))?,
        );
    }
    for r in a.rules {
        let query = Query::parse(r.query.get_ref())
            .map_err(|err| anyhow::anyhow!("rule {:?}: {err}", r.name))?;
        let severity =
            logwarden_core::wire::AlertSeverity::parse(&r.severity).with_context(|| {
                format!(
                    "rule {:?}: severity {:?} is not info, warning or critical",
                    r.name, r.severity
                )
            })?;
        if r.name.trim().is_empty() || r.threshold == 0 {
            bail!(
                "rule {:?}: a name and a threshold above zero are needed",
                r.name
            );
        }
        let mut annotations = r.annotations;
        if let Some(url) = r.runbook_url {
            annotations.insert("runbook_url".into(), url);
        }
        for (k, t) in &annotations {
            crate::rules::template::check(t).map_err(|err| {
                anyhow::anyhow!("rule {:?}: annotation {k:?}: template {t:?}: {err}", r.name)
            })?;
        }
        e.user_rules.push(UserRule {
            name: r.name,
            query,
            threshold: r.threshold,
            window: chrono("window_s", r.window_s)?,
            group_by: r.group_by,
            severity,
            labels: r.labels,
            annotations,
        });
    }
    Ok(e)
}

impl Settings {
    pub fn build(file: FileConfig, flags: Overrides) -> anyhow::Result<Settings> {
        let replication = file.replication.build(&flags)?;
        if replication.peer.is_some() && flags.site.is_none() && file.site.is_none() {
            // The witness tells the two collectors apart by their site names.
            bail!(
                "a collector with a peer needs its own site name: set `site` or --site (a different one on each collector)"
            );
        }
        let listen = flags
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr = listen
            .parse()
            .with_context(|| format!("listen address {listen:?} is not IP:PORT"))?;
        let tokens = tokens_from(flags.tokens, &flags.token_files, "LOGWARDEN_INGEST_TOKEN")?;
        let tokens = if tokens.is_empty() {
            file.tokens
        } else {
            tokens
        };
        if tokens.iter().any(|t| t.trim().is_empty()) {
            bail!("an empty token is not allowed");
        }
        let l = file.limits;
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
        let timeout = |key: &str, v: f64| -> anyhow::Result<Duration> {
            if !v.is_finite() || v <= 0.0 || v > 86_400.0 {
                bail!("{key} must be a number of seconds above 0 (at most a day), not {v}");
            }
            Ok(Duration::from_secs_f64(v))
        };
        let http = HttpLimits {
            max_connections: l.max_connections,
            header_timeout: timeout("[limits] header_timeout_s", l.header_timeout_s)?,
            max_connections_per_client: l.max_connections_per_client,
            max_tail_streams: l.max_tail_streams,
            write_timeout: timeout("[limits] write_timeout_s", l.write_timeout_s)?,
            max_memory_bytes: l.max_memory_bytes,
        };
        let body_timeout = timeout("[limits] body_timeout_s", l.body_timeout_s)?;
        let sys = file.syslog;
        let udp = flags.syslog_udp.unwrap_or(sys.udp);
        let tcp = flags.syslog_tcp.unwrap_or(sys.tcp);
        if sys.max_message_bytes < 480
            || sys.max_connections == 0
            || sys.max_connections_per_client == 0
        {
            bail!(
                "[syslog] max_message_bytes must be at least 480 (RFC 3164), max_connections and max_connections_per_client above zero"
            );
        }
        let client_ca = flags.tls_client_ca.or(file.tls.client_ca_file);
        let tls = match (
            flags.tls_cert.or(file.tls.cert_file),
            flags.tls_key.or(file.tls.key_file),
        ) {
            (Some(cert), Some(key)) => {
                let files = crate::tls::TlsFiles {
                    cert,
                    key,
                    client_ca,
                };
                // Read now, so that `config check` and the start name a bad file.
                files.server_config(&[])?;
                Some(files)
            }
            (None, None) if client_ca.is_some() => {
                bail!("[tls] client_ca_file needs cert_file and key_file (mutual TLS is TLS)")
            }
            (None, None) => None,
            _ => bail!("[tls] needs both cert_file and key_file"),
        };
        let syslog_tls = flags.syslog_tls.unwrap_or(sys.tls);
        let syslog = crate::syslog::SyslogSettings {
            udp: listener_addr("syslog UDP", &udp)?,
            tcp: listener_addr("syslog TCP", &tcp)?,
            tls: match &tls {
                Some(files) => {
                    listener_addr("syslog TLS", &syslog_tls)?.map(|addr| (addr, files.clone()))
                }
                None => None,
            },
            max_message_bytes: sys.max_message_bytes,
            max_connections: sys.max_connections,
            max_connections_per_client: sys.max_connections_per_client,
            idle_timeout: timeout("[syslog] idle_timeout_s", sys.idle_timeout_s)?,
        };
        if file.wal.segment_bytes < 1 << 20 {
            bail!("[wal] segment_bytes must be at least 1 MiB");
        }
        // Trimming must get the WAL well under the size at which ingest stops.
        let wal_keep_bytes = match file.wal.max_bytes {
            0 => file.wal.keep_bytes,
            max => file.wal.keep_bytes.min(max / 2),
        };
        let mut admin_tokens = file.alerts.admin_tokens.clone();
        admin_tokens.extend(tokens_from(
            flags.admin_tokens,
            &flags.admin_token_files,
            "LOGWARDEN_ADMIN_TOKEN",
        )?);
        if admin_tokens.iter().any(|t| t.trim().is_empty()) {
            bail!("an empty admin token is not allowed");
        }
        let mut read_tokens = file.read_tokens;
        read_tokens.extend(tokens_from(
            flags.read_tokens,
            &flags.read_token_files,
            "LOGWARDEN_READ_TOKEN",
        )?);
        if read_tokens.iter().any(|t| t.trim().is_empty()) {
            bail!("an empty read token is not allowed");
        }
        let alerts = alert_settings(file.alerts, flags.webhooks, listen)?;
        let mut index_config = file.index;
        if let Some(days) = flags.retention_days {
            index_config.retention_days = days;
        }
        let index = index_config.settings()?;
        let max_index_backlog_bytes = index_config
            .max_backlog_mb
            .checked_mul(1 << 20)
            .with_context(|| {
                format!(
                    "[index] max_backlog_mb = {} is too large",
                    index_config.max_backlog_mb
                )
            })?;
        let data_dir = flags
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let replication_tokens = replication.token.iter().cloned().collect();
        Ok(Settings {
            index,
            tls,
            replication,
            alerts,
            listen,
            tokens_file: flags
                .tokens_file
                .or(file.tokens_file)
                .unwrap_or_else(|| data_dir.join("tokens")),
            data_dir,
            site: flags.site.or(file.site).unwrap_or_else(|| "default".into()),
            tokens: ConfigTokens {
                ingest: tokens,
                read: read_tokens,
                admin: admin_tokens,
                replication: replication_tokens,
            },
            http,
            body_timeout,
            limits: Limits {
                max_body_bytes: l.max_body_bytes,
                max_decoded_bytes: l.max_decoded_bytes,
                max_line_bytes: l.max_line_bytes,
                max_lines: l.max_lines,
            },
            wal: crate::wal::WalOptions {
                segment_bytes: file.wal.segment_bytes,
            },
            wal_keep_bytes,
            space: crate::ingest::SpaceLimits {
                max_wal_bytes: file.wal.max_bytes,
                min_free_bytes: file.wal.min_free_bytes,
                max_index_backlog_bytes,
            },
            syslog,
        })
    }
}

/// The tokens of a role given outside the config file: its flag's values, the lines of its
/// token files, and its environment variable (files and the environment keep tokens out of
/// `ps`).
fn tokens_from(flag: Vec<String>, files: &[PathBuf], env: &str) -> anyhow::Result<Vec<String>> {
    let mut tokens = flag;
    for f in files {
        tokens.extend(logwarden_core::token_file::read_tokens(f)?);
    }
    if let Ok(t) = std::env::var(env)
        && !t.trim().is_empty()
    {
        tokens.push(t.trim().to_owned());
    }
    Ok(tokens)
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
    fn index_retention_comes_from_the_file_and_the_flag_overrides_it() {
        let file: FileConfig =
            toml::from_str("[index]\nretention_days = 5\nmax_bytes = 1000\n").unwrap();
        let s = Settings::build(file, Overrides::default()).unwrap();
        assert_eq!(s.index.retention.max_age, Some(chrono::Duration::days(5)));
        assert_eq!(s.index.retention.max_bytes, 1000);
        let file: FileConfig = toml::from_str("[index]\nretention_days = 5\n").unwrap();
        let flags = Overrides {
            retention_days: Some(0),
            ..Overrides::default()
        };
        assert_eq!(
            Settings::build(file, flags)
                .unwrap()
                .index
                .retention
                .max_age,
            None
        );
        let file: FileConfig = toml::from_str("[index]\nmemory_mb = 8\n").unwrap();
        let err = format!(
            "{:#}",
            Settings::build(file, Overrides::default()).unwrap_err()
        );
        assert!(err.contains("memory_mb"), "{err}");
    }

    #[test]
    fn the_index_backlog_and_priority_come_from_the_file_and_bad_ones_are_named() {
        let s = Settings::build(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(s.space.max_index_backlog_bytes, 256 << 20);
        assert_eq!(s.index.yield_below, 128 << 20);
        assert_eq!(s.index.nice, crate::index::DEFAULT_NICE);
        assert_eq!(s.index.commit_behind, crate::index::DEFAULT_COMMIT_BEHIND);
        let file: FileConfig =
            toml::from_str("[index]\nmax_backlog_mb = 0\nnice = 0\ncommit_behind_ms = 400\n")
                .unwrap();
        let s = Settings::build(file, Overrides::default()).unwrap();
        assert_eq!((s.space.max_index_backlog_bytes, s.index.nice), (0, 0));
        assert_eq!(s.index.yield_below, 0, "no bound: the indexer never yields");
        assert_eq!(s.index.commit_behind, std::time::Duration::from_millis(400));
        for (bad, key, range) in [
            (
                "commit_behind_ms = 100",
                "[index] commit_behind_ms",
                "250 to 60000",
            ),
            (
                "commit_behind_ms = 70000",
                "[index] commit_behind_ms",
                "250 to 60000",
            ),
            ("nice = 20", "[index] nice", "0 to 19"),
            ("nice = -1", "[index] nice", "0 to 19"),
        ] {
            let file: FileConfig = toml::from_str(&format!("[index]\n{bad}\n")).unwrap();
            let err = format!(
                "{:#}",
                Settings::build(file, Overrides::default()).unwrap_err()
            );
            assert!(err.contains(key) && err.contains(range), "{err}");
        }
        let file: FileConfig =
            toml::from_str(&format!("[index]\nmax_backlog_mb = {}\n", u64::MAX)).unwrap();
        let err = format!(
            "{:#}",
            Settings::build(file, Overrides::default()).unwrap_err()
        );
        assert!(err.contains("max_backlog_mb"), "{err}");
    }

    #[test]
    fn wal_retention_defaults_follow_max_bytes_and_a_bad_hold_is_named() {
        let build = |toml: &str| {
            let file: FileConfig = toml::from_str(toml).unwrap();
            Settings::build(file, Overrides::default()).map_err(|e| format!("{e:#}"))
        };
        let s = build("").unwrap();
        assert_eq!(s.wal_keep_bytes, 4 << 30);
        assert_eq!(
            s.replication.standby_wal_hold,
            std::time::Duration::from_secs(86_400)
        );
        // Trimming must get well under the size at which ingest stops.
        assert_eq!(
            build("[wal]\nmax_bytes = 1000\n").unwrap().wal_keep_bytes,
            500
        );
        let s = build("[wal]\nkeep_bytes = 0\n[replication]\nstandby_wal_hold_s = 2.5\n").unwrap();
        assert_eq!(s.wal_keep_bytes, 0);
        assert_eq!(
            s.replication.standby_wal_hold,
            std::time::Duration::from_millis(2500)
        );
        let err = build("[replication]\nstandby_wal_hold_s = -1\n").unwrap_err();
        assert!(err.contains("standby_wal_hold_s"), "{err}");
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

    #[test]
    fn replication_settings_are_checked_and_named() {
        let build = |flags: Overrides, toml: &str| {
            let file: FileConfig = toml::from_str(toml).unwrap();
            Settings::build(file, flags).map_err(|e| format!("{e:#}"))
        };
        let standby = Overrides {
            role: Some("standby".into()),
            ..Overrides::default()
        };
        let err = build(standby, "").unwrap_err();
        assert!(err.contains("needs the primary's URL"), "{err}");
        let peer = Overrides {
            peer: Some("http://127.0.0.1:7071".into()),
            ..Overrides::default()
        };
        let err = build(peer.clone(), "").unwrap_err();
        assert!(err.contains("own site name"), "{err}");
        let err = build(
            peer.clone(),
            "site = \"a\"\n[replication]\nmode = \"semi\"\n",
        )
        .unwrap_err();
        assert!(err.contains("\"semi\""), "{err}");
        let ok = build(peer, "site = \"a\"\n[replication]\nmode = \"async\"\n").unwrap();
        assert_eq!(ok.replication.mode, Mode::Async);
        assert_eq!(ok.replication.failover_timeout, Duration::from_secs(10));
    }
}

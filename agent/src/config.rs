//! The agent's configuration: the TOML file (every key in docs/configuration.md), the command
//! line flags that override it, and their validation into [`Settings`], the runtime form the
//! rest of the agent takes. Everything is checked here, before any file or socket is opened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use logwarden_core::config_duration::{ConfigDuration, DurationKey};
use serde::Deserialize;

use crate::health::{BackupRule, HealthConfig};
use crate::parse::{Format, Zone};

/// The file, as written. Unknown keys are refused (serde names them, toml gives the line).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Collector URLs, primary first; the agent follows whichever is primary.
    #[serde(default)]
    pub collectors: Vec<String>,
    pub data_dir: Option<PathBuf>,
    pub host: Option<String>,
    pub site: Option<String>,
    pub token: Option<String>,
    /// A file holding the token (first line), so that the config itself holds no secret.
    pub token_file: Option<PathBuf>,
    /// PEM file of the CA (or the self-signed certificate) that signed the collectors'
    /// certificates, trusted besides the system's roots for `https://` collectors.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (and its key) presented to collectors that demand one (mutual
    /// TLS, the collector's `[tls] client_ca_file`).
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    #[serde(default)]
    pub files: Vec<FileRule>,
    /// `[[journald]]`: journals to read (docs/configuration.md).
    #[serde(default)]
    pub journald: Vec<JournaldConfig>,
    /// Time between heartbeats (`kind: heartbeat` events that say the agent is alive): `"30s"`.
    pub heartbeat: Option<ConfigDuration>,
    /// Deprecated: `heartbeat` in whole seconds.
    pub heartbeat_secs: Option<u64>,
    #[serde(default)]
    pub batch: BatchConfig,
    /// `[health]`: the disk, RAID, file system and backup probes (docs/health.md).
    #[serde(default)]
    pub health: HealthConfig,
    /// `[tail]`: how files are found and read.
    #[serde(default)]
    pub tail: TailConfig,
    /// `[spool]`: the disk spool between reading and shipping.
    #[serde(default)]
    pub spool: SpoolFileConfig,
    /// `[metrics]`: the agent's own `/metrics` and `/status` listener.
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// One `[[journald]]` table, as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournaldConfig {
    /// A journal directory (`journalctl --directory`); the system journal when absent.
    pub directory: Option<PathBuf>,
    /// journalctl matches (`FIELD=value`), e.g. `["_SYSTEMD_UNIT=postfix.service"]`.
    #[serde(default)]
    pub matches: Vec<String>,
    /// `beginning` (default) or `end`: where the very first start reads from.
    pub read_from: Option<String>,
}

/// `[metrics]`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `ADDR:PORT` to serve `/metrics` and `/status` on (e.g. `127.0.0.1:9102`); off when absent.
    pub listen: Option<String>,
}

/// `[tail]`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailConfig {
    /// `beginning` or `end`: where a file found at start and never seen before is read from.
    pub read_from: String,
    /// Files not modified for this long are not read (`"7d"`; `"0s"` or absent: no limit).
    pub ignore_older: Option<ConfigDuration>,
    /// Deprecated: `ignore_older` in whole seconds.
    pub ignore_older_secs: Option<u64>,
    /// A longer line is cut to this many bytes, flagged `truncated`.
    pub max_line_bytes: usize,
    /// A joined (multiline) record is handed out after this long without a new line.
    pub multiline_timeout_ms: u64,
    /// Bytes of a file's start fingerprinted to recognise it.
    pub fingerprint_bytes: u32,
    /// Header bytes skipped before the fingerprinted bytes.
    pub fingerprint_skip_bytes: u64,
    /// Milliseconds between two scans of the globs for new and rotated files.
    pub scan_ms: u64,
}

impl Default for TailConfig {
    fn default() -> TailConfig {
        TailConfig {
            read_from: "beginning".into(),
            ignore_older: None,
            ignore_older_secs: None,
            max_line_bytes: 64 * 1024,
            multiline_timeout_ms: 1000,
            fingerprint_bytes: crate::tail::fingerprint::DEFAULT_WINDOW,
            fingerprint_skip_bytes: 0,
            scan_ms: 250,
        }
    }
}

/// `[spool]`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolFileConfig {
    /// Where the segments are; default `<data_dir>/spool`.
    pub dir: Option<PathBuf>,
    /// Bound on the spool's size on disk.
    pub max_bytes: u64,
    /// `block` or `drop_oldest`.
    pub policy: String,
}

impl Default for SpoolFileConfig {
    fn default() -> SpoolFileConfig {
        SpoolFileConfig {
            dir: None,
            max_bytes: 256 << 20,
            policy: "block".into(),
        }
    }
}

/// When the lines of a file are joined into multiline records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Multiline {
    /// For Zimbra's Java logs: format `zimbra`, or a file named `mailbox.log*` or
    /// `zmmailboxd.out*`.
    #[default]
    Auto,
    /// Always: a line that does not start with a timestamp continues the previous record.
    Timestamp,
    /// Never: one line, one event.
    None,
}

impl Multiline {
    pub fn applies(self, path: &Path, format: Format) -> bool {
        match self {
            Multiline::Timestamp => true,
            Multiline::None => false,
            Multiline::Auto => {
                format == Format::Zimbra
                    || path.file_name().is_some_and(|n| {
                        let n = n.to_string_lossy();
                        n.starts_with("mailbox.log") || n.starts_with("zmmailboxd.out")
                    })
            }
        }
    }
}

fn multiline_from_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Multiline, D::Error> {
    match String::deserialize(d)?.as_str() {
        "auto" => Ok(Multiline::Auto),
        "timestamp" => Ok(Multiline::Timestamp),
        "none" => Ok(Multiline::None),
        other => Err(serde::de::Error::custom(format!(
            "multiline {other:?} is not one of auto, timestamp, none"
        ))),
    }
}

/// The validated `[tail]` and `[[files]]`: what the tailer runs with.
#[derive(Debug, Clone)]
pub struct TailSettings {
    pub rules: Vec<FileRule>,
    pub read_from_end: bool,
    pub ignore_older: Option<Duration>,
    pub max_line_bytes: usize,
    pub multiline_timeout: Duration,
    pub fingerprint: crate::tail::fingerprint::Window,
    pub scan_interval: Duration,
}

/// One `[[files]]` table: a glob and how to read what it matches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRule {
    pub path: String,
    #[serde(default, deserialize_with = "from_str")]
    pub format: Format,
    /// Zone of times written without one (`local`, `utc`, `+02:00`); default `local`.
    #[serde(default, deserialize_with = "from_str")]
    pub tz: Zone,
    /// Globs of paths (or file names) the include glob matches but that are not read.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// `auto`, `timestamp` or `none`.
    #[serde(default, deserialize_with = "multiline_from_str")]
    pub multiline: Multiline,
}

fn from_str<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// `[batch]`: how events are grouped into ingest requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// A batch is sent once it holds this many events...
    pub max_events: usize,
    /// ...or this many bytes of NDJSON...
    pub max_bytes: usize,
    /// ...or its first event has waited this long.
    pub max_wait_ms: u64,
    /// `zstd`, `gzip` or `none`.
    pub compression: String,
}

impl Default for BatchConfig {
    fn default() -> BatchConfig {
        BatchConfig {
            max_events: 2000,
            max_bytes: 1 << 20,
            max_wait_ms: 200,
            compression: "zstd".into(),
        }
    }
}

/// The files an agent tails when it is told nothing: the usual syslog files and Zimbra's logs.
pub const DEFAULT_FILES: [&str; 3] = [
    "/var/log/syslog",
    "/var/log/auth.log",
    "/opt/zimbra/log/*.log",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Zstd,
    Gzip,
    None,
}

/// The validated settings the agent runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub collectors: Vec<reqwest::Url>,
    pub data_dir: PathBuf,
    pub host: String,
    pub site: String,
    pub token: Option<String>,
    /// Extra trusted CA certificates (PEM) for `https://` collectors.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub client_identity: Option<crate::ship::ClientIdentity>,
    pub files: Vec<FileRule>,
    pub journald: Vec<crate::journald::JournalSource>,
    pub heartbeat: Duration,
    pub max_events: usize,
    pub max_bytes: usize,
    pub max_wait: Duration,
    pub compression: Compression,
    pub health: HealthConfig,
    pub tail: TailSettings,
    pub spool: crate::spool::SpoolConfig,
    /// Where to serve `/metrics` and `/status`; none by default.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Flags of `logwarden-agent run` that override the file.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Collector URL (repeat for the standby site).
    #[arg(long = "collector", value_name = "URL")]
    pub collectors: Vec<String>,
    /// A file or glob to tail (repeat). Replaces the file's [[files]] when given.
    #[arg(long = "file", value_name = "GLOB")]
    pub files: Vec<String>,
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
    #[arg(
        long,
        value_name = "TOKEN",
        env = "LOGWARDEN_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// A file holding the token (one line), so that it does not show in `ps`; wins over
    /// `--token` and `LOGWARDEN_TOKEN`.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM CA certificate(s) to trust for `https://` collectors, besides the system's roots.
    #[arg(long, value_name = "FILE", env = "LOGWARDEN_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for collectors that demand one (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `--client-cert`.
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// The md status file to watch (default /proc/mdstat).
    #[arg(long, value_name = "PATH")]
    pub mdstat: Option<PathBuf>,
    /// A backup folder; pairs with the --data at the same position (one --backup may serve
    /// several --data). Replaces the file's [[health.backups]] when given.
    #[arg(long, value_name = "DIR", requires = "data")]
    pub backup: Vec<PathBuf>,
    /// A data folder the backup protects.
    #[arg(long, value_name = "DIR", requires = "backup")]
    pub data: Vec<PathBuf>,
    /// Serve the agent's `/metrics` and `/status` on ADDR (e.g. 127.0.0.1:9102).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Read the systemd journal (or, with `=DIR`, the journal in DIR). Replaces the file's
    /// [[journald]] when given.
    // A string, not a path: clap refuses an empty path, and a bare `--journald` is one.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "")]
    pub journald: Option<String>,
}

/// Reads and parses a config file, naming it in every error.
pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    parse(path, &text)
}

/// Reads, parses and checks a config file with the flags over it: every error names the file,
/// and the line and key where the check can tell (`run` uses this). Each deprecated key the
/// file uses is logged as a warning.
pub fn load_settings(path: &Path, flags: Overrides) -> anyhow::Result<Settings> {
    let checked = check(path, flags)?;
    for note in &checked.deprecations {
        tracing::warn!("{note}");
    }
    Ok(checked.settings)
}

/// A config file that passed its checks.
pub struct Checked {
    pub settings: Settings,
    /// One line per deprecated key the file uses, with its file and line, and the key's new
    /// spelling with the value converted.
    pub deprecations: Vec<String>,
}

/// As [`load_settings`], with the deprecated keys returned instead of logged (`config check`
/// prints them).
pub fn check(path: &Path, flags: Overrides) -> anyhow::Result<Checked> {
    use logwarden_core::config_text::locate;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let file = parse(path, &text)?;
    let deprecations = file
        .duration_keys()
        .iter()
        .filter_map(|k| Some(locate(path, &text, &k.deprecation()?)))
        .collect();
    let settings = Settings::build(file, flags)
        .map_err(|e| anyhow::anyhow!(locate(path, &text, &format!("{e:#}"))))?;
    Ok(Checked {
        settings,
        deprecations,
    })
}

impl FileConfig {
    /// The duration keys, each with its deprecated spelling in whole seconds.
    pub fn duration_keys(&self) -> [DurationKey<'_>; 2] {
        [
            DurationKey::new(
                "",
                "heartbeat",
                self.heartbeat,
                "heartbeat_secs",
                self.heartbeat_secs.map(|s| s as f64),
            ),
            DurationKey::new(
                "[tail]",
                "ignore_older",
                self.tail.ignore_older,
                "ignore_older_secs",
                self.tail.ignore_older_secs.map(|s| s as f64),
            ),
        ]
    }
}

/// Parses the text of a config file; `path` only names it in errors. (The fuzz target
/// `agent_config` feeds it arbitrary text.)
pub fn parse(path: &Path, text: &str) -> anyhow::Result<FileConfig> {
    toml::from_str(text).map_err(|e| {
        anyhow::anyhow!(logwarden_core::config_text::describe(
            path,
            text,
            e.message(),
            e.span()
        ))
    })
}

impl Settings {
    /// Merges the flags over the file and checks everything.
    pub fn build(file: FileConfig, flags: Overrides) -> anyhow::Result<Settings> {
        let [heartbeat_key, ignore_older] = file.duration_keys();
        let heartbeat = heartbeat_key.or(Duration::from_secs(30))?;
        if heartbeat.is_zero() {
            bail!("{} must be above zero", heartbeat_key.written());
        }
        let ignore_older = Some(ignore_older.or(Duration::ZERO)?).filter(|d| !d.is_zero());
        let collectors = if flags.collectors.is_empty() {
            file.collectors
        } else {
            flags.collectors
        };
        let collectors = if collectors.is_empty() {
            vec![logwarden_core::wire::DEFAULT_SERVER.to_owned()]
        } else {
            collectors
        };
        let collectors = collectors
            .iter()
            .map(|u| {
                let url = reqwest::Url::parse(u).with_context(|| format!("collector URL {u:?}"))?;
                if !matches!(url.scheme(), "http" | "https") {
                    bail!("collector URL {u:?}: scheme must be http or https");
                }
                Ok(url)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let ca_file = flags.ca_file.or(file.ca_file);
        if let Some(path) = &ca_file {
            // Read now so that `config check` and the start name a bad file.
            logwarden_core::tls::read_ca_file(path)?;
        }
        let client_identity = match (
            flags.client_cert.or(file.client_cert_file),
            flags.client_key.or(file.client_key_file),
        ) {
            (Some(cert), Some(key)) => {
                let id = crate::ship::ClientIdentity { cert, key };
                // Read now so that `config check` and the start name a bad file.
                id.load()?;
                Some(id)
            }
            (None, None) => None,
            _ => anyhow::bail!("client_cert_file and client_key_file go together: set both"),
        };
        let files = if !flags.files.is_empty() {
            flags
                .files
                .into_iter()
                .map(|path| FileRule {
                    path,
                    format: Format::Auto,
                    tz: Zone::Local,
                    exclude: Vec::new(),
                    multiline: Multiline::Auto,
                })
                .collect()
        } else if !file.files.is_empty() {
            file.files
        } else {
            DEFAULT_FILES
                .iter()
                .map(|p| FileRule {
                    path: (*p).to_owned(),
                    format: Format::Auto,
                    tz: Zone::Local,
                    exclude: Vec::new(),
                    multiline: Multiline::Auto,
                })
                .collect()
        };
        for rule in &files {
            glob::Pattern::new(&rule.path).with_context(|| format!("file glob {:?}", rule.path))?;
            for g in &rule.exclude {
                glob::Pattern::new(g)
                    .with_context(|| format!("exclude glob {g:?} of {:?}", rule.path))?;
            }
        }
        let journald = match flags.journald {
            Some(dir) => vec![crate::journald::JournalSource {
                directory: (!dir.is_empty()).then(|| PathBuf::from(dir)),
                matches: Vec::new(),
                read_from_end: false,
            }],
            None => file
                .journald
                .iter()
                .map(|j| {
                    let read_from_end = match j.read_from.as_deref() {
                        None | Some("beginning") => false,
                        Some("end") => true,
                        Some(other) => bail!(
                            "[[journald]] read_from {other:?}: must be \"beginning\" or \"end\""
                        ),
                    };
                    for m in &j.matches {
                        if !m.contains('=') && m != "+" {
                            bail!("[[journald]] match {m:?}: must be FIELD=value (or \"+\" between groups)");
                        }
                    }
                    Ok(crate::journald::JournalSource {
                        directory: j.directory.clone(),
                        matches: j.matches.clone(),
                        read_from_end,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        };
        let t = file.tail;
        let read_from_end = match t.read_from.as_str() {
            "beginning" => false,
            "end" => true,
            other => bail!("[tail] read_from {other:?} is not one of beginning, end"),
        };
        if t.max_line_bytes < 16 || t.fingerprint_bytes == 0 || t.scan_ms == 0 {
            bail!(
                "[tail] max_line_bytes must be at least 16, fingerprint_bytes and scan_ms above zero"
            );
        }
        let sp = file.spool;
        let policy = match sp.policy.as_str() {
            "block" => crate::spool::FullPolicy::Block,
            "drop_oldest" => crate::spool::FullPolicy::DropOldest,
            other => bail!("[spool] policy {other:?} is not one of block, drop_oldest"),
        };
        if sp.max_bytes < 256 << 10 {
            bail!("[spool] max_bytes must be at least 262144 (256 KiB)");
        }
        let host = match flags.host.or(file.host) {
            Some(h) if h.trim().is_empty() => bail!("host name is empty"),
            Some(h) => h,
            None => gethostname::gethostname().to_string_lossy().into_owned(),
        };
        let site = flags.site.or(file.site).unwrap_or_else(|| "default".into());
        let batch = file.batch;
        if batch.max_events == 0 || batch.max_bytes == 0 {
            bail!("[batch] max_events and max_bytes must be above zero");
        }
        let compression = match batch.compression.as_str() {
            "zstd" => Compression::Zstd,
            "gzip" => Compression::Gzip,
            "none" => Compression::None,
            other => bail!("[batch] compression {other:?} is not one of zstd, gzip, none"),
        };
        let mut health = file.health;
        if let Some(mdstat) = flags.mdstat {
            health.mdstat = mdstat;
        }
        if !flags.backup.is_empty() {
            health.backups = backup_rules(flags.backup, flags.data)?;
        }
        health.validate()?;
        let flag_token = match &flags.token_file {
            Some(path) => Some(logwarden_core::token_file::read_token(path)?),
            None => flags.token,
        };
        let token = match (flag_token, file.token, file.token_file) {
            (Some(t), _, _) => Some(t),
            (None, Some(_), Some(_)) => bail!("token and token_file are both set: keep one"),
            (None, Some(t), None) => Some(t),
            (None, None, Some(path)) => Some(read_token_file(&path)?),
            (None, None, None) => None,
        }
        .filter(|t| !t.is_empty());
        let metrics_listen = flags
            .metrics_listen
            .or(file.metrics.listen)
            .map(|a| {
                a.parse::<std::net::SocketAddr>()
                    .with_context(|| format!("[metrics] listen {a:?}: not an ADDR:PORT"))
            })
            .transpose()?;
        let data_dir = flags
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./logwarden-agent-data"));
        Ok(Settings {
            collectors,
            spool: crate::spool::SpoolConfig {
                dir: sp.dir.unwrap_or_else(|| data_dir.join("spool")),
                max_bytes: sp.max_bytes,
                policy,
            },
            tail: TailSettings {
                rules: files.clone(),
                read_from_end,
                ignore_older,
                max_line_bytes: t.max_line_bytes,
                multiline_timeout: Duration::from_millis(t.multiline_timeout_ms),
                fingerprint: crate::tail::fingerprint::Window {
                    skip: t.fingerprint_skip_bytes,
                    len: t.fingerprint_bytes,
                },
                scan_interval: Duration::from_millis(t.scan_ms),
            },
            data_dir,
            host,
            site,
            token,
            ca_file,
            client_identity,
            files,
            journald,
            heartbeat,
            max_events: batch.max_events,
            max_bytes: batch.max_bytes,
            max_wait: Duration::from_millis(batch.max_wait_ms),
            compression,
            health,
            metrics_listen,
        })
    }
}

/// The token in `path`: its first line, without surrounding white space.
fn read_token_file(path: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("token_file {}", path.display()))?;
    match text.lines().next().map(str::trim) {
        Some(t) if !t.is_empty() => Ok(t.to_owned()),
        _ => bail!("token_file {}: the file is empty", path.display()),
    }
}

/// Pairs `--backup` and `--data` flags: one each at the same position, or one backup for all.
pub fn backup_rules(backup: Vec<PathBuf>, data: Vec<PathBuf>) -> anyhow::Result<Vec<BackupRule>> {
    match (backup.len(), data.len()) {
        (1, _) => Ok(vec![BackupRule {
            dir: backup[0].clone(),
            data,
        }]),
        (b, d) if b == d => Ok(backup
            .into_iter()
            .zip(data)
            .map(|(dir, d)| BackupRule { dir, data: vec![d] })
            .collect()),
        (b, d) => {
            bail!("{b} --backup and {d} --data: give one --data per --backup (or one --backup)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_refused_with_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, "site = \"phx\"\n\n[batch]\nmax_event = 5\n").unwrap();
        let err = format!("{:#}", load(&path).unwrap_err());
        assert!(err.contains("agent.toml"), "{err}");
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("max_event"), "{err}");
    }

    #[test]
    fn flags_override_the_file_and_defaults_fill_the_rest() {
        let file: FileConfig =
            toml::from_str("site = \"phx\"\nhost = \"a\"\n[[files]]\npath = \"/x/*.log\"\n")
                .unwrap();
        let flags = Overrides {
            host: Some("b".into()),
            ..Overrides::default()
        };
        let s = Settings::build(file, flags).unwrap();
        assert_eq!((s.host.as_str(), s.site.as_str()), ("b", "phx"));
        assert_eq!(s.files[0].path, "/x/*.log");
        assert_eq!(s.collectors[0].as_str(), "http://127.0.0.1:7070/");
        assert_eq!(s.compression, Compression::Zstd);
    }

    #[test]
    fn a_bad_time_zone_is_named_with_its_line() {
        let err = toml::from_str::<FileConfig>("[[files]]\npath = \"/x\"\ntz = \"Mars\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("\"Mars\""), "{err}");
    }

    #[test]
    fn the_token_is_read_from_token_file_and_an_empty_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let file = FileConfig {
            token_file: Some(path.clone()),
            ..FileConfig::default()
        };
        let s = Settings::build(file, Overrides::default()).unwrap();
        assert_eq!(s.token.as_deref(), Some("s3cret"));
        std::fs::write(&path, "\n").unwrap();
        let file = FileConfig {
            token_file: Some(path),
            ..FileConfig::default()
        };
        let err = format!(
            "{:#}",
            Settings::build(file, Overrides::default()).unwrap_err()
        );
        assert!(err.contains("token_file") && err.contains("empty"), "{err}");
    }

    #[test]
    fn a_bad_collector_url_is_named() {
        let flags = Overrides {
            collectors: vec!["ftp://x".into()],
            ..Overrides::default()
        };
        let err = format!(
            "{:#}",
            Settings::build(FileConfig::default(), flags).unwrap_err()
        );
        assert!(err.contains("ftp://x"), "{err}");
    }

    #[test]
    fn old_duration_keys_in_seconds_give_the_same_settings_as_the_new_spelling_and_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("host = \"a\"\n{text}")).unwrap();
            check(&path, Overrides::default()).unwrap()
        };
        let old = write(
            "old.toml",
            "heartbeat_secs = 90\n[tail]\nignore_older_secs = 604800\n",
        );
        let new = write(
            "new.toml",
            "heartbeat = \"90s\"\n[tail]\nignore_older = \"7d\"\n",
        );
        let default = write("default.toml", "");
        assert_eq!(format!("{:?}", old.settings), format!("{:?}", new.settings));
        assert_ne!(
            format!("{:?}", new.settings),
            format!("{:?}", default.settings)
        );
        assert_eq!(new.settings.heartbeat, Duration::from_secs(90));
        assert!(new.deprecations.is_empty(), "{:?}", new.deprecations);
        let file = dir.path().join("old.toml").display().to_string();
        assert_eq!(
            old.deprecations,
            [
                format!(
                    "config file {file}, line 2: heartbeat_secs = 90 is deprecated: write heartbeat = \"1m 30s\""
                ),
                format!(
                    "config file {file}, line 4: [tail] ignore_older_secs = 604800 is deprecated: write ignore_older = \"7days\""
                ),
            ]
        );
        let both: FileConfig = toml::from_str("heartbeat = \"1m\"\nheartbeat_secs = 60\n").unwrap();
        let err = format!(
            "{:#}",
            Settings::build(both, Overrides::default()).unwrap_err()
        );
        assert!(
            err.contains("heartbeat_secs and heartbeat are both given"),
            "{err}"
        );
    }
}

//! The agent's configuration: the TOML file (every key in docs/configuration.md), the command
//! line flags that override it, and their validation into [`Settings`], the runtime form the
//! rest of the agent takes. Everything is checked here, before any file or socket is opened.
//!
//! The sections that belong to one part live beside it, as written and with their checks:
//! `[tail]` and `[[files]]` in `tail/settings.rs`, `[spool]` in `spool/settings.rs`,
//! `[[journald]]` in `journald/settings.rs`, `[health]` in `health/settings.rs`. This file holds
//! the rest and assembles them, flags over file, into [`Settings`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use logwarden_core::config_duration::{ConfigDuration, DurationKey};
use serde::Deserialize;

use crate::health::{BackupRule, HealthConfig, HealthFileConfig};
use crate::journald::settings::JournaldConfig;
use crate::parse::{Format, Zone};
use crate::ship::settings::Compression;
use crate::spool::settings::SpoolFileConfig;
use crate::tail::settings::{FileRule, Multiline, TailConfig, TailSettings};

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
    pub health: HealthFileConfig,
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

/// `[metrics]`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `ADDR:PORT` to serve `/metrics` and `/status` on (e.g. `127.0.0.1:9102`); off when absent.
    pub listen: Option<String>,
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
    pub client_identity: Option<crate::ship::settings::ClientIdentity>,
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

pub type Checked = logwarden_core::config_text::Checked<Settings>;

/// As [`load_settings`], with the deprecated keys returned instead of logged (`config check`
/// prints them).
pub fn check(path: &Path, flags: Overrides) -> anyhow::Result<Checked> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let file = parse(path, &text)?;
    let deprecations: Vec<String> = file
        .duration_keys()
        .iter()
        .filter_map(|k| k.deprecation())
        .collect();
    logwarden_core::config_text::checked(path, &text, file, &deprecations, |f| {
        Settings::build(f, flags)
    })
    .map_err(anyhow::Error::msg)
}

impl FileConfig {
    /// The duration keys of the whole file (the top, `[tail]`, `[health]`, then each
    /// `[[health.redfish]]` in its order), each with its deprecated spelling in whole seconds.
    pub fn duration_keys(&self) -> Vec<DurationKey<'_>> {
        let [ignore_older] = self.tail.duration_keys();
        let mut keys = vec![self.heartbeat_key(), ignore_older];
        keys.extend(self.health.all_duration_keys());
        keys
    }

    fn heartbeat_key(&self) -> DurationKey<'_> {
        DurationKey::new(
            "",
            "heartbeat",
            self.heartbeat,
            "heartbeat_secs",
            self.heartbeat_secs.map(|s| s as f64),
        )
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
        let heartbeat_key = file.heartbeat_key();
        let heartbeat = heartbeat_key.or(Duration::from_secs(30))?;
        if heartbeat.is_zero() {
            bail!("{} must be above zero", heartbeat_key.written());
        }
        let collectors = collector_urls(flags.collectors, file.collectors)?;
        let ca_file = flags.ca_file.or(file.ca_file);
        if let Some(path) = &ca_file {
            // Read now so that `config check` and the start name a bad file.
            logwarden_core::tls::read_ca_file(path)?;
        }
        let client_identity = client_identity(
            flags.client_cert.or(file.client_cert_file),
            flags.client_key.or(file.client_key_file),
        )?;
        let files = file_rules(flags.files, file.files)?;
        let journald = journal_sources(flags.journald, &file.journald)?;
        let tail = file.tail.settings(files.clone())?;
        let sp = file.spool;
        let policy = sp.full_policy()?;
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
        let compression = compression(&batch.compression)?;
        let mut health = file.health.settings()?;
        if let Some(mdstat) = flags.mdstat {
            health.mdstat = mdstat;
        }
        if !flags.backup.is_empty() {
            health.backups = backup_rules(flags.backup, flags.data)?;
        }
        health.validate()?;
        let token = token(flags.token, flags.token_file, file.token, file.token_file)?;
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
            tail,
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

/// The collectors' URLs: the flags' over the file's, [`DEFAULT_SERVER`] when neither names one.
///
/// [`DEFAULT_SERVER`]: logwarden_core::wire::DEFAULT_SERVER
fn collector_urls(flags: Vec<String>, file: Vec<String>) -> anyhow::Result<Vec<reqwest::Url>> {
    let collectors = if flags.is_empty() { file } else { flags };
    let collectors = if collectors.is_empty() {
        vec![logwarden_core::wire::DEFAULT_SERVER.to_owned()]
    } else {
        collectors
    };
    collectors
        .iter()
        .map(|u| {
            let url = reqwest::Url::parse(u).with_context(|| format!("collector URL {u:?}"))?;
            if !matches!(url.scheme(), "http" | "https") {
                bail!("collector URL {u:?}: scheme must be http or https");
            }
            Ok(url)
        })
        .collect::<anyhow::Result<Vec<_>>>()
}

/// The client certificate and key for mutual TLS: both or neither, read now.
fn client_identity(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> anyhow::Result<Option<crate::ship::settings::ClientIdentity>> {
    Ok(match (cert, key) {
        (Some(cert), Some(key)) => {
            let id = crate::ship::settings::ClientIdentity { cert, key };
            // Read now so that `config check` and the start name a bad file.
            id.load()?;
            Some(id)
        }
        (None, None) => None,
        _ => anyhow::bail!("client_cert_file and client_key_file go together: set both"),
    })
}

/// The files to tail: `--file` flags, else the file's `[[files]]`, else [`DEFAULT_FILES`];
/// every glob checked.
fn file_rules(flags: Vec<String>, file: Vec<FileRule>) -> anyhow::Result<Vec<FileRule>> {
    let files = if !flags.is_empty() {
        flags
            .into_iter()
            .map(|path| FileRule {
                path,
                format: Format::Auto,
                tz: Zone::Local,
                exclude: Vec::new(),
                multiline: Multiline::Auto,
            })
            .collect()
    } else if !file.is_empty() {
        file
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
    Ok(files)
}

/// The journals to read: `--journald[=DIR]`, else the file's `[[journald]]`, checked.
fn journal_sources(
    flag: Option<String>,
    file: &[JournaldConfig],
) -> anyhow::Result<Vec<crate::journald::JournalSource>> {
    Ok(match flag {
        Some(dir) => vec![crate::journald::JournalSource {
            directory: (!dir.is_empty()).then(|| PathBuf::from(dir)),
            matches: Vec::new(),
            read_from_end: false,
        }],
        None => file
            .iter()
            .map(JournaldConfig::source)
            .collect::<anyhow::Result<Vec<_>>>()?,
    })
}

/// `[batch] compression`.
fn compression(name: &str) -> anyhow::Result<Compression> {
    Ok(match name {
        "zstd" => Compression::Zstd,
        "gzip" => Compression::Gzip,
        "none" => Compression::None,
        other => bail!("[batch] compression {other:?} is not one of zstd, gzip, none"),
    })
}

/// The token: `--token-file`, else `--token` (or `LOGWARDEN_TOKEN`), else the file's `token`
/// or `token_file` (not both); none when empty.
fn token(
    flag: Option<String>,
    flag_file: Option<PathBuf>,
    file: Option<String>,
    file_file: Option<PathBuf>,
) -> anyhow::Result<Option<String>> {
    let flag_token = match &flag_file {
        Some(path) => Some(logwarden_core::token_file::read_token(path)?),
        None => flag,
    };
    Ok(match (flag_token, file, file_file) {
        (Some(t), _, _) => Some(t),
        (None, Some(_), Some(_)) => bail!("token and token_file are both set: keep one"),
        (None, Some(t), None) => Some(t),
        (None, None, Some(path)) => Some(read_token_file(&path)?),
        (None, None, None) => None,
    }
    .filter(|t| !t.is_empty()))
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

    #[test]
    fn old_health_timers_are_named_with_their_line_even_in_each_redfish_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(
            &path,
            "host = \"a\"\n[health]\nreport_interval_s = 600\nsmart_timeout = \"2m\"\n\
             [[health.redfish]]\nurl = \"https://bmc1\"\ninterval_s = 30\n\
             [[health.redfish]]\nurl = \"https://bmc2\"\ninterval = \"30s\"\n\
             [[health.redfish]]\nurl = \"https://bmc3\"\ntimeout_s = 7\ninterval_s = 120\n",
        )
        .unwrap();
        let checked = check(&path, Overrides::default()).unwrap();
        let file = path.display();
        assert_eq!(
            checked.deprecations,
            [
                format!(
                    "config file {file}, line 3: [health] report_interval_s = 600 is deprecated: write report_interval = \"10m\""
                ),
                format!(
                    "config file {file}, line 7: [[health.redfish]] interval_s = 30 is deprecated: write interval = \"30s\""
                ),
                format!(
                    "config file {file}, line 14: [[health.redfish]] interval_s = 120 is deprecated: write interval = \"2m\""
                ),
                format!(
                    "config file {file}, line 13: [[health.redfish]] timeout_s = 7 is deprecated: write timeout = \"7s\""
                ),
            ]
        );
        let h = &checked.settings.health;
        assert_eq!(h.report_interval, Duration::from_secs(600));
        assert_eq!(h.smart_timeout, Duration::from_secs(120));
        let every: Vec<_> = h.redfish.iter().map(|t| (t.interval, t.timeout)).collect();
        let s = Duration::from_secs;
        assert_eq!(every, [(s(30), s(5)), (s(30), s(5)), (s(120), s(7))]);

        std::fs::write(
            &path,
            "[health]\nsmart_interval = \"1h\"\n# the old one too\nsmart_interval_s = 3600\n",
        )
        .unwrap();
        let Err(err) = check(&path, Overrides::default()) else {
            panic!("both spellings were accepted");
        };
        let err = format!("{err:#}");
        assert_eq!(
            err,
            format!(
                "config file {file}, line 4: [health] smart_interval_s and smart_interval are both given: keep only smart_interval"
            )
        );
    }
}

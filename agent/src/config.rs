//! The agent's configuration: the TOML file (every key in docs/configuration.md), the command
//! line flags that override it, and their validation into [`Settings`], the runtime form the
//! rest of the agent takes. Everything is checked here, before any file or socket is opened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
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
    #[serde(default)]
    pub files: Vec<FileRule>,
    /// Seconds between heartbeats (`kind: heartbeat` events that say the agent is alive).
    pub heartbeat_secs: Option<u64>,
    #[serde(default)]
    pub batch: BatchConfig,
    /// `[health]`: the disk, RAID, file system and backup probes (docs/health.md).
    #[serde(default)]
    pub health: HealthConfig,
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
    /// Batches kept in memory while the collector is away; the tailer stops reading (the data
    /// stays in the files) when they are all full.
    pub queue_batches: usize,
    /// `zstd`, `gzip` or `none`.
    pub compression: String,
}

impl Default for BatchConfig {
    fn default() -> BatchConfig {
        BatchConfig {
            max_events: 2000,
            max_bytes: 1 << 20,
            max_wait_ms: 200,
            queue_batches: 64,
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
    pub files: Vec<FileRule>,
    pub heartbeat: Duration,
    pub max_events: usize,
    pub max_bytes: usize,
    pub max_wait: Duration,
    pub queue_batches: usize,
    pub compression: Compression,
    pub health: HealthConfig,
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
}

/// Reads and parses a config file, naming it in every error.
pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

impl Settings {
    /// Merges the flags over the file and checks everything.
    pub fn build(file: FileConfig, flags: Overrides) -> anyhow::Result<Settings> {
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
        let files = if !flags.files.is_empty() {
            flags
                .files
                .into_iter()
                .map(|path| FileRule {
                    path,
                    format: Format::Auto,
                    tz: Zone::Local,
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
                })
                .collect()
        };
        for rule in &files {
            glob::Pattern::new(&rule.path).with_context(|| format!("file glob {:?}", rule.path))?;
        }
        let host = match flags.host.or(file.host) {
            Some(h) if h.trim().is_empty() => bail!("host name is empty"),
            Some(h) => h,
            None => gethostname::gethostname().to_string_lossy().into_owned(),
        };
        let site = flags.site.or(file.site).unwrap_or_else(|| "default".into());
        let heartbeat = Duration::from_secs(file.heartbeat_secs.unwrap_or(30));
        if heartbeat.is_zero() {
            bail!("heartbeat_secs must be above zero");
        }
        let batch = file.batch;
        if batch.max_events == 0 || batch.max_bytes == 0 || batch.queue_batches == 0 {
            bail!("[batch] max_events, max_bytes and queue_batches must be above zero");
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
        Ok(Settings {
            collectors,
            data_dir: flags
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./logwarden-agent-data")),
            host,
            site,
            token: flags.token.or(file.token).filter(|t| !t.is_empty()),
            files,
            heartbeat,
            max_events: batch.max_events,
            max_bytes: batch.max_bytes,
            max_wait: Duration::from_millis(batch.max_wait_ms),
            queue_batches: batch.queue_batches,
            compression,
            health,
        })
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
}

//! The tailer's settings: `[tail]` and `[[files]]` as written in the config file, and their
//! checked form, [`TailSettings`], that the tailer runs with (`config.rs` assembles it with the
//! other sections).

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use logwarden_core::config_duration::{ConfigDuration, DurationKey};
use serde::Deserialize;

use crate::parse::{Format, Zone};

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
            fingerprint_bytes: crate::source::fingerprint::DEFAULT_WINDOW,
            fingerprint_skip_bytes: 0,
            scan_ms: 250,
        }
    }
}

impl TailConfig {
    /// The duration key, with its deprecated spelling in whole seconds.
    pub fn duration_keys(&self) -> [DurationKey<'_>; 1] {
        [DurationKey::new(
            "[tail]",
            "ignore_older",
            self.ignore_older,
            "ignore_older_secs",
            self.ignore_older_secs.map(|s| s as f64),
        )]
    }

    /// Checks `[tail]` and pairs it with the `[[files]]` rules (`rules`) into what the tailer
    /// runs with.
    pub fn settings(self, rules: Vec<FileRule>) -> anyhow::Result<TailSettings> {
        let [ignore_older] = self.duration_keys();
        let ignore_older = Some(ignore_older.or(Duration::ZERO)?).filter(|d| !d.is_zero());
        let t = self;
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
        Ok(TailSettings {
            rules,
            read_from_end,
            ignore_older,
            max_line_bytes: t.max_line_bytes,
            multiline_timeout: Duration::from_millis(t.multiline_timeout_ms),
            fingerprint: crate::source::fingerprint::Window {
                skip: t.fingerprint_skip_bytes,
                len: t.fingerprint_bytes,
            },
            scan_interval: Duration::from_millis(t.scan_ms),
        })
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
    pub fingerprint: crate::source::fingerprint::Window,
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

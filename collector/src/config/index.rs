//! `[index]`: retention, indexing memory and priority, checked into [`IndexSettings`].

use std::time::Duration;

use anyhow::{Context, bail};
use logwarden_core::config_duration::{ConfigDuration, DurationKey};
use serde::Deserialize;

use crate::index::IndexSettings;

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
    /// Events claiming a time more than this long after their arrival are moved to it
    /// (`wal/future.rs`; `"0s"`: kept as they are).
    pub max_future: Option<ConfigDuration>,
    /// Deprecated: `max_future` in whole seconds.
    pub max_future_s: Option<u64>,
}

impl Default for IndexConfig {
    fn default() -> IndexConfig {
        let d = IndexSettings::default();
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
            max_future: None,
            max_future_s: None,
        }
    }
}

impl IndexConfig {
    pub(super) fn settings(&self) -> anyhow::Result<IndexSettings> {
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
        Ok(IndexSettings {
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
            max_future: self.max_future()?,
        })
    }

    /// The duration key, with its deprecated spelling in seconds.
    pub(super) fn duration_keys(&self) -> [DurationKey<'_>; 1] {
        [DurationKey::new(
            "[index]",
            "max_future",
            self.max_future,
            "max_future_s",
            self.max_future_s.map(|s| s as f64),
        )]
    }

    fn max_future(&self) -> anyhow::Result<Option<chrono::Duration>> {
        let [key] = self.duration_keys();
        let default = Duration::from_secs(crate::wal::future::DEFAULT_MAX_FUTURE_S);
        match key.or(default)? {
            d if d.is_zero() => Ok(None),
            d => {
                Ok(Some(chrono::Duration::from_std(d).with_context(|| {
                    format!("{} is too large", key.written())
                })?))
            }
        }
    }

    /// `max_backlog_mb` in bytes.
    pub(super) fn max_backlog_bytes(&self) -> anyhow::Result<u64> {
        self.max_backlog_mb.checked_mul(1 << 20).with_context(|| {
            format!(
                "[index] max_backlog_mb = {} is too large",
                self.max_backlog_mb
            )
        })
    }
}

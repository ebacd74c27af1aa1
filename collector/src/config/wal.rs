//! `[wal]`: segment size, the size at which ingest stops and the size retention trims to.

use anyhow::bail;
use serde::Deserialize;

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

impl WalConfig {
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if self.segment_bytes < 1 << 20 {
            bail!("[wal] segment_bytes must be at least 1 MiB");
        }
        Ok(())
    }

    /// What retention trims down to: `keep_bytes`, and well under the size at which ingest
    /// stops.
    pub(super) fn keep_bytes(&self) -> u64 {
        match self.max_bytes {
            0 => self.keep_bytes,
            max => self.keep_bytes.min(max / 2),
        }
    }
}

//! `[spool]` as written in the config file, and its checks (`config.rs` assembles it into a
//! [`SpoolConfig`](super::SpoolConfig) with the other sections).

use std::path::PathBuf;

use anyhow::bail;
use serde::Deserialize;

use super::FullPolicy;

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

impl SpoolFileConfig {
    /// `policy`, with `max_bytes` checked.
    pub fn full_policy(&self) -> anyhow::Result<FullPolicy> {
        let policy = match self.policy.as_str() {
            "block" => FullPolicy::Block,
            "drop_oldest" => FullPolicy::DropOldest,
            other => bail!("[spool] policy {other:?} is not one of block, drop_oldest"),
        };
        if self.max_bytes < 256 << 10 {
            bail!("[spool] max_bytes must be at least 262144 (256 KiB)");
        }
        Ok(policy)
    }
}

//! The agent's view of itself: what it tails, how far it has read and been acknowledged, how
//! much waits in the spool, and what went wrong. Counted where things happen (tailer, spool
//! writer, shipper) into one [`AgentMetrics`] (`metrics.rs`); read by the optional loopback
//! listener (`[metrics] listen`, `listener.rs`) as Prometheus text (`exposition.rs`) and as the
//! JSON [`AgentStatus`] that `logwarden-agent status` prints.
//!
//! Offsets per inode (a rotated file and its successor share a path for a while) and counts
//! per path (so a counter never goes back when a rotated file is let go).

pub mod exposition;
pub mod listener;
pub mod metrics;
pub mod table;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use serde::{Deserialize, Serialize};

use metrics::{AgentMetrics, Tailing, lock};

use crate::source::FileKey;
use crate::tail::checkpoint::Checkpoints;

impl AgentMetrics {
    /// Everything at once, with the acknowledged offsets from `checkpoints` and each file's
    /// size read now.
    pub fn status(&self, who: &Identity, checkpoints: &Checkpoints) -> AgentStatus {
        let tailing: Vec<(FileKey, Tailing)> = lock(&self.tailing)
            .iter()
            .map(|(k, t)| (*k, t.clone()))
            .collect();
        let counts = lock(&self.paths).clone();
        let mut files: Vec<FileStatus> = tailing
            .into_iter()
            .map(|(key, t)| {
                let size = size_of(&t.path, key);
                let acked = checkpoints.offset(key).unwrap_or(0);
                let end = size.unwrap_or(t.read_offset).max(t.read_offset);
                let c = counts.get(&t.path).copied().unwrap_or_default();
                FileStatus {
                    path: t.path.display().to_string(),
                    inode: key.ino,
                    size: end,
                    rotated: size.is_none(),
                    read_offset: t.read_offset,
                    acked_offset: acked,
                    unread_bytes: end.saturating_sub(t.read_offset),
                    unacked_bytes: end.saturating_sub(acked),
                    lines_read: c.read,
                    lines_shipped: c.shipped,
                }
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path).then(a.inode.cmp(&b.inode)));
        let usage = self.spool.get().map(|u| u.usage()).unwrap_or_default();
        let spooled = self.spooled.load(Relaxed) + self.recovered.load(Relaxed);
        let gone = self.shipped.load(Relaxed) + usage.stats.dropped;
        AgentStatus {
            live: true,
            agent_id: who.agent_id.clone(),
            host: who.host.clone(),
            site: who.site.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            files,
            paths: counts
                .into_iter()
                .map(|(p, c)| PathTotals {
                    path: p.display().to_string(),
                    lines_read: c.read,
                    lines_shipped: c.shipped,
                })
                .collect(),
            spool: SpoolStatus {
                events: spooled.saturating_sub(gone),
                bytes: usage.bytes,
                segments: usage.segments,
                max_bytes: who.spool_max_bytes,
                torn: usage.stats.torn,
                damaged: usage.stats.damaged,
                dropped: usage.stats.dropped,
            },
            events_spooled: self.spooled.load(Relaxed),
            events_shipped: self.shipped.load(Relaxed),
            batches_shipped: self.batches.load(Relaxed),
            errors: Errors {
                ship_unreachable: self.ship_unreachable.load(Relaxed),
                ship_refused: self.ship_refused.load(Relaxed),
                ship_too_large: self.ship_too_large.load(Relaxed),
                spool_write: self.spool_write_errors.load(Relaxed),
                read: self.read_errors.load(Relaxed),
                probe: self.probe_errors.load(Relaxed),
            },
        }
    }
}

/// The length of the file at `path` if it is still the file `key` (a rotated file's path leads
/// to its successor).
fn size_of(path: &Path, key: FileKey) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    (m.dev() == key.dev && m.ino() == key.ino).then_some(m.len())
}

/// Who this agent is, for the status.
#[derive(Debug, Clone)]
pub struct Identity {
    pub agent_id: String,
    pub host: String,
    pub site: String,
    pub spool_max_bytes: u64,
}

/// `GET /status` on the agent's listener; what `logwarden-agent status` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// From the running agent (true), or from its data dir (false: acknowledged state only;
    /// read offsets, line counts and spool events are unknown and shown as 0).
    pub live: bool,
    pub agent_id: String,
    pub host: String,
    pub site: String,
    pub version: String,
    /// The files tailed now, by path then inode.
    pub files: Vec<FileStatus>,
    /// Lines read and shipped per path since start (rotated files included).
    pub paths: Vec<PathTotals>,
    pub spool: SpoolStatus,
    pub events_spooled: u64,
    pub events_shipped: u64,
    pub batches_shipped: u64,
    pub errors: Errors,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileStatus {
    pub path: String,
    pub inode: u64,
    /// The file's length now (for a rotated file no longer at its path: what was read).
    pub size: u64,
    /// No longer at its path (renamed or deleted); read to its end, then let go.
    pub rotated: bool,
    /// End of the last line handed to the spool.
    pub read_offset: u64,
    /// End of the last line a collector acknowledged (the checkpoint).
    pub acked_offset: u64,
    /// Bytes not read yet: `size - read_offset`.
    pub unread_bytes: u64,
    /// Bytes not acknowledged yet: `size - acked_offset` (the checkpoint lag).
    pub unacked_bytes: u64,
    pub lines_read: u64,
    pub lines_shipped: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathTotals {
    pub path: String,
    pub lines_read: u64,
    pub lines_shipped: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpoolStatus {
    /// Events in the spool not acknowledged yet.
    pub events: u64,
    pub bytes: u64,
    pub segments: u64,
    pub max_bytes: u64,
    pub torn: u64,
    pub damaged: u64,
    pub dropped: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Errors {
    pub ship_unreachable: u64,
    pub ship_refused: u64,
    pub ship_too_large: u64,
    pub spool_write: u64,
    pub read: u64,
    #[serde(default)]
    pub probe: u64,
}

impl AgentStatus {
    /// What the data dir tells without the agent: each file's acknowledged offset and lag, and
    /// the spool's size on disk. Works whether the agent runs or not.
    pub fn from_data_dir(data_dir: &Path, spool_dir: &Path) -> anyhow::Result<AgentStatus> {
        use anyhow::Context;
        let checkpoints = Checkpoints::load(data_dir)?;
        let agent_id = std::fs::read_to_string(data_dir.join("agent_id"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let mut files: Vec<FileStatus> = checkpoints
            .files()
            .map(|(key, a)| {
                let size = size_of(&a.path, *key);
                let end = size.unwrap_or(a.offset).max(a.offset);
                FileStatus {
                    path: a.path.display().to_string(),
                    inode: key.ino,
                    size: end,
                    rotated: size.is_none(),
                    read_offset: a.offset,
                    acked_offset: a.offset,
                    unread_bytes: 0,
                    unacked_bytes: end - a.offset,
                    lines_read: 0,
                    lines_shipped: 0,
                }
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path).then(a.inode.cmp(&b.inode)));
        let (mut bytes, mut segments) = (0, 0);
        match std::fs::read_dir(spool_dir) {
            Ok(dir) => {
                for entry in dir {
                    let entry = entry
                        .with_context(|| format!("reading spool dir {}", spool_dir.display()))?;
                    if entry.file_name().to_string_lossy().ends_with(".seg") {
                        segments += 1;
                        bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading spool dir {}", spool_dir.display()));
            }
        }
        Ok(AgentStatus {
            live: false,
            agent_id,
            host: String::new(),
            site: String::new(),
            version: String::new(),
            files,
            paths: Vec::new(),
            spool: SpoolStatus {
                events: 0,
                bytes,
                segments,
                max_bytes: 0,
                torn: 0,
                damaged: 0,
                dropped: 0,
            },
            events_spooled: 0,
            events_shipped: 0,
            batches_shipped: 0,
            errors: Errors {
                ship_unreachable: 0,
                ship_refused: 0,
                ship_too_large: 0,
                spool_write: 0,
                read: 0,
                probe: 0,
            },
        })
    }
}

/// Shared by the listener's handlers.
#[derive(Clone)]
pub struct Observed {
    pub metrics: Arc<AgentMetrics>,
    pub who: Arc<Identity>,
    pub checkpoints: Arc<tokio::sync::Mutex<Checkpoints>>,
}

impl Observed {
    pub async fn status(&self) -> AgentStatus {
        let cp = self.checkpoints.lock().await;
        self.metrics.status(&self.who, &cp)
    }
}

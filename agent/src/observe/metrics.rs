//! What the agent counts where things happen: the tailer, the spool's feed, the shipper and the
//! health probes report into one [`AgentMetrics`] (a leaf: it knows the source types and the
//! spool's usage handle, nothing that reports into it). Reading it all at once, as the agent's
//! status, is `observe/mod.rs`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

use crate::source::FileKey;
use crate::spool::UsageHandle;

/// Lines read and shipped for one path since the agent started.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct PathCounts {
    pub(super) read: u64,
    pub(super) shipped: u64,
}

/// A file being tailed now.
#[derive(Debug, Clone)]
pub(super) struct Tailing {
    pub(super) path: PathBuf,
    /// End of the last line handed to the spool.
    pub(super) read_offset: u64,
}

/// Why a batch was not taken, as the `reason` label of `agent_ship_errors_total`.
#[derive(Debug, Clone, Copy)]
pub enum ShipError {
    Unreachable,
    Refused,
    /// An event over the collector's body limit, dropped.
    TooLarge,
}

#[derive(Debug, Default)]
pub struct AgentMetrics {
    pub(super) paths: Mutex<BTreeMap<PathBuf, PathCounts>>,
    pub(super) tailing: Mutex<HashMap<FileKey, Tailing>>,
    /// Events written to the spool since start.
    pub spooled: AtomicU64,
    /// Events acknowledged by a collector since start.
    pub shipped: AtomicU64,
    pub batches: AtomicU64,
    /// Unacknowledged events found in the spool at start (they are sent again).
    pub recovered: AtomicU64,
    pub(super) ship_unreachable: AtomicU64,
    pub(super) ship_refused: AtomicU64,
    pub(super) ship_too_large: AtomicU64,
    /// Failed writes to the spool (disk full, ...), each retried.
    pub spool_write_errors: AtomicU64,
    /// Files that could not be opened or read.
    pub read_errors: AtomicU64,
    /// Health probe runs that failed (mdstat unreadable, smartctl or storcli failing).
    pub probe_errors: AtomicU64,
    /// Set once the spool is open.
    pub(super) spool: OnceLock<UsageHandle>,
}

impl AgentMetrics {
    pub fn set_spool(&self, usage: UsageHandle) {
        let _ = self.spool.set(usage);
    }

    /// The tailer handed out `lines` lines of `key`, the last ending at `end`.
    pub fn read(&self, key: FileKey, path: &Path, lines: u64, end: u64) {
        {
            let mut t = lock(&self.tailing);
            let e = t.entry(key).or_insert_with(|| Tailing {
                path: path.to_owned(),
                read_offset: 0,
            });
            e.read_offset = end;
            if e.path != path {
                e.path = path.to_owned();
            }
        }
        let mut p = lock(&self.paths);
        match p.get_mut(path) {
            Some(c) => c.read += lines,
            None => {
                p.insert(
                    path.to_owned(),
                    PathCounts {
                        read: lines,
                        shipped: 0,
                    },
                );
            }
        }
    }

    /// The tailer no longer reads `key` (a rotated file read to its end).
    pub fn let_go(&self, key: FileKey) {
        lock(&self.tailing).remove(&key);
    }

    /// A collector acknowledged a batch of `events`, `lines` of them from these paths.
    pub fn acked<'a>(&self, events: usize, lines: impl Iterator<Item = (&'a Path, u64)>) {
        self.shipped.fetch_add(events as u64, Relaxed);
        self.batches.fetch_add(1, Relaxed);
        let mut p = lock(&self.paths);
        for (path, n) in lines {
            p.entry(path.to_owned()).or_default().shipped += n;
        }
    }

    pub fn ship_error(&self, e: ShipError) {
        match e {
            ShipError::Unreachable => &self.ship_unreachable,
            ShipError::Refused => &self.ship_refused,
            ShipError::TooLarge => &self.ship_too_large,
        }
        .fetch_add(1, Relaxed);
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

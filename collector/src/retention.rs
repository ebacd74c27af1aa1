//! WAL retention: which records some part of the collector still needs, and the task that has
//! the committer delete the segments below (`wal/trim.rs` does the deleting).
//!
//! It sits above the parts it asks, and none of them asks it anything: it reads the WAL's
//! figures ([`WalStats`]), the indexer's and the fleet view's progress, and the standby's
//! position ([`Replication::standby_position`]), and calls [`Committer::trim`].
//!
//! Every part that reads the log at start or catches up from it holds back the records it may
//! still read (a *hold*); the lowest hold is the *floor*, and only whole segments below it go:
//!
//! | part | needs the records | known from |
//! |---|---|---|
//! | committer (dedup, epochs) | from its newest `Checkpoint` record | `WalStats::checkpoint_lsn` |
//! | rules engine | after the LSN its newest `RulesSnapshot` reflects | `WalStats::rules_lsn` |
//! | index | after the LSN every partition has committed | the indexer's `indexed` LSN |
//! | fleet view | after its last saved `fleet.json` | the fleet thread's saved LSN |
//! | standby (on a primary) | after what it has copied, if it asked within `standby_wal_hold_s` (24 h) | `Replication` |
//!
//! A part with no snapshot yet holds everything (LSN 1). Above the floor the WAL also keeps at
//! least `[wal] keep_bytes`: the newest records stay for a standby that is copied afresh and for
//! a partition that has to be indexed again. That margin is given up when the disk runs short
//! ([`keep_for`]): on a disk smaller than it, ingest would otherwise stop at `min_free_bytes` with
//! a WAL that retention refuses to shrink.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::replication::Replication;
use crate::wal::{Committer, WalStats};

/// `[wal] keep_bytes` by default: 4 GiB, about a day of a busy site's events here, and 64
/// segments of the default size.
pub const DEFAULT_KEEP_BYTES: u64 = 4 << 30;
/// How often the floor is looked at (cheap: a few atomics and a directory listing).
const EVERY: Duration = Duration::from_secs(10);

/// What each part has made safe: every value is the last LSN that part no longer needs to read
/// (0: it needs everything), except `checkpoint`, the LSN of the record it starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holds {
    pub checkpoint: u64,
    pub rules: u64,
    pub indexed: u64,
    pub fleet_saved: u64,
    pub standby: Option<u64>,
}

impl Holds {
    /// The lowest LSN still needed, and the part that needs it.
    pub fn floor(&self) -> (u64, &'static str) {
        let mut parts = vec![
            (self.checkpoint.max(1), "committer checkpoint"),
            (self.rules + 1, "rules snapshot"),
            (self.indexed + 1, "index"),
            (self.fleet_saved + 1, "fleet view"),
        ];
        if let Some(s) = self.standby {
            parts.push((s + 1, "standby"));
        }
        parts.into_iter().min().expect("four parts at least")
    }
}

/// The bytes to keep above the floor: `keep_bytes`, or nothing while the data directory's disk
/// has less than twice `[wal] min_free_bytes` free (ingest stops under `min_free_bytes`).
pub fn keep_for(keep_bytes: u64, free: Option<u64>, min_free_bytes: u64) -> u64 {
    match free {
        Some(free) if free < min_free_bytes.saturating_mul(2) => 0,
        _ => keep_bytes,
    }
}

/// Free bytes on the file system of `dir`, if it can be measured.
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    rustix::fs::statvfs(dir)
        .ok()
        .map(|st| st.f_bavail.saturating_mul(st.f_frsize))
}

/// Where the task reads the holds from.
pub struct Sources {
    pub stats: Arc<WalStats>,
    pub indexed: watch::Receiver<u64>,
    pub fleet_saved: Arc<AtomicU64>,
    /// Only on a primary with a standby.
    pub replication: Option<Arc<Replication>>,
    /// The data directory and `[wal] min_free_bytes`, for [`keep_for`].
    pub data_dir: std::path::PathBuf,
    pub min_free_bytes: u64,
    /// False in cluster mode: the alert state is in JetStream (cluster::alert_state) and no
    /// rules snapshot is written to the local WAL, so the rules hold nothing back.
    pub rules_in_wal: bool,
}

impl Sources {
    pub fn holds(&self) -> Holds {
        Holds {
            checkpoint: self.stats.checkpoint_lsn.load(Relaxed),
            rules: match self.rules_in_wal {
                true => self.stats.rules_lsn.load(Relaxed),
                false => *self.indexed.borrow(),
            },
            indexed: *self.indexed.borrow(),
            fleet_saved: self.fleet_saved.load(Relaxed),
            standby: self.replication.as_ref().and_then(|r| r.standby_position()),
        }
    }
}

/// Trims the WAL every [`EVERY`] until `shutdown`; `keep_bytes` 0 never trims.
pub async fn run(
    committer: Committer,
    sources: Sources,
    keep_bytes: u64,
    shutdown: CancellationToken,
) {
    if keep_bytes == 0 {
        return;
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
        let holds = sources.holds();
        let (floor, by) = holds.floor();
        *sources
            .stats
            .held_by
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(by);
        if floor <= sources.stats.first_lsn.load(Relaxed) {
            continue;
        }
        let keep = keep_for(
            keep_bytes,
            free_bytes(&sources.data_dir),
            sources.min_free_bytes,
        );
        match committer.trim(floor, keep).await {
            Ok(t) if t.segments > 0 => tracing::info!(
                segments = t.segments,
                bytes = t.bytes,
                first_lsn = t.first_lsn,
                floor,
                held_by = by,
                keep_bytes = keep,
                "WAL trimmed"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL trim failed; retrying later"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_the_lowest_hold_and_a_part_without_a_snapshot_holds_everything() {
        let h = Holds {
            checkpoint: 500,
            rules: 480,
            indexed: 900,
            fleet_saved: 899,
            standby: None,
        };
        assert_eq!(h.floor(), (481, "rules snapshot"));
        assert_eq!(
            Holds {
                standby: Some(100),
                ..h
            }
            .floor(),
            (101, "standby")
        );
        assert_eq!(
            Holds { checkpoint: 0, ..h }.floor(),
            (1, "committer checkpoint")
        );
        assert_eq!(Holds { rules: 0, ..h }.floor(), (1, "rules snapshot"));
        assert_eq!(Holds { indexed: 10, ..h }.floor(), (11, "index"));
    }

    #[test]
    fn in_cluster_mode_the_rules_hold_nothing_back() {
        let stats = Arc::new(WalStats::default());
        stats.checkpoint_lsn.store(700, Relaxed);
        let (_tx, indexed) = watch::channel(900);
        let fleet_saved = Arc::new(AtomicU64::new(899));
        let sources = |rules_in_wal| Sources {
            stats: stats.clone(),
            indexed: indexed.clone(),
            fleet_saved: fleet_saved.clone(),
            replication: None,
            data_dir: std::path::PathBuf::new(),
            min_free_bytes: 0,
            rules_in_wal,
        };
        // No rules snapshot in the WAL: a single collector's engine holds everything...
        assert_eq!(sources(true).holds().floor(), (1, "rules snapshot"));
        // ... a cluster's, whose state is in JetStream, nothing.
        assert_eq!(
            sources(false).holds().floor(),
            (700, "committer checkpoint")
        );
    }

    #[test]
    fn the_kept_margin_goes_when_the_disk_runs_short() {
        let gib = 1 << 30;
        assert_eq!(keep_for(4 * gib, Some(100 * gib), gib / 2), 4 * gib);
        assert_eq!(keep_for(4 * gib, Some(gib + 1), gib / 2), 4 * gib);
        assert_eq!(
            keep_for(4 * gib, Some(gib - 1), gib / 2),
            0,
            "under twice min_free"
        );
        assert_eq!(
            keep_for(4 * gib, None, gib / 2),
            4 * gib,
            "not measurable: as set"
        );
        assert_eq!(
            keep_for(4 * gib, Some(0), 0),
            4 * gib,
            "min_free_bytes 0: never short"
        );
    }
}

//! Room on disk and in the index's backlog: checked before a batch is committed (429 past a
//! limit; the sender keeps its data and tries again).

/// Limits on the space the collector may fill: past them ingest answers 429 and agents keep
/// their data until there is room again, instead of the collector failing a write.
#[derive(Debug, Clone, Default)]
pub struct SpaceLimits {
    /// Most bytes the WAL may hold (0: no limit).
    pub max_wal_bytes: u64,
    /// Least free space left on the data directory's file system.
    pub min_free_bytes: u64,
    /// Most bytes of events durable but not yet indexed (0: no limit; `wal/backlog.rs`).
    pub max_index_backlog_bytes: u64,
}

impl SpaceLimits {
    /// `Err` with the reason when a new batch must wait.
    pub fn check(
        &self,
        wal: &crate::wal::WalStats,
        data_dir: &std::path::Path,
    ) -> Result<(), String> {
        let wal_bytes = wal.bytes.load(std::sync::atomic::Ordering::Relaxed);
        if self.max_wal_bytes > 0 && wal_bytes >= self.max_wal_bytes {
            return Err(format!(
                "the WAL holds {wal_bytes} bytes, at its limit of {} ([wal] max_bytes); retry later",
                self.max_wal_bytes
            ));
        }
        let backlog = wal.backlog.bytes();
        if self.max_index_backlog_bytes > 0 && backlog >= self.max_index_backlog_bytes {
            return Err(format!(
                "the index trails the WAL by {backlog} bytes of events, at its limit of {} ([index] max_backlog_mb); retry later",
                self.max_index_backlog_bytes
            ));
        }
        if self.min_free_bytes > 0 {
            match rustix::fs::statvfs(data_dir) {
                Ok(st) => {
                    let free = st.f_bavail.saturating_mul(st.f_frsize);
                    if free < self.min_free_bytes {
                        return Err(format!(
                            "the disk of {} has {free} bytes free, under the {} kept free ([wal] min_free_bytes); retry later",
                            data_dir.display(),
                            self.min_free_bytes
                        ));
                    }
                }
                Err(e) => {
                    tracing::warn!(dir = %data_dir.display(), error = %e, "cannot measure free space")
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_events_wait_while_the_index_trails_by_its_limit_and_go_on_once_it_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        let limits = SpaceLimits {
            max_wal_bytes: 0,
            min_free_bytes: 0,
            max_index_backlog_bytes: 1000,
        };
        let wal = crate::wal::WalStats::default();
        wal.backlog.written(1, 999);
        assert!(limits.check(&wal, dir.path()).is_ok());
        wal.backlog.written(2, 1);
        let why = limits.check(&wal, dir.path()).unwrap_err();
        assert!(why.contains("[index] max_backlog_mb"), "{why}");
        assert!(why.contains("1000 bytes"), "{why}");
        wal.backlog.indexed_through(1);
        assert!(limits.check(&wal, dir.path()).is_ok());
        let unbounded = SpaceLimits {
            max_index_backlog_bytes: 0,
            ..limits
        };
        wal.backlog.written(3, 1 << 40);
        assert!(unbounded.check(&wal, dir.path()).is_ok());
    }
}

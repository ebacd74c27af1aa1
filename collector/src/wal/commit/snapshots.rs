//! The snapshot records a group wrote (`Checkpoint`, `RulesSnapshot`), published in
//! [`WalStats`] once the group is durable: retention then lets the records before them go.

use std::sync::atomic::Ordering::Relaxed;

use crate::wal::RecordKind;
use crate::wal::stats::WalStats;

/// Snapshot records written in a group, made known (in [`WalStats`]) once the group is durable.
#[derive(Default)]
pub(super) struct Snapshots {
    pub(super) checkpoint: Option<u64>,
    pub(super) rules: Option<u64>,
}

impl Snapshots {
    /// Notes record `rec_lsn` of `kind` written; for a `RulesSnapshot`, `reflects` says which
    /// LSN its state holds (handed over by the engine, or read by the server's reader).
    pub(super) fn saw(
        &mut self,
        rec_lsn: u64,
        kind: RecordKind,
        reflects: impl FnOnce() -> Option<u64>,
    ) {
        match kind {
            RecordKind::Checkpoint => self.checkpoint = Some(rec_lsn),
            RecordKind::RulesSnapshot => {
                if let Some(lsn) = reflects() {
                    self.rules = Some(lsn);
                }
            }
            _ => {}
        }
    }

    pub(super) fn publish(&self, stats: &WalStats) {
        if let Some(lsn) = self.checkpoint {
            stats.checkpoint_lsn.store(lsn, Relaxed);
        }
        if let Some(lsn) = self.rules {
            stats.rules_lsn.store(lsn, Relaxed);
        }
    }
}

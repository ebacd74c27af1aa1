//! Taking back what a group wrote when the log fails before the group is written whole.

use std::sync::Arc;

use logwarden_core::Event;

use super::error::CommitError;
use crate::wal::WalError;
use crate::wal::dedup::DedupSet;
use crate::wal::epoch::EpochHistory;

/// Whether a WAL error is the log's (the disk), not the request's (a record too large).
pub(super) fn is_io(e: &WalError) -> bool {
    !matches!(e, WalError::TooLarge(_))
}

/// What a group wrote, to take back if the log fails before it is written whole: a full disk
/// fails the write, the log forgets the records it held ([`Wal::next_lsn`] goes back), and the
/// committer forgets them too, so that a resend of their events is taken again and not called
/// a duplicate of something the log does not hold.
#[derive(Default)]
pub(super) struct Undo {
    /// Why the log failed in this group (the rest of the group is not written).
    pub(super) failed: Option<CommitError>,
    /// Event records: the LSN and the events added.
    pub(super) events: Vec<(u64, Arc<Vec<Event>>)>,
    /// The LSNs of other records.
    pub(super) records: Vec<u64>,
}

impl Undo {
    pub(super) fn log_failed(&mut self, e: &CommitError) {
        if let CommitError::Wal(w) = e
            && is_io(w)
            && self.failed.is_none()
        {
            self.failed = Some(e.clone());
        }
    }

    /// Forgets the identities of the records from `lsn` on (the log no longer holds them) and
    /// the epochs they started.
    pub(super) fn forget(&self, lsn: u64, dedup: &mut DedupSet, epochs: &EpochHistory) {
        for (_, events) in self.events.iter().filter(|(l, _)| *l >= lsn) {
            for e in events.iter() {
                dedup.remove(&e.id);
            }
        }
        if self.records.iter().any(|l| *l >= lsn) {
            let mut history = epochs.write().unwrap_or_else(|p| p.into_inner());
            history.retain(|(_, l)| *l < lsn);
        }
    }
}

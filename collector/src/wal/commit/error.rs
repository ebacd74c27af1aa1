//! Why the committer did not make a request durable.

use std::sync::Arc;

use crate::wal::WalError;

/// Why a request to the committer failed: nothing of it is durable, and the caller may send it
/// again. The messages are the ones callers (and agents, in a 503's log line) always saw.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// The committer thread has stopped (the collector is stopping, or the thread panicked).
    #[error("the WAL committer has stopped")]
    Stopped,
    /// The syncer thread has stopped (it panicked): nothing more can be made durable.
    #[error("the WAL syncer has stopped")]
    SyncerStopped,
    /// The log refused the write (a record too large) or failed it (a full disk, a failed
    /// fsync, a poisoned log). Shared: one failure answers every request of its group.
    #[error(transparent)]
    Wal(Arc<WalError>),
}

impl From<WalError> for CommitError {
    fn from(e: WalError) -> CommitError {
        CommitError::Wal(Arc::new(e))
    }
}

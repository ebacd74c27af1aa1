//! Figures about the WAL, kept up to date by the committer (and the indexer, for the backlog)
//! for status, metrics, ingest's room checks and retention.

use super::backlog::Backlog;

/// Figures about the WAL that the committer keeps up to date for status and metrics.
#[derive(Debug, Default)]
pub struct WalStats {
    pub segments: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
    /// Event bytes written and not yet indexed (the indexer reports its progress here).
    pub backlog: Backlog,
    /// The LSN of the newest durable `Checkpoint` record (0: none yet): the committer's start
    /// needs nothing before it.
    pub checkpoint_lsn: std::sync::atomic::AtomicU64,
    /// The LSN the newest durable `RulesSnapshot` reflects (0: none yet): the rules engine's
    /// start needs nothing up to it.
    pub rules_lsn: std::sync::atomic::AtomicU64,
    /// The first LSN the log still holds (older segments were trimmed).
    pub first_lsn: std::sync::atomic::AtomicU64,
    /// The part whose hold is the lowest, as retention last saw it (`retention.rs`).
    pub held_by: std::sync::Mutex<Option<&'static str>>,
    /// Events moved to their arrival time for claiming one beyond `[index] max_future`
    /// (`future.rs`).
    pub future_clamped: std::sync::atomic::AtomicU64,
}

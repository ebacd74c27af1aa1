//! How the committer is set up by the server ([`CommitterOptions`]).

/// How the committer treats what it is sent, beyond what it always does.
#[derive(Clone, Copy)]
pub struct CommitterOptions {
    /// Events that claim a time more than this after their arrival are moved to it
    /// (`future.rs`; `None`: kept as they are).
    pub max_future: Option<chrono::Duration>,
    /// Reads the LSN a `RulesSnapshot` payload reflects, for the snapshots the engine did not
    /// hand over itself ([`Committer::commit_rules_snapshot`]): the newest one in the log at
    /// start, and those a standby copies from its primary. The format is the rules engine's; the
    /// server passes its reader (`rules::snapshot::Snapshot::payload_lsn`). By default none is
    /// read, and the rules engine holds the whole log until it writes a snapshot of its own.
    pub rules_snapshot_lsn: fn(&[u8]) -> Option<u64>,
}

impl Default for CommitterOptions {
    fn default() -> CommitterOptions {
        CommitterOptions {
            max_future: None,
            rules_snapshot_lsn: |_| None,
        }
    }
}

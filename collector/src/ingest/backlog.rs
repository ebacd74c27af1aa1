//! How far the index trails the WAL: the bytes of event records made durable since the
//! collector started that the indexer has not yet committed.
//!
//! Intake and indexing are decoupled on purpose. An acknowledgement (and a syslog message's
//! durability) waits only for the WAL's fsync, and the indexer runs at a lower CPU priority
//! (`index/mod.rs`), so that a burst (a log storm, a switch dumping its buffer, an agent back
//! after an outage) goes to disk at intake speed instead of waiting for tantivy; the index
//! catches up afterwards. This is the bound on that: past `[index] max_backlog_mb`, ingest
//! answers 429 and the syslog intake stops reading (TCP senders wait) until the indexer is back
//! under it, so under a load above indexing speed the lag stays bounded instead of growing with
//! the WAL.
//!
//! The committer marks each event record it writes with the running total of such bytes; the
//! indexer, after each commit, says through which LSN it is complete. Records from before this
//! start (a replay after a restart) carry no mark and are not counted: the backlog a collector
//! starts with is the indexer's to work off, not a reason to refuse new events.

use std::collections::VecDeque;
use std::sync::Mutex;

/// See the module doc.
#[derive(Debug, Default)]
pub struct Backlog {
    marks: Mutex<Marks>,
}

#[derive(Debug, Default)]
struct Marks {
    /// Payload bytes of the event records written since start.
    written: u64,
    /// Of those, the bytes of records the index has committed.
    indexed: u64,
    /// `(lsn, written after that record)` of records not yet indexed, in LSN order.
    pending: VecDeque<(u64, u64)>,
}

impl Backlog {
    /// The committer wrote event record `lsn` of `bytes` payload bytes.
    pub fn written(&self, lsn: u64, bytes: usize) {
        let mut m = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        m.written += bytes as u64;
        let written = m.written;
        m.pending.push_back((lsn, written));
    }

    /// The index is committed through WAL record `lsn`.
    pub fn indexed_through(&self, lsn: u64) {
        let mut m = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(&(l, written)) = m.pending.front() {
            if l > lsn {
                break;
            }
            m.indexed = written;
            m.pending.pop_front();
        }
    }

    /// Bytes written and not yet indexed.
    pub fn bytes(&self) -> u64 {
        let m = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        m.written - m.indexed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_is_what_was_written_past_the_last_indexed_record() {
        let b = Backlog::default();
        b.indexed_through(7); // a replay of records from before the start: nothing counted
        assert_eq!(b.bytes(), 0);
        b.written(8, 100);
        b.written(9, 50);
        b.written(11, 25); // 10 was alert state: not an event record
        assert_eq!(b.bytes(), 175);
        b.indexed_through(8);
        assert_eq!(b.bytes(), 75);
        b.indexed_through(10);
        assert_eq!(b.bytes(), 25);
        b.indexed_through(11);
        assert_eq!(b.bytes(), 0);
        b.written(12, 10);
        assert_eq!(b.bytes(), 10);
    }
}

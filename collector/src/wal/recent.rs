//! The events of the newest WAL records, kept as the committer had them parsed.
//!
//! Three parts of the collector follow the WAL: the indexer, the fleet view and the rules
//! engine. Each used to parse every event's JSON again, right after ingest had parsed it and
//! the committer had written it: under log load those parses were a third of the collector's
//! own (non-tantivy) CPU. The committer now also leaves the events of each record it writes
//! here, by LSN, and a follower takes them from here instead of parsing them.
//!
//! The WAL stays the source of truth and the order: a follower still reads every record's
//! header from the log, in order, and takes the events from here only for the record the
//! committer wrote them for (same LSN, kind and payload length). The indexer still reads the
//! payload, the JSON it stores as `_source`; the alert engine and the fleet view, which need
//! only the events, skip it (`WalReader::next_unless_known`). What is not held (a follower that
//! fell behind by more than [`Recent::new`]'s budget, a replay after a restart, records a standby
//! copies from its primary) is parsed from the log as before, so nothing depends on this cache
//! being complete.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use logwarden_core::Event;

use crate::wal::{Head, Record, RecordKind};

/// How much of the newest WAL records is kept parsed, counted in WAL payload bytes (the parsed
/// events take about as much again). Followers are usually within a record or two of the head.
pub const DEFAULT_BUDGET: usize = 16 << 20;

/// See the module doc.
#[derive(Debug)]
pub struct Recent {
    budget: usize,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    /// `(lsn, events, payload bytes)`, in LSN order.
    records: VecDeque<(u64, Arc<Vec<Event>>, usize)>,
    bytes: usize,
}

impl Recent {
    /// Keeps records while their payloads add up to at most `budget` bytes (and always the
    /// newest one).
    pub fn new(budget: usize) -> Recent {
        Recent {
            budget,
            held: Mutex::new(Held::default()),
        }
    }

    /// The events of record `lsn` (a payload of `payload_bytes`), one per line of its payload
    /// and in the same order. Returns the records let go to stay within the budget, for the
    /// caller to free when it suits it: freeing a record's 2,000 events is about as costly as
    /// writing the record, and the committer frees them once the group is handed on.
    #[must_use = "the records let go are freed where they are dropped"]
    pub fn put(
        &self,
        lsn: u64,
        events: Arc<Vec<Event>>,
        payload_bytes: usize,
    ) -> Vec<Arc<Vec<Event>>> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.records.back().is_some_and(|(last, ..)| *last >= lsn) {
            // Not newer than what is held: a failed write gave its LSNs back to the log
            // (`wal/mod.rs`), and what was held for them is not what they hold now.
            held.records.clear();
            held.bytes = 0;
        }
        held.records.push_back((lsn, events, payload_bytes));
        held.bytes += payload_bytes;
        let mut out = Vec::new();
        while held.bytes > self.budget && held.records.len() > 1 {
            if let Some((_, events, b)) = held.records.pop_front() {
                held.bytes -= b;
                out.push(events);
            }
        }
        // Freed after the lock is let go (by the caller), so the followers' lookups need not
        // wait for it.
        out
    }

    /// The events of WAL record `rec`, one per line of its payload and in the same order, if
    /// they are still held; `None` (parse the lines) otherwise, or for a record of another kind.
    pub fn events_of(&self, rec: &Record) -> Option<Arc<Vec<Event>>> {
        self.events_for(&rec.head())
    }

    /// The same, from a record's header alone (so that a follower need not read the payload):
    /// the events are handed out only for the record the committer wrote them for, the one
    /// with this LSN, kind and payload length.
    pub fn events_for(&self, head: &Head) -> Option<Arc<Vec<Event>>> {
        if head.kind != RecordKind::Events {
            return None;
        }
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let i = held
            .records
            .binary_search_by_key(&head.lsn, |(l, ..)| *l)
            .ok()?;
        let (_, events, len) = &held.records[i];
        (*len == head.len).then(|| events.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use logwarden_core::EventId;

    /// The events held for an `Events` record `lsn` of any payload length.
    fn get(r: &Recent, lsn: u64) -> Option<Arc<Vec<Event>>> {
        let held = r.held.lock().unwrap();
        let len = held.records.iter().find(|(l, ..)| *l == lsn)?.2;
        drop(held);
        r.events_for(&Head {
            lsn,
            kind: RecordKind::Events,
            len,
        })
    }

    fn events(n: u64) -> Arc<Vec<Event>> {
        Arc::new(
            (0..n)
                .map(|i| Event::log(EventId::new("a", i), Utc::now(), "h", "s", "/x", "m".into()))
                .collect(),
        )
    }

    #[test]
    fn the_newest_records_are_held_within_the_budget_and_older_ones_fall_out() {
        let r = Recent::new(100);
        assert!(r.put(1, events(1), 60).is_empty());
        assert!(r.put(2, events(2), 30).is_empty());
        assert_eq!(get(&r, 1).map(|e| e.len()), Some(1));
        // 120 > 100: record 1 goes, handed back to be freed.
        let gone = r.put(3, events(3), 30);
        assert_eq!(gone.iter().map(|e| e.len()).collect::<Vec<_>>(), [1]);
        assert!(get(&r, 1).is_none());
        assert_eq!(get(&r, 2).map(|e| e.len()), Some(2));
        assert_eq!(get(&r, 3).map(|e| e.len()), Some(3));
        assert!(get(&r, 4).is_none());
        let _ = r.put(4, events(1), 500); // over the budget alone: still held, as the only one
        assert!(get(&r, 3).is_none());
        assert!(get(&r, 4).is_some());
        let _ = r.put(2, events(2), 10); // a rewound log empties the cache
        assert!(get(&r, 4).is_none());
        assert!(get(&r, 2).is_some());
    }

    #[test]
    fn events_are_only_used_for_the_record_they_were_written_as() {
        let r = Recent::new(100);
        let _ = r.put(1, events(2), 6);
        let _ = r.put(2, events(3), 9);
        let rec = |lsn, kind| Record {
            lsn,
            kind,
            payload: b"{}\n{}\n".to_vec(),
        };
        assert!(r.events_of(&rec(1, RecordKind::Events)).is_some());
        // Another payload length at a held LSN: not the record these events were written as.
        assert!(r.events_of(&rec(2, RecordKind::Events)).is_none());
        assert!(r.events_of(&rec(3, RecordKind::Events)).is_none());
        assert!(r.events_of(&rec(1, RecordKind::AlertState)).is_none());
        let head = |lsn, len| Head {
            lsn,
            kind: RecordKind::Events,
            len,
        };
        assert_eq!(r.events_for(&head(2, 9)).map(|e| e.len()), Some(3));
        assert!(r.events_for(&head(2, 6)).is_none());
    }
}

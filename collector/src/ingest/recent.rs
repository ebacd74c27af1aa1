//! The events of the newest WAL records, kept as the committer had them parsed.
//!
//! Three parts of the collector follow the WAL: the indexer, the fleet view and the rules
//! engine. Each used to parse every event's JSON again, right after ingest had parsed it and
//! the committer had written it: under log load those parses were a third of the collector's
//! own (non-tantivy) CPU. The committer now also leaves the events of each record it writes
//! here, by LSN, and a follower takes them from here instead of parsing them.
//!
//! The WAL stays the source of truth and the order: a follower still reads every record from
//! the log (its LSN and kind, and the JSON the index stores as `_source`) and only skips the
//! parse when the record is still held. What is not held (a follower that fell behind by more
//! than [`Recent::new`]'s budget, a replay after a restart, records a standby copies from its
//! primary) is parsed from the log as before, so nothing depends on this cache being complete.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use logwarden_core::Event;

use crate::wal::{Record, RecordKind};

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
    records: VecDeque<(u64, Arc<[Event]>, usize)>,
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

    /// The events of record `lsn`, one per line of its payload and in the same order.
    pub fn put(&self, lsn: u64, events: Arc<[Event]>, payload_bytes: usize) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.records.back().is_some_and(|(last, ..)| *last >= lsn) {
            // Not newer than what is held: the log was rewound (a new round does not share
            // this cache, so this is only a guard).
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
        // Freed after the lock is let go: freeing a record's 2,000 events is about as costly
        // as writing the record, and the followers' lookups need not wait for it.
        drop(held);
        drop(out);
    }

    /// The events of WAL record `rec`, one per line of its payload and in the same order, if
    /// they are still held; `None` (parse the lines) otherwise, or for a record of another kind.
    pub fn events_of(&self, rec: &Record) -> Option<Arc<[Event]>> {
        if rec.kind != RecordKind::Events {
            return None;
        }
        let events = self.get(rec.lsn)?;
        // Only what the committer put matches line for line; anything else is parsed.
        let lines = crate::wal::event_lines(&rec.payload).count();
        (lines == events.len()).then_some(events)
    }

    fn get(&self, lsn: u64) -> Option<Arc<[Event]>> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let i = held.records.binary_search_by_key(&lsn, |(l, ..)| *l).ok()?;
        Some(held.records[i].1.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use logwarden_core::EventId;

    fn events(n: u64) -> Arc<[Event]> {
        (0..n)
            .map(|i| Event::log(EventId::new("a", i), Utc::now(), "h", "s", "/x", "m".into()))
            .collect()
    }

    #[test]
    fn the_newest_records_are_held_within_the_budget_and_older_ones_fall_out() {
        let r = Recent::new(100);
        r.put(1, events(1), 60);
        r.put(2, events(2), 30);
        assert_eq!(r.get(1).map(|e| e.len()), Some(1));
        r.put(3, events(3), 30); // 120 > 100: record 1 goes
        assert!(r.get(1).is_none());
        assert_eq!(r.get(2).map(|e| e.len()), Some(2));
        assert_eq!(r.get(3).map(|e| e.len()), Some(3));
        assert!(r.get(4).is_none());
        r.put(4, events(1), 500); // over the budget alone: still held, as the only one
        assert!(r.get(3).is_none());
        assert!(r.get(4).is_some());
        r.put(2, events(2), 10); // a rewound log empties the cache
        assert!(r.get(4).is_none());
        assert!(r.get(2).is_some());
    }

    #[test]
    fn events_are_only_used_when_they_match_the_lines_of_the_record() {
        let r = Recent::new(100);
        r.put(1, events(2), 6);
        r.put(2, events(3), 6);
        let rec = |lsn, kind| Record {
            lsn,
            kind,
            payload: b"{}\n{}\n".to_vec(),
        };
        assert!(r.events_of(&rec(1, RecordKind::Events)).is_some());
        assert!(r.events_of(&rec(2, RecordKind::Events)).is_none());
        assert!(r.events_of(&rec(3, RecordKind::Events)).is_none());
        assert!(r.events_of(&rec(1, RecordKind::AlertState)).is_none());
    }
}

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
//!
//! Within the bound, a syslog burst goes first: while a listener finds its senders ahead of it
//! (a TCP read fills its whole buffer, a UDP batch fills up), the indexer pauses until the
//! backlog reaches half the bound ([`Backlog::indexing_yields`]). Even at nice 10 the indexer
//! took a quarter of the CPU of a burst that the intake could not keep up with on two vCPUs;
//! pausing it cut that burst's CPU by 14-17 %, made it durable a little sooner (ahead in 14 of
//! 24 rounds) and searchable 1-7 % later (docs/BENCHMARKS.md, session 11). Intake below the
//! indexer's speed never fills a read, so indexing then keeps its 1 s.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// How long after a listener last found its senders ahead of it the indexer still yields.
const PRESSED_FOR: Duration = Duration::from_millis(50);

/// See the module doc.
#[derive(Debug)]
pub struct Backlog {
    marks: Mutex<Marks>,
    /// The clock of `pressed_at`.
    start: Instant,
    /// When a syslog listener last found its senders ahead of it, in milliseconds since `start`
    /// plus one (0: never).
    pressed_at: AtomicU64,
    /// Milliseconds the indexer has yielded so far (`logwarden_index_yielded_seconds_total`).
    yielded_ms: AtomicU64,
}

impl Default for Backlog {
    fn default() -> Backlog {
        Backlog {
            marks: Mutex::default(),
            start: Instant::now(),
            pressed_at: AtomicU64::new(0),
            yielded_ms: AtomicU64::new(0),
        }
    }
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

    /// A syslog listener found more waiting than one read takes: its senders are ahead of the
    /// intake.
    pub fn intake_pressed(&self) {
        self.pressed_at.store(self.now_ms(), Relaxed);
    }

    /// Whether the indexer should leave the CPU to the intake for now: a listener was pressed
    /// within the last [`PRESSED_FOR`], and the backlog is below `below` bytes (0: never).
    pub fn indexing_yields(&self, below: u64) -> bool {
        let at = self.pressed_at.load(Relaxed);
        at != 0 && self.now_ms() <= at + PRESSED_FOR.as_millis() as u64 && self.bytes() < below
    }

    /// The indexer yielded for `d`.
    pub fn yielded(&self, d: Duration) {
        self.yielded_ms.fetch_add(d.as_millis() as u64, Relaxed);
    }

    /// Seconds the indexer has yielded since the start.
    pub fn yielded_seconds(&self) -> f64 {
        self.yielded_ms.load(Relaxed) as f64 / 1000.0
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + 1
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

    #[test]
    fn indexing_yields_to_a_pressed_intake_for_a_moment_and_below_the_bound_only() {
        let b = Backlog::default();
        b.written(1, 100);
        assert!(!b.indexing_yields(1000), "never pressed");
        b.intake_pressed();
        assert!(b.indexing_yields(1000));
        assert!(!b.indexing_yields(100), "the backlog has reached the bound");
        assert!(!b.indexing_yields(0), "no bound: never");
        std::thread::sleep(PRESSED_FOR + Duration::from_millis(20));
        assert!(!b.indexing_yields(1000), "the pressure is over");
        b.intake_pressed();
        assert!(b.indexing_yields(1000), "pressed again");
    }
}

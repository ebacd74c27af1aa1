//! The search index: tantivy indexes fed from the WAL, one partition per UTC day of the events'
//! own time (`partition.rs`), kept together by the catalog (`catalog.rs`), pruned by retention
//! (`retention.rs`), and rebuilt from their own stored events after a schema change once the WAL
//! no longer holds their days (`reindex.rs`).
//!
//! The indexer thread follows the WAL up to its durable LSN, adds each event to its day's
//! partition and commits at most every [`COMMIT_EVERY`] while there is something new, so that an
//! acknowledged event is searchable well within a second. While it is behind, it commits every
//! [`IndexSettings::commit_behind`] instead, and between hand-overs waits for tantivy's queue
//! (`queued.rs`). Each partition's commit carries the LSN it is complete through; `catalog.rs`
//! explains how a restart replays exactly what each partition lacks.
//!
//! Priority: the indexer thread, and with it tantivy's threads (they are started from it and
//! inherit its nice value), runs at a lower CPU priority ([`IndexSettings::nice`]) than intake,
//! so that under a burst the CPU goes first to making events durable; the index catches up when
//! intake slows, and `wal/backlog.rs` bounds how far it may trail.
//!
//! Memory: only a few partitions have a tantivy writer open at once (most events go to today's
//! partition); each writer has a fixed heap, so indexing memory is bounded by
//! [`IndexSettings::memory_bytes`] whatever the load or the spread of the events' days. A writer
//! for another day closes the least recently used one (after committing it), and a writer idle
//! for [`IDLE_CLOSE`] is closed. Merges run inside each writer (tantivy's log merge policy,
//! [`MERGE_FAN_IN`] segments at a time) and stream segments, so they add little beyond the
//! writers' heaps.

pub mod catalog;
mod error;
mod fields_value;
pub mod order_columns;
pub mod partition;
mod queued;
mod reindex;
pub mod retention;
pub mod schema;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use tantivy::IndexWriter;
use tantivy::indexer::UserOperation;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::wal::{Recent, Record, RecordKind, WalReader, WalStats};
pub use catalog::Catalog;
pub use error::IndexError;
pub use partition::{Partition, Unusable};
use queued::{Queued, QueuedDoc};
pub use retention::Retention;
pub use schema::Fields;

/// The longest an indexed event waits for its commit (searchable within 1 s of the ack).
pub const COMMIT_EVERY: Duration = Duration::from_millis(250);
/// Documents handed to tantivy and not yet taken by its indexing thread, at most
/// (`queued.rs`): when the indexer is behind, this bounds tantivy's queue (a document with its
/// `_source` takes about 1 KiB). tantivy's thread takes them far slower than the indexer thread
/// makes them, so a short queue keeps it as busy as a long one.
const MAX_QUEUED: usize = 20_000;
/// How often the indexer commits while it is behind, by default (`[index] commit_behind_ms`).
/// Every commit makes a segment that is merged again later, and larger segments take more memory
/// to write and merge: at 10M events, 1 s took 93 s of CPU and 340 MiB of anonymous memory at
/// the peak, 400 ms 100 s and 266 MiB (docs/BENCHMARKS.md). During a burst, search trails the
/// WAL by up to this much more.
pub const DEFAULT_COMMIT_BEHIND: Duration = Duration::from_secs(1);
/// A partition writer that received nothing for this long is closed (its memory freed).
pub const IDLE_CLOSE: Duration = Duration::from_secs(30);
/// How often retention looks at the partitions: how long the index may stay over
/// `[index] max_bytes` before its oldest days go. A look costs a `stat` of each partition file
/// (a few dozen per day), so it can be frequent; once a minute let a burst overshoot the limit
/// by a minute of ingest.
const RETENTION_EVERY: Duration = Duration::from_secs(10);
/// Heap of one partition writer; tantivy needs at least 15 MB per writer thread. A writer
/// flushes a segment each time its heap fills, and the merges that follow rewrite those
/// segments: at 16 MiB a day's partition was flushed every ~50,000 events and about a third of
/// the indexing CPU went to merging; 64 MiB cuts that. The default memory (256 MiB) still lets
/// four days be written at once (a backlog, a late agent) without reopening writers.
const WRITER_HEAP: usize = 64 << 20;
const MIN_WRITER_HEAP: usize = 15_000_000;
/// Segments of about the same size that tantivy merges into one (its default is 8). Each merge
/// rewrites every document it holds, so with a day partition growing by small commits a
/// document is rewritten about log_F(day / commit) times: at 10M events, merging took a quarter
/// of the collector's CPU at 8, and about half of that at 16. Searches then see up to twice as
/// many segments per partition, which a selective term query does not notice (docs/BENCHMARKS.md).
const MERGE_FAN_IN: usize = 16;
/// How long the indexer sleeps before it looks again whether to yield to the syslog intake.
const YIELD_NAP: Duration = Duration::from_millis(5);
/// Low enough that intake wins the CPU during a burst, not so low that indexing stalls when the
/// machine is merely busy (at nice 10 a thread gets about a tenth of a contended core).
pub const DEFAULT_NICE: i32 = 10;

/// `[index]` of the configuration.
#[derive(Debug, Clone)]
pub struct IndexSettings {
    pub retention: Retention,
    /// The heap of all open partition writers together.
    pub memory_bytes: usize,
    /// The nice value the indexing threads add to the collector's (0: the same priority).
    pub nice: i32,
    /// How often to commit while behind (see [`DEFAULT_COMMIT_BEHIND`]).
    pub commit_behind: Duration,
    /// While a syslog burst outruns the intake, indexing pauses until the backlog reaches this
    /// many bytes (half of `[index] max_backlog_mb`; 0: never; `wal/backlog.rs`).
    pub yield_below: u64,
    /// Events dated further ahead of their arrival are moved to it (`wal/future.rs`).
    pub max_future: Option<chrono::Duration>,
}

impl Default for IndexSettings {
    fn default() -> IndexSettings {
        IndexSettings {
            retention: Retention::default(),
            memory_bytes: 4 * WRITER_HEAP,
            nice: DEFAULT_NICE,
            commit_behind: DEFAULT_COMMIT_BEHIND,
            yield_below: 0,
            max_future: chrono::Duration::try_seconds(
                crate::wal::future::DEFAULT_MAX_FUTURE_S as i64,
            ),
        }
    }
}

impl IndexSettings {
    /// How many writers may be open at once, and the heap of each.
    fn writers(&self) -> (usize, usize) {
        let n = (self.memory_bytes / WRITER_HEAP).max(1);
        (n, (self.memory_bytes / n).max(MIN_WRITER_HEAP))
    }
}

/// What the indexer tells status and metrics about retention (read without locking the thread).
#[derive(Debug, Default)]
pub struct IndexStats {
    /// Events not indexed because their day was already past retention.
    pub expired_events: std::sync::atomic::AtomicU64,
}

/// Starts the indexer thread. It reads the WAL in `wal_dir` after `start_lsn` (from
/// [`Catalog::open`]), up to the LSN that `durable` says is fsynced, publishes the LSN through
/// which everything is searchable on `indexed`, and stops (after a last commit) when `shutdown`
/// fires.
#[allow(clippy::too_many_arguments)]
pub fn start(
    catalog: Arc<Catalog>,
    start_lsn: u64,
    settings: IndexSettings,
    stats: Arc<IndexStats>,
    wal_dir: PathBuf,
    durable: watch::Receiver<u64>,
    indexed: watch::Sender<u64>,
    (recent, wal_stats): (Arc<Recent>, Arc<WalStats>),
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, IndexError> {
    let path = catalog.root().to_owned();
    let nice = settings.nice;
    let mut indexer = Indexer::new(
        catalog,
        start_lsn,
        settings,
        stats,
        wal_dir,
        indexed,
        Some(recent),
        wal_stats,
    );
    let rt = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("indexer".into())
        .spawn(move || {
            // Before any writer exists: tantivy's threads inherit this thread's nice value.
            lower_priority(nice);
            indexer.run(durable, shutdown, rt)
        })
        .map_err(|source| IndexError::Io { path, source })
}

/// Adds `nice` to the calling thread's nice value (Linux: the value is per thread).
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    let tid = rustix::thread::gettid();
    let now = rustix::process::getpriority_process(Some(tid)).unwrap_or(0);
    if let Err(e) = rustix::process::setpriority_process(Some(tid), (now + nice).min(19)) {
        tracing::warn!(error = %e, nice, "cannot lower the indexer's CPU priority; it indexes at the collector's");
    }
}

/// A partition with its writer open.
struct OpenWriter {
    partition: Arc<Partition>,
    writer: IndexWriter<QueuedDoc>,
    /// The partition holds (committed or not) all of its events of WAL records up to here.
    through: u64,
    /// Documents added since the last commit.
    dirty: bool,
    last_used: Instant,
}

impl OpenWriter {
    fn commit(&mut self) -> Result<(), IndexError> {
        let tantivy_err = |source| IndexError::Tantivy {
            path: self.partition.dir.clone(),
            source,
        };
        let payload = serde_json::to_string(&partition::CommitPayload {
            schema: schema::SCHEMA_VERSION,
            lsn: self.through,
        })
        .expect("payload serializes");
        let mut prepared = self.writer.prepare_commit().map_err(tantivy_err)?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(tantivy_err)?;
        // Committed: replay must skip these records in this partition, whatever fails next.
        self.partition.set_lsn(self.through);
        self.dirty = false;
        self.partition.reader.reload().map_err(tantivy_err)?;
        Ok(())
    }
}

struct Indexer {
    catalog: Arc<Catalog>,
    writers: BTreeMap<NaiveDate, OpenWriter>,
    max_writers: usize,
    heap: usize,
    retention: Retention,
    commit_behind: Duration,
    /// See [`IndexSettings::yield_below`].
    yield_below: u64,
    stats: Arc<IndexStats>,
    wal_dir: PathBuf,
    wal: WalReader,
    /// Every partition is complete and committed through this LSN (saved in the catalog).
    committed_lsn: u64,
    /// The last WAL record read to its end.
    pending_lsn: u64,
    /// Where searchers and status learn the committed LSN.
    indexed: watch::Sender<u64>,
    /// The committer's parsed events of the newest records (`wal/recent.rs`).
    recent: Option<Arc<Recent>>,
    /// Documents handed to tantivy and not yet taken by its indexing threads.
    queued: Queued,
    /// Where the indexer reports its progress for the backlog bound (`wal/backlog.rs`).
    wal_stats: Arc<WalStats>,
}

impl Indexer {
    #[allow(clippy::too_many_arguments)]
    fn new(
        catalog: Arc<Catalog>,
        start_lsn: u64,
        settings: IndexSettings,
        stats: Arc<IndexStats>,
        wal_dir: PathBuf,
        indexed: watch::Sender<u64>,
        recent: Option<Arc<Recent>>,
        wal_stats: Arc<WalStats>,
    ) -> Indexer {
        let (max_writers, heap) = settings.writers();
        Indexer {
            catalog,
            writers: BTreeMap::new(),
            max_writers,
            heap,
            retention: settings.retention,
            commit_behind: settings.commit_behind,
            yield_below: settings.yield_below,
            stats,
            wal: WalReader::new(wal_dir.clone(), start_lsn + 1),
            wal_dir,
            committed_lsn: start_lsn,
            pending_lsn: start_lsn,
            indexed,
            recent,
            queued: Queued::default(),
            wal_stats,
        }
    }

    fn run(
        &mut self,
        mut durable: watch::Receiver<u64>,
        shutdown: CancellationToken,
        rt: tokio::runtime::Handle,
    ) {
        let mut last_commit = Instant::now();
        let mut last_retention: Option<Instant> = None;
        loop {
            if last_retention.is_none_or(|t| t.elapsed() >= RETENTION_EVERY) {
                if let Err(e) = self.apply_retention() {
                    tracing::error!(error = %e, "index retention failed; trying again later");
                }
                last_retention = Some(Instant::now());
            }
            while self.wal_stats.backlog.indexing_yields(self.yield_below)
                && !shutdown.is_cancelled()
            {
                std::thread::sleep(YIELD_NAP);
                self.wal_stats.backlog.yielded(YIELD_NAP);
            }
            let upto = *durable.borrow_and_update();
            let more = match self.add_upto(upto) {
                Ok(more) => more,
                Err(e) => {
                    tracing::error!(error = %e, "indexer cannot read the WAL or write the index; retrying in 1 s");
                    self.rewind();
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            let stopping = shutdown.is_cancelled();
            // Behind (`more`), commits come less often: each one makes a segment to merge.
            let every = if more {
                self.commit_behind
            } else {
                COMMIT_EVERY
            };
            if self.pending_lsn > self.committed_lsn && (stopping || last_commit.elapsed() >= every)
            {
                if let Err(e) = self.commit() {
                    tracing::error!(error = %e, "index commit failed; indexing again from the last commit in 1 s");
                    // What tantivy held uncommitted may be lost with the failure (a segment
                    // that could not be written): the records after the last commit are read
                    // again, so the next commit holds every one of their documents.
                    self.rewind();
                    // Not at once: the loop would otherwise spin on a disk that is still full.
                    std::thread::sleep(Duration::from_secs(1));
                }
                last_commit = Instant::now();
            }
            if stopping {
                break;
            }
            self.close_idle();
            if more {
                // tantivy's queue is full: read on once it is half empty (or commit first).
                let commit_in = self.commit_behind.saturating_sub(last_commit.elapsed());
                self.queued.wait_until_at_most(MAX_QUEUED / 2, commit_in);
                continue;
            }
            let wait = if self.pending_lsn > self.committed_lsn {
                COMMIT_EVERY.saturating_sub(last_commit.elapsed())
            } else {
                Duration::from_secs(1)
            };
            crate::wal::wait_for_durable(&rt, &mut durable, &shutdown, wait);
        }
        tracing::info!(lsn = self.committed_lsn, "indexer stopped");
    }

    /// After a failure part-way through a record: forgets everything not committed and reads
    /// the WAL again from the last commit, so that no event is added twice or skipped.
    fn rewind(&mut self) {
        // Dropping a writer discards what it did not commit; partitions committed past
        // `committed_lsn` (a closed writer) skip those records by their own LSN, read again
        // from their last commit on disk (a commit whose error came after its `meta.json` was
        // written holds what it says).
        for (_, w) in std::mem::take(&mut self.writers) {
            let partition = w.partition.clone();
            drop(w);
            if let Some(lsn) = partition::committed_lsn(&partition.index) {
                partition.set_lsn(lsn);
            }
        }
        self.wal = WalReader::new(self.wal_dir.clone(), self.committed_lsn + 1);
        self.pending_lsn = self.committed_lsn;
    }

    /// Adds the WAL records up to `upto`, or fewer: stops once [`MAX_QUEUED`] documents wait
    /// in tantivy's queue, and then says so (`true`: there may be more to read).
    fn add_upto(&mut self, upto: u64) -> Result<bool, IndexerError> {
        while self.queued.len() < MAX_QUEUED {
            let Some(rec) = self.wal.next(upto)? else {
                return Ok(false);
            };
            if rec.kind == RecordKind::Events {
                self.add_record(&rec)?;
            }
            self.pending_lsn = rec.lsn;
            // Every open writer has now seen this record (those without events in it too).
            for w in self.writers.values_mut() {
                w.through = rec.lsn;
            }
        }
        Ok(true)
    }

    /// Adds the events of a WAL record to their days' partitions.
    fn add_record(&mut self, rec: &Record) -> Result<(), IndexError> {
        let lsn = rec.lsn;
        let mut by_day: BTreeMap<NaiveDate, Vec<(schema::Indexed, &str, u64)>> = BTreeMap::new();
        let parsed = self.recent.as_ref().and_then(|r| r.events_of(rec));
        let lines = crate::wal::event_lines(&rec.payload);
        for (i, line) in lines.enumerate() {
            let Ok(json) = std::str::from_utf8(line) else {
                tracing::error!(lsn, "WAL event is not UTF-8; not indexed");
                continue;
            };
            let event = match &parsed {
                Some(events) => Ok(schema::Indexed::from(&events[i])),
                None => schema::Indexed::parse(json),
            };
            match event {
                Ok(event) => by_day
                    .entry(partition::day_of(event.ts))
                    .or_default()
                    .push((event, json, i as u64)),
                Err(e) => {
                    tracing::error!(lsn, error = %e, "unreadable event in the WAL; not indexed")
                }
            }
        }
        let expired = self
            .retention
            .expired_through(Utc::now())
            .max(self.catalog.dropped_through());
        // Days whose writer is open first, so that opening another does not close one this
        // record still needs.
        let mut by_day: Vec<_> = by_day.into_iter().collect();
        by_day.sort_by_key(|(day, _)| !self.writers.contains_key(day));
        for (day, events) in by_day {
            if expired.is_some_and(|d| day <= d) {
                self.stats
                    .expired_events
                    .fetch_add(events.len() as u64, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            if self.catalog.get(day).is_some_and(|p| p.lsn() >= lsn) {
                continue; // replay: the partition committed this record before the restart
            }
            let queued = self.queued.clone();
            let w = self.writer(day, lsn)?;
            // One hand-over to tantivy's indexing thread per record and day, not one per event:
            // a channel send and a thread wake-up per event cost more than a short event's
            // indexing.
            let fields = &w.partition.fields;
            let docs = events
                .into_iter()
                .map(|(event, json, pos)| {
                    schema::document(fields, event, json, schema::WalPlace { lsn, pos })
                })
                .collect();
            let ops = queued.hand_over(docs).into_iter().map(UserOperation::Add);
            // A writer whose indexing thread failed (a segment it could not write) refuses
            // documents: the caller reads again from the last commit with a new writer.
            w.writer
                .run(ops)
                .map_err(IndexError::tantivy(&w.partition.dir))?;
            w.through = lsn;
            w.dirty = true;
            w.last_used = Instant::now();
        }
        Ok(())
    }

    /// The open writer of `day`'s partition; while reading record `lsn`, a writer opened now
    /// holds everything of its day through `lsn - 1` (it had no events since the last commit).
    fn writer(&mut self, day: NaiveDate, lsn: u64) -> Result<&mut OpenWriter, IndexError> {
        if !self.writers.contains_key(&day) {
            if self.writers.len() >= self.max_writers {
                let lru = self
                    .writers
                    .iter()
                    .min_by_key(|(_, w)| w.last_used)
                    .map(|(d, _)| *d)
                    .expect("at least one writer is open");
                self.close(lru)?;
            }
            let partition = self.catalog.get_or_create(day)?;
            let writer = partition
                .index
                .writer_with_num_threads(1, self.heap)
                .map_err(|source| IndexError::Tantivy {
                    path: partition.dir.clone(),
                    source,
                })?;
            let mut merges = tantivy::indexer::LogMergePolicy::default();
            merges.set_min_num_segments(MERGE_FAN_IN);
            writer.set_merge_policy(Box::new(merges));
            self.writers.insert(
                day,
                OpenWriter {
                    partition,
                    writer,
                    through: lsn - 1,
                    dirty: false,
                    last_used: Instant::now(),
                },
            );
        }
        Ok(self.writers.get_mut(&day).expect("inserted above"))
    }

    /// Commits (if needed) and closes the writer of `day`.
    fn close(&mut self, day: NaiveDate) -> Result<(), IndexError> {
        if let Some(w) = self.writers.get_mut(&day)
            && w.dirty
        {
            w.commit()?;
        }
        self.writers.remove(&day);
        Ok(())
    }

    fn close_idle(&mut self) {
        let idle: Vec<NaiveDate> = self
            .writers
            .iter()
            .filter(|(_, w)| !w.dirty && w.last_used.elapsed() >= IDLE_CLOSE)
            .map(|(d, _)| *d)
            .collect();
        for day in idle {
            self.writers.remove(&day);
        }
    }

    /// Commits every partition with new events, then records that all are complete through
    /// the last record read.
    fn commit(&mut self) -> Result<(), IndexError> {
        for w in self.writers.values_mut() {
            if w.dirty {
                w.commit()?;
            }
        }
        self.catalog.save_lsn(self.pending_lsn)?;
        self.committed_lsn = self.pending_lsn;
        self.indexed.send_replace(self.committed_lsn);
        self.wal_stats.backlog.indexed_through(self.committed_lsn);
        Ok(())
    }

    /// Drops the partitions past the maximum age, then the oldest ones while the index is over
    /// its size.
    fn apply_retention(&mut self) -> Result<(), IndexError> {
        let now = Utc::now();
        let mut through = self.retention.expired_through(now);
        let sizes: Vec<(NaiveDate, u64)> = self
            .catalog
            .all()
            .iter()
            .filter(|p| through.is_none_or(|t| p.day > t))
            .map(|p| (p.day, p.bytes()))
            .collect();
        through = through.max(
            self.retention
                .over_size_through(&sizes, partition::day_of(now)),
        );
        let Some(through) = through else {
            return Ok(());
        };
        if self.catalog.all().first().is_none_or(|p| p.day > through) {
            return Ok(());
        }
        let dropped: Vec<NaiveDate> = self.writers.range(..=through).map(|(d, _)| *d).collect();
        for day in dropped {
            // Uncommitted events of a day being dropped go with it.
            self.writers.remove(&day);
        }
        self.catalog.drop_through(through)?;
        Ok(())
    }
}

/// Why the indexer could not go on (it logs it and retries).
#[derive(Debug, thiserror::Error)]
enum IndexerError {
    #[error(transparent)]
    Wal(#[from] crate::wal::WalError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::{Wal, WalOptions};
    use logwarden_core::{Event, EventId};
    use std::path::Path;

    /// Record `r` (1-based) holds events `r*10 .. r*10+5`, spread over six days back from now.
    /// A WAL at `wal_dir` holding records 1 to 12 of [`record`], synced; the events of each
    /// day it holds.
    fn twelve_records(wal_dir: &Path) -> BTreeMap<NaiveDate, u64> {
        let (mut wal, _) = Wal::open(wal_dir, WalOptions::default()).unwrap();
        let mut want: BTreeMap<NaiveDate, u64> = BTreeMap::new();
        for r in 1..=12 {
            let (payload, placed) = record(r);
            wal.append(RecordKind::Events, &payload).unwrap();
            for (day, _) in placed {
                *want.entry(day).or_default() += 1;
            }
        }
        wal.sync().unwrap();
        want
    }

    fn record(r: u64) -> (Vec<u8>, Vec<(NaiveDate, u64)>) {
        let mut payload = Vec::new();
        let mut placed = Vec::new();
        for seq in r * 10..r * 10 + 6 {
            let ts = Utc::now() - chrono::Duration::days(((seq * 7) % 6) as i64);
            let e = Event::log(
                EventId::new("a", seq),
                ts,
                "h",
                "s",
                "/x",
                format!("m{seq}"),
            );
            serde_json::to_writer(&mut payload, &e).unwrap();
            payload.push(b'\n');
            placed.push((partition::day_of(ts), seq));
        }
        (payload, placed)
    }

    fn docs_by_day(catalog: &Catalog) -> BTreeMap<NaiveDate, u64> {
        catalog.all().iter().map(|p| (p.day, p.docs())).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backlog_many_times_tantivys_queue_is_indexed_whole_by_the_running_indexer() {
        let dir = tempfile::tempdir().unwrap();
        let wal_dir = dir.path().join("wal");
        let index_dir = dir.path().join("index");
        let (mut wal, _) = Wal::open(&wal_dir, WalOptions::default()).unwrap();
        // 48,000 events in records of 4,000: more than twice the queue's bound, so the indexer
        // waits for tantivy's queue and commits on its behind cadence on the way.
        let per_record = 4_000u64;
        for r in 0..12u64 {
            let mut payload = Vec::new();
            for i in 0..per_record {
                let seq = r * per_record + i;
                let e = Event::log(
                    EventId::new("a", seq),
                    Utc::now(),
                    "h",
                    "s",
                    "/x",
                    format!("m{seq} queued"),
                );
                serde_json::to_writer(&mut payload, &e).unwrap();
                payload.push(b'\n');
            }
            wal.append(RecordKind::Events, &payload).unwrap();
        }
        wal.sync().unwrap();
        let settings = IndexSettings {
            commit_behind: Duration::from_millis(250),
            ..IndexSettings::default()
        };
        let (catalog, start_lsn) = Catalog::open(&index_dir, Unusable::Delete).unwrap();
        let (_durable_tx, durable) = watch::channel(12);
        let (indexed_tx, mut indexed) = watch::channel(start_lsn);
        let shutdown = CancellationToken::new();
        let thread = start(
            catalog.clone(),
            start_lsn,
            settings,
            Arc::new(IndexStats::default()),
            wal_dir,
            durable,
            indexed_tx,
            (
                Arc::new(Recent::new(1 << 20)),
                Arc::new(WalStats::default()),
            ),
            shutdown.clone(),
        )
        .unwrap();
        tokio::time::timeout(Duration::from_secs(120), indexed.wait_for(|lsn| *lsn >= 12))
            .await
            .expect("indexed within 2 minutes")
            .unwrap();
        shutdown.cancel();
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
        let docs: u64 = catalog.all().iter().map(|p| p.docs()).sum();
        assert_eq!(docs, 12 * per_record);
    }

    #[test]
    fn a_crash_between_commits_with_writers_evicted_replays_each_event_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let wal_dir = dir.path().join("wal");
        let index_dir = dir.path().join("index");
        let want = twelve_records(&wal_dir);
        // One writer for six days: every record closes (and so commits) writers mid-way.
        let settings = IndexSettings {
            retention: Retention {
                max_age: None,
                max_bytes: 0,
            },
            memory_bytes: 15 << 20,
            nice: 0,
            commit_behind: DEFAULT_COMMIT_BEHIND,
            yield_below: 0,
            max_future: None,
        };
        let stats = Arc::new(IndexStats::default());
        let (catalog, start) = Catalog::open(&index_dir, Unusable::Delete).unwrap();
        let mut first = Indexer::new(
            catalog,
            start,
            settings.clone(),
            stats.clone(),
            wal_dir.clone(),
            watch::channel(0).0,
            None,
            Arc::new(WalStats::default()),
        );
        assert_eq!(first.max_writers, 1);
        first.add_upto(4).unwrap();
        first.commit().unwrap();
        first.add_upto(9).unwrap();
        // The crash: whatever was not committed is gone with the writers.
        drop(first);

        let (catalog, start) = Catalog::open(&index_dir, Unusable::Delete).unwrap();
        assert_eq!(start, 4, "replay starts after the last complete commit");
        let ahead = catalog.all().iter().filter(|p| p.lsn() > 4).count();
        assert!(
            ahead > 0,
            "some partitions committed past it when their writer was closed"
        );
        let mut second = Indexer::new(
            catalog.clone(),
            start,
            settings,
            stats,
            wal_dir,
            watch::channel(0).0,
            None,
            Arc::new(WalStats::default()),
        );
        second.add_upto(u64::MAX).unwrap();
        second.commit().unwrap();
        assert_eq!(docs_by_day(&catalog), want);
        assert_eq!(Catalog::open(&index_dir, Unusable::Delete).unwrap().1, 12);
    }

    #[test]
    fn a_crash_during_the_rebuild_of_an_emptied_partition_still_replays_its_whole_day() {
        let dir = tempfile::tempdir().unwrap();
        let wal_dir = dir.path().join("wal");
        let index_dir = dir.path().join("index");
        let want = twelve_records(&wal_dir);
        let settings = IndexSettings {
            retention: Retention {
                max_age: None,
                max_bytes: 0,
            },
            nice: 0,
            ..IndexSettings::default()
        };
        let indexer = |catalog: &Arc<Catalog>, start: u64| {
            Indexer::new(
                catalog.clone(),
                start,
                settings.clone(),
                Arc::new(IndexStats::default()),
                wal_dir.clone(),
                watch::channel(0).0,
                None,
                Arc::new(WalStats::default()),
            )
        };
        let (catalog, start) = Catalog::open(&index_dir, Unusable::Delete).unwrap();
        let mut first = indexer(&catalog, start);
        first.add_upto(3).unwrap();
        first.commit().unwrap();
        drop(first);
        let today = partition::day_of(Utc::now());
        assert!(
            catalog
                .get(today)
                .is_some_and(|p| p.lsn() == 3 && p.docs() > 0)
        );
        drop(catalog);

        // Today's commit becomes unreadable (as after a kill -9 during a commit).
        let meta = index_dir.join(partition::dir_name(today)).join("meta.json");
        let text = std::fs::read_to_string(&meta).unwrap();
        let damaged = text.replace(r#"\"lsn\""#, r#"\"lsm\""#);
        assert_ne!(text, damaged, "the payload is in meta.json: {text}");
        std::fs::write(&meta, damaged).unwrap();
        let (catalog, start) = Catalog::open(&index_dir, Unusable::Delete).unwrap();
        assert_eq!(
            start, 0,
            "an emptied partition is rebuilt by a replay of the whole WAL"
        );
        assert_eq!(catalog.get(today).unwrap().docs(), 0);
        // Killed again during that replay, before its first commit.
        let mut second = indexer(&catalog, start);
        second.add_upto(2).unwrap();
        drop(second);
        drop(catalog);

        let (catalog, start) = Catalog::open(&index_dir, Unusable::Delete).unwrap();
        assert_eq!(
            start, 0,
            "the rebuild did not commit: the next start must replay the whole WAL again"
        );
        let mut third = indexer(&catalog, start);
        third.add_upto(u64::MAX).unwrap();
        third.commit().unwrap();
        assert_eq!(
            docs_by_day(&catalog),
            want,
            "every WAL event indexed exactly once"
        );
        assert_eq!(Catalog::open(&index_dir, Unusable::Delete).unwrap().1, 12);
    }
}

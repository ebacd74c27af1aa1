//! The committer: the one thread that writes the WAL, with group commit and deduplication.
//!
//! Ingest handlers send it validated events; it drops the identities it already holds, appends
//! one WAL record per request, and writes every group of requests that arrived together with one
//! write. A second thread, the syncer, fsyncs what was written and only then answers the group's
//! requests, in order, while the committer goes on with the next group: the disk's time for one
//! group overlaps the CPU time of the next (with every fsync made a no-op, a syslog burst went
//! 17 % faster; docs/BENCHMARKS.md, session 11). Because deduplication and appending happen on
//! this one thread, in log order, two requests carrying the same event can never both add it;
//! and since groups are answered in order, each after an fsync that followed its write,
//! "duplicate" is only ever said of an event that is durable. A failed fsync fails its group and
//! every later one, and poisons the log.
//!
//! The alert engine writes its state (`RecordKind::AlertState`) through the same thread, so that
//! one log orders events and alert state alike; those records join the same groups and fsyncs
//! but are never deduplicated (the engine only writes what changed).
//!
//! On a standby the committer writes the primary's records instead, with the primary's LSNs
//! (`CommitRequest::Replicated`), and takes the identities of their events into the dedup set, so
//! that after a promotion a resend of anything the primary held is caught. It also keeps the
//! log's epoch history (the `Epoch` records), which replication needs to spot a diverged peer.
//!
//! Its state (dedup set, epoch history) goes into the log as a `Checkpoint` record every half
//! segment of its own records (`checkpoint.rs`); a start loads the newest one and reads only the
//! records after it. It is also the one that deletes old segments, when `retention.rs` asks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;

use chrono::Utc;
use logwarden_core::Event;
use tokio::sync::{mpsc, oneshot, watch};

use super::checkpoint;
use super::dedup::DedupSet;
use super::epoch::{EpochHistory, EpochRecord};
use super::recent::Recent;
use super::{Record, RecordKind, Trimmed, Wal, WalError, Written};

/// Most bytes of WAL records written per fsync, so that one group does not wait too long.
const GROUP_BYTES: usize = 16 << 20;
/// Groups written and waiting for the syncer, at most: past it the committer waits.
const GROUPS_UNSYNCED: usize = 4;

/// What the committer is asked to write.
pub enum CommitRequest {
    /// An ingest request once its lines are checked.
    Events {
        /// The valid events, in request order.
        events: Vec<Event>,
        /// Their JSON as the caller has it (see `write_received`).
        originals: Originals,
        /// Answered once the new events are durable (or the write failed).
        reply: oneshot::Sender<Result<Committed, String>>,
    },
    /// One record written as it is: alert state from the rules engine (its payload is the
    /// engine's business) or a new epoch. Never deduplicated.
    Record {
        kind: RecordKind,
        payload: Vec<u8>,
        /// Answered with the record's LSN once it is durable.
        reply: oneshot::Sender<Result<u64, String>>,
    },
    /// Records copied from the primary, in LSN order, kept with their LSNs (standby only).
    Replicated {
        records: Vec<Record>,
        /// Answered with the durable LSN once they are all durable.
        reply: oneshot::Sender<Result<u64, String>>,
    },
    /// Delete the oldest segments below `floor`, keeping `keep_bytes` (`retention.rs`).
    Trim {
        floor: u64,
        keep_bytes: u64,
        reply: oneshot::Sender<Result<Trimmed, String>>,
    },
}

/// The request body and, for each event, where its own JSON object is in it (`None`, or no span
/// at all: the committer serializes the event; `Originals::default()` has none).
#[derive(Default)]
pub struct Originals {
    pub body: bytes::Bytes,
    pub spans: Vec<Option<std::ops::Range<usize>>>,
}

/// The answer to a submitted request, once its events are durable (or the write failed).
pub struct Pending(oneshot::Receiver<Result<Committed, String>>);

impl std::future::Future for Pending {
    type Output = Result<Committed, String>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or_else(|_| Err("the WAL committer has stopped".to_owned())))
    }
}

/// The committer's answer.
#[derive(Debug, Default)]
pub struct Committed {
    pub accepted: u64,
    /// Positions in `CommitRequest::events` that the collector already held.
    pub duplicates: Vec<usize>,
    pub lsn: Option<u64>,
}

/// Figures about the WAL that the committer keeps up to date for status and metrics.
#[derive(Debug, Default)]
pub struct WalStats {
    pub segments: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
    /// Event bytes written and not yet indexed (the indexer reports its progress here).
    pub backlog: super::backlog::Backlog,
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
    /// Events moved to their arrival time for claiming one beyond `[index] max_future_s`
    /// (`future.rs`).
    pub future_clamped: std::sync::atomic::AtomicU64,
}

/// The handle ingest handlers use.
#[derive(Clone)]
pub struct Committer {
    /// Requests to the committer thread; it stops when every sender is dropped.
    tx: mpsc::Sender<CommitRequest>,
    /// The events of the newest records it wrote, for the WAL's followers.
    recent: Arc<Recent>,
}

impl Committer {
    /// Rebuilds the dedup set from the WAL (its newest checkpoint and what follows), then starts
    /// the committer thread. `durable` is updated after each fsync with the last durable LSN:
    /// the indexer follows it.
    pub fn start(
        wal: Wal,
        durable: watch::Sender<u64>,
        stats: std::sync::Arc<WalStats>,
        epochs: EpochHistory,
    ) -> Result<(Committer, JoinHandle<()>), WalError> {
        Committer::start_with(wal, durable, stats, epochs, None)
    }

    /// [`Committer::start`], with events that claim a time more than `max_future` after their
    /// arrival moved to it (`future.rs`; `None`: kept as they are).
    pub fn start_with(
        wal: Wal,
        durable: watch::Sender<u64>,
        stats: std::sync::Arc<WalStats>,
        epochs: EpochHistory,
        max_future: Option<chrono::Duration>,
    ) -> Result<(Committer, JoinHandle<()>), WalError> {
        // One pass over the newest segments finds both snapshots.
        let [checkpoint, rules] = crate::wal::newest_of_kinds(
            wal.dir(),
            [RecordKind::Checkpoint, RecordKind::RulesSnapshot],
            wal.durable_lsn(),
        )?;
        let (dedup, checkpoint_lsn) = rebuild(&wal, checkpoint, &epochs)?;
        stats.checkpoint_lsn.store(checkpoint_lsn, Relaxed);
        let rules_lsn = rules.and_then(|r| crate::retention::rules_snapshot_lsn(&r.payload));
        stats.rules_lsn.store(rules_lsn.unwrap_or(0), Relaxed);
        stats.first_lsn.store(wal.first_lsn(), Relaxed);
        let (tx, rx) = mpsc::channel(1024);
        let recent = Arc::new(Recent::new(super::recent::DEFAULT_BUDGET));
        let held = recent.clone();
        let thread_error = |what: &str, e| WalError::Io {
            path: what.into(),
            source: e,
        };
        let poisoned = Arc::new(AtomicBool::new(false));
        let (written, unsynced) = std::sync::mpsc::sync_channel(GROUPS_UNSYNCED);
        let syncer = {
            let (stats, poisoned) = (stats.clone(), poisoned.clone());
            std::thread::Builder::new()
                .name("wal-syncer".into())
                .spawn(move || sync_and_answer(unsynced, durable, &stats, &poisoned))
                .map_err(|e| thread_error("WAL syncer thread", e))?
        };
        let syncing = Syncing {
            written,
            poisoned,
            thread: syncer,
        };
        let handle = std::thread::Builder::new()
            .name("wal-committer".into())
            .spawn(move || run(wal, dedup, rx, syncing, (stats, epochs, held), max_future))
            .map_err(|e| thread_error("committer thread", e))?;
        Ok((Committer { tx, recent }, handle))
    }

    /// The events of the newest records written, by LSN (see `recent.rs`).
    pub fn recent(&self) -> Arc<Recent> {
        self.recent.clone()
    }

    /// Sends events, with their JSON, to be made durable and waits for the answer.
    pub async fn commit(&self, events: Vec<Event>, lines: Originals) -> Result<Committed, String> {
        self.submit(events, lines).await?.await
    }

    /// Queues events, with their JSON, to be made durable and returns at once; the answer comes
    /// from the returned [`Pending`]. Requests are written in the order they were submitted, so a
    /// caller may keep a few in flight (the syslog intake does) without reordering its events.
    pub async fn submit(&self, events: Vec<Event>, lines: Originals) -> Result<Pending, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(CommitRequest::Events {
                events,
                originals: lines,
                reply,
            })
            .await
            .map_err(|_| "the WAL committer has stopped".to_owned())?;
        Ok(Pending(rx))
    }

    /// Writes one `AlertState` record and waits until it is durable; returns its LSN.
    pub async fn commit_alert_state(&self, payload: Vec<u8>) -> Result<u64, String> {
        self.commit_record(RecordKind::AlertState, payload).await
    }

    /// Writes one record of `kind` and waits until it is durable; returns its LSN.
    pub async fn commit_record(&self, kind: RecordKind, payload: Vec<u8>) -> Result<u64, String> {
        let (reply, rx) = oneshot::channel();
        self.send(CommitRequest::Record {
            kind,
            payload,
            reply,
        })
        .await?;
        rx.await
            .map_err(|_| "the WAL committer has stopped".to_owned())?
    }

    /// Writes records copied from the primary with their LSNs; returns the durable LSN.
    pub async fn commit_replicated(&self, records: Vec<Record>) -> Result<u64, String> {
        let (reply, rx) = oneshot::channel();
        self.send(CommitRequest::Replicated { records, reply })
            .await?;
        rx.await
            .map_err(|_| "the WAL committer has stopped".to_owned())?
    }

    /// Deletes the oldest WAL segments whose records are all below `floor`, keeping at least
    /// `keep_bytes` (`retention.rs` decides the floor).
    pub async fn trim(&self, floor: u64, keep_bytes: u64) -> Result<Trimmed, String> {
        let (reply, rx) = oneshot::channel();
        self.send(CommitRequest::Trim {
            floor,
            keep_bytes,
            reply,
        })
        .await?;
        rx.await
            .map_err(|_| "the WAL committer has stopped".to_owned())?
    }

    async fn send(&self, req: CommitRequest) -> Result<(), String> {
        self.tx
            .send(req)
            .await
            .map_err(|_| "the WAL committer has stopped".to_owned())
    }
}

/// Only the `id` of each event line: all deduplication needs from the WAL.
#[derive(serde::Deserialize)]
struct IdOnly {
    id: logwarden_core::EventId,
}

/// Rebuilds the dedup set and the epoch history from the log: the newest checkpoint (the record
/// passed) and the records after it (all records when there is none). Returns the set and the
/// checkpoint's LSN.
fn rebuild(
    wal: &Wal,
    checkpoint: Option<Record>,
    epochs: &EpochHistory,
) -> Result<(DedupSet, u64), WalError> {
    let from_checkpoint = match checkpoint {
        Some(rec) => match checkpoint::decode(&rec.payload) {
            Ok((dedup, history)) => Some((dedup, history, rec.lsn)),
            Err(e) => {
                tracing::warn!(lsn = rec.lsn, error = %e, "WAL checkpoint unreadable: reading the whole log instead");
                None
            }
        },
        None => None,
    };
    let (mut dedup, mut history, at) =
        from_checkpoint.unwrap_or_else(|| (DedupSet::default(), vec![(1, 1)], 0));
    let first = wal.first_lsn();
    if at == 0 && first > 1 {
        tracing::error!(
            first_lsn = first,
            "the WAL starts at a later LSN and holds no readable checkpoint: events from before it are not known to deduplication"
        );
    }
    let mut reader = wal.reader(at + 1);
    let mut read = 0u64;
    while let Some(rec) = reader.next(wal.durable_lsn())? {
        take_record(&mut dedup, &mut history, &rec);
        read += 1;
    }
    tracing::info!(
        checkpoint_lsn = at,
        records_read = read,
        ranges = dedup.ranges(),
        "deduplication state rebuilt from the WAL"
    );
    *epochs.write().unwrap_or_else(|p| p.into_inner()) = history;
    Ok((dedup, at))
}

/// What the committer's state learns from one record of the log.
fn take_record(dedup: &mut DedupSet, history: &mut Vec<(u64, u64)>, rec: &Record) {
    match rec.kind {
        RecordKind::Events => {
            for line in crate::wal::event_lines(&rec.payload) {
                match serde_json::from_slice::<IdOnly>(line) {
                    Ok(e) => {
                        dedup.insert(&e.id);
                    }
                    Err(e) => {
                        tracing::error!(lsn = rec.lsn, error = %e, "unreadable event in the WAL")
                    }
                }
            }
        }
        RecordKind::Epoch => match EpochRecord::decode(&rec.payload) {
            Ok(e) => {
                if history.last().is_none_or(|&(last, _)| e.epoch > last) {
                    history.push((e.epoch, rec.lsn));
                }
            }
            Err(e) => {
                tracing::error!(lsn = rec.lsn, error = %e, "unreadable epoch record in the WAL")
            }
        },
        // Identities the log may no longer hold: a standby copied afresh from a trimmed primary
        // learns those of the trimmed records here.
        RecordKind::Checkpoint => match checkpoint::decode(&rec.payload) {
            Ok((held, _)) => {
                for (agent, ranges) in held.agents() {
                    for (first, last) in ranges {
                        dedup.insert_range(agent, first, last);
                    }
                }
            }
            Err(e) => tracing::warn!(lsn = rec.lsn, error = %e, "unreadable WAL checkpoint"),
        },
        _ => {}
    }
}

/// The answer owed to one request of a group, in request order.
enum Answer {
    Events(Result<Committed, String>),
    Record(Result<u64, String>),
    Trim(Result<Trimmed, String>),
}

/// A group written and not yet fsynced: its requests, answered once it is.
struct Unsynced {
    written: Written,
    group: Vec<CommitRequest>,
    answers: Vec<Answer>,
    snapshots: Snapshots,
}

/// The committer's side of the syncer.
struct Syncing {
    written: std::sync::mpsc::SyncSender<Unsynced>,
    /// Set by the syncer when an fsync failed: the committer then poisons the log.
    poisoned: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// The syncer thread: fsyncs each group the committer wrote (one fsync for all the groups that
/// were written meanwhile), publishes the durable LSN and answers the groups' requests, in
/// order. Once an fsync fails, every group after it fails too, without another fsync: the
/// kernel may have dropped what it held, and a later fsync could succeed without it.
fn sync_and_answer(
    unsynced: std::sync::mpsc::Receiver<Unsynced>,
    durable: watch::Sender<u64>,
    stats: &WalStats,
    poisoned: &AtomicBool,
) {
    while let Ok(first) = unsynced.recv() {
        let mut groups = vec![first];
        groups.extend(unsynced.try_iter());
        let mut failed = poisoned
            .load(Relaxed)
            .then(|| WalError::Poisoned.to_string());
        let mut synced: Option<&Written> = None;
        for g in &groups {
            if failed.is_some() || synced.is_some_and(|s| s.same_segment(&g.written)) {
                continue;
            }
            match g.written.sync() {
                Ok(()) => synced = Some(&g.written),
                Err(e) => {
                    tracing::error!(error = %e, "WAL fsync failed: nothing written since the last one is acknowledged");
                    poisoned.store(true, Relaxed);
                    failed = Some(e.to_string());
                }
            }
        }
        for mut g in groups {
            match &failed {
                None => {
                    g.snapshots.publish(stats);
                    durable.send_replace(g.written.lsn);
                }
                Some(msg) => fail(&mut g.answers, msg),
            }
            answer(g.group, g.answers);
        }
    }
}

/// Whether a WAL error is the log's (the disk), not the request's (a record too large).
fn is_io(e: &WalError) -> bool {
    !matches!(e, WalError::TooLarge(_))
}

/// What a group wrote, to take back if the log fails before it is written whole: a full disk
/// fails the write, the log forgets the records it held ([`Wal::next_lsn`] goes back), and the
/// committer forgets them too, so that a resend of their events is taken again and not called
/// a duplicate of something the log does not hold.
#[derive(Default)]
struct Undo {
    /// Why the log failed in this group (the rest of the group is not written).
    failed: Option<String>,
    /// Event records: the LSN and the events added.
    events: Vec<(u64, Arc<Vec<Event>>)>,
    /// The LSNs of other records.
    records: Vec<u64>,
}

impl Undo {
    fn log_failed(&mut self, e: &WalError) {
        if is_io(e) && self.failed.is_none() {
            self.failed = Some(e.to_string());
        }
    }

    /// Forgets the identities of the records from `lsn` on (the log no longer holds them) and
    /// the epochs they started.
    fn forget(&self, lsn: u64, dedup: &mut DedupSet, epochs: &EpochHistory) {
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

/// Turns a group's answers into `msg` (nothing of it is durable).
fn fail(answers: &mut [Answer], msg: &str) {
    for a in answers.iter_mut() {
        match a {
            Answer::Events(r) => *r = Err(msg.to_owned()),
            Answer::Record(r) => *r = Err(msg.to_owned()),
            // Deleting old segments does not depend on the fsync.
            Answer::Trim(_) => {}
        }
    }
}

/// Sends each request its answer.
fn answer(group: Vec<CommitRequest>, answers: Vec<Answer>) {
    for (req, answer) in group.into_iter().zip(answers) {
        match (req, answer) {
            (CommitRequest::Events { reply, .. }, Answer::Events(a)) => {
                let _ = reply.send(a);
            }
            (CommitRequest::Record { reply, .. }, Answer::Record(a))
            | (CommitRequest::Replicated { reply, .. }, Answer::Record(a)) => {
                let _ = reply.send(a);
            }
            (CommitRequest::Trim { reply, .. }, Answer::Trim(a)) => {
                let _ = reply.send(a);
            }
            _ => unreachable!("answers are pushed in request order, one per request"),
        }
    }
}

/// Snapshot records written in a group, made known (in [`WalStats`]) once the group is durable.
#[derive(Default)]
struct Snapshots {
    checkpoint: Option<u64>,
    rules: Option<u64>,
}

impl Snapshots {
    fn saw(&mut self, rec_lsn: u64, kind: RecordKind, payload: &[u8]) {
        match kind {
            RecordKind::Checkpoint => self.checkpoint = Some(rec_lsn),
            RecordKind::RulesSnapshot => {
                if let Some(lsn) = crate::retention::rules_snapshot_lsn(payload) {
                    self.rules = Some(lsn);
                }
            }
            _ => {}
        }
    }

    fn publish(&self, stats: &WalStats) {
        if let Some(lsn) = self.checkpoint {
            stats.checkpoint_lsn.store(lsn, Relaxed);
        }
        if let Some(lsn) = self.rules {
            stats.rules_lsn.store(lsn, Relaxed);
        }
    }
}

fn run(
    mut wal: Wal,
    mut dedup: DedupSet,
    mut rx: mpsc::Receiver<CommitRequest>,
    syncing: Syncing,
    (stats, epochs, recent): (Arc<WalStats>, EpochHistory, Arc<Recent>),
    max_future: Option<chrono::Duration>,
) {
    let mut future_warner = super::future::Warner::default();
    stats.segments.store(wal.segments(), Relaxed);
    stats.bytes.store(wal.bytes(), Relaxed);
    let checkpoint_every = checkpoint::interval(wal.segment_bytes());
    // Bytes of this collector's own records since the last checkpoint. Copied records do not
    // count: a standby never writes records of its own, it copies the primary's checkpoints.
    let mut own_bytes = 0u64;
    while let Some(first) = rx.blocking_recv() {
        if syncing.poisoned.load(Relaxed) {
            wal.poison();
        }
        // Everything that queued up while the last group was written goes into this one.
        let mut group = vec![first];
        let mut bytes = 0;
        let mut answers: Vec<Answer> = Vec::new();
        // Events the cache of recent ones let go, freed once the group is handed to the syncer.
        let mut let_go = Vec::new();
        let mut snapshots = Snapshots::default();
        // The records of this group so far, to forget again if a write fails (see `Undo`).
        let mut undo = Undo::default();
        let mut i = 0;
        loop {
            if i == group.len() {
                if bytes >= GROUP_BYTES {
                    break;
                }
                match rx.try_recv() {
                    Ok(req) => group.push(req),
                    Err(_) => break,
                }
            }
            let req = &mut group[i];
            i += 1;
            if let Some(msg) = &undo.failed {
                // The log failed earlier in this group: nothing more of it is written.
                answers.push(match req {
                    CommitRequest::Events { .. } => Answer::Events(Err(msg.clone())),
                    CommitRequest::Trim { .. } => Answer::Trim(Err(msg.clone())),
                    _ => Answer::Record(Err(msg.clone())),
                });
                continue;
            }
            let (events, originals) = match req {
                CommitRequest::Events {
                    events, originals, ..
                } => (events, &*originals),
                CommitRequest::Record { kind, payload, .. } => {
                    bytes += payload.len();
                    // Snapshots do not count towards the next checkpoint: a rules snapshot
                    // written after each checkpoint could otherwise call for the next one.
                    if !matches!(kind, RecordKind::Checkpoint | RecordKind::RulesSnapshot) {
                        own_bytes += payload.len() as u64;
                    }
                    let lsn = wal.append(*kind, payload).map_err(|e| {
                        undo.log_failed(&e);
                        e.to_string()
                    });
                    if let Ok(lsn) = lsn {
                        undo.records.push(lsn);
                        snapshots.saw(lsn, *kind, payload);
                        let rec = Record {
                            lsn,
                            kind: *kind,
                            payload: std::mem::take(payload),
                        };
                        let mut history = epochs.write().unwrap_or_else(|p| p.into_inner());
                        take_record(&mut dedup, &mut history, &rec);
                    }
                    answers.push(Answer::Record(lsn));
                    continue;
                }
                CommitRequest::Replicated { records, .. } => {
                    let mut result = Ok(0);
                    let mut history = epochs.write().unwrap_or_else(|p| p.into_inner());
                    for rec in records.iter() {
                        bytes += rec.payload.len();
                        if let Err(e) = wal.append_at(rec.lsn, rec.kind, &rec.payload) {
                            if is_io(&e) {
                                // The identities of the copied records already taken cannot
                                // be told apart again: as before, a standby whose disk fails
                                // stops until a restart reads its log afresh.
                                wal.poison();
                                undo.log_failed(&e);
                            }
                            result = Err(e.to_string());
                            break;
                        }
                        take_record(&mut dedup, &mut history, rec);
                        snapshots.saw(rec.lsn, rec.kind, &rec.payload);
                        if rec.kind == RecordKind::Events {
                            stats.backlog.written(rec.lsn, rec.payload.len());
                        }
                        result = Ok(rec.lsn);
                    }
                    answers.push(Answer::Record(result));
                    continue;
                }
                CommitRequest::Trim {
                    floor, keep_bytes, ..
                } => {
                    // The new first LSN is published once the group is written, below.
                    let trimmed = wal.trim(*floor, *keep_bytes).map_err(|e| e.to_string());
                    answers.push(Answer::Trim(trimmed));
                    continue;
                }
            };
            let mut committed = Committed::default();
            let now = Utc::now();
            let now_json = serde_json::to_vec(&now).expect("a time serializes");
            let mut added = Vec::new();
            // Of those, the ones moved back from the future: written as they are now.
            let mut clamped = Vec::new();
            for (pos, event) in events.iter_mut().enumerate() {
                if !dedup.insert(&event.id) {
                    committed.duplicates.push(pos);
                    continue;
                }
                added.push(pos);
                event.received = Some(now);
                if let Some(max) = max_future
                    && super::future::clamp(event, now, max)
                {
                    clamped.push(pos);
                }
            }
            if let (Some(&first), Some(max)) = (clamped.first(), max_future) {
                stats
                    .future_clamped
                    .fetch_add(clamped.len() as u64, Relaxed);
                future_warner.clamped(clamped.len() as u64, &events[first], max);
            }
            committed.accepted = added.len() as u64;
            if committed.accepted > 0 {
                // The record's payload is written straight into the log's buffer.
                let lines = |payload: &mut Vec<u8>| {
                    for &pos in &added {
                        let span = originals.spans.get(pos).cloned().flatten();
                        match span.filter(|_| clamped.binary_search(&pos).is_err()) {
                            Some(span) => {
                                super::write_received(payload, &originals.body[span], &now_json)
                            }
                            None => serde_json::to_writer(&mut *payload, &events[pos])
                                .expect("an event always serializes"),
                        }
                        payload.push(b'\n');
                    }
                };
                match wal.append_with(RecordKind::Events, lines) {
                    Ok((lsn, payload_len)) => {
                        bytes += payload_len;
                        own_bytes += payload_len as u64;
                        committed.lsn = Some(lsn);
                        stats.backlog.written(lsn, payload_len);
                        // The request is answered with counts only: its events can go to the
                        // followers as they are, without the duplicates.
                        let mut kept = std::mem::take(events);
                        if !committed.duplicates.is_empty() {
                            let mut pos = 0;
                            kept.retain(|_| {
                                pos += 1;
                                added.binary_search(&(pos - 1)).is_ok()
                            });
                        }
                        let kept = Arc::new(kept);
                        undo.events.push((lsn, kept.clone()));
                        let_go.extend(recent.put(lsn, kept, payload_len));
                    }
                    Err(e) => {
                        // Not written: these identities are not held after all.
                        for pos in added {
                            dedup.remove(&events[pos].id);
                        }
                        undo.log_failed(&e);
                        answers.push(Answer::Events(Err(e.to_string())));
                        continue;
                    }
                }
            }
            answers.push(Answer::Events(Ok(committed)));
        }
        if own_bytes >= checkpoint_every {
            // After every record of the group: the checkpoint holds their identities, and it
            // becomes durable with them in the fsync below (or fails with them).
            let history = epochs.read().unwrap_or_else(|p| p.into_inner()).clone();
            let state = checkpoint::encode(&dedup, &history);
            match wal.append(RecordKind::Checkpoint, &state) {
                Ok(lsn) => {
                    snapshots.checkpoint = Some(lsn);
                    own_bytes = 0;
                }
                Err(e) => {
                    tracing::error!(error = %e, "WAL checkpoint not written");
                    undo.log_failed(&e);
                }
            }
        }
        let written = match &undo.failed {
            Some(msg) => Err(msg.clone()),
            None => wal.write_out().map_err(|e| e.to_string()),
        };
        match written {
            Ok(written) => {
                stats.first_lsn.store(wal.first_lsn(), Relaxed);
                stats.segments.store(wal.segments(), Relaxed);
                stats.bytes.store(wal.bytes(), Relaxed);
                let unsynced = Unsynced {
                    written,
                    group,
                    answers,
                    snapshots,
                };
                if let Err(std::sync::mpsc::SendError(g)) = syncing.written.send(unsynced) {
                    // Only if the syncer panicked: nothing more can be made durable.
                    let msg = "the WAL syncer has stopped".to_owned();
                    tracing::error!("{msg}");
                    wal.poison();
                    let mut answers = g.answers;
                    fail(&mut answers, &msg);
                    answer(g.group, answers);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "WAL write failed: nothing of this group is acknowledged");
                // What the failed write held is not in the log: its identities and epochs
                // are not held either, and its LSNs go to the next records.
                undo.forget(wal.next_lsn(), &mut dedup, &epochs);
                if snapshots
                    .checkpoint
                    .is_some_and(|lsn| lsn >= wal.next_lsn())
                {
                    own_bytes = checkpoint_every; // the next group writes one
                }
                fail(&mut answers, &e);
                answer(group, answers);
            }
        }
        // Only once the group is handed on, so that no answer waits for it: freeing them was a
        // third of the committer's time in a syslog burst.
        drop(let_go);
    }
    // The groups written are answered once durable.
    drop(syncing.written);
    if syncing.thread.join().is_err() {
        tracing::error!("the WAL syncer panicked");
    }
    tracing::info!("WAL committer stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::WalOptions;
    use logwarden_core::EventId;

    fn ev(seq: u64) -> Event {
        Event::log(
            EventId::new("ag", seq),
            Utc::now(),
            "h",
            "s",
            "src",
            format!("m{seq}"),
        )
    }

    fn start(dir: &std::path::Path) -> (Committer, JoinHandle<()>, watch::Receiver<u64>) {
        let (wal, _) = Wal::open(dir, WalOptions::default()).unwrap();
        let (tx, rx) = watch::channel(wal.durable_lsn());
        let (c, h) = Committer::start(wal, tx, Default::default(), Default::default()).unwrap();
        (c, h, rx)
    }

    /// Issue 26 §3: requests that a full disk failed were neither kept nor remembered: once
    /// there is room, the same events are taken (not called duplicates of what the log does not
    /// hold), exactly once, by the same committer (no restart).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_disk_fails_the_group_and_a_resend_once_there_is_room_is_taken_once() {
        let tmp = tempfile::tempdir().unwrap();
        let Some(disk) = crate::wal::tests::SmallDisk::mount(&tmp.path().join("disk"), "2m") else {
            return;
        };
        let dir = disk.0.join("wal");
        let (c, h, durable) = start(&dir);
        let big = |seq: u64| {
            let mut e = ev(seq);
            e.message = format!("m{seq} {}", "x".repeat(4000));
            e
        };
        let batch = |r: u64| (r * 100..r * 100 + 100).map(big).collect::<Vec<_>>();
        let before = c.commit(batch(0), Originals::default()).await.unwrap();
        assert_eq!(before.accepted, 100);
        let ballast = disk.fill_leaving(0);
        // Several requests at once (one group, mostly), and the last also holds events of the
        // first: all fail, nothing of them is held.
        let mut pending = Vec::new();
        for r in 1..=4 {
            let mut events = batch(r);
            if r == 4 {
                events.extend(batch(1).into_iter().take(10));
            }
            pending.push(c.submit(events, Originals::default()).await.unwrap());
        }
        for p in pending {
            let e = p.await.unwrap_err();
            assert!(e.contains("No space left"), "{e}");
        }
        std::fs::remove_file(ballast).unwrap();
        for r in 1..=4 {
            let got = c.commit(batch(r), Originals::default()).await.unwrap();
            assert_eq!(
                (got.accepted, got.duplicates.len()),
                (100, 0),
                "batch {r} after the disk was freed"
            );
        }
        let again = c.commit(batch(2), Originals::default()).await.unwrap();
        assert_eq!((again.accepted, again.duplicates.len()), (0, 100));
        let upto = *durable.borrow();
        drop(c);
        tokio::task::spawn_blocking(move || h.join().unwrap())
            .await
            .unwrap();
        // The log holds each event once, in records numbered without a gap.
        let mut reader = crate::wal::WalReader::new(dir.clone(), 1);
        let mut seen = std::collections::BTreeMap::new();
        let mut lsns = Vec::new();
        while let Some(rec) = reader.next(upto).unwrap() {
            lsns.push(rec.lsn);
            for line in crate::wal::event_lines(&rec.payload) {
                let e: Event = serde_json::from_slice(line).unwrap();
                *seen.entry(e.id.to_string()).or_insert(0) += 1;
            }
        }
        assert_eq!(lsns, (1..=upto).collect::<Vec<_>>());
        assert_eq!(seen.len(), 500);
        assert!(seen.values().all(|n| *n == 1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn duplicates_are_caught_within_a_request_across_requests_and_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let (c, h, durable) = start(dir.path());
        let r = c
            .commit(vec![ev(1), ev(2), ev(1)], Originals::default())
            .await
            .unwrap();
        assert_eq!(
            (r.accepted, r.duplicates.clone(), r.lsn),
            (2, vec![2], Some(1))
        );
        assert_eq!(
            *durable.borrow(),
            1,
            "durable LSN published before the answer"
        );
        let r = c
            .commit(vec![ev(2), ev(3)], Originals::default())
            .await
            .unwrap();
        assert_eq!(
            (r.accepted, r.duplicates.clone(), r.lsn),
            (1, vec![0], Some(2))
        );
        let r = c.commit(vec![ev(3)], Originals::default()).await.unwrap();
        assert_eq!(
            (r.accepted, r.lsn),
            (0, None),
            "nothing new: no record written"
        );
        drop(c);
        tokio::task::spawn_blocking(move || h.join().unwrap())
            .await
            .unwrap();

        let (c, _h, _) = start(dir.path());
        let r = c
            .commit(vec![ev(1), ev(2), ev(3), ev(4)], Originals::default())
            .await
            .unwrap();
        assert_eq!(
            (r.accepted, r.duplicates, r.lsn),
            (1, vec![0, 1, 2], Some(3))
        );
    }

    /// A group of one `Record` request written to `file` through `lsn`, and its answer's receiver.
    fn unsynced(
        lsn: u64,
        file: std::fs::File,
        path: &std::path::Path,
    ) -> (Unsynced, oneshot::Receiver<Result<u64, String>>) {
        let (reply, rx) = oneshot::channel();
        let group = vec![CommitRequest::Record {
            kind: RecordKind::AlertState,
            payload: Vec::new(),
            reply,
        }];
        let g = Unsynced {
            written: Written::for_test(lsn, file, path),
            group,
            answers: vec![Answer::Record(Ok(lsn))],
            snapshots: Snapshots::default(),
        };
        (g, rx)
    }

    #[test]
    fn the_syncer_answers_in_order_once_synced_and_fails_everything_after_a_failed_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let seg = dir.path().join("segment");
        let file = || std::fs::File::create(&seg).unwrap();
        // fsync of a character device fails (EINVAL): a disk that refuses.
        let broken = || std::fs::File::open("/dev/null").unwrap();
        let stats = WalStats::default();
        let poisoned = AtomicBool::new(false);
        let (durable_tx, durable) = watch::channel(0);
        let (tx, rx) = std::sync::mpsc::sync_channel(8);
        let (g1, a1) = unsynced(1, file(), &seg);
        let (g2, a2) = unsynced(2, file(), &seg);
        tx.send(g1).unwrap();
        tx.send(g2).unwrap();
        let (g3, a3) = unsynced(3, broken(), std::path::Path::new("/dev/null"));
        let (g4, a4) = unsynced(4, file(), &seg);
        // The first two are synced and answered in one go, in order.
        drop(tx);
        sync_and_answer(rx, durable_tx.clone(), &stats, &poisoned);
        assert_eq!(a1.blocking_recv().unwrap(), Ok(1));
        assert_eq!(a2.blocking_recv().unwrap(), Ok(2));
        assert_eq!(*durable.borrow(), 2);
        assert!(!poisoned.load(Relaxed));
        // Then an fsync fails: that group fails, and so does the next, though its own fsync
        // would work; nothing more is said durable.
        for (g, a) in [(g3, a3), (g4, a4)] {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            tx.send(g).unwrap();
            drop(tx);
            sync_and_answer(rx, durable_tx.clone(), &stats, &poisoned);
            assert!(a.blocking_recv().unwrap().is_err());
        }
        assert_eq!(*durable.borrow(), 2);
        assert!(
            poisoned.load(Relaxed),
            "the committer is told to poison the log"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_checkpoint_keeps_every_identity_after_the_segments_before_it_are_trimmed() {
        use std::sync::atomic::Ordering::Relaxed;
        let dir = tempfile::tempdir().unwrap();
        let opts = WalOptions {
            segment_bytes: 1 << 20,
        };
        let open = |dir: &std::path::Path| {
            let (wal, _) = Wal::open(dir, opts.clone()).unwrap();
            let (tx, _) = watch::channel(wal.durable_lsn());
            let stats = Arc::new(WalStats::default());
            let (c, h) = Committer::start(wal, tx, stats.clone(), Default::default()).unwrap();
            (c, h, stats)
        };
        let (c, h, stats) = open(dir.path());
        // About 3 MB of events: three segments, a checkpoint every half segment.
        for batch in 0..40u64 {
            let events = (batch * 500 + 1..=batch * 500 + 500).map(ev).collect();
            let r = c.commit(events, Originals::default()).await.unwrap();
            assert_eq!(r.accepted, 500);
        }
        let checkpoint = stats.checkpoint_lsn.load(Relaxed);
        assert!(
            checkpoint > 20,
            "a checkpoint in the later segments: {checkpoint}"
        );
        let t = c.trim(checkpoint, 0).await.unwrap();
        assert!(t.segments >= 1 && t.first_lsn > 1, "{t:?}");
        assert!(
            t.first_lsn <= checkpoint,
            "the checkpoint itself is kept: {t:?}"
        );
        assert_eq!(stats.first_lsn.load(Relaxed), t.first_lsn);
        drop(c);
        tokio::task::spawn_blocking(move || h.join().unwrap())
            .await
            .unwrap();

        // The identities of the trimmed records are only in the checkpoint now.
        let (c, _h, stats) = open(dir.path());
        assert!(stats.checkpoint_lsn.load(Relaxed) >= checkpoint);
        assert_eq!(stats.first_lsn.load(Relaxed), t.first_lsn);
        let all: Vec<Event> = (1..=20_000).map(ev).collect();
        let r = c.commit(all, Originals::default()).await.unwrap();
        assert_eq!((r.accepted, r.duplicates.len()), (0, 20_000));
        let r = c
            .commit(vec![ev(20_001)], Originals::default())
            .await
            .unwrap();
        assert_eq!(r.accepted, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_fsyncs_and_each_event_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let (c, _h, _) = start(dir.path());
        let mut tasks = Vec::new();
        for t in 0..8u64 {
            let c = c.clone();
            // Every task sends the same 50 events plus 50 of its own.
            tasks.push(tokio::spawn(async move {
                let events = (1..=50)
                    .chain(1000 * (t + 1)..1000 * (t + 1) + 50)
                    .map(ev)
                    .collect();
                c.commit(events, Originals::default()).await.unwrap()
            }));
        }
        let mut accepted = 0;
        for t in tasks {
            accepted += t.await.unwrap().accepted;
        }
        assert_eq!(accepted, 50 + 8 * 50);
    }
}

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
//! segment of its own records (`wal/checkpoint.rs`); a start loads the newest one and reads only
//! the records after it. It is also the one that deletes old segments, when retention
//! (`collector/src/retention.rs`, above this layer) asks. Which LSN a rules snapshot reflects is
//! handed over by the engine with the snapshot ([`Committer::commit_rules_snapshot`]); for the
//! snapshots it did not write (found at start, copied on a standby), the reader in
//! [`CommitterOptions`] says.
//!
//! Files: this one is the handle ([`Committer`]) and what is sent through it; `group.rs` the
//! committer thread, one group at a time; `syncer.rs` the syncer thread and the answers;
//! `undo.rs` what a failed group takes back; `snapshots.rs` the snapshot LSNs published once
//! durable; `rebuild.rs` the state learnt from the log; `error.rs` [`CommitError`].

mod error;
mod group;
mod rebuild;
mod snapshots;
mod syncer;
mod undo;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;

use logwarden_core::Event;
use tokio::sync::{mpsc, oneshot, watch};

use super::epoch::EpochHistory;
use super::recent::{self, Recent};
use super::stats::WalStats;
use super::{Record, RecordKind, Trimmed, Wal, WalError};
pub use error::CommitError;
use syncer::Syncing;

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
        reply: oneshot::Sender<Result<Committed, CommitError>>,
    },
    /// One record written as it is: alert state from the rules engine (its payload is the
    /// engine's business) or a new epoch. Never deduplicated.
    Record {
        kind: RecordKind,
        payload: Vec<u8>,
        /// For a `RulesSnapshot` of the engine's: the LSN whose state it holds, handed over by
        /// the engine (the payload's format is the engine's business).
        reflects: Option<u64>,
        /// Answered with the record's LSN once it is durable.
        reply: oneshot::Sender<Result<u64, CommitError>>,
    },
    /// Records copied from the primary, in LSN order, kept with their LSNs (standby only).
    Replicated {
        records: Vec<Record>,
        /// Answered with the durable LSN once they are all durable.
        reply: oneshot::Sender<Result<u64, CommitError>>,
    },
    /// Delete the oldest segments below `floor`, keeping `keep_bytes` (`retention.rs`).
    Trim {
        floor: u64,
        keep_bytes: u64,
        reply: oneshot::Sender<Result<Trimmed, CommitError>>,
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
pub struct Pending(oneshot::Receiver<Result<Committed, CommitError>>);

impl std::future::Future for Pending {
    type Output = Result<Committed, CommitError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(CommitError::Stopped)))
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
        Committer::start_with(wal, durable, stats, epochs, CommitterOptions::default())
    }

    /// [`Committer::start`], with [`CommitterOptions`].
    pub fn start_with(
        wal: Wal,
        durable: watch::Sender<u64>,
        stats: std::sync::Arc<WalStats>,
        epochs: EpochHistory,
        options: CommitterOptions,
    ) -> Result<(Committer, JoinHandle<()>), WalError> {
        // One pass over the newest segments finds both snapshots.
        let [checkpoint, rules] = crate::wal::newest_of_kinds(
            wal.dir(),
            [RecordKind::Checkpoint, RecordKind::RulesSnapshot],
            wal.durable_lsn(),
        )?;
        let (dedup, checkpoint_lsn) = rebuild::rebuild(&wal, checkpoint, &epochs)?;
        stats.checkpoint_lsn.store(checkpoint_lsn, Relaxed);
        let rules_lsn = rules.and_then(|r| (options.rules_snapshot_lsn)(&r.payload));
        stats.rules_lsn.store(rules_lsn.unwrap_or(0), Relaxed);
        stats.first_lsn.store(wal.first_lsn(), Relaxed);
        let (tx, rx) = mpsc::channel(1024);
        let recent = Arc::new(Recent::new(recent::DEFAULT_BUDGET));
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
                .spawn(move || syncer::sync_and_answer(unsynced, durable, &stats, &poisoned))
                .map_err(|e| thread_error("WAL syncer thread", e))?
        };
        let syncing = Syncing {
            written,
            poisoned,
            thread: syncer,
        };
        let handle = std::thread::Builder::new()
            .name("wal-committer".into())
            .spawn(move || group::run(wal, dedup, rx, syncing, (stats, epochs, held), options))
            .map_err(|e| thread_error("committer thread", e))?;
        Ok((Committer { tx, recent }, handle))
    }

    /// The events of the newest records written, by LSN (see `recent.rs`).
    pub fn recent(&self) -> Arc<Recent> {
        self.recent.clone()
    }

    /// Sends events, with their JSON, to be made durable and waits for the answer.
    pub async fn commit(
        &self,
        events: Vec<Event>,
        lines: Originals,
    ) -> Result<Committed, CommitError> {
        self.submit(events, lines).await?.await
    }

    /// Queues events, with their JSON, to be made durable and returns at once; the answer comes
    /// from the returned [`Pending`]. Requests are written in the order they were submitted, so a
    /// caller may keep a few in flight (the syslog intake does) without reordering its events.
    pub async fn submit(
        &self,
        events: Vec<Event>,
        lines: Originals,
    ) -> Result<Pending, CommitError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(CommitRequest::Events {
                events,
                originals: lines,
                reply,
            })
            .await
            .map_err(|_| CommitError::Stopped)?;
        Ok(Pending(rx))
    }

    /// Writes one `AlertState` record and waits until it is durable; returns its LSN.
    pub async fn commit_alert_state(&self, payload: Vec<u8>) -> Result<u64, CommitError> {
        self.commit_record(RecordKind::AlertState, payload).await
    }

    /// Writes one record of `kind` and waits until it is durable; returns its LSN.
    pub async fn commit_record(
        &self,
        kind: RecordKind,
        payload: Vec<u8>,
    ) -> Result<u64, CommitError> {
        self.write_record(kind, payload, None).await
    }

    /// Writes one `RulesSnapshot` record holding the engine's state as of LSN `reflects`, and
    /// waits until it is durable; returns its LSN. Once it is, [`WalStats::rules_lsn`] is
    /// `reflects`: retention lets the records up to it go.
    pub async fn commit_rules_snapshot(
        &self,
        reflects: u64,
        payload: Vec<u8>,
    ) -> Result<u64, CommitError> {
        self.write_record(RecordKind::RulesSnapshot, payload, Some(reflects))
            .await
    }

    async fn write_record(
        &self,
        kind: RecordKind,
        payload: Vec<u8>,
        reflects: Option<u64>,
    ) -> Result<u64, CommitError> {
        let (reply, rx) = oneshot::channel();
        self.send(CommitRequest::Record {
            kind,
            payload,
            reflects,
            reply,
        })
        .await?;
        rx.await.map_err(|_| CommitError::Stopped)?
    }

    /// Writes records copied from the primary with their LSNs; returns the durable LSN.
    pub async fn commit_replicated(&self, records: Vec<Record>) -> Result<u64, CommitError> {
        let (reply, rx) = oneshot::channel();
        self.send(CommitRequest::Replicated { records, reply })
            .await?;
        rx.await.map_err(|_| CommitError::Stopped)?
    }

    /// Deletes the oldest WAL segments whose records are all below `floor`, keeping at least
    /// `keep_bytes` (`retention.rs` decides the floor).
    pub async fn trim(&self, floor: u64, keep_bytes: u64) -> Result<Trimmed, CommitError> {
        let (reply, rx) = oneshot::channel();
        self.send(CommitRequest::Trim {
            floor,
            keep_bytes,
            reply,
        })
        .await?;
        rx.await.map_err(|_| CommitError::Stopped)?
    }

    async fn send(&self, req: CommitRequest) -> Result<(), CommitError> {
        self.tx.send(req).await.map_err(|_| CommitError::Stopped)
    }
}

#[cfg(test)]
mod tests;

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
//! that after a promotion a resend of anything the primary held is caught. It takes them once
//! their group is written: a copy that a full disk fails is cut back like a failed ingest and
//! leaves nothing held, and the standby copies the same records again once there is room. It also keeps the
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
//! Files: this one is the handle ([`Committer`]) and its start; `request.rs` what is sent
//! through it and answered; `options.rs` how the server sets it up; `group.rs` the committer
//! thread, one group at a time; `syncer.rs` the syncer thread and the answers; `undo.rs` what a
//! failed group takes back; `snapshots.rs` the snapshot LSNs published once durable;
//! `rebuild.rs` the state learnt from the log; `error.rs` [`CommitError`]. The files below this
//! one import only each other and the log, never this one.

mod error;
mod group;
mod options;
mod rebuild;
mod request;
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
pub use options::CommitterOptions;
pub use request::{CommitRequest, Committed, Originals};
use syncer::Syncing;

/// Groups written and waiting for the syncer, at most: past it the committer waits.
const GROUPS_UNSYNCED: usize = 4;

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
        let [checkpoint, rules] = crate::wal::reader::newest_of_kinds(
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

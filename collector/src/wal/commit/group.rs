//! The committer thread: one group of requests at a time, written with one write and handed to
//! the syncer.
//!
//! A group is every request that queued while the last one was written (up to [`GROUP_BYTES`]).
//! Each request is written in turn ([`Writer::write`]: events, a record, copied records, or a
//! trim), then a checkpoint if one is due ([`Writer::checkpoint_if_due`]), then the group goes
//! out in one write and on to the syncer ([`Writer::hand_on`]).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use chrono::Utc;
use logwarden_core::Event;
use tokio::sync::mpsc;

use super::error::CommitError;
use super::options::CommitterOptions;
use super::rebuild::take_record;
use super::request::{CommitRequest, Committed, Originals};
use super::snapshots::Snapshots;
use super::syncer::{Answer, Syncing, Unsynced, answer, fail};
use super::undo::Undo;
use crate::wal::checkpoint;
use crate::wal::dedup::DedupSet;
use crate::wal::epoch::EpochHistory;
use crate::wal::future;
use crate::wal::log::Wal;
use crate::wal::recent::Recent;
use crate::wal::record::{Record, RecordKind};
use crate::wal::stats::WalStats;

/// Most bytes of WAL records written per fsync, so that one group does not wait too long.
const GROUP_BYTES: usize = 16 << 20;

/// The committer thread: takes groups of requests until every sender is dropped, then lets the
/// syncer answer the groups written and stops.
pub(super) fn run(
    wal: Wal,
    dedup: DedupSet,
    mut rx: mpsc::Receiver<CommitRequest>,
    syncing: Syncing,
    (stats, epochs, recent): (Arc<WalStats>, EpochHistory, Arc<Recent>),
    options: CommitterOptions,
) {
    stats.segments.store(wal.segments(), Relaxed);
    stats.bytes.store(wal.bytes(), Relaxed);
    let mut w = Writer {
        checkpoint_every: checkpoint::interval(wal.segment_bytes()),
        own_bytes: 0,
        wal,
        dedup,
        stats,
        epochs,
        recent,
        options,
        future_warner: future::Warner::default(),
    };
    while let Some(first) = rx.blocking_recv() {
        if syncing.poisoned.load(Relaxed) {
            w.wal.poison();
        }
        // Everything that queued up while the last group was written goes into this one.
        let mut requests = vec![first];
        let mut group = Group::default();
        let mut i = 0;
        loop {
            if i == requests.len() {
                if group.bytes >= GROUP_BYTES {
                    break;
                }
                match rx.try_recv() {
                    Ok(req) => requests.push(req),
                    Err(_) => break,
                }
            }
            let answer = w.write(&mut requests[i], &mut group);
            group.answers.push(answer);
            i += 1;
        }
        w.checkpoint_if_due(&mut group);
        let let_go = w.hand_on(requests, group, &syncing);
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

/// What the committer thread keeps from one group to the next.
struct Writer {
    wal: Wal,
    dedup: DedupSet,
    stats: Arc<WalStats>,
    epochs: EpochHistory,
    recent: Arc<Recent>,
    options: CommitterOptions,
    future_warner: future::Warner,
    /// Own bytes between two checkpoints (`checkpoint::interval`).
    checkpoint_every: u64,
    /// Bytes of this collector's own records since the last checkpoint. Copied records do not
    /// count: a standby never writes records of its own, it copies the primary's checkpoints.
    own_bytes: u64,
}

/// One group being written.
#[derive(Default)]
struct Group {
    /// Bytes of records written in it, against [`GROUP_BYTES`].
    bytes: usize,
    /// One per request, in request order.
    answers: Vec<Answer>,
    /// Events the cache of recent ones let go, freed once the group is handed to the syncer.
    let_go: Vec<Arc<Vec<Event>>>,
    snapshots: Snapshots,
    /// The records of this group so far, to forget again if a write fails (see `Undo`).
    undo: Undo,
    /// Whether this collector wrote a checkpoint of its own in it (not one copied from the
    /// primary): `own_bytes` starts again from 0 only once it is written.
    own_checkpoint: bool,
}

impl Writer {
    /// Writes one request of `group`; returns the answer it is owed once the group is durable.
    fn write(&mut self, req: &mut CommitRequest, group: &mut Group) -> Answer {
        if let Some(e) = &group.undo.failed {
            // The log failed earlier in this group: nothing more of it is written.
            return match req {
                CommitRequest::Events { .. } => Answer::Events(Err(e.clone())),
                CommitRequest::Trim { .. } => Answer::Trim(Err(e.clone())),
                _ => Answer::Record(Err(e.clone())),
            };
        }
        match req {
            CommitRequest::Events {
                events, originals, ..
            } => Answer::Events(self.write_events(events, originals, group)),
            CommitRequest::Record {
                kind,
                payload,
                reflects,
                ..
            } => Answer::Record(self.write_record(*kind, payload, *reflects, group)),
            CommitRequest::Replicated { records, .. } => {
                Answer::Record(self.write_replicated(records, group))
            }
            CommitRequest::Trim {
                floor, keep_bytes, ..
            } => {
                // The new first LSN is published once the group is written (`hand_on`).
                Answer::Trim(
                    self.wal
                        .trim(*floor, *keep_bytes)
                        .map_err(CommitError::from),
                )
            }
        }
    }

    /// One record written as it is (alert state, a rules snapshot, an epoch, a forgotten host).
    fn write_record(
        &mut self,
        kind: RecordKind,
        payload: &mut Vec<u8>,
        reflects: Option<u64>,
        group: &mut Group,
    ) -> Result<u64, CommitError> {
        group.bytes += payload.len();
        // Snapshots do not count towards the next checkpoint: a rules snapshot written after
        // each checkpoint could otherwise call for the next one.
        if !matches!(kind, RecordKind::Checkpoint | RecordKind::RulesSnapshot) {
            self.own_bytes += payload.len() as u64;
        }
        let lsn = self.wal.append(kind, payload).map_err(|e| {
            let e = CommitError::from(e);
            group.undo.log_failed(&e);
            e
        })?;
        group.undo.records.push(lsn);
        group.snapshots.saw(lsn, kind, || reflects);
        let rec = Record {
            lsn,
            kind,
            payload: std::mem::take(payload),
        };
        let mut history = self.epochs.write().unwrap_or_else(|p| p.into_inner());
        take_record(&mut self.dedup, &mut history, &rec);
        Ok(lsn)
    }

    /// Records copied from the primary, with their LSNs; returns the last one written.
    ///
    /// A write that fails (a full disk) is cut back like any other (`undo.rs`), and the copied
    /// records' identities and epochs are only taken once their group is written
    /// ([`Writer::take_copied`]), so nothing is held that the log does not hold: the standby
    /// copies the same records again once there is room, without a restart. Records the log
    /// holds already (written by a segment roll of a group that failed later) are skipped.
    fn write_replicated(
        &mut self,
        records: &[Record],
        group: &mut Group,
    ) -> Result<u64, CommitError> {
        let mut result = Ok(0);
        for rec in records {
            if rec.lsn < self.wal.next_lsn() {
                result = Ok(rec.lsn);
                continue;
            }
            group.bytes += rec.payload.len();
            if let Err(e) = self.wal.append_at(rec.lsn, rec.kind, &rec.payload) {
                let e = CommitError::from(e);
                group.undo.log_failed(&e);
                return Err(e);
            }
            let read_rules_lsn = self.options.rules_snapshot_lsn;
            group
                .snapshots
                .saw(rec.lsn, rec.kind, || read_rules_lsn(&rec.payload));
            if rec.kind == RecordKind::Events {
                self.stats.backlog.written(rec.lsn, rec.payload.len());
            }
            result = Ok(rec.lsn);
        }
        result
    }

    /// Takes the identities and epochs of the records copied in a group that was written.
    fn take_copied(&mut self, requests: &[CommitRequest]) {
        let mut history = None;
        for req in requests {
            if let CommitRequest::Replicated { records, .. } = req {
                let history = history
                    .get_or_insert_with(|| self.epochs.write().unwrap_or_else(|p| p.into_inner()));
                for rec in records {
                    take_record(&mut self.dedup, history, rec);
                }
            }
        }
    }

    /// An ingest request's events: the new ones (not duplicates) in one `Events` record.
    fn write_events(
        &mut self,
        events: &mut Vec<Event>,
        originals: &Originals,
        group: &mut Group,
    ) -> Result<Committed, CommitError> {
        let now = Utc::now();
        let New {
            mut committed,
            added,
            clamped,
        } = self.take_new(events, now);
        if committed.accepted == 0 {
            return Ok(committed);
        }
        let now_json = serde_json::to_vec(&now).expect("a time serializes");
        // The record's payload is written straight into the log's buffer.
        let lines = |payload: &mut Vec<u8>| {
            for &pos in &added {
                let span = originals.spans.get(pos).cloned().flatten();
                match span.filter(|_| clamped.binary_search(&pos).is_err()) {
                    Some(span) => crate::wal::record::write_received(
                        payload,
                        &originals.body[span],
                        &now_json,
                    ),
                    None => serde_json::to_writer(&mut *payload, &events[pos])
                        .expect("an event always serializes"),
                }
                payload.push(b'\n');
            }
        };
        let (lsn, payload_len) = match self.wal.append_with(RecordKind::Events, lines) {
            Ok(written) => written,
            Err(e) => {
                // Not written: these identities are not held after all.
                for pos in added {
                    self.dedup.remove(&events[pos].id);
                }
                let e = CommitError::from(e);
                group.undo.log_failed(&e);
                return Err(e);
            }
        };
        group.bytes += payload_len;
        self.own_bytes += payload_len as u64;
        committed.lsn = Some(lsn);
        self.stats.backlog.written(lsn, payload_len);
        // The request is answered with counts only: its events can go to the followers as they
        // are, without the duplicates.
        let mut kept = std::mem::take(events);
        if !committed.duplicates.is_empty() {
            let mut pos = 0;
            kept.retain(|_| {
                pos += 1;
                added.binary_search(&(pos - 1)).is_ok()
            });
        }
        let kept = Arc::new(kept);
        group.undo.events.push((lsn, kept.clone()));
        group.let_go.extend(self.recent.put(lsn, kept, payload_len));
        Ok(committed)
    }

    /// Takes the identities of `events` into the dedup set: the ones it did not hold are new,
    /// received `now`, and moved back from the future if they claim a time too far ahead.
    fn take_new(&mut self, events: &mut [Event], now: chrono::DateTime<Utc>) -> New {
        let max_future = self.options.max_future;
        let mut new = New::default();
        for (pos, event) in events.iter_mut().enumerate() {
            if !self.dedup.insert(&event.id) {
                new.committed.duplicates.push(pos);
                continue;
            }
            new.added.push(pos);
            event.received = Some(now);
            if let Some(max) = max_future
                && future::clamp(event, now, max)
            {
                new.clamped.push(pos);
            }
        }
        if let (Some(&first), Some(max)) = (new.clamped.first(), max_future) {
            self.stats
                .future_clamped
                .fetch_add(new.clamped.len() as u64, Relaxed);
            self.future_warner
                .clamped(new.clamped.len() as u64, &events[first], max);
        }
        new.committed.accepted = new.added.len() as u64;
        new
    }

    /// Writes a `Checkpoint` record once enough of this collector's own records followed the
    /// last one: after every record of the group, so that it holds their identities and becomes
    /// durable with them in the group's fsync (or fails with them).
    ///
    /// Not into a group that already failed: that group is not written out, so the record would
    /// stay pending in the log and take the next LSN. On a standby that LSN is the primary's
    /// next record, which the copy then skips as held already: the standby's log held its own
    /// checkpoint where the primary's events were, and they were never indexed (issue 26).
    fn checkpoint_if_due(&mut self, group: &mut Group) {
        if self.own_bytes < self.checkpoint_every || group.undo.failed.is_some() {
            return;
        }
        let history = self
            .epochs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let state = checkpoint::encode(&self.dedup, &history);
        match self.wal.append(RecordKind::Checkpoint, &state) {
            Ok(lsn) => {
                group.snapshots.checkpoint = Some(lsn);
                // Counted from 0 again once the group is written (`hand_on`).
                group.own_checkpoint = true;
            }
            Err(e) => {
                tracing::error!(error = %e, "WAL checkpoint not written");
                group.undo.log_failed(&e.into());
            }
        }
    }

    /// Writes the group out and hands it to the syncer, which answers it once durable; a group
    /// whose write failed is answered with the failure now and forgotten. Returns the events
    /// the cache of recent ones let go, for the caller to free.
    fn hand_on(
        &mut self,
        requests: Vec<CommitRequest>,
        group: Group,
        syncing: &Syncing,
    ) -> Vec<Arc<Vec<Event>>> {
        let Group {
            mut answers,
            let_go,
            snapshots,
            undo,
            own_checkpoint,
            ..
        } = group;
        let written = match &undo.failed {
            Some(e) => Err(e.clone()),
            None => self.wal.write_out().map_err(CommitError::from),
        };
        match written {
            Ok(written) => {
                if own_checkpoint {
                    self.own_bytes = 0;
                }
                self.take_copied(&requests);
                self.stats.first_lsn.store(self.wal.first_lsn(), Relaxed);
                self.stats.segments.store(self.wal.segments(), Relaxed);
                self.stats.bytes.store(self.wal.bytes(), Relaxed);
                let unsynced = Unsynced {
                    written,
                    group: requests,
                    answers,
                    snapshots,
                };
                if let Err(std::sync::mpsc::SendError(g)) = syncing.written.send(unsynced) {
                    // Only if the syncer panicked: nothing more can be made durable.
                    let e = CommitError::SyncerStopped;
                    tracing::error!("{e}");
                    self.wal.poison();
                    let mut answers = g.answers;
                    fail(&mut answers, &e);
                    answer(g.group, answers);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "WAL write failed: nothing of this group is acknowledged");
                // What the failed write held is not in the log: its identities and epochs are
                // not held either, and its LSNs go to the next records.
                // A checkpoint of its own that was due is still due (`own_bytes` was not
                // reset): the next group writes it. One copied from the primary is copied
                // again, and never makes a standby write one of its own.
                undo.forget(self.wal.next_lsn(), &mut self.dedup, &self.epochs);
                fail(&mut answers, &e);
                answer(requests, answers);
            }
        }
        let_go
    }
}

/// What [`Writer::take_new`] found in a request's events.
#[derive(Default)]
struct New {
    /// Its duplicates, and (so far) nothing accepted.
    committed: Committed,
    /// Positions of the new events.
    added: Vec<usize>,
    /// Of those, the ones moved back from the future: written as they are now.
    clamped: Vec<usize>,
}

//! The committer thread: one group of requests at a time, written with one write and handed to
//! the syncer.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use chrono::Utc;
use tokio::sync::mpsc;

use super::rebuild::take_record;
use super::snapshots::Snapshots;
use super::syncer::{Answer, Syncing, Unsynced, answer, fail};
use super::undo::{Undo, is_io};
use super::{CommitError, CommitRequest, Committed, CommitterOptions};
use crate::wal::checkpoint;
use crate::wal::dedup::DedupSet;
use crate::wal::epoch::EpochHistory;
use crate::wal::recent::Recent;
use crate::wal::stats::WalStats;
use crate::wal::{Record, RecordKind, Wal};

/// Most bytes of WAL records written per fsync, so that one group does not wait too long.
const GROUP_BYTES: usize = 16 << 20;

pub(super) fn run(
    mut wal: Wal,
    mut dedup: DedupSet,
    mut rx: mpsc::Receiver<CommitRequest>,
    syncing: Syncing,
    (stats, epochs, recent): (Arc<WalStats>, EpochHistory, Arc<Recent>),
    options: CommitterOptions,
) {
    let max_future = options.max_future;
    let mut future_warner = crate::wal::future::Warner::default();
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
                CommitRequest::Record {
                    kind,
                    payload,
                    reflects,
                    ..
                } => {
                    bytes += payload.len();
                    // Snapshots do not count towards the next checkpoint: a rules snapshot
                    // written after each checkpoint could otherwise call for the next one.
                    if !matches!(kind, RecordKind::Checkpoint | RecordKind::RulesSnapshot) {
                        own_bytes += payload.len() as u64;
                    }
                    let lsn = wal.append(*kind, payload).map_err(|e| {
                        let e = CommitError::from(e);
                        undo.log_failed(&e);
                        e
                    });
                    if let Ok(lsn) = lsn {
                        undo.records.push(lsn);
                        snapshots.saw(lsn, *kind, || *reflects);
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
                            let io = is_io(&e);
                            let e = CommitError::from(e);
                            if io {
                                // The identities of the copied records already taken cannot
                                // be told apart again: as before, a standby whose disk fails
                                // stops until a restart reads its log afresh.
                                wal.poison();
                                undo.log_failed(&e);
                            }
                            result = Err(e);
                            break;
                        }
                        take_record(&mut dedup, &mut history, rec);
                        snapshots.saw(rec.lsn, rec.kind, || {
                            (options.rules_snapshot_lsn)(&rec.payload)
                        });
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
                    let trimmed = wal.trim(*floor, *keep_bytes).map_err(CommitError::from);
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
                    && crate::wal::future::clamp(event, now, max)
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
                            Some(span) => crate::wal::write_received(
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
                        let e = CommitError::from(e);
                        undo.log_failed(&e);
                        answers.push(Answer::Events(Err(e)));
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
                    undo.log_failed(&e.into());
                }
            }
        }
        let written = match &undo.failed {
            Some(msg) => Err(msg.clone()),
            None => wal.write_out().map_err(CommitError::from),
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
                    let msg = CommitError::SyncerStopped;
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

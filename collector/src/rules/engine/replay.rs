//! The engine's reading of the WAL: the start (restore the newest rules snapshot, replay the
//! records after it without acting, then reconcile), following the log live, and writing a
//! snapshot when the committer's checkpoint comes by.
//!
//! It owns where the engine is in the log (`applied_lsn`, `restored_alert_state_lsn`) and the
//! snapshot records (`RecordKind::RulesSnapshot`, format in `rules/snapshot.rs`): they are
//! written by [`Engine::write_snapshot`] only, here. Records are handed on by kind: events to
//! the rules (`judge.rs`), `HostForgotten` to `forget.rs`; `AlertState` records are applied to
//! the table here, during the start replay only (live, the engine wrote them and applied them
//! then, `lifecycle.rs`).

use logwarden_core::Event;
use tokio::time::Instant;

use super::Engine;
use crate::rules::snapshot::{self, Snapshot};
use crate::rules::state;
use crate::wal::{Read, Record, RecordKind, WalReader};

/// A start replay that read more records than this is followed by a snapshot even when it began
/// at one (so that the next start is short without waiting for the committer's next checkpoint).
const START_SNAPSHOT_AFTER: u64 = 100_000;

impl Engine {
    /// The start: restores the newest snapshot, replays the WAL up to `start_lsn` (rebuilding,
    /// acting on nothing), acts on what the replay left undecided, and writes a snapshot when
    /// the next start would otherwise be long. Returns the reader, where following goes on.
    pub(super) async fn start_replay(&mut self, start_lsn: u64) -> Option<WalReader> {
        let snapshot_lsn = self.restore_snapshot(start_lsn).await;
        // `WalReader` starts at the oldest record held when the log was trimmed before LSN 1.
        let from = snapshot_lsn.map_or(1, |lsn| lsn + 1);
        let mut reader = Some(WalReader::new(self.wal_dir.clone(), from));
        // Replay: rebuild, act on nothing.
        let replayed = self.follow(&mut reader, start_lsn, start_lsn).await;
        let start = match snapshot_lsn {
            Some(lsn) => format!("snapshot of LSN {lsn}"),
            None => "the oldest record (no usable snapshot)".to_owned(),
        };
        tracing::info!(
            from = %start,
            records = replayed,
            alerts = self.table.alerts.len(),
            silences = self.table.silences.len(),
            "alert state rebuilt from the WAL"
        );
        self.reconcile();
        self.commit_pending().await;
        self.schedule_all_firing(Instant::now());
        // A start without a snapshot (a collector upgraded from a version without them, or
        // whose snapshot was unreadable) writes one now rather than at the committer's next
        // checkpoint, up to half a segment away: until then the trimmer could not trim, and a
        // crash would mean a whole replay again. A start from a snapshot only does when its
        // replay was long. Only once the replay got to `start_lsn` (a read error can stop it
        // short): the snapshot would otherwise claim records it has not applied.
        let long = replayed > START_SNAPSHOT_AFTER;
        if ((snapshot_lsn.is_none() && replayed > 0) || long) && self.applied_lsn == start_lsn {
            self.write_snapshot(start_lsn).await;
        }
        reader
    }

    /// Reads and handles WAL records up to `upto`; records at or below `start_lsn` are replay.
    /// Returns how many records were read.
    pub(super) async fn follow(
        &mut self,
        reader: &mut Option<WalReader>,
        upto: u64,
        start_lsn: u64,
    ) -> u64 {
        let mut count = 0;
        loop {
            let Some(r) = reader.take() else { return count };
            let recent = self.committer.recent();
            let read = tokio::task::spawn_blocking(move || {
                let mut r = r;
                let mut batch = Vec::new();
                let mut bytes = 0;
                while bytes < (32 << 20) {
                    // Events the committer still holds are taken as it had them: their
                    // payload is not even read.
                    match r.next_unless_known(upto, |head| recent.events_for(head)) {
                        Ok(Some(read)) => {
                            bytes += match &read {
                                Read::Record(rec) => rec.payload.len(),
                                Read::Known(head, _) => head.len,
                            };
                            batch.push(read);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::error!(error = %e, "alert engine cannot read the WAL");
                            break;
                        }
                    }
                }
                (r, batch)
            })
            .await;
            let Ok((r, batch)) = read else {
                tracing::error!("WAL reading task of the alert engine failed");
                return count;
            };
            *reader = Some(r);
            if batch.is_empty() {
                return count;
            }
            for read in batch {
                count += 1;
                match read {
                    Read::Known(head, events) => {
                        self.events(events.iter(), head.lsn <= start_lsn);
                        self.applied_lsn = head.lsn;
                    }
                    Read::Record(rec)
                        if rec.kind == RecordKind::Checkpoint && rec.lsn > start_lsn =>
                    {
                        // The committer's cue (its payload is its own business). Not during the
                        // start replay: those checkpoints are old and the state is not settled.
                        self.applied_lsn = rec.lsn;
                        self.write_snapshot(rec.lsn).await;
                    }
                    Read::Record(rec) => {
                        let lsn = rec.lsn;
                        self.record(rec, start_lsn);
                        self.applied_lsn = lsn;
                    }
                }
            }
        }
    }

    /// Restores the newest usable rules snapshot at or below `start_lsn`; returns the LSN it
    /// reflects (the replay goes on after it), or `None` for a replay of the whole WAL. Never
    /// fails: a snapshot that cannot be read costs a long start, not the alerts.
    pub(super) async fn restore_snapshot(&mut self, start_lsn: u64) -> Option<u64> {
        let dir = self.wal_dir.clone();
        let found = tokio::task::spawn_blocking(move || {
            let first = crate::wal::first_lsn(&dir).ok().flatten().unwrap_or(1);
            let snap = crate::wal::newest_of_kind(&dir, RecordKind::RulesSnapshot, start_lsn);
            (first, snap)
        })
        .await;
        let (first, found) = match found {
            Ok((first, Ok(found))) => (first, found),
            Ok((_, Err(e))) => {
                tracing::warn!(error = %e, "cannot look for a rules snapshot in the WAL; replaying all of it");
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "looking for a rules snapshot failed; replaying the whole WAL");
                return None;
            }
        };
        let snap = match found.as_ref().map(Snapshot::from_record) {
            Some(Ok(snap)) => snap,
            Some(Err(e)) => {
                let at = found.as_ref().map_or(0, |r| r.lsn);
                tracing::warn!(record_lsn = at, error = %e, "rules snapshot not used; replaying the whole WAL");
                if first > 1 {
                    tracing::error!(
                        first_lsn = first,
                        "the WAL was trimmed: alert rules rebuilt from its oldest record only"
                    );
                }
                return None;
            }
            None => {
                if first > 1 {
                    tracing::error!(
                        first_lsn = first,
                        "the WAL was trimmed and holds no rules snapshot: alert rules rebuilt from its oldest record only"
                    );
                }
                return None;
            }
        };
        let (lsn, alert_state_lsn) = (snap.lsn, snap.alert_state_lsn);
        if first > lsn + 1 {
            tracing::error!(
                snapshot_lsn = lsn,
                first_lsn = first,
                "the WAL was trimmed past the rules snapshot: records between are missing from the alert state"
            );
        }
        self.take_snapshot(snap, "the WAL");
        self.restored_alert_state_lsn = alert_state_lsn;
        self.applied_lsn = lsn;
        Some(lsn)
    }

    /// Writes a snapshot of the state as of `lsn`, the last record applied (logged and
    /// counted when it fails: the WAL then keeps everything after the previous snapshot).
    /// Puts a rules snapshot's state into the engine (from `the WAL`, or the cluster's shared
    /// state): windows of rules no longer configured are dropped, and said so.
    pub(super) fn take_snapshot(&mut self, snap: Snapshot, from: &'static str) {
        let restored = snap.restore(
            &mut self.table,
            &mut self.desired,
            &mut self.builtins,
            &mut self.user,
        );
        if restored.dropped_user_windows > 0 {
            tracing::info!(
                windows = restored.dropped_user_windows,
                from,
                "rule windows from the snapshot dropped: their rules are no longer configured"
            );
        }
    }

    pub(super) async fn write_snapshot(&mut self, lsn: u64) {
        // The table already holds the changes in `pending`, which are not in the WAL yet. They
        // are written first, so that every change in the snapshot is in an `AlertState` record
        // at or below `written_lsn`, which the snapshot names (`alert_state_lsn`) and a replay
        // from it skips, so nothing is applied twice. (Applying twice would be harmless too,
        // `AlertTable::apply` is idempotent, but skipping needs no argument.) If that write
        // fails (the WAL is poisoned), a snapshot would hold changes the log lacks: none is
        // taken. Nothing else runs meanwhile (the engine is one task), so no change slips in
        // between these writes.
        if !self.commit_pending().await {
            self.snapshot_failures += 1;
            tracing::error!(
                lsn,
                failures = self.snapshot_failures,
                "rules snapshot not taken: alert state could not be written first"
            );
            return;
        }
        let snap = snapshot::capture(
            lsn,
            self.written_lsn,
            &self.table,
            &self.desired,
            &self.builtins,
            &self.user,
        );
        let payload = snap.encode();
        let bytes = payload.len();
        match self.committer.commit_rules_snapshot(lsn, payload).await {
            Ok(at) => tracing::info!(lsn, record_lsn = at, bytes, "rules snapshot written"),
            Err(e) => {
                self.snapshot_failures += 1;
                tracing::error!(lsn, bytes, error = %e, failures = self.snapshot_failures,
                    "rules snapshot not written; the WAL keeps what follows the previous one");
            }
        }
    }

    /// Handles a record read whole (the events of an `Events` record parsed from its payload).
    pub(super) fn record(&mut self, rec: Record, start_lsn: u64) {
        let replaying = rec.lsn <= start_lsn;
        match rec.kind {
            RecordKind::Events => {
                let lsn = rec.lsn;
                let events = crate::wal::event_lines(&rec.payload).filter_map(|line| {
                    serde_json::from_slice::<Event>(line)
                        .inspect_err(|e| {
                            tracing::error!(lsn, error = %e, "unreadable event in the WAL; no rule sees it")
                        })
                        .ok()
                });
                self.events(events, replaying);
            }
            // Up to `restored_alert_state_lsn` they are in the restored table already.
            RecordKind::AlertState if replaying && rec.lsn > self.restored_alert_state_lsn => {
                match state::decode(&rec.payload) {
                    Ok(changes) => changes.iter().for_each(|c| self.table.apply(c)),
                    Err(e) => {
                        tracing::error!(lsn = rec.lsn, error = %e, "alert state record skipped")
                    }
                }
            }
            RecordKind::HostForgotten => self.host_forgotten(&rec, replaying),
            // Snapshots (this engine's, or the old primary's on a promoted standby) are read at
            // start only; checkpoints are handled in `follow`.
            _ => {}
        }
    }
}

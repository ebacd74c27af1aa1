//! `logwarden fleet forget HOST` in the rules engine (the record and what else reads it:
//! `fleet/forget.rs`).
//!
//! The API's command writes the `HostForgotten` record; the engine acts when it reads the record
//! back from the WAL, in log order with the host's events. So an event written before the
//! forget but read after the command cannot bring the host back, and a start replay does what
//! the live engine did: the host's heartbeats and quiet alerts are dropped and every verdict
//! naming it is cleared. Live, its firing alerts also resolve at once (no `resolve_hold`), and
//! the API is answered once those changes are in the WAL; in a replay the `AlertState` records
//! that follow hold them (and if the collector died before writing them, the cleared verdicts
//! resolve the alerts after the hold, at reconcile).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use logwarden_core::wire::{AlertStatus, ForgetResponse};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Engine, EngineError};
use crate::fleet::forget::Forget;
use crate::rules::alert::Signal;
use crate::rules::state::StateChange;
use crate::wal::{Record, RecordKind};

type Reply = oneshot::Sender<Result<ForgetResponse, EngineError>>;

impl Engine {
    /// The API's command: writes the record; the answer waits for the engine to read it.
    pub(super) async fn write_forget(
        &mut self,
        host: String,
        author: String,
        at: DateTime<Utc>,
        reply: Reply,
    ) {
        let payload = Forget::new(host, author, at).encode();
        match self
            .committer
            .commit_record(RecordKind::HostForgotten, payload)
            .await
        {
            Ok(lsn) => self.forgets.push(Forgotten {
                lsn,
                reply,
                answer: None,
            }),
            Err(e) => {
                let _ = reply.send(Err(EngineError::Wal(e)));
            }
        }
    }

    /// A `HostForgotten` record read from the WAL (live, or in the start replay).
    pub(super) fn host_forgotten(&mut self, rec: &Record, replaying: bool) {
        let waiting = self.forgets.iter().position(|f| f.lsn == rec.lsn);
        let forget = match Forget::decode(&rec.payload) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(lsn = rec.lsn, error = %e, "forget record skipped");
                if let Some(i) = waiting {
                    let f = self.forgets.swap_remove(i);
                    let _ = f.reply.send(Err(EngineError::Wal(format!(
                        "forget record at LSN {} unreadable: {e}",
                        rec.lsn
                    ))));
                }
                return;
            }
        };
        let host = forget.host.as_str();
        let of_host = |labels: &BTreeMap<String, String>| {
            labels.get("host").map(String::as_str) == Some(host)
        };
        self.builtins.forget_host(host);
        // Nothing the host said before holds any more: every verdict naming it is cleared.
        let mut clears: Vec<Signal> = self
            .desired
            .values()
            .filter(|s| of_host(&s.labels))
            .map(|s| Signal::clear(&s.name, s.labels.clone()))
            .collect();
        clears.extend(
            self.table
                .alerts
                .values()
                .filter(|e| of_host(&e.record.labels))
                .map(|e| Signal::clear(&e.record.name, e.record.labels.clone())),
        );
        for s in clears {
            let key = s.key();
            self.holds.remove(&key);
            self.desired.insert(key, s);
        }
        if replaying {
            return;
        }
        let wall = Utc::now();
        let now = Instant::now();
        let firing: Vec<_> = self
            .table
            .alerts
            .values()
            .filter(|e| e.record.status == AlertStatus::Firing && of_host(&e.record.labels))
            .map(|e| e.record.clone())
            .collect();
        let mut resolved = Vec::new();
        for mut alert in firing {
            alert.status = AlertStatus::Resolved;
            alert.ends_at = Some(wall);
            alert.updated_at = wall;
            tracing::info!(alert = %alert.name, id = %alert.key, host, "alert resolved: host forgotten");
            let key = alert.key.clone();
            self.change(StateChange::Alert(alert));
            self.schedule_groups(&key, now);
            resolved.push(self.table.view(&self.table.alerts[&key], wall));
        }
        tracing::info!(host, author = %forget.author, lsn = rec.lsn, resolved = resolved.len(), "host forgotten");
        if let Some(i) = waiting {
            self.forgets[i].answer = Some(ForgetResponse {
                host: forget.host,
                lsn: rec.lsn,
                resolved,
            });
        }
    }

    /// Answers the forgets that were applied, once their changes were written (`written`:
    /// the last `commit_pending` succeeded).
    pub(super) fn answer_forgets(&mut self, written: bool) {
        let mut i = 0;
        while i < self.forgets.len() {
            if self.forgets[i].answer.is_none() {
                i += 1;
                continue;
            }
            let f = self.forgets.swap_remove(i);
            let answer = f.answer.filter(|_| written).ok_or_else(|| {
                EngineError::Wal("the host's resolved alerts could not be written".into())
            });
            let _ = f.reply.send(answer);
        }
    }
}

/// A forget written and not yet answered.
pub(super) struct Forgotten {
    /// Its record.
    lsn: u64,
    reply: Reply,
    /// Set once the record was read back and applied.
    answer: Option<ForgetResponse>,
}

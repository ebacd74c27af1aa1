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
//!
//! A cluster's alert leader has no WAL record to read back (its engine follows the stream):
//! it applies the forget at once, as read, and answers once a snapshot of its state that holds
//! it (the rules' view without the host, the resolved alerts) is stored in the shared state,
//! where any next leader starts from it or from a later one. The fleet side of a forget in
//! cluster mode is `crate::cluster::fleet`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use logwarden_core::wire::{AlertStatus, ForgetResponse};
use tokio::time::Instant;

use super::Engine;
use super::handle::{EngineError, ForgetReply, Forgotten};
use crate::fleet::forget::Forget;
use crate::rules::alert::Signal;
use crate::rules::state::StateChange;
use crate::wal::{Record, RecordKind};

impl Engine {
    /// The API's command: writes the record; the answer waits for the engine to read it.
    pub(super) async fn write_forget(
        &mut self,
        host: String,
        author: String,
        at: DateTime<Utc>,
        reply: ForgetReply,
    ) {
        let payload = Forget::new(host, author, at).encode();
        if self.shared.is_some() {
            return self.forget_shared(payload, reply).await;
        }
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
                let _ = reply.send(Err(EngineError::Wal(e.to_string())));
            }
        }
    }

    /// A cluster's leader: applied at once, answered once a snapshot holding it is stored (a
    /// next leader that started from an older one would replay the host's heartbeats and
    /// watch it again).
    async fn forget_shared(&mut self, payload: Vec<u8>, reply: ForgetReply) {
        // Where the leader is in the stream: the answer's `lsn`.
        let lsn = self.applied_lsn;
        let rec = Record {
            lsn,
            kind: RecordKind::HostForgotten,
            payload,
        };
        self.forgets.push(Forgotten {
            lsn,
            reply,
            answer: None,
        });
        self.host_forgotten(&rec, false);
        let stored = self.shared_snapshot().await;
        self.answer_forgets(stored);
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use logwarden_core::wire::AlertSeverity;
    use logwarden_core::{Event, EventId, Kind};
    use tokio::sync::watch;

    use super::*;
    use crate::rules::alert::labels;
    use crate::rules::engine::EngineSettings;
    use crate::wal::{Committer, Wal, WalOptions};

    /// An engine that knows host `old1` (a heartbeat) and `live1`, and whose table holds
    /// AgentSilent firing for both.
    fn engine(dir: &std::path::Path) -> Engine {
        let (wal, _) = Wal::open(dir, WalOptions::default()).unwrap();
        let (tx, _rx) = watch::channel(wal.durable_lsn());
        let (committer, _thread) =
            Committer::start(wal, tx, Default::default(), Default::default()).unwrap();
        let mut e = Engine::new(
            EngineSettings::default(),
            committer,
            dir.to_owned(),
            Arc::new(Default::default()),
        );
        let long_ago = Utc::now() - chrono::Duration::hours(1);
        for host in ["old1", "live1"] {
            let mut hb = Event::log(EventId::new(host, 1), long_ago, host, "phx", "", "".into());
            hb.kind = Kind::Heartbeat;
            hb.received = Some(long_ago);
            e.events(std::iter::once(&hb), true);
            let sig = Signal::fire(
                "AgentSilent",
                labels([("host", host)]),
                AlertSeverity::Critical,
                format!("no heartbeat from {host}"),
            );
            let key = sig.key();
            e.desired.insert(key.clone(), sig.clone());
            e.table
                .apply(&StateChange::Alert(crate::rules::record::AlertRecord {
                    key,
                    name: sig.name.clone(),
                    severity: AlertSeverity::Critical,
                    status: AlertStatus::Firing,
                    labels: sig.labels.clone(),
                    annotations: BTreeMap::new(),
                    starts_at: long_ago,
                    ends_at: None,
                    updated_at: long_ago,
                }));
        }
        e
    }

    fn record(lsn: u64, host: &str) -> Record {
        Record {
            lsn,
            kind: RecordKind::HostForgotten,
            payload: Forget::new(host.into(), "test".into(), Utc::now()).encode(),
        }
    }

    fn status(e: &Engine, host: &str) -> AlertStatus {
        let key = crate::rules::alert_key("AgentSilent", &labels([("host", host)]));
        e.table.alerts[&key].record.status
    }

    /// The hosts the heartbeat rule calls silent an hour from now (each once: the rule then
    /// holds it as firing).
    fn watched(e: &mut Engine) -> Vec<String> {
        let mut out = Vec::new();
        e.builtins
            .on_tick(Utc::now() + chrono::Duration::hours(1), &mut out);
        out.iter().map(|s| s.labels["host"].clone()).collect()
    }

    #[tokio::test]
    async fn live_the_hosts_alerts_resolve_at_once_and_it_is_no_longer_watched() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = engine(dir.path());
        e.host_forgotten(&record(7, "old1"), false);
        assert_eq!(status(&e, "old1"), AlertStatus::Resolved);
        assert_eq!(status(&e, "live1"), AlertStatus::Firing);
        assert!(
            e.pending.iter().any(|c| matches!(c, StateChange::Alert(r)
                if r.labels["host"] == "old1" && r.status == AlertStatus::Resolved)),
            "the resolve is queued for the WAL"
        );
        assert_eq!(watched(&mut e), vec!["live1".to_owned()]);
    }

    #[tokio::test]
    async fn a_replay_that_lacks_the_resolve_resolves_after_the_hold() {
        // The collector died after writing the forget and before its AlertState record: the
        // replay clears the verdicts, and reconcile resolves the alert after resolve_hold.
        let dir = tempfile::tempdir().unwrap();
        let mut e = engine(dir.path());
        e.host_forgotten(&record(7, "old1"), true);
        assert_eq!(
            status(&e, "old1"),
            AlertStatus::Firing,
            "replay acts on nothing"
        );
        assert_eq!(watched(&mut e), vec!["live1".to_owned()]);
        e.reconcile();
        let later = Instant::now() + e.settings.resolve_hold + std::time::Duration::from_secs(1);
        e.expire_holds(later);
        assert_eq!(status(&e, "old1"), AlertStatus::Resolved);
        assert_eq!(status(&e, "live1"), AlertStatus::Firing);
    }
}

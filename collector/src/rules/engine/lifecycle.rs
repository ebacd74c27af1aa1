//! The alert lifecycle: turns verdicts into changes of the alert table and writes them to the
//! WAL. A firing verdict fires the alert at once (or changes its severity or annotations); a
//! clear verdict starts the `resolve_hold` timer (`holds`), and the alert resolves only if no
//! firing verdict came back meanwhile. Acks and silences (`commands.rs`) are changes too.
//!
//! Every change goes through [`Engine::change`]: applied to the table now, queued in `pending`,
//! written as one `AlertState` record per batch of work (to the shared store instead on a
//! cluster's alert leader, `shared.rs`) ([`Engine::commit_pending`]), or at once
//! when the API waits for the answer ([`Engine::write_now`]). A change that can alter what is
//! sent asks delivery (`delivery.rs`) to look at the alert's groups again.

use chrono::Utc;
use logwarden_core::wire::AlertStatus;
use tokio::time::Instant;

use super::{Engine, EngineError};
use crate::rules::record::AlertRecord;
use crate::rules::state::{self, StateChange};

impl Engine {
    /// After replay: act on every verdict that disagrees with the table.
    pub(super) fn reconcile(&mut self) {
        let now = Instant::now();
        let keys: Vec<String> = self.desired.keys().cloned().collect();
        for key in keys {
            self.evaluate(&key, now);
        }
    }

    pub(super) fn firing_keys(&self) -> Vec<String> {
        self.table
            .alerts
            .values()
            .filter(|e| e.record.status == AlertStatus::Firing)
            .map(|e| e.record.key.clone())
            .collect()
    }

    /// Brings alert `key` in line with its verdict.
    pub(super) fn evaluate(&mut self, key: &str, now: Instant) {
        let Some(sig) = self.desired.get(key) else {
            return;
        };
        let have = self.table.alerts.get(key).map(|e| &e.record);
        let wall = Utc::now();
        match (&sig.firing, have) {
            (Some(f), Some(rec)) if rec.status == AlertStatus::Firing => {
                self.holds.remove(key);
                if rec.severity != f.severity || rec.annotations != f.annotations {
                    let mut next = rec.clone();
                    next.severity = f.severity;
                    next.annotations = f.annotations.clone();
                    next.updated_at = wall;
                    let escalated = rec.severity != f.severity;
                    self.change(StateChange::Alert(next));
                    if escalated {
                        self.schedule_groups(key, now);
                    }
                }
            }
            (Some(f), _) => {
                self.holds.remove(key);
                let rec = AlertRecord {
                    key: key.to_owned(),
                    name: sig.name.clone(),
                    severity: f.severity,
                    status: AlertStatus::Firing,
                    labels: sig.labels.clone(),
                    annotations: f.annotations.clone(),
                    starts_at: wall,
                    ends_at: None,
                    updated_at: wall,
                };
                tracing::info!(alert = %rec.name, id = key, severity = %rec.severity, "alert firing");
                self.change(StateChange::Alert(rec));
                self.schedule_groups(key, now);
            }
            (None, Some(rec)) if rec.status == AlertStatus::Firing => {
                let hold = self.settings.resolve_hold;
                self.holds.entry(key.to_owned()).or_insert(now + hold);
            }
            (None, _) => {}
        }
    }

    pub(super) fn expire_holds(&mut self, now: Instant) {
        let due: Vec<String> = self
            .holds
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.holds.remove(&key);
            let still_clear = self.desired.get(&key).is_none_or(|s| s.firing.is_none());
            let Some(rec) = self.table.alerts.get(&key).map(|e| e.record.clone()) else {
                continue;
            };
            if still_clear && rec.status == AlertStatus::Firing {
                let wall = Utc::now();
                let mut next = rec;
                next.status = AlertStatus::Resolved;
                next.ends_at = Some(wall);
                next.updated_at = wall;
                tracing::info!(alert = %next.name, id = key, "alert resolved");
                self.change(StateChange::Alert(next));
                self.schedule_groups(&key, now);
            }
        }
    }

    /// Applies a change now and queues it for the WAL.
    pub(super) fn change(&mut self, c: StateChange) {
        self.table.apply(&c);
        let inhibits = matches!(&c, StateChange::Alert(r) if self.table.inhibit_rules.is_source(r));
        self.pending.push(c);
        if inhibits {
            // What it holds back may have to be sent (or not) now.
            self.schedule_all_firing(Instant::now());
        }
    }

    /// Writes the pending changes; says whether they (and so the whole table) are in the WAL.
    pub(super) async fn commit_pending(&mut self) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        if self.shared.is_some() {
            return self
                .write_shared()
                .await
                .inspect_err(|e| tracing::error!(error = %e, "cluster: alert state not written to the shared store; tried again with the next change"))
                .is_ok();
        }
        let payload = state::encode(&std::mem::take(&mut self.pending));
        match self.committer.commit_alert_state(payload).await {
            Ok(lsn) => {
                self.written_lsn = self.written_lsn.max(lsn);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "alert state not written to the WAL; it will not survive a restart");
                false
            }
        }
    }

    /// Writes the pending changes and says whether they are durable (for the API's answer).
    pub(super) async fn write_now(&mut self) -> Result<(), EngineError> {
        if self.shared.is_some() {
            return self.write_shared().await.map_err(EngineError::Cluster);
        }
        let payload = state::encode(&std::mem::take(&mut self.pending));
        let lsn = self
            .committer
            .commit_alert_state(payload)
            .await
            .map_err(|e| EngineError::Wal(e.to_string()))?;
        self.written_lsn = self.written_lsn.max(lsn);
        Ok(())
    }
}

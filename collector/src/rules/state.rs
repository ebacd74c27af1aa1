//! Alert state: what the WAL's `AlertState` records say, and the table they rebuild.
//!
//! Every decision of the engine that must survive a crash or reach the standby site is one
//! [`StateChange`]: an alert fired, changed or resolved; a receiver was notified; an alert was
//! acknowledged; a silence was added or expired. The engine writes them through the committer
//! (one WAL record holds the changes of one evaluation) and applies them to an [`AlertTable`];
//! at start, replaying the records in LSN order rebuilds the same table. Applying is idempotent,
//! so a record applied twice does no harm.
//!
//! # Payload (version 1)
//!
//! ```text
//! {"v": 1, "changes": [ {"op": "alert", ...AlertRecord}, {"op": "notified", ...}, ... ]}
//! ```
//!
//! A payload of another version is skipped with an error in the log (a newer collector's state
//! is not guessed at).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use logwarden_core::wire::{Ack, AlertStatus, AlertView, Silence};
use serde::{Deserialize, Serialize};

use super::record::AlertRecord;
use super::silence;

/// The version written in every payload.
pub const STATE_VERSION: u32 = 1;
/// Resolved alerts kept for `logwarden alerts --all` (the oldest go first).
const KEEP_RESOLVED: usize = 1000;

/// A durable decision of the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum StateChange {
    /// An alert started firing, changed (severity, annotations) or resolved: its whole record.
    Alert(AlertRecord),
    /// A receiver was sent a group's notification (the notification log, as Alertmanager's
    /// nflog): what was firing and what was reported resolved.
    Notified {
        receiver: String,
        group: String,
        firing: BTreeSet<String>,
        resolved: BTreeSet<String>,
        at: DateTime<Utc>,
    },
    /// An alert was acknowledged.
    Ack { key: String, ack: Ack },
    /// A silence was added (or replaced, same id).
    Silence(Silence),
    /// A silence was ended early.
    SilenceExpired { id: String, at: DateTime<Utc> },
}

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    v: u32,
    changes: Vec<StateChange>,
}

/// Why a WAL `AlertState` record was not applied.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The payload is not JSON of the expected shape.
    #[error("alert state record is unreadable: {0}")]
    Unreadable(#[from] serde_json::Error),
    /// Written by a collector with a newer payload version.
    #[error("alert state record has version {0}; this collector reads version {STATE_VERSION}")]
    Version(u32),
}

pub fn encode(changes: &[StateChange]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Out<'a> {
        v: u32,
        changes: &'a [StateChange],
    }
    serde_json::to_vec(&Out {
        v: STATE_VERSION,
        changes,
    })
    .expect("alert state always serializes")
}

pub fn decode(payload: &[u8]) -> Result<Vec<StateChange>, StateError> {
    let p: Payload = serde_json::from_slice(payload)?;
    if p.v != STATE_VERSION {
        return Err(StateError::Version(p.v));
    }
    Ok(p.changes)
}

/// What the notification log holds for one (receiver, group).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NflogEntry {
    /// Entries of the firing alerts sent (see [`super::dispatch`]).
    pub firing: BTreeSet<String>,
    pub resolved: BTreeSet<String>,
    pub at: Option<DateTime<Utc>>,
}

/// One alert and its acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEntry {
    pub record: AlertRecord,
    pub ack: Option<Ack>,
}

/// Everything the alert state records describe.
#[derive(Debug, Default)]
pub struct AlertTable {
    pub alerts: BTreeMap<String, AlertEntry>,
    pub silences: BTreeMap<String, Silence>,
    /// Keyed by (receiver, group key).
    pub nflog: HashMap<(String, String), NflogEntry>,
    /// From the config, not the WAL: which firing alerts hold back which (rules::inhibit).
    pub inhibit_rules: super::inhibit::InhibitRules,
    /// From the config too: recurring maintenance windows (rules::maintenance).
    pub maintenance: super::maintenance::Windows,
}

impl AlertTable {
    pub fn apply(&mut self, change: &StateChange) {
        match change {
            StateChange::Alert(rec) => {
                let entry = self
                    .alerts
                    .entry(rec.key.clone())
                    .or_insert_with(|| AlertEntry {
                        record: rec.clone(),
                        ack: None,
                    });
                // An ack lasts until the alert resolves or changes severity.
                if rec.status == AlertStatus::Resolved
                    || entry
                        .ack
                        .as_ref()
                        .is_some_and(|a| a.severity != rec.severity)
                {
                    entry.ack = None;
                }
                entry.record = rec.clone();
                if rec.status == AlertStatus::Resolved {
                    self.trim_resolved();
                }
            }
            StateChange::Notified {
                receiver,
                group,
                firing,
                resolved,
                at,
            } => {
                self.nflog.insert(
                    (receiver.clone(), group.clone()),
                    NflogEntry {
                        firing: firing.clone(),
                        resolved: resolved.clone(),
                        at: Some(*at),
                    },
                );
            }
            StateChange::Ack { key, ack } => {
                if let Some(entry) = self.alerts.get_mut(key)
                    && entry.record.status == AlertStatus::Firing
                    && entry.record.severity == ack.severity
                {
                    entry.ack = Some(ack.clone());
                }
            }
            StateChange::Silence(s) => {
                self.silences.insert(s.id.clone(), s.clone());
            }
            StateChange::SilenceExpired { id, at } => {
                if let Some(s) = self.silences.get_mut(id)
                    && s.ends_at > *at
                {
                    s.ends_at = *at;
                }
            }
        }
    }

    fn trim_resolved(&mut self) {
        let resolved: Vec<(DateTime<Utc>, String)> = self
            .alerts
            .values()
            .filter(|e| e.record.status == AlertStatus::Resolved)
            .map(|e| (e.record.updated_at, e.record.key.clone()))
            .collect();
        if resolved.len() <= KEEP_RESOLVED {
            return;
        }
        let mut resolved = resolved;
        resolved.sort();
        for (_, key) in resolved.iter().take(resolved.len() - KEEP_RESOLVED) {
            self.alerts.remove(key);
        }
    }

    /// Silences in force at `now` (a recurring one only in its openings).
    pub fn active_silences(&self, now: DateTime<Utc>) -> impl Iterator<Item = &Silence> {
        self.silences
            .values()
            .filter(move |s| silence::in_force(s, now))
    }

    /// Whether a silence or a maintenance window in force at `before` no longer is at `now`:
    /// what it held back is due.
    pub fn any_silence_ended(&self, before: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.silences
            .values()
            .any(|s| silence::in_force(s, before) && !silence::in_force(s, now))
            || self.maintenance.any_closed(before, now)
    }

    /// The ids of the silences in force at `now` that match `rec`, then the maintenance
    /// windows open at `now` that do.
    pub fn silenced_by(&self, rec: &AlertRecord, now: DateTime<Utc>) -> Vec<String> {
        self.active_silences(now)
            .filter(|s| s.matchers.iter().all(|m| silence::matches(m, rec)))
            .map(|s| s.id.clone())
            .chain(self.maintenance.silencing(rec, now))
            .collect()
    }

    /// The key of a firing alert that inhibits `rec`, if any (rules::inhibit).
    pub fn inhibited_by(&self, rec: &AlertRecord) -> Option<String> {
        self.inhibit_rules
            .inhibitor(self.alerts.values().map(|e| &e.record), rec)
    }

    /// The API's view of one alert, with its silences and inhibition worked out.
    pub fn view(&self, entry: &AlertEntry, now: DateTime<Utc>) -> AlertView {
        let r = &entry.record;
        AlertView {
            id: r.key.clone(),
            name: r.name.clone(),
            severity: r.severity,
            status: r.status,
            labels: r.labels.clone(),
            annotations: r.annotations.clone(),
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            updated_at: r.updated_at,
            ack: entry.ack.clone(),
            silenced_by: self.silenced_by(r, now),
            inhibited_by: self.inhibited_by(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logwarden_core::wire::AlertSeverity;

    fn rec(sev: AlertSeverity, status: AlertStatus) -> AlertRecord {
        let t = Utc::now();
        AlertRecord {
            key: "k1".into(),
            name: "RaidArrayDegraded".into(),
            severity: sev,
            status,
            labels: BTreeMap::from([("host".into(), "h".into())]),
            annotations: BTreeMap::new(),
            starts_at: t,
            ends_at: None,
            updated_at: t,
        }
    }

    fn ack(sev: AlertSeverity) -> StateChange {
        StateChange::Ack {
            key: "k1".into(),
            ack: Ack {
                author: "me".into(),
                comment: String::new(),
                at: Utc::now(),
                severity: sev,
            },
        }
    }

    #[test]
    fn a_payload_round_trips_and_another_version_is_refused() {
        let changes = vec![
            StateChange::Alert(rec(AlertSeverity::Warning, AlertStatus::Firing)),
            ack(AlertSeverity::Warning),
        ];
        assert_eq!(decode(&encode(&changes)).unwrap(), changes);
        let err = decode(br#"{"v":9,"changes":[]}"#).unwrap_err();
        assert!(matches!(err, StateError::Version(9)), "{err}");
    }

    #[test]
    fn an_ack_ends_when_the_severity_changes_or_the_alert_resolves() {
        let mut t = AlertTable::default();
        t.apply(&StateChange::Alert(rec(
            AlertSeverity::Warning,
            AlertStatus::Firing,
        )));
        t.apply(&ack(AlertSeverity::Warning));
        assert!(t.alerts["k1"].ack.is_some());
        t.apply(&StateChange::Alert(rec(
            AlertSeverity::Critical,
            AlertStatus::Firing,
        )));
        assert!(t.alerts["k1"].ack.is_none(), "escalation ends the ack");
        t.apply(&ack(AlertSeverity::Critical));
        t.apply(&StateChange::Alert(rec(
            AlertSeverity::Critical,
            AlertStatus::Resolved,
        )));
        assert!(t.alerts["k1"].ack.is_none(), "resolving ends the ack");
        // An ack of a severity the alert no longer has is not applied.
        t.apply(&StateChange::Alert(rec(
            AlertSeverity::Critical,
            AlertStatus::Firing,
        )));
        t.apply(&ack(AlertSeverity::Warning));
        assert!(t.alerts["k1"].ack.is_none());
    }
}

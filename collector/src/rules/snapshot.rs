//! The rules snapshot: the engine's state as a WAL record (`RecordKind::RulesSnapshot`), so that
//! a start replays the log from the snapshot instead of from LSN 1 and old segments can go.
//!
//! A snapshot holds what a replay of the WAL rebuilds: the alert table (alerts and their acks,
//! silences, the notification log), the built-in rules' state (heartbeats, delete and failed-login
//! windows, quiet log alerts), the user rules' windows and the engine's latest verdict per alert.
//! It holds nothing the config gives (rule definitions, thresholds, window spans: a restore takes
//! them from the config of the new start) and nothing measured on this process's clock (resolve
//! holds, group timers, `Builtins::started`): a start from a snapshot sets those as a start from
//! LSN 1 does.
//!
//! # Payload
//!
//! `LWRS`, the LSN the snapshot reflects (8 bytes, little-endian: the WAL trimmer reads it without
//! decompressing), then one zstd frame of the JSON object below. The state is mostly repeated
//! names and RFC 3339 times, which compress 5-10 times: a record holds at most 64 MiB, and a busy
//! engine's state as bare JSON could pass that, leaving the trimmer held at the previous
//! snapshot. Payloads written before (bare JSON, starting with `{`) are read as well.
//!
//! # The JSON object (version 1)
//!
//! One object:
//!
//! ```text
//! {"v": 1,                      format version; another one is refused, never guessed at
//!  "lsn": 41234,                the engine had applied every record <= lsn, no event after
//!  "alert_state_lsn": 41240,    the table also holds every AlertState record <= this (>= lsn)
//!  "taken_at": "2025-...Z",     for people reading the log; not used
//!  "table": {"alerts":   [{"record": AlertRecord, "ack": Ack?}, ...],
//!            "silences": [Silence, ...],
//!            "nflog":    [{"receiver", "group", "firing": [..], "resolved": [..], "at"?}, ...]},
//!  "desired": [Signal, ...],    the latest verdict per alert (its key is worked out again)
//!  "builtins": {"heartbeats": [{"host", "site", "last", "silent"}, ...],
//!               "deletes": [Count, ...], "auth": [Count, ...],
//!               "quiet": [{"signal": Signal, "last"}, ...],
//!               "relay_deferrals": [Count, ...]},   (absent in older snapshots: none)
//!  "user": [{"rule", "nth", "group_by": [..], "group": [..], "window": Window, "firing"}, ...]}
//!
//! Count  = {"key", "labels": {..}, "window": Window, "firing"}
//! Window = {"entries": [[event time, received time, n], ...], "newest": time?}
//! Signal = {"name", "labels": {..}, "firing": null | {"severity", "annotations": {..}}}
//! ```
//!
//! Times are RFC 3339 with the precision they had (a window counts by exact event time). Lists
//! are sorted, so one state always gives the same bytes.
//!
//! # Invariants
//!
//! - `lsn` is exact: the WAL trimmer reads only `lsn` and keeps every record after it, and a
//!   start replays records `lsn + 1 ..` on top of the snapshot.
//! - `lsn <= alert_state_lsn <` the LSN of the snapshot's own record. Between `lsn` and
//!   `alert_state_lsn` the engine may have written `AlertState` records of its own (they are
//!   already in `table`), so a replay from a snapshot skips `AlertState` records up to
//!   `alert_state_lsn` rather than applying them twice.
//! - The snapshot may know more than a replay would (what the engine's tick did: an
//!   `AgentSilent` it fired, a window that emptied; verdicts from outside the WAL such as
//!   `ReplicationDegraded`): it is the live state, and a replay from it goes on from there.
//! - A user rule's window names the rule by name, `nth` (its place among rules of that name)
//!   and `group_by`; a window whose rule the config no longer has that way is dropped.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use logwarden_core::wire::{Ack, Silence};
use serde::{Deserialize, Serialize};

use super::alert::Signal;
use super::builtin::{Builtins, BuiltinsState};
use super::record::AlertRecord;
use super::state::{AlertEntry, AlertTable, NflogEntry};
use super::user::{UserRules, UserWindowState};
use crate::wal::Record;

/// The version written in every snapshot.
pub const SNAPSHOT_VERSION: u32 = 1;
/// What a compressed payload starts with (module doc).
const MAGIC: &[u8; 4] = b"LWRS";
/// zstd's default level: a 50 MB state takes about a tenth of a second.
const ZSTD_LEVEL: i32 = 3;

/// Why a snapshot record was not used (the engine then replays the whole WAL).
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The payload is not JSON of the expected shape.
    #[error("rules snapshot is unreadable: {0}")]
    Unreadable(#[from] serde_json::Error),
    /// The compressed payload does not decompress, or says another LSN outside than inside.
    #[error("rules snapshot is unreadable: {0}")]
    Damaged(String),
    /// Written by a collector with another snapshot version.
    #[error("rules snapshot has version {0}; this collector reads version {SNAPSHOT_VERSION}")]
    Version(u32),
    /// The LSNs it names cannot be right for where it is in the log (a snapshot describes
    /// records before its own).
    #[error(
        "rules snapshot at LSN {record_lsn} claims lsn {lsn} and alert_state_lsn {alert_state_lsn}"
    )]
    Misplaced {
        record_lsn: u64,
        lsn: u64,
        alert_state_lsn: u64,
    },
}

/// A whole snapshot, as written and read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub v: u32,
    pub lsn: u64,
    pub alert_state_lsn: u64,
    pub taken_at: DateTime<Utc>,
    pub table: TableState,
    pub desired: Vec<Signal>,
    pub builtins: BuiltinsState,
    pub user: Vec<UserWindowState>,
}

/// The alert table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableState {
    pub alerts: Vec<AlertEntryState>,
    pub silences: Vec<Silence>,
    pub nflog: Vec<NflogState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEntryState {
    pub record: AlertRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<Ack>,
}

/// One entry of the notification log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NflogState {
    pub receiver: String,
    pub group: String,
    pub firing: BTreeSet<String>,
    pub resolved: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// What a restore did not carry over.
#[derive(Debug, Default, PartialEq)]
pub struct Restored {
    /// User-rule windows whose rule the config no longer has.
    pub dropped_user_windows: usize,
}

/// Takes a snapshot of the engine's parts. `lsn` and `alert_state_lsn`: see the module doc.
pub fn capture(
    lsn: u64,
    alert_state_lsn: u64,
    table: &AlertTable,
    desired: &HashMap<String, Signal>,
    builtins: &Builtins,
    user: &UserRules,
) -> Snapshot {
    let mut nflog: Vec<NflogState> = table
        .nflog
        .iter()
        .map(|((receiver, group), e)| NflogState {
            receiver: receiver.clone(),
            group: group.clone(),
            firing: e.firing.clone(),
            resolved: e.resolved.clone(),
            at: e.at,
        })
        .collect();
    nflog.sort_by(|a, b| (&a.receiver, &a.group).cmp(&(&b.receiver, &b.group)));
    let mut desired: Vec<(&String, &Signal)> = desired.iter().collect();
    desired.sort_by_key(|(k, _)| *k);
    Snapshot {
        v: SNAPSHOT_VERSION,
        lsn,
        alert_state_lsn: alert_state_lsn.max(lsn),
        taken_at: Utc::now(),
        table: TableState {
            alerts: table
                .alerts
                .values()
                .map(|e| AlertEntryState {
                    record: e.record.clone(),
                    ack: e.ack.clone(),
                })
                .collect(),
            silences: table.silences.values().cloned().collect(),
            nflog,
        },
        desired: desired.into_iter().map(|(_, s)| s.clone()).collect(),
        builtins: builtins.save(),
        user: user.save(),
    }
}

impl Snapshot {
    pub fn encode(&self) -> Vec<u8> {
        // Strings, numbers, maps with string keys: nothing here can fail to serialize.
        let json = serde_json::to_vec(self).expect("a rules snapshot always serializes");
        let mut out = Vec::with_capacity(MAGIC.len() + 8 + json.len() / 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.lsn.to_le_bytes());
        zstd::stream::copy_encode(&json[..], &mut out, ZSTD_LEVEL)
            .expect("compressing into a Vec cannot fail");
        out
    }

    /// Reads a payload, refusing another version before looking at the rest (its layout may
    /// be anything).
    pub fn decode(payload: &[u8]) -> Result<Snapshot, SnapshotError> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let (outside, json) = match payload.strip_prefix(MAGIC) {
            Some(rest) => {
                let lsn = header_lsn(rest)
                    .ok_or_else(|| SnapshotError::Damaged("it ends in its header".into()))?;
                let json = zstd::stream::decode_all(&rest[8..])
                    .map_err(|e| SnapshotError::Damaged(e.to_string()))?;
                (Some(lsn), std::borrow::Cow::Owned(json))
            }
            None => (None, std::borrow::Cow::Borrowed(payload)),
        };
        let Version { v } = serde_json::from_slice(&json)?;
        if v != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version(v));
        }
        let snap: Snapshot = serde_json::from_slice(&json)?;
        if outside.is_some_and(|lsn| lsn != snap.lsn) {
            return Err(SnapshotError::Damaged(format!(
                "its header says lsn {}, its state {}",
                outside.unwrap_or_default(),
                snap.lsn
            )));
        }
        Ok(snap)
    }

    /// The LSN a payload says it reflects, read from its header (or, written before snapshots
    /// were compressed, from its JSON): all the WAL trimmer needs.
    pub fn payload_lsn(payload: &[u8]) -> Option<u64> {
        match payload.strip_prefix(MAGIC) {
            Some(rest) => header_lsn(rest),
            None => {
                #[derive(Deserialize)]
                struct Lsn {
                    lsn: u64,
                }
                serde_json::from_slice::<Lsn>(payload).ok().map(|l| l.lsn)
            }
        }
    }

    /// Reads the payload of a `RulesSnapshot` record and checks its LSNs against the record's.
    pub fn from_record(rec: &Record) -> Result<Snapshot, SnapshotError> {
        let s = Snapshot::decode(&rec.payload)?;
        if s.lsn >= rec.lsn || s.alert_state_lsn < s.lsn || s.alert_state_lsn >= rec.lsn {
            return Err(SnapshotError::Misplaced {
                record_lsn: rec.lsn,
                lsn: s.lsn,
                alert_state_lsn: s.alert_state_lsn,
            });
        }
        Ok(s)
    }

    /// Puts the snapshot's state into the engine's parts, which must be fresh (as built for a
    /// start): what they held is replaced.
    pub fn restore(
        self,
        table: &mut AlertTable,
        desired: &mut HashMap<String, Signal>,
        builtins: &mut Builtins,
        user: &mut UserRules,
    ) -> Restored {
        *table = AlertTable {
            alerts: self
                .table
                .alerts
                .into_iter()
                .map(|e| {
                    let entry = AlertEntry {
                        record: e.record,
                        ack: e.ack,
                    };
                    (entry.record.key.clone(), entry)
                })
                .collect(),
            silences: self
                .table
                .silences
                .into_iter()
                .map(|s| (s.id.clone(), s))
                .collect(),
            nflog: self
                .table
                .nflog
                .into_iter()
                .map(|n| {
                    let entry = NflogEntry {
                        firing: n.firing,
                        resolved: n.resolved,
                        at: n.at,
                    };
                    ((n.receiver, n.group), entry)
                })
                .collect(),
            // Config, not state: the engine's rules stay.
            inhibit_rules: table.inhibit_rules.clone(),
            maintenance: table.maintenance.clone(),
        };
        *desired = self.desired.into_iter().map(|s| (s.key(), s)).collect();
        builtins.restore(self.builtins);
        Restored {
            dropped_user_windows: user.restore(self.user),
        }
    }
}

/// The LSN in a compressed payload's header (after the magic).
fn header_lsn(rest: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(rest.get(..8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::alert::labels;
    use crate::rules::builtin::BuiltinSettings;
    use crate::rules::state::StateChange;
    use crate::rules::user::{Query, UserRule};
    use crate::wal::RecordKind;
    use chrono::Duration;
    use logwarden_core::wire::{AlertSeverity, AlertStatus, Matcher};
    use logwarden_core::{Event, EventId, Kind};
    use serde_json::json;
    use std::collections::BTreeMap;

    fn oom_rule(name: &str, group_by: &[&str]) -> UserRule {
        UserRule {
            name: name.into(),
            query: Query::parse("oom").unwrap(),
            threshold: 3,
            window: Duration::seconds(60),
            group_by: group_by.iter().map(|g| g.to_string()).collect(),
            severity: AlertSeverity::Warning,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    fn event(kind: Kind, host: &str, message: &str, fields: serde_json::Value) -> Event {
        let now = Utc::now();
        let mut e = Event::log(EventId::new("a", 1), now, host, "phx", "/x", message.into());
        e.kind = kind;
        e.received = Some(now);
        e.fields = fields.as_object().cloned().unwrap_or_default().into();
        e
    }

    struct Parts {
        table: AlertTable,
        desired: HashMap<String, Signal>,
        builtins: Builtins,
        user: UserRules,
    }

    fn fresh(rules: Vec<UserRule>) -> Parts {
        Parts {
            table: AlertTable::default(),
            desired: HashMap::new(),
            builtins: Builtins::new(BuiltinSettings::default(), Utc::now()),
            user: UserRules::new(rules),
        }
    }

    impl Parts {
        fn feed(&mut self, ev: &Event) {
            let mut out = Vec::new();
            self.builtins.on_event(ev, &mut out);
            self.user.on_event(ev, &mut out);
            for s in out {
                self.desired.insert(s.key(), s);
            }
        }

        fn capture(&self, lsn: u64) -> Snapshot {
            capture(
                lsn,
                lsn,
                &self.table,
                &self.desired,
                &self.builtins,
                &self.user,
            )
        }

        fn restore(&mut self, s: Snapshot) -> Restored {
            s.restore(
                &mut self.table,
                &mut self.desired,
                &mut self.builtins,
                &mut self.user,
            )
        }
    }

    /// A firing alert with an ack, a silence, an nflog entry, a heartbeat, a partly filled
    /// failed-login window, a quiet log alert and a user-rule window.
    fn busy() -> Parts {
        let mut p = fresh(vec![oom_rule("Oom", &["host"])]);
        p.feed(&event(Kind::Heartbeat, "mbox1", "", json!({})));
        for _ in 0..7 {
            p.feed(&event(
                Kind::Log,
                "mta1",
                "SASL LOGIN authentication failed",
                json!({"auth": "failed", "ip": "203.0.113.9"}),
            ));
        }
        p.feed(&event(
            Kind::Log,
            "mta1",
            "mail system is down",
            json!({"service": "mta", "status": "down"}),
        ));
        p.feed(&event(Kind::Log, "mbox3", "OOM killer", json!({})));
        p.feed(&event(
            Kind::Health,
            "mbox3",
            "",
            json!({"check": "filesystem", "mount": "/opt", "used_percent": 97.0}),
        ));
        let key = crate::rules::alert_key(
            "FilesystemFull",
            &labels([("host", "mbox3"), ("mount", "/opt")]),
        );
        let now = Utc::now();
        let rec = AlertRecord {
            key: key.clone(),
            name: "FilesystemFull".into(),
            severity: AlertSeverity::Critical,
            status: AlertStatus::Firing,
            labels: labels([("host", "mbox3"), ("mount", "/opt")]),
            annotations: BTreeMap::new(),
            starts_at: now,
            ends_at: None,
            updated_at: now,
        };
        for c in [
            StateChange::Alert(rec),
            StateChange::Ack {
                key: key.clone(),
                ack: Ack {
                    author: "me".into(),
                    comment: "on it".into(),
                    at: now,
                    severity: AlertSeverity::Critical,
                },
            },
            StateChange::Silence(Silence {
                id: "s1".into(),
                matchers: vec![Matcher {
                    name: "host".into(),
                    value: "mbox9".into(),
                    negative: false,
                    regex: false,
                }],
                starts_at: now,
                ends_at: now + Duration::hours(2),
                author: "me".into(),
                comment: String::new(),
                created_at: now,
                every: None,
                next_window: None,
            }),
            StateChange::Notified {
                receiver: "ops".into(),
                group: "{}/{alertname=\"FilesystemFull\"}".into(),
                firing: BTreeSet::from([key.clone()]),
                resolved: BTreeSet::new(),
                at: now,
            },
        ] {
            p.table.apply(&c);
        }
        p
    }

    #[test]
    fn a_busy_state_round_trips_through_the_payload_and_back_into_the_engine() {
        let p = busy();
        let snap = p.capture(42);
        // The state really is busy: every part the doc promises is in there.
        assert_eq!(snap.table.alerts.len(), 1);
        assert!(snap.table.alerts[0].ack.is_some());
        assert_eq!((snap.table.silences.len(), snap.table.nflog.len()), (1, 1));
        assert_eq!(snap.builtins.heartbeats.len(), 1);
        assert_eq!(snap.builtins.auth.len(), 1);
        assert_eq!(snap.builtins.auth[0].window.entries.len(), 7);
        assert!(!snap.builtins.auth[0].firing, "7 of 20: not firing yet");
        assert_eq!(snap.builtins.quiet.len(), 1);
        assert_eq!(snap.user.len(), 1);
        // FilesystemFull and MailQueueDown (one OOM line is not a verdict yet).
        assert_eq!(snap.desired.len(), 2, "{:?}", snap.desired);

        let bytes = snap.encode();
        let back = Snapshot::decode(&bytes).unwrap();
        assert_eq!(back, snap);

        // Into a fresh engine: the same state comes out again.
        let mut q = fresh(vec![oom_rule("Oom", &["host"])]);
        assert_eq!(q.restore(back), Restored::default());
        let mut again = q.capture(42);
        again.taken_at = snap.taken_at;
        assert_eq!(again, snap);
        assert_eq!(q.desired, p.desired);
        assert_eq!(q.table.alerts, p.table.alerts);
        assert_eq!(q.table.nflog, p.table.nflog);

        // The trimmer reads `lsn` alone from the payload's header.
        assert_eq!(Snapshot::payload_lsn(&bytes), Some(42));
        let json = zstd::stream::decode_all(&bytes[12..]).unwrap();
        let top: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!((&top["v"], &top["lsn"]), (&1.into(), &42.into()));
        // Bare JSON, as written before snapshots were compressed, reads the same.
        assert_eq!(Snapshot::decode(&json).unwrap(), snap);
        assert_eq!(Snapshot::payload_lsn(&json), Some(42));
        // Damage is an error, not a panic: a cut frame, a cut header, a header that disagrees.
        for bad in [
            &bytes[..bytes.len() - 3],
            &bytes[..9],
            &[&bytes[..4], &43u64.to_le_bytes()[..], &bytes[12..]].concat()[..],
        ] {
            assert!(
                matches!(Snapshot::decode(bad), Err(SnapshotError::Damaged(_))),
                "{:?}",
                Snapshot::decode(bad).map(|_| ())
            );
        }
        assert_eq!(Snapshot::payload_lsn(&bytes[..9]), None);
    }

    /// Version 1 as released (`testdata/rules_snapshot_v1.json`, made from [`busy`]): a later
    /// build must still read it, or bump the version.
    #[test]
    fn the_released_version_1_payload_still_opens() {
        let payload = include_bytes!("testdata/rules_snapshot_v1.json");
        let rec = Record {
            lsn: 46,
            kind: RecordKind::RulesSnapshot,
            payload: payload.to_vec(),
        };
        let snap = Snapshot::from_record(&rec).unwrap();
        assert_eq!((snap.lsn, snap.alert_state_lsn), (42, 45));
        let mut p = fresh(vec![oom_rule("Oom", &["host"])]);
        assert_eq!(p.restore(snap), Restored::default());
        let (key, alert) = p.table.alerts.iter().next().unwrap();
        assert_eq!(
            (alert.record.name.as_str(), alert.record.status),
            ("FilesystemFull", AlertStatus::Firing)
        );
        assert_eq!(alert.ack.as_ref().map(|a| a.author.as_str()), Some("me"));
        assert!(p.table.silences.contains_key("s1"));
        assert!(p.table.nflog.values().any(|n| n.firing.contains(key)));
        assert_eq!(p.desired.len(), 2);
        let back = p.capture(42);
        assert_eq!(back.builtins.heartbeats[0].host, "mbox1");
        assert_eq!(back.builtins.auth[0].window.entries.len(), 7);
        assert_eq!(back.builtins.quiet.len(), 1);
        assert_eq!(back.user.len(), 1);
    }

    #[test]
    fn a_snapshot_of_another_version_or_out_of_place_is_refused() {
        let err = Snapshot::decode(br#"{"v": 2, "lsn": 5, "something": "else"}"#).unwrap_err();
        assert!(matches!(err, SnapshotError::Version(2)), "{err}");
        assert_eq!(
            err.to_string(),
            "rules snapshot has version 2; this collector reads version 1"
        );
        let err = Snapshot::decode(br#"{"lsn": 5}"#).unwrap_err();
        assert!(matches!(err, SnapshotError::Unreadable(_)), "{err}");
        let err = Snapshot::decode(b"{\"v\": 1, \"lsn\": 5}").unwrap_err();
        assert!(matches!(err, SnapshotError::Unreadable(_)), "{err}");

        // A snapshot names records before its own.
        let payload = busy().capture(10).encode();
        let at = |lsn| Record {
            lsn,
            kind: RecordKind::RulesSnapshot,
            payload: payload.clone(),
        };
        assert!(Snapshot::from_record(&at(11)).is_ok());
        let err = Snapshot::from_record(&at(10)).unwrap_err();
        assert!(matches!(err, SnapshotError::Misplaced { .. }), "{err}");
    }

    #[test]
    fn user_windows_follow_their_rule_by_name_and_are_dropped_when_it_is_gone_or_regrouped() {
        let mut p = fresh(vec![oom_rule("Oom", &["host"]), oom_rule("Other", &[])]);
        for _ in 0..2 {
            p.feed(&event(Kind::Log, "mbox3", "OOM killer", json!({})));
        }
        let snap = p.capture(7);
        assert_eq!(snap.user.len(), 2);

        // A rule added in front: "Oom" is now at index 1 and keeps its count, so the next
        // match is its third and fires it.
        let mut q = fresh(vec![
            oom_rule("New", &["host"]),
            oom_rule("Oom", &["host"]),
            oom_rule("Other", &[]),
        ]);
        assert_eq!(q.restore(snap.clone()).dropped_user_windows, 0);
        let mut out = Vec::new();
        q.user.on_event(
            &event(Kind::Log, "mbox3", "OOM killer", json!({})),
            &mut out,
        );
        let fired: Vec<&str> = out
            .iter()
            .filter(|s| s.firing.is_some())
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(fired, ["Oom", "Other"], "New has one match only");

        // "Oom" gone, "Other" now groups by host: both windows go.
        let mut r = fresh(vec![oom_rule("Other", &["host"])]);
        assert_eq!(r.restore(snap).dropped_user_windows, 2);
        assert!(r.capture(7).user.is_empty());
    }
}

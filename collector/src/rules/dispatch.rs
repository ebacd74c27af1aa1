//! When to notify: Alertmanager's grouping and notification-log logic, as pure functions of the
//! alert table.
//!
//! A receiver sees alerts in groups, per route that reaches it (by the route's `group_by`
//! labels, default `alertname` and `host`). When a group is flushed, [`decide`] compares what
//! would be sent with the notification log entry of (receiver, group), which holds what was last
//! sent:
//!
//! - an *entry* per firing alert is `id@severity` (plus `@acked` for receivers that are told
//!   about acks, PagerDuty): a new alert, or one that changed severity, is an entry the log has
//!   not seen, so it is sent; the same alert at the same severity is not sent again;
//! - a resolved alert is reported once, and only if the log shows it was sent firing;
//! - silenced and inhibited alerts are left out;
//! - the firing alerts are sent again after `repeat_interval`, unless every one is acked.
//!
//! Because the log is rebuilt from the WAL, a restarted collector makes the same decisions: no
//! second page for an alert already sent, and its resolve still goes out.
//!
//! The engine's group timers (`engine/delivery.rs`) call [`decide`] and hand what it says to
//! send to `crate::notify`, which only carries it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use logwarden_core::wire::{AlertStatus, AlertView};

use super::record::{AlertRecord, label};
use super::state::{AlertEntry, AlertTable};
use crate::notify::route::Endpoint;
use crate::notify::{Notification, Receiver};

/// The group of `rec` at a route endpoint: Alertmanager's group key text (the route's prefix,
/// then the group labels) and the group labels.
pub fn group_of(ep: &Endpoint, rec: &AlertRecord) -> (String, BTreeMap<String, String>) {
    let labels: BTreeMap<String, String> = ep
        .timing
        .group_by
        .iter()
        .filter_map(|l| label(rec, l).map(|v| (l.clone(), v.to_owned())))
        .collect();
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    (format!("{}:{{{}}}", ep.key_prefix, inner.join(",")), labels)
}

/// The notification-log entry of a firing alert for `receiver`.
pub fn entry(e: &AlertEntry, receiver: &Receiver) -> String {
    let mut s = format!("{}@{}", e.record.key, e.record.severity);
    if receiver.tracks_acks() && e.ack.is_some() {
        s.push_str("@acked");
    }
    s
}

fn key_of(entry: &str) -> &str {
    entry.split('@').next().unwrap_or(entry)
}

/// The outcome of flushing one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Whether the receiver is sent `notification` (false: only the log is updated, e.g. a
    /// resolve for a receiver with `send_resolved = false`).
    pub send: bool,
    pub notification: Notification,
    /// The new log entry once sent.
    pub firing: BTreeSet<String>,
    pub resolved: BTreeSet<String>,
}

/// Decides what a flush of `group` for `receiver`, reached through route endpoint `ep` by the
/// alerts `wants` says, sends, if anything.
pub fn decide(
    table: &AlertTable,
    receiver: &Receiver,
    ep: &Endpoint,
    wants: &dyn Fn(&AlertRecord) -> bool,
    group: &str,
    now: DateTime<Utc>,
    external_url: &str,
) -> Option<Decision> {
    let repeat_interval =
        chrono::Duration::from_std(ep.timing.repeat_interval).unwrap_or(chrono::Duration::hours(4));
    let prev = table
        .nflog
        .get(&(receiver.name.clone(), group.to_owned()))
        .cloned()
        .unwrap_or_default();
    let prev_keys: BTreeSet<&str> = prev.firing.iter().map(|e| key_of(e)).collect();
    let mut firing: Vec<(&AlertEntry, AlertView)> = Vec::new();
    let mut resolved: Vec<(&AlertEntry, AlertView)> = Vec::new();
    let mut group_labels = BTreeMap::new();
    for e in table.alerts.values() {
        if !wants(&e.record) {
            continue;
        }
        let (g, labels) = group_of(ep, &e.record);
        if g != group {
            continue;
        }
        group_labels = labels;
        let view = table.view(e, now);
        match e.record.status {
            AlertStatus::Firing if view.silenced_by.is_empty() && view.inhibited_by.is_none() => {
                firing.push((e, view))
            }
            AlertStatus::Resolved if prev_keys.contains(e.record.key.as_str()) => {
                resolved.push((e, view))
            }
            _ => {}
        }
    }
    let firing_entries: BTreeSet<String> = firing.iter().map(|(e, _)| entry(e, receiver)).collect();
    let resolved_keys: BTreeSet<String> =
        resolved.iter().map(|(e, _)| e.record.key.clone()).collect();
    let new = !firing_entries.is_subset(&prev.firing);
    let unacked = firing.iter().any(|(e, _)| e.ack.is_none());
    let repeat_due = unacked && prev.at.is_none_or(|at| now - at >= repeat_interval);
    if !new && !repeat_due && resolved_keys.is_empty() {
        return None;
    }
    let send = new || repeat_due || (receiver.send_resolved && !resolved_keys.is_empty());
    let mut alerts: Vec<AlertView> = firing.into_iter().map(|(_, v)| v).collect();
    if receiver.send_resolved {
        alerts.extend(resolved.into_iter().map(|(_, v)| v));
    }
    Some(Decision {
        send: send && !alerts.is_empty(),
        notification: Notification {
            receiver: receiver.name.clone(),
            group_key: group.to_owned(),
            group_labels,
            alerts,
            external_url: external_url.to_owned(),
        },
        firing: firing_entries,
        resolved: resolved_keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::ReceiverKind;
    use crate::rules::state::StateChange;
    use logwarden_core::wire::{Ack, AlertSeverity};

    fn receiver(kind: ReceiverKind) -> Receiver {
        Receiver {
            name: "ops".into(),
            kind,
            severities: vec![],
            matchers: vec![],
            send_resolved: true,
        }
    }

    fn webhook() -> Receiver {
        receiver(ReceiverKind::Webhook {
            url: "http://x".into(),
        })
    }

    fn rec(sev: AlertSeverity, status: AlertStatus) -> AlertRecord {
        let t = Utc::now();
        AlertRecord {
            key: "k1".into(),
            name: "RaidArrayDegraded".into(),
            severity: sev,
            status,
            labels: crate::rules::alert::labels([("host", "mbox3"), ("array", "md2")]),
            annotations: BTreeMap::new(),
            starts_at: t,
            ends_at: None,
            updated_at: t,
        }
    }

    fn endpoint() -> Endpoint {
        Endpoint {
            receiver: 0,
            key_prefix: "{}".into(),
            timing: crate::notify::route::Timing {
                group_by: vec!["alertname".into(), "host".into()],
                group_wait: std::time::Duration::ZERO,
                group_interval: std::time::Duration::from_secs(300),
                repeat_interval: std::time::Duration::from_secs(4 * 3600),
            },
        }
    }

    const G: &str = "{}:{alertname=\"RaidArrayDegraded\",host=\"mbox3\"}";

    fn flush(t: &mut AlertTable, r: &Receiver, now: DateTime<Utc>) -> Option<Decision> {
        let d = decide(t, r, &endpoint(), &|_| true, G, now, "http://c/")?;
        t.apply(&StateChange::Notified {
            receiver: r.name.clone(),
            group: G.into(),
            firing: d.firing.clone(),
            resolved: d.resolved.clone(),
            at: now,
        });
        Some(d)
    }

    #[test]
    fn the_group_key_is_alertmanagers() {
        let (g, l) = group_of(
            &endpoint(),
            &rec(AlertSeverity::Warning, AlertStatus::Firing),
        );
        assert_eq!(g, G);
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn one_page_per_alert_and_severity_then_the_resolve_once() {
        let mut t = AlertTable::default();
        let r = webhook();
        let now = Utc::now();
        assert_eq!(flush(&mut t, &r, now), None, "nothing to say");
        t.apply(&StateChange::Alert(rec(
            AlertSeverity::Warning,
            AlertStatus::Firing,
        )));
        let d = flush(&mut t, &r, now).unwrap();
        assert!(d.send);
        assert_eq!(d.notification.alerts.len(), 1);
        assert_eq!(
            flush(&mut t, &r, now),
            None,
            "the same alert is not sent twice"
        );
        t.apply(&StateChange::Alert(rec(
            AlertSeverity::Critical,
            AlertStatus::Firing,
        )));
        assert!(flush(&mut t, &r, now).unwrap().send, "escalation is sent");
        t.apply(&StateChange::Alert(rec(
            AlertSeverity::Critical,
            AlertStatus::Resolved,
        )));
        let d = flush(&mut t, &r, now).unwrap();
        assert!(d.send);
        assert_eq!(d.notification.status(), "resolved");
        assert_eq!(flush(&mut t, &r, now), None, "the resolve is sent once");
    }

    #[test]
    fn repeats_come_after_the_interval_unless_acked() {
        let mut t = AlertTable::default();
        let r = webhook();
        let now = Utc::now();
        t.apply(&StateChange::Alert(rec(
            AlertSeverity::Critical,
            AlertStatus::Firing,
        )));
        flush(&mut t, &r, now).unwrap();
        assert_eq!(flush(&mut t, &r, now + chrono::Duration::hours(3)), None);
        assert!(
            flush(&mut t, &r, now + chrono::Duration::hours(5))
                .unwrap()
                .send
        );
        t.apply(&StateChange::Ack {
            key: "k1".into(),
            ack: Ack {
                author: "me".into(),
                comment: String::new(),
                at: now,
                severity: AlertSeverity::Critical,
            },
        });
        assert_eq!(
            flush(&mut t, &r, now + chrono::Duration::hours(10)),
            None,
            "acked: no repeat"
        );
    }

    #[test]
    fn pagerduty_hears_of_an_ack_once() {
        let mut t = AlertTable::default();
        let r = receiver(ReceiverKind::PagerDuty {
            url: "http://x".into(),
            routing_key: "k".into(),
        });
        let now = Utc::now();
        t.apply(&StateChange::Alert(rec(
            AlertSeverity::Critical,
            AlertStatus::Firing,
        )));
        flush(&mut t, &r, now).unwrap();
        t.apply(&StateChange::Ack {
            key: "k1".into(),
            ack: Ack {
                author: "me".into(),
                comment: String::new(),
                at: now,
                severity: AlertSeverity::Critical,
            },
        });
        let d = flush(&mut t, &r, now).unwrap();
        assert!(d.send && d.notification.alerts[0].ack.is_some());
        assert_eq!(flush(&mut t, &r, now), None);
    }

    #[test]
    fn a_silenced_alert_is_not_sent_nor_its_resolve() {
        let mut t = AlertTable::default();
        let r = webhook();
        let now = Utc::now();
        t.apply(&StateChange::Silence(logwarden_core::wire::Silence {
            id: "s1".into(),
            matchers: vec!["array=md2".parse().unwrap()],
            starts_at: now - chrono::Duration::minutes(1),
            ends_at: now + chrono::Duration::hours(1),
            author: "me".into(),
            comment: String::new(),
            created_at: now,
            every: None,
            next_window: None,
        }));
        t.apply(&StateChange::Alert(rec(
            AlertSeverity::Critical,
            AlertStatus::Firing,
        )));
        assert_eq!(flush(&mut t, &r, now), None);
        t.apply(&StateChange::Alert(rec(
            AlertSeverity::Critical,
            AlertStatus::Resolved,
        )));
        assert_eq!(flush(&mut t, &r, now), None);
    }
}

//! The generic webhook: Alertmanager's webhook JSON (version 4), so that every receiver written
//! for Alertmanager (alertmanager-discord, prometheus-msteams, chat bridges, ticket systems)
//! accepts it unchanged. <https://prometheus.io/docs/alerting/latest/configuration/#webhook_config>

use std::collections::BTreeMap;

use logwarden_core::wire::{AlertStatus, AlertView};
use serde_json::{Value, json};

use super::error::NotifyError;
use super::notification::Notification;
use super::response::check_response;

/// Alertmanager writes this for "not ended yet".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The labels Alertmanager would show: ours plus `alertname` and `severity`.
pub fn full_labels(a: &AlertView) -> BTreeMap<String, String> {
    let mut l = a.labels.clone();
    l.insert("alertname".into(), a.name.clone());
    l.insert("severity".into(), a.severity.as_str().into());
    l
}

fn common(maps: Vec<BTreeMap<String, String>>) -> BTreeMap<String, String> {
    let mut it = maps.into_iter();
    let Some(mut first) = it.next() else {
        return BTreeMap::new();
    };
    for m in it {
        first.retain(|k, v| m.get(k) == Some(v));
    }
    first
}

/// The body of the POST.
pub fn body(n: &Notification) -> Value {
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| {
            let ends = match (a.status, a.ends_at) {
                (AlertStatus::Resolved, Some(t)) => {
                    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                }
                _ => ZERO_TIME.to_owned(),
            };
            json!({
                "status": a.status.as_str(),
                "labels": full_labels(a),
                "annotations": a.annotations,
                "startsAt": a.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "endsAt": ends,
                "generatorURL": format!("{}#alert={}", n.external_url, a.id),
                "fingerprint": a.id,
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": 0,
        "status": n.status(),
        "receiver": n.receiver,
        "groupLabels": n.group_labels,
        "commonLabels": common(n.alerts.iter().map(full_labels).collect()),
        "commonAnnotations": common(n.alerts.iter().map(|a| a.annotations.clone()).collect()),
        "externalURL": n.external_url,
        "alerts": alerts,
    })
}

pub async fn send(http: &reqwest::Client, url: &str, n: &Notification) -> Result<(), NotifyError> {
    check_response(url, http.post(url).json(&body(n)).send().await).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_support::{notification, view};
    use logwarden_core::wire::AlertSeverity;

    #[test]
    fn the_body_has_every_field_of_alertmanagers_webhook() {
        let n = notification(vec![view(
            "RaidArrayDegraded",
            AlertSeverity::Critical,
            AlertStatus::Firing,
        )]);
        let b = body(&n);
        for key in [
            "version",
            "groupKey",
            "truncatedAlerts",
            "status",
            "receiver",
            "groupLabels",
            "commonLabels",
            "commonAnnotations",
            "externalURL",
            "alerts",
        ] {
            assert!(b.get(key).is_some(), "missing {key}: {b}");
        }
        assert_eq!(b["version"], "4");
        assert_eq!(b["status"], "firing");
        let a = &b["alerts"][0];
        for key in [
            "status",
            "labels",
            "annotations",
            "startsAt",
            "endsAt",
            "generatorURL",
            "fingerprint",
        ] {
            assert!(a.get(key).is_some(), "missing alerts[].{key}: {a}");
        }
        assert_eq!(a["labels"]["alertname"], "RaidArrayDegraded");
        assert_eq!(a["labels"]["severity"], "critical");
        assert_eq!(a["endsAt"], ZERO_TIME);
        assert_eq!(b["commonLabels"]["host"], "mbox3");
        let n = notification(vec![view(
            "RaidArrayDegraded",
            AlertSeverity::Critical,
            AlertStatus::Resolved,
        )]);
        let b = body(&n);
        assert_eq!(b["status"], "resolved");
        assert_eq!(b["alerts"][0]["endsAt"], "2026-01-02T03:04:05.000Z");
    }
}

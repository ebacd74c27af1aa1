//! PagerDuty Events API v2: one event per alert, `dedup_key` = the alert's id, so PagerDuty's
//! incident follows the alert: `trigger` while it fires, `acknowledge` once acked here,
//! `resolve` when it resolves. <https://developer.pagerduty.com/docs/events-api-v2/trigger-events/>

use logwarden_core::wire::{AlertSeverity, AlertStatus, AlertView};
use serde_json::{Value, json};

use super::error::NotifyError;
use super::notification::Notification;
use super::response::check_response;

/// PagerDuty's own endpoint (the `url` key overrides it, for a proxy or a test).
pub const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// PagerDuty refuses summaries over 1024 characters.
const MAX_SUMMARY: usize = 1024;

pub fn event(routing_key: &str, a: &AlertView, external_url: &str) -> Value {
    let action = match (a.status, a.ack.is_some()) {
        (AlertStatus::Resolved, _) => "resolve",
        (AlertStatus::Firing, true) => "acknowledge",
        (AlertStatus::Firing, false) => "trigger",
    };
    if action != "trigger" {
        return json!({
            "routing_key": routing_key,
            "event_action": action,
            "dedup_key": a.id,
        });
    }
    let mut summary = a
        .annotations
        .get("summary")
        .cloned()
        .unwrap_or_else(|| a.name.clone());
    if summary.len() > MAX_SUMMARY {
        let mut cut = MAX_SUMMARY;
        while !summary.is_char_boundary(cut) {
            cut -= 1;
        }
        summary.truncate(cut);
    }
    let severity = match a.severity {
        AlertSeverity::Critical => "critical",
        AlertSeverity::Warning => "warning",
        AlertSeverity::Info => "info",
    };
    let source = a
        .labels
        .get("host")
        .or_else(|| a.labels.values().next())
        .cloned()
        .unwrap_or_else(|| "logwarden".into());
    let component = a
        .labels
        .get("array")
        .or_else(|| a.labels.get("device"))
        .or_else(|| a.labels.get("service"))
        .or_else(|| a.labels.get("mount"))
        .cloned();
    let mut payload = json!({
        "summary": summary,
        "source": source,
        "severity": severity,
        "timestamp": a.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "class": a.name,
        "custom_details": { "labels": a.labels, "annotations": a.annotations },
    });
    if let Some(c) = component {
        payload["component"] = json!(c);
    }
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": a.id,
        "payload": payload,
        "client": "logwarden",
        "client_url": external_url,
    });
    // Events API v2's `links`: the rule's runbook, one click from the incident.
    if let Some(url) = a.annotations.get("runbook_url").filter(|u| !u.is_empty()) {
        event["links"] = json!([{ "href": url, "text": "Runbook" }]);
    }
    event
}

pub async fn send(
    http: &reqwest::Client,
    url: &str,
    routing_key: &str,
    n: &Notification,
) -> Result<(), NotifyError> {
    for a in &n.alerts {
        let body = event(routing_key, a, &n.external_url);
        check_response(url, http.post(url).json(&body).send().await).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_support::view;

    #[test]
    fn trigger_acknowledge_and_resolve_carry_the_documented_fields() {
        let a = view(
            "RaidArrayDegraded",
            AlertSeverity::Critical,
            AlertStatus::Firing,
        );
        let e = event("R0UT1NG", &a, "http://x/");
        assert_eq!(e["event_action"], "trigger");
        assert_eq!(e["routing_key"], "R0UT1NG");
        assert_eq!(e["dedup_key"], a.id);
        let p = &e["payload"];
        for key in ["summary", "source", "severity", "timestamp"] {
            assert!(p[key].is_string(), "payload.{key} is required: {e}");
        }
        assert_eq!(p["severity"], "critical");
        assert_eq!(p["source"], "mbox3");
        assert_eq!(p["component"], "md2");

        let mut acked = a.clone();
        acked.ack = Some(logwarden_core::wire::Ack {
            author: "me".into(),
            comment: String::new(),
            at: a.starts_at,
            severity: a.severity,
        });
        assert_eq!(event("R", &acked, "")["event_action"], "acknowledge");
        let resolved = view(
            "RaidArrayDegraded",
            AlertSeverity::Critical,
            AlertStatus::Resolved,
        );
        let e = event("R", &resolved, "");
        assert_eq!(
            (e["event_action"].as_str(), e["dedup_key"].as_str()),
            (Some("resolve"), Some(a.id.as_str()))
        );
        assert!(e.get("payload").is_none());
    }
}

//! Slack incoming webhooks: `text` (what notifications and clients without attachments show)
//! and one attachment per alert with `color`, `title`, `text` and `fallback`.
//! <https://api.slack.com/messaging/webhooks>, <https://api.slack.com/reference/messaging/attachments>

use logwarden_core::wire::{AlertSeverity, AlertStatus};
use serde_json::{Value, json};

use super::error::NotifyError;
use super::notification::Notification;
use super::response::check_response;

pub fn body(n: &Notification) -> Value {
    let attachments: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| {
            let color = match (a.status, a.severity) {
                (AlertStatus::Resolved, _) => "good",
                (_, AlertSeverity::Critical) => "danger",
                (_, AlertSeverity::Warning) => "warning",
                (_, AlertSeverity::Info) => "#439FE0",
            };
            let summary = a.annotations.get("summary").cloned().unwrap_or_default();
            let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let title = format!(
                "{} {} ({})",
                a.status.as_str().to_uppercase(),
                a.name,
                a.severity
            );
            json!({
                "color": color,
                "title": title,
                "title_link": format!("{}#alert={}", n.external_url, a.id),
                "text": match a.annotations.get("runbook_url").filter(|u| !u.is_empty()) {
                    Some(url) => format!("{summary}\n{}\nid {}\n<{url}|Runbook>", labels.join(" "), a.id),
                    None => format!("{summary}\n{}\nid {}", labels.join(" "), a.id),
                },
                "fallback": format!("{title}: {summary}"),
                "ts": a.updated_at.timestamp(),
            })
        })
        .collect();
    json!({ "text": n.title(), "attachments": attachments })
}

pub async fn send(http: &reqwest::Client, url: &str, n: &Notification) -> Result<(), NotifyError> {
    check_response(url, http.post(url).json(&body(n)).send().await).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_support::{notification, view};

    #[test]
    fn the_body_has_slacks_documented_fields() {
        let n = notification(vec![view(
            "RaidArrayDegraded",
            AlertSeverity::Critical,
            AlertStatus::Firing,
        )]);
        let b = body(&n);
        assert_eq!(b["text"], "[FIRING:1] RaidArrayDegraded host=mbox3");
        let a = &b["attachments"][0];
        assert_eq!(a["color"], "danger");
        assert!(
            a["text"].as_str().unwrap().contains("0 redundancy left"),
            "{a}"
        );
        assert!(a["fallback"].is_string() && a["title"].is_string() && a["ts"].is_i64());
    }
}

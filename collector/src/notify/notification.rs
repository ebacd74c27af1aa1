//! What one receiver is sent about one group of alerts ([`Notification`]): the group's key and
//! labels, its alerts and where a person can see them. A leaf, which every transport reads.

use std::collections::BTreeMap;

use logwarden_core::wire::AlertView;

/// What one receiver is sent about one group of alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub receiver: String,
    /// The group's key (`{}:{alertname="X",host="y"}`, as Alertmanager writes it).
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    /// Firing alerts of the group, then the resolved ones being reported.
    pub alerts: Vec<AlertView>,
    /// Where a person can see the alerts (the collector's page).
    pub external_url: String,
}

impl Notification {
    pub fn firing(&self) -> impl Iterator<Item = &AlertView> {
        self.alerts
            .iter()
            .filter(|a| a.status == logwarden_core::wire::AlertStatus::Firing)
    }

    /// `firing` when any alert fires, else `resolved`.
    pub fn status(&self) -> &'static str {
        if self.firing().next().is_some() {
            "firing"
        } else {
            "resolved"
        }
    }

    /// One line: `[FIRING:2] RaidArrayDegraded host=mbox3`.
    pub fn title(&self) -> String {
        let n = self.firing().count();
        let state = if n > 0 {
            format!("[FIRING:{n}]")
        } else {
            "[RESOLVED]".to_owned()
        };
        let labels: Vec<String> = self
            .group_labels
            .iter()
            .filter(|(k, _)| *k != "alertname")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let name = self
            .group_labels
            .get("alertname")
            .cloned()
            .or_else(|| self.alerts.first().map(|a| a.name.clone()))
            .unwrap_or_default();
        format!("{state} {name} {}", labels.join(" "))
            .trim_end()
            .to_owned()
    }
}

//! One alert as the WAL keeps it ([`AlertRecord`]) and its labels as matchers see them
//! ([`label`]). A leaf: the table (`state`), silences, inhibition, maintenance windows and the
//! delivery decisions all read records, and none of them is needed to describe one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use logwarden_core::wire::{AlertSeverity, AlertStatus};
use serde::{Deserialize, Serialize};

/// One alert as the WAL keeps it: enough to show it and to notify about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// The dedup key (see [`crate::rules::alert_key`]).
    pub key: String,
    pub name: String,
    pub severity: AlertSeverity,
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// The value of label `name` of an alert, counting `alertname` and `severity`.
pub fn label<'a>(rec: &'a AlertRecord, name: &str) -> Option<&'a str> {
    match name {
        "alertname" => Some(&rec.name),
        "severity" => Some(rec.severity.as_str()),
        other => rec.labels.get(other).map(String::as_str),
    }
}

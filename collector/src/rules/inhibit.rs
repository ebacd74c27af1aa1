//! Inhibition: a firing alert that explains others holds them back (they stay listed, marked,
//! but are not notified). The built-in rules:
//!
//! - a host's `AgentSilent` holds back every other alert of that host (the agent's last reports
//!   are stale; the silence is the news);
//! - `RaidArrayFailed` holds back `RaidArrayDegraded` of the same host and array.

use logwarden_core::wire::AlertStatus;

use super::state::{AlertRecord, AlertTable};

/// (source alert, target alert or `None` for every other alert, labels that must be equal).
const RULES: &[(&str, Option<&str>, &[&str])] = &[
    ("AgentSilent", None, &["host"]),
    (
        "RaidArrayFailed",
        Some("RaidArrayDegraded"),
        &["host", "array"],
    ),
];

/// The key of a firing alert that inhibits `rec`, if any.
pub fn inhibited_by(table: &AlertTable, rec: &AlertRecord) -> Option<String> {
    for (source, target, equal) in RULES {
        let applies = match target {
            Some(t) => rec.name == *t,
            None => rec.name != *source,
        };
        if !applies {
            continue;
        }
        let found = table.alerts.values().find(|e| {
            let s = &e.record;
            s.name == *source
                && s.status == AlertStatus::Firing
                && equal.iter().all(|l| s.labels.get(*l) == rec.labels.get(*l))
        });
        if let Some(e) = found {
            return Some(e.record.key.clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::state::StateChange;
    use chrono::Utc;
    use logwarden_core::wire::AlertSeverity;
    use std::collections::BTreeMap;

    fn rec(name: &str, key: &str, labels: &[(&str, &str)], status: AlertStatus) -> AlertRecord {
        let t = Utc::now();
        AlertRecord {
            key: key.into(),
            name: name.into(),
            severity: AlertSeverity::Critical,
            status,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            annotations: BTreeMap::new(),
            starts_at: t,
            ends_at: None,
            updated_at: t,
        }
    }

    #[test]
    fn agent_silent_holds_back_its_hosts_alerts_and_a_failed_array_its_degraded_alert() {
        let mut t = AlertTable::default();
        let deg = rec(
            "RaidArrayDegraded",
            "d",
            &[("host", "a"), ("array", "md0")],
            AlertStatus::Firing,
        );
        let other = rec(
            "RaidArrayDegraded",
            "o",
            &[("host", "a"), ("array", "md1")],
            AlertStatus::Firing,
        );
        t.apply(&StateChange::Alert(rec(
            "RaidArrayFailed",
            "f",
            &[("host", "a"), ("array", "md0")],
            AlertStatus::Firing,
        )));
        assert_eq!(inhibited_by(&t, &deg).as_deref(), Some("f"));
        assert_eq!(inhibited_by(&t, &other), None, "another array");
        let silent = rec("AgentSilent", "s", &[("host", "a")], AlertStatus::Firing);
        t.apply(&StateChange::Alert(silent.clone()));
        assert_eq!(inhibited_by(&t, &other).as_deref(), Some("s"));
        assert_eq!(inhibited_by(&t, &silent), None, "not itself");
        t.apply(&StateChange::Alert(rec(
            "AgentSilent",
            "s",
            &[("host", "a")],
            AlertStatus::Resolved,
        )));
        assert_eq!(
            inhibited_by(&t, &other),
            None,
            "a resolved source inhibits nothing"
        );
    }
}

//! Inhibition: a firing alert that explains others holds them back (they stay listed, marked,
//! but are not notified). Alertmanager's rule: while an alert matching a rule's `source`
//! matchers fires, alerts matching its `target` matchers whose `equal` labels have the same
//! values (both missing counts as equal) are held back; an alert never inhibits itself. The
//! built-in rules always apply:
//!
//! - a host's `AgentSilent` holds back every other alert of that host (the agent's last reports
//!   are stale; the silence is the news);
//! - `RaidArrayFailed` holds back `RaidArrayDegraded` of the same host and array.
//!
//! `[[alerts.inhibit_rules]]` adds more (`source_matchers`, `target_matchers`, `equal`, with the
//! routes' matcher syntax), and a reload replaces those.

use std::sync::Arc;

use logwarden_core::wire::AlertStatus;

use super::record::{AlertRecord, label};
use crate::notify::route::RouteMatcher;

/// One inhibition rule.
#[derive(Debug, Clone, PartialEq)]
pub struct InhibitRule {
    pub source: Vec<RouteMatcher>,
    pub target: Vec<RouteMatcher>,
    pub equal: Vec<String>,
}

impl InhibitRule {
    fn is_source(&self, rec: &AlertRecord) -> bool {
        self.source.iter().all(|m| m.matches(label(rec, &m.name)))
    }

    fn is_target(&self, rec: &AlertRecord) -> bool {
        self.target.iter().all(|m| m.matches(label(rec, &m.name)))
    }
}

/// The rules in force: the built-ins, then the configured ones. Cheap to clone.
#[derive(Debug, Clone, PartialEq)]
pub struct InhibitRules(Arc<Vec<InhibitRule>>);

impl Default for InhibitRules {
    fn default() -> InhibitRules {
        InhibitRules::with(Vec::new())
    }
}

fn matcher(s: &str) -> RouteMatcher {
    s.parse().expect("a built-in matcher parses")
}

impl InhibitRules {
    /// The built-in rules plus `configured`.
    pub fn with(configured: Vec<InhibitRule>) -> InhibitRules {
        let mut rules = vec![
            InhibitRule {
                source: vec![matcher("alertname=AgentSilent")],
                target: vec![matcher("alertname!=AgentSilent")],
                equal: vec!["host".into()],
            },
            InhibitRule {
                source: vec![matcher("alertname=RaidArrayFailed")],
                target: vec![matcher("alertname=RaidArrayDegraded")],
                equal: vec!["host".into(), "array".into()],
            },
        ];
        rules.extend(configured);
        InhibitRules(Arc::new(rules))
    }

    /// Whether a change of `rec` may change what is held back (it can be a source).
    pub fn is_source(&self, rec: &AlertRecord) -> bool {
        self.0.iter().any(|r| r.is_source(rec))
    }
}

/// `[[alerts.inhibit_rules]]` as written (matchers keep their place for errors).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    pub source_matchers: Vec<toml::Spanned<String>>,
    pub target_matchers: Vec<toml::Spanned<String>>,
    #[serde(default)]
    pub equal: Vec<String>,
}

impl InhibitRuleConfig {
    /// The rule, or the first matcher that does not parse as `config file F, line L, ...`.
    pub fn to_rule(&self, path: &std::path::Path, text: &str) -> Result<InhibitRule, String> {
        let parse = |ms: &[toml::Spanned<String>], side: &str| {
            if ms.is_empty() {
                return Err(logwarden_core::config_text::describe(
                    path,
                    text,
                    &format!("[[alerts.inhibit_rules]] needs {side} (one matcher at least)"),
                    None,
                ));
            }
            ms.iter()
                .map(|m| {
                    m.get_ref().parse::<RouteMatcher>().map_err(|e| {
                        logwarden_core::config_text::describe(path, text, &e, Some(m.span()))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(InhibitRule {
            source: parse(&self.source_matchers, "source_matchers")?,
            target: parse(&self.target_matchers, "target_matchers")?,
            equal: self.equal.clone(),
        })
    }
}

impl InhibitRules {
    /// The key of an alert of `alerts` (the whole table) that inhibits `rec`, if any.
    pub fn inhibitor<'a>(
        &self,
        alerts: impl Iterator<Item = &'a AlertRecord> + Clone,
        rec: &AlertRecord,
    ) -> Option<String> {
        for rule in self.0.iter() {
            if !rule.is_target(rec) {
                continue;
            }
            let found = alerts.clone().find(|s| {
                s.key != rec.key
                    && s.status == AlertStatus::Firing
                    && rule.is_source(s)
                    && rule.equal.iter().all(|l| label(s, l) == label(rec, l))
            });
            if let Some(s) = found {
                return Some(s.key.clone());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::state::{AlertTable, StateChange};
    use chrono::Utc;
    use logwarden_core::wire::AlertSeverity;
    use std::collections::BTreeMap;

    fn inhibited_by(t: &AlertTable, rec: &AlertRecord) -> Option<String> {
        t.inhibited_by(rec)
    }

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

    #[test]
    fn configured_rules_add_to_the_built_ins() {
        let mut t = AlertTable {
            inhibit_rules: InhibitRules::with(vec![InhibitRule {
                source: vec![matcher("alertname=SiteDown")],
                target: vec![matcher("severity=~\"warning|info\"")],
                equal: vec!["site".into()],
            }]),
            ..AlertTable::default()
        };
        let mut warn = rec(
            "FilesystemFull",
            "w",
            &[("site", "phx"), ("host", "m1")],
            AlertStatus::Firing,
        );
        warn.severity = AlertSeverity::Warning;
        let crit = rec(
            "FilesystemFull",
            "c",
            &[("site", "phx"), ("host", "m1")],
            AlertStatus::Firing,
        );
        let elsewhere = {
            let mut r = rec(
                "FilesystemFull",
                "e",
                &[("site", "ams")],
                AlertStatus::Firing,
            );
            r.severity = AlertSeverity::Warning;
            r
        };
        assert_eq!(inhibited_by(&t, &warn), None);
        t.apply(&StateChange::Alert(rec(
            "SiteDown",
            "s",
            &[("site", "phx")],
            AlertStatus::Firing,
        )));
        assert_eq!(inhibited_by(&t, &warn).as_deref(), Some("s"));
        assert_eq!(
            inhibited_by(&t, &crit),
            None,
            "target matchers: critical is not held back"
        );
        assert_eq!(inhibited_by(&t, &elsewhere), None, "equal: another site");
        // The built-ins still hold.
        t.apply(&StateChange::Alert(rec(
            "AgentSilent",
            "a",
            &[("host", "m1")],
            AlertStatus::Firing,
        )));
        assert_eq!(inhibited_by(&t, &crit).as_deref(), Some("a"));
    }

    #[test]
    fn inhibit_rules_come_from_the_config_and_a_bad_matcher_names_its_line() {
        let parse = |t: &str| crate::config::parse(std::path::Path::new("c.toml"), t);
        let file = parse(
            "[[alerts.inhibit_rules]]\nsource_matchers = [\"alertname=SiteDown\"]\ntarget_matchers = ['severity=~\"warning|info\"']\nequal = [\"site\"]\n",
        )
        .unwrap();
        let rules = &file.alerts.inhibit_checked;
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].equal, ["site"]);
        let e = parse(
            "[[alerts.inhibit_rules]]\nsource_matchers = [\"alertname=SiteDown\"]\ntarget_matchers = ['severity=~\"(warning\"']\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("c.toml, line 3") && e.contains("regex does not compile"),
            "{e}"
        );
        let e =
            parse("[[alerts.inhibit_rules]]\nsource_matchers = []\ntarget_matchers = [\"a=b\"]\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("needs source_matchers"), "{e}");
    }
}

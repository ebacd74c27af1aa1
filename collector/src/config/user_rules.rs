//! `[[alerts.rules]]`: the user's rules (a query, a threshold over a window), checked into
//! [`UserRule`]s.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use logwarden_core::config_duration::{ConfigDuration, DurationKey};
use serde::Deserialize;

use crate::rules::user::{Query, UserRule};

/// `[[alerts.rules]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    pub query: toml::Spanned<String>,
    #[serde(default = "one")]
    pub threshold: u64,
    /// The window the threshold counts over (`"5m"`, the default).
    pub window: Option<ConfigDuration>,
    /// Deprecated: `window` in seconds.
    pub window_s: Option<f64>,
    #[serde(default)]
    pub group_by: Vec<String>,
    #[serde(default = "warning")]
    pub severity: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Put into the annotations as `runbook_url` (templates allowed, rules::template).
    pub runbook_url: Option<String>,
}

fn one() -> u64 {
    1
}
fn warning() -> String {
    "warning".into()
}

impl RuleConfig {
    /// The duration key, with its deprecated spelling in seconds.
    pub(super) fn duration_keys(&self) -> [DurationKey<'_>; 1] {
        [DurationKey::new(
            "[[alerts.rules]]",
            "window",
            self.window,
            "window_s",
            self.window_s,
        )]
    }
}

pub(super) fn build(r: RuleConfig) -> anyhow::Result<UserRule> {
    let query = Query::parse(r.query.get_ref())
        .map_err(|err| anyhow::anyhow!("rule {:?}: {err}", r.name))?;
    let severity = logwarden_core::wire::AlertSeverity::parse(&r.severity).with_context(|| {
        format!(
            "rule {:?}: severity {:?} is not info, warning or critical",
            r.name, r.severity
        )
    })?;
    if r.name.trim().is_empty() || r.threshold == 0 {
        bail!(
            "rule {:?}: a name and a threshold above zero are needed",
            r.name
        );
    }
    let [window] = r.duration_keys();
    let window = window.chrono_or(chrono::Duration::minutes(5))?;
    let mut annotations = r.annotations;
    if let Some(url) = r.runbook_url {
        annotations.insert("runbook_url".into(), url);
    }
    for (k, t) in &annotations {
        crate::rules::template::check(t).map_err(|err| {
            anyhow::anyhow!("rule {:?}: annotation {k:?}: template {t:?}: {err}", r.name)
        })?;
    }
    Ok(UserRule {
        name: r.name,
        query,
        threshold: r.threshold,
        window,
        group_by: r.group_by,
        severity,
        labels: r.labels,
        annotations,
    })
}

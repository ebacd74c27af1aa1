//! `[[alerts.rules]]`: the user's rules (a query, a threshold over a window), checked into
//! [`UserRule`]s.

use std::collections::BTreeMap;
use std::path::Path;

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
    /// Templates (rules::template), with where each is written (for its errors' line).
    #[serde(default)]
    pub annotations: BTreeMap<String, toml::Spanned<String>>,
    /// Put into the annotations as `runbook_url` (templates allowed, rules::template).
    pub runbook_url: Option<toml::Spanned<String>>,
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

/// What serde cannot see in the rules, named by file and the line of its key: a query that does
/// not parse, an annotation (or `runbook_url`) template that does not read (`config check` and
/// a reload refuse the file; a reload keeps the running config).
pub(super) fn check_texts(rules: &[RuleConfig], path: &Path, text: &str) -> anyhow::Result<()> {
    let at = |span: std::ops::Range<usize>| {
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        format!("config file {}, line {line}", path.display())
    };
    for rule in rules {
        if let Err(e) = Query::parse(rule.query.get_ref()) {
            bail!(
                "{}: rule {:?}: query {:?}: {e}",
                at(rule.query.span()),
                rule.name,
                rule.query.get_ref()
            );
        }
        let templates = rule.annotations.iter().map(|(k, t)| (k.as_str(), t));
        let runbook = rule.runbook_url.iter().map(|t| ("runbook_url", t));
        for (key, t) in templates.chain(runbook) {
            if let Err(e) = crate::rules::template::check(t.get_ref()) {
                bail!(
                    "{}: rule {:?}: annotation {key:?}: template {:?}: {e}",
                    at(t.span()),
                    rule.name,
                    t.get_ref()
                );
            }
        }
    }
    Ok(())
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
    // The templates were checked with their lines ([`check_texts`]).
    let mut annotations: BTreeMap<String, String> = r
        .annotations
        .into_iter()
        .map(|(k, t)| (k, t.into_inner()))
        .collect();
    if let Some(url) = r.runbook_url {
        annotations.insert("runbook_url".into(), url.into_inner());
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

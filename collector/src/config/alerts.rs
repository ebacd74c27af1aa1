//! `[alerts]`: the rules engine's thresholds and timers, its receivers, routes, inhibitions,
//! maintenance windows and user rules, checked into [`EngineSettings`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use super::receivers::{ReceiverConfig, receiver};
use super::routes::route_tree;
use crate::notify::route::Route;
use crate::notify::route_config::RouteConfig;
use crate::notify::{Receiver, ReceiverKind};
use crate::rules::EngineSettings;
use crate::rules::user::{Query, UserRule};

/// `[alerts]`: the rules engine, its thresholds and timers, receivers and user rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub group_by: Vec<String>,
    pub group_wait_s: f64,
    pub group_interval_s: f64,
    pub repeat_interval_s: f64,
    pub resolve_hold_s: f64,
    pub external_url: Option<String>,
    /// Where docs/alerts.md is served; built-in alerts link to their section.
    pub runbook_base_url: Option<String>,
    pub admin_tokens: Vec<String>,
    pub fs_warn_percent: f64,
    pub fs_crit_percent: f64,
    pub heartbeat_interval_s: f64,
    pub silent_intervals: u32,
    pub mass_delete_per_minute: u64,
    pub auth_failures: u64,
    pub auth_window_s: f64,
    pub log_quiet_s: f64,
    pub deferred_after_s: f64,
    pub receivers: Vec<ReceiverConfig>,
    /// The routing tree (notify::route_config); none: each receiver filters for itself.
    pub route: Option<RouteConfig>,
    /// Beside the built-in ones (rules::inhibit). Checked with the file's text in `parse`.
    pub inhibit_rules: Vec<crate::rules::inhibit::InhibitRuleConfig>,
    /// Recurring maintenance windows (rules::maintenance).
    pub maintenance: Vec<crate::rules::maintenance::WindowConfig>,
    /// The rules `parse` built from `inhibit_rules`.
    #[serde(skip)]
    pub inhibit_checked: Vec<crate::rules::inhibit::InhibitRule>,
    pub rules: Vec<RuleConfig>,
}

impl Default for AlertsConfig {
    fn default() -> AlertsConfig {
        let e = EngineSettings::default();
        let b = &e.builtin;
        AlertsConfig {
            group_by: e.group_by.clone(),
            group_wait_s: e.group_wait.as_secs_f64(),
            group_interval_s: e.group_interval.as_secs_f64(),
            repeat_interval_s: e.repeat_interval.as_secs_f64(),
            resolve_hold_s: e.resolve_hold.as_secs_f64(),
            external_url: None,
            runbook_base_url: None,
            admin_tokens: Vec::new(),
            fs_warn_percent: b.fs_warn_percent,
            fs_crit_percent: b.fs_crit_percent,
            heartbeat_interval_s: b.heartbeat_interval.num_milliseconds() as f64 / 1000.0,
            silent_intervals: b.silent_intervals,
            mass_delete_per_minute: b.mass_delete_per_minute,
            auth_failures: b.auth_failures,
            auth_window_s: b.auth_window.num_seconds() as f64,
            log_quiet_s: b.log_quiet.num_seconds() as f64,
            deferred_after_s: b.deferred_after.num_seconds() as f64,
            receivers: Vec::new(),
            route: None,
            inhibit_rules: Vec::new(),
            inhibit_checked: Vec::new(),
            maintenance: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// `[[alerts.rules]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    pub query: toml::Spanned<String>,
    #[serde(default = "one")]
    pub threshold: u64,
    #[serde(default = "five_minutes")]
    pub window_s: f64,
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
fn five_minutes() -> f64 {
    300.0
}
fn warning() -> String {
    "warning".into()
}

pub(super) fn secs(what: &str, v: f64) -> anyhow::Result<Duration> {
    if !v.is_finite() || v < 0.0 {
        bail!("[alerts] {what} must be a number of seconds, 0 or more");
    }
    Ok(Duration::from_secs_f64(v))
}

pub(super) fn build(
    a: AlertsConfig,
    webhooks: Vec<String>,
    listen: SocketAddr,
) -> anyhow::Result<EngineSettings> {
    let mut e = EngineSettings::default();
    if a.fs_warn_percent > a.fs_crit_percent {
        bail!("[alerts] fs_warn_percent must not be above fs_crit_percent");
    }
    if a.silent_intervals == 0 || a.mass_delete_per_minute == 0 || a.auth_failures == 0 {
        bail!(
            "[alerts] silent_intervals, mass_delete_per_minute and auth_failures must be above zero"
        );
    }
    let chrono = |what: &str, v: f64| -> anyhow::Result<chrono::Duration> {
        Ok(chrono::Duration::from_std(secs(what, v)?)?)
    };
    e.builtin.fs_warn_percent = a.fs_warn_percent;
    e.builtin.fs_crit_percent = a.fs_crit_percent;
    e.builtin.heartbeat_interval = chrono("heartbeat_interval_s", a.heartbeat_interval_s)?;
    e.builtin.silent_intervals = a.silent_intervals;
    e.builtin.mass_delete_per_minute = a.mass_delete_per_minute;
    e.builtin.auth_failures = a.auth_failures;
    e.builtin.auth_window = chrono("auth_window_s", a.auth_window_s)?;
    e.builtin.log_quiet = chrono("log_quiet_s", a.log_quiet_s)?;
    e.builtin.deferred_after = chrono("deferred_after_s", a.deferred_after_s)?;
    e.group_by = a.group_by;
    e.group_wait = secs("group_wait_s", a.group_wait_s)?;
    e.group_interval = secs("group_interval_s", a.group_interval_s)?;
    e.repeat_interval = secs("repeat_interval_s", a.repeat_interval_s)?;
    e.resolve_hold = secs("resolve_hold_s", a.resolve_hold_s)?;
    e.external_url = a
        .external_url
        .unwrap_or_else(|| format!("http://{listen}/"));
    let mut names = std::collections::HashSet::new();
    for r in a.receivers {
        if !names.insert(r.name.clone()) {
            bail!("[[alerts.receivers]] name {:?} is used twice", r.name);
        }
        e.receivers.push(receiver(r)?);
    }
    let mut flag_routes = Vec::new();
    for (i, url) in webhooks.into_iter().enumerate() {
        let name = format!("webhook-{}", i + 1);
        flag_routes.push(Route {
            receiver: Some(name.clone()),
            continue_: true,
            ..Route::default()
        });
        e.receivers.push(Receiver {
            name,
            kind: ReceiverKind::Webhook { url },
            severities: vec![],
            matchers: vec![],
            send_resolved: true,
        });
    }
    e.routes = Some(route_tree(a.route.as_ref(), flag_routes, &e)?);
    e.inhibit_rules = a.inhibit_checked;
    e.runbook_base_url = a.runbook_base_url.filter(|u| !u.trim().is_empty());
    let mut window_names = std::collections::HashSet::new();
    for w in &a.maintenance {
        if !window_names.insert(w.name.clone()) {
            bail!("[[alerts.maintenance]] name {:?} is used twice", w.name);
        }
        e.maintenance.push(
            w.to_window()
                .map_err(|err| anyhow::anyhow!("[[alerts.maintenance]] {err}"))?,
        );
    }
    for r in a.rules {
        let query = Query::parse(r.query.get_ref())
            .map_err(|err| anyhow::anyhow!("rule {:?}: {err}", r.name))?;
        let severity =
            logwarden_core::wire::AlertSeverity::parse(&r.severity).with_context(|| {
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
        let mut annotations = r.annotations;
        if let Some(url) = r.runbook_url {
            annotations.insert("runbook_url".into(), url);
        }
        for (k, t) in &annotations {
            crate::rules::template::check(t).map_err(|err| {
                anyhow::anyhow!("rule {:?}: annotation {k:?}: template {t:?}: {err}", r.name)
            })?;
        }
        e.user_rules.push(UserRule {
            name: r.name,
            query,
            threshold: r.threshold,
            window: chrono("window_s", r.window_s)?,
            group_by: r.group_by,
            severity,
            labels: r.labels,
            annotations,
        });
    }
    Ok(e)
}

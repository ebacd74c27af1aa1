//! `[alerts]`: the rules engine's thresholds and timers, its receivers, routes, inhibitions,
//! maintenance windows and user rules, checked into [`EngineSettings`].

use std::net::SocketAddr;

use anyhow::bail;
use logwarden_core::config_duration::{ConfigDuration, DurationKey};
use serde::Deserialize;

use super::receivers::{ReceiverConfig, receiver};
use super::routes::route_tree;
use super::user_rules::{self, RuleConfig};
use crate::notify::route::Route;
use crate::notify::route_config::RouteConfig;
use crate::notify::{Receiver, ReceiverKind};
use crate::rules::EngineSettings;

/// `[alerts]`: the rules engine, its thresholds and timers, receivers and user rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub group_by: Vec<String>,
    pub group_wait: Option<ConfigDuration>,
    pub group_interval: Option<ConfigDuration>,
    pub repeat_interval: Option<ConfigDuration>,
    pub resolve_hold: Option<ConfigDuration>,
    pub external_url: Option<String>,
    /// Where docs/alerts.md is served; built-in alerts link to their section.
    pub runbook_base_url: Option<String>,
    pub admin_tokens: Vec<String>,
    pub fs_warn_percent: f64,
    pub fs_crit_percent: f64,
    pub heartbeat_interval: Option<ConfigDuration>,
    pub silent_intervals: u32,
    pub mass_delete_per_minute: u64,
    pub auth_failures: u64,
    pub auth_window: Option<ConfigDuration>,
    pub log_quiet: Option<ConfigDuration>,
    pub deferred_after: Option<ConfigDuration>,
    /// `MailRelayDeferring`: deferrals by one host to one relay within the window.
    pub relay_deferrals: u64,
    pub relay_deferral_window: Option<ConfigDuration>,
    /// Deprecated: the durations above in seconds (`group_wait_s`, ...).
    pub group_wait_s: Option<f64>,
    pub group_interval_s: Option<f64>,
    pub repeat_interval_s: Option<f64>,
    pub resolve_hold_s: Option<f64>,
    pub heartbeat_interval_s: Option<f64>,
    pub auth_window_s: Option<f64>,
    pub log_quiet_s: Option<f64>,
    pub deferred_after_s: Option<f64>,
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
            group_wait: None,
            group_interval: None,
            repeat_interval: None,
            resolve_hold: None,
            external_url: None,
            runbook_base_url: None,
            admin_tokens: Vec::new(),
            fs_warn_percent: b.fs_warn_percent,
            fs_crit_percent: b.fs_crit_percent,
            heartbeat_interval: None,
            silent_intervals: b.silent_intervals,
            mass_delete_per_minute: b.mass_delete_per_minute,
            auth_failures: b.auth_failures,
            auth_window: None,
            log_quiet: None,
            deferred_after: None,
            relay_deferrals: b.relay_deferrals,
            relay_deferral_window: None,
            group_wait_s: None,
            group_interval_s: None,
            repeat_interval_s: None,
            resolve_hold_s: None,
            heartbeat_interval_s: None,
            auth_window_s: None,
            log_quiet_s: None,
            deferred_after_s: None,
            receivers: Vec::new(),
            route: None,
            inhibit_rules: Vec::new(),
            inhibit_checked: Vec::new(),
            maintenance: Vec::new(),
            rules: Vec::new(),
        }
    }
}

impl AlertsConfig {
    /// The duration keys, each with its deprecated spelling in seconds.
    pub(super) fn duration_keys(&self) -> [DurationKey<'_>; 8] {
        let s = "[alerts]";
        [
            DurationKey::new(
                s,
                "group_wait",
                self.group_wait,
                "group_wait_s",
                self.group_wait_s,
            ),
            DurationKey::new(
                s,
                "group_interval",
                self.group_interval,
                "group_interval_s",
                self.group_interval_s,
            ),
            DurationKey::new(
                s,
                "repeat_interval",
                self.repeat_interval,
                "repeat_interval_s",
                self.repeat_interval_s,
            ),
            DurationKey::new(
                s,
                "resolve_hold",
                self.resolve_hold,
                "resolve_hold_s",
                self.resolve_hold_s,
            ),
            DurationKey::new(
                s,
                "heartbeat_interval",
                self.heartbeat_interval,
                "heartbeat_interval_s",
                self.heartbeat_interval_s,
            ),
            DurationKey::new(
                s,
                "auth_window",
                self.auth_window,
                "auth_window_s",
                self.auth_window_s,
            ),
            DurationKey::new(
                s,
                "log_quiet",
                self.log_quiet,
                "log_quiet_s",
                self.log_quiet_s,
            ),
            DurationKey::new(
                s,
                "deferred_after",
                self.deferred_after,
                "deferred_after_s",
                self.deferred_after_s,
            ),
        ]
    }

    /// The timers of the engine and the built-in rules, over the defaults in `e`.
    fn timers(&self, e: &mut EngineSettings) -> anyhow::Result<()> {
        let [
            group_wait,
            group_interval,
            repeat_interval,
            resolve_hold,
            heartbeat_interval,
            auth_window,
            log_quiet,
            deferred_after,
        ] = self.duration_keys();
        e.group_wait = group_wait.or(e.group_wait)?;
        e.group_interval = group_interval.or(e.group_interval)?;
        e.repeat_interval = repeat_interval.or(e.repeat_interval)?;
        e.resolve_hold = resolve_hold.or(e.resolve_hold)?;
        let b = &mut e.builtin;
        b.heartbeat_interval = heartbeat_interval.chrono_or(b.heartbeat_interval)?;
        b.auth_window = auth_window.chrono_or(b.auth_window)?;
        b.log_quiet = log_quiet.chrono_or(b.log_quiet)?;
        b.deferred_after = deferred_after.chrono_or(b.deferred_after)?;
        if let Some(w) = self.relay_deferral_window {
            b.relay_deferral_window = chrono::Duration::from_std(w.0)
                .ok()
                .filter(|w| *w > chrono::Duration::zero())
                .ok_or_else(|| {
                    anyhow::anyhow!("[alerts] relay_deferral_window must be above zero and finite")
                })?;
        }
        Ok(())
    }
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
    if a.relay_deferrals == 0 {
        bail!("[alerts] relay_deferrals must be above zero");
    }
    a.timers(&mut e)?;
    e.builtin.fs_warn_percent = a.fs_warn_percent;
    e.builtin.fs_crit_percent = a.fs_crit_percent;
    e.builtin.silent_intervals = a.silent_intervals;
    e.builtin.mass_delete_per_minute = a.mass_delete_per_minute;
    e.builtin.auth_failures = a.auth_failures;
    e.builtin.relay_deferrals = a.relay_deferrals;
    e.group_by = a.group_by;
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
        e.user_rules.push(user_rules::build(r)?);
    }
    Ok(e)
}

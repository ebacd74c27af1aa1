//! `[alerts.route]` in the collector's config: the routing tree as written (receiver names and
//! matchers keep where they are in the file, so that a mistake is named by file and line), its
//! check against the file's receivers, and its conversion into a [`Route`].
//!
//! ```toml
//! [alerts.route]
//! receiver = "team-mail"            # where what no child takes goes
//! group_by = ["alertname", "host"]  # inherited by the children, as are the timers
//!
//! [[alerts.route.routes]]
//! matchers = ["severity=critical"]
//! receiver = "pager"
//! continue = true                   # and on to the next sibling
//! repeat_interval_s = 3600
//!
//! [[alerts.route.routes]]
//! matchers = ["host=~\"mbox[0-9]+\"", "alertname!~\"Raid.*\""]
//! receiver = "mail-admins"
//! ```

use std::path::Path;
use std::time::Duration;

use logwarden_core::config_text;
use serde::Deserialize;
use toml::Spanned;

use super::route::{Route, RouteMatcher};

/// One route as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub receiver: Option<Spanned<String>>,
    #[serde(default)]
    pub matchers: Vec<Spanned<String>>,
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    pub group_by: Option<Vec<String>>,
    pub group_wait_s: Option<f64>,
    pub group_interval_s: Option<f64>,
    pub repeat_interval_s: Option<f64>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// Checks every receiver name and matcher of the tree against the file's text: the first
/// mistake is returned as `config file F, line L, column C: key ...: what is wrong`.
pub fn check(
    route: &RouteConfig,
    receivers: &[&str],
    path: &Path,
    text: &str,
) -> Result<(), String> {
    if let Some(r) = &route.receiver
        && !receivers.contains(&r.get_ref().as_str())
    {
        let msg = format!(
            "route receiver {:?} is not the name of a [[alerts.receivers]] (known: {})",
            r.get_ref(),
            if receivers.is_empty() {
                "none".to_owned()
            } else {
                receivers.join(", ")
            }
        );
        return Err(config_text::describe(path, text, &msg, Some(r.span())));
    }
    for m in &route.matchers {
        if let Err(e) = m.get_ref().parse::<RouteMatcher>() {
            return Err(config_text::describe(path, text, &e, Some(m.span())));
        }
    }
    route
        .routes
        .iter()
        .try_for_each(|c| check(c, receivers, path, text))
}

fn secs(what: &str, v: Option<f64>) -> anyhow::Result<Option<Duration>> {
    match v {
        None => Ok(None),
        Some(v) if v.is_finite() && v >= 0.0 => Ok(Some(Duration::from_secs_f64(v))),
        Some(_) => anyhow::bail!("[alerts.route] {what} must be a number of seconds, 0 or more"),
    }
}

impl RouteConfig {
    /// The route, its matchers compiled (a config that passed [`check`] converts).
    pub fn to_route(&self) -> anyhow::Result<Route> {
        Ok(Route {
            receiver: self.receiver.as_ref().map(|r| r.get_ref().clone()),
            matchers: self
                .matchers
                .iter()
                .map(|m| {
                    m.get_ref()
                        .parse()
                        .map_err(|e: String| anyhow::anyhow!("[alerts.route] {e}"))
                })
                .collect::<anyhow::Result<_>>()?,
            severities: Vec::new(),
            continue_: self.continue_,
            group_by: self.group_by.clone(),
            group_wait: secs("group_wait_s", self.group_wait_s)?,
            group_interval: secs("group_interval_s", self.group_interval_s)?,
            repeat_interval: secs("repeat_interval_s", self.repeat_interval_s)?,
            routes: self
                .routes
                .iter()
                .map(RouteConfig::to_route)
                .collect::<anyhow::Result<_>>()?,
        })
    }
}

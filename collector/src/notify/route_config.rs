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
//! repeat_interval = "1h"
//!
//! [[alerts.route.routes]]
//! matchers = ["host=~\"mbox[0-9]+\"", "alertname!~\"Raid.*\""]
//! receiver = "mail-admins"
//! ```

use std::borrow::Cow;
use std::path::Path;

use logwarden_core::config_duration::{ConfigDuration, DurationKey};
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
    pub group_wait: Option<ConfigDuration>,
    pub group_interval: Option<ConfigDuration>,
    pub repeat_interval: Option<ConfigDuration>,
    /// Deprecated: the timers above in seconds.
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

/// How messages name the root route's table.
const ROOT: &str = "[alerts.route]";

/// How messages name the table of a route `depth` levels below the root
/// (`[[alerts.route.routes]]`, then `[[alerts.route.routes.routes]]`, ...).
fn child_table(depth: usize) -> String {
    format!("[[alerts.route{}]]", ".routes".repeat(depth))
}

impl RouteConfig {
    /// The timers, each with its deprecated spelling in seconds (a timer not given is
    /// inherited); `s` names the route's table in messages.
    pub fn duration_keys<'a>(&'a self, s: impl Into<Cow<'a, str>>) -> [DurationKey<'a>; 3] {
        let s = s.into();
        [
            DurationKey::new(
                s.clone(),
                "group_wait",
                self.group_wait,
                "group_wait_s",
                self.group_wait_s,
            ),
            DurationKey::new(
                s.clone(),
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
        ]
    }

    /// The timer keys of this route (the root, `[alerts.route]`) and all below it, in the
    /// order of the file (a child's table follows its parent's).
    pub fn all_duration_keys(&self) -> Vec<DurationKey<'_>> {
        fn walk<'a>(r: &'a RouteConfig, depth: usize, out: &mut Vec<DurationKey<'a>>) {
            out.extend(r.duration_keys(child_table(depth)));
            for child in &r.routes {
                walk(child, depth + 1, out);
            }
        }
        let mut keys = self.duration_keys(ROOT).to_vec();
        for child in &self.routes {
            walk(child, 1, &mut keys);
        }
        keys
    }

    /// The route, its matchers compiled (a config that passed [`check`] converts).
    pub fn to_route(&self) -> anyhow::Result<Route> {
        let [group_wait, group_interval, repeat_interval] = self.duration_keys(ROOT);
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
            group_wait: group_wait.value()?,
            group_interval: group_interval.value()?,
            repeat_interval: repeat_interval.value()?,
            routes: self
                .routes
                .iter()
                .map(RouteConfig::to_route)
                .collect::<anyhow::Result<_>>()?,
        })
    }
}

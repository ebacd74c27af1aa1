//! `[alerts.route]`: the routing tree, with the `--webhook` receivers in front.

use anyhow::bail;

use crate::notify::route::{Route, RouteTree, Timing};
use crate::notify::route_config::RouteConfig;
use crate::rules::EngineSettings;

/// The routing tree: `[alerts.route]` with the `--webhook` receivers first (each `continue`), or
/// without one, the flat form where each receiver filters for itself.
pub(super) fn route_tree(
    route: Option<&RouteConfig>,
    flag_routes: Vec<Route>,
    e: &EngineSettings,
) -> anyhow::Result<RouteTree> {
    let defaults = Timing {
        group_by: e.group_by.clone(),
        group_wait: e.group_wait,
        group_interval: e.group_interval,
        repeat_interval: e.repeat_interval,
    };
    let Some(route) = route else {
        return Ok(RouteTree::flat(&e.receivers, &defaults));
    };
    if let Some(r) = e
        .receivers
        .iter()
        .find(|r| !r.severities.is_empty() || !r.matchers.is_empty())
    {
        bail!(
            "[alerts.receivers] receiver {:?} has `severities` or `matchers`: with [alerts.route], filter in the routes instead",
            r.name
        );
    }
    let mut root = route.to_route()?;
    root.routes.splice(0..0, flag_routes);
    Ok(RouteTree::build(&root, &e.receivers, &defaults)?)
}

//! The engine's side of a config reload (crate::reload): new `[alerts]` settings taken between
//! two batches of work, without a restart and without losing what the events made.
//!
//! - Built-in rules take the new thresholds and keep their heartbeats and windows; user rules
//!   keep the windows of rules still configured with the same `group_by` (as a restart does).
//! - A firing alert of a user rule that is gone (or now groups by other fields, so nothing would
//!   ever clear it) gets a clear verdict: it resolves once, after `resolve_hold_s`, and that
//!   resolve is notified once to whoever was told it fired.
//! - Receivers and routes are replaced; every alert's groups are scheduled again under the new
//!   routes. What to send is decided from the notification log, which is kept, so an alert a
//!   receiver was already paged about is not paged again; a receiver or route that is new is
//!   told about what fires now. A delivery in flight across the reload is finished and logged,
//!   and the same group is not sent again while it is.

use std::collections::HashSet;

use std::sync::Arc;

use logwarden_core::wire::AlertStatus;
use tokio::time::Instant;

use super::{Engine, EngineSettings};
use crate::rules::alert::Signal;
use crate::rules::user::UserRules;

impl Engine {
    pub(super) fn reload(&mut self, new: EngineSettings) {
        let old = self.settings.clone();
        self.builtins.reconfigure(new.builtin.clone());
        let saved = self.user.save();
        self.user = UserRules::new(new.user_rules.clone());
        let dropped_windows = self.user.restore(saved);

        // User rules whose alerts nothing would clear any more.
        let old_names: HashSet<&str> = old.user_rules.iter().map(|r| r.name.as_str()).collect();
        let stale: Vec<Signal> = self
            .table
            .alerts
            .values()
            .filter(|e| e.record.status == AlertStatus::Firing)
            .filter(|e| old_names.contains(e.record.name.as_str()))
            .filter(|e| {
                let before = old.user_rules.iter().find(|r| r.name == e.record.name);
                let now = new.user_rules.iter().find(|r| r.name == e.record.name);
                match (before, now) {
                    (Some(b), Some(n)) => b.group_by != n.group_by,
                    _ => true,
                }
            })
            .map(|e| Signal {
                name: e.record.name.clone(),
                labels: e.record.labels.clone(),
                firing: None,
            })
            .collect();
        for s in &stale {
            tracing::info!(alert = %s.name, "its rule is no longer configured: it resolves");
        }

        for r in &new.receivers {
            self.counters.notified_none(&r.name, r.kind_name());
        }
        self.table.inhibit_rules =
            crate::rules::inhibit::InhibitRules::with(new.inhibit_rules.clone());
        self.table.maintenance =
            crate::rules::maintenance::Windows(Arc::new(new.maintenance.clone()));
        self.routes = Arc::new(new.route_tree());
        self.settings = Arc::new(new);
        self.generation += 1;
        self.groups.clear();
        for s in stale.iter().cloned() {
            self.signal(s, true);
        }
        let now = Instant::now();
        let keys: Vec<String> = self.table.alerts.keys().cloned().collect();
        for key in keys {
            self.schedule_groups(&key, now);
        }
        tracing::info!(
            receivers = self.settings.receivers.len(),
            routes = self.routes.endpoints().len(),
            user_rules = self.settings.user_rules.len(),
            dropped_windows,
            resolving = stale.len(),
            "alert config reloaded"
        );
    }
}

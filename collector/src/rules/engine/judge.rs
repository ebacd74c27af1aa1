//! Judging: the rules (`rules::builtin`, `rules::user`) see each event and each tick and give
//! a verdict ([`Signal`]) per alert; the engine keeps the latest one per alert key (`desired`)
//! and, unless it is replaying, hands it to the lifecycle (`lifecycle.rs`) at once.
//!
//! Verdicts get their runbook link here (rules::runbook), so every path into the table (events,
//! ticks, `ReplicationDegraded` from outside the WAL, a reload) sees the same verdict.

use chrono::Utc;
use logwarden_core::Event;
use tokio::time::Instant;

use super::Engine;
use crate::rules::alert::Signal;

impl Engine {
    /// Shows the events of one record to every rule; their signals act unless `replaying`.
    pub(super) fn events<E: std::borrow::Borrow<Event>>(
        &mut self,
        events: impl Iterator<Item = E>,
        replaying: bool,
    ) {
        let mut signals = Vec::new();
        for ev in events {
            self.builtins.on_event(ev.borrow(), &mut signals);
            self.user.on_event(ev.borrow(), &mut signals);
        }
        for s in signals {
            self.signal(s, !replaying);
        }
    }

    pub(super) fn signal(&mut self, mut s: Signal, act: bool) {
        if let (Some(base), Some(f)) = (&self.settings.runbook_base_url, &mut s.firing)
            && !f.annotations.contains_key("runbook_url")
            && let Some(url) = crate::rules::runbook::url(base, &s.name)
        {
            f.annotations.insert("runbook_url".into(), url);
        }
        let key = s.key();
        self.desired.insert(key.clone(), s);
        if act {
            self.evaluate(&key, Instant::now());
        }
    }

    pub(super) fn tick(&mut self, now: Instant) {
        let wall = Utc::now();
        let mut signals = Vec::new();
        self.builtins.on_tick(wall, &mut signals);
        self.user.on_tick(wall, &mut signals);
        for s in signals {
            self.signal(s, true);
        }
        // Silences that ended since the last tick let their alerts through: look again.
        let tick = chrono::Duration::from_std(self.settings.tick).unwrap_or_default();
        let before = wall - tick - chrono::Duration::seconds(1);
        if self.table.any_silence_ended(before, wall) {
            self.schedule_all_firing(now);
        }
    }
}

//! Delivery: when each group of alerts is sent, to whom, and what comes of it. Per (route
//! endpoint, group) a timer ([`GroupTimer`]) follows Alertmanager's `group_wait`,
//! `group_interval` and `repeat_interval`; when it is due, `rules::dispatch::decide` says from
//! the notification log what the flush sends, a task hands it to `crate::notify` (the
//! transports, with their retries), and its report ([`Delivered`]) comes back to the engine,
//! which logs it as a `Notified` change. A reload makes a new routing tree (`generation`):
//! deliveries of the old one only update the log, and a group is never delivered twice at once.
//!
//! Decisions stay in `rules/`; `notify` is only called (rules -> notify, never back).

use std::time::Duration;

use chrono::Utc;
use logwarden_core::wire::AlertStatus;
use tokio::time::Instant;

use super::Engine;
use super::group::Delivered;
use crate::notify;
use crate::rules::dispatch;
use crate::rules::record::{self, AlertRecord};
use crate::rules::state::StateChange;

impl Engine {
    /// Makes sure each group holding alert `key` (per receiver that wants it) gets a flush.
    pub(super) fn schedule_groups(&mut self, key: &str, now: Instant) {
        let Some(entry) = self.table.alerts.get(key) else {
            return;
        };
        let rec = &entry.record;
        for i in self.routes.matching(&|l| record::label(rec, l)) {
            let ep = &self.routes.endpoints()[i];
            let (group, _) = dispatch::group_of(ep, rec);
            let t = self.groups.entry((i, group)).or_default();
            let at = match t.last_flush {
                None => now + ep.timing.group_wait,
                Some(last) => (last + ep.timing.group_interval).max(now),
            };
            t.next = Some(t.next.map_or(at, |n| n.min(at)));
        }
    }

    /// Schedules the groups of every firing alert (what holds them back may have changed: an
    /// ack, a silence that ended, an inhibiting alert).
    pub(super) fn schedule_all_firing(&mut self, now: Instant) {
        for key in self.firing_keys() {
            self.schedule_groups(&key, now);
        }
    }

    /// When the next group is due (groups in flight wait for their report).
    pub(super) fn next_flush(&self) -> Option<Instant> {
        self.groups
            .values()
            .filter(|t| !t.in_flight)
            .filter_map(|t| t.next)
            .min()
    }

    pub(super) fn flush_due(&mut self, now: Instant) {
        // A cluster's leader that may have been replaced sends nothing (`shared.rs`); its
        // groups wait (the leadership ends, or its lease is renewed, within a tick). Nor does
        // one whose changes are not all in the shared store yet (the store's stream electing a
        // leader): a page sent for an alert the store lacks is sent again by the next leader,
        // which takes the state over without it. The groups wait for the write, tried again
        // after each wakeup (`commit_pending`), this one's included.
        let unstored = self.shared.is_some() && !self.pending.is_empty();
        if !self.may_notify() || unstored {
            let later = now + Duration::from_millis(500);
            for t in self.groups.values_mut() {
                t.next = t.next.map(|n| n.max(later));
            }
            return;
        }
        let due: Vec<(usize, String)> = self
            .groups
            .iter()
            .filter(|(_, t)| !t.in_flight && t.next.is_some_and(|n| n <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for (i, group) in due {
            self.flush(i, group, now);
        }
    }

    pub(super) fn flush(&mut self, i: usize, group: String, now: Instant) {
        let settings = self.settings.clone();
        let routes = self.routes.clone();
        let ep = &routes.endpoints()[i];
        let receiver = &settings.receivers[ep.receiver];
        if self
            .in_flight
            .contains(&(receiver.name.clone(), group.clone()))
        {
            // A delivery of the same group from before a reload: look again once it is done.
            let t = self.groups.entry((i, group)).or_default();
            t.next = Some(now + Duration::from_millis(200));
            return;
        }
        let wall = Utc::now();
        let wants = |rec: &AlertRecord| routes.reaches(i, &|l| record::label(rec, l));
        let decision = dispatch::decide(
            &self.table,
            receiver,
            ep,
            &wants,
            &group,
            wall,
            &settings.external_url,
        );
        let t = self.groups.entry((i, group.clone())).or_default();
        t.next = None;
        t.last_flush = Some(now);
        // A repeat is due one interval after this flush while something unacked fires.
        let unacked_firing = self.table.alerts.values().any(|e| {
            e.record.status == AlertStatus::Firing
                && e.ack.is_none()
                && wants(&e.record)
                && dispatch::group_of(ep, &e.record).0 == group
        });
        if unacked_firing {
            t.next = Some(now + ep.timing.repeat_interval);
        }
        let Some(d) = decision else { return };
        if !d.send {
            self.change(StateChange::Notified {
                receiver: receiver.name.clone(),
                group,
                firing: d.firing,
                resolved: d.resolved,
                at: wall,
            });
            return;
        }
        t.in_flight = true;
        self.in_flight
            .insert((receiver.name.clone(), d.notification.group_key.clone()));
        self.spawn_delivery(i, ep.receiver, d);
    }

    /// Hands a decided notification to `crate::notify` on a task of its own; its report comes
    /// back as a [`Delivered`].
    fn spawn_delivery(&self, i: usize, r: usize, d: dispatch::Decision) {
        let settings = self.settings.clone();
        let generation = self.generation;
        let http = self.http.clone();
        let done = self.done_tx.clone();
        let counters = self.counters.clone();
        tokio::spawn(async move {
            let receiver = &settings.receivers[r];
            let result = notify::deliver(receiver, &http, &d.notification, &settings.retry)
                .await
                .map_err(|e| e.to_string());
            counters.notified(&receiver.name, receiver.kind_name(), result.is_ok());
            match &result {
                Ok(()) => tracing::info!(receiver = %receiver.name, kind = receiver.kind_name(),
                    group = %d.notification.group_key, status = d.notification.status(),
                    alerts = d.notification.alerts.len(), "notification sent"),
                Err(e) => tracing::error!(receiver = %receiver.name, error = %e,
                    "notification not delivered; the group will be tried again"),
            }
            let _ = done.send(Delivered {
                endpoint: i,
                generation,
                receiver_name: receiver.name.clone(),
                group: d.notification.group_key.clone(),
                firing: d.firing,
                resolved: d.resolved,
                result,
            });
        });
    }

    pub(super) fn delivered(&mut self, done: Delivered) {
        self.in_flight
            .remove(&(done.receiver_name.clone(), done.group.clone()));
        if done.generation != self.generation {
            // Sent under the routes before a reload: the log learns of it; the new routes'
            // timers decide what comes next.
            if done.result.is_ok() {
                self.change(StateChange::Notified {
                    receiver: done.receiver_name,
                    group: done.group,
                    firing: done.firing,
                    resolved: done.resolved,
                    at: Utc::now(),
                });
            }
            return;
        }
        let now = Instant::now();
        let ep = &self.routes.endpoints()[done.endpoint];
        let interval = ep.timing.group_interval;
        let receiver = ep.receiver;
        let t = self
            .groups
            .entry((done.endpoint, done.group.clone()))
            .or_default();
        t.in_flight = false;
        match done.result {
            Ok(()) => {
                // Whatever changed while it was in flight is looked at on the next flush.
                t.next = Some(t.next.map_or(now, |n| n.min(now)));
                let name = self.settings.receivers[receiver].name.clone();
                self.change(StateChange::Notified {
                    receiver: name,
                    group: done.group,
                    firing: done.firing,
                    resolved: done.resolved,
                    at: Utc::now(),
                });
            }
            Err(_) => t.next = Some(now + interval),
        }
    }
}

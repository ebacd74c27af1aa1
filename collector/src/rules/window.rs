//! A count over a sliding window of event time, for rate rules (`MassMailboxDelete`,
//! `AuthBruteForce`, user rules).
//!
//! Entries are placed by event time (`ts`, but never later than `received`, so a host whose clock
//! runs ahead cannot stretch a window), and the window ends at the newest event time seen: a
//! burst that an agent ships late is still counted as the burst it was. Entries also leave once
//! they were *received* longer than a window ago ([`Window::expire`], on the engine's tick), so
//! that a burst that stopped stops counting even when no later event arrives.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A window without its span ([`Window::save`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowState {
    pub entries: Vec<Entry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<DateTime<Utc>>,
}

/// One entry of a window: (event time, received time, count).
pub type Entry = (DateTime<Utc>, DateTime<Utc>, u64);

#[derive(Debug, Clone)]
pub struct Window {
    span: Duration,
    /// In arrival order.
    entries: VecDeque<Entry>,
    newest: Option<DateTime<Utc>>,
}

impl Window {
    pub fn new(span: Duration) -> Window {
        Window {
            span,
            entries: VecDeque::new(),
            newest: None,
        }
    }

    /// Adds `n` occurrences; returns the count now in the window.
    pub fn add(&mut self, ts: DateTime<Utc>, received: DateTime<Utc>, n: u64) -> u64 {
        let ts = ts.min(received);
        let newest = self.newest.map_or(ts, |t| t.max(ts));
        self.newest = Some(newest);
        self.entries.push_back((ts, received, n));
        self.count()
    }

    /// The occurrences whose event time is within one span of the newest.
    pub fn count(&self) -> u64 {
        let Some(newest) = self.newest else { return 0 };
        self.entries
            .iter()
            .filter(|(ts, _, _)| *ts > newest - self.span)
            .map(|(_, _, n)| n)
            .sum()
    }

    /// Drops what is out of the window by either clock; returns the count left.
    pub fn expire(&mut self, now: DateTime<Utc>) -> u64 {
        let newest = self.newest;
        let span = self.span;
        self.entries
            .retain(|(ts, rx, _)| *rx > now - span && newest.is_none_or(|n| *ts > n - span));
        if self.entries.is_empty() {
            self.newest = None;
        }
        self.count()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What the rules snapshot keeps of the window: everything but the span, which comes from
    /// the config.
    pub fn save(&self) -> WindowState {
        WindowState {
            entries: self.entries.iter().copied().collect(),
            newest: self.newest,
        }
    }

    /// The window a snapshot kept, with the span the config gives now (it may have changed:
    /// the entries are still the events that were seen, only the count over them differs).
    pub fn restore(span: Duration, saved: WindowState) -> Window {
        // `newest` is never older than an entry while the window runs; a snapshot is outside
        // data, so hold to that here rather than trust it.
        let newest = saved.entries.iter().map(|e| e.0).max().max(saved.newest);
        Window {
            span,
            entries: saved.entries.into(),
            newest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_event_time_and_forgets_by_received_time() {
        let t0 = Utc::now() - Duration::hours(1);
        let mut w = Window::new(Duration::seconds(60));
        // A burst that happened an hour ago and is shipped now: counted as one burst.
        let now = Utc::now();
        for i in 0..10 {
            w.add(t0 + Duration::seconds(i), now, 1);
        }
        assert_eq!(w.count(), 10);
        // An event two minutes later in event time pushes the old ones out.
        assert_eq!(w.add(t0 + Duration::seconds(200), now, 1), 1);
        // A minute after they arrived, nothing is left.
        assert_eq!(w.expire(now + Duration::seconds(61)), 0);
        assert!(w.is_empty());
    }

    #[test]
    fn a_clock_ahead_does_not_stretch_the_window() {
        let now = Utc::now();
        let mut w = Window::new(Duration::seconds(60));
        w.add(now + Duration::hours(5), now, 1);
        assert_eq!(w.add(now + Duration::seconds(1), now, 1), 2);
    }
}

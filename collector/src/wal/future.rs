//! Events dated too far ahead of their arrival (`[index] max_future`, issue 26 §4).
//!
//! An agent with a clock years ahead, or a line whose stamp was misread, would otherwise make a
//! day partition per distinct future day (one request made 3,000) and, as the newest day, steer
//! size retention. The committer moves such an event to the time it arrived (`received`) and
//! keeps the time it claimed in `fields.original_ts`; the event is kept, not refused: refused
//! lines are never sent again, and the fault is the clock's, not the event's. Each one is
//! counted (`logwarden_events_future_clamped_total`) and a warning names an example, at most
//! every [`WARN_EVERY`].

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use logwarden_core::Event;

/// `[index] max_future` by default: a day. Clocks a few hours off, or a zone missing from a
/// stamp (at most 14 hours), stay as they are.
pub const DEFAULT_MAX_FUTURE_S: u64 = 24 * 3600;
/// The least time between two warnings.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// Moves `event` to `now` if it claims a time more than `max_future` after it; says whether it did.
pub fn clamp(event: &mut Event, now: DateTime<Utc>, max_future: chrono::Duration) -> bool {
    if event.ts - now <= max_future {
        return false;
    }
    let claimed = event
        .ts
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    event.fields.insert("original_ts".into(), claimed.into());
    event.ts = now;
    true
}

/// The warning about clamped events, at most every [`WARN_EVERY`].
#[derive(Default)]
pub struct Warner {
    last: Option<Instant>,
    /// Events clamped since the last warning.
    since: u64,
}

impl Warner {
    /// Counts `n` events clamped, `example` one of them (after clamping), and warns if it is time.
    pub fn clamped(&mut self, n: u64, example: &Event, max_future: chrono::Duration) {
        self.since += n;
        if self.last.is_some_and(|t| t.elapsed() < WARN_EVERY) {
            return;
        }
        tracing::warn!(
            events = self.since,
            example_id = %example.id,
            host = %example.host,
            claimed = example.fields.get("original_ts").and_then(|v| v.as_str()).unwrap_or(""),
            max_future = %max_future
                .to_std()
                .map_or_else(|_| "-".to_owned(), logwarden_core::config_duration::format),
            "events dated further ahead than [index] max_future were moved to the time they arrived (their own time is in fields.original_ts): check the sender's clock"
        );
        self.last = Some(Instant::now());
        self.since = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logwarden_core::EventId;

    #[test]
    fn only_events_beyond_the_bound_move_and_they_keep_the_time_they_claimed() {
        let now = DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let day = chrono::Duration::days(1);
        let at = |ts: &str| {
            let ts = DateTime::parse_from_rfc3339(ts)
                .unwrap()
                .with_timezone(&Utc);
            Event::log(EventId::new("a", 1), ts, "h", "s", "/x", "m".into())
        };
        let mut near = at("2026-12-06T10:00:00Z");
        assert!(!clamp(&mut near, now, day), "exactly a day ahead stays");
        assert_eq!(near.ts.to_rfc3339(), "2026-12-06T10:00:00+00:00");
        let mut past = at("2020-01-01T00:00:00Z");
        assert!(!clamp(&mut past, now, day));
        let mut far = at("2036-12-05T10:00:00.5Z");
        assert!(clamp(&mut far, now, day));
        assert_eq!(far.ts, now);
        assert_eq!(far.fields["original_ts"], "2036-12-05T10:00:00.500Z");
    }
}

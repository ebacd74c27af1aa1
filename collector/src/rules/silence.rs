//! Silences: label matchers over a time range that keep matching alerts from being notified.
//! An alert is matched on its labels plus `alertname` and `severity`, as in Alertmanager, with
//! `=`, `!=`, `=~` and `!~` (a regex anchored at both ends; a missing label is the empty string).

use chrono::{DateTime, Utc};
use logwarden_core::wire::{Matcher, Opening, Silence, SilenceRequest};

use super::maintenance::Window;
use super::record::{AlertRecord, label};
use crate::notify::route::RouteMatcher;

/// Why a silence was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SilenceError {
    /// No matcher at all would silence everything: refused.
    #[error("a silence needs at least one matcher (NAME=VALUE)")]
    NoMatcher,
    /// Ends before it starts, or has already ended.
    #[error("a silence must end after it starts and after now")]
    BadRange,
    /// A matcher with an empty label name.
    #[error("matcher {0} has an empty label name")]
    EmptyName(String),
    /// A `=~`/`!~` matcher whose regex does not compile.
    #[error("{0}")]
    BadRegex(String),
    /// A recurrence (`--every`) with an unknown day, a bad time or zone, or a bad duration.
    #[error("maintenance window: {0}")]
    BadWindow(String),
}

pub fn matches(m: &Matcher, rec: &AlertRecord) -> bool {
    if m.regex {
        // Checked when the silence was made; one that does not compile matches nothing.
        return route_matcher(m).is_ok_and(|r| r.matches(label(rec, &m.name)));
    }
    let equal = label(rec, &m.name).unwrap_or("") == m.value;
    equal != m.negative
}

/// The routes' matcher for a regex matcher (compiles it).
fn route_matcher(m: &Matcher) -> Result<RouteMatcher, String> {
    m.to_string().parse::<RouteMatcher>()
}

/// Checks a request and makes the silence (with a fresh id).
pub fn build(req: SilenceRequest, now: DateTime<Utc>) -> Result<Silence, SilenceError> {
    if req.matchers.is_empty() {
        return Err(SilenceError::NoMatcher);
    }
    if let Some(m) = req.matchers.iter().find(|m| m.name.trim().is_empty()) {
        return Err(SilenceError::EmptyName(m.to_string()));
    }
    for m in req.matchers.iter().filter(|m| m.regex) {
        route_matcher(m).map_err(SilenceError::BadRegex)?;
    }
    if let Some(w) = &req.every {
        Window::weekly("", &req.matchers, w).map_err(SilenceError::BadWindow)?;
    }
    let starts_at = req.starts_at.unwrap_or(now);
    if req.ends_at <= starts_at || req.ends_at <= now {
        return Err(SilenceError::BadRange);
    }
    let id = super::alert::short_hash(&format!(
        "{}|{:?}|{}",
        now.timestamp_nanos_opt().unwrap_or_default(),
        req.matchers,
        req.author
    ));
    Ok(Silence {
        id,
        matchers: req.matchers,
        starts_at,
        ends_at: req.ends_at,
        author: if req.author.is_empty() {
            "unknown".into()
        } else {
            req.author
        },
        comment: req.comment,
        created_at: now,
        every: req.every,
        next_window: None,
    })
}

/// The weekly openings of a recurring silence (None for a plain one, or for a recurrence that
/// does not read: it came from the WAL, so it was checked when it was made).
fn window(s: &Silence) -> Option<Window> {
    Window::weekly(&s.id, &s.matchers, s.every.as_ref()?).ok()
}

/// Whether `s` silences at `now`: within its range and, if it recurs, in one of its openings.
pub fn in_force(s: &Silence, now: DateTime<Utc>) -> bool {
    s.starts_at <= now
        && now < s.ends_at
        && (s.every.is_none() || window(s).is_some_and(|w| w.is_open(now)))
}

/// `s` as listed: a recurring one with its opening in force or its next one within its range.
pub fn listed(s: &Silence, now: DateTime<Utc>) -> Silence {
    let mut s = s.clone();
    s.next_window = window(&s).filter(|_| now < s.ends_at).and_then(|w| {
        let (starts_at, ends_at) = w.current_or_next(now.max(s.starts_at))?;
        (starts_at < s.ends_at).then_some(Opening {
            starts_at: starts_at.max(s.starts_at),
            ends_at: ends_at.min(s.ends_at),
        })
    });
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use logwarden_core::wire::{AlertSeverity, AlertStatus};
    use std::collections::BTreeMap;

    fn rec() -> AlertRecord {
        let t = Utc::now();
        AlertRecord {
            key: "k".into(),
            name: "FilesystemFull".into(),
            severity: AlertSeverity::Warning,
            status: AlertStatus::Firing,
            labels: BTreeMap::from([("host".into(), "mbox3".into())]),
            annotations: BTreeMap::new(),
            starts_at: t,
            ends_at: None,
            updated_at: t,
        }
    }

    #[test]
    fn matchers_see_labels_alertname_and_severity() {
        let r = rec();
        for (m, want) in [
            ("host=mbox3", true),
            ("host!=mbox3", false),
            ("alertname=FilesystemFull", true),
            ("severity=critical", false),
            ("mount=/opt", false),
            ("mount!=/opt", true),
            ("host=~mbox[0-9]+", true),
            ("host=~mbox", false),
            ("alertname!~Raid.*", true),
            ("mount=~", true),
        ] {
            assert_eq!(matches(&m.parse().unwrap(), &r), want, "{m}");
        }
    }

    #[test]
    fn a_silence_needs_a_matcher_and_a_future_end() {
        let now = Utc::now();
        let req = SilenceRequest {
            matchers: vec![],
            ends_at: now + chrono::Duration::hours(1),
            ..Default::default()
        };
        assert_eq!(build(req, now), Err(SilenceError::NoMatcher));
        let req = SilenceRequest {
            matchers: vec!["host=a".parse().unwrap()],
            ends_at: now - chrono::Duration::hours(1),
            ..Default::default()
        };
        assert_eq!(build(req, now), Err(SilenceError::BadRange));
    }

    fn weekly(days: &[&str], at: &str, duration_s: u64, tz: &str) -> SilenceRequest {
        SilenceRequest {
            matchers: vec!["host=a".parse().unwrap()],
            ends_at: logwarden_core::wire::forever(),
            every: Some(logwarden_core::wire::Weekly {
                days: days.iter().map(|d| d.to_string()).collect(),
                at: at.into(),
                duration_s,
                tz: tz.into(),
            }),
            ..Default::default()
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_recurring_silence_holds_only_in_its_openings_and_lists_the_next() {
        // Saturday 2026-12-05, 10:00 UTC; Saturdays 01:00-05:00 Berlin (00:00-04:00 UTC).
        let now = at("2026-12-05T10:00:00Z");
        let s = build(weekly(&["sat"], "01:00", 4 * 3600, "Europe/Berlin"), now).unwrap();
        assert!(!in_force(&s, now));
        assert!(in_force(&s, at("2026-12-12T03:59:00Z")));
        assert!(!in_force(&s, at("2026-12-12T04:00:00Z")));
        let next = listed(&s, now).next_window.unwrap();
        assert_eq!(
            (next.starts_at, next.ends_at),
            (at("2026-12-12T00:00:00Z"), at("2026-12-12T04:00:00Z"))
        );
        // Expired in its opening: it ends there and lists no next one.
        let mut cut = s.clone();
        cut.ends_at = at("2026-12-12T01:00:00Z");
        assert!(in_force(&cut, at("2026-12-12T00:30:00Z")));
        assert!(!in_force(&cut, at("2026-12-12T01:00:00Z")));
        assert_eq!(listed(&cut, at("2026-12-12T01:00:01Z")).next_window, None);
        assert_eq!(
            listed(&cut, at("2026-12-12T00:30:00Z"))
                .next_window
                .unwrap()
                .ends_at,
            at("2026-12-12T01:00:00Z")
        );
    }

    #[test]
    fn a_bad_recurrence_is_refused_naming_what_is_wrong() {
        let now = Utc::now();
        for (req, named) in [
            (
                weekly(&["mon", "caturday"], "01:00", 3600, "UTC"),
                "caturday",
            ),
            (weekly(&["mon"], "25:00", 3600, "UTC"), "25:00"),
            (
                weekly(&["mon"], "01:00", 3600, "Mars/Olympus"),
                "Mars/Olympus",
            ),
            (weekly(&["mon"], "01:00", 0, "UTC"), "duration"),
            (weekly(&["mon"], "01:00", 90_000, "UTC"), "24h"),
            (weekly(&[], "01:00", 3600, "UTC"), "days"),
        ] {
            let e = build(req, now).unwrap_err().to_string();
            assert!(
                e.starts_with("maintenance window: ") && e.contains(named),
                "{e}"
            );
        }
    }

    #[test]
    fn a_regex_that_does_not_compile_is_refused() {
        let now = Utc::now();
        let req = SilenceRequest {
            matchers: vec!["host=~mbox[".parse().unwrap()],
            ends_at: now + chrono::Duration::hours(1),
            ..Default::default()
        };
        let e = build(req, now).unwrap_err().to_string();
        assert!(e.contains("regex does not compile"), "{e}");
    }
}

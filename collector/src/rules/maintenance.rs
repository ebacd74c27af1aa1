//! Recurring maintenance windows (`[[alerts.maintenance]]`): a silence that comes back every
//! week on the given days, from `start` to `end` in a named time zone (the weekly backup, the
//! patch night). While a window is open, alerts matching its matchers are listed but not sent,
//! exactly as under a silence (its id is `window:NAME`); when it closes, what it held back is
//! sent. An `end` at or before `start` ends on the next day (`22:00`-`02:00`). Local times that
//! a daylight-saving change skips start or end at the first valid moment after them.
//!
//! These windows come from the config (a reload replaces them); they are not state, so nothing
//! of them is in the WAL. `GET /api/v1/silences` lists each with its current or next opening.
//! The same weekly openings made from the CLI (`logwarden silence add --every`) are recurring
//! silences instead (rules::silence): state, in the WAL like any silence.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use logwarden_core::wire::{Matcher, Opening, Silence, Weekly};

use super::record::AlertRecord;

/// One window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub name: String,
    pub matchers: Vec<Matcher>,
    pub days: Vec<Weekday>,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub tz: Tz,
}

/// `[[alerts.maintenance]]` as written.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    pub name: String,
    pub matchers: Vec<String>,
    /// `mon` ... `sun` (or full names).
    pub days: Vec<String>,
    /// `HH:MM` local time.
    pub start: String,
    pub end: String,
    /// An IANA zone name (`Europe/Berlin`), default `UTC`.
    #[serde(default = "utc")]
    pub tz: String,
}

fn utc() -> String {
    "UTC".into()
}

impl WindowConfig {
    /// The window, or what is wrong with it (naming the window).
    pub fn to_window(&self) -> Result<Window, String> {
        let err = |what: String| format!("maintenance window {:?}: {what}", self.name);
        if self.matchers.is_empty() {
            return Err(err("needs at least one matcher".into()));
        }
        let matchers = self
            .matchers
            .iter()
            .map(|m| {
                let parsed: Matcher = m.parse().map_err(&err)?;
                if parsed.regex {
                    // Checked as the routes check theirs.
                    m.parse::<crate::notify::route::RouteMatcher>()
                        .map_err(&err)?;
                }
                Ok(parsed)
            })
            .collect::<Result<Vec<_>, String>>()?;
        let tz = parse_tz(&self.tz).map_err(&err)?;
        Ok(Window {
            name: self.name.clone(),
            matchers,
            days: parse_days(&self.days).map_err(&err)?,
            start: parse_time(&self.start).map_err(&err)?,
            end: parse_time(&self.end).map_err(&err)?,
            tz,
        })
    }
}

/// `mon` ... `sun` (or full names), at least one.
fn parse_days(days: &[String]) -> Result<Vec<Weekday>, String> {
    if days.is_empty() {
        return Err("needs `days` (mon ... sun)".into());
    }
    days.iter()
        .map(|d| {
            d.trim()
                .parse::<Weekday>()
                .map_err(|_| format!("day {d:?} is not mon, tue, wed, thu, fri, sat or sun"))
        })
        .collect()
}

/// `HH:MM`, 00:00 to 23:59.
fn parse_time(t: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(t.trim(), "%H:%M")
        .map_err(|_| format!("time {t:?} is not HH:MM (00:00 to 23:59)"))
}

fn parse_tz(tz: &str) -> Result<Tz, String> {
    tz.trim()
        .parse::<Tz>()
        .map_err(|_| format!("time zone {tz:?} is not an IANA zone name (Europe/Berlin, UTC)"))
}

/// The longest opening of a recurring silence: one day (longer ones would overlap the next).
pub const MAX_OPENING_S: u64 = 24 * 3600;

impl Window {
    /// The window of a recurring silence (`logwarden silence add --every`), or what is wrong
    /// with its recurrence (the matchers are the silence's, checked with it).
    pub fn weekly(name: &str, matchers: &[Matcher], w: &Weekly) -> Result<Window, String> {
        if w.duration_s == 0 || w.duration_s > MAX_OPENING_S {
            return Err(format!(
                "a window's duration must be more than 0 and at most 24h, not {}s",
                w.duration_s
            ));
        }
        let start = parse_time(&w.at)?;
        let end = start + Duration::seconds(w.duration_s as i64);
        Ok(Window {
            name: name.to_owned(),
            matchers: matchers.to_vec(),
            days: parse_days(&w.days)?,
            start,
            end,
            tz: parse_tz(&w.tz)?,
        })
    }

    /// The recurrence as the API shows it.
    pub fn describe(&self) -> Weekly {
        let length = (self.end - self.start).num_seconds().rem_euclid(24 * 3600);
        Weekly {
            days: self
                .days
                .iter()
                .map(|d| d.to_string().to_lowercase())
                .collect(),
            at: self.start.format("%H:%M").to_string(),
            duration_s: if length == 0 {
                24 * 3600
            } else {
                length as u64
            },
            tz: self.tz.to_string(),
        }
    }

    /// The first instant at or after local `date` `time` (a skipped local time moves on).
    fn instant(&self, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
        let mut t = date.and_time(time);
        for _ in 0..4 {
            if let Some(dt) = self.tz.from_local_datetime(&t).earliest() {
                return Some(dt.with_timezone(&Utc));
            }
            t += Duration::minutes(30);
        }
        None
    }

    /// The opening that starts on local `date`, if `date` is one of the days.
    fn opening(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.days.contains(&date.weekday()) {
            return None;
        }
        let end_date = if self.end <= self.start {
            date.succ_opt()?
        } else {
            date
        };
        Some((
            self.instant(date, self.start)?,
            self.instant(end_date, self.end)?,
        ))
    }

    /// The opening in force at `now`, or else the next one.
    pub fn current_or_next(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let today = now.with_timezone(&self.tz).date_naive();
        (-1..=8)
            .filter_map(|d| self.opening(today + Duration::days(d)))
            .find(|(_, end)| *end > now)
    }

    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.current_or_next(now)
            .is_some_and(|(start, end)| start <= now && now < end)
    }

    pub fn matches(&self, rec: &AlertRecord) -> bool {
        self.matchers
            .iter()
            .all(|m| super::silence::matches(m, rec))
    }

    /// The window as a silence for listings (its current or next opening).
    pub fn as_silence(&self, now: DateTime<Utc>) -> Option<Silence> {
        let (starts_at, ends_at) = self.current_or_next(now)?;
        let every = self.describe();
        Some(Silence {
            id: format!("window:{}", self.name),
            matchers: self.matchers.clone(),
            starts_at,
            ends_at,
            author: "config".into(),
            // Where it comes from, so where to change it (`every` says when it opens).
            comment: "[[alerts.maintenance]] of the config".into(),
            created_at: starts_at,
            every: Some(every),
            next_window: Some(Opening { starts_at, ends_at }),
        })
    }
}

/// The windows in force. Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Windows(pub Arc<Vec<Window>>);

impl Windows {
    /// The ids (`window:NAME`) of the open windows that match `rec`.
    pub fn silencing(&self, rec: &AlertRecord, now: DateTime<Utc>) -> Vec<String> {
        self.0
            .iter()
            .filter(|w| w.is_open(now) && w.matches(rec))
            .map(|w| format!("window:{}", w.name))
            .collect()
    }

    /// Whether a window was open at `before` and is closed at `now` (what it held back is due).
    pub fn any_closed(&self, before: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.0.iter().any(|w| w.is_open(before) && !w.is_open(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(days: &[&str], start: &str, end: &str, tz: &str) -> Window {
        WindowConfig {
            name: "backup".into(),
            matchers: vec!["alertname=~Backup.*".into()],
            days: days.iter().map(|d| d.to_string()).collect(),
            start: start.into(),
            end: end.into(),
            tz: tz.into(),
        }
        .to_window()
        .unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_weekly_window_opens_on_its_days_in_its_zone() {
        // Saturdays 01:00-05:00 in Berlin (UTC+1 in December): 00:00-04:00 UTC.
        let w = window(&["sat"], "01:00", "05:00", "Europe/Berlin");
        assert!(!w.is_open(at("2026-12-04T23:59:00Z")), "Friday");
        assert!(w.is_open(at("2026-12-05T00:00:00Z")));
        assert!(w.is_open(at("2026-12-05T03:59:59Z")));
        assert!(!w.is_open(at("2026-12-05T04:00:00Z")));
        assert!(
            !w.is_open(at("2026-12-12T04:30:00Z")),
            "the next Saturday, after"
        );
        // From a Sunday the next opening is the next Saturday.
        let (s, e) = w.current_or_next(at("2026-12-06T12:00:00Z")).unwrap();
        assert_eq!(
            (s, e),
            (at("2026-12-12T00:00:00Z"), at("2026-12-12T04:00:00Z"))
        );
        // Summer: UTC+2.
        assert!(!w.is_open(at("2026-07-04T23:30:00Z")));
        assert!(w.is_open(at("2026-07-03T23:30:00Z")), "Sat 01:30 CEST");
    }

    #[test]
    fn a_window_past_midnight_ends_the_next_day_and_a_dst_gap_moves_on() {
        let w = window(&["sun"], "22:00", "02:00", "UTC");
        assert!(w.is_open(at("2026-12-06T23:00:00Z")));
        assert!(
            w.is_open(at("2026-12-07T01:59:00Z")),
            "Monday early, still Sunday's"
        );
        assert!(!w.is_open(at("2026-12-07T02:00:00Z")));
        // 2026-03-29 02:30 does not exist in Berlin: it opens at 03:00 CEST (01:00 UTC).
        let w = window(&["sun"], "02:30", "04:00", "Europe/Berlin");
        assert!(!w.is_open(at("2026-03-29T00:45:00Z")));
        assert!(w.is_open(at("2026-03-29T01:10:00Z")));
    }

    #[test]
    fn bad_windows_are_refused_with_their_name() {
        let mut c = WindowConfig {
            name: "w".into(),
            matchers: vec!["host=a".into()],
            days: vec!["sat".into()],
            start: "01:00".into(),
            end: "05:00".into(),
            tz: "Mars/Olympus".into(),
        };
        assert!(c.to_window().unwrap_err().contains("IANA zone"));
        c.tz = "UTC".into();
        c.days = vec!["caturday".into()];
        assert!(c.to_window().unwrap_err().contains("caturday"));
        c.days = vec!["sat".into()];
        c.start = "25:00".into();
        assert!(c.to_window().unwrap_err().contains("HH:MM"));
        c.start = "01:00".into();
        c.matchers = vec!["host=~a[".into()];
        assert!(c.to_window().unwrap_err().contains("regex"));
    }
}

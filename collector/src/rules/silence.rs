//! Silences: label matchers over a time range that keep matching alerts from being notified.
//! An alert is matched on its labels plus `alertname` and `severity`, as in Alertmanager, with
//! `=`, `!=`, `=~` and `!~` (a regex anchored at both ends; a missing label is the empty string).

use chrono::{DateTime, Utc};
use logwarden_core::wire::{Matcher, Silence, SilenceRequest};

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
    })
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

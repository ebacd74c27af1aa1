//! User rules (`[[alerts.rules]]`): "at least `threshold` events matching `query` within
//! `window_s`, per value of `group_by`", with a severity, labels and annotations.
//!
//! The query is a subset of the search syntax, evaluated on each event as it is read from the
//! WAL (no index round trip): space-separated terms that must all hold (`AND` may be written),
//! each `field:value` (`host`, `site`, `app`, `source`, `severity`, `kind`, `fields.NAME`; exact
//! match, but as in search: `severity` takes the usual aliases (`error`, `warn`, ...), `app:postfix`
//! also matches `postfix/*`, `host` ignores case), a word or `"a phrase"` (in the message, ignoring case), or either prefixed with `-`
//! or `NOT` to exclude. `OR` and parentheses are refused with a reason at start.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use logwarden_core::Event;
use logwarden_core::wire::AlertSeverity;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::alert::{Firing, Signal};
use super::window::{Window, WindowState};

/// One group's window of a user rule ([`UserRules::save`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserWindowState {
    /// The rule's name, and its place among the config's rules of that name (0 for the first).
    pub rule: String,
    pub nth: usize,
    /// The rule's `group_by` when the snapshot was taken: counts grouped by other fields do
    /// not carry over.
    pub group_by: Vec<String>,
    /// The group's values of `group_by`.
    pub group: Vec<String>,
    pub window: WindowState,
    pub firing: bool,
}

/// One term of a query.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    Field(String, String),
    Text(String),
}

/// A parsed query: every `(negated, term)` must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Query(Vec<(bool, Term)>);

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("empty query")]
    Empty,
    #[error("`{0}` is not supported in alert rule queries (only AND of terms, with NOT)")]
    Unsupported(String),
    #[error("unterminated quote")]
    Unterminated,
    #[error(
        "field {0:?} is not one of host, site, app, source, severity, kind, message, fields.NAME"
    )]
    UnknownField(String),
    #[error(
        "severity {0:?} is not a severity; use one of emerg, alert, crit, err (error), warning (warn), notice, info, debug"
    )]
    UnknownSeverity(String),
}

impl Query {
    pub fn parse(q: &str) -> Result<Query, QueryError> {
        let mut terms = Vec::new();
        let mut chars = q.chars().peekable();
        let mut negate = false;
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let Some(&c) = chars.peek() else { break };
            if c == '(' || c == ')' {
                return Err(QueryError::Unsupported(c.to_string()));
            }
            let mut tok = String::new();
            let mut quoted = false;
            if c == '-' {
                chars.next();
                negate = true;
                continue;
            }
            while let Some(&c) = chars.peek() {
                if c == '"' {
                    chars.next();
                    quoted = true;
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '"' {
                            closed = true;
                            break;
                        }
                        tok.push(c);
                    }
                    if !closed {
                        return Err(QueryError::Unterminated);
                    }
                } else if c.is_whitespace() {
                    break;
                } else {
                    tok.push(c);
                    chars.next();
                }
            }
            match tok.as_str() {
                "AND" if !quoted => continue,
                "NOT" if !quoted => {
                    negate = true;
                    continue;
                }
                "OR" if !quoted => return Err(QueryError::Unsupported("OR".into())),
                _ => {}
            }
            let term = match tok.split_once(':') {
                Some((f, v)) if !quoted || !tok.starts_with('"') => {
                    let known = matches!(
                        f,
                        "host" | "site" | "app" | "source" | "severity" | "kind" | "message"
                    ) || f.strip_prefix("fields.").is_some_and(|n| !n.is_empty());
                    if !known {
                        return Err(QueryError::UnknownField(f.to_owned()));
                    }
                    if f == "message" {
                        Term::Text(v.to_lowercase())
                    } else if f == "severity" {
                        let s = logwarden_core::Severity::from_loose_name(v)
                            .ok_or_else(|| QueryError::UnknownSeverity(v.to_owned()))?;
                        Term::Field(f.to_owned(), s.as_str().to_owned())
                    } else {
                        Term::Field(f.to_owned(), v.to_owned())
                    }
                }
                _ => Term::Text(tok.to_lowercase()),
            };
            terms.push((negate, term));
            negate = false;
        }
        if terms.is_empty() {
            return Err(QueryError::Empty);
        }
        Ok(Query(terms))
    }

    pub fn matches(&self, ev: &Event) -> bool {
        self.0.iter().all(|(neg, t)| {
            let hit = match t {
                Term::Text(w) => ev.message.to_lowercase().contains(w.as_str()),
                Term::Field(f, v) => field(ev, f).is_some_and(|x| match f.as_str() {
                    "host" => x.to_lowercase() == v.to_lowercase(),
                    "app" => {
                        x == *v
                            || x.strip_prefix(v.as_str())
                                .is_some_and(|r| r.starts_with('/'))
                    }
                    _ => x == *v,
                }),
            };
            hit != *neg
        })
    }
}

/// The value of a field of an event, as text.
fn field<'a>(ev: &'a Event, name: &str) -> Option<Cow<'a, str>> {
    Some(match name {
        "host" => Cow::Borrowed(&ev.host),
        "site" => Cow::Borrowed(&ev.site),
        "app" => Cow::Borrowed(&ev.app),
        "source" => Cow::Borrowed(&ev.source),
        "severity" => Cow::Borrowed(ev.severity.as_str()),
        "kind" => Cow::Borrowed(ev.kind.as_str()),
        other => match ev.fields.get(other.strip_prefix("fields.")?)? {
            Value::String(s) => Cow::Borrowed(s),
            v => Cow::Owned(v.to_string()),
        },
    })
}

/// The rule's annotations with their templates filled in (rules::template); a name without a
/// value renders empty, with a warning.
fn render_annotations(
    r: &UserRule,
    labels: &BTreeMap<String, String>,
    count: u64,
    ev: &Event,
) -> BTreeMap<String, String> {
    let event = |f: &str| match f {
        "message" => Some(Cow::Borrowed(ev.message.as_str())),
        other => field(ev, other),
    };
    r.annotations
        .iter()
        .map(|(k, t)| {
            let (text, missing) = super::template::render(t, labels, count, &event);
            if !missing.is_empty() {
                tracing::warn!(rule = %r.name, annotation = %k, missing = %missing.join(", "),
                    "annotation template refers to what the alert does not have; rendered empty");
            }
            (k.clone(), text)
        })
        .collect()
}

/// The labels of one group of a rule: the rule's own plus the `group_by` values.
fn group_labels(r: &UserRule, values: &[String]) -> BTreeMap<String, String> {
    let mut l = r.labels.clone();
    for (g, v) in r.group_by.iter().zip(values) {
        l.insert(g.trim_start_matches("fields.").to_owned(), v.clone());
    }
    l
}

/// A validated user rule.
#[derive(Debug, Clone)]
pub struct UserRule {
    pub name: String,
    pub query: Query,
    pub threshold: u64,
    pub window: Duration,
    pub group_by: Vec<String>,
    pub severity: AlertSeverity,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// One group's count of a user rule: its labels, window, and whether it fires.
type GroupCount = (BTreeMap<String, String>, Window, bool);

/// The user rules and their windows.
pub struct UserRules {
    rules: Vec<UserRule>,
    /// (rule index, group values) -> (labels, window, firing).
    windows: HashMap<(usize, Vec<String>), GroupCount>,
}

impl UserRules {
    pub fn new(rules: Vec<UserRule>) -> UserRules {
        UserRules {
            rules,
            windows: HashMap::new(),
        }
    }

    pub fn on_event(&mut self, ev: &Event, out: &mut Vec<Signal>) {
        for (i, r) in self.rules.iter().enumerate() {
            if !r.query.matches(ev) {
                continue;
            }
            let values: Vec<String> = r
                .group_by
                .iter()
                .map(|g| field(ev, g).unwrap_or_default().into_owned())
                .collect();
            let (labels, w, firing) = self
                .windows
                .entry((i, values.clone()))
                .or_insert_with(|| (group_labels(r, &values), Window::new(r.window), false));
            let count = w.add(ev.ts, ev.received.unwrap_or(ev.ts), 1);
            if count >= r.threshold && !*firing {
                *firing = true;
                let mut annotations = render_annotations(r, labels, count, ev);
                annotations.entry("summary".into()).or_insert_with(|| {
                    format!(
                        "{}: {count} events matching the rule within {} s",
                        r.name,
                        r.window.num_seconds()
                    )
                });
                out.push(Signal {
                    name: r.name.clone(),
                    labels: labels.clone(),
                    firing: Some(Firing {
                        severity: r.severity,
                        annotations,
                    }),
                });
            }
        }
    }

    /// What the rules snapshot keeps of the windows. A window names its rule by name (and by
    /// `nth`, its place among rules of that name), not by its index in the config: a rule added
    /// or removed above it must not hand its counts to another rule.
    pub fn save(&self) -> Vec<UserWindowState> {
        let mut out: Vec<(usize, UserWindowState)> = self
            .windows
            .iter()
            .map(|((i, group), (_, w, firing))| {
                let r = &self.rules[*i];
                let state = UserWindowState {
                    rule: r.name.clone(),
                    nth: self.rules[..*i].iter().filter(|o| o.name == r.name).count(),
                    group_by: r.group_by.clone(),
                    group: group.clone(),
                    window: w.save(),
                    firing: *firing,
                };
                (*i, state)
            })
            .collect();
        out.sort_by(|a, b| (a.0, &a.1.group).cmp(&(b.0, &b.1.group)));
        out.into_iter().map(|(_, s)| s).collect()
    }

    /// Takes back the windows [`UserRules::save`] kept, for the rules the config still has with
    /// the same `group_by`; returns how many were dropped (their rule is gone or groups by
    /// other fields, so its counts mean nothing now). Labels and spans come from the config.
    pub fn restore(&mut self, saved: Vec<UserWindowState>) -> usize {
        let mut dropped = 0;
        for s in saved {
            let found = self
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.name == s.rule)
                .nth(s.nth)
                .filter(|(_, r)| r.group_by == s.group_by && s.group.len() == r.group_by.len());
            let Some((i, r)) = found else {
                dropped += 1;
                continue;
            };
            let labels = group_labels(r, &s.group);
            let w = Window::restore(r.window, s.window);
            self.windows.insert((i, s.group), (labels, w, s.firing));
        }
        dropped
    }

    pub fn on_tick(&mut self, now: DateTime<Utc>, out: &mut Vec<Signal>) {
        let rules = &self.rules;
        self.windows.retain(|(i, _), (labels, w, firing)| {
            let left = w.expire(now);
            if *firing && left < rules[*i].threshold {
                *firing = false;
                out.push(Signal::clear(&rules[*i].name, labels.clone()));
            }
            !w.is_empty() || *firing
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logwarden_core::EventId;

    fn ev(app: &str, msg: &str) -> Event {
        let mut e = Event::log(
            EventId::new("a", 1),
            Utc::now(),
            "mbox3",
            "phx",
            "/x",
            msg.into(),
        );
        e.app = app.into();
        e.received = Some(Utc::now());
        e
    }

    #[test]
    fn queries_match_fields_words_phrases_and_negations() {
        let q = Query::parse("app:mailbox AND \"out of memory\" NOT debug").unwrap();
        assert!(q.matches(&ev("mailbox", "java: Out of memory here")));
        assert!(!q.matches(&ev("mailbox", "out of memory debug")));
        assert!(!q.matches(&ev("nginx", "out of memory")));
        assert_eq!(
            Query::parse("a OR b"),
            Err(QueryError::Unsupported("OR".into()))
        );
        assert_eq!(
            Query::parse("foo:bar"),
            Err(QueryError::UnknownField("foo".into()))
        );
        assert_eq!(Query::parse("  "), Err(QueryError::Empty));
    }

    #[test]
    fn severities_apps_and_hosts_match_as_in_search() {
        let mut e = ev("postfix/smtpd", "lost connection");
        e.severity = logwarden_core::Severity::Err;
        e.host = "MBOX3".into();
        for q in [
            "severity:error",
            "severity:ERR",
            "app:postfix",
            "host:mbox3",
        ] {
            assert!(Query::parse(q).unwrap().matches(&e), "{q}");
        }
        for q in ["severity:warn", "app:post", "app:postfix/qmgr", "host:mbox"] {
            assert!(!Query::parse(q).unwrap().matches(&e), "{q}");
        }
        assert_eq!(
            Query::parse("severity:loud"),
            Err(QueryError::UnknownSeverity("loud".into()))
        );
    }

    #[test]
    fn a_rule_fires_at_its_threshold_per_group() {
        let rule = UserRule {
            name: "Oom".into(),
            query: Query::parse("oom").unwrap(),
            threshold: 3,
            window: Duration::seconds(60),
            group_by: vec!["host".into()],
            severity: AlertSeverity::Warning,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        };
        let mut u = UserRules::new(vec![rule]);
        let mut out = Vec::new();
        for _ in 0..3 {
            u.on_event(&ev("x", "OOM killer"), &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].labels.get("host").map(String::as_str), Some("mbox3"));
        let mut out = Vec::new();
        u.on_tick(Utc::now() + Duration::seconds(61), &mut out);
        assert!(out[0].firing.is_none());
    }

    #[test]
    fn annotations_are_rendered_from_labels_count_and_the_event() {
        let rule = UserRule {
            name: "Oom".into(),
            query: Query::parse("oom").unwrap(),
            threshold: 2,
            window: Duration::seconds(60),
            group_by: vec!["host".into()],
            severity: AlertSeverity::Warning,
            labels: BTreeMap::from([("team".into(), "mail".into())]),
            annotations: BTreeMap::from([
                (
                    "summary".into(),
                    "{{ value }} OOMs on {{ labels.host }} ({{ event.app }}): {{ event.message }}{{ labels.nope }}".into(),
                ),
                ("runbook_url".into(), "https://wiki.example/oom#{{labels.team}}".into()),
            ]),
        };
        let mut u = UserRules::new(vec![rule]);
        let mut out = Vec::new();
        u.on_event(&ev("mailboxd", "OOM one"), &mut out);
        u.on_event(&ev("mailboxd", "OOM two"), &mut out);
        let a = &out[0].firing.as_ref().unwrap().annotations;
        assert_eq!(a["summary"], "2 OOMs on mbox3 (mailboxd): OOM two");
        assert_eq!(a["runbook_url"], "https://wiki.example/oom#mail");
    }
}

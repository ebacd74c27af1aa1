//! The event: one log line (or multi-line record), one health record or one heartbeat.
//!
//! Its JSON form is the contract of PRODUCT.md ("Event"): the same object is printed by
//! `logwarden-agent parse`, sent to `POST /api/v1/ingest` as NDJSON, kept in the collector's WAL
//! and returned by `logwarden search -o json`.
//!
//! Identity is `(agent_id, seq)`, written `"<agent_id>:<seq>"`: the agent numbers its events
//! with a strictly increasing `seq` that survives restarts, and the collector drops any event
//! whose identity it already holds, which is what makes resending harmless.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
pub use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Fields;

/// The largest message the model accepts (1 MiB). Bigger records are cut by whoever makes them
/// (the agent's reader, the syslog listener) and flagged, so that no single record can take a
/// whole ingest batch down with it.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// One event. See the module doc and PRODUCT.md for the meaning of each field.
///
/// The short names (`host`, `site`, `source`, `app`, and the agent id) are [`CompactString`]s:
/// up to 24 bytes they are held inline, not on the heap. An event is made on one thread (a
/// connection, an ingest request) and freed on another (the WAL committer's cache of recent
/// events), and each heap string cost an allocation there and a free here. Inline, the collector
/// took 1-2 % less CPU and 10 MiB less memory for 1M events of ingest (docs/BENCHMARKS.md,
/// session 9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub id: EventId,
    #[serde(
        serialize_with = "crate::timestamp::serialize",
        deserialize_with = "crate::timestamp::deserialize"
    )]
    pub ts: DateTime<Utc>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::timestamp::serialize_opt",
        deserialize_with = "crate::timestamp::deserialize_opt"
    )]
    pub received: Option<DateTime<Utc>>,
    pub host: CompactString,
    #[serde(default)]
    pub site: CompactString,
    pub source: CompactString,
    #[serde(default)]
    pub app: CompactString,
    #[serde(default)]
    pub severity: Severity,
    #[serde(default)]
    pub kind: Kind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub fields: Fields,
}

impl Event {
    /// A log event with empty `app`, `info` severity and no fields: the parsers fill in the rest.
    pub fn log(
        id: EventId,
        ts: DateTime<Utc>,
        host: &str,
        site: &str,
        source: &str,
        message: String,
    ) -> Event {
        Event {
            id,
            ts,
            received: None,
            host: host.into(),
            site: site.into(),
            source: source.into(),
            app: CompactString::default(),
            severity: Severity::Info,
            kind: Kind::Log,
            message,
            fields: Fields::new(),
        }
    }

    /// Checks what serde cannot: the rules an event must keep to be stored.
    pub fn validate(&self) -> Result<(), EventError> {
        if self.host.trim().is_empty() {
            return Err(EventError::Empty("host"));
        }
        if self.source.trim().is_empty() {
            return Err(EventError::Empty("source"));
        }
        if self.message.len() > MAX_MESSAGE_BYTES {
            return Err(EventError::MessageTooLong {
                len: self.message.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        Ok(())
    }
}

/// Why an event is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// `id` is not `<agent_id>:<seq>` with a non-empty agent id and a decimal seq.
    #[error("id {0:?} is not of the form <agent_id>:<seq>")]
    BadId(String),
    /// A field that must say something is empty.
    #[error("field `{0}` is empty")]
    Empty(&'static str),
    /// The message is over [`MAX_MESSAGE_BYTES`].
    #[error("message is {len} bytes, over the limit of {max} bytes")]
    MessageTooLong { len: usize, max: usize },
    /// A severity name that is not one of syslog's eight.
    #[error("severity {0:?} is not one of emerg alert crit err warning notice info debug")]
    BadSeverity(String),
    /// A kind that is not `log`, `health` or `heartbeat`.
    #[error("kind {0:?} is not one of log health heartbeat")]
    BadKind(String),
}

/// `(agent_id, seq)`: who made the event and its place in that agent's sequence.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    pub agent_id: CompactString,
    pub seq: u64,
}

impl EventId {
    pub fn new(agent_id: impl Into<CompactString>, seq: u64) -> EventId {
        EventId {
            agent_id: agent_id.into(),
            seq,
        }
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.agent_id, self.seq)
    }
}

impl FromStr for EventId {
    type Err = EventError;

    /// Splits at the last `:` so that an agent id may itself hold colons.
    fn from_str(s: &str) -> Result<EventId, EventError> {
        let bad = || EventError::BadId(s.to_owned());
        let (agent, seq) = s.rsplit_once(':').ok_or_else(bad)?;
        if agent.is_empty() || agent.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let seq = seq.parse().map_err(|_| bad())?;
        Ok(EventId::new(agent, seq))
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Built directly rather than through `Display` (`collect_str` goes through `fmt`, a
        // visible cost when the collector serializes syslog events).
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(self.seq);
        let mut id = String::with_capacity(self.agent_id.len() + 1 + digits.len());
        id.push_str(&self.agent_id);
        id.push(':');
        id.push_str(digits);
        s.serialize_str(&id)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EventId, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Syslog's eight severities, most severe first (so `a < b` means `a` is worse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Severity {
    Emerg,
    Alert,
    Crit,
    Err,
    Warning,
    Notice,
    #[default]
    Info,
    Debug,
}

impl Severity {
    pub const ALL: [Severity; 8] = [
        Severity::Emerg,
        Severity::Alert,
        Severity::Crit,
        Severity::Err,
        Severity::Warning,
        Severity::Notice,
        Severity::Info,
        Severity::Debug,
    ];

    /// The contract name (`err`, `warning`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Emerg => "emerg",
            Severity::Alert => "alert",
            Severity::Crit => "crit",
            Severity::Err => "err",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Info => "info",
            Severity::Debug => "debug",
        }
    }

    /// The syslog numeric level (0 = emerg ... 7 = debug).
    pub fn from_level(level: u8) -> Option<Severity> {
        Severity::ALL.get(usize::from(level)).copied()
    }

    /// Reads the names programs really print (`ERROR`, `WARN`, `FATAL`, `trace`, ...), for the
    /// parsers. Exact contract names are read by `FromStr`.
    pub fn from_loose_name(name: &str) -> Option<Severity> {
        let s = name.trim().to_ascii_lowercase();
        Some(match s.as_str() {
            "emerg" | "emergency" | "panic" => Severity::Emerg,
            "alert" => Severity::Alert,
            "crit" | "critical" | "fatal" | "severe" => Severity::Crit,
            "err" | "error" => Severity::Err,
            "warning" | "warn" => Severity::Warning,
            "notice" => Severity::Notice,
            "info" | "information" | "informational" => Severity::Info,
            "debug" | "trace" | "fine" | "finer" | "finest" => Severity::Debug,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = EventError;

    fn from_str(s: &str) -> Result<Severity, EventError> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| EventError::BadSeverity(s.to_owned()))
    }
}

/// What an event is: a log record, a health record from a probe, or an agent's heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Kind {
    #[default]
    Log,
    Health,
    Heartbeat,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Log => "log",
            Kind::Health => "health",
            Kind::Heartbeat => "heartbeat",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = EventError;

    fn from_str(s: &str) -> Result<Kind, EventError> {
        [Kind::Log, Kind::Health, Kind::Heartbeat]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| EventError::BadKind(s.to_owned()))
    }
}

/// Serde through the contract names, so that a bad value is reported with its text.
macro_rules! serde_by_name {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_by_name!(Severity);
serde_by_name!(Kind);

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        let ts = DateTime::parse_from_rfc3339("2026-11-29T02:21:38.5+01:00")
            .unwrap()
            .with_timezone(&Utc);
        let mut e = Event::log(
            EventId::new("mbox3", 7),
            ts,
            "mbox3",
            "phx",
            "/opt/zimbra/log/mailbox.log",
            "hello".into(),
        );
        e.fields
            .insert("account".into(), "alice@example.com".into());
        e
    }

    #[test]
    fn event_round_trips_through_json_with_the_contract_names() {
        let e = sample();
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""id":"mbox3:7""#), "{json}");
        assert!(json.contains(r#""severity":"info""#), "{json}");
        assert!(json.contains(r#""kind":"log""#), "{json}");
        assert!(
            json.contains(r#""ts":"2026-11-29T01:21:38.500Z""#),
            "{json}"
        );
        assert!(!json.contains("received"), "{json}");
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn id_splits_at_the_last_colon_and_rejects_garbage() {
        assert_eq!(
            "a:b:12".parse::<EventId>().unwrap(),
            EventId::new("a:b", 12)
        );
        for bad in [
            "",
            "12",
            ":12",
            "a:",
            "a:-1",
            "a:1x",
            "a b:1",
            "a:99999999999999999999999",
        ] {
            assert!(bad.parse::<EventId>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn bad_severity_is_named_in_the_error() {
        let line = r#"{"id":"a:1","ts":"2026-01-01T00:00:00Z","host":"h","source":"s","message":"m","severity":"loud"}"#;
        let err = serde_json::from_str::<Event>(line).unwrap_err().to_string();
        assert!(err.contains("\"loud\""), "{err}");
    }

    #[test]
    fn severities_are_ordered_worst_first_and_read_loosely() {
        assert!(Severity::Crit < Severity::Warning);
        assert_eq!(Severity::from_loose_name("WARN"), Some(Severity::Warning));
        assert_eq!(Severity::from_loose_name("FATAL"), Some(Severity::Crit));
        assert_eq!(Severity::from_level(3), Some(Severity::Err));
        assert_eq!(Severity::from_level(8), None);
    }

    #[test]
    fn validate_rejects_empty_host() {
        let mut e = sample();
        e.host = " ".into();
        assert_eq!(e.validate(), Err(EventError::Empty("host")));
    }
}

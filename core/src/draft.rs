//! A draft event: what a source (a tailed file, a health probe) knows about an event before the
//! pipeline gives it its identity (`agent_id:seq`) and the host and site it happened on.

use crate::{Event, EventId, Fields, Kind, Severity};
use chrono::{DateTime, Utc};
use compact_str::CompactString;

#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The time in the line, when it has one; the pipeline uses the read time otherwise.
    pub ts: Option<DateTime<Utc>>,
    /// The host named in the line (syslog lines carry one); the agent's host otherwise.
    pub host: Option<CompactString>,
    /// File path, `syslog` or `health`.
    pub source: CompactString,
    pub app: CompactString,
    pub severity: Severity,
    pub kind: Kind,
    pub message: String,
    pub fields: Fields,
}

impl Draft {
    /// A plain log line: the whole line is the message, nothing else is known.
    pub fn plain(source: &str, message: String) -> Draft {
        Draft {
            ts: None,
            host: None,
            source: source.into(),
            app: CompactString::default(),
            severity: Severity::Info,
            kind: Kind::Log,
            message,
            fields: Fields::new(),
        }
    }

    /// The finished event, with its identity and where it happened.
    pub fn into_event(self, id: EventId, host: &str, site: &str, now: DateTime<Utc>) -> Event {
        Event {
            id,
            ts: self.ts.unwrap_or(now),
            received: None,
            host: self.host.unwrap_or_else(|| host.into()),
            site: site.into(),
            source: self.source,
            app: self.app,
            severity: self.severity,
            kind: self.kind,
            message: self.message,
            fields: self.fields,
        }
    }
}

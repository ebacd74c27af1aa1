//! The mail trace on the wire: `GET /api/v1/trace` (collector) and `logwarden trace` (CLI).
//!
//! A trace follows one message across the fleet from the fields the parsers read out of
//! postfix, amavis and Zimbra's mailbox log (docs/parsers.md): within a host by its queue id,
//! through the content filter by `queued_as`, to the next MTA and the mailbox host by its
//! message-id. The answer lists the messages found, newest first, each with its timeline (one
//! hop per log line) and the final status of each recipient.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const TRACE_PATH: &str = "/api/v1/trace";

/// Most messages one trace answers with (`limit`); more is refused with 400.
pub const MAX_TRACE_LIMIT: usize = 200;
/// Messages answered when no `limit` is given.
pub const DEFAULT_TRACE_LIMIT: usize = 20;

/// `GET /api/v1/trace?q=...&since=...&until=...&host=...&limit=...`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceParams {
    /// A queue id (`4A1B2C3D01`), a message-id (`<x@example.org>`) or an address
    /// (`alice@example.org`).
    #[serde(default)]
    pub q: String,
    /// Where to look: a duration back from now (`2h`, `7d`) or an RFC 3339 time. Default: 30
    /// days back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Only where the queue id, message-id or address is seen on this host (case-insensitive);
    /// the trace then follows the message wherever it went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// What `q` was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceTarget {
    QueueId,
    MessageId,
    Address,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceResponse {
    pub query: String,
    pub target: TraceTarget,
    /// Newest first. Empty: nothing matched.
    pub messages: Vec<TracedMessage>,
    /// More messages matched than `limit`.
    #[serde(default)]
    pub truncated: bool,
    pub took_us: u64,
}

/// One message, as far as the logs follow it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracedMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The envelope sender (empty for a bounce notification's `<>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Every queue the message went through, in order: `host/queue_id`.
    pub queues: Vec<String>,
    /// One line per log event, oldest first.
    pub hops: Vec<Hop>,
    /// The final status of each recipient.
    pub recipients: Vec<RecipientStatus>,
    /// A one-word summary: `delivered`, `sent`, `deferred`, `bounced`, `expired`, `blocked`,
    /// `queued`, or `mixed` when the recipients differ.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hop {
    pub ts: DateTime<Utc>,
    pub host: String,
    /// The app that logged it: `postfix/smtpd`, `amavis`, `mailbox` (lmtp, mailop), ...
    pub component: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// What happened, in words.
    pub what: String,
    /// Seconds since the previous hop (none for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_s: Option<f64>,
    /// Part of the bounce notification the message caused rather than of the message itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notification: bool,
    /// The event's id (`agent:seq`), to open it in search.
    pub event_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientStatus {
    pub address: String,
    /// `delivered` (into a mailbox), `sent` (handed to another MTA), `deferred` (still
    /// queued), `bounced`, `expired`, `blocked` (by the content filter), `queued`.
    pub status: String,
    pub ts: DateTime<Utc>,
    /// Where: the mailbox host, or the relay it was handed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn: Option<String>,
    /// The reply or reason, as postfix logged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

//! The messages of the collector's HTTP API (PRODUCT.md, "HTTP API"), shared by the collector
//! that answers them, the agent that ships events and the CLI that searches.
//!
//! `POST /api/v1/ingest` takes NDJSON: one [`crate::Event`] per line, optionally compressed
//! (`Content-Encoding: zstd` or `gzip`), with `Authorization: Bearer <token>` when the collector
//! has tokens. It answers `200` with an [`IngestResponse`] as soon as every accepted event is in
//! the collector's write-ahead log and fsynced: a `200` means durable. Any other status carries an
//! [`ErrorBody`] and means nothing of that request was kept.

use serde::{Deserialize, Serialize};

use crate::Event;

pub const INGEST_PATH: &str = "/api/v1/ingest";
pub const SEARCH_PATH: &str = "/api/v1/search";
pub const STATUS_PATH: &str = "/api/v1/status";
pub const FLEET_PATH: &str = "/api/v1/fleet";
pub const COUNT_PATH: &str = "/api/v1/count";
pub const TAIL_PATH: &str = "/api/v1/tail";
pub const CONTEXT_PATH: &str = "/api/v1/context";
pub const FIELDS_PATH: &str = "/api/v1/fields";

/// Where the CLI and the agent look for a collector when told nothing else.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7070";

/// The collector's answer to one ingest request, line by line.
///
/// Every line of the request is in exactly one of three places: counted in `accepted`, listed in
/// `duplicates` (already held: a resend), or listed in `rejected` with the reason. Indexes are
/// 0-based positions among the request's non-empty lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestResponse {
    /// New events, now durable.
    pub accepted: u64,
    /// Lines whose `(agent_id, seq)` the collector already holds: harmless, nothing to resend.
    #[serde(default)]
    pub duplicates: Vec<usize>,
    /// Lines that will never be accepted as they are: resending them cannot help.
    #[serde(default)]
    pub rejected: Vec<Rejected>,
    /// The WAL position of the record holding this batch, when something was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lsn: Option<u64>,
    /// The collector's epoch when it acknowledged (see the failover design in
    /// docs/architecture.md): agents never count an ack from an epoch lower than one they saw.
    #[serde(default)]
    pub epoch: u64,
}

/// One line of an ingest request that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub index: usize,
    pub reason: String,
}

/// The body of every non-2xx answer of the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// `GET /api/v1/search?q=QUERY&since=..&until=..&limit=N&order=newest|oldest&after=CURSOR`:
/// newest first (or oldest first), in a total order: time, then the event's place in the WAL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchParams {
    /// tantivy query syntax over the event fields; empty or `*` matches everything.
    #[serde(default)]
    pub q: String,
    /// A duration back from now (`15m`, `2h`, `7d`) or an RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// An RFC 3339 time or a duration back from now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// `newest` (the default) or `oldest` first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// A `cursor` of an earlier answer (same query, range and order): only the events after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// The WAL position the index held when the search began: a live tail continues from it.
    #[serde(default)]
    pub indexed_lsn: u64,
    /// How many events matched in all (may exceed `hits.len()`); with `after`, how many after
    /// the cursor.
    pub total: u64,
    /// The first `limit` matches in the order asked for (newest first by default).
    pub hits: Vec<Event>,
    /// Where each hit is in the total order (opaque), one per hit: the `after` for the events
    /// after it, and the handle of `GET /api/v1/context`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub positions: Vec<String>,
    /// Pass as `after` for the next page; absent when this page holds the last match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Time spent at the server, in microseconds.
    pub took_us: u64,
    /// Index partitions (days) the time range reached and the search opened.
    #[serde(default)]
    pub partitions: u64,
    /// Cluster mode (docs/scale.md): the partitions whose owner did not answer, so that the
    /// answer lacks their events; absent when complete (and outside cluster mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_partitions: Vec<u32>,
    /// Why they did not answer, one line per owner asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_reasons: Vec<String>,
}

/// `GET /api/v1/context?at=POSITION&before=N&after=N`: the events around one (a position from a
/// search's `positions`) from the same host and source, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContextParams {
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextResponse {
    /// Up to `before` events just before the hit, oldest first.
    pub before: Vec<Event>,
    pub hit: Event,
    /// Up to `after` events just after it, oldest first.
    pub after: Vec<Event>,
    pub took_us: u64,
}

/// `GET /api/v1/fields?q=QUERY&since=..&until=..`: the extracted fields (`fields.NAME`) the
/// matching events have, with how many have each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldsParams {
    #[serde(default)]
    pub q: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldsResponse {
    /// Matching events in all.
    pub total: u64,
    /// Most frequent first.
    pub fields: Vec<CountBucket>,
    pub partitions: u64,
    pub took_us: u64,
    /// Cluster mode: partitions whose owner did not answer (as in [`SearchResponse`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_partitions: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_reasons: Vec<String>,
}

/// `GET /api/v1/status`: what the collector is and how far behind each stage is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusResponse {
    pub version: String,
    /// `primary` or `standby`.
    pub role: String,
    pub site: String,
    pub epoch: u64,
    pub wal: WalStatus,
    pub index: IndexStatus,
    /// Records the standby is behind; absent while there is no replication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_lag: Option<u64>,
    /// The primary's URL, as a standby knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// Replication with the peer collector; absent when none is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<ReplicationStatus>,
    /// This collector's place in a cluster (docs/scale.md); absent outside cluster mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStatus>,
}

/// The cluster part of [`StatusResponse`], also `GET /api/v1/cluster` (docs/scale.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// This collector's id in the cluster.
    pub id: String,
    /// Partitions of the event stream in all.
    pub partitions: u32,
    /// The partitions this collector owns now.
    pub owned: Vec<u32>,
    /// Per partition owned: events in the stream not yet delivered to this collector, as its
    /// consumer last reported (absent until it has).
    pub pending: std::collections::BTreeMap<u32, u64>,
    /// The collector that runs the cluster's alert engine, as the lease bucket last said
    /// (absent while nobody holds the lease, and from collectors before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_leader: Option<String>,
    /// The whole cluster as JetStream holds it (`GET /api/v1/status` and `/api/v1/cluster`);
    /// absent when it could not be read (then `view_error` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<ClusterView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_error: Option<String>,
}

/// The whole cluster: its collectors, who owns each partition and how far behind its reader
/// is, the event stream, and who leads alerting (docs/scale.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The running collectors (their membership entries), by id.
    pub members: Vec<String>,
    /// Every partition, in order.
    pub partitions: Vec<PartitionView>,
    /// The event stream.
    pub stream: StreamView,
    /// Who runs the cluster's alert engine (absent: nobody holds the lease right now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_leader: Option<String>,
}

/// One partition of the event stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionView {
    pub partition: u32,
    /// The collector holding its lease (absent: nobody, e.g. just after its owner died).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Events of the partition its owner's consumer has not read yet, or read and not yet
    /// written to its WAL (absent when the owner's consumer could not be asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<u64>,
}

/// A JetStream stream's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamView {
    pub name: String,
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    /// Copies JetStream keeps (the stream's setting).
    pub replicas: usize,
    /// The NATS node leading the stream's Raft group, and the other copies: `name` and
    /// whether it is `current`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    #[serde(default)]
    pub peers: Vec<PeerView>,
}

/// A copy of a stream on a NATS node other than the leader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerView {
    pub name: String,
    pub current: bool,
}

/// The replication part of [`StatusResponse`] (docs/failover.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicationStatus {
    /// `sync` or `async`.
    pub mode: String,
    /// The other collector's URL.
    pub peer: String,
    /// `streaming`, `degraded` (a sync primary going on alone), `disconnected`, or
    /// `write_failing` (a standby that cannot write what it copies: its disk full).
    pub state: String,
    /// Records the standby is behind.
    pub lag_records: u64,
    /// Milliseconds since the peer was last heard from over replication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_contact_ms: Option<u64>,
    /// What an operator can do (e.g. how to promote by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// `POST /api/v1/promote[?force=true]` (admin token): a planned switchover to the collector
/// asked (a standby), or to the peer when asked of the primary.
pub const PROMOTE_PATH: &str = "/api/v1/promote";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromoteParams {
    /// Promote without the primary's consent (it is down for good).
    #[serde(default)]
    pub force: bool,
}

/// The answer to a promotion (and to the primary's handover).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromoteResponse {
    /// The new primary's epoch.
    pub epoch: u64,
    /// The last LSN of the old primary, all held by the new one.
    pub durable_lsn: u64,
    /// The new primary's site.
    pub site: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalStatus {
    /// The last record fsynced (0 when the log is empty).
    pub durable_lsn: u64,
    /// The first record the log still holds: older ones were trimmed by WAL retention (absent
    /// from collectors before it: 1).
    #[serde(default = "first_lsn_default")]
    pub first_lsn: u64,
    /// What keeps the oldest records WAL retention may not delete yet (`committer checkpoint`,
    /// `rules snapshot`, `index`, `fleet view`, `standby`), once retention has looked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
    pub segments: u64,
    pub bytes: u64,
    /// Records found corrupt and skipped since start (each one logged).
    pub corrupt_records: u64,
}

fn first_lsn_default() -> u64 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexStatus {
    /// The last WAL record whose events are searchable.
    pub indexed_lsn: u64,
    /// WAL records not yet searchable.
    pub lag_records: u64,
    pub docs: u64,
    /// The day partitions, oldest first.
    #[serde(default)]
    pub partitions: Vec<PartitionStatus>,
    /// The newest day retention dropped (its events and older ones are not indexed again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_through: Option<chrono::NaiveDate>,
    /// Events not indexed because their day was past retention when they arrived.
    #[serde(default)]
    pub expired_events: u64,
}

/// One day partition of the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionStatus {
    /// The UTC day of the events' own time.
    pub day: chrono::NaiveDate,
    pub docs: u64,
    pub bytes: u64,
    /// The WAL record it holds everything through.
    pub lsn: u64,
}

/// `GET /api/v1/fleet`: every host the collector has heard from, with the newest health record
/// of each check and subject (see `crate::health::subject`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetResponse {
    pub hosts: Vec<HostHealth>,
    /// Cluster mode (docs/scale.md): the partitions whose owner did not answer, so that the
    /// answer lacks their events; absent when complete (and outside cluster mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_partitions: Vec<u32>,
    /// Why they did not answer, one line per owner asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostHealth {
    pub host: String,
    pub site: String,
    /// When the collector last received any event from this host.
    pub last_seen: chrono::DateTime<chrono::Utc>,
    /// The newest health record per check and subject, ordered by check then subject.
    pub checks: Vec<Event>,
}

/// `POST /api/v1/fleet/{host}/forget` (admin): retire a host stopped on purpose. Its alerts
/// resolve and it leaves the fleet view until it sends anything again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ForgetRequest {
    /// Who retires it (kept in the WAL record).
    #[serde(default)]
    pub author: String,
}

/// The answer to [`ForgetRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForgetResponse {
    pub host: String,
    /// The WAL record that holds the forget.
    pub lsn: u64,
    /// The host's alerts that were firing and are now resolved.
    pub resolved: Vec<AlertView>,
}

/// `GET /api/v1/count?q=QUERY&since=..&until=..&by=FIELD&every=DUR&limit=N`: the number of
/// matching events in all, by the values of a field (`by`, the `limit` largest) or over time
/// (`every`, a histogram).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CountParams {
    #[serde(default)]
    pub q: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// A keyword field (host, site, app, severity, kind, source) or `fields.NAME`; two, comma
    /// separated (`host,app`), count pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// A bucket width like `5m`, `1h`, `1d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CountResponse {
    pub total: u64,
    /// Index partitions (days) the time range reached and the count opened.
    #[serde(default)]
    pub partitions: u64,
    /// Per value of `by` (largest first) or per time bucket (oldest first, keys in RFC 3339).
    #[serde(default)]
    pub buckets: Vec<CountBucket>,
    /// With `by`: the events in none of the buckets (other values, or no value at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<u64>,
    /// Cluster mode, with `by` (docs/scale.md): set when a value not listed may have more
    /// events than the last one listed, to the most it may have (the counts listed are
    /// exact; which values are the largest is not sure then). Absent when the list is sure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlisted_up_to: Option<u64>,
    /// Cluster mode (docs/scale.md): the partitions whose owner did not answer, so that the
    /// answer lacks their events; absent when complete (and outside cluster mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_partitions: Vec<u32>,
    /// Why they did not answer, one line per owner asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountBucket {
    /// The value (with two `by` fields, both joined by a space).
    pub key: String,
    pub count: u64,
    /// With two `by` fields: the value of each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

/// `GET /api/v1/tail?q=QUERY[&after=LSN]`: a never-ending NDJSON stream of the events matching
/// the query as they become searchable (after WAL position `after`, or from now). Blank lines
/// are keep-alives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TailParams {
    #[serde(default)]
    pub q: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Alerts (PRODUCT.md, "Alerts"; docs/alerts.md)
// ---------------------------------------------------------------------------------------------

/// `GET /api/v1/alerts[?all=true]`: firing alerts (and, with `all`, resolved ones still kept).
pub const ALERTS_PATH: &str = "/api/v1/alerts";
/// `GET` lists silences, `POST` adds one ([`SilenceRequest`]); `DELETE .../{id}` expires one.
pub const SILENCES_PATH: &str = "/api/v1/silences";

/// How loud an alert is, Alertmanager's usual `severity` label values, quietest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertSeverity {
    Info,
    Warning,
    Critical,
}

impl AlertSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSeverity::Info => "info",
            AlertSeverity::Warning => "warning",
            AlertSeverity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<AlertSeverity> {
        match s {
            "info" => Some(AlertSeverity::Info),
            "warning" => Some(AlertSeverity::Warning),
            "critical" => Some(AlertSeverity::Critical),
            _ => None,
        }
    }
}

impl std::fmt::Display for AlertSeverity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the condition behind an alert holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// An acknowledgement: stops repeats of the alert until it resolves or changes severity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub author: String,
    #[serde(default)]
    pub comment: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The severity that was acknowledged: a change of severity ends the ack.
    pub severity: AlertSeverity,
}

/// One alert as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    /// The dedup key: a hash of the alert name and its identifying labels (stable across
    /// restarts and collectors); what `logwarden ack` takes.
    pub id: String,
    pub name: String,
    pub severity: AlertSeverity,
    pub status: AlertStatus,
    /// Identifying labels (`host`, `array`, ...), without `alertname` and `severity`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// `summary`, `description` and details that may change while the alert fires.
    pub annotations: std::collections::BTreeMap<String, String>,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<Ack>,
    /// Ids of the active silences that match it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub silenced_by: Vec<String>,
    /// The id of a firing alert that holds this one back (inhibition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inhibited_by: Option<String>,
}

/// `GET /api/v1/alerts` query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertsParams {
    /// Resolved alerts too.
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertsResponse {
    /// Firing first, then by severity (loudest first), then newest first.
    pub alerts: Vec<AlertView>,
}

/// `POST /api/v1/alerts/{id}/ack`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AckRequest {
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub comment: String,
}

/// A label matcher of a silence: `name=value`, `name!=value`, or with `regex`, `name=~regex`
/// and `name!~regex` (anchored at both ends, as Alertmanager's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    pub name: String,
    pub value: String,
    /// `!=` (or `!~`) instead of `=` (or `=~`).
    #[serde(default)]
    pub negative: bool,
    /// `value` is a regular expression.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub regex: bool,
}

impl std::str::FromStr for Matcher {
    type Err = String;

    /// `name=value`, `name!=value`, `name=~regex` or `name!~regex`.
    fn from_str(s: &str) -> Result<Matcher, String> {
        let at = s.find(['=', '!']).ok_or_else(|| {
            format!("matcher {s:?} is not NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX")
        })?;
        let (name, rest) = s.split_at(at);
        let (value, negative, regex) = if let Some(v) = rest.strip_prefix("=~") {
            (v, false, true)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (v, true, true)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (v, true, false)
        } else if let Some(v) = rest.strip_prefix('=') {
            (v, false, false)
        } else {
            return Err(format!(
                "matcher {s:?} is not NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX"
            ));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("matcher {s:?} has no label name"));
        }
        Ok(Matcher {
            name: name.to_owned(),
            value: value.trim().to_owned(),
            negative,
            regex,
        })
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match (self.negative, self.regex) {
            (false, false) => "=",
            (true, false) => "!=",
            (false, true) => "=~",
            (true, true) => "!~",
        };
        write!(f, "{}{op}{}", self.name, self.value)
    }
}

/// A silence: alerts whose labels (plus `alertname` and `severity`) match every matcher are
/// not notified between `starts_at` and `ends_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    pub ends_at: chrono::DateTime<chrono::Utc>,
    pub author: String,
    #[serde(default)]
    pub comment: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// A recurring maintenance window: the silence holds only while one of these weekly
    /// openings is in force, between `starts_at` and `ends_at` ([`forever`] when it recurs
    /// until expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Weekly>,
    /// In listings of a recurring silence: the opening in force, or else the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_window: Option<Opening>,
}

/// The weekly openings of a maintenance window: on `days`, from `at` local time in `tz`, for
/// `duration_s` seconds (at most a day; a local time a daylight-saving change skips moves on to
/// the first valid moment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weekly {
    /// `mon` ... `sun` (or full names).
    pub days: Vec<String>,
    /// `HH:MM`, local time in `tz`.
    pub at: String,
    pub duration_s: u64,
    /// An IANA zone name (`Europe/Berlin`, `UTC`).
    pub tz: String,
}

/// One opening of a maintenance window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    pub starts_at: chrono::DateTime<chrono::Utc>,
    pub ends_at: chrono::DateTime<chrono::Utc>,
}

/// The end of a recurring silence that recurs until it is expired (9999-12-31T23:59:59Z).
pub fn forever() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(253_402_300_799, 0)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// `POST /api/v1/silences`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SilenceRequest {
    pub matchers: Vec<Matcher>,
    /// Defaults to now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<chrono::DateTime<chrono::Utc>>,
    pub ends_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub comment: String,
    /// Recurring: silences only during these weekly openings, from `starts_at` to `ends_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Weekly>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilencesResponse {
    pub silences: Vec<Silence>,
}

/// `POST` sends a synthetic alert through the routing and the receivers, never into the alert
/// table ([`TestAlertRequest`], admin role; `logwarden alerts test`).
pub const ALERTS_TEST_PATH: &str = "/api/v1/alerts/test";

/// A test notification: to `receiver` alone, or wherever the routes send `labels`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TestAlertRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// The synthetic alert's labels; `alertname` (default `LogwardenTest`) and `severity`
    /// (default `warning`) included.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// What each receiver said to the test notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestAlertResponse {
    /// The synthetic alert as sent.
    pub alert: AlertView,
    pub outcomes: Vec<TestOutcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestOutcome {
    pub receiver: String,
    /// `webhook`, `slack`, `pagerduty`, `email`, `command`.
    pub kind: String,
    /// The route that chose it (its group key prefix), or `--receiver`.
    pub route: String,
    /// Whether the receiver took it.
    pub sent: bool,
    /// The peer's answer when it did not (status and body, the SMTP reply, the TLS error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

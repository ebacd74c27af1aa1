//! `GET /metrics`: the collector's own state and the fleet's health in Prometheus' text format,
//! for Grafana and for alerting outside logwarden.
//!
//! Counters are atomics bumped where things happen ([`Counters`]); everything else is read at
//! scrape time from the state that already exists (WAL and index positions, the fleet view, the
//! alert table), so a series disappears when what it describes does. The registry is built
//! anew on each scrape: cheap at fleet sizes, and nothing to keep in sync.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use logwarden_core::wire::{AlertView, FleetResponse};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Events counted as they pass, by the code that handles them.
#[derive(Debug, Default)]
pub struct Counters {
    pub ingest_accepted: AtomicU64,
    pub ingest_duplicates: AtomicU64,
    pub ingest_rejected: AtomicU64,
    /// Whole requests refused (401, 413, 429, ...).
    pub ingest_refused: AtomicU64,
    pub syslog_messages: AtomicU64,
    /// UDP messages dropped because the WAL could not keep up.
    pub syslog_dropped: AtomicU64,
    /// Milliseconds the syslog intake held its senders off for want of room (the WAL, the disk
    /// or the index backlog at its limit).
    pub syslog_paused_ms: AtomicU64,
    /// Bytes of ingest request bodies as they arrived (compressed when they were).
    pub ingest_bytes: AtomicU64,
    /// Notifications per receiver (name, kind): how many were delivered and how many were
    /// given up on after their retries. A mutex: notifications are rare, receivers few.
    pub notifications: Mutex<BTreeMap<(String, String), Delivery>>,
    /// HTTP calls refused for their token (401, 403).
    pub auth_refused: AtomicU64,
    /// HTTP connections answered 429 because `[limits] max_connections` were open.
    pub connections_refused: AtomicU64,
    /// Ingest batches refused (403) for an id outside their token's agent (auth::binding).
    pub ingest_id_refused: AtomicU64,
    /// Requests refused (503) because the memory budget for bodies was spent.
    pub memory_refused: AtomicU64,
    /// Live tails ended because their reader fell too far behind.
    pub tail_dropped: AtomicU64,
    /// Connections refused for their client's share (`max_connections_per_client`, HTTP and
    /// syslog TCP) or the tail streams' own cap.
    pub client_connections_refused: AtomicU64,
    /// Idle syslog TCP connections closed to let a new sender in (`[syslog] max_connections`
    /// full).
    pub syslog_connections_evicted: AtomicU64,
}

/// What became of a receiver's notifications.
#[derive(Debug, Default, Clone, Copy)]
pub struct Delivery {
    pub sent: u64,
    pub failed: u64,
}

impl Counters {
    /// Makes a receiver's series exist before its first notification.
    pub fn notified_none(&self, receiver: &str, kind: &str) {
        self.delivery(receiver, kind, |_| {});
    }

    /// Notes one notification's outcome (after its retries).
    pub fn notified(&self, receiver: &str, kind: &str, ok: bool) {
        self.delivery(receiver, kind, |d| {
            if ok {
                d.sent += 1;
            } else {
                d.failed += 1;
            }
        });
    }

    fn delivery(&self, receiver: &str, kind: &str, f: impl FnOnce(&mut Delivery)) {
        let mut map = self.notifications.lock().unwrap_or_else(|p| p.into_inner());
        f(map
            .entry((receiver.to_owned(), kind.to_owned()))
            .or_default());
    }
}

/// The positions and sizes read at scrape time.
#[derive(Debug, Default)]
pub struct Positions {
    pub wal_bytes: u64,
    pub wal_segments: u64,
    pub wal_durable_lsn: u64,
    pub wal_first_lsn: u64,
    pub wal_corrupt_records: u64,
    pub index_lsn: u64,
    pub index_docs: u64,
    /// Bytes of events durable and not yet indexed (`wal/backlog.rs`).
    pub index_backlog_bytes: u64,
    /// Seconds the indexer left the CPU to a syslog burst (`wal/backlog.rs`).
    pub index_yielded_seconds: f64,
    /// 1 on the primary, 0 on a standby.
    pub primary: u64,
    pub epoch: u64,
    /// Records the standby is behind (`None`: no replication configured).
    pub replication_lag: Option<u64>,
    /// 1 while a sync primary acknowledges without its standby.
    pub replication_degraded: u64,
    /// 1 while a standby cannot write the records it copies (its disk full).
    pub replication_write_failing: u64,
    /// Events moved to their arrival time for claiming one too far ahead (`wal/future.rs`).
    pub events_future_clamped: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Result_ {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    alertname: String,
    severity: String,
    state: String,
    /// What a person or a rule did about it: `none`, `acked`, `silenced`, `inhibited`.
    handling: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReceiverLabels {
    receiver: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HostLabels {
    host: String,
    site: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Subject {
    host: String,
    subject: String,
}

fn gauge<
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
>(
    reg: &mut Registry,
    name: &str,
    help: &str,
) -> Family<L, Gauge> {
    let f = Family::<L, Gauge>::default();
    reg.register(name, help, f.clone());
    f
}

fn plain_gauge(reg: &mut Registry, name: &str, help: &str, v: u64) {
    let g = Gauge::<i64>::default();
    g.set(v as i64);
    reg.register(name, help, g);
}

/// A counter of seconds (`<name>_total`), from a figure kept elsewhere.
fn seconds(reg: &mut Registry, name: &str, help: &str, secs: f64) {
    let c = Counter::<f64, AtomicU64>::default();
    c.inc_by(secs);
    reg.register(name, help, c);
}

/// The text exposition of everything.
pub fn render(c: &Counters, p: &Positions, alerts: &[AlertView], fleet: &FleetResponse) -> String {
    let mut reg = Registry::with_prefix("logwarden");
    // The text lists the families in the order they are registered: the order the text had
    // before it was rendered by family (pinned by the tests below), so a new family goes
    // after its neighbours rather than reordering what scrapes and diffs of it show.
    ingest(&mut reg, c);
    notifications(&mut reg, c);
    http(&mut reg, c);
    syslog(&mut reg, c, p);
    wal(&mut reg, p);
    index(&mut reg, c, p);
    replication(&mut reg, p);
    alert_table(&mut reg, alerts);
    fleet_health(&mut reg, fleet);
    config_reload(&mut reg, crate::reload::status());
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg).expect("writing to a String");
    out
}

/// A counter (`<name>_total`) from a figure kept elsewhere.
fn counter(reg: &mut Registry, name: &str, help: &str, n: u64) {
    let k = Counter::<u64>::default();
    k.inc_by(n);
    reg.register(name, help, k);
}

/// Agent events by outcome, and what the ingest endpoint refused or received whole.
fn ingest(reg: &mut Registry, c: &Counters) {
    let events = Family::<Result_, Counter>::default();
    reg.register(
        "ingest_events",
        "Agent events by outcome of ingest",
        events.clone(),
    );
    for (result, n) in [
        ("accepted", &c.ingest_accepted),
        ("duplicate", &c.ingest_duplicates),
        ("rejected", &c.ingest_rejected),
    ] {
        events
            .get_or_create(&Result_ {
                result: result.into(),
            })
            .inc_by(n.load(Relaxed));
    }
    counter(
        reg,
        "ingest_refused_requests",
        "Ingest requests refused whole (401, 413, 429)",
        c.ingest_refused.load(Relaxed),
    );
    counter(
        reg,
        "ingest_bytes",
        "Bytes of ingest request bodies received (as sent, compressed or not)",
        c.ingest_bytes.load(Relaxed),
    );
}

/// Notifications delivered and given up on, per receiver.
fn notifications(reg: &mut Registry, c: &Counters) {
    let sent = Family::<ReceiverLabels, Counter>::default();
    reg.register(
        "notifications_sent",
        "Notifications delivered, per receiver",
        sent.clone(),
    );
    let failed = Family::<ReceiverLabels, Counter>::default();
    reg.register(
        "notifications_failed",
        "Notifications given up on after their retries, per receiver",
        failed.clone(),
    );
    for ((receiver, kind), d) in c
        .notifications
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        let l = ReceiverLabels {
            receiver: receiver.clone(),
            kind: kind.clone(),
        };
        sent.get_or_create(&l).inc_by(d.sent);
        failed.get_or_create(&l).inc_by(d.failed);
    }
}

/// Calls and connections refused at the HTTP door: for their token, over a limit or a share.
fn http(reg: &mut Registry, c: &Counters) {
    for (name, help, n) in [
        (
            "http_unauthorized_requests",
            "HTTP calls refused for a missing, wrong or revoked token (401, 403)",
            &c.auth_refused,
        ),
        (
            "http_connections_refused",
            "HTTP connections answered 429 over [limits] max_connections",
            &c.connections_refused,
        ),
        (
            "ingest_id_refused",
            "Ingest batches refused (403) for an event id outside their token's agent",
            &c.ingest_id_refused,
        ),
        (
            "memory_budget_refused",
            "Requests refused (503) because [limits] max_memory_bytes was spent",
            &c.memory_refused,
        ),
        (
            "tail_streams_dropped",
            "Live tails ended because their reader fell too far behind",
            &c.tail_dropped,
        ),
        (
            "client_connections_refused",
            "Connections refused over a client's share (HTTP, syslog TCP) or the tail streams' cap",
            &c.client_connections_refused,
        ),
    ] {
        counter(reg, name, help, n.load(Relaxed));
    }
}

/// Syslog messages received and dropped; between them, the events of both intakes moved to
/// their arrival time (its place in the text since it was added).
fn syslog(reg: &mut Registry, c: &Counters, p: &Positions) {
    counter(
        reg,
        "syslog_messages",
        "Syslog messages received",
        c.syslog_messages.load(Relaxed),
    );
    counter(
        reg,
        "events_future_clamped",
        "Events (agent and syslog) dated further ahead than [index] max_future, moved to the time they arrived",
        p.events_future_clamped,
    );
    counter(
        reg,
        "syslog_dropped_messages",
        "Syslog UDP messages dropped under overload",
        c.syslog_dropped.load(Relaxed),
    );
    counter(
        reg,
        "syslog_connections_evicted",
        "Idle syslog TCP connections closed to let a new sender in ([syslog] max_connections full)",
        c.syslog_connections_evicted.load(Relaxed),
    );
}

/// The write-ahead log's size and positions.
fn wal(reg: &mut Registry, p: &Positions) {
    for (name, help, v) in [
        ("wal_bytes", "Bytes in the write-ahead log", p.wal_bytes),
        (
            "wal_segments",
            "Segment files of the write-ahead log",
            p.wal_segments,
        ),
        (
            "wal_first_lsn",
            "First record the WAL still holds (older ones were trimmed)",
            p.wal_first_lsn,
        ),
        (
            "wal_durable_lsn",
            "Last fsynced WAL record",
            p.wal_durable_lsn,
        ),
        (
            "wal_corrupt_records",
            "Damaged WAL records skipped at start",
            p.wal_corrupt_records,
        ),
    ] {
        plain_gauge(reg, name, help, v);
    }
}

/// How far the index trails the WAL, and the back-pressure between intake and indexing
/// (the syslog intake held off, the indexer yielding), then the index's size.
fn index(reg: &mut Registry, c: &Counters, p: &Positions) {
    plain_gauge(reg, "index_lsn", "Last WAL record searchable", p.index_lsn);
    plain_gauge(
        reg,
        "index_lag_records",
        "WAL records not yet searchable",
        p.wal_durable_lsn.saturating_sub(p.index_lsn),
    );
    plain_gauge(
        reg,
        "index_backlog_bytes",
        "Bytes of events durable but not yet searchable (bounded by [index] max_backlog_mb)",
        p.index_backlog_bytes,
    );
    seconds(
        reg,
        "syslog_paused_seconds",
        "Seconds the syslog intake held its senders off for want of room ([wal] max_bytes, min_free_bytes, [index] max_backlog_mb)",
        c.syslog_paused_ms.load(Relaxed) as f64 / 1000.0,
    );
    seconds(
        reg,
        "index_yielded_seconds",
        "Seconds indexing paused to leave the CPU to a syslog burst (up to half of [index] max_backlog_mb)",
        p.index_yielded_seconds,
    );
    plain_gauge(reg, "index_docs", "Events in the index", p.index_docs);
}

/// This collector's role and epoch; the standby's lag only where replication is configured.
fn replication(reg: &mut Registry, p: &Positions) {
    plain_gauge(
        reg,
        "primary",
        "1 when this collector is the primary, 0 when the standby",
        p.primary,
    );
    plain_gauge(reg, "epoch", "Failover epoch", p.epoch);
    if let Some(lag) = p.replication_lag {
        plain_gauge(
            reg,
            "replication_lag_records",
            "WAL records the standby is behind",
            lag,
        );
        plain_gauge(
            reg,
            "replication_degraded",
            "1 while the primary acknowledges without its standby (sync mode)",
            p.replication_degraded,
        );
        plain_gauge(
            reg,
            "replication_standby_write_failing",
            "1 while the standby cannot write the records it copies (its disk full); it retries by itself",
            p.replication_write_failing,
        );
    }
}

/// Alerts counted by name, severity, state and what was done about them.
fn alert_table(reg: &mut Registry, alerts: &[AlertView]) {
    let by_state = gauge::<AlertLabels>(reg, "alerts", "Alerts by name, severity and state");
    for a in alerts {
        let handling = if a.ack.is_some() {
            "acked"
        } else if !a.silenced_by.is_empty() {
            "silenced"
        } else if a.inhibited_by.is_some() {
            "inhibited"
        } else {
            "none"
        };
        by_state
            .get_or_create(&AlertLabels {
                alertname: a.name.clone(),
                severity: a.severity.to_string(),
                state: a.status.as_str().into(),
                handling: handling.into(),
            })
            .inc();
    }
}

/// The fleet view: when each host was last heard from and its newest health records (RAID,
/// SMART, backups, file systems), one series per host and subject.
fn fleet_health(reg: &mut Registry, fleet: &FleetResponse) {
    let seen = gauge::<HostLabels>(
        reg,
        "host_last_seen_timestamp_seconds",
        "When each host last sent anything",
    );
    let degraded = gauge::<Subject>(
        reg,
        "raid_degraded",
        "1 when an md array is not clean/active",
    );
    let redundancy = gauge::<Subject>(
        reg,
        "raid_redundancy_left",
        "Disks an md array can still lose",
    );
    let hwraid = gauge::<Subject>(
        reg,
        "hwraid_degraded",
        "1 when a controller's virtual drive is not optimal",
    );
    let smart = gauge::<Subject>(
        reg,
        "smart_verdict",
        "SMART verdict per disk: 0 ok, 1 warning, 2 failing",
    );
    let misplaced = gauge::<Subject>(
        reg,
        "backup_misplaced",
        "1 when a backup can die with its data (placement not ok)",
    );
    let backup_age = gauge::<Subject>(reg, "backup_age_seconds", "Age of the newest backup");
    let stale = gauge::<Subject>(
        reg,
        "backup_stale",
        "1 when the newest backup is older than allowed, or there is none",
    );
    let fs_used = gauge::<Subject>(reg, "filesystem_used_percent", "Space used per file system");
    for h in &fleet.hosts {
        seen.get_or_create(&HostLabels {
            host: h.host.clone(),
            site: h.site.clone(),
        })
        .set(h.last_seen.timestamp());
        for e in &h.checks {
            let f = &e.fields;
            let s = |k: &str| f.get(k).and_then(|v| v.as_str()).unwrap_or("");
            let n = |k: &str| f.get(k).and_then(|v| v.as_f64());
            let key = Subject {
                host: h.host.clone(),
                subject: logwarden_core::health::subject(f),
            };
            match s("check") {
                "raid" => {
                    let bad = !matches!(s("state"), "clean" | "active" | "checking");
                    degraded.get_or_create(&key).set(i64::from(bad));
                    if let Some(r) = n("redundancy_left") {
                        redundancy.get_or_create(&key).set(r as i64);
                    }
                }
                "hwraid" => {
                    hwraid
                        .get_or_create(&key)
                        .set(i64::from(s("state") != "optimal"));
                }
                "smart" => {
                    let v = match s("verdict") {
                        "ok" => 0,
                        "warning" => 1,
                        _ => 2,
                    };
                    smart.get_or_create(&key).set(v);
                }
                "backup" => {
                    misplaced
                        .get_or_create(&key)
                        .set(i64::from(s("placement") != "ok"));
                    if !s("freshness").is_empty() {
                        stale
                            .get_or_create(&key)
                            .set(i64::from(s("freshness") != "ok"));
                    }
                    if let Some(age) = n("newest_backup_age_s") {
                        backup_age.get_or_create(&key).set(age as i64);
                    }
                }
                "filesystem" => {
                    if let Some(u) = n("used_percent") {
                        fs_used.get_or_create(&key).set(u.round() as i64);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Prometheus' own names for its config reloads (crate::reload): whether the last one took,
/// and when the config was last loaded.
fn config_reload(reg: &mut Registry, (reload_ok, reload_at): (bool, f64)) {
    plain_gauge(
        reg,
        "config_last_reload_successful",
        "Whether the last config reload (SIGHUP) succeeded",
        reload_ok as u64,
    );
    let at = Gauge::<f64, AtomicU64>::default();
    at.set(reload_at);
    reg.register(
        "config_last_reload_success_timestamp_seconds",
        "When the config was last loaded successfully (the start, or a reload)",
        at,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use logwarden_core::wire::HostHealth;

    fn health(fields: serde_json::Value) -> logwarden_core::Event {
        let mut e: logwarden_core::Event = serde_json::from_value(serde_json::json!({
            "id": "a:1", "ts": "2026-01-01T00:00:00Z", "host": "mbox3", "site": "phx",
            "source": "health", "app": "raid", "severity": "crit", "kind": "health",
            "message": "m",
        }))
        .expect("a valid event");
        e.fields = fields.as_object().expect("an object").clone().into();
        e
    }

    /// A state where every series of `render` has a value of its own (several alerts in each
    /// handling, each kind of health check, two receivers, replication on).
    fn every_series() -> (Counters, Positions, Vec<AlertView>, FleetResponse) {
        let c = Counters::default();
        let counters = [
            &c.ingest_accepted,
            &c.ingest_duplicates,
            &c.ingest_rejected,
            &c.ingest_refused,
            &c.syslog_messages,
            &c.syslog_dropped,
            &c.syslog_paused_ms,
            &c.ingest_bytes,
            &c.auth_refused,
            &c.connections_refused,
            &c.ingest_id_refused,
            &c.memory_refused,
            &c.tail_dropped,
            &c.client_connections_refused,
            &c.syslog_connections_evicted,
        ];
        for (i, n) in counters.into_iter().enumerate() {
            n.store(101 + i as u64 * 7, Relaxed);
        }
        c.notified("ops", "webhook", true);
        c.notified("ops", "webhook", false);
        c.notified_none("pager", "pagerduty");
        c.notified("chat", "slack", true);
        let p = Positions {
            wal_bytes: 1_048_576,
            wal_segments: 3,
            wal_durable_lsn: 950,
            wal_first_lsn: 12,
            wal_corrupt_records: 2,
            index_lsn: 900,
            index_docs: 123_456,
            index_backlog_bytes: 65_536,
            index_yielded_seconds: 1.25,
            primary: 1,
            epoch: 4,
            replication_lag: Some(17),
            replication_degraded: 1,
            replication_write_failing: 1,
            events_future_clamped: 5,
        };
        let alert = |name: &str, severity: &str, status: &str, extra: serde_json::Value| {
            let mut v = serde_json::json!({
                "id": format!("{name}-{status}"), "name": name, "severity": severity,
                "status": status, "labels": {"host": "mbox3"}, "annotations": {},
                "starts_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:05:00Z",
            });
            v.as_object_mut()
                .expect("an object")
                .extend(extra.as_object().expect("an object").clone());
            serde_json::from_value::<AlertView>(v).expect("a valid alert")
        };
        let alerts = vec![
            alert("RaidDegraded", "critical", "firing", serde_json::json!({})),
            alert("RaidDegraded", "critical", "firing", serde_json::json!({})),
            alert(
                "BackupStale",
                "warning",
                "firing",
                serde_json::json!({"ack": {"author": "ann", "at": "2026-01-01T00:06:00Z", "severity": "warning"}}),
            ),
            alert(
                "HostSilent",
                "warning",
                "firing",
                serde_json::json!({"silenced_by": ["s1"]}),
            ),
            alert(
                "DiskFull",
                "info",
                "firing",
                serde_json::json!({"inhibited_by": "x"}),
            ),
            alert("DiskFull", "info", "resolved", serde_json::json!({})),
        ];
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().expect("a time");
        let fleet = FleetResponse {
            hosts: vec![
                HostHealth {
                    host: "mbox3".into(),
                    site: "phx".into(),
                    last_seen: at("2026-01-01T00:10:00Z"),
                    checks: vec![
                        health(
                            serde_json::json!({"check": "raid", "array": "md2", "state": "degraded", "redundancy_left": 0}),
                        ),
                        health(
                            serde_json::json!({"check": "raid", "array": "md0", "state": "clean", "redundancy_left": 1}),
                        ),
                        health(
                            serde_json::json!({"check": "hwraid", "controller": 0, "virtual_drive": "1", "state": "degraded"}),
                        ),
                        health(
                            serde_json::json!({"check": "smart", "device": "/dev/sda", "verdict": "warning"}),
                        ),
                        health(
                            serde_json::json!({"check": "smart", "device": "/dev/sdb", "verdict": "ok"}),
                        ),
                        health(
                            serde_json::json!({"check": "backup", "backup_dir": "/b", "data_dir": "/d",
                            "placement": "same_array", "freshness": "stale", "newest_backup_age_s": 90000}),
                        ),
                        health(
                            serde_json::json!({"check": "filesystem", "mount": "/opt", "used_percent": 81.6}),
                        ),
                    ],
                },
                HostHealth {
                    host: "mta1".into(),
                    site: "fra".into(),
                    last_seen: at("2026-01-01T00:09:00Z"),
                    checks: vec![
                        health(
                            serde_json::json!({"check": "backup", "backup_dir": "/nfs", "data_dir": "/d",
                            "placement": "ok"}),
                        ),
                        health(
                            serde_json::json!({"check": "hwraid", "controller": 1, "virtual_drive": "0", "state": "optimal"}),
                        ),
                        health(serde_json::json!({"check": "ntp", "offset_ms": 3})),
                    ],
                },
            ],
            ..FleetResponse::default()
        };
        (c, p, alerts, fleet)
    }

    /// The text in a form that is the same on every run: prometheus_client keeps a family's
    /// series in a HashMap, so their order within a family changes from process to process
    /// (the families' order, names, help and values do not); they are sorted here. The reload
    /// series are read from the process (crate::reload), which other tests change as they run:
    /// their values are masked.
    fn stable(text: &str) -> String {
        let mut out = String::new();
        let mut samples: Vec<&str> = Vec::new();
        let flush = |samples: &mut Vec<&str>, out: &mut String| {
            samples.sort_unstable();
            for l in samples.drain(..) {
                out.push_str(l);
                out.push('\n');
            }
        };
        for l in text.lines() {
            if l.starts_with('#') {
                flush(&mut samples, &mut out);
                out.push_str(l);
                out.push('\n');
            } else if l.starts_with("logwarden_config_last_reload") {
                let name = l.split_once(' ').map_or(l, |(name, _)| name);
                out.push_str(&format!("{name} <masked>\n"));
            } else {
                samples.push(l);
            }
        }
        flush(&mut samples, &mut out);
        out
    }

    #[test]
    fn the_exposition_of_a_fixed_state_is_exactly_the_pinned_text() {
        let (c, p, alerts, fleet) = every_series();
        let text = stable(&render(&c, &p, &alerts, &fleet));
        let want = PINNED;
        assert!(
            text == want,
            "the exposition changed (docs/metrics.md and scrapers depend on it):\n{}",
            diff(want, &text)
        );
    }

    /// `render` of `every_series()`, through `stable`: taken before `render` was split by
    /// family, so that the split changes not a byte.
    const PINNED: &str = r#"# HELP logwarden_ingest_events Agent events by outcome of ingest.
# TYPE logwarden_ingest_events counter
logwarden_ingest_events_total{result="accepted"} 101
logwarden_ingest_events_total{result="duplicate"} 108
logwarden_ingest_events_total{result="rejected"} 115
# HELP logwarden_ingest_refused_requests Ingest requests refused whole (401, 413, 429).
# TYPE logwarden_ingest_refused_requests counter
logwarden_ingest_refused_requests_total 122
# HELP logwarden_ingest_bytes Bytes of ingest request bodies received (as sent, compressed or not).
# TYPE logwarden_ingest_bytes counter
logwarden_ingest_bytes_total 150
# HELP logwarden_notifications_sent Notifications delivered, per receiver.
# TYPE logwarden_notifications_sent counter
logwarden_notifications_sent_total{receiver="chat",kind="slack"} 1
logwarden_notifications_sent_total{receiver="ops",kind="webhook"} 1
logwarden_notifications_sent_total{receiver="pager",kind="pagerduty"} 0
# HELP logwarden_notifications_failed Notifications given up on after their retries, per receiver.
# TYPE logwarden_notifications_failed counter
logwarden_notifications_failed_total{receiver="chat",kind="slack"} 0
logwarden_notifications_failed_total{receiver="ops",kind="webhook"} 1
logwarden_notifications_failed_total{receiver="pager",kind="pagerduty"} 0
# HELP logwarden_http_unauthorized_requests HTTP calls refused for a missing, wrong or revoked token (401, 403).
# TYPE logwarden_http_unauthorized_requests counter
logwarden_http_unauthorized_requests_total 157
# HELP logwarden_http_connections_refused HTTP connections answered 429 over [limits] max_connections.
# TYPE logwarden_http_connections_refused counter
logwarden_http_connections_refused_total 164
# HELP logwarden_ingest_id_refused Ingest batches refused (403) for an event id outside their token's agent.
# TYPE logwarden_ingest_id_refused counter
logwarden_ingest_id_refused_total 171
# HELP logwarden_memory_budget_refused Requests refused (503) because [limits] max_memory_bytes was spent.
# TYPE logwarden_memory_budget_refused counter
logwarden_memory_budget_refused_total 178
# HELP logwarden_tail_streams_dropped Live tails ended because their reader fell too far behind.
# TYPE logwarden_tail_streams_dropped counter
logwarden_tail_streams_dropped_total 185
# HELP logwarden_client_connections_refused Connections refused over a client's share (HTTP, syslog TCP) or the tail streams' cap.
# TYPE logwarden_client_connections_refused counter
logwarden_client_connections_refused_total 192
# HELP logwarden_syslog_messages Syslog messages received.
# TYPE logwarden_syslog_messages counter
logwarden_syslog_messages_total 129
# HELP logwarden_events_future_clamped Events (agent and syslog) dated further ahead than [index] max_future, moved to the time they arrived.
# TYPE logwarden_events_future_clamped counter
logwarden_events_future_clamped_total 5
# HELP logwarden_syslog_dropped_messages Syslog UDP messages dropped under overload.
# TYPE logwarden_syslog_dropped_messages counter
logwarden_syslog_dropped_messages_total 136
# HELP logwarden_syslog_connections_evicted Idle syslog TCP connections closed to let a new sender in ([syslog] max_connections full).
# TYPE logwarden_syslog_connections_evicted counter
logwarden_syslog_connections_evicted_total 199
# HELP logwarden_wal_bytes Bytes in the write-ahead log.
# TYPE logwarden_wal_bytes gauge
logwarden_wal_bytes 1048576
# HELP logwarden_wal_segments Segment files of the write-ahead log.
# TYPE logwarden_wal_segments gauge
logwarden_wal_segments 3
# HELP logwarden_wal_first_lsn First record the WAL still holds (older ones were trimmed).
# TYPE logwarden_wal_first_lsn gauge
logwarden_wal_first_lsn 12
# HELP logwarden_wal_durable_lsn Last fsynced WAL record.
# TYPE logwarden_wal_durable_lsn gauge
logwarden_wal_durable_lsn 950
# HELP logwarden_wal_corrupt_records Damaged WAL records skipped at start.
# TYPE logwarden_wal_corrupt_records gauge
logwarden_wal_corrupt_records 2
# HELP logwarden_index_lsn Last WAL record searchable.
# TYPE logwarden_index_lsn gauge
logwarden_index_lsn 900
# HELP logwarden_index_lag_records WAL records not yet searchable.
# TYPE logwarden_index_lag_records gauge
logwarden_index_lag_records 50
# HELP logwarden_index_backlog_bytes Bytes of events durable but not yet searchable (bounded by [index] max_backlog_mb).
# TYPE logwarden_index_backlog_bytes gauge
logwarden_index_backlog_bytes 65536
# HELP logwarden_syslog_paused_seconds Seconds the syslog intake held its senders off for want of room ([wal] max_bytes, min_free_bytes, [index] max_backlog_mb).
# TYPE logwarden_syslog_paused_seconds counter
logwarden_syslog_paused_seconds_total 0.143
# HELP logwarden_index_yielded_seconds Seconds indexing paused to leave the CPU to a syslog burst (up to half of [index] max_backlog_mb).
# TYPE logwarden_index_yielded_seconds counter
logwarden_index_yielded_seconds_total 1.25
# HELP logwarden_index_docs Events in the index.
# TYPE logwarden_index_docs gauge
logwarden_index_docs 123456
# HELP logwarden_primary 1 when this collector is the primary, 0 when the standby.
# TYPE logwarden_primary gauge
logwarden_primary 1
# HELP logwarden_epoch Failover epoch.
# TYPE logwarden_epoch gauge
logwarden_epoch 4
# HELP logwarden_replication_lag_records WAL records the standby is behind.
# TYPE logwarden_replication_lag_records gauge
logwarden_replication_lag_records 17
# HELP logwarden_replication_degraded 1 while the primary acknowledges without its standby (sync mode).
# TYPE logwarden_replication_degraded gauge
logwarden_replication_degraded 1
# HELP logwarden_replication_standby_write_failing 1 while the standby cannot write the records it copies (its disk full); it retries by itself.
# TYPE logwarden_replication_standby_write_failing gauge
logwarden_replication_standby_write_failing 1
# HELP logwarden_alerts Alerts by name, severity and state.
# TYPE logwarden_alerts gauge
logwarden_alerts{alertname="BackupStale",severity="warning",state="firing",handling="acked"} 1
logwarden_alerts{alertname="DiskFull",severity="info",state="firing",handling="inhibited"} 1
logwarden_alerts{alertname="DiskFull",severity="info",state="resolved",handling="none"} 1
logwarden_alerts{alertname="HostSilent",severity="warning",state="firing",handling="silenced"} 1
logwarden_alerts{alertname="RaidDegraded",severity="critical",state="firing",handling="none"} 2
# HELP logwarden_host_last_seen_timestamp_seconds When each host last sent anything.
# TYPE logwarden_host_last_seen_timestamp_seconds gauge
logwarden_host_last_seen_timestamp_seconds{host="mbox3",site="phx"} 1767226200
logwarden_host_last_seen_timestamp_seconds{host="mta1",site="fra"} 1767226140
# HELP logwarden_raid_degraded 1 when an md array is not clean/active.
# TYPE logwarden_raid_degraded gauge
logwarden_raid_degraded{host="mbox3",subject="md0"} 0
logwarden_raid_degraded{host="mbox3",subject="md2"} 1
# HELP logwarden_raid_redundancy_left Disks an md array can still lose.
# TYPE logwarden_raid_redundancy_left gauge
logwarden_raid_redundancy_left{host="mbox3",subject="md0"} 1
logwarden_raid_redundancy_left{host="mbox3",subject="md2"} 0
# HELP logwarden_hwraid_degraded 1 when a controller's virtual drive is not optimal.
# TYPE logwarden_hwraid_degraded gauge
logwarden_hwraid_degraded{host="mbox3",subject="c0/v1"} 1
logwarden_hwraid_degraded{host="mta1",subject="c1/v0"} 0
# HELP logwarden_smart_verdict SMART verdict per disk: 0 ok, 1 warning, 2 failing.
# TYPE logwarden_smart_verdict gauge
logwarden_smart_verdict{host="mbox3",subject="/dev/sda"} 1
logwarden_smart_verdict{host="mbox3",subject="/dev/sdb"} 0
# HELP logwarden_backup_misplaced 1 when a backup can die with its data (placement not ok).
# TYPE logwarden_backup_misplaced gauge
logwarden_backup_misplaced{host="mbox3",subject="/b -> /d"} 1
logwarden_backup_misplaced{host="mta1",subject="/nfs -> /d"} 0
# HELP logwarden_backup_age_seconds Age of the newest backup.
# TYPE logwarden_backup_age_seconds gauge
logwarden_backup_age_seconds{host="mbox3",subject="/b -> /d"} 90000
# HELP logwarden_backup_stale 1 when the newest backup is older than allowed, or there is none.
# TYPE logwarden_backup_stale gauge
logwarden_backup_stale{host="mbox3",subject="/b -> /d"} 1
# HELP logwarden_filesystem_used_percent Space used per file system.
# TYPE logwarden_filesystem_used_percent gauge
logwarden_filesystem_used_percent{host="mbox3",subject="/opt"} 82
# HELP logwarden_config_last_reload_successful Whether the last config reload (SIGHUP) succeeded.
# TYPE logwarden_config_last_reload_successful gauge
logwarden_config_last_reload_successful <masked>
# HELP logwarden_config_last_reload_success_timestamp_seconds When the config was last loaded successfully (the start, or a reload).
# TYPE logwarden_config_last_reload_success_timestamp_seconds gauge
logwarden_config_last_reload_success_timestamp_seconds <masked>
# EOF
"#;

    /// The lines that differ, side by side.
    fn diff(want: &str, got: &str) -> String {
        let (w, g): (Vec<_>, Vec<_>) = (want.lines().collect(), got.lines().collect());
        (0..w.len().max(g.len()))
            .filter(|&i| w.get(i) != g.get(i))
            .map(|i| {
                format!(
                    "line {}: want {:?}\n         got  {:?}\n",
                    i + 1,
                    w.get(i),
                    g.get(i)
                )
            })
            .collect()
    }

    #[test]
    fn probe_results_and_notification_outcomes_are_exposed() {
        let c = Counters::default();
        c.notified("ops", "webhook", true);
        c.notified("ops", "webhook", false);
        c.notified("ops", "webhook", false);
        let fleet = FleetResponse {
            hosts: vec![HostHealth {
                host: "mbox3".into(),
                site: "phx".into(),
                last_seen: chrono::Utc::now(),
                checks: vec![
                    health(
                        serde_json::json!({"check": "raid", "array": "md2", "state": "degraded", "redundancy_left": 0}),
                    ),
                    health(
                        serde_json::json!({"check": "hwraid", "controller": 0, "virtual_drive": "1", "state": "degraded"}),
                    ),
                    health(
                        serde_json::json!({"check": "backup", "backup_dir": "/b", "data_dir": "/d",
                        "placement": "same_array", "freshness": "stale", "newest_backup_age_s": 90000}),
                    ),
                ],
            }],
            ..FleetResponse::default()
        };
        let text = render(&c, &Positions::default(), &[], &fleet);
        for want in [
            r#"logwarden_notifications_sent_total{receiver="ops",kind="webhook"} 1"#,
            r#"logwarden_notifications_failed_total{receiver="ops",kind="webhook"} 2"#,
            r#"logwarden_raid_degraded{host="mbox3",subject="md2"} 1"#,
            r#"logwarden_raid_redundancy_left{host="mbox3",subject="md2"} 0"#,
            r#"logwarden_hwraid_degraded{host="mbox3",subject="c0/v1"} 1"#,
            r#"logwarden_backup_misplaced{host="mbox3",subject="/b -> /d"} 1"#,
            r#"logwarden_backup_stale{host="mbox3",subject="/b -> /d"} 1"#,
            r#"logwarden_backup_age_seconds{host="mbox3",subject="/b -> /d"} 90000"#,
        ] {
            assert!(text.contains(want), "{want} missing from:\n{text}");
        }
    }
}

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
    let counter = |reg: &mut Registry, name: &str, help: &str, n: &AtomicU64| {
        let k = Counter::<u64>::default();
        k.inc_by(n.load(Relaxed));
        reg.register(name, help, k);
    };
    counter(
        &mut reg,
        "ingest_refused_requests",
        "Ingest requests refused whole (401, 413, 429)",
        &c.ingest_refused,
    );
    counter(
        &mut reg,
        "ingest_bytes",
        "Bytes of ingest request bodies received (as sent, compressed or not)",
        &c.ingest_bytes,
    );
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
    counter(
        &mut reg,
        "http_unauthorized_requests",
        "HTTP calls refused for a missing, wrong or revoked token (401, 403)",
        &c.auth_refused,
    );
    counter(
        &mut reg,
        "http_connections_refused",
        "HTTP connections answered 429 over [limits] max_connections",
        &c.connections_refused,
    );
    counter(
        &mut reg,
        "ingest_id_refused",
        "Ingest batches refused (403) for an event id outside their token's agent",
        &c.ingest_id_refused,
    );
    counter(
        &mut reg,
        "memory_budget_refused",
        "Requests refused (503) because [limits] max_memory_bytes was spent",
        &c.memory_refused,
    );
    counter(
        &mut reg,
        "tail_streams_dropped",
        "Live tails ended because their reader fell too far behind",
        &c.tail_dropped,
    );
    counter(
        &mut reg,
        "client_connections_refused",
        "Connections refused over a client's share (HTTP, syslog TCP) or the tail streams' cap",
        &c.client_connections_refused,
    );
    counter(
        &mut reg,
        "syslog_messages",
        "Syslog messages received",
        &c.syslog_messages,
    );
    let clamped = Counter::<u64>::default();
    clamped.inc_by(p.events_future_clamped);
    reg.register(
        "events_future_clamped",
        "Events (agent and syslog) dated further ahead than [index] max_future_s, moved to the time they arrived",
        clamped,
    );
    counter(
        &mut reg,
        "syslog_dropped_messages",
        "Syslog UDP messages dropped under overload",
        &c.syslog_dropped,
    );

    plain_gauge(
        &mut reg,
        "wal_bytes",
        "Bytes in the write-ahead log",
        p.wal_bytes,
    );
    plain_gauge(
        &mut reg,
        "wal_segments",
        "Segment files of the write-ahead log",
        p.wal_segments,
    );
    plain_gauge(
        &mut reg,
        "wal_first_lsn",
        "First record the WAL still holds (older ones were trimmed)",
        p.wal_first_lsn,
    );
    plain_gauge(
        &mut reg,
        "wal_durable_lsn",
        "Last fsynced WAL record",
        p.wal_durable_lsn,
    );
    plain_gauge(
        &mut reg,
        "wal_corrupt_records",
        "Damaged WAL records skipped at start",
        p.wal_corrupt_records,
    );
    plain_gauge(
        &mut reg,
        "index_lsn",
        "Last WAL record searchable",
        p.index_lsn,
    );
    plain_gauge(
        &mut reg,
        "index_lag_records",
        "WAL records not yet searchable",
        p.wal_durable_lsn.saturating_sub(p.index_lsn),
    );
    plain_gauge(
        &mut reg,
        "index_backlog_bytes",
        "Bytes of events durable but not yet searchable (bounded by [index] max_backlog_mb)",
        p.index_backlog_bytes,
    );
    seconds(
        &mut reg,
        "syslog_paused_seconds",
        "Seconds the syslog intake held its senders off for want of room ([wal] max_bytes, min_free_bytes, [index] max_backlog_mb)",
        c.syslog_paused_ms.load(Relaxed) as f64 / 1000.0,
    );
    seconds(
        &mut reg,
        "index_yielded_seconds",
        "Seconds indexing paused to leave the CPU to a syslog burst (up to half of [index] max_backlog_mb)",
        p.index_yielded_seconds,
    );
    plain_gauge(&mut reg, "index_docs", "Events in the index", p.index_docs);
    plain_gauge(
        &mut reg,
        "primary",
        "1 when this collector is the primary, 0 when the standby",
        p.primary,
    );
    plain_gauge(&mut reg, "epoch", "Failover epoch", p.epoch);
    if let Some(lag) = p.replication_lag {
        plain_gauge(
            &mut reg,
            "replication_lag_records",
            "WAL records the standby is behind",
            lag,
        );
        plain_gauge(
            &mut reg,
            "replication_degraded",
            "1 while the primary acknowledges without its standby (sync mode)",
            p.replication_degraded,
        );
    }

    let by_state = gauge::<AlertLabels>(&mut reg, "alerts", "Alerts by name, severity and state");
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

    let seen = gauge::<HostLabels>(
        &mut reg,
        "host_last_seen_timestamp_seconds",
        "When each host last sent anything",
    );
    let degraded = gauge::<Subject>(
        &mut reg,
        "raid_degraded",
        "1 when an md array is not clean/active",
    );
    let redundancy = gauge::<Subject>(
        &mut reg,
        "raid_redundancy_left",
        "Disks an md array can still lose",
    );
    let hwraid = gauge::<Subject>(
        &mut reg,
        "hwraid_degraded",
        "1 when a controller's virtual drive is not optimal",
    );
    let smart = gauge::<Subject>(
        &mut reg,
        "smart_verdict",
        "SMART verdict per disk: 0 ok, 1 warning, 2 failing",
    );
    let misplaced = gauge::<Subject>(
        &mut reg,
        "backup_misplaced",
        "1 when a backup can die with its data (placement not ok)",
    );
    let backup_age = gauge::<Subject>(&mut reg, "backup_age_seconds", "Age of the newest backup");
    let stale = gauge::<Subject>(
        &mut reg,
        "backup_stale",
        "1 when the newest backup is older than allowed, or there is none",
    );
    let fs_used = gauge::<Subject>(
        &mut reg,
        "filesystem_used_percent",
        "Space used per file system",
    );
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
    // Prometheus' own names for its config reloads (crate::reload).
    let (reload_ok, reload_at) = crate::reload::status();
    plain_gauge(
        &mut reg,
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
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg).expect("writing to a String");
    out
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

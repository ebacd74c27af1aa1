//! `GET /metrics`: the collector's own state and the fleet's health in Prometheus' text format,
//! for Grafana and for alerting outside logwarden.
//!
//! Counters are atomics bumped where things happen ([`Counters`]); everything else is read at
//! scrape time from the state that already exists (WAL and index positions, the fleet view, the
//! alert table), so a series disappears when what it describes does. The registry is built
//! anew on each scrape: cheap at fleet sizes, and nothing to keep in sync.

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
    /// HTTP calls refused for their token (401, 403).
    pub auth_refused: AtomicU64,
    /// HTTP connections answered 429 because `[limits] max_connections` were open.
    pub connections_refused: AtomicU64,
}

/// The positions and sizes read at scrape time.
#[derive(Debug, Default)]
pub struct Positions {
    pub wal_bytes: u64,
    pub wal_segments: u64,
    pub wal_durable_lsn: u64,
    pub wal_corrupt_records: u64,
    pub index_lsn: u64,
    pub index_docs: u64,
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
        "syslog_messages",
        "Syslog messages received",
        &c.syslog_messages,
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
    plain_gauge(&mut reg, "index_docs", "Events in the index", p.index_docs);

    let by_state = gauge::<AlertLabels>(&mut reg, "alerts", "Alerts by name, severity and state");
    for a in alerts {
        by_state
            .get_or_create(&AlertLabels {
                alertname: a.name.clone(),
                severity: a.severity.to_string(),
                state: a.status.as_str().into(),
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
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg).expect("writing to a String");
    out
}

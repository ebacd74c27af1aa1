//! The agent's `/metrics`: [`AgentStatus`] in Prometheus' text format. Names start with
//! `logwarden_agent_`; per-file series carry a `path` label.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::AgentStatus;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabel {
    path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Info {
    agent_id: String,
    host: String,
    site: String,
    version: String,
}

fn family<
    M: Default
        + prometheus_client::metrics::TypedMetric
        + Clone
        + Send
        + Sync
        + std::fmt::Debug
        + prometheus_client::encoding::EncodeMetric
        + 'static,
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
>(
    reg: &mut Registry,
    name: &str,
    help: &str,
) -> Family<L, M> {
    let f = Family::<L, M>::default();
    reg.register(name, help, f.clone());
    f
}

fn counter(reg: &mut Registry, name: &str, help: &str, v: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(v);
    reg.register(name, help, c);
}

fn gauge(reg: &mut Registry, name: &str, help: &str, v: u64) {
    let g = Gauge::<i64>::default();
    g.set(v as i64);
    reg.register(name, help, g);
}

/// `info`: who this agent is.
fn info(reg: &mut Registry, s: &AgentStatus) {
    family::<Gauge, Info>(reg, "info", "This agent (always 1)")
        .get_or_create(&Info {
            agent_id: s.agent_id.clone(),
            host: s.host.clone(),
            site: s.site.clone(),
            version: s.version.clone(),
        })
        .set(1);
}

/// Lines read and shipped per path.
fn paths(reg: &mut Registry, s: &AgentStatus) {
    let read = family::<Counter, PathLabel>(reg, "lines_read", "Lines read per file path");
    let shipped = family::<Counter, PathLabel>(
        reg,
        "lines_shipped",
        "Lines acknowledged by a collector per file path",
    );
    for p in &s.paths {
        let l = PathLabel {
            path: p.path.clone(),
        };
        read.get_or_create(&l).inc_by(p.lines_read);
        shipped.get_or_create(&l).inc_by(p.lines_shipped);
    }
}

/// Where reading each tailed file stands, and how many there are.
fn files(reg: &mut Registry, s: &AgentStatus) {
    let unread = family::<Gauge, PathLabel>(
        reg,
        "file_unread_bytes",
        "Bytes of a tailed file not read yet",
    );
    let unacked = family::<Gauge, PathLabel>(
        reg,
        "checkpoint_lag_bytes",
        "Bytes of a tailed file not acknowledged by a collector yet",
    );
    let offset = family::<Gauge, PathLabel>(
        reg,
        "file_read_offset_bytes",
        "Where reading a tailed file stands",
    );
    // A rotated file and its successor share a path: the label shows the sum of their lags
    // and the current file's offset.
    for f in &s.files {
        let l = PathLabel {
            path: f.path.clone(),
        };
        unread.get_or_create(&l).inc_by(f.unread_bytes as i64);
        unacked.get_or_create(&l).inc_by(f.unacked_bytes as i64);
        if !f.rotated {
            offset.get_or_create(&l).set(f.read_offset as i64);
        }
    }
    gauge(
        reg,
        "files_tailed",
        "Files being tailed",
        s.files.len() as u64,
    );
}

/// What the spool holds and what it lost.
fn spool(reg: &mut Registry, s: &AgentStatus) {
    gauge(
        reg,
        "spool_events",
        "Events in the spool not acknowledged yet",
        s.spool.events,
    );
    gauge(
        reg,
        "spool_bytes",
        "Bytes of spool segments on disk",
        s.spool.bytes,
    );
    gauge(
        reg,
        "spool_max_bytes",
        "The spool's size limit",
        s.spool.max_bytes,
    );
    gauge(
        reg,
        "spool_segments",
        "Spool segment files",
        s.spool.segments,
    );
    counter(
        reg,
        "spool_damaged_records",
        "Spool records found damaged and skipped",
        s.spool.damaged + s.spool.torn,
    );
    counter(
        reg,
        "spool_dropped_records",
        "Spool records deleted unsent because the spool was full (drop_oldest)",
        s.spool.dropped,
    );
}

/// Events spooled and shipped, batches shipped.
fn shipping(reg: &mut Registry, s: &AgentStatus) {
    counter(
        reg,
        "events_spooled",
        "Events written to the spool",
        s.events_spooled,
    );
    counter(
        reg,
        "events_shipped",
        "Events acknowledged by a collector",
        s.events_shipped,
    );
    counter(
        reg,
        "batches_shipped",
        "Batches acknowledged by a collector",
        s.batches_shipped,
    );
}

/// Errors by reason.
fn errors(reg: &mut Registry, s: &AgentStatus) {
    let errors = family::<Counter, Reason>(
        reg,
        "errors",
        "Things that went wrong, by reason (each retried unless it says dropped)",
    );
    for (reason, n) in [
        ("ship_unreachable", s.errors.ship_unreachable),
        ("ship_refused", s.errors.ship_refused),
        ("ship_too_large_dropped", s.errors.ship_too_large),
        ("spool_write", s.errors.spool_write),
        ("read", s.errors.read),
        ("probe", s.errors.probe),
    ] {
        errors
            .get_or_create(&Reason {
                reason: reason.into(),
            })
            .inc_by(n);
    }
}

pub fn render(s: &AgentStatus) -> String {
    let mut reg = Registry::with_prefix("logwarden_agent");
    info(&mut reg, s);
    paths(&mut reg, s);
    files(&mut reg, s);
    spool(&mut reg, s);
    shipping(&mut reg, s);
    errors(&mut reg, s);
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg).expect("writing to a String");
    out
}

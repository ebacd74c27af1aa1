//! The Redfish polls of `logwarden-agent run`: one thread per BMC, so that a BMC that is dead,
//! slow or refusing never delays another, nor the md and SMART probes.
//!
//! Each thread polls every `interval` ([`super::redfish_client::RedfishClient::walk`], then
//! [`super::redfish::assess`]) and sends a record as soon as its condition changes (state,
//! counts, members, verdict, the BMC's reachability: everything but a sync's percentage), the
//! volumes with a sync running every `progress_interval`, and everything every
//! `report_interval`. After a failed poll it waits longer: the interval doubled per failure
//! in a row, up to 16 times the interval but no more than 10 minutes (nor less than the
//! interval); the first good poll goes back to the interval.
//!
//! The threads hold only a weak handle on the pipeline's channel (they are not joined at
//! shutdown: a request to a slow BMC may take `timeout`), so the channel closes when the
//! other sources stop, and a thread ends at its next send or sleep.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::redfish::RedfishTarget;
use super::settings::HealthConfig;
use crate::draft::Draft;
use crate::observe::metrics::AgentMetrics;
use crate::source::Item;

/// Starts one detached thread per configured BMC.
pub fn spawn(
    cfg: &HealthConfig,
    tx: &mpsc::Sender<Item>,
    cancel: &CancellationToken,
    metrics: &Arc<AgentMetrics>,
) -> std::io::Result<()> {
    for (i, target) in cfg.redfish.iter().enumerate() {
        let (target, weak, cancel, metrics) = (
            target.clone(),
            tx.downgrade(),
            cancel.clone(),
            metrics.clone(),
        );
        let (report, progress) = (cfg.report_interval, cfg.progress_interval);
        std::thread::Builder::new()
            .name(format!("health-redfish-{i}"))
            .spawn(move || {
                let out = WeakSink {
                    tx: weak,
                    cancel,
                    metrics,
                };
                poll_loop(&target, &out, report, progress);
            })?;
    }
    Ok(())
}

struct WeakSink {
    tx: mpsc::WeakSender<Item>,
    cancel: CancellationToken,
    /// Counts polls that could not read everything (`logwarden_agent_probe_errors_total`).
    metrics: Arc<AgentMetrics>,
}

impl WeakSink {
    fn send(&self, draft: Draft) -> bool {
        self.tx
            .upgrade()
            .is_some_and(|tx| super::monitor::send_waiting(&tx, &self.cancel, draft))
    }

    fn stopped(&self) -> bool {
        self.cancel.is_cancelled() || self.tx.upgrade().is_none_or(|t| t.is_closed())
    }

    fn sleep_until(&self, end: Instant) -> bool {
        while Instant::now() < end {
            if self.stopped() {
                return false;
            }
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(200)));
        }
        !self.stopped()
    }
}

/// What makes a record worth sending at once: its fields without a sync's progress.
fn condition(d: &Draft) -> String {
    let mut f = d.fields.clone();
    f.remove("sync_percent");
    serde_json::to_string(&f).unwrap_or_default()
}

fn key(d: &Draft) -> String {
    format!(
        "{}\u{0}{}",
        d.fields.get("check").and_then(|v| v.as_str()).unwrap_or(""),
        logwarden_core::health::subject(&d.fields)
    )
}

/// What was sent, so that only changes go out between reports.
#[derive(Default)]
pub(crate) struct Sent {
    last: BTreeMap<String, String>,
    last_report: Option<Instant>,
    last_progress: Option<Instant>,
}

impl Sent {
    pub(crate) fn due(
        &mut self,
        now: Instant,
        drafts: Vec<Draft>,
        report: Duration,
        progress: Duration,
    ) -> Vec<Draft> {
        let report_due = self.last_report.is_none_or(|t| now - t >= report);
        let progress_due = self.last_progress.is_none_or(|t| now - t >= progress);
        let mut out = Vec::new();
        for d in drafts {
            let (k, c) = (key(&d), condition(&d));
            let changed = self.last.get(&k) != Some(&c);
            let syncing = d
                .fields
                .get("sync_action")
                .and_then(|v| v.as_str())
                .is_some_and(|a| a != "idle");
            if changed || report_due || (progress_due && syncing) {
                self.last.insert(k, c);
                out.push(d);
            }
        }
        if report_due {
            self.last_report = Some(now);
        }
        if progress_due {
            self.last_progress = Some(now);
        }
        out
    }
}

/// How long to wait after `failures` failed polls in a row (module doc).
pub(crate) fn backoff(interval: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return interval;
    }
    let cap = (interval * 16).min(Duration::from_secs(600)).max(interval);
    (interval * 2u32.saturating_pow(failures.min(5))).min(cap)
}

fn poll_loop(target: &RedfishTarget, out: &WeakSink, report: Duration, progress: Duration) {
    let interval = target.interval;
    let mut sent = Sent::default();
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        let reportage = super::probe::redfish_once(target);
        if reportage.complete() {
            if failures > 0 {
                tracing::info!(bmc = %reportage.bmc, "BMC readable again");
            }
            failures = 0;
        } else {
            if failures == 0 {
                tracing::warn!(bmc = %reportage.bmc, problems = %reportage.problems.join("; "), "BMC not fully readable");
            }
            failures += 1;
            out.metrics
                .probe_errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        for d in sent.due(Instant::now(), reportage.drafts(), report, progress) {
            if !out.send(d) {
                return;
            }
        }
        if !out.sleep_until(started + backoff(interval, failures)) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logwarden_core::{Fields, Kind, Severity};
    use serde_json::json;

    fn d(state: &str, pct: f64) -> Draft {
        let f: Fields = json!({"check": "raid", "array": "S/1/V/1", "state": state,
            "sync_action": if state == "recovering" { "recovery" } else { "idle" },
            "sync_percent": pct})
        .as_object()
        .unwrap()
        .clone()
        .into();
        Draft {
            ts: None,
            host: Some("bmc".into()),
            source: "health".into(),
            app: "raid".into(),
            severity: Severity::Info,
            kind: Kind::Health,
            message: String::new(),
            fields: f,
        }
    }

    #[test]
    fn changes_go_out_at_once_progress_on_its_timer() {
        let (r, p) = (Duration::from_secs(300), Duration::from_secs(60));
        let mut s = Sent::default();
        let t = Instant::now();
        assert_eq!(s.due(t, vec![d("clean", 0.0)], r, p).len(), 1);
        assert!(
            s.due(t + Duration::from_secs(1), vec![d("clean", 0.0)], r, p)
                .is_empty()
        );
        assert_eq!(
            s.due(t + Duration::from_secs(2), vec![d("recovering", 1.0)], r, p)
                .len(),
            1
        );
        assert!(
            s.due(t + Duration::from_secs(3), vec![d("recovering", 2.0)], r, p)
                .is_empty()
        );
        assert_eq!(
            s.due(
                t + Duration::from_secs(61),
                vec![d("recovering", 9.0)],
                r,
                p
            )
            .len(),
            1
        );
    }

    #[test]
    fn backoff_doubles_per_failure_up_to_a_cap() {
        let i = Duration::from_secs(60);
        assert_eq!(backoff(i, 0), i);
        assert_eq!(backoff(i, 1), Duration::from_secs(120));
        assert_eq!(backoff(i, 3), Duration::from_secs(480));
        assert_eq!(backoff(i, 30), Duration::from_secs(600));
        let i = Duration::from_secs(2);
        assert_eq!(backoff(i, 30), Duration::from_secs(32));
    }
}

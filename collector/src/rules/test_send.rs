//! `logwarden alerts test`: a synthetic alert sent through the real routing tree to the real
//! receivers, once each (no retries), with what each one answered. Nothing of it reaches the
//! alert table, the notification log or the WAL: a test is not an incident, and a real alert
//! with the same labels later is paged as usual.
//!
//! It lives in `rules/` because it decides like a delivery does (the routes an alert's labels
//! reach, its group at each: [`super::dispatch::group_of`]); `notify` only carries it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use logwarden_core::wire::{
    AlertSeverity, AlertStatus, AlertView, TestAlertRequest, TestAlertResponse, TestOutcome,
};

use super::dispatch;
use crate::notify::route::RouteTree;
use crate::notify::{Notification, Receiver, send_once};
use crate::rules::record::{self, AlertRecord};

/// The name of the synthetic alert unless `alertname` says otherwise.
pub const TEST_ALERTNAME: &str = "LogwardenTest";

/// How long one receiver may take before its outcome is "not answered".
const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a test was not sent at all.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("no receiver named {name:?} (known: {known})")]
    UnknownReceiver { name: String, known: String },
    #[error("severity {0:?} is not info, warning or critical")]
    BadSeverity(String),
}

/// The synthetic alert: the labels given, `alertname` and `severity` taken out of them.
fn synthetic(labels: &BTreeMap<String, String>) -> Result<AlertRecord, TestError> {
    let mut labels = labels.clone();
    let name = labels
        .remove("alertname")
        .unwrap_or_else(|| TEST_ALERTNAME.to_owned());
    let severity = match labels.remove("severity") {
        None => AlertSeverity::Warning,
        Some(s) => AlertSeverity::parse(&s).ok_or(TestError::BadSeverity(s))?,
    };
    let now = Utc::now();
    Ok(AlertRecord {
        // Never an id the engine makes (16 hex digits): acks of it find nothing.
        key: format!("test-{:x}", now.timestamp_micros()),
        name,
        severity,
        status: AlertStatus::Firing,
        labels,
        annotations: BTreeMap::from([(
            "summary".to_owned(),
            "Test notification from logwarden (`logwarden alerts test`): no action needed"
                .to_owned(),
        )]),
        starts_at: now,
        ends_at: None,
        updated_at: now,
    })
}

/// Sends the test and reports each receiver's outcome.
pub async fn run(
    req: TestAlertRequest,
    receivers: &[Receiver],
    routes: &RouteTree,
    http: &reqwest::Client,
    external_url: &str,
) -> Result<TestAlertResponse, TestError> {
    let rec = synthetic(&req.labels)?;
    let view = AlertView {
        id: rec.key.clone(),
        name: rec.name.clone(),
        severity: rec.severity,
        status: rec.status,
        labels: rec.labels.clone(),
        annotations: rec.annotations.clone(),
        starts_at: rec.starts_at,
        ends_at: None,
        updated_at: rec.updated_at,
        ack: None,
        silenced_by: vec![],
        inhibited_by: None,
    };
    // (receiver index, route shown, group key and labels)
    let mut targets: Vec<(usize, String, String, BTreeMap<String, String>)> = Vec::new();
    match &req.receiver {
        Some(name) => {
            let i = receivers
                .iter()
                .position(|r| &r.name == name)
                .ok_or_else(|| TestError::UnknownReceiver {
                    name: name.clone(),
                    known: receivers
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            let ep = routes.endpoints().iter().find(|e| e.receiver == i);
            let (group, labels) = match ep {
                Some(ep) => dispatch::group_of(ep, &rec),
                None => ("{}:{}".to_owned(), BTreeMap::new()),
            };
            targets.push((i, "--receiver".to_owned(), group, labels));
        }
        None => {
            for e in routes.matching(&|l| record::label(&rec, l)) {
                let ep = &routes.endpoints()[e];
                let (group, labels) = dispatch::group_of(ep, &rec);
                targets.push((ep.receiver, ep.key_prefix.clone(), group, labels));
            }
        }
    }
    let sends = targets
        .into_iter()
        .map(|(i, route, group_key, group_labels)| {
            let receiver = &receivers[i];
            let n = Notification {
                receiver: receiver.name.clone(),
                group_key,
                group_labels,
                alerts: vec![view.clone()],
                external_url: external_url.to_owned(),
            };
            async move {
                let start = Instant::now();
                let result =
                    tokio::time::timeout(SEND_TIMEOUT, send_once(receiver, http, &n)).await;
                let error = match result {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some(format!("no answer within {} s", SEND_TIMEOUT.as_secs())),
                };
                tracing::info!(receiver = %receiver.name, sent = error.is_none(),
                error = error.as_deref().unwrap_or(""), "test notification");
                TestOutcome {
                    receiver: receiver.name.clone(),
                    kind: receiver.kind_name().to_owned(),
                    route,
                    sent: error.is_none(),
                    error,
                    elapsed_ms: start.elapsed().as_millis() as u64,
                }
            }
        });
    // At once: the answer takes as long as the slowest receiver, not their sum.
    let outcomes = futures_util::future::join_all(sends).await;
    Ok(TestAlertResponse {
        alert: view,
        outcomes,
    })
}

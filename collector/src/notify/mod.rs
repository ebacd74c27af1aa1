//! Notifications as transports: who a receiver is ([`Receiver`], `receiver.rs`), what one is
//! sent ([`Notification`], one per group of alerts, `notification.rs`), why a sending failed
//! ([`NotifyError`], `error.rs`), how each kind of receiver is spoken to (one file each:
//! [`webhook`], [`slack`], [`pagerduty`], [`email`], [`command`]; `response.rs` reads an HTTP
//! receiver's answer), delivery at least once ([`deliver`] in `delivery.rs`: retries with
//! backoff, `Retry-After` honoured) and the routing tree ([`route`]: which receivers a set of
//! labels reaches, a pure function of the labels).
//!
//! Imports go down: `delivery.rs` calls the transports, the transports use the leaves
//! (`notification.rs`, `error.rs`, `response.rs`; `command` also `webhook`'s JSON), and this
//! file only declares and re-exports.
//!
//! Nothing here knows the alert table: *when* to send, and what, is decided in `rules/`
//! (`rules::dispatch` from the notification log, the engine's delivery timers), which calls
//! into this module. Calls go one way, rules -> notify.

pub mod command;
mod delivery;
pub mod email;
mod error;
mod notification;
pub mod pagerduty;
mod receiver;
mod response;
pub mod route;
pub mod route_config;
pub mod slack;
pub mod smtp_tls;
pub mod webhook;

pub use delivery::{RetryPolicy, deliver, send_once};
pub use error::NotifyError;
pub use notification::Notification;
pub use receiver::{Receiver, ReceiverKind};

#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeMap;

    use chrono::Utc;
    use logwarden_core::wire::{AlertSeverity, AlertStatus, AlertView};

    use super::Notification;

    pub fn view(name: &str, sev: AlertSeverity, status: AlertStatus) -> AlertView {
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        AlertView {
            id: "0123456789abcdef".into(),
            name: name.into(),
            severity: sev,
            status,
            labels: BTreeMap::from([
                ("host".into(), "mbox3".into()),
                ("array".into(), "md2".into()),
            ]),
            annotations: BTreeMap::from([(
                "summary".into(),
                "md2 on mbox3 degraded: raid6 [8/6], no spare, 0 redundancy left".into(),
            )]),
            starts_at: t,
            ends_at: (status == AlertStatus::Resolved).then_some(t),
            updated_at: t,
            ack: None,
            silenced_by: vec![],
            inhibited_by: None,
        }
    }

    pub fn notification(alerts: Vec<AlertView>) -> Notification {
        Notification {
            receiver: "ops".into(),
            group_key: "{}:{alertname=\"RaidArrayDegraded\",host=\"mbox3\"}".into(),
            group_labels: BTreeMap::from([
                ("alertname".into(), "RaidArrayDegraded".into()),
                ("host".into(), "mbox3".into()),
            ]),
            alerts,
            external_url: "http://127.0.0.1:7070/".into(),
        }
    }
}

//! Alerting rules, the alert lifecycle, and when to notify.
//!
//! Data flows one way: the WAL -> [`engine`] (a task following the WAL like the indexer) ->
//! rules ([`builtin`], [`user`]) give a [`alert::Signal`] per alert -> the lifecycle turns
//! verdicts into [`state::StateChange`]s, written to the WAL as `AlertState` records through the
//! committer -> delivery decides what to send ([`dispatch`]) and hands it to [`crate::notify`],
//! the transports, which know nothing of this module. See docs/alerts.md for every alert.
//!
//! - [`engine`]: the task, split by job (replay, judge, lifecycle, delivery, commands).
//! - [`alert`]: a verdict and the alert's dedup key; [`record`]: an alert as the WAL keeps it.
//! - [`builtin`]: the built-in rules (with [`relay_deferrals`]); [`user`]: rules from the
//!   config; [`window`]: rate counts.
//!   Each owns the type of its saved state.
//! - [`state`]: the WAL payload and the alert table it rebuilds (alerts, acks, silences, the
//!   notification log).
//! - [`snapshot`]: the engine's whole state as a WAL record, so that a start need not replay the
//!   log from its beginning.
//! - [`silence`], [`inhibit`], [`maintenance`]: what keeps an alert from being sent.
//! - [`dispatch`]: what a flush of a group sends, from the notification log; [`test_send`]:
//!   `logwarden alerts test`.

pub mod alert;
pub mod builtin;
pub mod dispatch;
pub mod engine;
pub mod inhibit;
pub mod maintenance;
pub mod record;
pub mod relay_deferrals;
pub mod runbook;
pub mod silence;
pub mod snapshot;
pub mod state;
pub mod template;
pub mod test_send;
pub mod user;
pub mod window;

pub use alert::{Signal, alert_key};
pub use engine::{AlertsHandle, EngineError, EngineSettings};

//! Alerting rules and the alert lifecycle.
//!
//! Data flows one way: the WAL -> [`engine`] (a task following the WAL like the indexer) ->
//! rules ([`builtin`], [`user`]) give a [`alert::Signal`] per alert -> the lifecycle turns
//! verdicts into [`state::StateChange`]s, written to the WAL as `AlertState` records through the
//! committer -> notifications ([`crate::notify`]). See docs/alerts.md for every alert.
//!
//! - [`alert`]: a verdict and the alert's dedup key.
//! - [`builtin`]: the built-in rules; [`user`]: rules from the config; [`window`]: rate counts.
//! - [`state`]: the WAL payload and the alert table it rebuilds (alerts, acks, silences, the
//!   notification log).
//! - [`snapshot`]: the engine's whole state as a WAL record, so that a start need not replay the
//!   log from its beginning.
//! - [`silence`], [`inhibit`]: what keeps an alert from being sent.

pub mod alert;
pub mod builtin;
pub mod dispatch;
pub mod engine;
pub mod inhibit;
pub mod maintenance;
pub mod record;
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

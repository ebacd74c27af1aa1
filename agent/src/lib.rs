//! logwarden's agent. Data flows one way: source (tailed files, the journal, health probes) -> parse ->
//! draft -> identity (`agent_id:seq`) -> batch -> ship, and acknowledgements flow back to the
//! checkpoints. See docs/architecture.md.

pub mod config;
pub mod durable;
pub mod health;
pub mod identity;
pub mod init;
pub mod journald;
pub mod observe;
pub mod pipeline;
pub mod reload;
pub mod ship;
pub mod source;
pub mod spool;
pub mod tail;

/// Drafts are shared with the parsers: see `logwarden_core::draft`.
pub use logwarden_core::draft;
/// The line parsers live in their own crate, shared with the collector's syslog intake.
pub use logwarden_parse as parse;

//! logwarden's agent. Data flows one way: source (tailed files, health probes) -> parse ->
//! draft -> identity (`agent_id:seq`) -> batch -> ship, and acknowledgements flow back to the
//! checkpoints. See docs/architecture.md.

pub mod config;
pub mod draft;
pub mod durable;
pub mod health;
pub mod identity;
pub mod parse;
pub mod pipeline;
pub mod ship;
pub mod spool;
pub mod tail;

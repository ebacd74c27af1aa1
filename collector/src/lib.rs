//! logwarden's collector. Data flows one way: ingest (HTTP) -> WAL (committer, group commit,
//! dedup) -> index (indexer thread) -> search. See docs/architecture.md.

pub mod api;
pub mod auth;
pub mod config;
pub mod fleet;
pub mod index;
pub mod ingest;
pub mod metrics;
pub mod notify;
pub mod per_client;
pub mod reload;
pub mod replication;
pub mod retention;
pub mod rules;
pub mod search;
pub mod server;
pub mod syslog;
pub mod tls;
pub mod trace;
pub mod wal;

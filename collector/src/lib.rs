//! logwarden's collector. See docs/architecture.md for the parts and how data flows.

pub mod wal;

//! The write-ahead log: the collector's source of truth, and the bottom layer of the collector.
//!
//! This module only declares its files and re-exports what the layers above use; inside `wal/`
//! each file imports from the file that defines a thing, never through this one (so that no
//! import circle runs through `mod.rs`: `scripts/structure`). The log itself (`Wal`: segments,
//! records, readers, trimming) is `log.rs`, `segment.rs`, `record.rs`, `reader.rs` and `trim.rs`.
//! Beside it, the parts that write it and keep what it implies, which import nothing from the
//! layers above (ingest, index, rules, replication, retention, api, server):
//!
//! | file | what |
//! |---|---|
//! | `commit/` | the committer: the one writer, group commit, deduplication, the syncer; [`CommitError`] |
//! | `dedup.rs` | the `(agent, seq)` identities held |
//! | `checkpoint.rs` | the committer's state as a `Checkpoint` record |
//! | `epoch.rs` | `Epoch` records and the epoch history |
//! | `recent.rs` | the parsed events of the newest records, for the followers |
//! | `backlog.rs` | how far the index trails the log |
//! | `future.rs` | events dated too far ahead, moved to their arrival |
//! | `stats.rs` | [`WalStats`], the figures status, metrics, ingest and retention read |
//!
//! Everything the collector accepts is appended here and fsynced before it is acknowledged;
//! the index, the alert engine and (later) the standby site are all fed by reading it back. A
//! record is numbered by its LSN (log sequence number), a `u64` that grows by one per record
//! from 1, so that any reader can say "give me everything after N" and a standby can stream it.
//!
//! # On-disk layout (version 1)
//!
//! The log is a directory of segment files named `<first_lsn as 20 digits>.wal`. A segment
//! holds consecutive records; a new one is started once the active one passes the segment size.
//!
//! ```text
//! segment header, 16 bytes:
//!   0  4  magic  b"LWAL"
//!   4  4  format version, u32 LE (1)
//!   8  8  first LSN of the segment, u64 LE
//! then records, back to back:
//!   0  4  record magic  b"LWRE"  (lets a reader find the next record after a damaged one)
//!   4  4  payload length N, u32 LE (at most MAX_PAYLOAD)
//!   8  4  CRC-32 (IEEE) of bytes 4..8 and 12..21+N (length, LSN, kind, payload)
//!  12  8  LSN, u64 LE
//!  20  1  kind (see RecordKind)
//!  21  N  payload
//! ```
//!
//! # Invariants and what a crash looks like
//!
//! - Records are written in LSN order with no gaps; only corruption found later makes a gap.
//! - A record is *durable* once `Wal::sync` has returned after it; nothing is acknowledged
//!   before. A crash can therefore leave, at the end of the newest segment only, a torn record
//!   (a short write, or bytes with a bad CRC). `Wal::open` cuts it off: it was never acked.
//! - A damaged record with valid records after it (bit rot, a bad sector) is not a crash
//!   artefact: it is reported (logged and counted), skipped by finding the next record magic with
//!   a valid CRC, and never stops the collector.
//! - A failed fsync poisons the log: every later append fails until a restart, because after a
//!   failed fsync the kernel may have dropped the dirty pages and retrying would lie. A failed
//!   *write* (a full disk) does not: what it wrote in part is cut off again (the segment is
//!   truncated to where the write began), its records are forgotten (their LSNs are given to
//!   the next records), and the log goes on once the disk has room. Only if that cut fails is
//!   the log poisoned. A segment that cannot be created is removed again and the active one
//!   goes on growing until one can.
//! - Segment creation is header, fsync file, fsync directory, so a new segment survives a crash.
//! - The oldest segments are deleted whole once nothing needs them (`trim.rs`): the log then
//!   starts at a later LSN, and a reader asked for an earlier one starts there. What the
//!   collector's parts need from the start of the log is kept in snapshot records
//!   (`Checkpoint`, `RulesSnapshot`) instead.

pub mod backlog;
pub mod checkpoint;
pub mod commit;
pub mod dedup;
pub mod epoch;
mod error;
pub mod future;
mod log;
mod reader;
pub mod recent;
mod record;
mod segment;
pub mod stats;
mod trim;

pub use commit::{CommitError, Committed, Committer, CommitterOptions, Originals, Pending};
pub use epoch::{EpochHistory, EpochRecord};
pub use error::WalError;
pub use log::{Recovery, Wal, WalOptions, Written};
pub use reader::{Read, WalReader, first_lsn, newest_of_kind, newest_of_kinds, wait_for_durable};
pub use recent::Recent;
pub use record::{
    Head, MAX_PAYLOAD, Record, RecordKind, decode_stream, encode_record, event_lines,
    write_received,
};
/// The record decoder that recovery and readers use, public for the fuzz target `wal_record`.
pub use record::{Parsed as ParsedRecord, parse as decode_record};
pub use stats::WalStats;
pub use trim::Trimmed;

#[cfg(test)]
pub(crate) mod tests;

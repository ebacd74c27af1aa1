//! What the committer is sent, and what it answers.

use logwarden_core::Event;
use tokio::sync::oneshot;

use super::error::CommitError;
use crate::wal::record::{Record, RecordKind};
use crate::wal::trim::Trimmed;

/// What the committer is asked to write.
pub enum CommitRequest {
    /// An ingest request once its lines are checked.
    Events {
        /// The valid events, in request order.
        events: Vec<Event>,
        /// Their JSON as the caller has it (see `write_received`).
        originals: Originals,
        /// Answered once the new events are durable (or the write failed).
        reply: oneshot::Sender<Result<Committed, CommitError>>,
    },
    /// One record written as it is: alert state from the rules engine (its payload is the
    /// engine's business) or a new epoch. Never deduplicated.
    Record {
        kind: RecordKind,
        payload: Vec<u8>,
        /// For a `RulesSnapshot` of the engine's: the LSN whose state it holds, handed over by
        /// the engine (the payload's format is the engine's business).
        reflects: Option<u64>,
        /// Answered with the record's LSN once it is durable.
        reply: oneshot::Sender<Result<u64, CommitError>>,
    },
    /// Records copied from the primary, in LSN order, kept with their LSNs (standby only).
    Replicated {
        records: Vec<Record>,
        /// Answered with the durable LSN once they are all durable.
        reply: oneshot::Sender<Result<u64, CommitError>>,
    },
    /// Delete the oldest segments below `floor`, keeping `keep_bytes` (`retention.rs`).
    Trim {
        floor: u64,
        keep_bytes: u64,
        reply: oneshot::Sender<Result<Trimmed, CommitError>>,
    },
}

/// The request body and, for each event, where its own JSON object is in it (`None`, or no span
/// at all: the committer serializes the event; `Originals::default()` has none).
#[derive(Default)]
pub struct Originals {
    pub body: bytes::Bytes,
    pub spans: Vec<Option<std::ops::Range<usize>>>,
}

/// The committer's answer.
#[derive(Debug, Default)]
pub struct Committed {
    pub accepted: u64,
    /// Positions in `CommitRequest::events` that the collector already held.
    pub duplicates: Vec<usize>,
    pub lsn: Option<u64>,
}

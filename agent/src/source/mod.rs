//! What the sources hand on, shared by every part downstream: the agent's leaf module (it uses
//! nothing else of the agent, so the tailer, the journal reader, the health probes, the spool
//! and the shipper can all name these types without naming each other).
//!
//! - [`Item`]: one drafted event with, for a file record, its [`Origin`];
//! - [`FileKey`]: a file's identity while it exists (a journal source's key has [`JOURNAL_DEV`]);
//! - [`fingerprint`]: a file's identity by content;
//! - [`Position`]: a place in the spool, saved with the checkpoints once acknowledged.
//!
//! How an origin is written in a spool record is `spool/record.rs`; how positions and offsets
//! are saved is `tail/checkpoint.rs`.

pub mod fingerprint;

use std::path::Path;
use std::sync::Arc;

use logwarden_core::draft::Draft;

use fingerprint::Fingerprint;

/// What a source hands to the pipeline.
#[derive(Debug)]
pub struct Item {
    pub draft: Draft,
    /// For a file record: the file and where its last line ends, so that reading can resume
    /// after it and its checkpoint can move once it is acked.
    pub origin: Option<Origin>,
}

/// Where a file record's lines came from: enough to resume the file after a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: FileKey,
    pub fp: Fingerprint,
    /// Shared with the file's reader: a record does not copy it (an allocation and a free per
    /// line, issue 25).
    pub path: Arc<Path>,
    /// Offset just after the last byte of the record's last line.
    pub end: u64,
}

/// A file's identity while it exists: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
}

/// The device number of journal sources' keys: no file has it.
pub const JOURNAL_DEV: u64 = u64::MAX;

/// A place in the spool: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

//! The write-ahead log: the collector's source of truth, and the bottom layer of the collector.
//!
//! This module is the log itself (`Wal`: segments, records, readers, trimming). Beside it, the
//! parts that write it and keep what it implies, which import nothing from the layers above
//! (ingest, index, rules, replication, retention, api, server):
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
mod reader;
pub mod recent;
mod record;
mod segment;
pub mod stats;
mod trim;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use commit::{CommitError, Committed, Committer, CommitterOptions, Originals, Pending};
pub use epoch::{EpochHistory, EpochRecord};
pub use error::WalError;
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

use segment::{Decoded, SegmentFile};

/// Tunables of the log.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// A segment is closed and a new one started once it passes this many bytes.
    pub segment_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions {
            segment_bytes: 64 << 20,
        }
    }
}

/// What `Wal::open` found on disk.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recovery {
    /// The LSN of the last valid record (0 for an empty log).
    pub last_lsn: u64,
    /// Damaged records skipped in the middle of the log: (segment, byte offset, bytes skipped).
    pub corrupt: Vec<(PathBuf, u64, u64)>,
    /// A torn record cut off the end of the newest segment: (segment, offset, bytes removed).
    pub truncated_tail: Option<(PathBuf, u64, u64)>,
}

/// The most bytes handed to the kernel in one `write` (see [`Wal::sync`]).
const WRITE_PIECE: usize = 256 << 10;

/// What [`Wal::write_out`] wrote: the records through `lsn` are in `file`, and durable once it
/// is fsynced. (Records in earlier segments were fsynced when their segment was sealed.)
#[derive(Debug, Clone)]
pub struct Written {
    pub lsn: u64,
    file: Arc<File>,
    path: PathBuf,
}

impl Written {
    /// Fsyncs the segment written to.
    pub fn sync(&self) -> Result<(), WalError> {
        self.file
            .sync_data()
            .map_err(|e| WalError::io(&self.path, e))
    }

    /// What a write of records through `lsn` into `file` says (tests of whoever syncs).
    #[cfg(test)]
    pub(crate) fn for_test(lsn: u64, file: File, path: &Path) -> Written {
        Written {
            lsn,
            file: Arc::new(file),
            path: path.to_owned(),
        }
    }

    /// Whether `other` was written to the same segment (one fsync covers both).
    pub fn same_segment(&self, other: &Written) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
    }
}

/// The writing side of the log. Not shared: one task owns it and does group commit.
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    /// The segment being appended to (shared with whoever fsyncs what [`Wal::write_out`] wrote).
    active: Arc<File>,
    active_path: PathBuf,
    /// Bytes in the active segment, including `pending`.
    active_len: u64,
    /// Encoded records not yet written: one write per group commit.
    pending: Vec<u8>,
    next_lsn: u64,
    /// The last LSN handed to the kernel whole: a failed write goes back to it.
    written_lsn: u64,
    durable_lsn: u64,
    /// The first LSN the log holds (or will: `next_lsn` of an empty log).
    first_lsn: u64,
    /// Sizes of the sealed segments plus the active one, for status.
    segments: u64,
    bytes: u64,
    poisoned: bool,
}

impl Wal {
    /// Opens (or creates) the log in `dir`, cutting off a torn tail and reporting damage.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<(Wal, Recovery), WalError> {
        std::fs::create_dir_all(dir).map_err(|e| WalError::io(dir, e))?;
        let mut recovery = Recovery::default();
        let mut paths: Vec<PathBuf> = segment::list(dir)?.into_iter().map(|(_, p)| p).collect();
        if let Some(newest) = paths.last() {
            // A crash while creating a segment can leave it without a whole header; it held no
            // record, so it can go.
            let len = std::fs::metadata(newest)
                .map_err(|e| WalError::io(newest, e))?
                .len();
            if len < segment::HEADER_LEN {
                tracing::warn!(segment = %newest.display(), "removing a WAL segment whose creation was interrupted");
                std::fs::remove_file(newest).map_err(|e| WalError::io(newest, e))?;
                paths.pop();
            }
        }
        let mut bytes = 0;
        let mut last: Option<(PathBuf, u64)> = None; // newest segment and its valid length
        for (i, path) in paths.iter().enumerate() {
            let is_newest = i + 1 == paths.len();
            let seg = SegmentFile::open(path)?;
            let mut pos = segment::HEADER_LEN;
            let mut expected = seg.first_lsn;
            loop {
                match seg.decode_at(pos)? {
                    Decoded::Record(rec, next) => {
                        if rec.lsn < expected {
                            // An old record copied in by a bad resync: treat as damage.
                            recovery.corrupt.push((path.clone(), pos, next - pos));
                        } else {
                            expected = rec.lsn + 1;
                            recovery.last_lsn = rec.lsn;
                        }
                        pos = next;
                    }
                    Decoded::End => break,
                    Decoded::Bad => match seg.resync(pos + 1)? {
                        Some(next) => {
                            tracing::error!(segment = %path.display(), offset = pos, skipped = next - pos,
                                "WAL record damaged in the middle of the log; skipped");
                            recovery.corrupt.push((path.clone(), pos, next - pos));
                            pos = next;
                        }
                        None if is_newest => {
                            let cut = seg.len - pos;
                            tracing::warn!(segment = %path.display(), offset = pos, bytes = cut,
                                "torn record at the end of the WAL (crash during a write); cut off");
                            seg.truncate(pos)?;
                            recovery.truncated_tail = Some((path.clone(), pos, cut));
                            break;
                        }
                        None => {
                            tracing::error!(segment = %path.display(), offset = pos,
                                "WAL segment damaged up to its end; rest of the segment skipped");
                            recovery.corrupt.push((path.clone(), pos, seg.len - pos));
                            break;
                        }
                    },
                }
            }
            bytes += pos;
            last = Some((path.clone(), pos));
        }
        let next_lsn = recovery.last_lsn + 1;
        let (active, active_path, active_len) = match last {
            // Keep appending to the newest segment unless it is full.
            Some((path, len)) if len < opts.segment_bytes => {
                let file = segment::open_append(&path)?;
                (Arc::new(file), path, len)
            }
            _ => {
                let (file, path) = segment::create(dir, next_lsn)?;
                bytes += segment::HEADER_LEN;
                (Arc::new(file), path, segment::HEADER_LEN)
            }
        };
        let listed = segment::list(dir)?;
        let segments = listed.len() as u64;
        let first_lsn = match recovery.last_lsn {
            0 => next_lsn,
            _ => listed.first().map_or(next_lsn, |(first, _)| *first),
        };
        let wal = Wal {
            dir: dir.to_owned(),
            opts,
            active,
            active_path,
            active_len,
            pending: Vec::new(),
            next_lsn,
            written_lsn: recovery.last_lsn,
            durable_lsn: recovery.last_lsn,
            first_lsn,
            segments,
            bytes,
            poisoned: false,
        };
        Ok((wal, recovery))
    }

    /// Adds a record and returns its LSN. It is not durable until it is fsynced ([`Wal::sync`],
    /// or [`Written::sync`] after [`Wal::write_out`]).
    pub fn append(&mut self, kind: RecordKind, payload: &[u8]) -> Result<u64, WalError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(WalError::TooLarge(payload.len()));
        }
        self.append_with(kind, |out| out.extend_from_slice(payload))
            .map(|(lsn, _)| lsn)
    }

    /// Adds a record whose payload `write` appends to the buffer it is given, and returns its
    /// LSN and payload length; durable once fsynced, as [`Wal::append`]'s. The committer writes
    /// its batches of events this way, straight into the buffer of what is pending: built
    /// elsewhere and copied in, the copy was a sixth of the committer's time in a syslog burst.
    /// `write` must only append.
    pub fn append_with(
        &mut self,
        kind: RecordKind,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(u64, usize), WalError> {
        if self.poisoned {
            return Err(WalError::Poisoned);
        }
        let mut start = self.pending.len();
        self.pending.resize(start + record::RECORD_HEADER_LEN, 0);
        write(&mut self.pending);
        let payload_len = self.pending.len() - start - record::RECORD_HEADER_LEN;
        if payload_len > MAX_PAYLOAD {
            self.pending.truncate(start);
            return Err(WalError::TooLarge(payload_len));
        }
        let len = record::encoded_len(payload_len) as u64;
        let has_records = self.active_len > segment::HEADER_LEN;
        if has_records && self.active_len + len > self.opts.segment_bytes {
            // The record starts the next segment: out of the buffer while this one is sealed (a
            // copy once per segment), then back.
            let rec = self.pending.split_off(start);
            self.roll()?;
            start = self.pending.len();
            self.pending.extend_from_slice(&rec);
        }
        let lsn = self.next_lsn;
        record::seal(&mut self.pending[start..], lsn, kind);
        self.next_lsn += 1;
        self.active_len += len;
        self.bytes += len;
        Ok((lsn, payload_len))
    }

    /// Adds a record copied from the primary's log, keeping its LSN (replication). The LSN must
    /// be above every LSN held; a gap is allowed because the primary's log may have one where it
    /// skipped a damaged record.
    pub fn append_at(
        &mut self,
        lsn: u64,
        kind: RecordKind,
        payload: &[u8],
    ) -> Result<(), WalError> {
        if lsn < self.next_lsn {
            return Err(WalError::OutOfOrder {
                lsn,
                next: self.next_lsn,
            });
        }
        if lsn > self.next_lsn {
            // A gap: a fresh copy of a primary whose log was trimmed, or a record it skipped.
            // Start a segment at `lsn`, so that segment names keep saying where records start
            // (`first_lsn`, trimming and readers go by them).
            self.next_lsn = lsn;
            if self.active_len > segment::HEADER_LEN {
                self.roll()?;
            } else {
                let empty = self.active_path.clone();
                let (file, path) = segment::create(&self.dir, lsn).inspect_err(|_| {
                    self.poisoned = true;
                })?;
                std::fs::remove_file(&empty).map_err(|e| WalError::io(&empty, e))?;
                self.active = Arc::new(file);
                self.active_path = path;
            }
            if self.durable_lsn == 0 {
                self.first_lsn = lsn;
            }
        }
        self.append(kind, payload).map(|_| ())
    }

    /// Writes what is pending and fsyncs it; returns the durable LSN. One call per group.
    pub fn sync(&mut self) -> Result<u64, WalError> {
        let written = self.write_out()?;
        if let Err(e) = written.sync() {
            self.poisoned = true;
            return Err(e);
        }
        self.durable_lsn = written.lsn;
        Ok(self.durable_lsn)
    }

    /// Writes what is pending to the active segment without fsyncing it, and says what must be
    /// fsynced for it to be durable ([`Written::sync`], which may run on another thread while
    /// this log takes more records). Whoever does must call [`Wal::poison`] if that fails:
    /// after a failed fsync the kernel may have dropped what it held, and a later fsync
    /// could succeed without it.
    pub fn write_out(&mut self) -> Result<Written, WalError> {
        if self.poisoned {
            return Err(WalError::Poisoned);
        }
        // In pieces: on Linux 6.18 and ext4, one write of a whole group (megabytes) cost the
        // kernel about four times the CPU per byte of writes of 256 KiB (`bench/write_pieces.py`,
        // docs/BENCHMARKS.md "Session 8").
        let res = self
            .pending
            .chunks(WRITE_PIECE)
            .try_for_each(|piece| (&*self.active).write_all(piece));
        if let Err(e) = res {
            let err = WalError::io(&self.active_path, e);
            self.undo_pending(&err);
            return Err(err);
        }
        self.pending.clear();
        self.written_lsn = self.next_lsn - 1;
        Ok(Written {
            lsn: self.next_lsn - 1,
            file: self.active.clone(),
            path: self.active_path.clone(),
        })
    }

    /// After a failed write: cuts the active segment back to where the write began and forgets
    /// the records that were pending (their LSNs go to the next records). Poisons the log if
    /// the cut fails, since the segment would then end in a part of a record.
    fn undo_pending(&mut self, why: &WalError) {
        let pending = self.pending.len() as u64;
        let keep = self.active_len.saturating_sub(pending);
        if let Err(e) = self.active.set_len(keep) {
            tracing::error!(segment = %self.active_path.display(), error = %e, write_error = %why,
                "cannot cut a failed WAL write off again; the WAL refuses writes until a restart");
            self.poisoned = true;
        }
        tracing::warn!(segment = %self.active_path.display(), error = %why, forgotten = self.next_lsn - 1 - self.written_lsn,
            "WAL write failed; its records are not kept and the WAL goes on from LSN {}", self.written_lsn + 1);
        self.pending.clear();
        self.active_len = keep;
        self.bytes = self.bytes.saturating_sub(pending);
        self.next_lsn = self.written_lsn + 1;
    }

    /// The LSN the next record gets (after a failed write: the first of the forgotten ones).
    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// Refuses every later append and sync (an fsync of what [`Wal::write_out`] wrote failed).
    pub fn poison(&mut self) {
        self.poisoned = true;
    }

    /// Seals the active segment (writing and syncing what is pending) and starts the next.
    fn roll(&mut self) -> Result<(), WalError> {
        self.sync()?;
        let (file, path) = match segment::create(&self.dir, self.next_lsn) {
            Ok(created) => created,
            Err(e) => {
                // A segment file left behind, even empty, would be taken for where the next
                // records are: it goes, and the active segment stays active (over its size)
                // until a new one can be made.
                let left = self.dir.join(segment::name(self.next_lsn));
                match std::fs::remove_file(&left) {
                    Ok(()) => {}
                    Err(r) if r.kind() == std::io::ErrorKind::NotFound => {}
                    Err(r) => {
                        tracing::error!(segment = %left.display(), error = %r,
                            "cannot remove a WAL segment whose creation failed; the WAL refuses writes until a restart");
                        self.poisoned = true;
                    }
                }
                return Err(e);
            }
        };
        self.active = Arc::new(file);
        self.active_path = path;
        self.active_len = segment::HEADER_LEN;
        self.bytes += segment::HEADER_LEN;
        self.segments += 1;
        Ok(())
    }

    /// The last LSN known durable here: at open, and after each [`Wal::sync`]. What
    /// [`Wal::write_out`] wrote becomes durable where it is fsynced (the committer publishes
    /// that itself), so read this before handing the log to the committer.
    pub fn durable_lsn(&self) -> u64 {
        self.durable_lsn
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A reader from `from_lsn` on; pass it [`Wal::durable_lsn`] (or the published value) as the
    /// bound on each read.
    pub fn reader(&self, from_lsn: u64) -> WalReader {
        WalReader::new(self.dir.clone(), from_lsn)
    }

    pub fn segments(&self) -> u64 {
        self.segments
    }

    /// The first LSN the log holds: older records were trimmed (or, on a standby copied
    /// afresh, never copied).
    pub fn first_lsn(&self) -> u64 {
        self.first_lsn
    }

    pub fn segment_bytes(&self) -> u64 {
        self.opts.segment_bytes
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
pub(crate) mod tests;

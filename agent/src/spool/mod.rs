//! The disk spool: every event, numbered, between reading and shipping.
//!
//! The spool is what makes the agent lossless *and* duplicate-free across a crash. An event gets
//! its seq when it is written here, and the record keeps that seq with the event and with the
//! file position its lines end at. After a SIGKILL:
//! - events that were spooled but not acknowledged are sent again **with their seqs** (the
//!   collector drops the copies it already holds), and
//! - each file resumes after the last line that reached the spool, so no spooled line is read
//!   again under a new seq; lines read but not yet spooled are simply read again.
//!
//! The checkpoint file (`tail/checkpoint.rs`) holds the acknowledged offsets and the spool
//! position up to which everything is acknowledged; it governs what the spool may delete.
//!
//! ```text
//! tailer --Item--> writer thread ------------------> segment files <------------ reader (shipper)
//!                  numbers (seq), encodes, appends,    NNNNNNNNNNNNNNNNNNNN.seg   reads up to the
//!                  fsyncs a group, publishes the                                  durable position
//!                  durable position                  release(acked) deletes whole segments
//! ```
//!
//! # On-disk layout (version 1)
//!
//! A directory of segment files named by a 20-digit segment number, `00000000000000000007.seg`.
//! Numbers grow by one per segment and never go back. A segment starts with a 16-byte header:
//!
//! ```text
//! 0   "LWSP"          magic
//! 4   u32 LE          format version (1)
//! 8   u64 LE          segment number (the same as the name)
//! ```
//!
//! then records, back to back (all integers little-endian):
//!
//! ```text
//! 0   "LWSR"          magic, to find the next record after damage
//! 4   u32             body length
//! 8   u32             CRC-32 (IEEE) of the body
//! 12  body:
//!     0   u64         seq (agent_id:seq is the event's id)
//!     8   u16         origin length, 0 for events that come from no file (health, heartbeat)
//!     10  origin:     u64 dev | u64 inode | u32 fingerprint length | u32 fingerprint CRC |
//!                     u64 offset after the record's last line | path bytes (informative)
//!                     (a journal source, `journald/`: dev = 2^64-1, inode = a hash of the
//!                     source's settings, fingerprint 0, offset = the entry's time in µs, path
//!                     bytes = the entry's cursor, where reading resumes)
//!     ..  event       one JSON object (the wire format of core/src/wire.rs), no newline
//! ```
//!
//! # Invariants
//! - Seqs grow along the spool (segment number, then offset).
//! - The reader never reads past the *durable position*: bytes that were written and fsynced.
//! - A segment is deleted only when everything in it is acknowledged and the checkpoint saying
//!   so is saved, or, with `policy = "drop_oldest"`, when the spool is full (counted, logged).
//! - The writer always starts a new segment at start, so nothing is ever appended after bytes a
//!   crash may have left half-written.
//!
//! # Recovery at start ([`Spool::open`])
//! Segments wholly before the acknowledged position are deleted. The others are scanned: a
//! record cut short at the end of the newest segment (a write interrupted by a crash) is cut off
//! and counted as *torn*; a record with a bad magic, length or CRC elsewhere is counted as
//! *damaged* and skipped by searching for the next valid record. A header that is not there
//! (a segment whose creation was interrupted) makes the file be removed. The agent never refuses
//! to start because of its spool. The scan also yields, per file, the end of the last spooled
//! line: where reading resumes.

pub mod feed;
mod reader;
pub mod record;
pub mod settings;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use anyhow::Context;

pub use reader::{Limits, ReadBatch, SpoolReader};
pub use writer::SpoolWriter;

use record::Decoded;

use crate::source::{FileKey, Origin, Position};

pub const SEGMENT_MAGIC: [u8; 4] = *b"LWSP";
pub const VERSION: u32 = 1;
pub const SEGMENT_HEADER: u64 = 16;

/// What the writer does when the spool holds `max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FullPolicy {
    /// Stop reading until acknowledgements free space; unread lines wait in the files.
    #[default]
    Block,
    /// Delete the oldest segment (its events are lost, counted and logged) and go on.
    DropOldest,
}

#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    /// Bound on the bytes of all segments.
    pub max_bytes: u64,
    pub policy: FullPolicy,
}

impl SpoolConfig {
    /// Segments are a quarter of the spool at most (so that freeing one gives room), 8 MiB at
    /// most (so that deleting one is cheap), 64 KiB at least.
    pub fn segment_bytes(&self) -> u64 {
        (self.max_bytes / 4).clamp(64 << 10, 8 << 20)
    }
}

/// Counters, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Records cut short at the end of the newest segment by a crash.
    pub torn: u64,
    /// Records that failed their checks elsewhere and were skipped.
    pub damaged: u64,
    /// Records deleted unsent by `drop_oldest`.
    pub dropped: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct SegmentMeta {
    bytes: u64,
    records: u64,
}

/// State shared by the writer and the reader, under one mutex.
#[derive(Debug, Default)]
struct State {
    /// Every segment on disk, by number.
    segments: BTreeMap<u64, SegmentMeta>,
    /// Everything before this was written and fsynced.
    durable: Position,
    stats: SpoolStats,
    /// The segment the writer appends to (or will create next).
    writing: u64,
    /// Everything before this is acknowledged (and saved in the checkpoints).
    acked: Position,
    /// Set when the writer is gone: the reader ends once it has read up to `durable`.
    writer_closed: bool,
}

impl State {
    fn total_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.bytes).sum()
    }
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    state: Mutex<State>,
    /// Signalled when segments are deleted (the writer may be waiting for space).
    space: Condvar,
    /// Woken when the durable position moves or the writer closes (the reader may be waiting).
    data: tokio::sync::Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where reading resumes for one file, as found in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    pub fp: crate::source::fingerprint::Fingerprint,
    pub path: PathBuf,
    pub end: u64,
}

/// The spool after recovery: a writer, a reader, and what the scan found.
pub struct Spool {
    pub writer: SpoolWriter,
    pub reader: SpoolReader,
    /// Per inode and content: the end of its last spooled line.
    pub resume: HashMap<(FileKey, crate::source::fingerprint::Fingerprint), Spooled>,
    pub stats: SpoolStats,
    /// Records recovered that are not acknowledged yet (they are sent again).
    pub pending: u64,
}

pub fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.seg"))
}

fn list_segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name
            .strip_suffix(".seg")
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

impl Spool {
    /// Opens (or makes) the spool, recovering from whatever a crash left. `acked` is the
    /// position saved with the checkpoints: everything before it was acknowledged.
    pub fn open(cfg: &SpoolConfig, acked: Position) -> anyhow::Result<Spool> {
        std::fs::create_dir_all(&cfg.dir)
            .with_context(|| format!("creating spool dir {}", cfg.dir.display()))?;
        let numbers =
            list_segments(&cfg.dir).with_context(|| format!("listing {}", cfg.dir.display()))?;
        let mut state = State::default();
        let mut scan = Recovery {
            acked,
            newest: numbers.last().copied(),
            stats: SpoolStats::default(),
            resume: HashMap::new(),
            pending: 0,
        };
        for &n in &numbers {
            let path = segment_path(&cfg.dir, n);
            if n < acked.segment {
                remove(&path);
                continue;
            }
            if let Some(meta) = scan.segment(&path, n)? {
                state.segments.insert(n, meta);
            }
        }
        let Recovery {
            stats,
            resume,
            pending,
            ..
        } = scan;
        state.stats = stats;
        // Numbers never go back: not below a deleted, acknowledged segment either (the
        // acknowledged position may point into one).
        let next = state
            .segments
            .keys()
            .next_back()
            .map_or(1, |n| n + 1)
            .max(acked.segment + 1);
        let start = state
            .segments
            .keys()
            .next()
            .map(|&segment| Position {
                segment,
                offset: SEGMENT_HEADER,
            })
            .unwrap_or(Position {
                segment: next,
                offset: SEGMENT_HEADER,
            });
        let read_from = acked.max(start);
        let stats = state.stats;
        state.acked = acked;
        let shared = Arc::new(Shared {
            dir: cfg.dir.clone(),
            state: Mutex::new(state),
            space: Condvar::new(),
            data: tokio::sync::Notify::new(),
        });
        let writer = SpoolWriter::new(shared.clone(), cfg.clone(), next)?;
        let reader = SpoolReader::new(shared, read_from);
        Ok(Spool {
            writer,
            reader,
            resume,
            stats,
            pending,
        })
    }
}

/// What opening the spool learns from the segments it reads.
struct Recovery {
    /// Records before this were acknowledged.
    acked: Position,
    /// The newest segment: only there is a short end a torn write rather than damage.
    newest: Option<u64>,
    stats: SpoolStats,
    /// Per file content, the end of its last spooled line.
    resume: HashMap<(FileKey, crate::source::fingerprint::Fingerprint), Spooled>,
    /// Records not acknowledged yet.
    pending: u64,
}

impl Recovery {
    /// Reads segment `n` at `path`: removes it when its header is not valid (`None`), else
    /// counts its records, notes their origins, cuts a torn end off the newest segment and
    /// skips damage, and returns its size and record count.
    fn segment(&mut self, path: &Path, n: u64) -> anyhow::Result<Option<SegmentMeta>> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let header_ok = bytes.len() >= SEGMENT_HEADER as usize
            && bytes[..4] == SEGMENT_MAGIC
            && u32::from_le_bytes(bytes[4..8].try_into().expect("4")) == VERSION
            && u64::from_le_bytes(bytes[8..16].try_into().expect("8")) == n;
        if !header_ok {
            if Some(n) != self.newest || bytes.len() >= SEGMENT_HEADER as usize {
                tracing::warn!(segment = %path.display(), "spool segment without a valid header; removed");
                self.stats.damaged += 1;
            } else {
                tracing::info!(segment = %path.display(), "removing a spool segment whose creation was interrupted");
            }
            remove(path);
            return Ok(None);
        }
        let mut meta = SegmentMeta {
            bytes: bytes.len() as u64,
            records: 0,
        };
        let mut at = SEGMENT_HEADER as usize;
        while at < bytes.len() {
            match record::decode(&bytes[at..]) {
                Decoded::Record(r, len) => {
                    meta.records += 1;
                    if (Position {
                        segment: n,
                        offset: at as u64,
                    }) >= self.acked
                    {
                        self.pending += 1;
                    }
                    if let Some(o) = r.origin {
                        note_origin(&mut self.resume, o.to_origin());
                    }
                    at += len;
                }
                Decoded::Incomplete if Some(n) == self.newest => {
                    tracing::warn!(segment = %path.display(), offset = at, bytes = bytes.len() - at,
                        "torn record at the end of the spool (the agent was killed while writing); cut off");
                    self.stats.torn += 1;
                    cut(path, at as u64)?;
                    meta.bytes = at as u64;
                    break;
                }
                Decoded::Incomplete | Decoded::Damaged => {
                    self.stats.damaged += 1;
                    match record::resync(&bytes[at..]) {
                        Some(skip) => {
                            tracing::warn!(segment = %path.display(), offset = at, skipped = skip,
                                "damaged spool record skipped");
                            at += skip;
                        }
                        None => {
                            tracing::warn!(segment = %path.display(), offset = at,
                                "damaged spool data up to the end of the segment skipped");
                            if Some(n) == self.newest {
                                cut(path, at as u64)?;
                                meta.bytes = at as u64;
                            }
                            break;
                        }
                    }
                }
            }
        }
        Ok(Some(meta))
    }
}

fn note_origin(
    resume: &mut HashMap<(FileKey, crate::source::fingerprint::Fingerprint), Spooled>,
    o: Origin,
) {
    // Records are in spool order, so a later record of the same content is the later position
    // (a truncated file has another fingerprint: its old content keeps its own place).
    resume.insert(
        (o.file, o.fp),
        Spooled {
            fp: o.fp,
            path: o.path.to_path_buf(),
            end: o.end,
        },
    );
}

/// Deletes the segments that hold only acknowledged records: wholly before `st.acked`, or
/// ending at it when the writer has left them. True when one was deleted.
fn collect(st: &mut State, dir: &Path) -> bool {
    let (acked, writing) = (st.acked, st.writing);
    let done: Vec<u64> = st
        .segments
        .range(..=acked.segment)
        .filter(|(n, m)| **n < acked.segment || (**n != writing && acked.offset >= m.bytes))
        .map(|(n, _)| *n)
        .collect();
    for n in &done {
        remove(&segment_path(dir, *n));
        st.segments.remove(n);
    }
    !done.is_empty()
}

fn cut(path: &Path, len: u64) -> anyhow::Result<()> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.set_len(len)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cutting {} to {len} bytes", path.display()))
}

fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(segment = %path.display(), error = %e, "cannot remove spool segment");
    }
}

impl SpoolReader {
    /// Deletes the segments wholly before `acked`: call only once the checkpoint holding
    /// `acked` is saved.
    pub fn release(&mut self, acked: Position) {
        let mut st = self.shared.lock();
        st.acked = st.acked.max(acked);
        if collect(&mut st, &self.shared.dir) {
            // A deleted file's space only comes back once its last handle is closed.
            if let Some((n, _)) = &self.file
                && !st.segments.contains_key(n)
            {
                self.file = None;
            }
            drop(st);
            self.shared.space.notify_all();
        }
    }

    pub fn stats(&self) -> SpoolStats {
        self.shared.lock().stats
    }

    /// Whether durable records wait past the reader: the next batch comes without waiting for
    /// the writer. The shipper may put off a checkpoint save only then, since a writer waiting
    /// for room (a full spool or disk) is freed by nothing else.
    pub fn ready(&self) -> bool {
        let st = self.shared.lock();
        st.segments.range(self.pos.segment..).any(|(&n, m)| {
            m.bytes
                > if n == self.pos.segment {
                    self.pos.offset
                } else {
                    SEGMENT_HEADER
                }
        })
    }

    /// Bytes of all segments on disk.
    pub fn bytes(&self) -> u64 {
        self.shared.lock().total_bytes()
    }

    /// A handle that reads the spool's size and counts from another task (for `/metrics`).
    pub fn usage_handle(&self) -> UsageHandle {
        UsageHandle(self.shared.clone())
    }
}

/// Reads how much the spool holds, without reading or writing it.
#[derive(Debug, Clone)]
pub struct UsageHandle(Arc<Shared>);

/// How much the spool holds now.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub bytes: u64,
    pub segments: u64,
    pub stats: SpoolStats,
}

impl UsageHandle {
    pub fn usage(&self) -> Usage {
        let st = self.0.lock();
        Usage {
            bytes: st.total_bytes(),
            segments: st.segments.len() as u64,
            stats: st.stats,
        }
    }
}

#[cfg(test)]
mod tests;

//! The spool's reader: hands the shipper batches of records, in spool order, never past the
//! durable position.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;

use super::record::{self, Decoded};
use super::{Position, SEGMENT_HEADER, Shared, segment_path};
use crate::source::fingerprint::Fingerprint;
use crate::source::{FileKey, Origin};

/// Bytes read from a segment at a time: a few reads per batch (1 MiB at most); a record
/// larger than this is read whole.
const CHUNK: usize = 256 << 10;

/// Events read from the spool, ready to ship as one request.
#[derive(Debug, Default)]
pub struct ReadBatch {
    /// NDJSON, one event per line.
    pub body: Vec<u8>,
    pub events: usize,
    /// For each file content (inode and fingerprint: a truncated file's old and new content
    /// are two) with lines in the batch: the origin of its last record. Each one's checkpoint
    /// moves when the batch is acknowledged.
    pub origins: HashMap<(FileKey, Fingerprint), Origin>,
    /// The same keys: how many records each has.
    pub lines: HashMap<(FileKey, Fingerprint), u64>,
    /// The spool position after the batch: once the batch is acknowledged, everything before
    /// it is.
    pub end: Position,
}

pub struct SpoolReader {
    pub(super) shared: Arc<Shared>,
    pub(super) pos: Position,
    pub(super) file: Option<(u64, File)>,
    chunk: Vec<u8>,
}

/// Limits of one batch.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_events: usize,
    pub max_bytes: usize,
    /// How long the first event of a batch may wait for more.
    pub max_wait: Duration,
}

impl SpoolReader {
    pub(super) fn new(shared: Arc<Shared>, pos: Position) -> SpoolReader {
        SpoolReader {
            shared,
            pos,
            file: None,
            chunk: Vec::new(),
        }
    }

    /// The next batch: returns once it is full, or once its first event has waited
    /// `max_wait`. `None` when the writer is closed and everything was read.
    pub async fn next_batch(&mut self, limits: Limits) -> Option<ReadBatch> {
        let mut batch = ReadBatch::default();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let closed = self.fill(&mut batch, limits);
            // `notify_one` leaves a permit when nobody waits, so a commit made after `fill`
            // looked is not missed.
            let shared = self.shared.clone();
            let notified = shared.data.notified();
            batch.end = self.pos;
            if batch.events >= limits.max_events || batch.body.len() >= limits.max_bytes {
                return Some(batch);
            }
            if closed {
                return (batch.events > 0).then_some(batch);
            }
            if batch.events > 0 && deadline.is_none() {
                deadline = Some(tokio::time::Instant::now() + limits.max_wait);
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d, notified).await.is_err() {
                        return Some(batch);
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Reads what is durable into `batch`, up to its limits. Returns true when the writer is
    /// closed and nothing is left.
    fn fill(&mut self, batch: &mut ReadBatch, limits: Limits) -> bool {
        loop {
            if batch.events >= limits.max_events || batch.body.len() >= limits.max_bytes {
                return false;
            }
            let (durable, closed, segment_end, next_segment) = {
                let st = self.shared.lock();
                if let Some((n, _)) = &self.file
                    && !st.segments.contains_key(n)
                {
                    self.file = None; // deleted: let its space go
                }
                if !st.segments.contains_key(&self.pos.segment) {
                    // Our segment is gone (dropped when full) or not made yet.
                    if let Some((&n, _)) = st.segments.range(self.pos.segment..).next()
                        && n != self.pos.segment
                    {
                        self.pos = Position {
                            segment: n,
                            offset: SEGMENT_HEADER,
                        };
                        self.file = None;
                    }
                }
                let end = st.segments.get(&self.pos.segment).map(|m| m.bytes);
                let next = st
                    .segments
                    .range(self.pos.segment + 1..)
                    .next()
                    .map(|(n, _)| *n);
                (st.durable, st.writer_closed, end, next)
            };
            let limit = if self.pos.segment == durable.segment {
                durable.offset
            } else {
                segment_end.unwrap_or(0)
            };
            if self.pos.offset >= limit {
                if self.pos.segment < durable.segment
                    && let Some(n) = next_segment
                {
                    self.pos = Position {
                        segment: n,
                        offset: SEGMENT_HEADER,
                    };
                    self.file = None;
                    continue;
                }
                return closed;
            }
            if !self.read_chunk(batch, limits, limit) {
                return false;
            }
        }
    }

    /// Reads records from one chunk of the current segment. False when nothing could be read
    /// (the segment went away or cannot be read; retried on the next call).
    fn read_chunk(&mut self, batch: &mut ReadBatch, limits: Limits, limit: u64) -> bool {
        let segment = self.pos.segment;
        if self.file.as_ref().is_none_or(|(n, _)| *n != segment) {
            match File::open(segment_path(&self.shared.dir, segment)) {
                Ok(f) => self.file = Some((segment, f)),
                Err(e) => {
                    tracing::warn!(segment, error = %e, "cannot open spool segment");
                    return false;
                }
            }
        }
        let (_, file) = self.file.as_ref().expect("opened above");
        let mut want = ((limit - self.pos.offset) as usize).min(CHUNK);
        loop {
            self.chunk.resize(want, 0);
            if let Err(e) = file.read_exact_at(&mut self.chunk, self.pos.offset) {
                tracing::warn!(segment, offset = self.pos.offset, error = %e, "cannot read spool segment");
                return false;
            }
            // A record larger than the chunk: read it whole.
            if let Decoded::Incomplete = record::decode(&self.chunk)
                && self.chunk.len() >= record::HEADER_LEN
            {
                let need = record::HEADER_LEN
                    + u32::from_le_bytes(self.chunk[4..8].try_into().expect("4")) as usize;
                if need > want && (self.pos.offset + need as u64) <= limit {
                    want = need;
                    continue;
                }
            }
            break;
        }
        let mut at = 0;
        // The origin of the last records, while they come from one content, and how many:
        // the batch's maps are updated once per run of records rather than per record.
        let mut run: Option<(Origin, u64)> = None;
        while at < self.chunk.len() {
            if batch.events >= limits.max_events || batch.body.len() >= limits.max_bytes {
                break;
            }
            match record::decode(&self.chunk[at..]) {
                Decoded::Record(r, len) => {
                    batch.body.extend_from_slice(r.event);
                    batch.body.push(b'\n');
                    batch.events += 1;
                    if let Some(o) = r.origin {
                        match &mut run {
                            Some((last, n)) if last.file == o.file && last.fp == o.fp => {
                                last.end = o.end;
                                if last.path.as_os_str().as_encoded_bytes() != o.path {
                                    last.path = o.to_origin().path;
                                }
                                *n += 1;
                            }
                            _ => {
                                if let Some((last, n)) = run.replace((o.to_origin(), 1)) {
                                    note_run(batch, last, n);
                                }
                            }
                        }
                    }
                    at += len;
                }
                Decoded::Incomplete if self.pos.offset + (self.chunk.len() as u64) < limit => {
                    break; // the rest comes with the next chunk
                }
                Decoded::Incomplete | Decoded::Damaged => {
                    let skip = record::resync(&self.chunk[at..]).unwrap_or(self.chunk.len() - at);
                    tracing::warn!(
                        segment,
                        offset = self.pos.offset + at as u64,
                        skipped = skip,
                        "damaged spool record skipped"
                    );
                    self.shared.lock().stats.damaged += 1;
                    at += skip;
                }
            }
        }
        if let Some((last, n)) = run {
            note_run(batch, last, n);
        }
        self.pos.offset += at as u64;
        true
    }
}

/// Counts `n` records of one content into `batch`, `last` being the origin of the last one.
/// Runs come in spool order, so the origin kept per content is its latest.
fn note_run(batch: &mut ReadBatch, last: Origin, n: u64) {
    let key = (last.file, last.fp);
    *batch.lines.entry(key).or_default() += n;
    batch.origins.insert(key, last);
}

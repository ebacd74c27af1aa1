//! The spool's only writer: appends records to the newest segment, fsyncs them in groups, and
//! publishes the durable position to the reader.
//!
//! Records are buffered by [`SpoolWriter::append`] and reach the disk in [`SpoolWriter::commit`]:
//! one `write` and one `fsync` per group, then the durable position moves. A failed write (a full
//! disk) is cut back to the last durable byte and reported; the buffer is kept, so the caller
//! retries the same commit later and nothing is lost or written twice.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Bytes written per `write` call in a commit.
const PIECE: usize = 256 << 10;

/// The length of the whole records at the start of `buf` that make at least `want` bytes (or
/// all of them), and how many records that is.
fn whole_records(buf: &[u8], want: usize) -> (usize, u64) {
    let (mut at, mut n) = (0, 0);
    while at < buf.len() && (at < want || n == 0) {
        let len = u32::from_le_bytes(buf[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        at += record::HEADER_LEN + len;
        n += 1;
    }
    (at.min(buf.len()), n)
}

use super::record;
use super::{
    FullPolicy, Position, SEGMENT_HEADER, SEGMENT_MAGIC, SegmentMeta, Shared, SpoolConfig, VERSION,
    segment_path,
};
use crate::source::Origin;

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The spool is full, the policy is `block`, and `cancel` fired while waiting.
    #[error("stopped while waiting for room in the spool")]
    Cancelled,
    /// Making room needed a commit, and it failed (a full disk, most likely).
    #[error("writing the spool: {0}")]
    Io(#[from] std::io::Error),
}

pub struct SpoolWriter {
    shared: Arc<Shared>,
    cfg: SpoolConfig,
    segment_bytes: u64,
    /// Number of the segment being written.
    current: u64,
    /// Its file, once created (creation waits for the first commit).
    file: Option<File>,
    /// Bytes of `current` that are durable.
    committed: u64,
    /// Records encoded but not written yet, and how many.
    buf: Vec<u8>,
    buf_records: u64,
    /// Bytes that can be appended without looking at the spool's size again: what was left
    /// under `max_bytes` at the last look. Only this writer adds bytes (the reader's releases
    /// only take away), so appends within it need no lock (issue 25).
    room: u64,
}

impl SpoolWriter {
    pub(super) fn new(
        shared: Arc<Shared>,
        cfg: SpoolConfig,
        current: u64,
    ) -> anyhow::Result<SpoolWriter> {
        {
            let mut st = shared.lock();
            st.durable = Position {
                segment: current,
                offset: SEGMENT_HEADER,
            };
            st.writing = current;
        }
        Ok(SpoolWriter {
            segment_bytes: cfg.segment_bytes(),
            shared,
            cfg,
            current,
            file: None,
            committed: 0,
            buf: Vec::with_capacity(1 << 20),
            buf_records: 0,
            room: 0,
        })
    }

    /// Bytes encoded but not committed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Adds one record. When the spool is full it first commits what is buffered, then waits
    /// for room (`block`) or drops the oldest segment (`drop_oldest`).
    pub fn append(
        &mut self,
        seq: u64,
        origin: Option<&Origin>,
        event: &[u8],
        cancel: &CancellationToken,
    ) -> Result<(), AppendError> {
        let len = record::HEADER_LEN as u64
            + 10
            + origin.map_or(0, |o| 32 + o.path.as_os_str().len() as u64)
            + event.len() as u64;
        // A new segment once this one is big enough.
        let in_segment = self.committed.max(SEGMENT_HEADER) + self.buf.len() as u64;
        if in_segment > SEGMENT_HEADER && in_segment + len > self.segment_bytes {
            self.commit()?;
            self.roll();
        }
        self.make_room(len, cancel)?;
        record::encode(&mut self.buf, seq, origin, event);
        self.buf_records += 1;
        Ok(())
    }

    fn make_room(&mut self, len: u64, cancel: &CancellationToken) -> Result<(), AppendError> {
        if len <= self.room {
            self.room -= len;
            return Ok(());
        }
        let max = self.cfg.max_bytes;
        let mut warned = false;
        loop {
            let pending = self.buf.len() as u64
                + if self.file.is_none() {
                    SEGMENT_HEADER
                } else {
                    0
                };
            let mut st = self.shared.lock();
            let total = st.total_bytes() + pending;
            // Always room for one record in an otherwise empty spool, however large.
            let only_current = st.segments.keys().all(|&n| n == self.current);
            if total + len <= max || (only_current && self.buf.is_empty()) {
                self.room = max.saturating_sub(total + len);
                return Ok(());
            }
            if !self.buf.is_empty() {
                drop(st);
                self.commit()?;
                continue;
            }
            match self.cfg.policy {
                FullPolicy::Block => {
                    if !warned {
                        tracing::warn!(
                            bytes = total,
                            max,
                            "spool full; reading paused until the collector acknowledges"
                        );
                        warned = true;
                    }
                    if cancel.is_cancelled() {
                        return Err(AppendError::Cancelled);
                    }
                    let _ = self
                        .shared
                        .space
                        .wait_timeout(st, Duration::from_millis(100))
                        .unwrap_or_else(|p| p.into_inner());
                }
                FullPolicy::DropOldest => {
                    let oldest = st
                        .segments
                        .iter()
                        .next()
                        .map(|(n, m)| (*n, *m))
                        .filter(|(n, _)| *n != self.current);
                    match oldest {
                        Some((n, meta)) => {
                            st.segments.remove(&n);
                            st.stats.dropped += meta.records;
                            drop(st);
                            super::remove(&segment_path(&self.cfg.dir, n));
                            tracing::warn!(
                                segment = n,
                                events = meta.records,
                                "spool full: dropped its oldest segment unsent (policy drop_oldest)"
                            );
                        }
                        None => {
                            // Only the current segment: close it so that it can go next.
                            drop(st);
                            self.roll();
                        }
                    }
                }
            }
        }
    }

    /// Closes the current segment; the next commit starts a new one.
    fn roll(&mut self) {
        // The next segment's header is not counted in `room`.
        self.room = 0;
        self.file = None;
        self.current += 1;
        self.committed = 0;
        let mut st = self.shared.lock();
        st.writing = self.current;
        // The segment just left may hold only acknowledged records already.
        if super::collect(&mut st, &self.cfg.dir) {
            drop(st);
            self.shared.space.notify_all();
            // The reader may hold the deleted file open: wake it so that it lets go.
            self.shared.data.notify_one();
        }
    }

    /// Writes and fsyncs what is buffered, then publishes the new durable position.
    pub fn commit(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let path = segment_path(&self.cfg.dir, self.current);
        if self.file.is_none() {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)?;
            let mut header = [0u8; SEGMENT_HEADER as usize];
            header[..4].copy_from_slice(&SEGMENT_MAGIC);
            header[4..8].copy_from_slice(&VERSION.to_le_bytes());
            header[8..16].copy_from_slice(&self.current.to_le_bytes());
            let made = f
                .write_all(&header)
                .and_then(|()| f.sync_all())
                .and_then(|()| File::open(&self.cfg.dir)?.sync_all());
            if let Err(e) = made {
                drop(f);
                super::remove(&path);
                return Err(e);
            }
            self.committed = SEGMENT_HEADER;
            self.shared.lock().segments.insert(
                self.current,
                SegmentMeta {
                    bytes: SEGMENT_HEADER,
                    records: 0,
                },
            );
            self.file = Some(f);
        }
        // Written in pieces of whole records, so that on a nearly full disk what fits is kept
        // (a group can be larger than the free space, or than the whole file system).
        let f = self.file.as_mut().expect("opened above");
        let mut written = 0;
        let mut records = 0;
        let mut failed = None;
        while written < self.buf.len() {
            let (end, n) = whole_records(&self.buf[written..], PIECE);
            if let Err(e) = f.write_all(&self.buf[written..written + end]) {
                failed = Some(e);
                break;
            }
            written += end;
            records += n;
        }
        if failed.is_some() {
            // Take back the part of the piece that did reach the file.
            let _ = f.set_len(self.committed + written as u64);
            use std::io::Seek;
            let _ = f.seek(std::io::SeekFrom::Start(self.committed + written as u64));
        }
        if written > 0 {
            if let Err(e) = f.sync_data() {
                let _ = f.set_len(self.committed);
                return Err(e);
            }
            self.committed += written as u64;
            {
                let mut st = self.shared.lock();
                let meta = st.segments.entry(self.current).or_default();
                meta.bytes = self.committed;
                meta.records += records;
                st.durable = Position {
                    segment: self.current,
                    offset: self.committed,
                };
            }
            self.buf.drain(..written);
            self.buf_records -= records;
            self.shared.data.notify_one();
        }
        if let Some(e) = failed {
            // Close this segment: once its records are acknowledged it can be deleted, which
            // is how a disk filled by the spool itself gets room again. The rest of the group
            // goes to the next segment.
            if self.committed > SEGMENT_HEADER {
                self.roll();
            }
            return Err(e);
        }
        Ok(())
    }

    /// The writer is done (after a last commit): the reader ends once it has read everything.
    pub fn close(self) {
        self.shared.lock().writer_closed = true;
        self.shared.data.notify_one();
    }
}

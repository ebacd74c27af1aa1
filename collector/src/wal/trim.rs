//! Trimming: deleting the oldest segments, whole, once nothing needs their records.
//!
//! What "needs" means is decided outside the log (`retention.rs` gathers what each part
//! of the collector still has to read); here the log is only told the *floor*, the lowest LSN
//! still needed, and how many bytes it should keep at least. A segment goes only when every
//! record in it is below the floor (its successor starts at or below it) and the log without it
//! still holds at least `keep_bytes`; the active segment never goes. Oldest first, so the log
//! stays one run of consecutive records: a reader that asks for a trimmed LSN starts at the
//! oldest segment (`first_lsn` tells it where that is).

use super::segment;
use super::{Wal, WalError};

/// What a trim removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Trimmed {
    pub segments: u64,
    pub bytes: u64,
    /// The first LSN the log holds afterwards.
    pub first_lsn: u64,
}

/// How many of the oldest segments may go. `segments` is `(first LSN, bytes)` per segment,
/// oldest first, the active one last.
pub fn removable(segments: &[(u64, u64)], floor: u64, keep_bytes: u64) -> usize {
    let mut total: u64 = segments.iter().map(|(_, b)| b).sum();
    let mut n = 0;
    for pair in segments.windows(2) {
        let ((_, bytes), (next_first, _)) = (pair[0], pair[1]);
        if next_first > floor || total.saturating_sub(bytes) < keep_bytes {
            break;
        }
        total -= bytes;
        n += 1;
    }
    n
}

impl Wal {
    /// Deletes the oldest segments whose records are all below `floor`, keeping at least
    /// `keep_bytes` (see the module doc). Readers that have a deleted segment open go on
    /// reading it (the file lives until they close it).
    pub fn trim(&mut self, floor: u64, keep_bytes: u64) -> Result<Trimmed, WalError> {
        let listed = segment::list(&self.dir)?;
        let mut sized = Vec::with_capacity(listed.len());
        for (first, path) in &listed {
            let len = std::fs::metadata(path)
                .map_err(|e| WalError::io(path, e))?
                .len();
            sized.push((*first, len));
        }
        // The active segment's pending bytes are not on disk yet: count it as at least that.
        if let Some(last) = sized.last_mut() {
            last.1 = last.1.max(self.active_len);
        }
        let n = removable(&sized, floor, keep_bytes);
        let mut done = Trimmed {
            first_lsn: sized.first().map_or(self.next_lsn, |s| s.0),
            ..Trimmed::default()
        };
        for ((_, path), (_, len)) in listed.iter().zip(&sized).take(n) {
            std::fs::remove_file(path).map_err(|e| WalError::io(path, e))?;
            done.segments += 1;
            done.bytes += len;
            self.segments = self.segments.saturating_sub(1);
            self.bytes = self.bytes.saturating_sub(*len);
        }
        if n > 0 {
            done.first_lsn = sized[n].0;
            self.first_lsn = done.first_lsn;
            logwarden_core::durable::sync_dir(&self.dir).map_err(|e| WalError::io(&self.dir, e))?;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::{RecordKind, WalOptions, WalReader, first_lsn};

    #[test]
    fn only_whole_segments_below_the_floor_go_oldest_first_and_keep_bytes_stay() {
        let segs = [(1, 100), (11, 100), (21, 100), (31, 50)];
        assert_eq!(removable(&segs, 0, 0), 0, "nothing below the floor");
        assert_eq!(removable(&segs, 10, 0), 0, "segment 1-10 still has LSN 10");
        assert_eq!(removable(&segs, 11, 0), 1);
        assert_eq!(removable(&segs, 25, 0), 2);
        assert_eq!(removable(&segs, u64::MAX, 0), 3, "never the active segment");
        assert_eq!(
            removable(&segs, u64::MAX, 150),
            2,
            "keeps at least 150 bytes"
        );
        assert_eq!(removable(&segs, u64::MAX, 151), 1);
        assert_eq!(removable(&segs, u64::MAX, 1_000), 0);
        assert_eq!(removable(&[(1, 100)], u64::MAX, 0), 0);
        assert_eq!(removable(&[], u64::MAX, 0), 0);
    }

    #[test]
    fn a_trimmed_log_reads_from_its_oldest_segment_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let opts = WalOptions {
            segment_bytes: 1 << 20,
        };
        let (mut wal, _) = Wal::open(dir.path(), opts.clone()).unwrap();
        let payload = vec![b'x'; 100_000];
        for _ in 0..50 {
            wal.append(RecordKind::Events, &payload).unwrap();
            wal.sync().unwrap();
        }
        let before = wal.segments();
        assert!(before >= 5, "{before} segments");
        let t = wal.trim(30, 0).unwrap();
        assert!(t.segments >= 2, "{t:?}");
        assert!(t.first_lsn <= 30 && t.first_lsn > 1, "{t:?}");
        assert_eq!(wal.segments(), before - t.segments);
        assert_eq!(wal.first_lsn(), t.first_lsn);
        assert_eq!(first_lsn(dir.path()).unwrap(), Some(t.first_lsn));
        // A reader asking for LSN 1 starts where the log now starts, in order, to the end.
        let mut r = WalReader::new(dir.path().to_owned(), 1);
        let mut lsns = Vec::new();
        while let Some(rec) = r.next(u64::MAX).unwrap() {
            lsns.push(rec.lsn);
        }
        assert_eq!(lsns, (t.first_lsn..=50).collect::<Vec<_>>());
        // A second trim with the same floor finds nothing more; the log reopens and appends.
        assert_eq!(wal.trim(30, 0).unwrap().segments, 0);
        drop(wal);
        let (mut wal, rec) = Wal::open(dir.path(), opts).unwrap();
        assert_eq!(rec.last_lsn, 50);
        assert!(rec.corrupt.is_empty());
        assert_eq!(wal.append(RecordKind::Events, b"{}").unwrap(), 51);
    }
}

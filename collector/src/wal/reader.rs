//! Reading the log back in LSN order: the indexer's replay and tail, and (later) the stream a
//! standby site pulls.

use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::error::WalError;
use super::record::Head;
use super::record::{Record, RecordKind};
use super::segment::{self, Decoded, Headed, SegmentFile};

/// What [`WalReader::next_unless_known`] hands out.
#[derive(Debug)]
pub enum Read<T> {
    /// A record read whole, its CRC checked.
    Record(Record),
    /// A record whose payload was skipped, with what the caller said it knows of it.
    Known(Head, T),
}

/// Reads records from a starting LSN onwards, following the log as it grows.
///
/// The caller passes the durable LSN as an upper bound to every `next` call, so that a record
/// that is written but not yet fsynced (and so not acknowledged) is never handed out.
pub struct WalReader {
    dir: PathBuf,
    /// The lowest LSN still wanted.
    next_lsn: u64,
    /// The segment being read and the offset of the next record in it.
    current: Option<(SegmentFile, u64)>,
    /// Damaged records skipped so far (each one also logged).
    skipped: u64,
}

impl WalReader {
    pub fn new(dir: PathBuf, from_lsn: u64) -> WalReader {
        WalReader {
            dir,
            next_lsn: from_lsn.max(1),
            current: None,
            skipped: 0,
        }
    }

    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The next record with an LSN at most `upto`, or `None` when there is none yet.
    pub fn next(&mut self, upto: u64) -> Result<Option<Record>, WalError> {
        Ok(
            match self.next_unless_known(upto, |_| None::<Infallible>)? {
                Some(Read::Record(rec)) => Some(rec),
                Some(Read::Known(_, never)) => match never {},
                None => None,
            },
        )
    }

    /// Like [`next`](Self::next), but first asks `known` about the record's header: when it
    /// returns something, the payload is neither read nor CRC-checked, and the record comes
    /// back as [`Read::Known`]. The followers use this for records whose events they take from
    /// the committer (`recent.rs`), which is most of them: reading and checking each
    /// payload again was most of what the alert engine and the fleet view cost under load.
    pub fn next_unless_known<T>(
        &mut self,
        upto: u64,
        mut known: impl FnMut(&Head) -> Option<T>,
    ) -> Result<Option<Read<T>>, WalError> {
        if self.next_lsn > upto {
            return Ok(None);
        }
        let mut refreshed = false;
        loop {
            if self.current.is_none() {
                match self.open_segment_for(self.next_lsn)? {
                    Some(seg) => self.current = Some((seg, segment::HEADER_LEN)),
                    None => return Ok(None),
                }
            }
            let (seg, pos) = self.current.as_mut().expect("opened above");
            let headed = seg.head_at(*pos)?;
            if let Headed::Head(raw, next) = &headed {
                let head = raw.head();
                if (self.next_lsn..=upto).contains(&head.lsn)
                    && let Some(t) = known(&head)
                {
                    *pos = *next;
                    self.next_lsn = head.lsn + 1;
                    return Ok(Some(Read::Known(head, t)));
                }
            }
            let decoded = seg.read_on(headed)?;
            match decoded {
                Decoded::Record(rec, next) => {
                    if rec.lsn > upto {
                        return Ok(None); // written, not yet durable: leave it for later
                    }
                    *pos = next;
                    if rec.lsn < self.next_lsn {
                        continue; // before the starting point
                    }
                    self.next_lsn = rec.lsn + 1;
                    return Ok(Some(Read::Record(rec)));
                }
                Decoded::End | Decoded::Bad if !refreshed => {
                    // The file may have grown since we opened it.
                    seg.refresh_len()?;
                    refreshed = true;
                }
                Decoded::End => {
                    let first = seg.first_lsn;
                    match self.segment_after(first)? {
                        Some(next) => {
                            self.current = Some((next, segment::HEADER_LEN));
                            refreshed = false;
                        }
                        None => return Ok(None),
                    }
                }
                Decoded::Bad => {
                    // Records up to `upto` are complete on disk, so this is damage, not a
                    // record being written: skip to the next valid one.
                    self.skipped += 1;
                    let at = *pos;
                    match seg.resync(at + 1)? {
                        Some(next) => {
                            tracing::error!(
                                offset = at,
                                skipped_bytes = next - at,
                                "damaged WAL record skipped while reading"
                            );
                            *pos = next;
                        }
                        None => {
                            tracing::error!(
                                offset = at,
                                "WAL segment damaged to its end; moving on"
                            );
                            *pos = seg.len;
                        }
                    }
                }
            }
        }
    }

    /// The newest segment starting at or before `lsn`, or else the oldest one after it.
    fn open_segment_for(&self, lsn: u64) -> Result<Option<SegmentFile>, WalError> {
        let segments = segment::list(&self.dir)?;
        let chosen = segments
            .iter()
            .rev()
            .find(|(first, _)| *first <= lsn)
            .or(segments.first());
        chosen.map(|(_, path)| SegmentFile::open(path)).transpose()
    }

    fn segment_after(&self, first_lsn: u64) -> Result<Option<SegmentFile>, WalError> {
        let segments = segment::list(&self.dir)?;
        let next = segments.iter().find(|(first, _)| *first > first_lsn);
        next.map(|(_, path)| SegmentFile::open(path)).transpose()
    }
}

/// The newest record of `kind` with an LSN at most `upto` (see [`newest_of_kinds`]).
pub fn newest_of_kind(
    dir: &std::path::Path,
    kind: RecordKind,
    upto: u64,
) -> Result<Option<Record>, WalError> {
    let [found] = newest_of_kinds(dir, [kind], upto)?;
    Ok(found)
}

/// The newest record of each of `kinds` with an LSN at most `upto`, in one pass over the
/// segments, newest first, that stops once every kind is found. State snapshots (`Checkpoint`,
/// `RulesSnapshot`) are written about twice per segment, so a start finds them by reading one
/// or two segments, not the whole log.
pub fn newest_of_kinds<const N: usize>(
    dir: &std::path::Path,
    kinds: [RecordKind; N],
    upto: u64,
) -> Result<[Option<Record>; N], WalError> {
    let mut found: [Option<Record>; N] = std::array::from_fn(|_| None);
    let segments = segment::list(dir)?;
    for (i, (first, _)) in segments.iter().enumerate().rev() {
        if found.iter().all(Option::is_some) {
            break;
        }
        if *first > upto {
            continue;
        }
        // Records of this segment only: up to the next segment's first LSN.
        let end = segments
            .get(i + 1)
            .map_or(upto, |(next, _)| upto.min(next.saturating_sub(1)));
        let mut reader = WalReader::new(dir.to_owned(), *first);
        // The newest of this segment, for the kinds no newer segment had.
        let mut here: [Option<Record>; N] = std::array::from_fn(|_| None);
        while let Some(rec) = reader.next(end)? {
            if let Some(k) = kinds.iter().position(|k| *k == rec.kind)
                && found[k].is_none()
            {
                here[k] = Some(rec);
            }
        }
        for (slot, rec) in found.iter_mut().zip(here) {
            if slot.is_none() {
                *slot = rec;
            }
        }
    }
    Ok(found)
}

/// The first LSN the log still holds (its oldest segment's), or `None` for an empty log.
/// Records before it were trimmed (see `Wal::trim`).
pub fn first_lsn(dir: &std::path::Path) -> Result<Option<u64>, WalError> {
    Ok(segment::list(dir)?.first().map(|(first, _)| *first))
}

/// For the threads that follow the log (indexer, fleet view): blocks until the durable LSN
/// changes, `timeout` passes or `shutdown` fires. `rt` is the runtime that owns the channel.
pub fn wait_for_durable(
    rt: &tokio::runtime::Handle,
    durable: &mut watch::Receiver<u64>,
    shutdown: &CancellationToken,
    timeout: Duration,
) {
    rt.block_on(async {
        let changed = async {
            if durable.changed().await.is_err() {
                // The committer is gone: nothing will change; just wait out the timeout.
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = tokio::time::timeout(timeout, changed) => {}
            _ = shutdown.cancelled() => {}
        }
    });
}

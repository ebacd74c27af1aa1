//! The committer's state from the log: the dedup set and the epoch history, rebuilt at start
//! from the newest checkpoint and the records after it, and kept up to date record by record.

use crate::wal::checkpoint;
use crate::wal::dedup::DedupSet;
use crate::wal::epoch::{EpochHistory, EpochRecord};
use crate::wal::{Record, RecordKind, Wal, WalError};

/// Only the `id` of each event line: all deduplication needs from the WAL.
#[derive(serde::Deserialize)]
pub(super) struct IdOnly {
    pub(super) id: logwarden_core::EventId,
}

/// Rebuilds the dedup set and the epoch history from the log: the newest checkpoint (the record
/// passed) and the records after it (all records when there is none). Returns the set and the
/// checkpoint's LSN.
pub(super) fn rebuild(
    wal: &Wal,
    checkpoint: Option<Record>,
    epochs: &EpochHistory,
) -> Result<(DedupSet, u64), WalError> {
    let from_checkpoint = match checkpoint {
        Some(rec) => match checkpoint::decode(&rec.payload) {
            Ok((dedup, history)) => Some((dedup, history, rec.lsn)),
            Err(e) => {
                tracing::warn!(lsn = rec.lsn, error = %e, "WAL checkpoint unreadable: reading the whole log instead");
                None
            }
        },
        None => None,
    };
    let (mut dedup, mut history, at) =
        from_checkpoint.unwrap_or_else(|| (DedupSet::default(), vec![(1, 1)], 0));
    let first = wal.first_lsn();
    if at == 0 && first > 1 {
        tracing::error!(
            first_lsn = first,
            "the WAL starts at a later LSN and holds no readable checkpoint: events from before it are not known to deduplication"
        );
    }
    let mut reader = wal.reader(at + 1);
    let mut read = 0u64;
    while let Some(rec) = reader.next(wal.durable_lsn())? {
        take_record(&mut dedup, &mut history, &rec);
        read += 1;
    }
    tracing::info!(
        checkpoint_lsn = at,
        records_read = read,
        ranges = dedup.ranges(),
        "deduplication state rebuilt from the WAL"
    );
    *epochs.write().unwrap_or_else(|p| p.into_inner()) = history;
    Ok((dedup, at))
}

/// What the committer's state learns from one record of the log.
pub(super) fn take_record(dedup: &mut DedupSet, history: &mut Vec<(u64, u64)>, rec: &Record) {
    match rec.kind {
        RecordKind::Events => {
            for line in crate::wal::event_lines(&rec.payload) {
                match serde_json::from_slice::<IdOnly>(line) {
                    Ok(e) => {
                        dedup.insert(&e.id);
                    }
                    Err(e) => {
                        tracing::error!(lsn = rec.lsn, error = %e, "unreadable event in the WAL")
                    }
                }
            }
        }
        RecordKind::Epoch => match EpochRecord::decode(&rec.payload) {
            Ok(e) => {
                if history.last().is_none_or(|&(last, _)| e.epoch > last) {
                    history.push((e.epoch, rec.lsn));
                }
            }
            Err(e) => {
                tracing::error!(lsn = rec.lsn, error = %e, "unreadable epoch record in the WAL")
            }
        },
        // Identities the log may no longer hold: a standby copied afresh from a trimmed primary
        // learns those of the trimmed records here.
        RecordKind::Checkpoint => match checkpoint::decode(&rec.payload) {
            Ok((held, _)) => {
                for (agent, ranges) in held.agents() {
                    for (first, last) in ranges {
                        dedup.insert_range(agent, first, last);
                    }
                }
            }
            Err(e) => tracing::warn!(lsn = rec.lsn, error = %e, "unreadable WAL checkpoint"),
        },
        _ => {}
    }
}

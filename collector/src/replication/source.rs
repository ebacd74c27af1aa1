//! The primary's side of replication: what one `POST /api/v1/replication/wal` answers.
//!
//! The answer is the durable records from `from` on, encoded exactly as in the WAL files (see
//! `wal`), so the CRC of each record travels with it and the standby checks it again.

use std::path::PathBuf;

use crate::wal::{WalError, WalReader, encode_record};

/// Most bytes of records in one answer: the standby fsyncs per answer, so this bounds the work
/// a standby does between two acknowledgements.
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

/// The records from `from` up to `upto` (durable), at most about [`MAX_ANSWER_BYTES`].
pub fn read_records(wal_dir: PathBuf, from: u64, upto: u64) -> Result<Vec<u8>, WalError> {
    let mut reader = WalReader::new(wal_dir, from);
    let mut out = Vec::new();
    while out.len() < MAX_ANSWER_BYTES {
        match reader.next(upto)? {
            Some(rec) => encode_record(&mut out, &rec),
            None => break,
        }
    }
    Ok(out)
}

/// Whether a peer whose newest record is of `peer_log_epoch` and who asks from `from` holds
/// records this log does not: records at or after the first LSN of a later epoch here were
/// written by the peer alone (as an old primary) and were never copied. Returns that LSN.
pub fn diverged_at(history: &[(u64, u64)], peer_log_epoch: u64, from: u64) -> Option<u64> {
    let (_, start) = history.iter().find(|&&(e, _)| e > peer_log_epoch)?;
    (from > *start).then_some(*start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_primary_with_records_past_the_new_epoch_has_diverged() {
        let h = [(1, 1), (2, 101)];
        // It stopped at 100 (everything it had was copied): it follows on.
        assert_eq!(diverged_at(&h, 1, 101), None);
        // It wrote LSN 101 (and more) in epoch 1 that the new primary never got.
        assert_eq!(diverged_at(&h, 1, 105), Some(101));
        assert_eq!(diverged_at(&h, 1, 102), Some(101));
        // A standby already in epoch 2 is on the same history.
        assert_eq!(diverged_at(&h, 2, 500), None);
    }
}

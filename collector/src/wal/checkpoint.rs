//! The committer's checkpoint: its whole state as one WAL record, so that a start reads the log
//! from the newest checkpoint on instead of from its first record, and segments before it can be
//! trimmed (`retention.rs`).
//!
//! The committer's state is what it learns from the log: the deduplication set (`dedup.rs`) and
//! the epoch history (where each epoch begins). A `Checkpoint` record at LSN `C` holds that state
//! as it was after every record before `C`, so a start loads it and takes the records after `C`.
//! Only a primary writes them, about every half segment of its own records ([`interval`]); a
//! standby copies the primary's with the rest of the log, so its start is as short.
//!
//! # Payload (version 1)
//!
//! JSON, one object:
//!
//! ```text
//! {"v": 1,
//!  "epochs": [[1, 1], [2, 5031]],                      (epoch, first LSN), oldest first
//!  "dedup": {"mail1": [[1, 90000], [100001, 100230]]}}  agent -> (first, last seq), inclusive
//! ```
//!
//! A payload of another version or unreadable is not guessed around: the start falls back to
//! reading the whole log it still holds, and says so.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::dedup::DedupSet;

const VERSION: u32 = 1;

/// Errors reading a checkpoint payload.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint of format version {0}; this build reads version {VERSION}")]
    Version(u32),
    #[error("checkpoint is not readable: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Serialize)]
struct Out<'a> {
    v: u32,
    epochs: &'a [(u64, u64)],
    dedup: BTreeMap<&'a str, Vec<(u64, u64)>>,
}

#[derive(Deserialize)]
struct In {
    epochs: Vec<(u64, u64)>,
    dedup: BTreeMap<String, Vec<(u64, u64)>>,
}

/// How many bytes of its own records the committer writes between two checkpoints: half a
/// segment, so that every segment holds one and a start reads at most about one segment.
pub fn interval(segment_bytes: u64) -> u64 {
    (segment_bytes / 2).max(1)
}

pub fn encode(dedup: &DedupSet, epochs: &[(u64, u64)]) -> Vec<u8> {
    let out = Out {
        v: VERSION,
        epochs,
        dedup: dedup.agents().map(|(a, r)| (a, r.collect())).collect(),
    };
    serde_json::to_vec(&out).expect("a checkpoint serializes")
}

/// The dedup set and the epoch history a checkpoint holds.
pub fn decode(payload: &[u8]) -> Result<(DedupSet, Vec<(u64, u64)>), CheckpointError> {
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    let Version { v } = serde_json::from_slice(payload)?;
    if v != VERSION {
        return Err(CheckpointError::Version(v));
    }
    let p: In = serde_json::from_slice(payload)?;
    let mut dedup = DedupSet::default();
    for (agent, ranges) in &p.dedup {
        for &(first, last) in ranges {
            dedup.insert_range(agent, first, last);
        }
    }
    let mut epochs = p.epochs;
    if epochs.is_empty() {
        epochs.push((1, 1));
    }
    Ok((dedup, epochs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use logwarden_core::EventId;

    #[test]
    fn a_checkpoint_holds_every_identity_and_epoch() {
        let mut d = DedupSet::default();
        for s in (1..=100).chain(200..=250).chain([7_000, u64::MAX]) {
            d.insert(&EventId::new("mail1", s));
        }
        d.insert(&EventId::new("syslog@site-a", 3));
        let (back, epochs) = decode(&encode(&d, &[(1, 1), (2, 501)])).unwrap();
        assert_eq!(epochs, vec![(1, 1), (2, 501)]);
        assert_eq!(back.ranges(), d.ranges());
        let mut back = back;
        for s in [1, 100, 200, 250, 7_000, u64::MAX] {
            assert!(!back.insert(&EventId::new("mail1", s)), "{s} held");
        }
        for s in [101, 199, 251, 6_999] {
            assert!(back.insert(&EventId::new("mail1", s)), "{s} not held");
        }
        assert!(!back.insert(&EventId::new("syslog@site-a", 3)));
    }

    #[test]
    fn a_checkpoint_of_another_version_or_garbage_is_refused() {
        let e = decode(br#"{"v": 2, "epochs": [], "dedup": {}}"#).unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
        assert!(decode(b"{}").is_err());
        assert!(decode(br#"{"v": 1, "epochs": "x", "dedup": {}}"#).is_err());
    }
}

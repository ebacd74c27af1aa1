//! Failover epochs (docs/failover.md): each promotion raises a collector pair's epoch by one,
//! and whoever hears of an epoch (a collector from its peer or the witness, an agent from an
//! ingest answer or a standby's `421`) believes it only within reach of the one it holds.
//!
//! A number far beyond is a bug or a forgery. Believing it could fence a primary for good, make
//! an agent refuse every real ack (an ack from a lower epoch is not counted) or, near
//! `u64::MAX`, wrap the next promotion around to 0.

/// How far past the epoch it holds a collector or an agent believes an epoch it hears of. A
/// real pair never gets near it: that would take this many promotions that nobody saw.
pub const MAX_EPOCH_STEP: u64 = 100;

/// Whether `epoch`, heard of while at `ours`, is one to believe (see [`MAX_EPOCH_STEP`]).
/// `u64::MAX` never is: there would be no epoch after it.
pub fn epoch_within_reach(ours: u64, epoch: u64) -> bool {
    epoch <= ours.saturating_add(MAX_EPOCH_STEP) && epoch < u64::MAX
}

/// The epoch after `epoch`; `None` once epochs are used up (never in practice: a refusal, not a
/// wrap to 0 that agents would take for a stale primary).
pub fn next_epoch(epoch: u64) -> Option<u64> {
    epoch.checked_add(1).filter(|&e| e < u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_is_bounded_and_never_wraps() {
        assert!(epoch_within_reach(0, 1));
        assert!(epoch_within_reach(1, 1 + MAX_EPOCH_STEP));
        assert!(!epoch_within_reach(1, 2 + MAX_EPOCH_STEP));
        assert!(!epoch_within_reach(u64::MAX - 1, u64::MAX));
        assert!(epoch_within_reach(u64::MAX - 2, u64::MAX - 1));
        assert_eq!(next_epoch(u64::MAX - 1), None);
        assert_eq!(next_epoch(7), Some(8));
    }
}

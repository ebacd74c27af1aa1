//! Which `(agent_id, seq)` identities the collector holds: the reason a resent batch adds
//! nothing.
//!
//! Per agent, a set of closed ranges of seqs. An agent numbers its events in order, so the set
//! is a handful of ranges per agent (one more per agent restart, where its seq lease skips
//! ahead), whatever the number of events. It lives in memory; the committer writes it into the
//! WAL as a `Checkpoint` record every so often (`checkpoint.rs`), and a start loads the newest
//! one and reads the log after it, so that older segments can be trimmed.

use std::collections::{BTreeMap, HashMap};

use logwarden_core::{CompactString, EventId};

#[derive(Debug, Default)]
pub struct DedupSet {
    /// agent id -> (first seq of a range -> last seq of it, inclusive). Hashed with foldhash
    /// (seeded per process), not std's SipHash: the committer looks up every event's agent, and
    /// hashing the id was half of that, 7 % of the committer's time in a syslog burst.
    agents: HashMap<CompactString, BTreeMap<u64, u64>, foldhash::fast::RandomState>,
}

impl DedupSet {
    /// Adds `id`; returns false when it was already there (a duplicate).
    pub fn insert(&mut self, id: &EventId) -> bool {
        let ranges = match self.agents.get_mut(&id.agent_id) {
            Some(r) => r,
            None => self.agents.entry(id.agent_id.clone()).or_default(),
        };
        let seq = id.seq;
        // Nearly always the seq right after the agent's newest one: extend the last range.
        if let Some(mut last) = ranges.last_entry()
            && last.get().checked_add(1) == Some(seq)
        {
            *last.get_mut() = seq;
            return true;
        }
        let before = ranges.range(..=seq).next_back().map(|(s, e)| (*s, *e));
        if let Some((_, end)) = before
            && end >= seq
        {
            return false;
        }
        let after = seq
            .checked_add(1)
            .and_then(|n| ranges.get(&n).map(|e| (n, *e)));
        match (before, after) {
            (Some((start, end)), Some((next_start, next_end))) if end + 1 == seq => {
                ranges.remove(&next_start);
                ranges.insert(start, next_end);
            }
            (Some((start, end)), _) if end + 1 == seq => {
                ranges.insert(start, seq);
            }
            (_, Some((next_start, next_end))) => {
                ranges.remove(&next_start);
                ranges.insert(seq, next_end);
            }
            _ => {
                ranges.insert(seq, seq);
            }
        }
        true
    }

    /// Takes `id` out again (used when the write that was to hold it failed).
    pub fn remove(&mut self, id: &EventId) {
        let Some(ranges) = self.agents.get_mut(&id.agent_id) else {
            return;
        };
        let seq = id.seq;
        let Some((start, end)) = ranges.range(..=seq).next_back().map(|(s, e)| (*s, *e)) else {
            return;
        };
        if end < seq {
            return;
        }
        ranges.remove(&start);
        if start < seq {
            ranges.insert(start, seq - 1);
        }
        if seq < end {
            ranges.insert(seq + 1, end);
        }
    }

    /// Every agent's ranges, `(first, last)` inclusive, in seq order (for the checkpoint).
    pub fn agents(&self) -> impl Iterator<Item = (&str, impl Iterator<Item = (u64, u64)> + '_)> {
        self.agents
            .iter()
            .map(|(a, r)| (a.as_str(), r.iter().map(|(s, e)| (*s, *e))))
    }

    /// Adds a whole range of one agent's seqs (loading a checkpoint).
    pub fn insert_range(&mut self, agent: &str, first: u64, last: u64) {
        if first > last {
            return;
        }
        // Ranges of a checkpoint never overlap; merge anyway so that a bad one cannot corrupt
        // the set: drop every range inside [first, last] and widen to its neighbours.
        let ranges = self.agents.entry(agent.into()).or_default();
        let (mut lo, mut hi) = (first, last);
        let inside: Vec<(u64, u64)> = ranges
            .range(..=last.saturating_add(1))
            .rev()
            .take_while(|(_, e)| **e >= first.saturating_sub(1))
            .map(|(s, e)| (*s, *e))
            .collect();
        for (s, e) in inside {
            ranges.remove(&s);
            lo = lo.min(s);
            hi = hi.max(e);
        }
        ranges.insert(lo, hi);
    }

    /// Ranges held in all, for status and tests.
    pub fn ranges(&self) -> usize {
        self.agents.values().map(BTreeMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(seq: u64) -> EventId {
        EventId::new("a", seq)
    }

    #[test]
    fn in_order_seqs_make_one_range_and_repeats_are_duplicates() {
        let mut d = DedupSet::default();
        for s in 1..=1000 {
            assert!(d.insert(&id(s)));
        }
        assert_eq!(d.ranges(), 1);
        assert!(!d.insert(&id(1)));
        assert!(!d.insert(&id(500)));
        assert!(!d.insert(&id(1000)));
        assert!(
            d.insert(&EventId::new("b", 500)),
            "another agent's seq is its own"
        );
    }

    #[test]
    fn out_of_order_seqs_merge_gaps_and_catch_every_duplicate() {
        let mut d = DedupSet::default();
        for s in [10, 12, 11, 1, 3, 2, 100_000, u64::MAX] {
            assert!(d.insert(&id(s)), "{s}");
        }
        assert_eq!(d.ranges(), 4); // 1-3, 10-12, 100000, MAX
        for s in [1, 2, 3, 10, 11, 12, 100_000, u64::MAX] {
            assert!(!d.insert(&id(s)), "{s}");
        }
        for s in [4, 9, 13, 99_999] {
            assert!(d.insert(&id(s)), "{s}");
        }
    }

    #[test]
    fn ranges_loaded_whole_merge_with_their_neighbours() {
        let mut d = DedupSet::default();
        d.insert_range("a", 1, 10);
        d.insert_range("a", 20, 30);
        d.insert_range("a", 11, 19);
        d.insert_range("a", 5, 8);
        d.insert_range("b", 7, 3); // backwards: nothing
        assert_eq!(d.ranges(), 1);
        for s in [1, 15, 30] {
            assert!(!d.insert(&id(s)), "{s}");
        }
        assert!(d.insert(&id(31)));
        assert!(d.insert(&EventId::new("b", 5)));
    }

    proptest::proptest! {
        /// Any inserts and removals, mostly in order as agents send: the same answers as a set
        /// of every seq.
        #[test]
        fn answers_as_a_set_of_every_seq_would(
            ops in proptest::collection::vec((0u64..3, 0u64..40, proptest::bool::weighted(0.1)), 0..200)
        ) {
            let mut d = DedupSet::default();
            let mut all = std::collections::BTreeSet::new();
            let mut next = 0;
            for (step, jump, remove) in ops {
                // Mostly the next seq, sometimes a jump or a step back.
                next = if step == 0 { jump } else { next + 1 };
                if remove {
                    d.remove(&id(next));
                    all.remove(&next);
                } else {
                    proptest::prop_assert_eq!(d.insert(&id(next)), all.insert(next), "{}", next);
                }
            }
            for s in 0..45 {
                proptest::prop_assert_eq!(d.insert(&id(s)), all.insert(s), "{}", s);
            }
        }
    }

    #[test]
    fn a_removed_seq_is_new_again_and_its_neighbours_stay() {
        let mut d = DedupSet::default();
        for s in 1..=10 {
            d.insert(&id(s));
        }
        d.remove(&id(5));
        d.remove(&id(1));
        d.remove(&id(10));
        d.remove(&id(50));
        assert!(d.insert(&id(5)));
        assert!(d.insert(&id(1)));
        assert!(d.insert(&id(10)));
        for s in 1..=10 {
            assert!(!d.insert(&id(s)), "{s}");
        }
        assert_eq!(d.ranges(), 1);
    }
}

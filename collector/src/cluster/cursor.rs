//! The total order of a fanned-out search, and its cursors.
//!
//! A single collector orders events by `(ts, lsn, pos)` (`search::order`): time, then the
//! event's place in its own WAL. Across a cluster the WAL places of two collectors cannot be
//! compared, so a fanned-out search orders by `(ts, partition, lsn, pos)`: time, then the
//! partition (one owner answers for each partition), then the owner's WAL place within it.
//!
//! A cursor is `c1.<ts in microseconds>.<partition>.<lsn>.<pos>` (`c1`: the version, not a
//! single collector's `1.`). From a cluster cursor each partition gets a cursor of its own in
//! the single-collector order ([`ClusterPosition::local_after`]), so that the owners run the
//! search they always ran.
//!
//! The WAL place in a cursor is that of the owner when the page was answered: should the
//! cursor's partition change owner between two pages, the new owner's places differ, and the
//! events of that partition sharing the cursor's exact microsecond may be repeated or skipped
//! (docs/scale.md). Every other event is placed by time and partition alone.

use crate::search::order::{Direction, Position};

const VERSION: &str = "c1";

/// One event's place in the cluster's total order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterPosition {
    pub ts: i64,
    pub partition: u32,
    pub lsn: u64,
    pub pos: u64,
}

impl ClusterPosition {
    pub fn new(partition: u32, at: Position) -> ClusterPosition {
        ClusterPosition {
            ts: at.ts,
            partition,
            lsn: at.lsn,
            pos: at.pos,
        }
    }

    pub fn cursor(&self) -> String {
        format!(
            "{VERSION}.{}.{}.{}.{}",
            self.ts, self.partition, self.lsn, self.pos
        )
    }

    /// Reads a cursor of a fanned-out search; the error names it and says what is wrong.
    pub fn parse(cursor: &str) -> Result<ClusterPosition, String> {
        let bad = |why: &str| {
            format!(
                "cursor {cursor:?} is not valid ({why}); pass a cursor from an earlier answer of this cluster"
            )
        };
        let mut parts = cursor.trim().split('.');
        if parts.next() != Some(VERSION) {
            return Err(bad("not a cursor of a cluster"));
        }
        let mut next = |what: &str| {
            parts
                .next()
                .ok_or_else(|| bad(&format!("no {what}")))
                .map(str::to_owned)
        };
        let (ts, partition, lsn, pos) = (
            next("time")?,
            next("partition")?,
            next("WAL position")?,
            next("place in the record")?,
        );
        if parts.next().is_some() {
            return Err(bad("more parts than a cursor has"));
        }
        let number = |what: &str| bad(&format!("the {what} is not a number"));
        let at = ClusterPosition {
            ts: ts.parse().map_err(|_| number("time"))?,
            partition: partition.parse().map_err(|_| number("partition"))?,
            lsn: lsn.parse().map_err(|_| number("WAL position"))?,
            pos: pos.parse().map_err(|_| number("place in the record"))?,
        };
        if chrono::DateTime::<chrono::Utc>::from_timestamp_micros(at.ts).is_none() {
            return Err(bad("the time is out of range"));
        }
        Ok(at)
    }

    /// The single-collector cursor that asks partition `p` for the events after `self` in the
    /// cluster's order going in `direction`.
    pub fn local_after(&self, p: u32, direction: Direction) -> Position {
        use std::cmp::Ordering::*;
        let at = |ts: i64, lsn: u64, pos: u64| Position { ts, lsn, pos };
        match (p.cmp(&self.partition), direction) {
            (Equal, _) => at(self.ts, self.lsn, self.pos),
            // Newest first: a lower partition continues with this very time, a higher one
            // with the times before it.
            (Less, Direction::NewestFirst) => at(self.ts.saturating_add(1), 0, 0),
            (Greater, Direction::NewestFirst) => at(self.ts, 0, 0),
            // Oldest first: a higher partition continues with this very time, a lower one with
            // the times after it.
            (Greater, Direction::OldestFirst) => at(self.ts.saturating_sub(1), u64::MAX, u64::MAX),
            (Less, Direction::OldestFirst) => at(self.ts, u64::MAX, u64::MAX),
        }
    }
}

/// Sorts `items` by their place in the cluster's order going in `direction`.
pub fn sort<T>(items: &mut [(ClusterPosition, T)], direction: Direction) {
    match direction {
        Direction::OldestFirst => items.sort_by_key(|a| a.0),
        Direction::NewestFirst => items.sort_by_key(|a| std::cmp::Reverse(a.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_named() {
        let c = ClusterPosition {
            ts: 1_764_288_000_123_456,
            partition: 7,
            lsn: 42,
            pos: 3,
        };
        assert_eq!(c.cursor(), "c1.1764288000123456.7.42.3");
        assert_eq!(ClusterPosition::parse(&c.cursor()), Ok(c));
        for bad in [
            "",
            "1.1.2.3",
            "c1.1.2.3",
            "c1.x.1.2.3",
            "c1.1.2.3.4.5",
            "c2.1.2.3.4",
        ] {
            let e = ClusterPosition::parse(bad).unwrap_err();
            assert!(e.contains(&format!("cursor {bad:?}")), "{e}");
        }
    }

    /// For every event in a small universe (few times, few partitions, few WAL places), the
    /// events "after" a cursor in the cluster order are exactly those each partition's local
    /// cursor lets through under the single-collector order.
    #[test]
    fn local_cursors_cut_each_partition_where_the_cluster_order_does() {
        let mut all = Vec::new();
        for ts in [-1i64, 0, 1, 2] {
            for partition in 0..3 {
                for lsn in [0u64, 1, u64::MAX] {
                    for pos in [0u64, 5] {
                        all.push(ClusterPosition {
                            ts,
                            partition,
                            lsn,
                            pos,
                        });
                    }
                }
            }
        }
        let local = |c: &ClusterPosition| Position {
            ts: c.ts,
            lsn: c.lsn,
            pos: c.pos,
        };
        for direction in [Direction::NewestFirst, Direction::OldestFirst] {
            for cut in &all {
                for e in &all {
                    let after_in_cluster = match direction {
                        Direction::NewestFirst => e < cut,
                        Direction::OldestFirst => e > cut,
                    };
                    let l = cut.local_after(e.partition, direction);
                    let after_locally = match direction {
                        Direction::NewestFirst => local(e) < l,
                        Direction::OldestFirst => local(e) > l,
                    };
                    assert_eq!(
                        after_in_cluster, after_locally,
                        "{direction:?} {cut:?} {e:?}"
                    );
                }
            }
        }
    }
}

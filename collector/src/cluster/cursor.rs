//! The total order of a fanned-out search, and its cursors.
//!
//! A single collector orders events by `(ts, lsn, pos)` (`search::order`): time, then the
//! event's place in its own WAL. Across a cluster, WAL places mean nothing: two owners of a
//! partition (before and after it moved) hold its events at different places. So a fanned-out
//! search orders by `(ts, partition, agent, seq)`: time, then the partition, then the event's
//! id, which is unique per event (the WAL and the stream de-duplicate by it) and the same on
//! every owner. (The partition follows from the agent; it comes before it so that an owner can
//! cut every partition but the cursor's by time alone.)
//!
//! A cursor is `c2.<ts in microseconds>.<partition>.<seq>.<agent, hex>` (`c2`: the version;
//! a single collector's start with `1.`; `c1`, which held the owner's WAL place, is refused
//! with a request to search again). From a cluster cursor each partition other than the
//! cursor's gets a single-collector cursor of its own ([`ClusterPosition::local_after`]): all
//! of the cursor's microsecond or none of it. The cursor's own partition continues after its
//! microsecond ([`ClusterPosition::local_after`] again), and its events at that microsecond
//! are ordered by id and cut by [`ClusterPosition::is_before`] (`owner.rs`). Paging through a
//! partition that changes owner between two pages thus neither repeats nor skips an event.

use logwarden_core::Event;

use crate::search::order::{Direction, Position};

const VERSION: &str = "c2";

/// One event's place in the cluster's total order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterPosition {
    pub ts: i64,
    pub partition: u32,
    pub agent: String,
    pub seq: u64,
}

impl ClusterPosition {
    /// The place of `event`, of partition `partition`.
    pub fn of(partition: u32, event: &Event) -> ClusterPosition {
        ClusterPosition {
            ts: event.ts.timestamp_micros(),
            partition,
            agent: event.id.agent_id.to_string(),
            seq: event.id.seq,
        }
    }

    pub fn cursor(&self) -> String {
        let agent: String = self.agent.bytes().map(|b| format!("{b:02x}")).collect();
        format!(
            "{VERSION}.{}.{}.{}.{agent}",
            self.ts, self.partition, self.seq
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
        match parts.next() {
            Some(VERSION) => {}
            Some("c1") => {
                return Err(bad(
                    "a cursor of an older version, which held one owner's WAL place; start the search again",
                ));
            }
            _ => return Err(bad("not a cursor of a cluster")),
        }
        let mut next = |what: &str| {
            parts
                .next()
                .ok_or_else(|| bad(&format!("no {what}")))
                .map(str::to_owned)
        };
        let (ts, partition, seq, agent) = (
            next("time")?,
            next("partition")?,
            next("seq")?,
            next("agent")?,
        );
        if parts.next().is_some() {
            return Err(bad("more parts than a cursor has"));
        }
        let number = |what: &str| bad(&format!("the {what} is not a number"));
        let at = ClusterPosition {
            ts: ts.parse().map_err(|_| number("time"))?,
            partition: partition.parse().map_err(|_| number("partition"))?,
            seq: seq.parse().map_err(|_| number("seq"))?,
            agent: unhex(&agent).ok_or_else(|| bad("the agent is not hex of UTF-8 text"))?,
        };
        if chrono::DateTime::<chrono::Utc>::from_timestamp_micros(at.ts).is_none() {
            return Err(bad("the time is out of range"));
        }
        Ok(at)
    }

    /// The single-collector cursor that asks partition `p` for the events after `self` in the
    /// cluster's order going in `direction`, its own partition's events at `self`'s
    /// microsecond excepted (those are cut by [`ClusterPosition::is_before`]).
    pub fn local_after(&self, p: u32, direction: Direction) -> Position {
        use std::cmp::Ordering::*;
        let at = |ts: i64, lsn: u64, pos: u64| Position { ts, lsn, pos };
        match (p.cmp(&self.partition), direction) {
            // Newest first: a lower partition continues with this very time, a higher one
            // (and this one, past its microsecond) with the times before it.
            (Less, Direction::NewestFirst) => at(self.ts.saturating_add(1), 0, 0),
            (Greater | Equal, Direction::NewestFirst) => at(self.ts, 0, 0),
            // Oldest first: a higher partition continues with this very time, a lower one
            // (and this one) with the times after it.
            (Greater, Direction::OldestFirst) => at(self.ts.saturating_sub(1), u64::MAX, u64::MAX),
            (Less | Equal, Direction::OldestFirst) => at(self.ts, u64::MAX, u64::MAX),
        }
    }

    /// Whether `self` comes before `other` going in `direction` (so that `other` is on a page
    /// after the cursor `self`).
    pub fn is_before(&self, other: &ClusterPosition, direction: Direction) -> bool {
        match direction {
            Direction::NewestFirst => other < self,
            Direction::OldestFirst => other > self,
        }
    }
}

fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// Sorts `items` by their place in the cluster's order going in `direction`.
pub fn sort<T>(items: &mut [(ClusterPosition, T)], direction: Direction) {
    match direction {
        Direction::OldestFirst => items.sort_by(|a, b| a.0.cmp(&b.0)),
        Direction::NewestFirst => items.sort_by(|a, b| b.0.cmp(&a.0)),
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
            agent: "mail.vm:42 é".into(),
            seq: 3,
        };
        assert_eq!(
            c.cursor(),
            "c2.1764288000123456.7.3.6d61696c2e766d3a343220c3a9"
        );
        assert_eq!(ClusterPosition::parse(&c.cursor()), Ok(c));
        for bad in [
            "",
            "1.1.2.3",
            "c2.1.2.3",
            "c2.x.1.2.61",
            "c2.1.2.3.6",
            "c2.1.2.3.zz",
            "c2.1.2.3.ff",
            "c2.1.2.3.61.5",
            "c3.1.2.3.61",
        ] {
            let e = ClusterPosition::parse(bad).unwrap_err();
            assert!(e.contains(&format!("cursor {bad:?}")), "{e}");
        }
        let old = ClusterPosition::parse("c1.1764288000123456.7.42.3").unwrap_err();
        assert!(old.contains("start the search again"), "{old}");
    }

    /// For every event in a small universe (few times, partitions, agents and seqs), the events
    /// "after" a cursor in the cluster order are exactly: in another partition, those its
    /// local cursor lets through in the single-collector order whatever their WAL places; in
    /// the cursor's own, those past its microsecond by the local cursor, and those at it by
    /// `is_before`.
    #[test]
    fn local_cursors_cut_each_partition_where_the_cluster_order_does() {
        let mut all = Vec::new();
        for ts in [-1i64, 0, 1, 2] {
            for partition in 0..3 {
                for agent in ["a", "b"] {
                    for seq in [0u64, 5] {
                        all.push(ClusterPosition {
                            ts,
                            partition,
                            agent: agent.into(),
                            seq,
                        });
                    }
                }
            }
        }
        for direction in [Direction::NewestFirst, Direction::OldestFirst] {
            for cut in &all {
                for e in &all {
                    let after_in_cluster = cut.is_before(e, direction);
                    let l = cut.local_after(e.partition, direction);
                    let after_locally = |lsn: u64, pos: u64| {
                        let local = Position { ts: e.ts, lsn, pos };
                        match direction {
                            Direction::NewestFirst => local < l,
                            Direction::OldestFirst => local > l,
                        }
                    };
                    for (lsn, pos) in [(0, 0), (1, 5), (u64::MAX, u64::MAX)] {
                        let got = if e.partition == cut.partition && e.ts == cut.ts {
                            assert!(!after_locally(lsn, pos), "{direction:?} {cut:?} {e:?}");
                            cut.is_before(e, direction)
                        } else {
                            after_locally(lsn, pos)
                        };
                        assert_eq!(after_in_cluster, got, "{direction:?} {cut:?} {e:?}");
                    }
                }
            }
        }
    }
}

//! The first hits of a query in the total order (`order.rs`), from one end of it or from a
//! position on: a page of a search after its cursor, the context on either side of a hit, and
//! the exact lookup of one position.
//!
//! Why a collector of its own rather than `TopDocs` ordered by the three fast fields, with a
//! cursor query (ranges on them) for "after": a range on a fast field is answered by scanning
//! the column from the first document of each segment (tantivy has no tree over it), which made
//! the context of one hit late in a 10M-event day cost 119 ms; and `TopDocs` opens the three
//! columns of every segment for every query, 0.8 ms of a 1 ms term query over 18 segments
//! (docs/BENCHMARKS.md). Here the columns come opened from the partition
//! (`index::order_columns`), and the position is compared on each hit the query finds, reading
//! `lsn` and `pos` only when `ts` alone cannot decide.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use super::order::{Direction, Position};
use crate::index::order_columns::OrderColumns;

/// Collects the first `n` hits in `direction`: after `at` when given (beyond it: strictly older
/// for newest first, strictly newer for oldest first; `at` itself too when `inclusive`), and
/// counts every hit beyond `at`.
pub struct Nearest {
    pub at: Option<Position>,
    pub direction: Direction,
    pub inclusive: bool,
    pub n: usize,
    /// Each segment's columns of the order, by segment ordinal (`Partition::order_columns`
    /// for the same searcher).
    pub columns: Vec<Arc<OrderColumns>>,
}

/// What [`Nearest`] found: the hits beyond `at` (all of them counted), the first `n` in order.
#[derive(Debug, Default)]
pub struct Found {
    pub total: usize,
    pub hits: Vec<(Position, DocAddress)>,
}

/// One hit placed in the order; "greater" means later in `direction` (farther from where the
/// collection starts), so that a max-heap's top is the first to give up when a nearer one comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Placed {
    position: Position,
    addr: DocAddress,
    direction: Direction,
}

impl Ord for Placed {
    fn cmp(&self, other: &Self) -> Ordering {
        let by_position = match self.direction {
            Direction::NewestFirst => other.position.cmp(&self.position),
            Direction::OldestFirst => self.position.cmp(&other.position),
        };
        by_position.then_with(|| self.addr.cmp(&other.addr))
    }
}

impl PartialOrd for Placed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `a` compared with `b` in the order of `direction`: `Greater` when `a` comes later.
fn later<T: Ord>(direction: Direction, a: T, b: T) -> Ordering {
    match direction {
        Direction::NewestFirst => b.cmp(&a),
        Direction::OldestFirst => a.cmp(&b),
    }
}

/// The `n` first, kept in a bounded heap.
fn keep(heap: &mut BinaryHeap<Placed>, n: usize, placed: Placed) {
    if heap.len() < n {
        heap.push(placed);
    } else if heap.peek().is_some_and(|last| placed < *last) {
        heap.pop();
        heap.push(placed);
    }
}

fn in_order(heap: BinaryHeap<Placed>) -> Vec<(Position, DocAddress)> {
    heap.into_sorted_vec()
        .into_iter()
        .map(|p| (p.position, p.addr))
        .collect()
}

pub struct NearestInSegment {
    segment: SegmentOrdinal,
    columns: Arc<OrderColumns>,
    at: Option<Position>,
    direction: Direction,
    inclusive: bool,
    n: usize,
    total: usize,
    heap: BinaryHeap<Placed>,
}

impl Collector for Nearest {
    type Fruit = Found;
    type Child = NearestInSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        _reader: &SegmentReader,
    ) -> tantivy::Result<NearestInSegment> {
        let columns = self.columns.get(segment as usize).cloned().ok_or_else(|| {
            tantivy::TantivyError::InternalError(format!(
                "no order columns for segment {segment} (the searcher changed under the search)"
            ))
        })?;
        Ok(NearestInSegment {
            segment,
            columns,
            at: self.at,
            direction: self.direction,
            inclusive: self.inclusive,
            n: self.n,
            total: 0,
            heap: BinaryHeap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<Found>) -> tantivy::Result<Found> {
        let mut heap = BinaryHeap::new();
        let mut total = 0;
        for found in segments {
            total += found.total;
            for (position, addr) in found.hits {
                let direction = self.direction;
                let placed = Placed {
                    position,
                    addr,
                    direction,
                };
                keep(&mut heap, self.n, placed);
            }
        }
        Ok(Found {
            total,
            hits: in_order(heap),
        })
    }
}

impl NearestInSegment {
    fn wanted(&self, p: Position) -> bool {
        match self.at.map(|at| later(self.direction, p, at)) {
            None | Some(Ordering::Greater) => true,
            Some(Ordering::Equal) => self.inclusive,
            Some(Ordering::Less) => false,
        }
    }
}

impl SegmentCollector for NearestInSegment {
    type Fruit = Found;

    fn collect(&mut self, doc: DocId, _score: Score) {
        // Every document has all three (`index::schema`); one without is not in the order.
        let Some(ts) = self.columns.ts.first(doc) else {
            return;
        };
        let ts = ts.into_timestamp_micros();
        // On `ts` alone where it decides: before `at`, or after the last of a full heap (then
        // also after `at`, which the heap's hits all are).
        if self
            .at
            .is_some_and(|at| later(self.direction, ts, at.ts) == Ordering::Less)
        {
            return;
        }
        if self.heap.len() == self.n
            && self.heap.peek().is_some_and(|last| {
                later(self.direction, ts, last.position.ts) == Ordering::Greater
            })
        {
            self.total += 1;
            return;
        }
        let (Some(lsn), Some(pos)) = (self.columns.lsn.first(doc), self.columns.pos.first(doc))
        else {
            return;
        };
        let position = Position { ts, lsn, pos };
        if self.wanted(position) {
            self.total += 1;
            let placed = Placed {
                position,
                addr: DocAddress::new(self.segment, doc),
                direction: self.direction,
            };
            keep(&mut self.heap, self.n, placed);
        }
    }

    fn harvest(self) -> Found {
        Found {
            total: self.total,
            hits: in_order(self.heap),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::schema::WalPlace;
    use crate::search::tests::{event, searcher_with_places};
    use logwarden_core::Severity;
    use tantivy::query::AllQuery;

    fn at(ts: i64, lsn: u64, pos: u64) -> Position {
        Position { ts, lsn, pos }
    }

    #[test]
    fn the_first_n_after_a_position_in_either_direction_and_all_of_them_counted() {
        // Eight events of one day in three segments, several sharing a second and a microsecond.
        let base = 1_764_590_400_000_000; // 2025-12-01T12:00:00Z
        let places = [
            at(base - 10_000_000, 9, 0),
            at(base, 5, 1),
            at(base, 5, 2),
            at(base, 5, 3),
            at(base, 4, 9),
            at(base + 1, 0, 0),
            at(base - 50_000_000, 1, 1),
            at(base + 100_000_000, 1, 1),
        ];
        let events: Vec<_> = places
            .iter()
            .enumerate()
            .map(|(seq, p)| {
                let mut e = event(
                    seq as u64,
                    "2025-12-01T12:00:00Z",
                    "x",
                    Severity::Info,
                    "m",
                    None,
                );
                e.ts = p.time();
                (
                    e,
                    WalPlace {
                        lsn: p.lsn,
                        pos: p.pos,
                    },
                )
            })
            .collect();
        let (_dir, s) = searcher_with_places(&events, 3);
        let partition = s.catalog().all().pop().unwrap();
        let searcher = partition.reader.searcher();
        assert!(searcher.segment_readers().len() > 1);
        let run = |from: Option<Position>, direction, inclusive, n| {
            let columns = partition.order_columns.of(&searcher).unwrap();
            let want = Nearest {
                at: from,
                direction,
                inclusive,
                n,
                columns,
            };
            let found = searcher.search(&AllQuery, &want).unwrap();
            let hits: Vec<_> = found.hits.iter().map(|(p, _)| *p).collect();
            (found.total, hits)
        };
        let middle = at(base, 5, 2);
        assert_eq!(
            run(Some(middle), Direction::NewestFirst, false, 3),
            (
                4,
                vec![at(base, 5, 1), at(base, 4, 9), at(base - 10_000_000, 9, 0)]
            )
        );
        assert_eq!(
            run(Some(middle), Direction::OldestFirst, false, 2),
            (3, vec![at(base, 5, 3), at(base + 1, 0, 0)])
        );
        assert_eq!(
            run(Some(middle), Direction::OldestFirst, true, 1),
            (4, vec![middle]),
            "inclusive: the position itself"
        );
        let (total, all) = run(None, Direction::NewestFirst, false, 100);
        let mut sorted = places.to_vec();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(
            (total, all),
            (8, sorted.clone()),
            "no position: the whole order"
        );
        assert_eq!(
            run(None, Direction::OldestFirst, false, 2).1,
            vec![sorted[7], sorted[6]]
        );
        assert_eq!(
            run(None, Direction::NewestFirst, false, 0),
            (8, vec![]),
            "counting only"
        );
    }
}

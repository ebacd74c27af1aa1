//! The hits nearest to a position in the total order (`order.rs`), on one side of it: what the
//! context of a hit needs, and the exact lookup of one position.
//!
//! Why a collector of its own rather than a cursor query (`order::beyond`) and `TopDocs`: a range
//! on a fast field is answered by scanning the column (tantivy has no tree over it), and the
//! scan starts at the first document of each segment whose values overlap the range. A window
//! of a minute late in the day made tantivy read most of a 10M-event segment's `ts` column
//! (119 ms for the context of one hit, docs/BENCHMARKS.md). Here the query narrows the documents
//! through the inverted index alone (host, source and `ts` at whole seconds), and this collector
//! reads the three sort columns of only those few documents to place them exactly.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use super::order::{Direction, Position};

/// Collects up to `n` documents beyond `at` in `direction` (strictly older for newest first,
/// strictly newer for oldest first; `at` itself too when `inclusive`), the nearest to `at`
/// first.
pub struct Nearest {
    pub at: Position,
    pub direction: Direction,
    pub inclusive: bool,
    pub n: usize,
}

/// One document placed in the order; "greater" means farther from `at`, so that a max-heap's
/// top is the first to give up when a nearer one comes.
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

impl Nearest {
    fn wanted(&self, p: Position) -> bool {
        match (self.direction, p.cmp(&self.at)) {
            (_, Ordering::Equal) => self.inclusive,
            (Direction::NewestFirst, o) => o == Ordering::Less,
            (Direction::OldestFirst, o) => o == Ordering::Greater,
        }
    }
}

/// The `n` nearest, kept in a bounded heap.
fn keep(heap: &mut BinaryHeap<Placed>, n: usize, placed: Placed) {
    if heap.len() < n {
        heap.push(placed);
    } else if heap.peek().is_some_and(|farthest| placed < *farthest) {
        heap.pop();
        heap.push(placed);
    }
}

pub struct NearestInSegment {
    segment: SegmentOrdinal,
    ts: Column<tantivy::DateTime>,
    lsn: Column<u64>,
    pos: Column<u64>,
    want: Nearest,
    heap: BinaryHeap<Placed>,
}

impl Collector for Nearest {
    type Fruit = Vec<(Position, DocAddress)>;
    type Child = NearestInSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<NearestInSegment> {
        let fast = reader.fast_fields();
        Ok(NearestInSegment {
            segment,
            ts: fast.date("ts")?,
            lsn: fast.u64("lsn")?,
            pos: fast.u64("pos")?,
            want: Nearest { ..*self },
            heap: BinaryHeap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        segments: Vec<Vec<(Position, DocAddress)>>,
    ) -> tantivy::Result<Vec<(Position, DocAddress)>> {
        let mut heap = BinaryHeap::new();
        for (position, addr) in segments.into_iter().flatten() {
            let direction = self.direction;
            keep(
                &mut heap,
                self.n,
                Placed {
                    position,
                    addr,
                    direction,
                },
            );
        }
        Ok(nearest_first(heap))
    }
}

impl SegmentCollector for NearestInSegment {
    type Fruit = Vec<(Position, DocAddress)>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        // Every document has all three (`index::schema`); one without is not in the order.
        let (Some(ts), Some(lsn), Some(pos)) =
            (self.ts.first(doc), self.lsn.first(doc), self.pos.first(doc))
        else {
            return;
        };
        let position = Position {
            ts: ts.into_timestamp_micros(),
            lsn,
            pos,
        };
        if self.want.wanted(position) {
            let placed = Placed {
                position,
                addr: DocAddress::new(self.segment, doc),
                direction: self.want.direction,
            };
            keep(&mut self.heap, self.want.n, placed);
        }
    }

    fn harvest(self) -> Vec<(Position, DocAddress)> {
        nearest_first(self.heap)
    }
}

fn nearest_first(heap: BinaryHeap<Placed>) -> Vec<(Position, DocAddress)> {
    heap.into_sorted_vec()
        .into_iter()
        .map(|p| (p.position, p.addr))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ts: i64, lsn: u64, pos: u64) -> Position {
        Position { ts, lsn, pos }
    }

    #[test]
    fn keeps_the_n_nearest_on_the_asked_side_nearest_first() {
        let around = at(100, 5, 2);
        let candidates = [
            at(90, 9, 0),
            at(100, 5, 1),
            at(100, 5, 2),
            at(100, 5, 3),
            at(100, 4, 9),
            at(101, 0, 0),
            at(50, 1, 1),
            at(200, 1, 1),
        ];
        let run = |direction, inclusive, n| {
            let want = Nearest {
                at: around,
                direction,
                inclusive,
                n,
            };
            let mut heap = BinaryHeap::new();
            for (doc, p) in candidates.iter().enumerate() {
                if want.wanted(*p) {
                    let addr = DocAddress::new(0, doc as DocId);
                    keep(
                        &mut heap,
                        n,
                        Placed {
                            position: *p,
                            addr,
                            direction,
                        },
                    );
                }
            }
            nearest_first(heap)
                .into_iter()
                .map(|(p, _)| p)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            run(Direction::NewestFirst, false, 3),
            vec![at(100, 5, 1), at(100, 4, 9), at(90, 9, 0)]
        );
        assert_eq!(
            run(Direction::OldestFirst, false, 2),
            vec![at(100, 5, 3), at(101, 0, 0)]
        );
        assert_eq!(
            run(Direction::OldestFirst, true, 1),
            vec![around],
            "inclusive: the position itself"
        );
        assert_eq!(run(Direction::NewestFirst, false, 10).len(), 4);
    }
}

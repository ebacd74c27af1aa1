//! One partition's page of a fanned-out search, in the cluster's order (`cursor.rs`), as its
//! owner answers it (`owner.rs`).
//!
//! The owner's index orders the events of one microsecond by WAL place, the cluster by event
//! id, which is the same on every owner: so the events of the cursor's microsecond, and those
//! of the microsecond a page ends in, are all read and ordered by id; every other event is
//! placed by time alone, as the index orders it.

use chrono::{DateTime, Utc};
use logwarden_core::Event;
use logwarden_core::wire::SearchParams;

use super::cursor::{self, ClusterPosition};
use crate::search::order::{Direction, Position};
use crate::search::{SearchError, Searcher};

/// One partition's part of a search, in the cluster's order.
pub(super) struct PartitionPage<'a> {
    pub(super) searcher: Searcher,
    pub(super) p: u32,
    pub(super) params: &'a SearchParams,
    pub(super) direction: Direction,
    pub(super) now: DateTime<Utc>,
}

/// Events with their places in the cluster's order.
type Placed = Vec<(ClusterPosition, Event)>;

/// How many events are read at first, and at most at once, when gathering those of one
/// microsecond (most microseconds hold one event or a few; a burst takes chunks 4 times
/// larger each time).
const TIES_FIRST: usize = 8;
const TIES_CHUNK: usize = 1000;

impl PartitionPage<'_> {
    /// The first `limit` events after `after` in the cluster's order, how many there are after
    /// it in all, and the days the search reached.
    ///
    /// The owner's index orders the events of one microsecond by WAL place, the cluster by id
    /// (`cursor.rs`): so the events at the cursor's microsecond, and those at the microsecond
    /// a page ends in, are all read and ordered by id. That costs a read of every event of
    /// those two microseconds per page (docs/scale.md).
    pub(super) fn page(
        &self,
        after: Option<&ClusterPosition>,
        limit: usize,
    ) -> Result<(Placed, usize, u64), SearchError> {
        let plan = self.plan()?;
        let days = plan.partitions.len() as u64;
        let mut found = match after.filter(|a| a.partition == self.p) {
            Some(a) => {
                let mut ties = self.all_at(a.ts)?;
                ties.retain(|(at, _)| a.is_before(at, self.direction));
                ties
            }
            None => Vec::new(),
        };
        let local = after.map(|a| a.local_after(self.p, self.direction));
        let wanted = limit.saturating_sub(found.len());
        let page = self.searcher.page(plan, self.direction, local, wanted)?;
        let total = found.len() + page.total;
        let cut = page.cursor.is_some();
        found.truncate(limit);
        found.extend(
            page.hits
                .into_iter()
                .map(|e| (ClusterPosition::of(self.p, &e), e)),
        );
        // The page ends inside a microsecond: which of its events come first is for their ids
        // to say, not their WAL places.
        if cut && let Some(last) = found.last().map(|(at, _)| at.ts) {
            found.retain(|(at, _)| at.ts != last);
            let room = limit - found.len();
            found.extend(self.all_at(last)?.into_iter().take(room));
        }
        Ok((found, total, days))
    }

    fn plan(&self) -> Result<crate::search::Plan, SearchError> {
        let q = self.params;
        self.searcher.plan(&q.q, &q.since, &q.until, self.now)
    }

    /// Every matching event of this partition at the microsecond `ts`, in the cluster's order.
    fn all_at(&self, ts: i64) -> Result<Placed, SearchError> {
        let mut local = Some(match self.direction {
            Direction::NewestFirst => Position {
                ts: ts.saturating_add(1),
                lsn: 0,
                pos: 0,
            },
            Direction::OldestFirst => Position {
                ts: ts.saturating_sub(1),
                lsn: u64::MAX,
                pos: u64::MAX,
            },
        });
        let (mut at_ts, mut chunk) = (Vec::new(), TIES_FIRST);
        while let Some(from) = local {
            let page = self
                .searcher
                .page(self.plan()?, self.direction, Some(from), chunk)?;
            chunk = (chunk * 4).min(TIES_CHUNK);
            at_ts.extend(
                page.hits
                    .into_iter()
                    .filter(|e| e.ts.timestamp_micros() == ts)
                    .map(|e| (ClusterPosition::of(self.p, &e), e)),
            );
            local = page.cursor.filter(|last| last.ts == ts);
        }
        cursor::sort(&mut at_ts, self.direction);
        Ok(at_ts)
    }
}

//! Live tail: the events matching a query that became searchable after a given WAL position.
//! The API's `GET /api/v1/tail` calls it after every index commit and streams what it finds.

use std::ops::Bound;

use chrono::Utc;
use logwarden_core::Event;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery};
use tantivy::{Order, Term};

use super::{SearchError, Searcher};

/// Most events sent for one commit; past it the tail says how many it skipped.
pub const MAX_PER_ROUND: usize = 100_000;

impl Searcher {
    /// Checks a tail query once, so that a bad one is refused before streaming starts.
    pub fn check_query(&self, q: &str) -> Result<(), SearchError> {
        self.plan(q, &None, &None, Utc::now()).map(|_| ())
    }

    /// Events matching `q` held by WAL records `after < lsn <= upto`, in WAL order, and how many
    /// more there were than [`MAX_PER_ROUND`].
    pub fn after_lsn(
        &self,
        q: &str,
        after: u64,
        upto: u64,
    ) -> Result<(Vec<Event>, usize), SearchError> {
        let plan = self.plan(q, &None, &None, Utc::now())?;
        let range = RangeQuery::new(
            Bound::Excluded(Term::from_field_u64(self.fields.lsn, after)),
            Bound::Included(Term::from_field_u64(self.fields.lsn, upto)),
        );
        let query: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
            (Occur::Must, plan.query),
            (Occur::Must, Box::new(range)),
        ]));
        let mut events = Vec::new();
        let mut total = 0;
        // A partition whose last commit is at or before `after` has nothing newer.
        for p in plan.partitions.iter().filter(|p| p.lsn() > after) {
            let searcher = p.reader.searcher();
            let top =
                TopDocs::with_limit(MAX_PER_ROUND).order_by_fast_field::<u64>("lsn", Order::Asc);
            let (n, hits) = searcher.search(&query, &(tantivy::collector::Count, top))?;
            total += n;
            for (lsn, addr) in hits {
                if let Some(e) = self.stored_event(&searcher, addr)? {
                    events.push((lsn.unwrap_or(0), e));
                }
            }
        }
        // Within one WAL record, in the order the events happened.
        events.sort_by(|(la, a), (lb, b)| la.cmp(lb).then(a.ts.cmp(&b.ts)));
        let skipped = total.saturating_sub(events.len().min(MAX_PER_ROUND));
        events.truncate(MAX_PER_ROUND);
        Ok((events.into_iter().map(|(_, e)| e).collect(), skipped))
    }
}

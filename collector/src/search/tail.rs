//! Live tail: the events matching a query that became searchable after a given WAL position.
//! The API's `GET /api/v1/tail` calls it after every index commit and streams what it finds.

use std::ops::Bound;

use chrono::Utc;
use logwarden_core::Event;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery};
use tantivy::schema::Value;
use tantivy::{Order, TantivyDocument, Term};

use super::{SearchError, Searcher};

/// Most events sent for one commit; past it the tail says how many it skipped.
pub const MAX_PER_ROUND: usize = 100_000;

impl Searcher {
    /// Checks a tail query once, so that a bad one is refused before streaming starts.
    pub fn check_query(&self, q: &str) -> Result<(), SearchError> {
        self.query(q, &None, &None, Utc::now()).map(|_| ())
    }

    /// Events matching `q` held by WAL records `after < lsn <= upto`, in WAL order, and how many
    /// more there were than [`MAX_PER_ROUND`].
    pub fn after_lsn(
        &self,
        q: &str,
        after: u64,
        upto: u64,
    ) -> Result<(Vec<Event>, usize), SearchError> {
        let text = self.query(q, &None, &None, Utc::now())?;
        let range = RangeQuery::new(
            Bound::Excluded(Term::from_field_u64(self.fields.lsn, after)),
            Bound::Included(Term::from_field_u64(self.fields.lsn, upto)),
        );
        let query: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
            (Occur::Must, text),
            (Occur::Must, Box::new(range)),
        ]));
        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(MAX_PER_ROUND).order_by_fast_field::<u64>("lsn", Order::Asc);
        let (total, hits) = searcher.search(&query, &(tantivy::collector::Count, top))?;
        let mut events = Vec::with_capacity(hits.len());
        for (lsn, addr) in hits {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let Some(json) = doc.get_first(self.fields.raw).and_then(|v| v.as_str()) else {
                continue;
            };
            if let Ok(e) = serde_json::from_str::<Event>(json) {
                events.push((lsn.unwrap_or(0), e));
            }
        }
        // Within one WAL record, in the order the events happened.
        events.sort_by(|(la, a), (lb, b)| la.cmp(lb).then(a.ts.cmp(&b.ts)));
        let skipped = total.saturating_sub(events.len());
        Ok((events.into_iter().map(|(_, e)| e).collect(), skipped))
    }
}

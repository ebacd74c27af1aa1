//! Answering searches: a query in tantivy's syntax over the event fields, a time range, the
//! newest matches first.

pub mod time;

use std::ops::Bound;
use std::time::Instant;

use chrono::{DateTime, Utc};
use logwarden_core::Event;
use logwarden_core::wire::{SearchParams, SearchResponse};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, RangeQuery};
use tantivy::schema::Value;
use tantivy::{Index, IndexReader, Order, TantivyDocument, Term};

use crate::index::Fields;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query text does not parse (answered 400 with tantivy's reason).
    #[error("query {query:?} is not valid: {reason}")]
    BadQuery { query: String, reason: String },
    /// `since`, `until` or `limit` is not acceptable (400).
    #[error("{0}")]
    BadParam(String),
    /// The index failed (500).
    #[error("index error: {0}")]
    Index(#[from] tantivy::TantivyError),
}

/// Runs searches against the index's current reader.
#[derive(Clone)]
pub struct Searcher {
    reader: IndexReader,
    parser: std::sync::Arc<QueryParser>,
    fields: Fields,
}

impl Searcher {
    pub fn new(index: &Index, reader: IndexReader, fields: Fields) -> Searcher {
        let mut parser = QueryParser::for_index(index, vec![fields.message]);
        // Several words mean all of them, as in every log search tool.
        parser.set_conjunction_by_default();
        Searcher {
            reader,
            parser: std::sync::Arc::new(parser),
            fields,
        }
    }

    pub fn docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn search(
        &self,
        params: &SearchParams,
        now: DateTime<Utc>,
    ) -> Result<SearchResponse, SearchError> {
        let started = Instant::now();
        let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
        if limit > MAX_LIMIT {
            return Err(SearchError::BadParam(format!(
                "limit {limit} is over the maximum of {MAX_LIMIT}"
            )));
        }
        let q = params.q.trim();
        let text_query: Box<dyn Query> = if q.is_empty() || q == "*" {
            Box::new(AllQuery)
        } else {
            self.parser
                .parse_query(q)
                .map_err(|e| SearchError::BadQuery {
                    query: q.to_owned(),
                    reason: e.to_string(),
                })?
        };
        let bound = |s: &Option<String>| -> Result<Option<DateTime<Utc>>, SearchError> {
            s.as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| time::parse_time(s, now).map_err(SearchError::BadParam))
                .transpose()
        };
        let since = bound(&params.since)?;
        let until = bound(&params.until)?;
        let query: Box<dyn Query> = if since.is_none() && until.is_none() {
            text_query
        } else {
            let term = |t: DateTime<Utc>| {
                Term::from_field_date(
                    self.fields.ts,
                    tantivy::DateTime::from_timestamp_micros(t.timestamp_micros()),
                )
            };
            let range = RangeQuery::new(
                since.map_or(Bound::Unbounded, |t| Bound::Included(term(t))),
                until.map_or(Bound::Unbounded, |t| Bound::Excluded(term(t))),
            );
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, text_query),
                (Occur::Must, Box::new(range)),
            ]))
        };
        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(limit.max(1))
            .order_by_fast_field::<tantivy::DateTime>("ts", Order::Desc);
        let (total, top) = searcher.search(&query, &(Count, top))?;
        let mut hits = Vec::with_capacity(top.len().min(limit));
        for (_, addr) in top.into_iter().take(limit) {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let Some(json) = doc.get_first(self.fields.raw).and_then(|v| v.as_str()) else {
                continue;
            };
            match serde_json::from_str::<Event>(json) {
                Ok(e) => hits.push(e),
                Err(e) => tracing::error!(error = %e, "stored event unreadable"),
            }
        }
        Ok(SearchResponse {
            total: total as u64,
            hits,
            took_us: started.elapsed().as_micros() as u64,
        })
    }
}

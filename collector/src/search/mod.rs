//! Answering searches: a query in tantivy's syntax over the event fields, a time range, the
//! newest matches first.

pub mod count;
mod query_bounds;
pub mod tail;
pub mod time;

use std::ops::Bound;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use logwarden_core::Event;
use logwarden_core::wire::{SearchParams, SearchResponse};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, RangeQuery};
use tantivy::schema::Value;
use tantivy::tokenizer::TokenizerManager;
use tantivy::{DocAddress, Order, TantivyDocument, Term};

use crate::index::{Catalog, Fields, Partition, schema};

pub const DEFAULT_LIMIT: usize = 100;
/// Most hits one search returns (`limit`); more is refused with 400.
pub const MAX_LIMIT: usize = 10_000;
/// Longest query text accepted (bytes); longer is refused with 400.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Most terms a query may hold once parsed (each word, phrase word and field value counts):
/// bounds the work of one query. More is refused with 400.
pub const MAX_QUERY_TERMS: usize = 256;

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

/// Runs searches against the index partitions' current readers.
#[derive(Clone)]
pub struct Searcher {
    catalog: Arc<Catalog>,
    parser: Arc<QueryParser>,
    fields: Fields,
}

/// A query ready to run: the tantivy query (text AND time range) and the partitions that the
/// time range reaches, newest first.
pub(crate) struct Plan {
    pub query: Box<dyn Query>,
    pub partitions: Vec<Arc<Partition>>,
}

impl Searcher {
    pub fn new(catalog: Arc<Catalog>) -> Searcher {
        let (schema, fields) = schema::build();
        let mut parser =
            QueryParser::new(schema, vec![fields.message], TokenizerManager::default());
        // Several words mean all of them, as in every log search tool.
        parser.set_conjunction_by_default();
        Searcher {
            catalog,
            parser: Arc::new(parser),
            fields,
        }
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn docs(&self) -> u64 {
        self.catalog.all().iter().map(|p| p.docs()).sum()
    }

    /// The query text ANDed with the time range, and the partitions the range reaches, as
    /// search, count and tail use them.
    pub(crate) fn plan(
        &self,
        q: &str,
        since: &Option<String>,
        until: &Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Plan, SearchError> {
        let q = q.trim();
        if q.len() > MAX_QUERY_BYTES {
            return Err(SearchError::BadParam(format!(
                "the query is {} bytes, over the limit of {MAX_QUERY_BYTES} bytes (query length)",
                q.len()
            )));
        }
        query_bounds::check(q).map_err(SearchError::BadParam)?;
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
        let mut terms = 0usize;
        text_query.query_terms(&mut |_, _| terms += 1);
        if terms > MAX_QUERY_TERMS {
            return Err(SearchError::BadParam(format!(
                "the query has {terms} terms, over the limit of {MAX_QUERY_TERMS} (query complexity)"
            )));
        }
        let bound = |s: &Option<String>| -> Result<Option<DateTime<Utc>>, SearchError> {
            s.as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| time::parse_time(s, now).map_err(SearchError::BadParam))
                .transpose()
        };
        let since = bound(since)?;
        let until = bound(until)?;
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            return Err(SearchError::BadParam(format!(
                "since {s} is later than until {u}"
            )));
        }
        let partitions = self.catalog.overlapping(since, until);
        let query = if since.is_none() && until.is_none() {
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
        Ok(Plan { query, partitions })
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
                "limit {limit} is over the maximum of {MAX_LIMIT} (result size)"
            )));
        }
        let plan = self.plan(&params.q, &params.since, &params.until, now)?;
        let mut total = 0;
        let mut hits = Vec::with_capacity(limit.min(1000));
        // Newest day first: every event of a day is newer than every event of an older day,
        // so once `limit` hits are in, older partitions only add to the total.
        for p in &plan.partitions {
            let searcher = p.reader.searcher();
            let wanted = limit - hits.len();
            if wanted == 0 {
                total += searcher.search(&plan.query, &Count)?;
                continue;
            }
            let top = TopDocs::with_limit(wanted)
                .order_by_fast_field::<tantivy::DateTime>("ts", Order::Desc);
            let (n, top) = searcher.search(&plan.query, &(Count, top))?;
            total += n;
            for (_, addr) in top {
                if let Some(e) = self.stored_event(&searcher, addr)? {
                    hits.push(e);
                }
            }
        }
        Ok(SearchResponse {
            indexed_lsn: 0, // set by the caller, who knows the index's position
            total: total as u64,
            hits,
            took_us: started.elapsed().as_micros() as u64,
            partitions: plan.partitions.len() as u64,
        })
    }

    /// The event stored with a document (`None`, logged, if it is unreadable).
    fn stored_event(
        &self,
        searcher: &tantivy::Searcher,
        addr: DocAddress,
    ) -> Result<Option<Event>, SearchError> {
        let doc: TantivyDocument = searcher.doc(addr)?;
        let Some(json) = doc.get_first(self.fields.raw).and_then(|v| v.as_str()) else {
            return Ok(None);
        };
        match serde_json::from_str::<Event>(json) {
            Ok(e) => Ok(Some(e)),
            Err(e) => {
                tracing::error!(error = %e, "stored event unreadable");
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use logwarden_core::{EventId, Severity};

    pub(crate) fn event(
        seq: u64,
        ts: &str,
        app: &str,
        sev: Severity,
        msg: &str,
        account: Option<&str>,
    ) -> Event {
        let ts = DateTime::parse_from_rfc3339(ts)
            .unwrap()
            .with_timezone(&Utc);
        let mut e = Event::log(
            EventId::new("a", seq),
            ts,
            "mbox3",
            "phx",
            "/var/log/x",
            msg.into(),
        );
        e.app = app.into();
        e.severity = sev;
        if let Some(a) = account {
            e.fields.insert("account".into(), a.into());
        }
        e
    }

    /// A searcher over partitions written directly (the indexer's own tests go through the WAL).
    pub(crate) fn searcher_with(events: &[Event]) -> (tempfile::TempDir, Searcher) {
        let dir = tempfile::tempdir().unwrap();
        let (catalog, _) = Catalog::open(dir.path(), crate::index::Unusable::Delete).unwrap();
        let mut by_day: std::collections::BTreeMap<_, Vec<&Event>> = Default::default();
        for e in events {
            by_day
                .entry(crate::index::partition::day_of(e.ts))
                .or_default()
                .push(e);
        }
        for (day, events) in by_day {
            let p = catalog.get_or_create(day).unwrap();
            let mut writer: tantivy::IndexWriter<TantivyDocument> =
                p.index.writer_with_num_threads(1, 15_000_000).unwrap();
            for e in events {
                let json = serde_json::to_string(e).unwrap();
                writer
                    .add_document(schema::document(
                        &p.fields,
                        schema::Indexed::parse(&json).unwrap(),
                        &json,
                        e.id.seq,
                    ))
                    .unwrap();
            }
            writer.commit().unwrap();
            p.reader.reload().unwrap();
            p.set_lsn(u64::MAX);
        }
        (dir, Searcher::new(catalog))
    }

    fn seqs(resp: &SearchResponse) -> Vec<u64> {
        resp.hits.iter().map(|h| h.id.seq).collect()
    }

    fn params(q: &str) -> SearchParams {
        SearchParams {
            q: q.into(),
            ..SearchParams::default()
        }
    }

    #[test]
    fn queries_on_fields_words_and_phrases_find_the_right_events_newest_first() {
        let events = [
            event(
                1,
                "2026-11-29T10:00:00Z",
                "sshd",
                Severity::Err,
                "Failed password for root",
                None,
            ),
            event(
                2,
                "2026-11-29T10:05:00Z",
                "mailbox",
                Severity::Info,
                "deleted 40000 messages",
                Some("alice@example.com"),
            ),
            event(
                3,
                "2026-11-29T10:02:00Z",
                "sshd",
                Severity::Info,
                "Accepted password for bob",
                None,
            ),
            event(
                4,
                "2026-11-29T10:03:00Z",
                "mailbox",
                Severity::Warning,
                "md2 RAID degraded",
                Some("bob@example.com"),
            ),
        ];
        let (_dir, s) = searcher_with(&events);
        let now = Utc::now();
        let r = s.search(&params("*"), now).unwrap();
        assert_eq!((r.total, seqs(&r)), (4, vec![2, 4, 3, 1]), "newest first");
        let r = s.search(&params("app:sshd AND severity:err"), now).unwrap();
        assert_eq!(seqs(&r), vec![1]);
        let r = s.search(&params("password"), now).unwrap();
        assert_eq!(seqs(&r), vec![3, 1]);
        let r = s.search(&params("\"RAID degraded\""), now).unwrap();
        assert_eq!(seqs(&r), vec![4]);
        let r = s.search(&params("degraded RAID host:mbox3"), now).unwrap();
        assert_eq!(seqs(&r), vec![4], "several words are ANDed");
        let r = s
            .search(&params("fields.account:alice@example.com"), now)
            .unwrap();
        assert_eq!(seqs(&r), vec![2]);
        let limited = SearchParams {
            limit: Some(2),
            ..params("*")
        };
        let r = s.search(&limited, now).unwrap();
        assert_eq!((r.total, seqs(&r)), (4, vec![2, 4]));
    }

    #[test]
    fn since_and_until_bound_the_time_and_bad_input_is_named() {
        let events = [
            event(1, "2026-11-29T10:00:00Z", "x", Severity::Info, "one", None),
            event(2, "2026-11-29T11:00:00Z", "x", Severity::Info, "two", None),
            event(
                3,
                "2026-11-29T12:00:00Z",
                "x",
                Severity::Info,
                "three",
                None,
            ),
        ];
        let (_dir, s) = searcher_with(&events);
        let now = DateTime::parse_from_rfc3339("2026-11-29T12:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let p = SearchParams {
            since: Some("2h".into()),
            until: Some("2026-11-29T12:00:00Z".into()),
            ..params("*")
        };
        assert_eq!(seqs(&s.search(&p, now).unwrap()), vec![2]);
        let bad = SearchParams {
            since: Some("soon".into()),
            ..params("*")
        };
        assert!(
            matches!(s.search(&bad, now), Err(SearchError::BadParam(m)) if m.contains("\"soon\""))
        );
        assert!(matches!(
            s.search(&params("app:("), now),
            Err(SearchError::BadQuery { .. })
        ));
        let too_many = SearchParams {
            limit: Some(MAX_LIMIT + 1),
            ..params("*")
        };
        assert!(matches!(
            s.search(&too_many, now),
            Err(SearchError::BadParam(_))
        ));
    }
}

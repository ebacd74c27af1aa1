//! Answering searches: a query in tantivy's syntax over the event fields, a time range, the
//! newest matches first.

pub mod count;
pub mod tail;
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

    /// The query text ANDed with the time range, as both search and count use it.
    pub(crate) fn query(
        &self,
        q: &str,
        since: &Option<String>,
        until: &Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Box<dyn Query>, SearchError> {
        let q = q.trim();
        if q.len() > MAX_QUERY_BYTES {
            return Err(SearchError::BadParam(format!(
                "the query is {} bytes, over the limit of {MAX_QUERY_BYTES} bytes (query length)",
                q.len()
            )));
        }
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
        Ok(if since.is_none() && until.is_none() {
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
        })
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
        let query = self.query(&params.q, &params.since, &params.until, now)?;
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
            indexed_lsn: 0, // set by the caller, who knows the index's position
            total: total as u64,
            hits,
            took_us: started.elapsed().as_micros() as u64,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::index::{self, schema};
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

    pub(crate) fn searcher_with(events: &[Event]) -> (tempfile::TempDir, Searcher) {
        let dir = tempfile::tempdir().unwrap();
        let opened = index::open(dir.path()).unwrap();
        let mut writer: tantivy::IndexWriter<TantivyDocument> =
            opened.index.writer_with_num_threads(1, 15_000_000).unwrap();
        for e in events {
            let json = serde_json::to_string(e).unwrap();
            writer
                .add_document(schema::document(&opened.fields, e, &json, e.id.seq))
                .unwrap();
        }
        writer.commit().unwrap();
        opened.reader.reload().unwrap();
        let s = Searcher::new(&opened.index, opened.reader.clone(), opened.fields.clone());
        (dir, s)
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

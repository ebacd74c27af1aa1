//! Answering searches: a query in tantivy's syntax over the event fields, a time range, the
//! newest (or oldest) matches first in a total order, paged by cursor (`order.rs`).

pub mod context;
pub mod count;
pub mod fields;
mod nearest;
pub mod order;
mod query_bounds;
pub mod tail;
pub mod time;
pub mod words;

use std::ops::Bound;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use logwarden_core::Event;
use logwarden_core::wire::{SearchParams, SearchResponse};
use tantivy::collector::Count;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermSetQuery};
use tantivy::schema::Value;
use tantivy::tokenizer::TokenizerManager;
use tantivy::{DocAddress, TantivyDocument, Term};

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
    /// What was asked for is not there (404).
    #[error("{0}")]
    NotFound(String),
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
    /// When set, only the events of the agents it keeps are seen (cluster mode: the agents of
    /// the partitions a collector owns; `cluster/scope.rs`).
    scope: Option<AgentScope>,
}

/// Which agents' events a [`Searcher`] sees.
pub type AgentScope = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// One page of a search: the hits, their positions, how many matched after the cursor, and the
/// position the next page starts after (none on the last page).
pub(crate) struct Page {
    pub hits: Vec<Event>,
    pub positions: Vec<order::Position>,
    pub total: usize,
    pub cursor: Option<order::Position>,
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
        // `field:/regex/`, bounded by `words.rs`.
        parser.allow_regexes();
        Searcher {
            catalog,
            parser: Arc::new(parser),
            fields,
            scope: None,
        }
    }

    /// The same searcher seeing only the events of the agents `keep` keeps.
    pub fn scoped(&self, keep: AgentScope) -> Searcher {
        Searcher {
            scope: Some(keep),
            ..self.clone()
        }
    }

    /// `query` restricted to the agents of the scope, if there is one: the agents the
    /// partitions' term dictionaries hold (a term per agent, not per event) that the scope
    /// keeps.
    fn in_scope(
        &self,
        query: Box<dyn Query>,
        partitions: &[Arc<Partition>],
    ) -> Result<Box<dyn Query>, SearchError> {
        let Some(keep) = &self.scope else {
            return Ok(query);
        };
        let mut agents = std::collections::BTreeSet::new();
        for p in partitions {
            for segment in p.reader.searcher().segment_readers() {
                let index = segment.inverted_index(self.fields.agent)?;
                let mut terms = index
                    .terms()
                    .stream()
                    .map_err(|e| SearchError::Index(e.into()))?;
                while terms.advance() {
                    if let Ok(agent) = std::str::from_utf8(terms.key())
                        && !agents.contains(agent)
                        && keep(agent)
                    {
                        agents.insert(agent.to_owned());
                    }
                }
            }
        }
        let terms = agents
            .iter()
            .map(|a| Term::from_field_text(self.fields.agent, a));
        Ok(Box::new(BooleanQuery::new(vec![
            (Occur::Must, query),
            (Occur::Must, Box::new(TermSetQuery::new(terms))),
        ])))
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
            let bad = |reason: String| SearchError::BadQuery {
                query: q.to_owned(),
                reason,
            };
            let ast = tantivy::query_grammar::parse_query(q)
                .map_err(|_| bad("it does not parse (unbalanced quotes or parentheses, or a field without a value?)".into()))?;
            let ast = words::rewrite(ast).map_err(bad)?;
            self.parser
                .build_query_from_user_input_ast(ast)
                .map_err(|e| bad(e.to_string()))?
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
        let text_query = self.in_scope(text_query, &partitions)?;
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
        let direction =
            order::Direction::parse(params.order.as_deref()).map_err(SearchError::BadParam)?;
        let after = params
            .after
            .as_deref()
            .map(order::Position::parse)
            .transpose()
            .map_err(SearchError::BadParam)?;
        let plan = self.plan(&params.q, &params.since, &params.until, now)?;
        let partitions = plan.partitions.len() as u64;
        let page = self.page(plan, direction, after, limit)?;
        Ok(SearchResponse {
            indexed_lsn: 0, // set by the caller, who knows the index's position
            total: page.total as u64,
            positions: page.positions.iter().map(order::Position::cursor).collect(),
            cursor: page.cursor.map(|at| at.cursor()),
            hits: page.hits,
            took_us: started.elapsed().as_micros() as u64,
            partitions,
            missing_partitions: Vec::new(),
            missing_reasons: Vec::new(),
        })
    }

    /// The first `limit` events of `plan` in `direction`, after the position `after`.
    pub(crate) fn page(
        &self,
        mut plan: Plan,
        direction: order::Direction,
        after: Option<order::Position>,
        limit: usize,
    ) -> Result<Page, SearchError> {
        // Days are searched in the order asked for: every event of a day comes before every
        // event of the next one, so once `limit` hits are in, later days only add to the total.
        if direction == order::Direction::OldestFirst {
            plan.partitions.reverse();
        }
        // With a cursor: nothing of the days before its own, and on its day only what lies
        // beyond it (`nearest.rs` compares each hit's place with it).
        if let Some(at) = after {
            plan.partitions.retain(|p| match direction {
                order::Direction::NewestFirst => p.day <= at.day(),
                order::Direction::OldestFirst => p.day >= at.day(),
            });
        }
        let mut total = 0;
        let mut hits = Vec::with_capacity(limit.min(1000));
        let mut positions = Vec::with_capacity(limit.min(1000));
        // The last hit taken, readable or not, and how many were taken.
        let (mut last, mut taken) = (None, 0usize);
        for p in &plan.partitions {
            let searcher = p.reader.searcher();
            let at = after.filter(|at| at.day() == p.day);
            let wanted = limit - taken;
            if wanted == 0 && at.is_none() {
                total += searcher.search(&plan.query, &Count)?;
                continue;
            }
            let first = nearest::Nearest {
                at,
                direction,
                inclusive: false,
                n: wanted,
                columns: p.order_columns.of(&searcher)?,
            };
            let found = searcher.search(&plan.query, &first)?;
            total += found.total;
            for (at, addr) in found.hits {
                (last, taken) = (Some(at), taken + 1);
                if let Some(e) = self.stored_event(&searcher, addr)? {
                    hits.push(e);
                    positions.push(at);
                }
            }
        }
        // More to come: the place of the last hit is where the next page starts. (A hit whose
        // stored event is unreadable is logged and left out; the cursor still moves past it.)
        Ok(Page {
            hits,
            positions,
            total,
            cursor: last.filter(|_| total > taken),
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

    /// A searcher over partitions written directly (the indexer's own tests go through the WAL);
    /// each event's WAL place is its seq (`lsn`) and line 0.
    pub(crate) fn searcher_with(events: &[Event]) -> (tempfile::TempDir, Searcher) {
        let placed: Vec<_> = events
            .iter()
            .map(|e| {
                let place = schema::WalPlace {
                    lsn: e.id.seq,
                    pos: 0,
                };
                (e.clone(), place)
            })
            .collect();
        searcher_with_places(&placed, 1)
    }

    /// The same with each event's WAL place given, committed in `commits` parts (segments).
    pub(crate) fn searcher_with_places(
        events: &[(Event, schema::WalPlace)],
        commits: usize,
    ) -> (tempfile::TempDir, Searcher) {
        let dir = tempfile::tempdir().unwrap();
        let (catalog, _) = Catalog::open(dir.path(), crate::index::Unusable::Delete).unwrap();
        let mut by_day: std::collections::BTreeMap<_, Vec<_>> = Default::default();
        for (e, place) in events {
            by_day
                .entry(crate::index::partition::day_of(e.ts))
                .or_default()
                .push((e, *place));
        }
        for (day, events) in by_day {
            let p = catalog.get_or_create(day).unwrap();
            let mut writer: tantivy::IndexWriter<TantivyDocument> =
                p.index.writer_with_num_threads(1, 15_000_000).unwrap();
            let per_commit = events.len().div_ceil(commits.max(1));
            for part in events.chunks(per_commit.max(1)) {
                for (e, place) in part {
                    let json = serde_json::to_string(e).unwrap();
                    let doc = schema::document(
                        &p.fields,
                        schema::Indexed::parse(&json).unwrap(),
                        &json,
                        *place,
                    );
                    writer.add_document(doc).unwrap();
                }
                writer.commit().unwrap();
            }
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

//! The index lookups a trace is made of: "the events whose `fields.NAME` is VALUE, in this time
//! range". The `fields` JSON is indexed by words (tantivy's default tokenizer: lower case, split
//! at anything not a letter or digit), so a value is looked up as a phrase of its words and
//! every event found is checked for the exact value before it is used: `<a.1@x>` never matches
//! `<a-1@x>`. Word queries go through tantivy's query parser over the same schema as search, so
//! they are tokenized exactly as the documents were.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use logwarden_core::Event;
use serde_json::Value;
use tantivy::collector::{Collector, FilterCollector, TopDocs};
use tantivy::query::QueryParser;
use tantivy::schema::Value as _;
use tantivy::tokenizer::TokenizerManager;
use tantivy::{Order, TantivyDocument};

use crate::index::{Catalog, Fields, schema};
use crate::search::SearchError;

/// Most events one lookup reads per day of the range, the newest. A queue id reused all month
/// long, or an address with a thousand messages a day, stops here; the trace says it is
/// truncated.
pub const MAX_EVENTS_PER_LOOKUP: usize = 5_000;

/// Words of a value looked up (the longest ones).
const MAX_WORDS: usize = 6;

/// Looks events up by one field's value.
pub struct Lookup {
    catalog: Arc<Catalog>,
    parser: QueryParser,
    fields: Fields,
    /// Lookups made (each one a search over the partitions of the range).
    pub lookups: usize,
    /// Some lookup hit [`MAX_EVENTS_PER_LOOKUP`].
    pub truncated: bool,
}

/// A time range, either end open.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Lookup {
    pub fn new(catalog: Arc<Catalog>) -> Lookup {
        let (schema, fields) = schema::build();
        let parser = QueryParser::new(schema, vec![fields.message], TokenizerManager::default());
        Lookup {
            catalog,
            parser,
            fields,
            lookups: 0,
            truncated: false,
        }
    }

    /// The events whose `fields.<field>` equals `value` (case-insensitive; for a list, one of
    /// its items does), oldest first.
    pub fn by_field(
        &mut self,
        field: &str,
        value: &str,
        range: Range,
    ) -> Result<Vec<Event>, SearchError> {
        self.lookups += 1;
        // Each word of the value, ANDed (not a phrase: the index drops words of 40 bytes and
        // more, which would leave a gap in a phrase); the longest few are enough to narrow it
        // down, the exact check below does the rest.
        let mut words: Vec<&str> = value
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty() && w.len() < 40)
            .collect();
        words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        words.truncate(MAX_WORDS);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let text = words
            .iter()
            .map(|w| format!("fields.{field}:\"{w}\""))
            .collect::<Vec<_>>()
            .join(" AND ");
        let text_query = self
            .parser
            .parse_query(&text)
            .map_err(|e| SearchError::BadQuery {
                query: text.clone(),
                reason: e.to_string(),
            })?;
        let mut out = Vec::new();
        for p in self.catalog.overlapping(range.since, range.until) {
            let searcher = p.reader.searcher();
            let top = TopDocs::with_limit(MAX_EVENTS_PER_LOOKUP)
                .order_by_fast_field::<tantivy::DateTime>("ts", Order::Desc);
            let hits = searcher.search(&text_query, &range.filter(top))?;
            if hits.len() >= MAX_EVENTS_PER_LOOKUP {
                self.truncated = true;
            }
            for (_, addr) in hits {
                let doc: TantivyDocument = searcher.doc(addr)?;
                let Some(json) = doc.get_first(self.fields.raw).and_then(|v| v.as_str()) else {
                    continue;
                };
                match serde_json::from_str::<Event>(json) {
                    Ok(e) if matches(e.fields.get(field), value) => out.push(e),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "stored event unreadable"),
                }
            }
        }
        // Oldest first, as the follower cuts queue ids into their uses in time order.
        out.sort_by_key(|e| e.ts);
        Ok(out)
    }
}

impl Range {
    /// `collector` over the hits in the range only. The range is checked on each hit's `ts`
    /// column rather than put in the query: the hits of a lookup are few (a queue id, a
    /// message id), and a range query on the column scans each segment from its start (tens of
    /// milliseconds per lookup over a 10M-event day).
    fn filter<C: Collector>(
        self,
        collector: C,
    ) -> FilterCollector<
        C,
        impl Fn(tantivy::DateTime) -> bool + Clone + Send + Sync,
        tantivy::DateTime,
    > {
        let micros = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_micros());
        let (since, until) = (micros(self.since), micros(self.until));
        let within = move |ts: tantivy::DateTime| {
            let ts = ts.into_timestamp_micros();
            since.is_none_or(|s| ts >= s) && until.is_none_or(|u| ts < u)
        };
        FilterCollector::new("ts".to_owned(), within, collector)
    }
}

/// Whether a field's value is `want` (or, for a list, holds it), ignoring ASCII case.
pub fn matches(v: Option<&Value>, want: &str) -> bool {
    match v {
        Some(Value::String(s)) => s.eq_ignore_ascii_case(want),
        Some(Value::Array(items)) => items.iter().any(|i| matches(Some(i), want)),
        _ => false,
    }
}

//! Field discovery: which extracted fields (`fields.NAME`) the events matching a query have, and
//! how many have each. The names come from the columns of the fast JSON field (one per name and
//! type in each segment, `index::schema`), the counts from the query ANDed with "has a value"
//! (tantivy's exists query on that column). The most frequent values of one field are
//! `count --by fields.NAME` (`count.rs`).

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::{DateTime, Utc};
use logwarden_core::wire::{CountBucket, FieldsResponse};
use tantivy::collector::Count;
use tantivy::query::{BooleanQuery, ExistsQuery, Occur, Query};

use super::{SearchError, Searcher};

/// Most field names reported (the most frequent).
pub const MAX_FIELDS: usize = 500;

impl Searcher {
    pub fn fields(
        &self,
        q: &str,
        since: &Option<String>,
        until: &Option<String>,
        now: DateTime<Utc>,
    ) -> Result<FieldsResponse, SearchError> {
        let started = Instant::now();
        let plan = self.plan(q, since, until, now)?;
        let mut total = 0u64;
        let mut fields: Vec<CountBucket> = Vec::new();
        let mut names = BTreeSet::new();
        for part in &plan.partitions {
            // The names of a segment's columns are in its fast field file's dictionary, read
            // without reading any column. A column of the JSON field is named "fields", 0x01,
            // then its path with 0x01 between the names.
            for segment in part.index.searchable_segments()? {
                let file = segment
                    .open_read(tantivy::index::SegmentComponent::FastFields)
                    .map_err(|e| SearchError::Index(e.into()))?;
                let columns = tantivy::columnar::ColumnarReader::open(file)
                    .and_then(|c| c.list_columns())
                    .map_err(|e| SearchError::Index(e.into()))?;
                for (column, _) in columns {
                    if let Some(path) = column.strip_prefix("fields\u{1}") {
                        names.insert(format!("fields.{}", path.replace('\u{1}', ".")));
                    }
                }
            }
        }
        for part in &plan.partitions {
            let searcher = part.reader.searcher();
            total += searcher.search(&plan.query, &Count)? as u64;
        }
        for name in names {
            let has: Box<dyn Query> = Box::new(ExistsQuery::new(name.clone(), false));
            let query = BooleanQuery::new(vec![
                (Occur::Must, plan.query.box_clone()),
                (Occur::Must, has),
            ]);
            let mut count = 0u64;
            for part in &plan.partitions {
                count += part.reader.searcher().search(&query, &Count)? as u64;
            }
            if count > 0 {
                fields.push(CountBucket {
                    key: name,
                    count,
                    keys: Vec::new(),
                });
            }
        }
        fields.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        fields.truncate(MAX_FIELDS);
        Ok(FieldsResponse {
            total,
            fields,
            partitions: plan.partitions.len() as u64,
            took_us: started.elapsed().as_micros() as u64,
            ..FieldsResponse::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::tests::{event, searcher_with};
    use logwarden_core::Severity;

    #[test]
    fn the_fields_of_the_matching_events_with_their_counts() {
        let mut events = Vec::new();
        for i in 0..6u64 {
            let app = if i < 4 { "postfix/smtpd" } else { "sshd" };
            let mut e = event(i, "2026-11-29T10:00:00Z", app, Severity::Info, "m", None);
            e.fields.insert("ip".into(), format!("10.0.0.{i}").into());
            if i < 4 {
                e.fields.insert("queue_id".into(), "4F2A1".into());
                e.fields.insert("size".into(), serde_json::json!(1200 + i));
            }
            if i == 0 {
                e.fields.insert(
                    "sd".into(),
                    serde_json::json!({"meta@1": {"user": "alice"}}),
                );
            }
            events.push(e);
        }
        let (_dir, s) = searcher_with(&events);
        let got = |q: &str| -> Vec<(String, u64)> {
            let r = s.fields(q, &None, &None, Utc::now()).unwrap();
            r.fields.into_iter().map(|b| (b.key, b.count)).collect()
        };
        assert_eq!(
            got("*"),
            vec![
                ("fields.ip".into(), 6),
                ("fields.queue_id".into(), 4),
                ("fields.size".into(), 4),
                ("fields.sd.meta@1.user".into(), 1),
            ]
        );
        assert_eq!(got("app:sshd"), vec![("fields.ip".into(), 2)]);
        assert!(got("nothing").is_empty());
    }
}

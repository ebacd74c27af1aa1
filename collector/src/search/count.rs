//! Counting: how many events match, by the values of a keyword field (tantivy's terms
//! aggregation on its fast column) or over time (a date histogram on `ts`). Each partition the
//! time range reaches is aggregated on its own and the partial results merged, as tantivy's
//! distributed aggregations do across indexes.

use chrono::{DateTime, Utc};
use logwarden_core::wire::{CountBucket, CountParams, CountResponse};
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
use tantivy::aggregation::{AggregationLimitsGuard, DistributedAggregationCollector};
use tantivy::collector::Count;

use super::{SearchError, Searcher, time};
use crate::index::partition::start_of;

/// The fields `by` accepts: the keyword fields kept as fast columns (see `index::schema`).
pub const BY_FIELDS: [&str; 6] = ["host", "site", "app", "severity", "kind", "source"];
pub const DEFAULT_TERMS: usize = 10;
pub const MAX_TERMS: usize = 1000;
/// A histogram of more buckets than this is refused: ask for a wider `every` or a shorter range.
pub const MAX_BUCKETS: i64 = 10_000;

impl Searcher {
    pub fn count(&self, p: &CountParams, now: DateTime<Utc>) -> Result<CountResponse, SearchError> {
        let plan = self.plan(&p.q, &p.since, &p.until, now)?;
        let partitions = plan.partitions.len() as u64;
        let agg = match (&p.by, &p.every) {
            (Some(_), Some(_)) => {
                return Err(SearchError::BadParam(
                    "give either by or every, not both".into(),
                ));
            }
            (Some(field), None) => {
                if !BY_FIELDS.contains(&field.as_str()) {
                    return Err(SearchError::BadParam(format!(
                        "count by {field:?} is not possible; use one of {}",
                        BY_FIELDS.join(", ")
                    )));
                }
                let size = p.limit.unwrap_or(DEFAULT_TERMS);
                if size == 0 || size > MAX_TERMS {
                    return Err(SearchError::BadParam(format!(
                        "limit must be 1 to {MAX_TERMS}"
                    )));
                }
                serde_json::json!({"c": {"terms": {"field": field, "size": size}}})
            }
            (None, Some(every)) => {
                let width = time::parse_duration(every)
                    .map_err(|why| SearchError::BadParam(format!("every {every:?}: {why}")))?;
                let secs = width.num_seconds();
                if secs <= 0 {
                    return Err(SearchError::BadParam(format!(
                        "every {every:?} must be at least 1s"
                    )));
                }
                // The buckets span `since` (or the oldest day searched) to `until` (or now),
                // and no further: unbounded, one bucket per `every` over all the data answered
                // a 37-byte request (`every=1s`) with megabytes.
                let bound = |s: &Option<String>| {
                    s.as_deref()
                        .filter(|s| !s.trim().is_empty())
                        .map(|s| time::parse_time(s, now))
                        .transpose()
                        .map_err(SearchError::BadParam)
                };
                let to = bound(&p.until)?.unwrap_or(now);
                let from = bound(&p.since)?
                    .or_else(|| plan.partitions.last().map(|p| start_of(p.day)))
                    .unwrap_or(to)
                    .min(to);
                let buckets = (to - from).num_seconds() / secs;
                if buckets > MAX_BUCKETS {
                    return Err(SearchError::BadParam(format!(
                        "every {every:?} from {from} to {to} makes {buckets} buckets, more than {MAX_BUCKETS}; use a wider every or a shorter since/until"
                    )));
                }
                serde_json::json!({"c": {"date_histogram": {
                    "field": "ts",
                    "fixed_interval": format!("{secs}s"),
                    "hard_bounds": {"min": from.timestamp_millis(), "max": to.timestamp_millis()},
                }}})
            }
            (None, None) => {
                let mut total = 0;
                for part in &plan.partitions {
                    total += part.reader.searcher().search(&plan.query, &Count)? as u64;
                }
                return Ok(CountResponse {
                    total,
                    buckets: Vec::new(),
                    partitions,
                });
            }
        };
        let aggs: Aggregations =
            serde_json::from_value(agg).expect("aggregation request is well formed");
        let mut total = 0;
        let mut merged: Option<IntermediateAggregationResults> = None;
        for part in &plan.partitions {
            let collector =
                DistributedAggregationCollector::from_aggs(aggs.clone(), Default::default());
            let (n, partial) = part
                .reader
                .searcher()
                .search(&plan.query, &(Count, collector))?;
            total += n;
            match &mut merged {
                Some(m) => m.merge_fruits(partial)?,
                None => merged = Some(partial),
            }
        }
        let Some(merged) = merged else {
            return Ok(CountResponse {
                total: 0,
                buckets: Vec::new(),
                partitions,
            });
        };
        let result = merged.into_final_result(aggs, AggregationLimitsGuard::default())?;
        let json =
            serde_json::to_value(&result).map_err(|e| SearchError::BadParam(e.to_string()))?;
        let buckets = json["c"]["buckets"]
            .as_array()
            .map(|bs| {
                bs.iter()
                    .filter_map(|b| {
                        let key = b.get("key_as_string").or_else(|| b.get("key"))?;
                        let key = key
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| key.to_string());
                        Some(CountBucket {
                            key,
                            count: b.get("doc_count")?.as_u64()?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(CountResponse {
            total: total as u64,
            buckets,
            partitions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::tests::{event, searcher_with};
    use logwarden_core::Severity;

    #[test]
    fn counts_total_by_field_and_over_time() {
        let events = [
            event(
                1,
                "2026-11-29T10:00:00Z",
                "sshd",
                Severity::Err,
                "failed",
                None,
            ),
            event(
                2,
                "2026-11-29T10:10:00Z",
                "sshd",
                Severity::Err,
                "failed",
                None,
            ),
            event(
                3,
                "2026-11-29T11:05:00Z",
                "postfix",
                Severity::Info,
                "sent",
                None,
            ),
        ];
        let (_dir, s) = searcher_with(&events);
        let now = DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let p = |by: Option<&str>, every: Option<&str>| CountParams {
            q: "*".into(),
            by: by.map(Into::into),
            every: every.map(Into::into),
            ..CountParams::default()
        };
        assert_eq!(s.count(&p(None, None), now).unwrap().total, 3);
        let by = s.count(&p(Some("app"), None), now).unwrap();
        let got: Vec<(String, u64)> = by
            .buckets
            .iter()
            .map(|b| (b.key.clone(), b.count))
            .collect();
        assert_eq!(got, vec![("sshd".into(), 2), ("postfix".into(), 1)]);
        let hist = s.count(&p(None, Some("1h")), now).unwrap();
        let got: Vec<(String, u64)> = hist
            .buckets
            .iter()
            .map(|b| (b.key.clone(), b.count))
            .collect();
        assert_eq!(
            got,
            vec![
                ("2026-11-29T10:00:00Z".into(), 2),
                ("2026-11-29T11:00:00Z".into(), 1)
            ]
        );
        assert!(
            matches!(s.count(&p(Some("message"), None), now), Err(SearchError::BadParam(m)) if m.contains("host"))
        );
        assert!(s.count(&p(Some("app"), Some("1h")), now).is_err());
    }
}

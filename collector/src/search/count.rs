//! Counting: how many events match, by the values of a field (tantivy's terms aggregation on its
//! fast column: the keyword fields, or `fields.NAME` in the fast JSON field; two fields make
//! pairs, a terms aggregation under another) or over time (a date histogram on `ts`). Each
//! partition the time range reaches is aggregated on its own and the partial results merged, as
//! tantivy's distributed aggregations do across indexes. Counts by value come with `other`: the
//! events in none of the top buckets.

use chrono::{DateTime, Utc};
use logwarden_core::wire::{CountBucket, CountParams, CountResponse};
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
use tantivy::aggregation::{AggregationLimitsGuard, DistributedAggregationCollector};
use tantivy::collector::Count;

use super::{SearchError, Searcher, time};
use crate::index::partition::start_of;

/// The fields `by` accepts besides `fields.NAME`: the keyword fields kept as fast columns (see
/// `index::schema`).
pub const BY_FIELDS: [&str; 6] = ["host", "site", "app", "severity", "kind", "source"];
pub const DEFAULT_TERMS: usize = 10;
pub const MAX_TERMS: usize = 1000;
/// Most pairs asked for with two `by` fields (each level keeps that many values: the buckets
/// grow as its square).
pub const MAX_PAIRS: usize = 200;
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
            (Some(by), None) => self.terms_request(&plan, by, p.limit)?,
            (None, Some(every)) => histogram_request(&plan, p, every, now)?,
            (None, None) => {
                let mut total = 0;
                for part in &plan.partitions {
                    total += part.reader.searcher().search(&plan.query, &Count)? as u64;
                }
                return Ok(CountResponse {
                    total,
                    buckets: Vec::new(),
                    partitions,
                    other: None,
                    ..CountResponse::default()
                });
            }
        };
        let aggs: Aggregations =
            serde_json::from_value(agg).expect("aggregation request is well formed");
        let (total, merged) = aggregate(&plan, &aggs)?;
        let Some(merged) = merged else {
            return Ok(CountResponse {
                total: 0,
                buckets: Vec::new(),
                partitions,
                other: p.by.as_ref().map(|_| 0),
                ..CountResponse::default()
            });
        };
        let result = merged.into_final_result(aggs, AggregationLimitsGuard::default())?;
        let json =
            serde_json::to_value(&result).map_err(|e| SearchError::BadParam(e.to_string()))?;
        let mut buckets = buckets_of(&json);
        let other = p.by.as_ref().map(|_| {
            // Pairs: the largest of every first value's; the top `limit` of them.
            buckets.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
            buckets.truncate(p.limit.unwrap_or(DEFAULT_TERMS));
            (total as u64).saturating_sub(buckets.iter().map(|b| b.count).sum())
        });
        Ok(CountResponse {
            total: total as u64,
            buckets,
            partitions,
            other,
            ..CountResponse::default()
        })
    }

    /// The terms aggregation for `by` (one field, or a second under the first for pairs), with
    /// `limit` checked against what each form allows.
    fn terms_request(
        &self,
        plan: &super::Plan,
        by: &str,
        limit: Option<usize>,
    ) -> Result<serde_json::Value, SearchError> {
        let fields = by_fields(by)?;
        let size = limit.unwrap_or(DEFAULT_TERMS);
        let most = if fields.len() == 1 {
            MAX_TERMS
        } else {
            MAX_PAIRS
        };
        if size == 0 || size > most {
            return Err(SearchError::BadParam(format!(
                "limit must be 1 to {most} when counting by {by}"
            )));
        }
        self.check_columns(plan, &fields)?;
        let mut agg = serde_json::json!({"c": {"terms": {"field": fields[0], "size": size}}});
        if let Some(second) = fields.get(1) {
            agg["c"]["aggs"] = serde_json::json!({"c": {"terms": {"field": second, "size": size}}});
        }
        Ok(agg)
    }

    /// A `fields.NAME` to count by must be a column of some partition in the range: else the
    /// name is not one any event has (a typo, most likely), which is said rather than answered
    /// with nothing.
    fn check_columns(&self, plan: &super::Plan, fields: &[String]) -> Result<(), SearchError> {
        for f in fields.iter().filter(|f| f.starts_with("fields.")) {
            let mut found = false;
            'partitions: for part in &plan.partitions {
                for segment in part.reader.searcher().segment_readers() {
                    if !segment.fast_fields().dynamic_column_handles(f)?.is_empty() {
                        found = true;
                        break 'partitions;
                    }
                }
            }
            if !found && !plan.partitions.is_empty() {
                return Err(SearchError::BadParam(format!(
                    "count by {f:?}: no event in the time range has that field (`logwarden fields` lists those there are)"
                )));
            }
        }
        Ok(())
    }
}

impl Searcher {
    /// The exact counts of the given values of `by` (each one value, or two for pairs): a
    /// terms aggregation that includes those values only, so that no index segment cuts its
    /// list short. Cluster mode's second round of a count by value (`cluster/fanout.rs`).
    pub fn count_values(
        &self,
        p: &CountParams,
        values: &[Vec<String>],
        now: DateTime<Utc>,
    ) -> Result<Vec<CountBucket>, SearchError> {
        let by = p.by.as_deref().unwrap_or_default();
        let fields = by_fields(by)?;
        let plan = self.plan(&p.q, &p.since, &p.until, now)?;
        self.check_columns(&plan, &fields)?;
        let level = |i: usize| -> Result<Vec<String>, SearchError> {
            let mut v: Vec<String> = values
                .iter()
                .map(|keys| {
                    keys.get(i).cloned().ok_or_else(|| {
                        SearchError::BadParam(format!("values: {keys:?} is not a value of {by}"))
                    })
                })
                .collect::<Result<_, _>>()?;
            v.sort();
            v.dedup();
            Ok(v)
        };
        let terms = |field: &str, include: Vec<String>| {
            serde_json::json!({"terms": {
                "field": field, "size": include.len().max(1), "include": include,
            }})
        };
        let mut agg = serde_json::json!({"c": terms(&fields[0], level(0)?)});
        if let Some(second) = fields.get(1) {
            agg["c"]["aggs"] = serde_json::json!({"c": terms(second, level(1)?)});
        }
        let aggs: Aggregations = serde_json::from_value(agg)
            .map_err(|e| SearchError::BadParam(format!("values: {e}")))?;
        let (_, merged) = aggregate(&plan, &aggs)?;
        let Some(merged) = merged else {
            return Ok(Vec::new());
        };
        let result = merged.into_final_result(aggs, AggregationLimitsGuard::default())?;
        let json =
            serde_json::to_value(&result).map_err(|e| SearchError::BadParam(e.to_string()))?;
        let wanted: std::collections::HashSet<&[String]> =
            values.iter().map(Vec::as_slice).collect();
        Ok(buckets_of(&json)
            .into_iter()
            .filter(|b| {
                let single = [b.key.clone()];
                let keys = if b.keys.is_empty() {
                    &single[..]
                } else {
                    &b.keys[..]
                };
                wanted.contains(keys)
            })
            .collect())
    }
}

/// The date histogram on `ts` for `every`, bounded to the range asked for.
fn histogram_request(
    plan: &super::Plan,
    p: &CountParams,
    every: &str,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, SearchError> {
    let width = time::parse_duration(every)
        .map_err(|why| SearchError::BadParam(format!("every {every:?}: {why}")))?;
    let secs = width.num_seconds();
    if secs <= 0 {
        return Err(SearchError::BadParam(format!(
            "every {every:?} must be at least 1s"
        )));
    }
    // The buckets span `since` (or the oldest day searched) to `until` (or now), and no
    // further: unbounded, one bucket per `every` over all the data answered a 37-byte request
    // (`every=1s`) with megabytes.
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
    Ok(serde_json::json!({"c": {"date_histogram": {
        "field": "ts",
        "fixed_interval": format!("{secs}s"),
        "hard_bounds": {"min": from.timestamp_millis(), "max": to.timestamp_millis()},
    }}}))
}

/// Each partition aggregated on its own, the partial results merged: the events matched and
/// the merged aggregation (`None`: no partition in the range).
fn aggregate(
    plan: &super::Plan,
    aggs: &Aggregations,
) -> Result<(usize, Option<IntermediateAggregationResults>), SearchError> {
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
    Ok((total, merged))
}

/// The buckets of the final result: one per value (or time), or one per pair of values.
fn buckets_of(json: &serde_json::Value) -> Vec<CountBucket> {
    let mut buckets = Vec::new();
    for b in json["c"]["buckets"].as_array().into_iter().flatten() {
        let (Some(key), Some(count)) = (bucket_key(b), b["doc_count"].as_u64()) else {
            continue;
        };
        match b["c"]["buckets"].as_array() {
            None => buckets.push(CountBucket {
                key,
                count,
                keys: Vec::new(),
            }),
            Some(inner) => {
                for i in inner {
                    let (Some(second), Some(count)) = (bucket_key(i), i["doc_count"].as_u64())
                    else {
                        continue;
                    };
                    buckets.push(CountBucket {
                        key: format!("{key} {second}"),
                        count,
                        keys: vec![key.clone(), second],
                    });
                }
            }
        }
    }
    buckets
}

/// `host`, `fields.ip`, `host,app`: one or two fields, each a keyword field or `fields.NAME`.
fn by_fields(by: &str) -> Result<Vec<String>, SearchError> {
    let fields: Vec<String> = by.split(',').map(|f| f.trim().to_owned()).collect();
    if fields.len() > 2 {
        return Err(SearchError::BadParam(format!(
            "count by {by:?}: at most two fields (pairs of values)"
        )));
    }
    for f in &fields {
        let json = f.strip_prefix("fields.").is_some_and(|n| !n.is_empty());
        if !json && !BY_FIELDS.contains(&f.as_str()) {
            return Err(SearchError::BadParam(format!(
                "count by {f:?} is not possible; use one of {} or fields.NAME",
                BY_FIELDS.join(", ")
            )));
        }
    }
    Ok(fields)
}

/// A bucket's key as text: strings as they are, whole numbers without a fraction.
fn bucket_key(b: &serde_json::Value) -> Option<String> {
    let key = b.get("key_as_string").or_else(|| b.get("key"))?;
    Some(match key {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    })
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
        assert_eq!(by.other, Some(0));
        assert!(
            matches!(s.count(&p(Some("message"), None), now), Err(SearchError::BadParam(m)) if m.contains("host"))
        );
        assert!(s.count(&p(Some("app"), Some("1h")), now).is_err());
    }

    #[test]
    fn counts_by_any_field_pairs_and_the_rest_as_other() {
        let mut events = Vec::new();
        // ip 10.0.0.1 x5, .2 x3, .3 x1, and one event without an ip; ports as numbers.
        let ips = ["1", "1", "1", "1", "1", "2", "2", "2", "3"];
        for (i, ip) in ips.iter().enumerate() {
            let mut e = event(
                i as u64,
                "2026-11-29T10:00:00Z",
                if i % 2 == 0 { "sshd" } else { "postfix/smtpd" },
                Severity::Info,
                "connect",
                None,
            );
            e.host = if i < 6 { "mbox1" } else { "mbox2" }.into();
            e.fields.insert("ip".into(), format!("10.0.0.{ip}").into());
            e.fields
                .insert("port".into(), serde_json::json!(22 + (i % 2) as u64));
            events.push(e);
        }
        events.push(event(
            99,
            "2026-11-29T10:00:00Z",
            "x",
            Severity::Info,
            "no ip",
            None,
        ));
        let (_dir, s) = searcher_with(&events);
        let now = DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let count = |q: &str, by: &str, limit: usize| {
            s.count(
                &CountParams {
                    q: q.into(),
                    by: Some(by.into()),
                    limit: Some(limit),
                    ..CountParams::default()
                },
                now,
            )
        };
        let pairs = |r: &CountResponse| -> Vec<(String, u64)> {
            r.buckets.iter().map(|b| (b.key.clone(), b.count)).collect()
        };
        let r = count("*", "fields.ip", 2).unwrap();
        assert_eq!(
            pairs(&r),
            vec![("10.0.0.1".into(), 5), ("10.0.0.2".into(), 3)]
        );
        assert_eq!(
            (r.total, r.other),
            (10, Some(2)),
            ".3 and the event without an ip"
        );
        let r = count("connect AND app:sshd", "fields.port", 10).unwrap();
        assert_eq!(pairs(&r), vec![("22".into(), 5)], "numbers as numbers");
        let r = count("*", "host,app", 3).unwrap();
        assert_eq!(
            pairs(&r),
            vec![
                ("mbox1 postfix/smtpd".into(), 3),
                ("mbox1 sshd".into(), 3),
                ("mbox2 sshd".into(), 2),
            ]
        );
        assert_eq!(r.buckets[0].keys, vec!["mbox1", "postfix/smtpd"]);
        assert_eq!(r.other, Some(2), "mbox2's postfix/smtpd, mbox3's x");
        let bad = |by: &str, why: &str| match count("*", by, 10) {
            Err(SearchError::BadParam(m)) => assert!(m.contains(why), "{by}: {m}"),
            other => panic!("{by}: {:?}", other.map(|r| r.total)),
        };
        bad("fields.nope", "no event in the time range has that field");
        bad("message", "\"message\" is not possible");
        bad("fields.", "\"fields.\" is not possible");
        bad("host,app,site", "at most two fields");
        assert!(count("*", "host,app", MAX_PAIRS + 1).is_err());
    }
}

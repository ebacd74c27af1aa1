//! Fanned-out reads: in cluster mode, a search, count or fleet view asked of any collector is
//! asked of the owner of every partition, and the answers merged (docs/scale.md, "Fan-out").
//!
//! 1. The owners: the lease bucket says who owns each partition now (`part.<p>`), and each
//!    owner's membership entry the URL it is reached at (`lease.rs`).
//! 2. Each owner is asked, with the read token of `[cluster] token_file`, for the partitions
//!    the bucket gives it (`owner.rs`); it answers only for those it owns, so that no
//!    partition is counted twice.
//! 3. The answers are merged: hits in the cluster's total order (`cursor.rs`), counts summed.
//!    The partitions of an owner that did not answer, that has none, or that no longer owned
//!    them are named in `missing_partitions` (with the reasons in `missing_reasons`): an
//!    answer is complete or says what it lacks.
//!
//! An owner's answer that refuses the request (4xx: a bad query, cursor or limit) is the
//! answer: the request is as bad everywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use logwarden_core::wire::{
    ContextParams, ContextResponse, CountBucket, CountParams, CountResponse, FieldsParams,
    FieldsResponse, FleetResponse, SearchParams, SearchResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cursor::{self, ClusterPosition};
use super::exact_count;
use super::lease;
use super::member::Member;
use super::owner::{self, Asked};
use crate::api::error::ApiError;
use crate::search::count::{MAX_PAIRS, MAX_TERMS};
use crate::search::order::Direction;
use crate::search::{DEFAULT_LIMIT, MAX_LIMIT, time};

/// How long an owner may take to answer one request.
const ASK_TIMEOUT: Duration = Duration::from_secs(20);

/// Who to ask: per owner's URL, its id and the partitions the bucket gives it; and the
/// partitions nobody can answer for now.
#[derive(Debug, Default)]
pub(super) struct Owners {
    pub by_url: BTreeMap<String, (String, Vec<u32>)>,
    pub missing: BTreeSet<u32>,
    pub reasons: Vec<String>,
}

/// Reads who owns what from the lease bucket.
pub(super) async fn owners(member: &Member) -> Result<Owners, ApiError> {
    let unavailable = |why: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why);
    let kv = member.leases().await.map_err(unavailable)?;
    let n = member.settings.partitions;
    let leases = futures_util::future::join_all(
        (0..n).map(|p| async move { (p, lease::owner(kv, p).await) }),
    )
    .await;
    let mut by_id: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut out = Owners::default();
    let mut unowned = Vec::new();
    for (p, owner) in leases {
        match owner.map_err(unavailable)? {
            Some(id) => by_id.entry(id).or_default().push(p),
            None => unowned.push(p),
        }
    }
    if !unowned.is_empty() {
        out.reasons.push(format!(
            "partitions {unowned:?} have no owner now (being taken over)"
        ));
        out.missing.extend(unowned);
    }
    for (id, parts) in by_id {
        match lease::url_of(kv, &id, n).await.map_err(unavailable)? {
            Some(url) => {
                out.by_url.insert(url, (id, parts));
            }
            None => {
                out.reasons.push(format!(
                    "{id} owns partitions {parts:?} but publishes no address (an older version, or it stopped)"
                ));
                out.missing.extend(parts);
            }
        }
    }
    Ok(out)
}

/// The client of the calls between collectors.
fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(ASK_TIMEOUT)
            .build()
            .unwrap_or_default()
    })
}

/// The read token sent to the others (`[cluster] token_file`), read at each call so that a
/// changed file needs no restart.
pub(super) fn token(member: &Member) -> Result<Option<String>, ApiError> {
    let Some(path) = &member.settings.token_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("[cluster] token_file {}: {e}", path.display()),
        )
    })?;
    Ok(Some(text.trim().to_owned()))
}

/// One owner's answer, or why there is none: `Err(Ok(refusal))` when it refused the request
/// itself (4xx), `Err(Err(why))` when it did not answer.
type Answer<T> = Result<T, Result<ApiError, String>>;

async fn ask<T: DeserializeOwned>(
    url: &str,
    path: &str,
    params: &impl Serialize,
    parts: &[u32],
    token: Option<&str>,
) -> Answer<T> {
    let mut req = client()
        .get(format!("{url}{path}"))
        .query(params)
        .query(&[("partitions", Asked::of(parts))]);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|e| Err(format!("{url}: {e}")))?;
    let status = resp.status();
    if status.is_client_error()
        && status != StatusCode::UNAUTHORIZED
        && status != StatusCode::FORBIDDEN
    {
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let why = body["error"].as_str().unwrap_or("refused").to_owned();
        return Err(Ok(ApiError::new(status, why)));
    }
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(Err(format!("{url}: {status} {}", body.trim())));
    }
    resp.json::<T>()
        .await
        .map_err(|e| Err(format!("{url}: the answer does not read: {e}")))
}

/// One owner's answer: its address, id and the partitions asked of it, and what it said.
type Answered<T> = (String, String, Vec<u32>, T);

/// Asks every owner for its partitions at once: the answers, and `owners` with the
/// partitions of those that did not answer added to the missing.
async fn ask_all<T: DeserializeOwned>(
    member: &Member,
    path: &str,
    params: &(impl Serialize + Sync),
) -> Result<(Vec<T>, Owners), ApiError> {
    let (answers, owners) = ask_each(member, path, params).await?;
    Ok((answers.into_iter().map(|(_, _, _, a)| a).collect(), owners))
}

/// [`ask_all`], each answer with who gave it.
async fn ask_each<T: DeserializeOwned>(
    member: &Member,
    path: &str,
    params: &(impl Serialize + Sync),
) -> Result<(Vec<Answered<T>>, Owners), ApiError> {
    let mut owners = owners(member).await?;
    let token = token(member)?;
    let asks = owners.by_url.iter().map(|(url, (id, parts))| {
        let token = token.as_deref();
        async move {
            let answer = ask::<T>(url, path, params, parts, token).await;
            (url.clone(), id.clone(), parts.clone(), answer)
        }
    });
    let mut answers = Vec::new();
    for (url, id, parts, answer) in futures_util::future::join_all(asks).await {
        match answer {
            Ok(a) => answers.push((url, id, parts, a)),
            Err(Ok(refused)) => return Err(refused),
            Err(Err(why)) => {
                tracing::warn!(owner = %id, partitions = ?parts, error = %why, "cluster: an owner did not answer");
                owners
                    .reasons
                    .push(format!("{id} ({parts:?}) did not answer: {why}"));
                owners.missing.extend(parts);
            }
        }
    }
    owners.by_url.clear();
    Ok((answers, owners))
}

/// `since` and `until` as absolute times, so that every owner reads them alike.
fn absolute(
    since: &Option<String>,
    until: &Option<String>,
    now: DateTime<Utc>,
) -> Result<(Option<String>, Option<String>), ApiError> {
    let at = |s: &Option<String>| -> Result<Option<String>, ApiError> {
        s.as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                time::parse_time(s, now)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                    .map_err(|why| ApiError::new(StatusCode::BAD_REQUEST, why))
            })
            .transpose()
    };
    Ok((at(since)?, at(until)?))
}

/// A fanned-out search.
pub async fn search(member: &Member, mut params: SearchParams) -> Result<SearchResponse, ApiError> {
    let started = std::time::Instant::now();
    let bad = |why: String| ApiError::new(StatusCode::BAD_REQUEST, why);
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if limit > MAX_LIMIT {
        return Err(bad(format!(
            "limit {limit} is over the maximum of {MAX_LIMIT} (result size)"
        )));
    }
    let direction = Direction::parse(params.order.as_deref()).map_err(bad)?;
    if let Some(after) = &params.after {
        ClusterPosition::parse(after).map_err(bad)?;
    }
    (params.since, params.until) = absolute(&params.since, &params.until, Utc::now())?;
    let (answers, owners) = ask_all::<SearchResponse>(member, owner::SEARCH_PATH, &params).await?;
    let mut merged = merge_search(answers, direction, limit, owners);
    merged.took_us = started.elapsed().as_micros() as u64;
    Ok(merged)
}

fn merge_search(
    answers: Vec<SearchResponse>,
    direction: Direction,
    limit: usize,
    mut owners: Owners,
) -> SearchResponse {
    let (mut total, mut days) = (0, 0);
    let mut found = Vec::new();
    for a in answers {
        total += a.total;
        days = days.max(a.partitions);
        owners.missing.extend(a.missing_partitions);
        owners.reasons.extend(a.missing_reasons);
        for (at, hit) in a.positions.iter().zip(a.hits) {
            if let Ok(at) = ClusterPosition::parse(at) {
                found.push((at, hit));
            }
        }
    }
    cursor::sort(&mut found, direction);
    found.truncate(limit);
    let cursor = found
        .last()
        .filter(|_| total > found.len() as u64)
        .map(|(at, _)| at.cursor());
    let (positions, hits) = found.into_iter().map(|(at, e)| (at.cursor(), e)).unzip();
    SearchResponse {
        indexed_lsn: 0,
        total,
        hits,
        positions,
        cursor,
        took_us: 0,
        partitions: days,
        missing_partitions: owners.missing.into_iter().collect(),
        missing_reasons: owners.reasons,
    }
}

/// The context of a hit of a fanned-out search (its position a cluster cursor), asked of the
/// owner of its partition now, by the hit's event id.
pub async fn context(
    member: &Member,
    mut params: ContextParams,
) -> Result<ContextResponse, ApiError> {
    let unavailable = |why: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why);
    let at = ClusterPosition::parse(&params.at)
        .map_err(|why| ApiError::new(StatusCode::BAD_REQUEST, why))?;
    let p = at.partition;
    let kv = member.leases().await.map_err(unavailable)?;
    let Some(id) = lease::owner(kv, p).await.map_err(unavailable)? else {
        return Err(unavailable(format!(
            "cluster: partition {p} has no owner now (being taken over); try again"
        )));
    };
    let Some(url) = lease::url_of(kv, &id, member.settings.partitions)
        .await
        .map_err(unavailable)?
    else {
        return Err(unavailable(format!(
            "cluster: {id} owns partition {p} but publishes no address"
        )));
    };
    // By its id, which is the same on every owner the partition had.
    params.at = logwarden_core::EventId::new(at.agent.as_str(), at.seq).to_string();
    let token = token(member)?;
    match ask(&url, owner::CONTEXT_PATH, &params, &[p], token.as_deref()).await {
        Ok(answer) => Ok(answer),
        Err(Ok(refused)) => Err(refused),
        Err(Err(why)) => Err(unavailable(format!(
            "cluster: {id}, the owner of partition {p}, did not answer: {why}"
        ))),
    }
}

/// The fields of the matching events over every owner: counts summed per name, most frequent
/// first (each owner lists at most `MAX_FIELDS` names: past that, the merge may miss some).
pub async fn fields(member: &Member, mut params: FieldsParams) -> Result<FieldsResponse, ApiError> {
    let started = std::time::Instant::now();
    (params.since, params.until) = absolute(&params.since, &params.until, Utc::now())?;
    let (answers, mut owners) =
        ask_all::<FieldsResponse>(member, owner::FIELDS_PATH, &params).await?;
    let mut merged = FieldsResponse::default();
    let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
    for a in answers {
        merged.total += a.total;
        merged.partitions = merged.partitions.max(a.partitions);
        owners.missing.extend(a.missing_partitions);
        owners.reasons.extend(a.missing_reasons);
        for f in a.fields {
            *by_name.entry(f.key).or_default() += f.count;
        }
    }
    merged.fields = by_name
        .into_iter()
        .map(|(key, count)| CountBucket {
            key,
            count,
            keys: Vec::new(),
        })
        .collect();
    merged
        .fields
        .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    merged.fields.truncate(crate::search::fields::MAX_FIELDS);
    merged.missing_partitions = owners.missing.into_iter().collect();
    merged.missing_reasons = owners.reasons;
    merged.took_us = started.elapsed().as_micros() as u64;
    Ok(merged)
}

/// The fleet views of every owner, merged (`fleet.rs`).
pub async fn fleet(member: &Member) -> Result<FleetResponse, ApiError> {
    let (answers, owners) = ask_all::<FleetResponse>(
        member,
        super::fleet::FLEET_PATH,
        &Vec::<(String, String)>::new(),
    )
    .await?;
    let mut merged = super::fleet::merge(answers);
    merged.missing_partitions.extend(owners.missing);
    merged.missing_partitions.sort_unstable();
    merged.missing_partitions.dedup();
    merged.missing_reasons.extend(owners.reasons);
    Ok(merged)
}

/// A fanned-out count. By value, in two rounds (`exact_count.rs`): each owner is asked for
/// more values than wanted (`owner_limit`), then those that may hold more for the exact counts
/// of the largest; the counts shown are exact, and `unlisted_up_to` says when a value not
/// shown may have more events than the last shown.
pub async fn count(member: &Member, mut params: CountParams) -> Result<CountResponse, ApiError> {
    (params.since, params.until) = absolute(&params.since, &params.until, Utc::now())?;
    let Some(by) = params.by.clone() else {
        let (answers, owners) =
            ask_all::<CountResponse>(member, owner::COUNT_PATH, &params).await?;
        return Ok(merge_count(answers, owners));
    };
    let most = if by.contains(',') {
        MAX_PAIRS
    } else {
        MAX_TERMS
    };
    let keep = params.limit.unwrap_or(crate::search::count::DEFAULT_TERMS);
    if keep == 0 || keep > most {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit must be 1 to {most} when counting by {by}"),
        ));
    }
    let asked = owner_limit(keep, most);
    params.limit = Some(asked);
    let (answers, mut owners) =
        ask_each::<CountResponse>(member, owner::COUNT_PATH, &params).await?;
    let firsts: Vec<CountResponse> = answers.iter().map(|a| a.3.clone()).collect();
    let top = exact_count::candidates(&firsts, keep);
    let values = serde_json::to_string(&top.iter().map(exact_count::keys_of).collect::<Vec<_>>())
        .unwrap_or_default();
    let token = token(member)?;
    let seconds = answers.into_iter().map(|(url, id, parts, first)| {
        let (token, values, params) = (token.as_deref(), &values, &params);
        async move {
            if exact_count::is_complete(&first, asked) {
                return (first, None, None);
            }
            let path = owner::COUNT_VALUES_PATH;
            let asked = CountOfValues { params, values };
            match ask::<CountResponse>(&url, path, &asked, &parts, token).await {
                Ok(exact) if exact.missing_partitions.is_empty() => {
                    (first, Some(exact.buckets), None)
                }
                Ok(exact) => (first, None, Some((parts, exact.missing_reasons.join("; ")))),
                Err(Ok(refused)) => (first, None, Some((parts, refused.message().to_owned()))),
                Err(Err(why)) => (first, None, Some((parts, format!("{id}: {why}")))),
            }
        }
    });
    let mut each = Vec::new();
    for (first, exact, failed) in futures_util::future::join_all(seconds).await {
        if let Some((parts, why)) = failed {
            owners.reasons.push(format!(
                "partitions {parts:?}: the exact counts of the largest values were not answered ({why}); their first counts are in"
            ));
            owners.missing.extend(parts);
        }
        each.push(exact_count::OwnerCounts { first, exact });
    }
    let mut merged = exact_count::merge(each, top, asked);
    merged.missing_partitions.extend(owners.missing);
    merged.missing_partitions.sort_unstable();
    merged.missing_partitions.dedup();
    merged.missing_reasons.extend(owners.reasons);
    Ok(merged)
}

/// A count's parameters with the values of its second round (`owner::Values`).
#[derive(Serialize)]
struct CountOfValues<'a> {
    #[serde(flatten)]
    params: &'a CountParams,
    values: &'a str,
}

/// How many values each owner is asked for when `size` are wanted.
fn owner_limit(size: usize, most: usize) -> usize {
    (size * 4 + 16).min(most).max(size)
}

/// Sums the answers: a histogram by time (summed per bucket), or a total alone.
fn merge_count(answers: Vec<CountResponse>, mut owners: Owners) -> CountResponse {
    let mut total = 0;
    let mut days = 0;
    let mut buckets: BTreeMap<String, CountBucket> = BTreeMap::new();
    for a in answers {
        total += a.total;
        days = days.max(a.partitions);
        owners.missing.extend(a.missing_partitions);
        owners.reasons.extend(a.missing_reasons);
        for b in a.buckets {
            buckets
                .entry(b.key.clone())
                .and_modify(|m| m.count += b.count)
                .or_insert(b);
        }
    }
    CountResponse {
        total,
        partitions: days,
        buckets: buckets.into_values().collect(),
        other: None,
        unlisted_up_to: None,
        missing_partitions: owners.missing.into_iter().collect(),
        missing_reasons: owners.reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(key: &str, count: u64) -> CountBucket {
        CountBucket {
            key: key.into(),
            count,
            keys: Vec::new(),
        }
    }

    #[test]
    fn histograms_are_summed_per_bucket_and_missing_partitions_kept() {
        let mut owners = Owners::default();
        owners.missing.insert(7);
        let h = merge_count(
            vec![
                CountResponse {
                    total: 3,
                    buckets: vec![
                        bucket("2026-01-01T00:00:00Z", 1),
                        bucket("2026-01-01T01:00:00Z", 2),
                    ],
                    ..CountResponse::default()
                },
                CountResponse {
                    total: 4,
                    buckets: vec![bucket("2026-01-01T01:00:00Z", 4)],
                    ..CountResponse::default()
                },
            ],
            owners,
        );
        assert_eq!(h.total, 7);
        assert_eq!(
            h.buckets,
            vec![
                bucket("2026-01-01T00:00:00Z", 1),
                bucket("2026-01-01T01:00:00Z", 6)
            ]
        );
        assert_eq!(h.other, None);
        assert_eq!(h.missing_partitions, vec![7]);
    }

    #[test]
    fn hits_are_merged_in_the_cluster_order_and_cut_at_the_limit() {
        let hit = |seq: u64| {
            crate::search::tests::event(
                seq,
                "2026-11-29T10:00:00Z",
                "x",
                logwarden_core::Severity::Info,
                "m",
                None,
            )
        };
        let at = |ts: i64, partition: u32, seq: u64| {
            ClusterPosition {
                ts,
                partition,
                agent: "a".into(),
                seq,
            }
            .cursor()
        };
        let answer = |items: Vec<(String, u64)>, total: u64| SearchResponse {
            indexed_lsn: 0,
            total,
            positions: items.iter().map(|(p, _)| p.clone()).collect(),
            hits: items.iter().map(|(_, s)| hit(*s)).collect(),
            cursor: None,
            took_us: 0,
            partitions: 1,
            missing_partitions: Vec::new(),
            missing_reasons: Vec::new(),
        };
        let a = answer(vec![(at(5, 1, 9), 1), (at(3, 1, 2), 2)], 2);
        let b = answer(vec![(at(5, 2, 1), 3), (at(4, 0, 1), 4)], 7);
        let m = merge_search(vec![a, b], Direction::NewestFirst, 3, Owners::default());
        let seqs: Vec<u64> = m.hits.iter().map(|h| h.id.seq).collect();
        assert_eq!(seqs, vec![3, 1, 4], "time, then partition, newest first");
        assert_eq!(m.total, 9);
        assert_eq!(m.cursor.as_deref(), Some(at(4, 0, 1).as_str()));
        assert_eq!(m.positions.len(), 3);
    }

    #[test]
    fn owners_are_asked_for_more_values_than_wanted() {
        assert_eq!(owner_limit(10, 1000), 56);
        assert_eq!(owner_limit(1000, 1000), 1000);
        assert_eq!(owner_limit(150, 200), 200);
    }
}

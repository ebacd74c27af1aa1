//! An owner's answer to a fanned-out search or count (`fanout.rs` asks): only for the
//! partitions it was asked for *and* owns now, each by its own agents (`scope.rs`), so that a
//! partition's events are counted once across the cluster even when a former owner still
//! holds them in its index. A partition asked for and not owned here is named in the
//! answer's `missing_partitions`.
//!
//! `GET /api/v1/cluster/search?partitions=1,5,9&<search parameters>` answers a
//! [`SearchResponse`] in the cluster's order (`cursor.rs`): `after` is a cluster cursor and
//! `positions` and `cursor` are cluster cursors. `GET /api/v1/cluster/count?partitions=..&<count
//! parameters>` answers a [`CountResponse`].

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use logwarden_core::Event;
use logwarden_core::wire::{
    CountParams, CountResponse, FieldsParams, FieldsResponse, SearchParams, SearchResponse,
};
use serde::Deserialize;

use super::cursor::{self, ClusterPosition};
use super::scope;
use crate::search::order::Direction;
use crate::search::{DEFAULT_LIMIT, MAX_LIMIT, SearchError, Searcher};

pub const SEARCH_PATH: &str = "/api/v1/cluster/search";
pub const COUNT_PATH: &str = "/api/v1/cluster/count";
pub const CONTEXT_PATH: &str = "/api/v1/cluster/context";
pub const FIELDS_PATH: &str = "/api/v1/cluster/fields";

/// The partitions asked for: `partitions=1,5,9`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Asked {
    #[serde(default)]
    pub partitions: String,
}

impl Asked {
    pub fn of(partitions: &[u32]) -> String {
        partitions
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn read(&self) -> Result<BTreeSet<u32>, SearchError> {
        self.partitions
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim().parse::<u32>().map_err(|_| {
                    SearchError::BadParam(format!(
                        "partitions {:?}: {s:?} is not a partition number",
                        self.partitions
                    ))
                })
            })
            .collect()
    }
}

/// What a collector holds, as its answers need it.
pub struct Holding {
    pub id: String,
    pub partitions: u32,
    pub owned: BTreeSet<u32>,
    /// Owned and caught up with the stream once since taken (`Member::caught_up`).
    pub ready: BTreeSet<u32>,
}

impl Holding {
    pub fn of(member: &super::member::Member) -> Holding {
        Holding {
            id: member.settings.id.clone(),
            partitions: member.settings.partitions,
            owned: member.owned(),
            ready: member.caught_up(),
        }
    }
}

/// What this collector answers for: the partitions asked that it owns and has caught up on,
/// and the others, with why.
struct Split {
    answered: BTreeSet<u32>,
    missing: Vec<u32>,
    reasons: Vec<String>,
}

fn split(asked: &Asked, h: &Holding) -> Result<Split, SearchError> {
    let asked = asked.read()?;
    let mut out = Split {
        answered: BTreeSet::new(),
        missing: Vec::new(),
        reasons: Vec::new(),
    };
    let (mut gone, mut rebuilding) = (Vec::new(), Vec::new());
    for p in asked {
        if !h.owned.contains(&p) {
            gone.push(p);
        } else if !h.ready.contains(&p) {
            rebuilding.push(p);
        } else {
            out.answered.insert(p);
        }
    }
    let id = &h.id;
    if !gone.is_empty() {
        out.reasons.push(format!(
            "{id} does not own partitions {gone:?} now (they are moving)"
        ));
    }
    if !rebuilding.is_empty() {
        out.reasons.push(format!(
            "{id} is still reading partitions {rebuilding:?} from the stream (taken over: its index of them is not complete yet)"
        ));
    }
    out.missing = gone.into_iter().chain(rebuilding).collect();
    out.missing.sort_unstable();
    Ok(out)
}

/// The partitions asked that are not answered here, and why (for answers that are not
/// split by partition: the fleet view).
pub fn not_answered(
    asked: &Asked,
    holding: &Holding,
) -> Result<(Vec<u32>, Vec<String>), SearchError> {
    let s = split(asked, holding)?;
    Ok((s.missing, s.reasons))
}

/// The search over the partitions asked that are owned here, in the cluster's order.
pub fn search(
    searcher: &Searcher,
    params: &SearchParams,
    asked: &Asked,
    holding: &Holding,
    now: DateTime<Utc>,
) -> Result<SearchResponse, SearchError> {
    let started = std::time::Instant::now();
    let split = split(asked, holding)?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if limit > MAX_LIMIT {
        return Err(SearchError::BadParam(format!(
            "limit {limit} is over the maximum of {MAX_LIMIT} (result size)"
        )));
    }
    let direction = Direction::parse(params.order.as_deref()).map_err(SearchError::BadParam)?;
    let after = params
        .after
        .as_deref()
        .map(ClusterPosition::parse)
        .transpose()
        .map_err(SearchError::BadParam)?;
    let (mut total, mut days) = (0usize, 0u64);
    let mut found: Vec<(ClusterPosition, Event)> = Vec::new();
    for &p in &split.answered {
        let one = searcher.scoped(scope::agents_of(holding.partitions, [p].into()));
        let plan = one.plan(&params.q, &params.since, &params.until, now)?;
        days = days.max(plan.partitions.len() as u64);
        let local_after = after.map(|a| a.local_after(p, direction));
        let page = one.page(plan, direction, local_after, limit)?;
        total += page.total;
        found.extend(
            page.positions
                .into_iter()
                .map(|at| ClusterPosition::new(p, at))
                .zip(page.hits),
        );
    }
    cursor::sort(&mut found, direction);
    found.truncate(limit);
    Ok(page_of(found, total, days, started, split))
}

/// A page of `found` (sorted and cut), `total` after the cursor in all.
fn page_of(
    found: Vec<(ClusterPosition, Event)>,
    total: usize,
    days: u64,
    started: std::time::Instant,
    split: Split,
) -> SearchResponse {
    let cursor = found
        .last()
        .filter(|_| total > found.len())
        .map(|(at, _)| at.cursor());
    let (positions, hits): (Vec<_>, Vec<_>) =
        found.into_iter().map(|(at, e)| (at.cursor(), e)).unzip();
    SearchResponse {
        indexed_lsn: 0,
        total: total as u64,
        hits,
        positions,
        cursor,
        took_us: started.elapsed().as_micros() as u64,
        partitions: days,
        missing_partitions: split.missing,
        missing_reasons: split.reasons,
    }
}

/// The count over the partitions asked that are owned here.
pub fn count(
    searcher: &Searcher,
    params: &CountParams,
    asked: &Asked,
    holding: &Holding,
    now: DateTime<Utc>,
) -> Result<CountResponse, SearchError> {
    let split = split(asked, holding)?;
    let scoped = searcher.scoped(scope::agents_of(holding.partitions, split.answered));
    let mut answer = scoped.count(params, now)?;
    answer.missing_partitions = split.missing;
    answer.missing_reasons = split.reasons;
    Ok(answer)
}

/// The fields of the events of the partitions asked that are owned here.
pub fn fields(
    searcher: &Searcher,
    params: &FieldsParams,
    asked: &Asked,
    holding: &Holding,
    now: DateTime<Utc>,
) -> Result<FieldsResponse, SearchError> {
    let split = split(asked, holding)?;
    let scoped = searcher.scoped(scope::agents_of(holding.partitions, split.answered));
    let mut answer = scoped.fields(&params.q, &params.since, &params.until, now)?;
    answer.missing_partitions = split.missing;
    answer.missing_reasons = split.reasons;
    Ok(answer)
}

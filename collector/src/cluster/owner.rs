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
use super::partition_page::PartitionPage;
use super::scope;
use crate::search::order::Direction;
use crate::search::{DEFAULT_LIMIT, MAX_LIMIT, SearchError, Searcher};

pub const SEARCH_PATH: &str = "/api/v1/cluster/search";
pub const COUNT_PATH: &str = "/api/v1/cluster/count";
pub const CONTEXT_PATH: &str = "/api/v1/cluster/context";
pub const FIELDS_PATH: &str = "/api/v1/cluster/fields";
pub const COUNT_VALUES_PATH: &str = "/api/v1/cluster/count_values";

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
        let one = PartitionPage {
            searcher: searcher.scoped(scope::agents_of(holding.partitions, [p].into())),
            p,
            params,
            direction,
            now,
        };
        let (page, matched, reached) = one.page(after.as_ref(), limit)?;
        total += matched;
        days = days.max(reached);
        found.extend(page);
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

/// The values of a count by value whose exact counts are asked for (the second round of
/// `exact_count.rs`): `values=[["x"],["y"]]`, JSON, each value's keys (two for pairs).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Values {
    #[serde(default)]
    pub values: String,
}

/// The exact counts of `values` over the partitions asked that are owned here: a
/// [`CountResponse`] of those values alone (a value with none is left out).
pub fn count_values(
    searcher: &Searcher,
    params: &CountParams,
    values: &Values,
    asked: &Asked,
    holding: &Holding,
    now: DateTime<Utc>,
) -> Result<CountResponse, SearchError> {
    let split = split(asked, holding)?;
    let values: Vec<Vec<String>> = serde_json::from_str(&values.values).map_err(|e| {
        SearchError::BadParam(format!(
            "values {:?} is not a JSON list of lists of values: {e}",
            values.values
        ))
    })?;
    if values.len() > crate::search::count::MAX_TERMS {
        return Err(SearchError::BadParam(format!(
            "values: {} values, more than {}",
            values.len(),
            crate::search::count::MAX_TERMS
        )));
    }
    let scoped = searcher.scoped(scope::agents_of(holding.partitions, split.answered));
    let buckets = if values.is_empty() {
        Vec::new()
    } else {
        scoped.count_values(params, &values, now)?
    };
    Ok(CountResponse {
        buckets,
        missing_partitions: split.missing,
        missing_reasons: split.reasons,
        ..CountResponse::default()
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::schema::WalPlace;
    use crate::search::tests::{event, searcher_with_places};
    use logwarden_core::{EventId, Severity};

    const PARTITIONS: u32 = 4;

    fn holding() -> Holding {
        let all: BTreeSet<u32> = (0..PARTITIONS).collect();
        Holding {
            id: "c1".into(),
            partitions: PARTITIONS,
            owned: all.clone(),
            ready: all,
        }
    }

    /// The second round of a count by value: exact counts of the values asked only, of a
    /// keyword field, of `fields.NAME`, and of pairs, over the partitions owned.
    #[test]
    fn the_exact_counts_of_given_values_only() {
        let mut events = Vec::new();
        for i in 0..60u64 {
            let app = ["sshd", "postfix", "dovecot"][(i % 3) as usize];
            let account = ["alice", "bob"][(i % 2) as usize];
            let mut e = event(
                i,
                "2026-11-29T10:00:00Z",
                app,
                Severity::Info,
                "m",
                Some(account),
            );
            e.id = EventId::new(format!("agent-{}", i % 5), i);
            events.push(e);
        }
        let (_dir, s) = crate::search::tests::searcher_with(&events);
        let asked = Asked {
            partitions: Asked::of(&(0..PARTITIONS).collect::<Vec<_>>()),
        };
        let count = |by: &str, values: &str| {
            let params = CountParams {
                q: "*".into(),
                by: Some(by.into()),
                ..CountParams::default()
            };
            let values = Values {
                values: values.into(),
            };
            let r = count_values(&s, &params, &values, &asked, &holding(), Utc::now()).unwrap();
            r.buckets
                .into_iter()
                .map(|b| (b.key, b.count))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            count("app", r#"[["postfix"],["nothing"]]"#),
            vec![("postfix".into(), 20)]
        );
        assert_eq!(
            count("fields.account", r#"[["bob"]]"#),
            vec![("bob".into(), 30)]
        );
        assert_eq!(
            count(
                "app,fields.account",
                r#"[["sshd","alice"],["dovecot","bob"]]"#
            ),
            vec![("dovecot bob".into(), 10), ("sshd alice".into(), 10)]
        );
        let params = CountParams {
            by: Some("app".into()),
            ..CountParams::default()
        };
        let bad = Values { values: "x".into() };
        assert!(matches!(
            count_values(&s, &params, &bad, &asked, &holding(), Utc::now()),
            Err(SearchError::BadParam(m)) if m.contains("\"x\"")
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]
        /// Two owners hold the same events at different WAL places (one took the partitions
        /// over from the other and read them in another order). Paging through a search,
        /// every page asked of the owner of the time (alternating, or switching at random),
        /// gives every match once, in the cluster's order, in either direction, whatever the
        /// page size and however many events share a microsecond.
        #[test]
        fn pages_neither_repeat_nor_skip_when_the_owner_changes_between_them(
            spec in proptest::collection::vec((0u8..4, 0u8..5, 0u64..40, proptest::bool::ANY), 1..250),
            switches in proptest::collection::vec(proptest::bool::ANY, 64),
            page in 1usize..30,
            newest in proptest::bool::ANY,
        ) {
            let times = [
                "2026-11-29T23:59:59.999999Z", "2026-11-30T00:00:00Z",
                "2026-11-30T00:00:00.000001Z", "2026-11-30T12:00:00Z",
            ];
            let mut ids = BTreeSet::new();
            let mut events = Vec::new();
            for (t, agent, seq, keep) in spec {
                if !ids.insert((agent, seq)) {
                    continue; // an id is one event
                }
                let msg = if keep { "keep me" } else { "drop me" };
                let mut e = event(seq, times[t as usize], "x", Severity::Info, msg, None);
                e.id = EventId::new(format!("agent-{agent}"), seq);
                events.push(e);
            }
            let placed = |order: &[Event]| -> Vec<(Event, WalPlace)> {
                order
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (e.clone(), WalPlace { lsn: 1 + i as u64 / 3, pos: i as u64 % 3 }))
                    .collect()
            };
            let (_a_dir, a) = searcher_with_places(&placed(&events), 2);
            let mut reversed = events.clone();
            reversed.reverse();
            let (_b_dir, b) = searcher_with_places(&placed(&reversed), 3);
            let n = PARTITIONS;
            let mut expected: Vec<ClusterPosition> = events
                .iter()
                .filter(|e| e.message.starts_with("keep"))
                .map(|e| ClusterPosition::of(super::super::names::partition_of(&e.id.agent_id, n), e))
                .collect();
            expected.sort();
            if newest {
                expected.reverse();
            }
            let asked = Asked { partitions: Asked::of(&(0..n).collect::<Vec<_>>()) };
            let now = Utc::now();
            let (mut got, mut after, mut owner) = (Vec::new(), None, false);
            for (pages, switch) in switches.iter().cycle().enumerate() {
                owner ^= *switch;
                let params = SearchParams {
                    q: "keep".into(),
                    limit: Some(page),
                    order: Some(if newest { "newest" } else { "oldest" }.into()),
                    after: after.take(),
                    ..SearchParams::default()
                };
                let s = if owner { &a } else { &b };
                let r = search(s, &params, &asked, &holding(), now).unwrap();
                proptest::prop_assert_eq!(r.hits.len(), r.positions.len());
                for (h, at) in r.hits.iter().zip(&r.positions) {
                    let at = ClusterPosition::parse(at).unwrap();
                    proptest::prop_assert_eq!(&at, &ClusterPosition::of(at.partition, h));
                    got.push(at);
                }
                match r.cursor {
                    Some(c) => {
                        proptest::prop_assert_eq!(r.hits.len(), page, "a full page before the last");
                        after = Some(c);
                    }
                    None => {
                        proptest::prop_assert_eq!(r.total as usize, r.hits.len(), "the last page holds the rest");
                        break;
                    }
                }
                proptest::prop_assert!(pages < 10_000, "paging does not end");
            }
            proptest::prop_assert_eq!(got, expected);
        }
    }
}

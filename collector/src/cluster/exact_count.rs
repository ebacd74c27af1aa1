//! A count by value over the owners, made exact in two rounds (`fanout.rs` asks).
//!
//! 1. Each owner is asked for its largest `asked` values (`fanout::owner_limit`: more than
//!    wanted). An owner that listed fewer than `asked` listed all of its values: its counts are
//!    exact and a value it did not list has none there. One that listed `asked` may hold more.
//! 2. The candidates are the `keep` largest values by the counts of the first round summed.
//!    Every owner of the second kind is asked for the exact counts of those values (`GET
//!    /api/v1/cluster/count_values`: a terms aggregation that includes them only, so that no
//!    index segment cuts its list short). The candidates' counts are then exact sums.
//!
//! A candidate's exact count is never below the first round's sum of any other value (the
//! first round only ever counts low), so no value listed less than a shown one. What the two
//! rounds cannot say for sure is that no value *outside* the candidates has more events than
//! the last one shown: at an owner that did not list it, it has at most the smallest count
//! that owner listed (and at most that owner's `other`). When that bound, summed over the
//! owners, exceeds the last count shown, the answer says so in `unlisted_up_to` rather than
//! being silently wrong. (The bound takes each owner's first-round list as exact: an owner's
//! index cuts each segment's list at ten times the values asked, so with 4 x limit + 16 asked
//! that takes a segment of more than 56 x limit + 160 distinct values.)

use std::collections::BTreeMap;

use logwarden_core::wire::{CountBucket, CountResponse};

/// The values of a bucket: the one value, or both of a pair.
pub fn keys_of(b: &CountBucket) -> Vec<String> {
    if b.keys.is_empty() {
        vec![b.key.clone()]
    } else {
        b.keys.clone()
    }
}

/// Whether an owner's first-round answer lists all of its values.
pub fn is_complete(answer: &CountResponse, asked: usize) -> bool {
    answer.buckets.len() < asked
}

/// The `keep` largest values by the first round's counts summed over the owners (the
/// larger first, then by value).
pub fn candidates(first: &[CountResponse], keep: usize) -> Vec<CountBucket> {
    let mut sums: BTreeMap<String, CountBucket> = BTreeMap::new();
    for b in first.iter().flat_map(|a| &a.buckets) {
        sums.entry(b.key.clone())
            .and_modify(|m| m.count += b.count)
            .or_insert_with(|| b.clone());
    }
    let mut all: Vec<CountBucket> = sums.into_values().collect();
    all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    all.truncate(keep);
    all
}

/// One owner's part: its first-round answer, and (when it was incomplete and answered the
/// second round) its exact counts of the candidates.
pub struct OwnerCounts {
    pub first: CountResponse,
    pub exact: Option<Vec<CountBucket>>,
}

/// The merged answer: `candidates` with their counts summed (exact where every incomplete
/// owner gave its exact counts), `other` the rest of the total, and `unlisted_up_to` when a
/// value not listed may have more events than the last listed.
pub fn merge(
    owners: Vec<OwnerCounts>,
    candidates: Vec<CountBucket>,
    asked: usize,
) -> CountResponse {
    let mut merged = CountResponse {
        other: Some(0),
        ..CountResponse::default()
    };
    let mut shown: BTreeMap<String, CountBucket> = candidates
        .into_iter()
        .map(|b| (b.key.clone(), CountBucket { count: 0, ..b }))
        .collect();
    // Per value not shown: the most it may have over the owners seen so far; and the most a
    // value no owner listed may have.
    let mut unshown: BTreeMap<String, u64> = BTreeMap::new();
    let mut unseen = 0u64;
    for o in owners {
        let mut a = o.first;
        merged.total += a.total;
        merged.partitions = merged.partitions.max(a.partitions);
        merged.missing_partitions.append(&mut a.missing_partitions);
        merged.missing_reasons.append(&mut a.missing_reasons);
        let complete = is_complete(&a, asked);
        let counts = o.exact.as_ref().unwrap_or(&a.buckets);
        for b in counts {
            if let Some(s) = shown.get_mut(&b.key) {
                s.count += b.count;
            }
        }
        // What a value this owner did not list may have here.
        let beyond = if complete {
            0
        } else {
            let smallest = a.buckets.iter().map(|b| b.count).min().unwrap_or(0);
            smallest.min(a.other.unwrap_or(u64::MAX))
        };
        for b in &a.buckets {
            if !shown.contains_key(&b.key) {
                *unshown.entry(b.key.clone()).or_insert(unseen) += b.count;
            }
        }
        let listed: std::collections::HashSet<&str> =
            a.buckets.iter().map(|b| b.key.as_str()).collect();
        for (key, most) in unshown.iter_mut() {
            if !listed.contains(key.as_str()) {
                *most += beyond;
            }
        }
        unseen += beyond;
    }
    let mut buckets: Vec<CountBucket> = shown.into_values().collect();
    buckets.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    let most_unlisted = unshown.into_values().chain([unseen]).max().unwrap_or(0);
    let last = buckets.last().map_or(0, |b| b.count);
    merged.unlisted_up_to = (most_unlisted > last).then_some(most_unlisted);
    merged.other = Some(
        merged
            .total
            .saturating_sub(buckets.iter().map(|b| b.count).sum()),
    );
    merged.buckets = buckets;
    merged.missing_partitions.sort_unstable();
    merged.missing_partitions.dedup();
    merged
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

    fn answer(buckets: Vec<CountBucket>, total: u64) -> CountResponse {
        let listed: u64 = buckets.iter().map(|b| b.count).sum();
        CountResponse {
            total,
            partitions: 1,
            other: Some(total - listed),
            buckets,
            ..CountResponse::default()
        }
    }

    /// The case of issue 32: a value outside one owner's top list. Owner A has x 100 and y 30
    /// and lists x only (asked for 1); owner B has y 60 and x 50 and lists y only. The first
    /// round alone gives x 100 and y 60; the second asks both for x and y.
    #[test]
    fn a_value_outside_an_owners_top_list_is_counted_exactly_after_the_second_round() {
        let a = answer(vec![bucket("x", 100)], 130); // and y 30
        let b = answer(vec![bucket("y", 60)], 110); // and x 50
        let first = vec![a.clone(), b.clone()];
        let top = candidates(&first, 2);
        assert_eq!(top, vec![bucket("x", 100), bucket("y", 60)]);
        let only_first = merge(
            vec![
                OwnerCounts {
                    first: a.clone(),
                    exact: None,
                },
                OwnerCounts {
                    first: b.clone(),
                    exact: None,
                },
            ],
            top.clone(),
            1,
        );
        assert_eq!(only_first.buckets, vec![bucket("x", 100), bucket("y", 60)]);
        let m = merge(
            vec![
                OwnerCounts {
                    first: a,
                    exact: Some(vec![bucket("x", 100), bucket("y", 30)]),
                },
                OwnerCounts {
                    first: b,
                    exact: Some(vec![bucket("y", 60), bucket("x", 50)]),
                },
            ],
            top,
            1,
        );
        assert_eq!(m.buckets, vec![bucket("x", 150), bucket("y", 90)]);
        assert_eq!(m.total, 240);
        assert_eq!(m.other, Some(0));
        assert_eq!(m.unlisted_up_to, None, "every event is in x or y");
    }

    /// Owners that listed all their values need no second round and leave nothing unsure.
    #[test]
    fn complete_owners_give_exact_counts_and_a_sure_list() {
        let a = answer(vec![bucket("x", 5), bucket("z", 1)], 6);
        let b = answer(vec![bucket("y", 4), bucket("x", 2)], 6);
        let first = vec![a.clone(), b.clone()];
        assert!(first.iter().all(|a| is_complete(a, 3)));
        let top = candidates(&first, 2);
        let m = merge(
            first
                .into_iter()
                .map(|first| OwnerCounts { first, exact: None })
                .collect(),
            top,
            3,
        );
        assert_eq!(m.buckets, vec![bucket("x", 7), bucket("y", 4)]);
        assert_eq!((m.other, m.unlisted_up_to), (Some(1), None));
    }

    /// A value nobody listed may still have more than the last shown: the answer says how
    /// many it may have.
    #[test]
    fn a_list_that_may_miss_a_larger_value_says_so() {
        // Each owner lists 2 of many values; w has 9 at each (18 in all) but is third at both.
        let a = answer(vec![bucket("x", 20), bucket("w", 9)], 100);
        let b = answer(vec![bucket("y", 20), bucket("v", 9)], 100);
        let top = candidates(&[a.clone(), b.clone()], 2);
        assert_eq!(top, vec![bucket("x", 20), bucket("y", 20)]);
        let m = merge(
            vec![
                OwnerCounts {
                    first: a,
                    exact: Some(vec![bucket("x", 20)]),
                },
                OwnerCounts {
                    first: b,
                    exact: Some(vec![bucket("y", 20)]),
                },
            ],
            top,
            2,
        );
        assert_eq!(m.buckets, vec![bucket("x", 20), bucket("y", 20)]);
        // w: 9 at A, at most 9 at B; a value neither listed: at most 9 + 9.
        assert_eq!(m.unlisted_up_to, None, "18 is not more than 20");
        let a = answer(vec![bucket("x", 20), bucket("w", 15)], 100);
        let b = answer(vec![bucket("y", 20), bucket("v", 15)], 100);
        let top = candidates(&[a.clone(), b.clone()], 2);
        let m = merge(
            vec![
                OwnerCounts {
                    first: a,
                    exact: Some(vec![bucket("x", 20)]),
                },
                OwnerCounts {
                    first: b,
                    exact: Some(vec![bucket("y", 20)]),
                },
            ],
            top,
            2,
        );
        assert_eq!(m.unlisted_up_to, Some(30), "w may have 15 + 15");
    }
}

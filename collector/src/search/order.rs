//! The total order of events and the cursors that point into it.
//!
//! Events are ordered by their time (`ts`, microseconds), then by their place in the WAL: the
//! LSN of their record (`lsn`), then their line in that record (`pos`), all three fast fields of
//! the index (`index::schema`). No two events share a WAL place, so the order is total; and a
//! standby holds the same WAL records under the same LSNs, and a rebuilt index copies both (from
//! the WAL, or from the old documents: `index/reindex.rs`), so it is the same on every copy.
//!
//! A [`Position`] is one event's place in that order. As text (a cursor) it is
//! `1.<ts in microseconds>.<lsn>.<pos>`: clients treat it as opaque; the leading `1` is its
//! version. A page of a search ends with a cursor, and `after=CURSOR` asks for the events that
//! come after it in the search's own direction, however many share its timestamp.

use chrono::{DateTime, NaiveDate, Utc};
use tantivy::Order;

/// Which end of the order a search starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    NewestFirst,
    OldestFirst,
}

impl Direction {
    /// `newest` (also the default, when absent) or `oldest`.
    pub fn parse(s: Option<&str>) -> Result<Direction, String> {
        match s.map(str::trim) {
            None | Some("") | Some("newest") => Ok(Direction::NewestFirst),
            Some("oldest") => Ok(Direction::OldestFirst),
            Some(other) => Err(format!(
                "order {other:?} is not valid; use newest or oldest"
            )),
        }
    }

    pub fn tantivy(self) -> Order {
        match self {
            Direction::NewestFirst => Order::Desc,
            Direction::OldestFirst => Order::Asc,
        }
    }
}

/// One event's place in the total order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Microseconds since the epoch, as the index keeps `ts`.
    pub ts: i64,
    pub lsn: u64,
    pub pos: u64,
}

const CURSOR_VERSION: &str = "1";

impl Position {
    pub fn cursor(&self) -> String {
        format!("{CURSOR_VERSION}.{}.{}.{}", self.ts, self.lsn, self.pos)
    }

    /// Reads a cursor; the error names it and says what is wrong.
    pub fn parse(cursor: &str) -> Result<Position, String> {
        let bad = |why: &str| {
            format!("cursor {cursor:?} is not valid ({why}); pass a cursor from an earlier answer")
        };
        let mut parts = cursor.trim().split('.');
        if parts.next() != Some(CURSOR_VERSION) {
            return Err(bad("not a cursor of this version"));
        }
        let mut next = |what: &str| parts.next().ok_or_else(|| bad(&format!("no {what}")));
        let ts = next("time")?
            .parse::<i64>()
            .map_err(|_| bad("the time is not a number"))?;
        let lsn = next("WAL position")?
            .parse::<u64>()
            .map_err(|_| bad("the WAL position is not a number"))?;
        let pos = next("place in the record")?
            .parse::<u64>()
            .map_err(|_| bad("the place in the record is not a number"))?;
        if parts.next().is_some() {
            return Err(bad("more parts than a cursor has"));
        }
        if DateTime::<Utc>::from_timestamp_micros(ts).is_none() {
            return Err(bad("the time is out of range"));
        }
        Ok(Position { ts, lsn, pos })
    }

    pub fn time(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_micros(self.ts).unwrap_or_default()
    }

    pub fn day(&self) -> NaiveDate {
        crate::index::partition::day_of(self.time())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::schema::WalPlace;
    use crate::search::tests::{event, searcher_with_places};
    use crate::search::{SearchError, Searcher};
    use logwarden_core::Severity;
    use logwarden_core::wire::SearchParams;

    /// Every page of `q` in `direction`, `page` at a time, through the cursors: the seqs of the
    /// hits in the order written, and how many pages it took.
    fn page_through(s: &Searcher, q: &str, direction: &str, page: usize) -> (Vec<u64>, usize) {
        let now = Utc::now();
        let (mut seqs, mut pages, mut after) = (Vec::new(), 0, None);
        loop {
            let p = SearchParams {
                q: q.into(),
                limit: Some(page),
                order: Some(direction.into()),
                after: after.take(),
                ..SearchParams::default()
            };
            let r = s.search(&p, now).unwrap();
            pages += 1;
            assert_eq!(r.positions.len(), r.hits.len());
            seqs.extend(r.hits.iter().map(|h| h.id.seq));
            match r.cursor {
                Some(c) => {
                    assert_eq!(r.hits.len(), page, "a full page before the last");
                    assert_eq!(Some(&c), r.positions.last());
                    after = Some(c);
                }
                None => {
                    assert_eq!(
                        r.total as usize,
                        r.hits.len(),
                        "the last page holds the rest"
                    );
                    return (seqs, pages);
                }
            }
            assert!(pages < 100_000, "paging does not end");
        }
    }

    #[test]
    fn fifty_thousand_events_of_one_timestamp_page_through_once_each_in_order() {
        // 50 WAL records of 1,000 events, all in one microsecond, written in 5 segments, the
        // records not in LSN order.
        let n = 50_000u64;
        let mut events: Vec<(logwarden_core::Event, WalPlace)> = (0..n)
            .map(|seq| {
                let e = event(
                    seq,
                    "2026-12-01T00:00:00Z",
                    "x",
                    Severity::Info,
                    "burst",
                    None,
                );
                let place = WalPlace {
                    lsn: 100 + seq / 1000,
                    pos: seq % 1000,
                };
                (e, place)
            })
            .collect();
        events.rotate_left(17_500);
        let (_dir, s) = searcher_with_places(&events, 5);
        let (oldest_first, pages) = page_through(&s, "burst", "oldest", 7_777);
        assert_eq!(pages, 7);
        assert_eq!(oldest_first, (0..n).collect::<Vec<_>>());
        let (newest_first, _) = page_through(&s, "*", "newest", 10_000);
        assert_eq!(newest_first, (0..n).rev().collect::<Vec<_>>());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Any mix of times (few distinct, over three days), WAL places, segments, page sizes,
        /// directions and a filter: the pages together are the matches, once each, in the total
        /// order.
        #[test]
        fn pages_through_cursors_are_the_matches_in_the_total_order(
            spec in proptest::collection::vec((0u8..6, 0u64..30, 0u64..4, proptest::bool::ANY), 1..300),
            commits in 1usize..4,
            page in 1usize..40,
            newest in proptest::bool::ANY,
        ) {
            let times = [
                "2026-11-29T23:59:59.999999Z", "2026-11-30T00:00:00Z", "2026-11-30T00:00:00Z",
                "2026-11-30T12:00:00.5Z", "2026-12-01T00:00:00Z", "2026-12-01T00:00:00.000001Z",
            ];
            let mut seen = std::collections::HashSet::new();
            let mut events = Vec::new();
            for (i, (t, lsn, pos, keep)) in spec.into_iter().enumerate() {
                if !seen.insert((lsn, pos)) {
                    continue; // a WAL place holds one event
                }
                let msg = if keep { "keep me" } else { "drop me" };
                let e = event(i as u64, times[t as usize], "x", Severity::Info, msg, None);
                events.push((e, WalPlace { lsn, pos }));
            }
            let (_dir, s) = searcher_with_places(&events, commits);
            let mut expected: Vec<_> = events
                .iter()
                .filter(|(e, _)| e.message.starts_with("keep"))
                .map(|(e, p)| ((e.ts.timestamp_micros(), p.lsn, p.pos), e.id.seq))
                .collect();
            expected.sort();
            if newest {
                expected.reverse();
            }
            let expected: Vec<u64> = expected.into_iter().map(|(_, seq)| seq).collect();
            let direction = if newest { "newest" } else { "oldest" };
            let (got, _) = page_through(&s, "keep", direction, page);
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn a_malformed_cursor_or_order_is_refused_naming_it() {
        let e = event(1, "2026-12-01T00:00:00Z", "x", Severity::Info, "m", None);
        let (_dir, s) = searcher_with_places(&[(e, WalPlace { lsn: 1, pos: 0 })], 1);
        let p = SearchParams {
            q: "*".into(),
            after: Some("1.abc.2.3".into()),
            ..SearchParams::default()
        };
        let err = s.search(&p, Utc::now()).unwrap_err();
        assert!(
            matches!(&err, SearchError::BadParam(m) if m.contains("cursor \"1.abc.2.3\"")),
            "{err}"
        );
        let p = SearchParams {
            q: "*".into(),
            order: Some("sideways".into()),
            ..SearchParams::default()
        };
        assert!(
            matches!(s.search(&p, Utc::now()), Err(SearchError::BadParam(m)) if m.contains("sideways"))
        );
    }

    #[test]
    fn cursors_round_trip_and_malformed_ones_are_named() {
        let p = Position {
            ts: 1_764_288_000_123_456,
            lsn: 42,
            pos: 7,
        };
        assert_eq!(p.cursor(), "1.1764288000123456.42.7");
        assert_eq!(Position::parse(&p.cursor()), Ok(p));
        let before_1970 = Position {
            ts: -5,
            lsn: 1,
            pos: 0,
        };
        assert_eq!(Position::parse(&before_1970.cursor()), Ok(before_1970));
        for bad in [
            "",
            "x",
            "2.1.2.3",
            "1.1.2",
            "1.a.2.3",
            "1.1.-2.3",
            "1.1.2.3.4",
            "1.99999999999999999999.2.3",
            "1.9223372036854775807.2.3",
        ] {
            let err = Position::parse(bad).unwrap_err();
            assert!(err.contains(&format!("cursor {bad:?}")), "{err}");
        }
        assert!(
            p < Position { pos: 8, ..p }
                && Position {
                    lsn: 43,
                    pos: 0,
                    ..p
                } > p
        );
        assert!(
            Position {
                ts: p.ts + 1,
                lsn: 0,
                pos: 0
            } > p,
            "time first"
        );
    }

    #[test]
    fn direction_reads_newest_and_oldest_and_names_anything_else() {
        assert_eq!(Direction::parse(None), Ok(Direction::NewestFirst));
        assert_eq!(Direction::parse(Some("oldest")), Ok(Direction::OldestFirst));
        let err = Direction::parse(Some("asc")).unwrap_err();
        assert!(err.contains("\"asc\""), "{err}");
    }
}

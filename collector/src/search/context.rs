//! Context around a hit (Graylog's "surrounding messages"): the events just before and just
//! after one event, from the same host and source, in the total order (`order.rs`). The event is
//! named by its position (a search answer's `positions`) or by its id (`agent:seq`: the events
//! of its `id_block` term, at most 64, and of those the one with that id; `index::schema`). Its
//! position is where the two searches start: the newest events before it and the oldest after it
//! (`nearest.rs`). The two spellings cannot be mistaken for each other: an id always holds a
//! `:`, a position never does.

use std::time::Instant;

use chrono::Duration;
use logwarden_core::EventId;
use logwarden_core::wire::{ContextParams, ContextResponse};
use tantivy::query::{BooleanQuery, InvertedIndexRangeQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DateTime, Term};

use super::nearest::Nearest;
use super::order::{Direction, Position};
use super::{Plan, SearchError, Searcher};
use crate::index::schema::{ID_BLOCK, id_block};

pub const DEFAULT_LINES: usize = 5;
/// Most events asked for on either side.
pub const MAX_LINES: usize = 1000;

/// What a context request names: a position in the order, or an event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Position(Position),
    Id(EventId),
}

impl Target {
    /// `1.<ts>.<lsn>.<pos>` (a position) or `AGENT:SEQ` (an id); the error names the text.
    pub fn parse(at: &str) -> Result<Target, String> {
        let at = at.trim();
        if at.contains(':') {
            return at.parse().map(Target::Id).map_err(|_| {
                format!(
                    "event id {at:?} is not valid: an id is AGENT:SEQ, as search prints it (-o json)"
                )
            });
        }
        Position::parse(at)
            .map(Target::Position)
            .map_err(|e| format!("{e}; or give the event's id (AGENT:SEQ)"))
    }
}

impl Searcher {
    pub fn context(&self, p: &ContextParams) -> Result<ContextResponse, SearchError> {
        let started = Instant::now();
        let target = Target::parse(&p.at).map_err(SearchError::BadParam)?;
        let lines = |n: Option<usize>, side: &str| match n.unwrap_or(DEFAULT_LINES) {
            n if n <= MAX_LINES => Ok(n),
            n => Err(SearchError::BadParam(format!(
                "{side} {n} is over the maximum of {MAX_LINES}"
            ))),
        };
        let (before, after) = (lines(p.before, "before")?, lines(p.after, "after")?);
        let found = match &target {
            Target::Position(at) => self.event_at(*at)?.map(|(e, _, _)| (e, *at)),
            Target::Id(id) => self.event_by_id(id)?,
        };
        let (hit, at) = found.ok_or_else(|| {
            SearchError::NotFound(match &target {
                Target::Position(_) => format!(
                    "no event at position {:?} (it may have been dropped by retention)",
                    p.at.trim()
                ),
                Target::Id(id) => format!(
                    "no event with id {id} (not sent, not indexed yet, or dropped by retention)"
                ),
            })
        })?;
        let (host, source) = (hit.host.to_string(), hit.source.to_string());
        let mut earlier = self.side(at, &host, &source, Direction::NewestFirst, before)?;
        earlier.reverse();
        let later = self.side(at, &host, &source, Direction::OldestFirst, after)?;
        Ok(ContextResponse {
            before: earlier,
            hit,
            after: later,
            took_us: started.elapsed().as_micros() as u64,
        })
    }

    /// Up to `n` events of `host` and `source` just before (`NewestFirst`) or just after
    /// (`OldestFirst`) `at`, nearest first. Searched in widening time windows on that side of
    /// the hit (a minute, an hour, then the day before or after): a busy host's day holds
    /// millions of events, and placing all of them to take the nearest five would cost far
    /// more than the few that lie within a minute; a window that comes up short is widened.
    /// Each window is found through the inverted index (`ts` at whole seconds, so a little
    /// wider than asked, which costs nothing: the nearest are still the nearest), and
    /// [`Nearest`] places its documents exactly.
    fn side(
        &self,
        at: Position,
        host: &str,
        source: &str,
        direction: Direction,
        n: usize,
    ) -> Result<Vec<logwarden_core::Event>, SearchError> {
        let f = &self.fields;
        let term = |field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            ))
        };
        let mut found = Vec::new();
        for window in [Duration::minutes(1), Duration::hours(1), Duration::days(1)] {
            let (from, to) = match direction {
                Direction::NewestFirst => (at.time() - window, at.time()),
                Direction::OldestFirst => (at.time(), at.time() + window),
            };
            let query = BooleanQuery::new(vec![
                (Occur::Must, term(f.host, host)),
                (Occur::Must, term(f.source, source)),
                (Occur::Must, seconds_between(f, from, to)),
            ]);
            // `overlapping` excludes its end: one microsecond more keeps the day of `to`.
            let mut days = self
                .catalog
                .overlapping(Some(from), Some(to + Duration::microseconds(1)));
            if direction == Direction::OldestFirst {
                days.reverse();
            }
            // Days in the direction asked: every event of one comes before the next's.
            found.clear();
            for day in days {
                let searcher = day.reader.searcher();
                let want = Nearest {
                    at: Some(at),
                    direction,
                    inclusive: false,
                    n: n - found.len(),
                    columns: day.order_columns.of(&searcher)?,
                };
                for (_, addr) in searcher.search(&query, &want)?.hits {
                    found.extend(self.stored_event(&searcher, addr)?);
                }
                if found.len() >= n {
                    break;
                }
            }
            if found.len() >= n {
                break;
            }
        }
        Ok(found)
    }

    /// The event with id `id` and its position: of the events of its `id_block` term (at most
    /// [`ID_BLOCK`] in the whole index, since the WAL holds an id once, whatever days they
    /// fall on), the one with that id.
    fn event_by_id(
        &self,
        id: &EventId,
    ) -> Result<Option<(logwarden_core::Event, Position)>, SearchError> {
        let id_text = id.to_string();
        let Some(block) = id_block(&id_text) else {
            return Ok(None);
        };
        let plan = Plan {
            query: Box::new(TermQuery::new(
                Term::from_field_text(self.fields.id_block, &block),
                IndexRecordOption::Basic,
            )),
            partitions: self.catalog.overlapping(None, None),
        };
        let page = self.page(plan, Direction::NewestFirst, None, ID_BLOCK as usize)?;
        Ok(page
            .hits
            .into_iter()
            .zip(page.positions)
            .find(|(e, _)| e.id == *id))
    }

    /// The event at `at`, with its host and source as indexed: the documents of its second
    /// (from the inverted index), placed exactly.
    fn event_at(
        &self,
        at: Position,
    ) -> Result<Option<(logwarden_core::Event, String, String)>, SearchError> {
        let Some(partition) = self.catalog.get(at.day()) else {
            return Ok(None);
        };
        let searcher = partition.reader.searcher();
        let query = seconds_between(&self.fields, at.time(), at.time());
        let want = Nearest {
            at: Some(at),
            direction: Direction::OldestFirst,
            inclusive: true,
            n: 1,
            columns: partition.order_columns.of(&searcher)?,
        };
        let Some((_, addr)) = searcher
            .search(&query, &want)?
            .hits
            .into_iter()
            .find(|(p, _)| *p == at)
        else {
            return Ok(None);
        };
        Ok(self.stored_event(&searcher, addr)?.map(|e| {
            let (host, source) = (e.host.to_string(), e.source.to_string());
            (e, host, source)
        }))
    }
}

/// The events whose `ts` falls in the whole seconds from `from` to `to` (both included), from
/// the inverted index (which holds `ts` at seconds: `index::schema`) rather than the column.
fn seconds_between(
    f: &crate::index::Fields,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Box<dyn Query> {
    let ts = |t: chrono::DateTime<chrono::Utc>| {
        Term::from_field_date_for_search(
            f.ts,
            DateTime::from_timestamp_micros(t.timestamp_micros()),
        )
    };
    Box::new(InvertedIndexRangeQuery::new(
        std::ops::Bound::Included(ts(from)),
        std::ops::Bound::Included(ts(to)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::schema::WalPlace;
    use crate::search::tests::{event, searcher_with_places};
    use logwarden_core::Severity;
    use logwarden_core::wire::SearchParams;

    /// A searcher over one event per `(time, host)` of `times`, seq its index, all in WAL
    /// record `lsn` and two commits, the one at `hit` saying "the hit"; and the search for it.
    fn searcher_and_hit(
        times: &[(&str, &str)],
        hit: usize,
        lsn: u64,
    ) -> (
        tempfile::TempDir,
        Searcher,
        logwarden_core::wire::SearchResponse,
    ) {
        let events: Vec<_> = times
            .iter()
            .enumerate()
            .map(|(i, (ts, host))| {
                let msg = if i == hit {
                    "the hit".to_owned()
                } else {
                    format!("m{i}")
                };
                let mut e = event(i as u64, ts, "x", Severity::Info, &msg, None);
                e.host = (*host).into();
                (e, WalPlace { lsn, pos: i as u64 })
            })
            .collect();
        let (dir, s) = searcher_with_places(&events, 2);
        let found = s
            .search(
                &SearchParams {
                    q: "hit".into(),
                    ..SearchParams::default()
                },
                chrono::Utc::now(),
            )
            .unwrap();
        (dir, s, found)
    }

    #[test]
    fn the_events_around_a_hit_come_from_its_host_and_source_in_order() {
        // Host h1 and h2 interleaved in one second and the next, one of h1 from another file.
        let mut events = Vec::new();
        for seq in 0..40u64 {
            let ts = if seq < 25 {
                "2026-11-29T23:59:59Z"
            } else {
                "2026-11-30T00:00:00Z"
            };
            let mut e = event(seq, ts, "x", Severity::Info, &format!("line {seq}"), None);
            e.host = if seq % 2 == 0 { "h1" } else { "h2" }.into();
            if seq == 20 {
                e.source = "/var/log/other".into();
            }
            events.push((e, WalPlace { lsn: 7, pos: seq }));
        }
        let (_dir, s) = searcher_with_places(&events, 3);
        let found = s
            .search(
                &SearchParams {
                    q: "24".into(),
                    ..SearchParams::default()
                },
                chrono::Utc::now(),
            )
            .unwrap();
        assert_eq!(found.hits[0].id.seq, 24);
        let at = found.positions[0].clone();
        let c = s
            .context(&ContextParams {
                at: at.clone(),
                before: Some(3),
                after: Some(2),
            })
            .unwrap();
        let seqs = |v: &[logwarden_core::Event]| v.iter().map(|e| e.id.seq).collect::<Vec<_>>();
        assert_eq!(c.hit.id.seq, 24);
        assert_eq!(
            seqs(&c.before),
            vec![16, 18, 22],
            "h1, same file, oldest first"
        );
        assert_eq!(seqs(&c.after), vec![26, 28], "across midnight");
        let c = s
            .context(&ContextParams {
                at,
                before: Some(100),
                after: Some(0),
            })
            .unwrap();
        assert_eq!(c.before.len(), 11, "all of h1's in that file before it");
        assert!(c.after.is_empty());
        // By its id: the same answer as by its position.
        let by_id = |at: &str| {
            s.context(&ContextParams {
                at: at.into(),
                before: Some(3),
                after: Some(2),
            })
        };
        let c = by_id(" a:24 ").unwrap();
        assert_eq!(
            (c.hit.id.seq, seqs(&c.before), seqs(&c.after)),
            (24, vec![16, 18, 22], vec![26, 28])
        );
        // Every id, though the 40 share one id block that spans two days.
        for seq in 0..40 {
            assert_eq!(by_id(&format!("a:{seq}")).unwrap().hit.id.seq, seq);
        }
        let err = by_id("a:40").unwrap_err();
        assert!(
            matches!(&err, SearchError::NotFound(m) if m.contains("no event with id a:40")),
            "{err}"
        );
        for bad in ["a:", ":24", "a:x24", "a b:1"] {
            let err = by_id(bad).unwrap_err();
            assert!(
                matches!(&err, SearchError::BadParam(m) if m.contains("event id") && m.contains(bad)),
                "{bad}: {err}"
            );
        }
        let missing = Position::parse(&found.positions[0])
            .map(|p| Position { pos: 99, ..p })
            .unwrap();
        let err = s
            .context(&ContextParams {
                at: missing.cursor(),
                ..ContextParams::default()
            })
            .unwrap_err();
        assert!(matches!(err, SearchError::NotFound(_)), "{err}");
        let err = s
            .context(&ContextParams {
                at: "nope".into(),
                ..ContextParams::default()
            })
            .unwrap_err();
        assert!(
            matches!(&err, SearchError::BadParam(m) if m.contains("\"nope\"")),
            "{err}"
        );
    }

    #[test]
    fn neighbours_hours_or_a_day_away_are_found_by_widening_the_window() {
        // h1's lines: one the day before, two hours before the hit, one just before, the hit,
        // one 50 minutes after; h2's lines around the hit must not count. Times to the
        // microsecond: the inverted index holds whole seconds, the order microseconds.
        let times = [
            ("2026-11-29T23:00:00.250000Z", "h1"),
            ("2026-11-30T10:00:00.000001Z", "h1"),
            ("2026-11-30T11:59:30.999999Z", "h1"),
            ("2026-11-30T11:59:59.5Z", "h2"),
            ("2026-11-30T12:00:00.123456Z", "h1"),
            ("2026-11-30T12:00:01.7Z", "h2"),
            ("2026-11-30T12:50:00.000002Z", "h1"),
        ];
        let (_dir, s, found) = searcher_and_hit(&times, 4, 3);
        let c = s
            .context(&ContextParams {
                at: found.positions[0].clone(),
                before: Some(5),
                after: Some(5),
            })
            .unwrap();
        let seqs = |v: &[logwarden_core::Event]| v.iter().map(|e| e.id.seq).collect::<Vec<_>>();
        assert_eq!(c.hit.id.seq, 4);
        assert_eq!(
            seqs(&c.before),
            vec![0, 1, 2],
            "a minute, an hour, a day back"
        );
        assert_eq!(seqs(&c.after), vec![6], "50 minutes on");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
        /// Any agents (one holding colons), sparse seqs around id-block edges, times that tie,
        /// fall inside a second or across midnight, two hosts, any WAL places and segments:
        /// by its id and by its position, each event's context is the model's (the nearest
        /// events of its host before and after it in the total order), and an id nobody sent
        /// is not found.
        #[test]
        fn context_by_id_and_by_position_is_the_models_for_every_event(
            spec in proptest::collection::btree_map(
                (0usize..3, 0u64..300),
                (0usize..10, 0u64..8, proptest::bool::ANY),
                1..80,
            ),
            commits in 1usize..4,
            (before, after) in (0usize..6, 0usize..6),
            probes in proptest::collection::vec((0usize..3, 0u64..300), 1..10),
        ) {
            let agents = ["a", "mbox1:ag", "b"];
            // Micros after 2026-11-30T23:00:00Z; 3.6e9 is the next day's midnight.
            let offsets: [i64; 10] = [
                0, 1, 500_000, 999_999, 1_000_000, 59_000_000, 61_000_000,
                3_600_000_000, 3_600_000_001, 7_000_000_000,
            ];
            let base = chrono::DateTime::parse_from_rfc3339("2026-11-30T23:00:00Z").unwrap();
            let mut events = Vec::new();
            for (i, ((agent, seq), (t, lsn, other_host))) in spec.iter().enumerate() {
                let ts = (base + Duration::microseconds(offsets[*t])).to_rfc3339();
                let mut e = event(*seq, &ts, "x", Severity::Info, &format!("m{i}"), None);
                e.id = logwarden_core::EventId::new(agents[*agent], *seq);
                if *other_host {
                    e.host = "h2".into();
                }
                events.push((e, WalPlace { lsn: *lsn, pos: i as u64 }));
            }
            let (_dir, s) = searcher_with_places(&events, commits);
            let place = |(e, p): &(logwarden_core::Event, WalPlace)| Position {
                ts: e.ts.timestamp_micros(),
                lsn: p.lsn,
                pos: p.pos,
            };
            for hit in &events {
                let at = place(hit);
                let mut same: Vec<_> = events.iter().filter(|o| o.0.host == hit.0.host).collect();
                same.sort_by_key(|o| place(o));
                let ids = |v: &[&(logwarden_core::Event, WalPlace)]| {
                    v.iter().map(|o| o.0.id.to_string()).collect::<Vec<_>>()
                };
                let older: Vec<_> = same.iter().copied().filter(|o| place(o) < at).collect();
                let newer: Vec<_> = same.iter().copied().filter(|o| place(o) > at).collect();
                let want = (
                    ids(&older[older.len().saturating_sub(before)..]),
                    ids(&newer[..after.min(newer.len())]),
                );
                for named in [hit.0.id.to_string(), at.cursor()] {
                    let c = s
                        .context(&ContextParams {
                            at: named.clone(),
                            before: Some(before),
                            after: Some(after),
                        })
                        .unwrap();
                    proptest::prop_assert_eq!(c.hit.id.to_string(), hit.0.id.to_string());
                    let got = (
                        c.before.iter().map(|e| e.id.to_string()).collect::<Vec<_>>(),
                        c.after.iter().map(|e| e.id.to_string()).collect::<Vec<_>>(),
                    );
                    proptest::prop_assert_eq!(&got, &want, "{}", named);
                }
            }
            for (agent, seq) in probes {
                if !spec.contains_key(&(agent, seq)) {
                    let id = format!("{}:{seq}", agents[agent]);
                    let got = s.context(&ContextParams {
                        at: id.clone(),
                        ..ContextParams::default()
                    });
                    proptest::prop_assert!(matches!(got, Err(SearchError::NotFound(_))), "{}", id);
                }
            }
        }
    }

    #[test]
    fn a_hit_inside_a_second_is_found_by_position_and_its_neighbours_in_that_second_too() {
        // h1's events all inside one second and the next, the hit in the middle; h2's between.
        let times = [
            ("2026-11-30T12:00:00.100Z", "h1"),
            ("2026-11-30T12:00:00.200Z", "h2"),
            ("2026-11-30T12:00:00.381556Z", "h1"),
            ("2026-11-30T12:00:00.5Z", "h1"),
            ("2026-11-30T12:00:00.700Z", "h1"),
            ("2026-11-30T12:00:00.800Z", "h2"),
            ("2026-11-30T12:00:00.999999Z", "h1"),
            ("2026-11-30T12:00:01.25Z", "h1"),
        ];
        let (_dir, s, found) = searcher_and_hit(&times, 3, 9);
        let seqs = |v: &[logwarden_core::Event]| v.iter().map(|e| e.id.seq).collect::<Vec<_>>();
        for at in [found.positions[0].clone(), "a:3".to_owned()] {
            let c = s
                .context(&ContextParams {
                    at: at.clone(),
                    before: Some(5),
                    after: Some(5),
                })
                .unwrap();
            assert_eq!(c.hit.id.seq, 3, "{at}");
            assert_eq!(seqs(&c.before), vec![0, 2], "{at}");
            assert_eq!(seqs(&c.after), vec![4, 6, 7], "{at}");
        }
    }
}

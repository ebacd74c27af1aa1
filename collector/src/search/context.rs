//! Context around a hit (Graylog's "surrounding messages"): the events just before and just
//! after one event, from the same host and source, in the total order (`order.rs`). The event is
//! named by its position (a search answer's `positions`), which also is where the two searches
//! start: the newest events before it and the oldest after it (`nearest.rs`).

use std::time::Instant;

use chrono::Duration;
use logwarden_core::wire::{ContextParams, ContextResponse};
use tantivy::query::{BooleanQuery, InvertedIndexRangeQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DateTime, Term};

use super::nearest::Nearest;
use super::order::{Direction, Position};
use super::{SearchError, Searcher};

pub const DEFAULT_LINES: usize = 5;
/// Most events asked for on either side.
pub const MAX_LINES: usize = 1000;

impl Searcher {
    pub fn context(&self, p: &ContextParams) -> Result<ContextResponse, SearchError> {
        let started = Instant::now();
        let at = Position::parse(&p.at).map_err(SearchError::BadParam)?;
        let lines = |n: Option<usize>, side: &str| match n.unwrap_or(DEFAULT_LINES) {
            n if n <= MAX_LINES => Ok(n),
            n => Err(SearchError::BadParam(format!(
                "{side} {n} is over the maximum of {MAX_LINES}"
            ))),
        };
        let (before, after) = (lines(p.before, "before")?, lines(p.after, "after")?);
        let (hit, host, source) = self.event_at(at)?.ok_or_else(|| {
            SearchError::NotFound(format!(
                "no event at position {:?} (it may have been dropped by retention)",
                p.at
            ))
        })?;
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
        let events: Vec<_> = times
            .iter()
            .enumerate()
            .map(|(seq, (ts, host))| {
                let msg = if seq == 4 {
                    "the hit".to_owned()
                } else {
                    format!("line {seq}")
                };
                let mut e = event(seq as u64, ts, "x", Severity::Info, &msg, None);
                e.host = (*host).into();
                (
                    e,
                    WalPlace {
                        lsn: 3,
                        pos: seq as u64,
                    },
                )
            })
            .collect();
        let (_dir, s) = searcher_with_places(&events, 2);
        let found = s
            .search(
                &SearchParams {
                    q: "hit".into(),
                    ..SearchParams::default()
                },
                chrono::Utc::now(),
            )
            .unwrap();
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
}

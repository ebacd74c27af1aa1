//! Rebuilding a day's partition from its own stored events (`_source`), for a partition the
//! current version cannot use (another schema version) once the WAL no longer holds all of its
//! day: a replay of the WAL would bring back only the newest events, so the partition's own copy
//! of each event is the only whole one.
//!
//! Each document's `_source` is the event's JSON as the WAL held it, and its `lsn` fast field the
//! WAL record it came from (where the old schema has one; else the old commit's LSN, which every
//! event of the partition is at or below). The new partition is committed as complete through the
//! old commit's LSN, so a replay of what the WAL still holds adds nothing twice.
//!
//! `pos` (the event's line in its WAL record, the last key of the total order) is copied as it
//! is. Versions before 5 have none: the events of one record are then numbered 0, 1, ... in the
//! order the old partition holds them, which is the order of the record (a record's events of
//! one day went to tantivy in one hand-over, in order, into one segment, and merges keep the order
//! of documents). The order of events is so the same as before; the numbers may differ from a
//! standby's where a record had events of several days (its line numbers skip the other days').
//!
//! On disk, so that a crash at any point leaves something the next start can finish:
//!
//! 1. the new index is built and committed in `<day>.reindex/` (a leftover one is incomplete:
//!    removed at the next start, and the day reindexed again);
//! 2. `<day>/` is renamed to `<day>.replaced/`, then `<day>.reindex/` to `<day>/` (a start that
//!    finds `<day>.replaced/` without `<day>/` renames it back and reindexes again);
//! 3. `<day>.replaced/` is removed.
//!
//! An event whose `_source` cannot be read is not lost: the old partition is then kept whole as
//! `<day>.kept-<time>/` (out of search, on disk) beside the new one, and an error names it. (It
//! is moved there in step 2, in place of `<day>.replaced/`; a crash before `<day>.reindex/` is in
//! place then leaves the day empty beside the kept one, as before rebuilds from `_source`.)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use tantivy::{Index, TantivyDocument};

use super::error::IndexError;
use super::partition::{CommitPayload, dir_name, kept_dir};
use super::schema::{self, Indexed, SCHEMA_VERSION};

/// The new partition's writer heap (one thread): the same as one partition writer's default.
const HEAP: usize = 64 << 20;
/// How often progress is logged during a long rebuild.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Blocks of the old doc store kept decompressed while reading it in order.
const STORE_CACHE_BLOCKS: usize = 16;

/// How a rebuild ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Reindexed {
    /// Every event is in the new partition; the old one is gone.
    Whole { events: u64 },
    /// `unreadable` events could not be read back: the old partition is kept at `kept`.
    Partly {
        events: u64,
        unreadable: u64,
        kept: PathBuf,
    },
}

/// Rebuilds `root/<day>/` (the open index `old`, committed through `lsn`) with the current
/// schema from its stored events. Afterwards `root/<day>/` is a partition of the current version,
/// complete through `lsn`.
pub fn from_source(
    root: &Path,
    day: NaiveDate,
    old: Index,
    lsn: u64,
) -> Result<Reindexed, IndexError> {
    let dir = root.join(dir_name(day));
    let building = side_dir(root, day, BUILDING);
    if building.exists() {
        std::fs::remove_dir_all(&building).map_err(IndexError::io(&building))?;
    }
    std::fs::create_dir_all(&building).map_err(IndexError::io(&building))?;
    let (new_schema, f) = schema::build();
    let new =
        Index::create_in_dir(&building, new_schema).map_err(IndexError::tantivy(&building))?;
    let mut writer: tantivy::IndexWriter<TantivyDocument> = new
        .writer_with_num_threads(1, HEAP)
        .map_err(IndexError::tantivy(&building))?;

    let old_schema = old.schema();
    let source_field = old_schema.get_field("_source").ok();
    let reader = old.reader().map_err(IndexError::tantivy(&dir))?;
    let searcher = reader.searcher();
    let total = searcher.num_docs();
    tracing::info!(partition = %dir.display(), events = total, "reindexing the partition from its stored events (the WAL no longer holds all of its day)");
    let started = Instant::now();
    let mut last_said = started;
    let (mut events, mut unreadable) = (0u64, 0u64);
    // Per LSN, the next `pos` for documents of versions without one (module doc).
    let mut next_pos: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    for segment in searcher.segment_readers() {
        let store = segment
            .get_store_reader(STORE_CACHE_BLOCKS)
            .map_err(IndexError::io(&dir))?;
        let lsns = segment.fast_fields().u64("lsn").ok();
        let places = segment.fast_fields().u64("pos").ok();
        for doc_id in segment.doc_ids_alive() {
            let stored: Option<TantivyDocument> = store.get(doc_id).ok();
            let json = stored.as_ref().zip(source_field).and_then(|(d, field)| {
                use tantivy::schema::Value;
                d.get_first(field).and_then(|v| v.as_str())
            });
            let Some((json, event)) = json.and_then(|j| Indexed::parse(j).ok().map(|e| (j, e)))
            else {
                unreadable += 1;
                continue;
            };
            let doc_lsn = lsns.as_ref().and_then(|c| c.first(doc_id)).unwrap_or(lsn);
            let numbered = next_pos.entry(doc_lsn).or_insert(0);
            let pos = places
                .as_ref()
                .and_then(|c| c.first(doc_id))
                .unwrap_or(*numbered);
            *numbered += 1;
            let place = schema::WalPlace { lsn: doc_lsn, pos };
            writer
                .add_document(schema::document(&f, event, json, place))
                // The path is copied only on error: this runs per event.
                .map_err(|e| IndexError::tantivy(&building)(e))?;
            events += 1;
            if last_said.elapsed() >= PROGRESS_EVERY {
                last_said = Instant::now();
                tracing::info!(partition = %dir.display(), done = events + unreadable, of = total, "reindexing");
            }
        }
    }
    let mut prepared = writer
        .prepare_commit()
        .map_err(IndexError::tantivy(&building))?;
    let payload = CommitPayload {
        schema: SCHEMA_VERSION,
        lsn,
    };
    prepared.set_payload(&serde_json::to_string(&payload).expect("a payload serializes"));
    prepared.commit().map_err(IndexError::tantivy(&building))?;
    writer
        .wait_merging_threads()
        .map_err(IndexError::tantivy(&building))?;
    drop((searcher, reader, old));

    // The swap (module doc): `<day>` is never missing without the old one beside it. With
    // events that could not be read, the old one goes straight to where it is kept.
    let aside = if unreadable == 0 {
        side_dir(root, day, REPLACED)
    } else {
        kept_dir(root, day)
    };
    std::fs::rename(&dir, &aside).map_err(IndexError::io(&dir))?;
    sync_dir(root)?;
    std::fs::rename(&building, &dir).map_err(IndexError::io(&building))?;
    sync_dir(root)?;
    let outcome = if unreadable == 0 {
        std::fs::remove_dir_all(&aside).map_err(IndexError::io(&aside))?;
        Reindexed::Whole { events }
    } else {
        tracing::error!(partition = %dir.display(), kept = %aside.display(), unreadable, "events of the partition could not be read back to reindex them: the old partition is kept, out of search");
        Reindexed::Partly {
            events,
            unreadable,
            kept: aside,
        }
    };
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(partition = %dir.display(), events, seconds = format!("{secs:.1}"), "partition reindexed from its stored events");
    Ok(outcome)
}

const BUILDING: &str = "reindex";
const REPLACED: &str = "replaced";

fn side_dir(root: &Path, day: NaiveDate, what: &str) -> PathBuf {
    root.join(format!("{}.{what}", dir_name(day)))
}

/// Finishes what a rebuild interrupted by a crash left in `root` (module doc): a day's old
/// partition moved aside without its new one in place goes back (to be reindexed again), and
/// unfinished new ones are removed.
pub fn finish_interrupted(root: &Path) -> Result<(), IndexError> {
    let mut names: Vec<(PathBuf, String)> = std::fs::read_dir(root)
        .map_err(IndexError::io(root))?
        .filter_map(Result::ok)
        .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
        .collect();
    // `.reindex` sorts before `.replaced`: restore the old partitions first.
    names.sort_by(|a, b| b.1.cmp(&a.1));
    for (path, name) in names {
        let Some((day, what)) = name.split_once('.') else {
            continue;
        };
        if super::partition::day_of_dir(day).is_none() {
            continue;
        }
        match what {
            REPLACED if !root.join(day).exists() => {
                tracing::warn!(partition = %root.join(day).display(), "a reindex of this partition was interrupted: it is reindexed again");
                std::fs::rename(&path, root.join(day)).map_err(IndexError::io(&path))?;
                sync_dir(root)?;
            }
            REPLACED | BUILDING => {
                std::fs::remove_dir_all(&path).map_err(IndexError::io(&path))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// fsyncs a directory, so that renames in it survive a crash.
fn sync_dir(dir: &Path) -> Result<(), IndexError> {
    logwarden_core::durable::sync_dir(dir).map_err(IndexError::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::partition::{Opened, Partition, Unusable};
    use tantivy::collector::Count;
    use tantivy::query::QueryParser;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
    }

    fn event_json(n: u64, message: &str) -> String {
        format!(
            r#"{{"received":"2026-11-20T10:00:0{n}Z","id":"ag:{n}","ts":"2026-11-20T10:00:0{n}Z","host":"mbox{n}","site":"s","source":"/var/log/mail.log","app":"postfix","severity":"warning","kind":"log","message":"{message}","fields":{{"account":"user{n}@example.com"}}}}"#
        )
    }

    /// A partition of `day` as an older release wrote it: version 3's schema (norms kept, no
    /// `pos`), its commit saying schema version 2 (which this release cannot use), complete
    /// through LSN 9. Each `(lsn, _source)` becomes a document, in order, with only what a
    /// rebuild reads (`lsn` and `_source`); a `_source` that is not an event is stored as it is.
    fn old_partition(root: &Path, docs: &[(u64, String)]) {
        let dir = root.join(dir_name(day()));
        std::fs::create_dir_all(&dir).unwrap();
        let v3 = schema::version_3();
        let (lsn_field, raw) = (
            v3.get_field("lsn").unwrap(),
            v3.get_field("_source").unwrap(),
        );
        let index = Index::create_in_dir(&dir, v3).unwrap();
        let mut writer: tantivy::IndexWriter<TantivyDocument> =
            index.writer_with_num_threads(1, 15_000_000).unwrap();
        for (lsn, json) in docs {
            let mut d = TantivyDocument::default();
            d.add_u64(lsn_field, *lsn);
            d.add_text(raw, json);
            writer.add_document(d).unwrap();
        }
        let mut prepared = writer.prepare_commit().unwrap();
        prepared.set_payload(r#"{"schema": 2, "lsn": 9}"#);
        prepared.commit().unwrap();
    }

    fn count(p: &Partition, q: &str) -> usize {
        let query = QueryParser::for_index(&p.index, vec![p.fields.message])
            .parse_query(q)
            .unwrap();
        p.reader.searcher().search(&query, &Count).unwrap()
    }

    /// Names in `root` other than the day's own partition.
    fn others(root: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != &dir_name(day()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_partition_of_another_version_is_rebuilt_from_its_stored_events_once_the_wal_is_trimmed() {
        let root = tempfile::tempdir().unwrap();
        // Two events of record 5, one of record 6.
        let docs: Vec<(u64, String)> = [(1, 5), (2, 5), (3, 6)]
            .into_iter()
            .map(|(n, lsn)| (lsn, event_json(n, &format!("raid degraded disk{n}"))))
            .collect();
        old_partition(root.path(), &docs);
        let Opened::Kept(p) = Partition::open(root.path(), day(), Unusable::Reindex).unwrap()
        else {
            panic!("the rebuilt partition is not taken as complete");
        };
        assert_eq!(
            (p.lsn(), p.docs()),
            (9, 3),
            "complete through the old commit's LSN"
        );
        assert!(p.index.schema() == schema::build().0, "the current schema");
        assert_eq!(count(&p, "degraded AND host:mbox2"), 1);
        assert_eq!(count(&p, "fields.account:\"user3@example.com\""), 1);
        assert_eq!(count(&p, "app:postfix AND severity:warning"), 3);
        // The id blocks the old version did not index are there (`context ID`).
        assert_eq!(count(&p, "id_block:\"ag:0\""), 3);
        assert_eq!(count(&p, "id_block:\"ag:1\""), 0);
        // Each document keeps the LSN of its WAL record, and its `_source` as it was; the old
        // version had no `pos`: a record's events are numbered in the order they were held.
        let numbered = vec![
            (5, 0, docs[0].1.clone()),
            (5, 1, docs[1].1.clone()),
            (6, 0, docs[2].1.clone()),
        ];
        assert_eq!(placed(&p), numbered);
        assert!(others(root.path()).is_empty(), "{:?}", others(root.path()));
        drop(p);
        // Opened again: as it is.
        let again = Partition::open(root.path(), day(), Unusable::Reindex).unwrap();
        assert!(matches!(again, Opened::Kept(ref p) if p.lsn() == 9 && p.docs() == 3));
        drop(again);
        // Rebuilt again from a partition that has `pos` (as the next version will): copied.
        let dir = root.path().join(dir_name(day()));
        let index = Index::open_in_dir(&dir).unwrap();
        let (_, f) = schema::build();
        let mut writer: tantivy::IndexWriter<TantivyDocument> =
            index.writer_with_num_threads(1, 15_000_000).unwrap();
        let extra = event_json(4, "late");
        let place = schema::WalPlace { lsn: 5, pos: 7 };
        writer
            .add_document(schema::document(
                &f,
                Indexed::parse(&extra).unwrap(),
                &extra,
                place,
            ))
            .unwrap();
        writer.commit().unwrap();
        drop(writer);
        assert_eq!(
            from_source(root.path(), day(), index, 9).unwrap(),
            Reindexed::Whole { events: 4 }
        );
        let Opened::Kept(p) = Partition::open(root.path(), day(), Unusable::Reindex).unwrap()
        else {
            panic!("not kept");
        };
        let mut with_extra = numbered;
        with_extra.insert(2, (5, 7, extra));
        assert_eq!(placed(&p), with_extra, "every (lsn, pos) as it was");
    }

    /// Every document's `(lsn, pos, _source)`, sorted.
    fn placed(p: &Partition) -> Vec<(u64, u64, String)> {
        let searcher = p.reader.searcher();
        let mut seen = Vec::new();
        for segment in searcher.segment_readers() {
            let lsns = segment.fast_fields().u64("lsn").unwrap();
            let places = segment.fast_fields().u64("pos").unwrap();
            let store = segment.get_store_reader(1).unwrap();
            for id in segment.doc_ids_alive() {
                let doc: TantivyDocument = store.get(id).unwrap();
                use tantivy::schema::Value;
                let json = doc.get_first(p.fields.raw).unwrap().as_str().unwrap();
                let place = (lsns.first(id).unwrap(), places.first(id).unwrap());
                seen.push((place.0, place.1, json.to_owned()));
            }
        }
        seen.sort();
        seen
    }

    #[test]
    fn events_that_cannot_be_read_back_keep_the_old_partition_aside() {
        let root = tempfile::tempdir().unwrap();
        let docs = vec![
            (5, event_json(1, "raid degraded")),
            (6, "not an event".to_owned()),
            (7, event_json(2, "raid rebuilt")),
        ];
        old_partition(root.path(), &docs);
        let dir = root.path().join(dir_name(day()));
        let old = Index::open_in_dir(&dir).unwrap();
        let outcome = from_source(root.path(), day(), old, 9).unwrap();
        let Reindexed::Partly {
            events: 2,
            unreadable: 1,
            kept,
        } = outcome
        else {
            panic!("{outcome:?}");
        };
        // The old partition, whole, out of search; the new one has what could be read.
        let kept_index = Index::open_in_dir(&kept).unwrap();
        assert_eq!(kept_index.reader().unwrap().searcher().num_docs(), 3);
        assert_eq!(
            others(root.path()),
            vec![kept.file_name().unwrap().to_string_lossy().into_owned()]
        );
        let Opened::Kept(p) = Partition::open(root.path(), day(), Unusable::Reindex).unwrap()
        else {
            panic!("the new partition is not taken as it is");
        };
        assert_eq!((p.lsn(), p.docs()), (9, 2));
    }

    #[test]
    fn a_start_after_an_interrupted_rebuild_reindexes_again_and_keeps_nothing_twice() {
        let root = tempfile::tempdir().unwrap();
        let docs = vec![
            (5, event_json(1, "raid degraded")),
            (6, event_json(2, "ok")),
        ];
        // Interrupted between the two renames: the old partition moved aside, the new one
        // built but not in place.
        old_partition(root.path(), &docs);
        let dir = root.path().join(dir_name(day()));
        std::fs::rename(&dir, side_dir(root.path(), day(), REPLACED)).unwrap();
        std::fs::create_dir_all(side_dir(root.path(), day(), BUILDING).join("junk")).unwrap();
        // Another day interrupted after them: its new partition in place, the old one not
        // removed yet. A kept partition is left alone.
        let next = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        drop(Partition::open(root.path(), next, Unusable::Reindex).unwrap());
        std::fs::create_dir_all(side_dir(root.path(), next, REPLACED)).unwrap();
        std::fs::create_dir_all(root.path().join("2026-11-19.kept-20261130T050000")).unwrap();

        let (catalog, _) =
            crate::index::catalog::Catalog::open(root.path(), Unusable::Reindex).unwrap();
        let p = catalog.get(day()).expect("the day is back");
        assert_eq!((p.lsn(), p.docs()), (9, 2));
        assert_eq!(count(&p, "degraded"), 1);
        let mut names = others(root.path());
        names.retain(|n| n != "state.json");
        assert_eq!(
            names,
            vec!["2026-11-19.kept-20261130T050000".to_owned(), dir_name(next)]
        );
    }
}

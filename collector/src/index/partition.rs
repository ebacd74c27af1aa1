//! One partition of the event index: a tantivy index holding the events of one UTC day (by the
//! event's own `ts`), in `index/<YYYY-MM-DD>/`.
//!
//! Each commit of a partition carries, in tantivy's commit payload, the schema version and the
//! WAL LSN `N` it is complete through: every event of this day from WAL records `<= N` is in it,
//! none from later records. The commit and that LSN are atomic (one `meta.json` write), so after
//! a crash a record `r` is added to the partition again only when `r > N`: nothing twice, nothing
//! missed. A partition created and never committed holds nothing (`N = 0`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use tantivy::{Index, IndexReader, ReloadPolicy};

use super::error::IndexError;
use super::order_columns::OrderColumnCache;
use super::schema::{self, Fields};

/// What each commit records (as JSON in tantivy's commit payload).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CommitPayload {
    pub schema: u32,
    pub lsn: u64,
}

/// An open partition: its index, a reader that searches see, and the LSN it is complete through.
pub struct Partition {
    pub day: NaiveDate,
    pub dir: PathBuf,
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Fields,
    /// The LSN of the partition's last commit (see the module doc). Written by the indexer after
    /// each commit, read by live tail to skip partitions with nothing new.
    lsn: AtomicU64,
    /// The order's columns of each segment, opened once (`order_columns.rs`).
    pub order_columns: OrderColumnCache,
}

/// How a partition came out of [`Partition::open`].
pub enum Opened {
    /// Its commits were readable: it is complete through its LSN.
    Kept(Partition),
    /// Unreadable, or of another schema version while the WAL holds all of its day: it was
    /// emptied (or, unreadable and the WAL trimmed, set aside) and must be rebuilt from the WAL.
    Rebuilt(Partition),
}

/// What to do with a partition that cannot be used as it is (another schema version, damage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// Delete it: the WAL holds every record, and the replay rebuilds it.
    Delete,
    /// The WAL was trimmed, so a replay would bring back only part of the day: rebuild it from
    /// its own stored events (`reindex.rs`), or, where its commit cannot be read, move it to
    /// `<day>.kept-<time>/`, out of search but on disk, and say so.
    Reindex,
}

impl Unusable {
    /// The choice for a WAL that holds records `first_lsn..=last_lsn` (`last_lsn` 0: none).
    /// Only a WAL that starts at the first record and holds some can rebuild a partition. An
    /// empty one cannot: a standby that is to copy afresh (its primary trimmed what it needs)
    /// starts with an empty WAL and its index intact, and deleting a partition there would lose
    /// the days the primary no longer holds.
    pub fn for_wal(first_lsn: u64, last_lsn: u64) -> Unusable {
        if first_lsn <= 1 && last_lsn > 0 {
            Unusable::Delete
        } else {
            Unusable::Reindex
        }
    }
}

/// The directory name of a day's partition (`2026-11-29`).
pub fn dir_name(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// Where a partition that cannot be used is kept, out of search: `<day>.kept-<time>/`.
pub(super) fn kept_dir(root: &Path, day: NaiveDate) -> PathBuf {
    root.join(format!(
        "{}.kept-{}",
        dir_name(day),
        Utc::now().format("%Y%m%dT%H%M%S")
    ))
}

/// The day a partition directory is named for, or `None` for anything else.
pub fn day_of_dir(name: &str) -> Option<NaiveDate> {
    if name.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(name, "%Y-%m-%d").ok()
}

/// The UTC day that holds an event of time `ts`.
pub fn day_of(ts: DateTime<Utc>) -> NaiveDate {
    ts.date_naive()
}

/// The first instant of `day` (UTC).
pub fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The LSN the last commit of `index` on disk says it is complete through (`None`: unreadable).
pub(super) fn committed_lsn(index: &Index) -> Option<u64> {
    let payload = index.load_metas().ok()?.payload;
    match payload {
        None => Some(0),
        Some(p) => serde_json::from_str::<CommitPayload>(&p)
            .ok()
            .map(|p| p.lsn),
    }
}

impl Partition {
    pub fn lsn(&self) -> u64 {
        self.lsn.load(Ordering::Acquire)
    }

    pub(crate) fn set_lsn(&self, lsn: u64) {
        self.lsn.store(lsn, Ordering::Release);
    }

    /// Documents visible to searches now.
    pub fn docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Bytes of the partition's files on disk.
    pub fn bytes(&self) -> u64 {
        dir_bytes(&self.dir)
    }

    /// Opens the partition of `day` under `root`, or makes an empty one; `unusable` says what
    /// becomes of one that cannot be used as it is.
    pub fn open(root: &Path, day: NaiveDate, unusable: Unusable) -> Result<Opened, IndexError> {
        Partition::open_with(root, day, unusable, &mut || Ok(()))
    }

    /// [`Partition::open`], calling `before_emptying` before an unusable partition is deleted
    /// or set aside: once it is emptied, only a replay of the whole WAL brings its day back,
    /// and the caller must have recorded that durably first (a crash before the rebuild's
    /// first commit leaves an empty partition that opens as a valid one, of LSN 0).
    pub(super) fn open_with(
        root: &Path,
        day: NaiveDate,
        unusable: Unusable,
        before_emptying: &mut dyn FnMut() -> Result<(), IndexError>,
    ) -> Result<Opened, IndexError> {
        let dir = root.join(dir_name(day));
        let (schema, fields) = schema::build();
        let tantivy_err = |source| IndexError::Tantivy {
            path: dir.clone(),
            source,
        };
        let io_err = |source| IndexError::Io {
            path: dir.clone(),
            source,
        };
        // A readable partition of another schema version, with the LSN its commit is complete
        // through: it can be rebuilt from its stored events.
        let mut stale = None;
        let existing = if dir.join("meta.json").exists() {
            match Index::open_in_dir(&dir) {
                Ok(index) => {
                    let payload = index.load_metas().ok().and_then(|m| m.payload);
                    let parsed = payload
                        .as_deref()
                        .and_then(|p| serde_json::from_str::<CommitPayload>(p).ok());
                    match parsed {
                        Some(p) if schema::usable(p.schema, &index.schema()) => {
                            Some((index, p.lsn))
                        }
                        None if payload.is_none() => Some((index, 0)),
                        _ => {
                            tracing::warn!(
                                partition = %dir.display(),
                                "index partition of another schema version or with an unreadable commit; rebuilding it"
                            );
                            stale = parsed.map(|p| (index, p.lsn));
                            None
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(partition = %dir.display(), error = %e, "index partition cannot be opened; rebuilding it from the WAL");
                    None
                }
            }
        } else {
            None
        };
        if let (Some((old, lsn)), Unusable::Reindex) = (stale, unusable) {
            super::reindex::from_source(root, day, old, lsn)?;
            // Now of the current version, complete through `lsn`: kept as it is.
            return Partition::open(root, day, Unusable::Reindex);
        }
        let rebuilt = existing.is_none() && dir.exists();
        let (index, lsn) = match existing {
            Some(found) => found,
            None => {
                if dir.exists() {
                    before_emptying()?;
                    match unusable {
                        Unusable::Delete => std::fs::remove_dir_all(&dir).map_err(io_err)?,
                        Unusable::Reindex => {
                            let aside = kept_dir(root, day);
                            std::fs::rename(&dir, &aside).map_err(io_err)?;
                            tracing::error!(
                                partition = %dir.display(),
                                kept = %aside.display(),
                                "the partition cannot be read and the WAL no longer holds all of this day's events (WAL retention), so it is set aside instead of deleted: its events are out of search until it is reindexed or removed"
                            );
                        }
                    }
                }
                std::fs::create_dir_all(&dir).map_err(io_err)?;
                (Index::create_in_dir(&dir, schema).map_err(tantivy_err)?, 0)
            }
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tantivy_err)?;
        let p = Partition {
            day,
            dir: dir.clone(),
            index,
            reader,
            fields,
            lsn: AtomicU64::new(lsn),
            order_columns: OrderColumnCache::default(),
        };
        Ok(if rebuilt {
            Opened::Rebuilt(p)
        } else {
            Opened::Kept(p)
        })
    }
}

/// Sum of the sizes of the files in `dir` (tantivy keeps a flat directory).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A partition of `day` whose commit says schema version `version`.
    fn partition_of_version(root: &Path, day: NaiveDate, version: u32) {
        partition_of(root, day, version, schema::build().0)
    }

    /// The same, its index made with `schema`.
    fn partition_of(root: &Path, day: NaiveDate, version: u32, schema: tantivy::schema::Schema) {
        let dir = root.join(dir_name(day));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        let index = Index::create_in_dir(&dir, schema).unwrap();
        let mut writer: tantivy::IndexWriter<tantivy::TantivyDocument> =
            index.writer_with_num_threads(1, 15_000_000).unwrap();
        let mut prepared = writer.prepare_commit().unwrap();
        prepared.set_payload(&format!(r#"{{"schema": {version}, "lsn": 7}}"#));
        prepared.commit().unwrap();
    }

    #[test]
    fn only_a_wal_from_its_first_record_on_may_rebuild_a_partition() {
        assert_eq!(Unusable::for_wal(1, 500), Unusable::Delete);
        assert_eq!(Unusable::for_wal(40, 500), Unusable::Reindex, "trimmed");
        // Empty: a fresh install (no partitions to judge), or a standby copying afresh.
        assert_eq!(Unusable::for_wal(1, 0), Unusable::Reindex);
    }

    #[test]
    fn an_unusable_partition_is_deleted_while_the_wal_can_rebuild_it_and_reindexed_or_set_aside_after()
     {
        let root = tempfile::tempdir().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let kept = |root: &Path| -> Vec<String> {
            std::fs::read_dir(root)
                .unwrap()
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("2026-11-29.kept-"))
                .collect()
        };
        // The current version opens as it is.
        partition_of_version(root.path(), day, schema::SCHEMA_VERSION);
        let p = Partition::open(root.path(), day, Unusable::Reindex).unwrap();
        assert!(matches!(p, Opened::Kept(ref p) if p.lsn() == 7));
        drop(p);
        // Another version, the WAL whole: emptied, to be rebuilt.
        partition_of_version(root.path(), day, 2);
        let p = Partition::open(root.path(), day, Unusable::Delete).unwrap();
        assert!(matches!(p, Opened::Rebuilt(ref p) if p.lsn() == 0));
        drop(p);
        assert!(kept(root.path()).is_empty());
        // Another version, the WAL trimmed: rebuilt from its own stored events (`reindex.rs`),
        // complete through its LSN.
        partition_of_version(root.path(), day, 2);
        let p = Partition::open(root.path(), day, Unusable::Reindex).unwrap();
        assert!(matches!(p, Opened::Kept(ref p) if p.lsn() == 7));
        drop(p);
        assert!(kept(root.path()).is_empty());
        // A commit that cannot be read, the WAL trimmed: kept beside a new empty one.
        let meta = root.path().join(dir_name(day)).join("meta.json");
        let text = std::fs::read_to_string(&meta).unwrap();
        let damaged = text.replace(r#"\"lsn\""#, r#"\"lsm\""#);
        assert_ne!(text, damaged, "the payload is in meta.json: {text}");
        std::fs::write(&meta, damaged).unwrap();
        let p = Partition::open(root.path(), day, Unusable::Reindex).unwrap();
        assert!(matches!(p, Opened::Rebuilt(ref p) if p.lsn() == 0 && p.docs() == 0));
        let kept = kept(root.path());
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(root.path().join(&kept[0]).join("meta.json").exists());
        assert_eq!(day_of_dir(&kept[0]), None, "not taken for a partition");
    }

    #[test]
    fn partitions_of_versions_3_and_4_without_pos_are_rebuilt_in_the_current_schema() {
        let root = tempfile::tempdir().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let v4 = {
            // Version 4 was the current schema less `pos`.
            let v3 = schema::version_3();
            let mut b = tantivy::schema::Schema::builder();
            for (_, entry) in schema::build().0.fields() {
                if entry.name() != "pos" {
                    b.add_field(entry.clone());
                }
            }
            let v4 = b.build();
            assert!(v4 != v3 && v4 != schema::build().0);
            v4
        };
        for (version, old) in [(3, schema::version_3()), (4, v4)] {
            partition_of(root.path(), day, version, old);
            let Opened::Kept(p) = Partition::open(root.path(), day, Unusable::Reindex).unwrap()
            else {
                panic!("version {version} was not rebuilt from its stored events");
            };
            assert_eq!(p.lsn(), 7, "version {version}");
            assert!(p.index.schema() == schema::build().0, "version {version}");
            drop(p);
            partition_of(root.path(), day, version, schema::build().0);
            let p = Partition::open(root.path(), day, Unusable::Delete).unwrap();
            assert!(
                matches!(p, Opened::Rebuilt(ref p) if p.lsn() == 0),
                "version {version} with the WAL whole: emptied for a rebuild from the WAL"
            );
        }
    }

    #[test]
    fn day_names_round_trip_and_other_names_are_not_days() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        assert_eq!(dir_name(day), "2026-11-29");
        assert_eq!(day_of_dir("2026-11-29"), Some(day));
        for other in [
            "state.json",
            "2026-11-29.dropped",
            "2026-13-01",
            "meta.json",
        ] {
            assert_eq!(day_of_dir(other), None, "{other}");
        }
        let ts = DateTime::parse_from_rfc3339("2026-11-29T23:59:59.999+00:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(day_of(ts), day);
        assert_eq!(start_of(day).to_rfc3339(), "2026-11-29T00:00:00+00:00");
    }
}

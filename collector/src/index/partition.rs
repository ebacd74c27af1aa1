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

use super::IndexError;
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
}

/// How a partition came out of [`Partition::open`].
pub enum Opened {
    /// Its commits were readable: it is complete through its LSN.
    Kept(Partition),
    /// Another schema version or unreadable: it was emptied and must be rebuilt from the WAL.
    Rebuilt(Partition),
}

/// The directory name of a day's partition (`2026-11-29`).
pub fn dir_name(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
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

    /// Opens the partition of `day` under `root`, or makes an empty one.
    pub fn open(root: &Path, day: NaiveDate) -> Result<Opened, IndexError> {
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
        let existing = if dir.join("meta.json").exists() {
            match Index::open_in_dir(&dir) {
                Ok(index) => {
                    let payload = index.load_metas().ok().and_then(|m| m.payload);
                    let parsed = payload
                        .as_deref()
                        .and_then(|p| serde_json::from_str::<CommitPayload>(p).ok());
                    match parsed {
                        Some(p)
                            if p.schema == schema::SCHEMA_VERSION && index.schema() == schema =>
                        {
                            Some((index, p.lsn))
                        }
                        None if payload.is_none() => Some((index, 0)),
                        _ => {
                            tracing::warn!(
                                partition = %dir.display(),
                                "index partition of another schema version or with an unreadable commit; rebuilding it from the WAL"
                            );
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
        let rebuilt = existing.is_none() && dir.exists();
        let (index, lsn) = match existing {
            Some(found) => found,
            None => {
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(io_err)?;
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

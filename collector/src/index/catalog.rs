//! The set of index partitions (one per UTC day, see `partition.rs`) and the small state file
//! that ties them to the WAL.
//!
//! Layout of the index directory:
//!
//! ```text
//! index/
//!   state.json        {"version":1,"lsn":N,"dropped_through":"2026-10-30"}
//!   2026-11-28/       a tantivy index (partition), complete through its own commit's LSN
//!   2026-11-29/
//!   2026-10-30.dropped/   a partition being deleted by retention (removed again at start)
//! ```
//!
//! `state.json` (saved by temp file, fsync, rename) keeps two facts:
//! - `lsn`: every partition is complete through it. It is saved only after every partition that
//!   received events has committed through it, so it is never ahead of any partition; a
//!   partition's own LSN may be ahead of it. Replay starts after `lsn` and re-adds a record to a
//!   partition only past that partition's own LSN, so nothing is indexed twice. Partitions that
//!   received nothing for a while keep an old commit LSN; `lsn` is what lets replay start late
//!   anyway (without it, one quiet old day would make every start replay the whole WAL).
//!   Before a partition that cannot be used is emptied for a rebuild from the WAL, `lsn` is
//!   saved as 0: the emptied partition opens like any new one (LSN 0, nothing to say that it
//!   lacks its day), so a crash before the rebuild's first commit must still replay it all.
//! - `dropped_through`: the newest day retention removed. Events of that day or older are not
//!   indexed again (a replay or a late sender would otherwise bring a dropped day back).
//!   It is saved before the partition's directory is deleted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::error::IndexError;
use super::partition::{self, Opened, Partition, Unusable};

const STATE_FILE: &str = "state.json";
const STATE_VERSION: u32 = 1;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct State {
    version: u32,
    lsn: u64,
    dropped_through: Option<NaiveDate>,
}

/// The partitions, shared by the indexer (which adds and drops them) and searches (which read
/// them). Searches take a snapshot of `Arc`s: a partition dropped meanwhile stays readable to
/// the search that holds it (its files are unlinked but open).
pub struct Catalog {
    root: PathBuf,
    partitions: RwLock<BTreeMap<NaiveDate, Arc<Partition>>>,
    state: RwLock<State>,
}

impl Catalog {
    /// Opens the index directory `root`: removes what an interrupted drop left, opens every
    /// partition, and says from which LSN the WAL must be replayed. `unusable` says what becomes
    /// of a partition that cannot be used as it is (rebuilt from its stored events when the WAL
    /// was trimmed).
    pub fn open(root: &Path, unusable: Unusable) -> Result<(Arc<Catalog>, u64), IndexError> {
        if root.join("meta.json").exists() {
            // The layout before partitions: one tantivy index right in `index/`.
            tracing::warn!(
                index = %root.display(),
                "index has the single-index layout of an older version; rebuilding it as day partitions from the WAL"
            );
            std::fs::remove_dir_all(root).map_err(IndexError::io(root))?;
        }
        std::fs::create_dir_all(root).map_err(IndexError::io(root))?;
        super::reindex::finish_interrupted(root)?;
        let state_path = root.join(STATE_FILE);
        let mut state = match std::fs::read(&state_path) {
            Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(s) if s.version == STATE_VERSION => s,
                _ => {
                    tracing::warn!(file = %state_path.display(), "index state unreadable or of another version; replaying the whole WAL");
                    State::default()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(IndexError::io(&state_path)(e)),
        };
        state.version = STATE_VERSION;
        let mut partitions = BTreeMap::new();
        for entry in std::fs::read_dir(root).map_err(IndexError::io(root))? {
            let entry = entry.map_err(IndexError::io(root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.ends_with(".dropped") {
                std::fs::remove_dir_all(&path).map_err(IndexError::io(&path))?;
                continue;
            }
            let Some(day) = partition::day_of_dir(&name) else {
                continue;
            };
            if state.dropped_through.is_some_and(|d| day <= d) {
                // Retention saved its decision but was interrupted before deleting.
                std::fs::remove_dir_all(&path).map_err(IndexError::io(&path))?;
                continue;
            }
            // A partition about to lose its content: only a replay of the whole WAL brings it
            // back (the others skip what they hold by their own LSN). Saved before it is
            // emptied: the emptied partition opens as a valid one of LSN 0, so after a crash
            // before the rebuild's first commit nothing else would say that it lacks its day.
            let mut replay_all = || {
                if state.lsn != 0 {
                    state.lsn = 0;
                    save_state(root, &state)?;
                }
                Ok(())
            };
            let p = match Partition::open_with(root, day, unusable, &mut replay_all)? {
                Opened::Kept(p) | Opened::Rebuilt(p) => p,
            };
            partitions.insert(day, Arc::new(p));
        }
        let start = state.lsn;
        let catalog = Catalog {
            root: root.to_owned(),
            partitions: RwLock::new(partitions),
            state: RwLock::new(state),
        };
        Ok((Arc::new(catalog), start))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every partition, oldest first.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.read().values().cloned().collect()
    }

    /// The partitions that can hold events in `[since, until)`, newest first.
    pub fn overlapping(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Vec<Arc<Partition>> {
        let first = since.map(partition::day_of);
        // `until` is excluded: an `until` at midnight does not need that day.
        let last = until.map(|t| partition::day_of(t - chrono::Duration::microseconds(1)));
        let (first, last) = (
            first.unwrap_or(NaiveDate::MIN),
            last.unwrap_or(NaiveDate::MAX),
        );
        if first > last {
            return Vec::new(); // an empty range (`until` at or before `since`)
        }
        self.read()
            .range(first..=last)
            .rev()
            .map(|(_, p)| p.clone())
            .collect()
    }

    pub fn get(&self, day: NaiveDate) -> Option<Arc<Partition>> {
        self.read().get(&day).cloned()
    }

    /// The partition of `day`, created empty if there is none.
    pub fn get_or_create(&self, day: NaiveDate) -> Result<Arc<Partition>, IndexError> {
        if let Some(p) = self.get(day) {
            return Ok(p);
        }
        // A directory of a day the catalog does not hold yet is not expected here: kept, not
        // deleted, if it cannot be used.
        let p = match Partition::open(&self.root, day, Unusable::Reindex)? {
            Opened::Kept(p) | Opened::Rebuilt(p) => Arc::new(p),
        };
        tracing::info!(day = %day, "index partition created");
        self.partitions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(day, p.clone());
        Ok(p)
    }

    /// The newest day dropped by retention.
    pub fn dropped_through(&self) -> Option<NaiveDate> {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .dropped_through
    }

    /// Records that every partition is complete through `lsn`.
    pub fn save_lsn(&self, lsn: u64) -> Result<(), IndexError> {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.lsn == lsn {
            return Ok(());
        }
        let mut next = state.clone();
        next.lsn = lsn;
        self.save(&next)?;
        *state = next;
        Ok(())
    }

    /// Removes the partition of `day` and every older one: first the decision (in the state
    /// file), then the partitions from the set, then their files. Returns the bytes freed.
    pub fn drop_through(&self, day: NaiveDate) -> Result<u64, IndexError> {
        {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            if state.dropped_through.is_some_and(|d| d >= day) {
                return Ok(0);
            }
            let mut next = state.clone();
            next.dropped_through = Some(day);
            self.save(&next)?;
            *state = next;
        }
        let gone: Vec<Arc<Partition>> = {
            let mut map = self.partitions.write().unwrap_or_else(|e| e.into_inner());
            let keep = map.split_off(&(day + Days::new(1)));
            std::mem::replace(&mut *map, keep).into_values().collect()
        };
        let mut freed = 0;
        for p in gone {
            let bytes = p.bytes();
            let aside = p.dir.with_extension("dropped");
            let io_err = |source| IndexError::Io {
                path: p.dir.clone(),
                source,
            };
            std::fs::rename(&p.dir, &aside).map_err(io_err)?;
            std::fs::remove_dir_all(&aside).map_err(io_err)?;
            tracing::info!(day = %p.day, bytes, "index partition dropped by retention");
            freed += bytes;
        }
        Ok(freed)
    }

    fn save(&self, state: &State) -> Result<(), IndexError> {
        save_state(&self.root, state)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<NaiveDate, Arc<Partition>>> {
        self.partitions.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Saves `state.json` under `root` (temp file, fsync, rename).
fn save_state(root: &Path, state: &State) -> Result<(), IndexError> {
    let path = root.join(STATE_FILE);
    let bytes = serde_json::to_vec(state).expect("state serializes");
    logwarden_core::durable::save_atomically(&path, &bytes)
        .map_err(|source| IndexError::Io { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_time_range_selects_only_the_days_it_touches_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let (c, start) = Catalog::open(dir.path(), Unusable::Delete).unwrap();
        assert_eq!(start, 0);
        for d in ["2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28"] {
            c.get_or_create(day(d)).unwrap();
        }
        let days = |v: Vec<Arc<Partition>>| -> Vec<String> {
            v.iter().map(|p| p.day.to_string()).collect()
        };
        assert_eq!(
            days(c.overlapping(Some(at("2026-11-27T12:00:00Z")), None)),
            vec!["2026-11-28", "2026-11-27"]
        );
        assert_eq!(
            days(c.overlapping(
                Some(at("2026-11-25T23:00:00Z")),
                Some(at("2026-11-27T00:00:00Z"))
            )),
            vec!["2026-11-26", "2026-11-25"],
            "until is excluded, so midnight does not pull in its day"
        );
        assert_eq!(days(c.overlapping(None, None)).len(), 4);
    }

    #[test]
    fn dropped_days_stay_dropped_across_a_restart_even_if_the_delete_was_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let (c, _) = Catalog::open(dir.path(), Unusable::Delete).unwrap();
        for d in ["2026-11-25", "2026-11-26", "2026-11-27"] {
            c.get_or_create(day(d)).unwrap();
        }
        c.save_lsn(42).unwrap();
        c.drop_through(day("2026-11-25")).unwrap();
        assert!(!dir.path().join("2026-11-25").exists());
        // As if a crash hit between saving the decision and deleting the files.
        std::fs::create_dir_all(dir.path().join("2026-11-25")).unwrap();
        std::fs::create_dir_all(dir.path().join("2026-11-26.dropped")).unwrap();
        drop(c);
        let (c, start) = Catalog::open(dir.path(), Unusable::Delete).unwrap();
        assert_eq!(start, 42);
        assert_eq!(c.dropped_through(), Some(day("2026-11-25")));
        let left: Vec<String> = c.all().iter().map(|p| p.day.to_string()).collect();
        assert_eq!(left, vec!["2026-11-26", "2026-11-27"]);
        assert!(!dir.path().join("2026-11-25").exists());
        assert!(!dir.path().join("2026-11-26.dropped").exists());
    }
}

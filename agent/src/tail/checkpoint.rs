//! Checkpoints: for each tailed file (by identity), the offset up to which the collector has
//! acknowledged its lines. A restart resumes there.
//!
//! File `checkpoints.json` in the data directory, saved atomically (see `durable`):
//! `{"version":1,"files":[{"dev":D,"ino":I,"path":"/var/log/x","offset":N}]}`.
//! Offsets only move forward when an ingest request holding the lines is acknowledged, so a
//! crash never skips a line; it may resend lines acked after the last save (the disk spool of
//! the lossless-tailing work closes that window).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::FileKey;
use crate::durable::save_atomically;

const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    dev: u64,
    ino: u64,
    path: PathBuf,
    offset: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    files: Vec<Entry>,
}

/// The acknowledged offsets, in memory, and where they are saved.
#[derive(Debug)]
pub struct Checkpoints {
    path: PathBuf,
    entries: HashMap<FileKey, (PathBuf, u64)>,
    dirty: bool,
}

impl Checkpoints {
    pub fn load(data_dir: &Path) -> anyhow::Result<Checkpoints> {
        let path = data_dir.join("checkpoints.json");
        let mut entries = HashMap::new();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let disk: OnDisk = serde_json::from_slice(&bytes)
                    .with_context(|| format!("checkpoint file {} is damaged", path.display()))?;
                if disk.version != VERSION {
                    bail!(
                        "checkpoint file {} has version {}; this build reads {VERSION}",
                        path.display(),
                        disk.version
                    );
                }
                for e in disk.files {
                    entries.insert(
                        FileKey {
                            dev: e.dev,
                            ino: e.ino,
                        },
                        (e.path, e.offset),
                    );
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading checkpoint file {}", path.display()));
            }
        }
        Ok(Checkpoints {
            path,
            entries,
            dirty: false,
        })
    }

    /// The acknowledged offset of a file, if it was seen before.
    pub fn offset(&self, key: FileKey) -> Option<u64> {
        self.entries.get(&key).map(|(_, o)| *o)
    }

    /// Records that lines of `key` up to `offset` are acknowledged.
    pub fn ack(&mut self, key: FileKey, path: &Path, offset: u64) {
        let entry = self
            .entries
            .entry(key)
            .or_insert_with(|| (path.to_owned(), 0));
        if offset > entry.1 || entry.0 != path {
            entry.0 = path.to_owned();
            entry.1 = entry.1.max(offset);
            self.dirty = true;
        }
    }

    /// Saves when something changed.
    pub fn save(&mut self) -> anyhow::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let mut files: Vec<Entry> = self
            .entries
            .iter()
            .map(|(k, (p, o))| Entry {
                dev: k.dev,
                ino: k.ino,
                path: p.clone(),
                offset: *o,
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let bytes = serde_json::to_vec(&OnDisk {
            version: VERSION,
            files,
        })?;
        save_atomically(&self.path, &bytes)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_survive_a_save_and_never_go_back() {
        let dir = tempfile::tempdir().unwrap();
        let key = FileKey { dev: 1, ino: 2 };
        let mut c = Checkpoints::load(dir.path()).unwrap();
        c.ack(key, Path::new("/var/log/a"), 100);
        c.ack(key, Path::new("/var/log/a"), 50);
        c.save().unwrap();
        let c = Checkpoints::load(dir.path()).unwrap();
        assert_eq!(c.offset(key), Some(100));
        assert_eq!(c.offset(FileKey { dev: 1, ino: 3 }), None);
    }
}

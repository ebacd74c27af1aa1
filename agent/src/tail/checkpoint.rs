//! Checkpoints: what the collector has acknowledged. For each tailed file (by identity), the
//! offset after its last acknowledged line; and the spool position before which every record
//! is acknowledged (the spool may delete what lies before it).
//!
//! File `checkpoints.json` in the data directory, saved atomically (temp file, fsync, rename;
//! see `durable`), version 3:
//!
//! ```json
//! {"version":2,"spool":{"segment":S,"offset":O},
//!  "files":[{"dev":D,"ino":I,"fp_len":L,"fp_crc":C,"path":"/var/log/x","offset":N}]}
//! ```
//!
//! `fp_len`/`fp_crc` are the content's fingerprint (`source/fingerprint.rs`). An entry is kept per
//! *content seen on an inode*: an inode that was truncated and written again (copytruncate) has
//! one entry for its old content and one for its new, so that a copy of the old content (the
//! `x.log.1` beside it) is still known after a restart and read only past what was read of the
//! original (see `ledger.rs`). Entries whose content no file holds any more are dropped
//! ([`Checkpoints::retain`], called by the tailer). Version 2 (one entry per inode) has the same
//! fields and is read as it is; version 1 (the walking skeleton's, no fingerprint, no spool) is
//! still read: its files get an empty fingerprint, which matches any content of that inode.
//!
//! Offsets only move when an ingest request holding the lines is acknowledged. Where reading
//! resumes after a restart is the later of this offset and the end of the file's last line in
//! the spool (`spool/mod.rs`): lines spooled but not acknowledged are resent from the spool with
//! their seqs, never read again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::durable::save_atomically;
use crate::source::FileKey;
use crate::source::Position;
use crate::source::fingerprint::Fingerprint;

const VERSION: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    dev: u64,
    ino: u64,
    #[serde(default)]
    fp_len: u32,
    #[serde(default)]
    fp_crc: u32,
    path: PathBuf,
    offset: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct SpoolPos {
    segment: u64,
    offset: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    #[serde(default)]
    spool: SpoolPos,
    files: Vec<Entry>,
}

/// One content's acknowledged place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    pub fp: Fingerprint,
    pub path: PathBuf,
    pub offset: u64,
    /// When it was last acknowledged (a counter, not saved): the newest entry of an inode is its
    /// current content.
    stamp: u64,
}

/// The acknowledged offsets, in memory, and where they are saved.
#[derive(Debug)]
pub struct Checkpoints {
    path: PathBuf,
    entries: HashMap<(FileKey, Fingerprint), Acked>,
    spool: Position,
    dirty: bool,
    stamp: u64,
}

impl Checkpoints {
    pub fn load(data_dir: &Path) -> anyhow::Result<Checkpoints> {
        let path = data_dir.join("checkpoints.json");
        let mut entries = HashMap::new();
        let mut spool = Position::default();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let disk: OnDisk = serde_json::from_slice(&bytes)
                    .with_context(|| format!("checkpoint file {} is damaged", path.display()))?;
                if !(1..=VERSION).contains(&disk.version) {
                    bail!(
                        "checkpoint file {} has version {}; this build reads 1 to {VERSION}",
                        path.display(),
                        disk.version
                    );
                }
                spool = Position {
                    segment: disk.spool.segment,
                    offset: disk.spool.offset,
                };
                for e in disk.files {
                    let fp = Fingerprint {
                        len: e.fp_len,
                        crc: e.fp_crc,
                    };
                    let key = FileKey {
                        dev: e.dev,
                        ino: e.ino,
                    };
                    entries.insert(
                        (key, fp),
                        Acked {
                            fp,
                            path: e.path,
                            offset: e.offset,
                            stamp: 0,
                        },
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
            spool,
            dirty: false,
            stamp: 0,
        })
    }

    /// The acknowledged place of every content seen on every inode.
    pub fn entries(&self) -> impl Iterator<Item = (&FileKey, &Acked)> {
        self.entries.iter().map(|((k, _), a)| (k, a))
    }

    /// The acknowledged place of each inode's newest content (for status views; journal
    /// sources, whose `path` is a cursor, are left out).
    pub fn files(&self) -> impl Iterator<Item = (&FileKey, &Acked)> {
        let mut newest: HashMap<&FileKey, &Acked> = HashMap::new();
        for (k, a) in self.entries() {
            if k.dev == crate::source::JOURNAL_DEV {
                continue;
            }
            let e = newest.entry(k).or_insert(a);
            if (a.stamp, a.offset) > (e.stamp, e.offset) {
                *e = a;
            }
        }
        newest.into_iter()
    }

    /// The acknowledged offset of an inode's newest content, if it was seen before.
    pub fn offset(&self, key: FileKey) -> Option<u64> {
        self.files()
            .find(|(k, _)| **k == key)
            .map(|(_, a)| a.offset)
    }

    /// Everything in the spool before this position is acknowledged.
    pub fn spool_position(&self) -> Position {
        self.spool
    }

    /// Records that lines of `key`'s content `fp` up to `offset` are acknowledged. Another
    /// fingerprint on the same inode (the file was truncated and rewritten, or its short start
    /// grew) is another entry: the old content's place stays known while a copy of it may exist.
    /// An entry of a version 1 file (no fingerprint) is taken over by the first ack.
    pub fn ack(&mut self, key: FileKey, fp: Fingerprint, path: &Path, offset: u64) {
        self.stamp += 1;
        if fp.len > 0
            && let Some(mut old) = self.entries.remove(&(key, Fingerprint::default()))
        {
            old.fp = fp;
            old.offset = old.offset.max(offset);
            self.entries.insert((key, fp), old);
        }
        match self.entries.get_mut(&(key, fp)) {
            Some(a) => {
                if offset > a.offset || a.path != path {
                    a.offset = a.offset.max(offset);
                    path.clone_into(&mut a.path);
                    self.dirty = true;
                }
                a.stamp = self.stamp;
            }
            None => {
                self.entries.insert(
                    (key, fp),
                    Acked {
                        fp,
                        path: path.to_owned(),
                        offset,
                        stamp: self.stamp,
                    },
                );
                self.dirty = true;
            }
        }
    }

    /// Records that the spool is acknowledged up to `pos`.
    pub fn ack_spool(&mut self, pos: Position) {
        if pos > self.spool {
            self.spool = pos;
            self.dirty = true;
        }
    }

    /// Forgets contents that no longer exist anywhere (kept small across many rotations).
    pub fn retain(&mut self, mut keep: impl FnMut(&FileKey, &Acked) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|(k, _), a| keep(k, a));
        self.dirty |= self.entries.len() != before;
    }

    /// Saves when something changed.
    pub fn save(&mut self) -> anyhow::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let mut files: Vec<Entry> = self
            .entries
            .iter()
            .map(|((k, _), a)| Entry {
                dev: k.dev,
                ino: k.ino,
                fp_len: a.fp.len,
                fp_crc: a.fp.crc,
                path: a.path.clone(),
                offset: a.offset,
            })
            .collect();
        files.sort_by(|a, b| {
            (&a.path, a.ino, a.offset, a.fp_crc).cmp(&(&b.path, b.ino, b.offset, b.fp_crc))
        });
        let bytes = serde_json::to_vec(&OnDisk {
            version: VERSION,
            spool: SpoolPos {
                segment: self.spool.segment,
                offset: self.spool.offset,
            },
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

    const FP: Fingerprint = Fingerprint { len: 256, crc: 9 };

    #[test]
    fn offsets_survive_a_save_and_never_go_back() {
        let dir = tempfile::tempdir().unwrap();
        let key = FileKey { dev: 1, ino: 2 };
        let mut c = Checkpoints::load(dir.path()).unwrap();
        c.ack(key, FP, Path::new("/var/log/a"), 100);
        c.ack(key, FP, Path::new("/var/log/a"), 50);
        c.ack_spool(Position {
            segment: 3,
            offset: 99,
        });
        c.save().unwrap();
        let c = Checkpoints::load(dir.path()).unwrap();
        assert_eq!(c.offset(key), Some(100));
        assert_eq!(c.offset(FileKey { dev: 1, ino: 3 }), None);
        assert_eq!(
            c.spool_position(),
            Position {
                segment: 3,
                offset: 99
            }
        );
    }

    #[test]
    fn a_new_fingerprint_on_the_same_inode_is_a_new_content_and_the_old_one_stays_known() {
        let dir = tempfile::tempdir().unwrap();
        let key = FileKey { dev: 1, ino: 2 };
        let mut c = Checkpoints::load(dir.path()).unwrap();
        c.ack(key, FP, Path::new("/var/log/a"), 100);
        let other = Fingerprint { len: 20, crc: 1 };
        c.ack(key, other, Path::new("/var/log/a"), 30);
        assert_eq!(c.offset(key), Some(30));
        c.save().unwrap();
        let c = Checkpoints::load(dir.path()).unwrap();
        let mut all: Vec<(u32, u64)> = c.entries().map(|(_, a)| (a.fp.len, a.offset)).collect();
        all.sort();
        assert_eq!(all, vec![(20, 30), (256, 100)]);
    }

    #[test]
    fn a_version_1_file_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("checkpoints.json"),
            r#"{"version":1,"files":[{"dev":1,"ino":2,"path":"/var/log/a","offset":7}]}"#,
        )
        .unwrap();
        let c = Checkpoints::load(dir.path()).unwrap();
        assert_eq!(c.offset(FileKey { dev: 1, ino: 2 }), Some(7));
        assert_eq!(c.spool_position(), Position::default());
    }
}

//! What has been read of each content: the tailer's memory of file identity.
//!
//! # The identity rule
//! A file's *content* is known by its fingerprint (`source/fingerprint.rs`): the CRC-32 of its
//! first `fingerprint_bytes` (256) bytes after `fingerprint_skip_bytes`, or, while the file is
//! shorter than that, of its complete lines. The ledger keeps, for every inode and every content
//! seen on it, the offset after the last line read (handed to the spool). So:
//!
//! - a **renamed** file is the same inode with the same content: it resumes where it was;
//! - a **copy** (copytruncate's `x.log.1`, a file moved to another file system) is another inode
//!   whose first bytes are those of a content already read: it is read only from the offset
//!   the original was read to, i.e. only what the original did not have;
//! - two files open at once with the same content (the original and its copy, before the
//!   truncation) share one place: whichever reads first hands the lines out, the other skips
//!   them ([`Ledger::progress`]);
//! - a **truncated** file (same inode, other first bytes) is a new content, read from 0, and the
//!   old content's place stays known for its copy;
//! - a content is forgotten once no file holds it ([`Ledger::retain`]).
//!
//! The price: two different files whose first 256 bytes are the same (a long common header) are
//! taken as one content. Raise `fingerprint_bytes` or skip the header with
//! `fingerprint_skip_bytes` for such files. The one loss no reader can avoid: lines written
//! between logrotate's copy and its truncate that were not read before the truncate are in
//! neither file.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::source::FileKey;
use crate::source::fingerprint::{Fingerprint, Window};

/// Where reading a content resumes: the end of its last line that was spooled (or acknowledged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub key: FileKey,
    pub fp: Fingerprint,
    pub offset: u64,
    pub path: PathBuf,
}

/// Where a file found on disk starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// The same inode with a content already read: at its offset.
    Same { offset: u64 },
    /// Another inode holding a content already read (a copy, or a file moved across file
    /// systems): at the offset its content was read to, `of` being where it was read.
    Copy { offset: u64, of: PathBuf },
    /// The inode is known but its content is not (truncated and rewritten while the agent was
    /// stopped, or an inode reused): from 0; `was` is what the inode held.
    Replaced { was: Known },
    /// Never seen.
    New,
}

#[derive(Debug, Default)]
pub struct Ledger {
    by_fp: HashMap<Fingerprint, Vec<Known>>,
}

impl Ledger {
    pub fn new(entries: impl IntoIterator<Item = Known>) -> Ledger {
        let mut l = Ledger::default();
        for k in entries {
            l.note(k.key, k.fp, &k.path, k.offset);
        }
        l
    }

    /// Every content known, on every inode.
    pub fn entries(&self) -> impl Iterator<Item = &Known> {
        self.by_fp.values().flatten()
    }

    /// Records that `key`'s content `fp` was read to `offset`. A later note for the same
    /// content sets the offset (after a restart at 0 of the same content it may go back).
    pub fn note(&mut self, key: FileKey, fp: Fingerprint, path: &Path, offset: u64) {
        let list = self.by_fp.entry(fp).or_default();
        match list.iter_mut().find(|k| k.key == key) {
            Some(k) => {
                k.offset = offset;
                if k.path != path {
                    path.clone_into(&mut k.path);
                }
            }
            None => list.push(Known {
                key,
                fp,
                offset,
                path: path.to_owned(),
            }),
        }
    }

    /// How far another inode with the same content was read: a file sharing its content with
    /// another open file skips what the other handed out.
    pub fn progress(&self, key: FileKey, fp: Fingerprint) -> Option<u64> {
        if fp.len == 0 {
            return None;
        }
        self.by_fp
            .get(&fp)?
            .iter()
            .filter(|k| k.key != key)
            .map(|k| k.offset)
            .max()
    }

    /// Where `file` (inode `key`, `len` bytes) starts.
    pub fn resume(&self, key: FileKey, file: &File, len: u64, window: Window) -> Resume {
        let mut crc_at: HashMap<u32, Option<Fingerprint>> = HashMap::new();
        let mut holds = |fp: Fingerprint| -> bool {
            if fp.len == 0 {
                return true;
            }
            if u64::from(fp.len) + window.skip > len {
                return false;
            }
            let now = crc_at
                .entry(fp.len)
                .or_insert_with(|| Fingerprint::of_exactly(file, window.skip, fp.len).ok());
            *now == Some(fp)
        };
        // The longest fingerprint that the file still starts with, this inode's first.
        let mut same: Option<&Known> = None;
        let mut copy: Option<&Known> = None;
        let mut was: Option<&Known> = None;
        for (fp, list) in &self.by_fp {
            let mine = list
                .iter()
                .filter(|k| k.key == key)
                .max_by_key(|k| k.offset);
            let other = list
                .iter()
                .filter(|k| k.key != key && fp.len > 0)
                .max_by_key(|k| k.offset);
            if mine.is_none() && other.is_none() {
                continue;
            }
            if !holds(*fp) {
                if let Some(m) = mine
                    && was.is_none_or(|w| m.fp.len > w.fp.len)
                {
                    was = Some(m);
                }
                continue;
            }
            let better = |best: Option<&Known>, k: &Known| {
                best.is_none_or(|b| (k.fp.len, k.offset) > (b.fp.len, b.offset))
            };
            if let Some(m) = mine
                && better(same, m)
            {
                same = Some(m);
            }
            if let Some(o) = other
                && better(copy, o)
            {
                copy = Some(o);
            }
        }
        match (same, copy) {
            (Some(s), c) if s.offset <= len => Resume::Same {
                offset: c.map_or(s.offset, |c| s.offset.max(c.offset).min(len)),
            },
            (Some(s), _) => Resume::Replaced { was: s.clone() },
            (None, Some(c)) => Resume::Copy {
                offset: c.offset.min(len),
                of: c.path.clone(),
            },
            (None, None) => match was {
                Some(w) => Resume::Replaced { was: w.clone() },
                None => Resume::New,
            },
        }
    }

    /// Forgets the contents `keep` says no file holds any more.
    pub fn retain(&mut self, mut keep: impl FnMut(&Known) -> bool) {
        for list in self.by_fp.values_mut() {
            list.retain(|k| keep(k));
        }
        self.by_fp.retain(|_, list| !list.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Window = Window { skip: 0, len: 64 };

    fn key(ino: u64) -> FileKey {
        FileKey { dev: 1, ino }
    }

    fn fp_of(path: &Path) -> Fingerprint {
        Fingerprint::of(&File::open(path).unwrap(), W).unwrap()
    }

    #[test]
    fn a_copy_resumes_where_its_original_was_read_and_a_new_file_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("a.1"),
            dir.path().join("c"),
        );
        let text: String = (0..20).map(|i| format!("line {i:04} of a\n")).collect();
        std::fs::write(&a, &text).unwrap();
        std::fs::write(&b, &text[..200]).unwrap();
        std::fs::write(&c, "another file\n").unwrap();
        let mut l = Ledger::default();
        l.note(key(1), fp_of(&a), &a, 150);
        let open = |p: &Path| File::open(p).unwrap();
        assert_eq!(
            l.resume(key(1), &open(&a), text.len() as u64, W),
            Resume::Same { offset: 150 }
        );
        assert_eq!(
            l.resume(key(2), &open(&b), 200, W),
            Resume::Copy {
                offset: 150,
                of: a.clone()
            }
        );
        assert_eq!(l.resume(key(3), &open(&c), 13, W), Resume::New);
        // Two open files of one content share their place.
        assert_eq!(l.progress(key(2), fp_of(&a)), Some(150));
        assert_eq!(l.progress(key(1), fp_of(&a)), None);
        // Truncated and rewritten on the same inode: a new content; the old one stays known.
        std::fs::write(&a, "fresh start\n").unwrap();
        assert!(matches!(
            l.resume(key(1), &open(&a), 12, W),
            Resume::Replaced { .. }
        ));
        assert_eq!(
            l.resume(key(2), &open(&b), 200, W),
            Resume::Copy {
                offset: 150,
                of: a.clone()
            }
        );
    }

    #[test]
    fn a_short_file_is_known_by_its_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("a.1"));
        std::fs::write(&a, "one\ntwo\nthr").unwrap();
        let fp = fp_of(&a);
        assert_eq!(fp.len, 8);
        let mut l = Ledger::default();
        l.note(key(1), fp, &a, 8);
        // A copy taken once the line was complete and more was written.
        std::fs::write(&b, "one\ntwo\nthree\nfour\n").unwrap();
        assert_eq!(
            l.resume(key(2), &File::open(&b).unwrap(), 19, W),
            Resume::Copy { offset: 8, of: a }
        );
    }
}

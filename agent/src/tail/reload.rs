//! A new file list while the tailer runs (the agent's config reloaded on SIGHUP: `reload.rs`).
//!
//! The new `[[files]]` rules replace the globs, their excludes, formats and the directories
//! watched; the next scan (at once) opens what the new globs match, from where it was read to
//! if the agent has read that content before (the ledger), else from its start. A file no rule
//! matches any more is let go at once: the record being joined is handed out, and what was read
//! of it stays known (the ledger, and so its acknowledged checkpoint, are kept while the file
//! is there), so that a glob added back goes on where it stopped. Files being read to their end
//! after a rotation are read to it as before. Parsers of files that stay keep their format
//! until the file is opened again (a restart, a rotation).

use std::collections::HashSet;
use std::path::PathBuf;

use tokio::sync::mpsc;

use super::discover::Discovery;
use super::settings::FileRule;
use super::{Closed, Tailer};
use crate::source::{FileKey, Item};

impl Tailer {
    /// New file lists arrive on `lists` (the newest one wins).
    pub fn with_reloads(mut self, lists: std::sync::mpsc::Receiver<Vec<FileRule>>) -> Tailer {
        self.reloads = Some(lists);
        self
    }

    /// Takes the newest file list that came, if any; true when one was taken (scan now).
    pub(super) fn take_reload(&mut self, tx: &mpsc::Sender<Item>) -> Result<bool, Closed> {
        let Some(rules) = self.reloads.as_ref().and_then(|rx| rx.try_iter().last()) else {
            return Ok(false);
        };
        self.discovery = Discovery::new(&rules);
        self.wake = super::wake::Wake::new(rules.iter().map(|r| r.path.as_str()));
        self.cfg.rules = rules;
        let still: HashSet<FileKey> = self.discovery.scan().found.iter().map(|f| f.key).collect();
        let gone: Vec<FileKey> = self
            .files
            .iter()
            .filter(|(k, e)| e.w.rotated.is_none() && !still.contains(k))
            .map(|(k, _)| *k)
            .collect();
        for key in gone {
            self.flush_record(key, None, true, tx)?;
            let e = self.files.remove(&key).expect("key from the map");
            self.metrics.let_go(key);
            tracing::info!(path = %e.w.path.display(), offset = e.w.read_pos(),
                "no longer in the file list: not read any more (where it was read to is kept)");
            self.retired.insert(key, e.w.path);
        }
        tracing::info!(globs = self.cfg.rules.len(), "file list reloaded");
        Ok(true)
    }

    /// The files let go by a reload that are still there (same inode at the same path): their
    /// contents stay known. The others, and those open again, are forgotten.
    pub(super) fn retired_present(&mut self) -> Vec<FileKey> {
        let files = &self.files;
        self.retired
            .retain(|key, path| !files.contains_key(key) && key_of(path) == Some(*key));
        self.retired.keys().copied().collect()
    }
}

fn key_of(path: &PathBuf) -> Option<FileKey> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(FileKey {
        dev: m.dev(),
        ino: m.ino(),
    })
}

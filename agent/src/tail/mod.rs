//! Tailing files without losing or repeating a line: find the files the globs match
//! (`discover.rs`), know each content by its fingerprint and what was read of it
//! (`source/fingerprint.rs`, `ledger.rs`: the identity rule), read its new lines
//! (`watch.rs`, with `multiline.rs` joining stack traces), and hand each record, parsed, to the
//! pipeline with the offset where it ends. The offsets come back as checkpoints
//! (`checkpoint.rs`) once the collector has acknowledged the lines.
//!
//! Rotation:
//! - **rename and create**: the path now leads to another inode (or nothing). The old file is
//!   kept open and read to its end, with no time cap; it is let go once it has been quiet for
//!   [`ROTATE_GRACE`] (a writer that reopens late still gets its last lines read). The new file
//!   is found by the next scan and read from its start.
//! - **copytruncate**: the file is shorter than what was read (or its first bytes changed). The
//!   copy beside it holds the old content: it is read from where the original was read to, and
//!   only that (the ledger knows the content by its fingerprint, whatever the copy's name or
//!   inode, also after a restart). A copy that does not match the globs is looked for beside
//!   the file (a name extending its name). The truncated file is then read from 0. Lines written
//!   between the copy and the truncation that were not read before are lost: no reader can see
//!   them (logged when no copy is found).
//! - **deleted**: read to its end through the open handle, then let go.
//! - `*.gz` and other compressed files (by name or by their first bytes) are never read.
//!
//! Where a file starts ([`ledger::Resume`]): for a content already read, the later of its
//! acknowledged checkpoint and the end of its last line in the disk spool, on this inode or on
//! another one holding the same content (a copy); a content never seen starts at 0, or at its end
//! with `read_from = "end"` for the files present at start.

pub mod checkpoint;
pub mod complaints;
pub mod discover;
pub mod ledger;
pub mod multiline;
pub mod reload;
pub mod settings;
pub mod wake;
pub mod watch;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::parse::LineParser;
use crate::source::fingerprint::{Fingerprint, Window};
use crate::source::{FileKey, Item, Origin};
use checkpoint::Checkpoints;
use discover::{Discovery, Found};
pub use ledger::Known;
use ledger::{Ledger, Resume};
use settings::TailSettings;
use watch::{Line, ReadOutcome, Watched};

/// How long a rotated or deleted file must have been quiet (at its end) before it is let go.
pub const ROTATE_GRACE: Duration = Duration::from_secs(2);
const IDLE_SLEEP: Duration = Duration::from_millis(20);
/// How often contents no file holds any more are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

struct Entry {
    w: Watched,
    parser: LineParser,
}

pub struct Tailer {
    discovery: Discovery,
    /// inotify on the globs' directories: a new file is found without waiting for the poll.
    wake: wake::Wake,
    cfg: TailSettings,
    files: HashMap<FileKey, Entry>,
    /// What was read of every content seen.
    ledger: Ledger,
    /// The acknowledged places, pruned with the ledger.
    checkpoints: Option<Arc<tokio::sync::Mutex<Checkpoints>>>,
    last_prune: Instant,
    /// Problems with files and globs, said once.
    complaints: complaints::Complaints,
    /// Files found to be compressed (by their first bytes), with their length then.
    compressed: HashMap<FileKey, u64>,
    /// Whether the first scan is done (`read_from` applies to the files found by it).
    started: bool,
    /// Where lines read and offsets are counted for `/metrics` and `status`.
    metrics: std::sync::Arc<crate::observe::metrics::AgentMetrics>,
    /// New file lists from config reloads, and the files they let go (`reload.rs`).
    reloads: Option<std::sync::mpsc::Receiver<Vec<settings::FileRule>>>,
    retired: HashMap<FileKey, PathBuf>,
}

/// The pipeline has shut down.
struct Closed;

impl Tailer {
    pub fn new(cfg: TailSettings, known: Vec<Known>) -> Tailer {
        Tailer {
            discovery: Discovery::new(&cfg.rules),
            wake: wake::Wake::new(cfg.rules.iter().map(|r| r.path.as_str())),
            cfg,
            files: HashMap::new(),
            ledger: Ledger::new(known),
            checkpoints: None,
            last_prune: Instant::now(),
            complaints: Default::default(),
            compressed: HashMap::new(),
            started: false,
            metrics: Default::default(),
            reloads: None,
            retired: HashMap::new(),
        }
    }

    /// Counts lines read and offsets per file into `metrics` (by default into a private set
    /// nobody reads).
    pub fn with_metrics(
        mut self,
        metrics: std::sync::Arc<crate::observe::metrics::AgentMetrics>,
    ) -> Tailer {
        self.metrics = metrics;
        self
    }

    /// Forgets the checkpoints of contents no file holds any more, as the ledger does.
    pub fn with_checkpoints(mut self, cp: Arc<tokio::sync::Mutex<Checkpoints>>) -> Tailer {
        self.checkpoints = Some(cp);
        self
    }

    /// Runs until `cancel` fires or the pipeline goes away. Blocking: give it its own thread.
    /// `tx` carries each record to the spool writer; when it is full (the spool is, or the disk
    /// under it), `blocking_send` waits and the data simply stays in the files.
    pub fn run(mut self, tx: mpsc::Sender<Item>, cancel: CancellationToken) {
        let mut last_scan: Option<Instant> = None;
        while !cancel.is_cancelled() {
            match self.take_reload(&tx) {
                Ok(true) => last_scan = None,
                Ok(false) => {}
                Err(Closed) => return,
            }
            if last_scan.is_none_or(|t| t.elapsed() >= self.cfg.scan_interval) || self.wake.take() {
                self.discover();
                last_scan = Some(Instant::now());
            }
            let mut read_any = false;
            let keys: Vec<FileKey> = self.files.keys().copied().collect();
            for key in keys {
                match self.read_file(key, &tx) {
                    Ok(n) => read_any |= n,
                    Err(Closed) => return,
                }
            }
            if self.flush_due(&tx).is_err() || self.let_go_finished(&tx).is_err() {
                return;
            }
            if !read_any {
                std::thread::sleep(IDLE_SLEEP);
            }
        }
    }

    /// Matches the globs, opens new files and notices rotated ones.
    fn discover(&mut self) {
        let scan = self.discovery.scan();
        for s in &scan.skipped {
            self.complaints
                .warn(&s.path.display().to_string(), s.kind, &s.detail);
        }
        for glob in &scan.empty {
            self.complaints.warn(
                glob,
                "no match",
                "no file matches this glob (yet): it is looked at again at every scan",
            );
        }
        let found = scan.found;
        let mut at_path: HashMap<&Path, FileKey> = HashMap::with_capacity(found.len());
        for f in &found {
            at_path.insert(&f.path, f.key);
        }
        for f in &found {
            if !self.files.contains_key(&f.key) {
                self.open(f);
            }
        }
        for e in self.files.values_mut() {
            if e.w.rotated.is_none() && at_path.get(e.w.path.as_path()) != Some(&e.w.key) {
                tracing::info!(path = %e.w.path.display(), "file rotated or removed; reading it to its end");
                e.w.rotated = Some(Instant::now());
            }
        }
        self.started = true;
        if self.last_prune.elapsed() >= PRUNE_EVERY {
            self.last_prune = Instant::now();
            let mut present: HashSet<FileKey> = found.iter().map(|f| f.key).collect();
            present.extend(self.retired_present());
            self.compressed.retain(|k, _| present.contains(k));
            self.prune(&present);
        }
        self.complaints.pass_done();
    }

    /// Forgets the contents that no file holds any more: kept are the contents of every file
    /// open (or found but not open), and every content such a file starts with.
    fn prune(&mut self, present: &HashSet<FileKey>) {
        let files = &self.files;
        let skip = self.cfg.fingerprint.skip;
        let mut crc: HashMap<(FileKey, u32), Option<Fingerprint>> = HashMap::new();
        self.ledger.retain(|k| {
            if present.contains(&k.key) && !files.contains_key(&k.key) {
                return true;
            }
            files.values().any(|e| {
                e.w.fp == k.fp
                    || (k.fp.len > 0 && k.fp.len < e.w.fp.len && {
                        let now = crc.entry((e.w.key, k.fp.len)).or_insert_with(|| {
                            Fingerprint::of_exactly(&e.w.file, skip, k.fp.len).ok()
                        });
                        *now == Some(k.fp)
                    })
                    || (k.fp.len == 0 && k.key == e.w.key)
            })
        });
        if let Some(cp) = &self.checkpoints {
            let ledger = &self.ledger;
            cp.blocking_lock().retain(|key, a| {
                key.dev == crate::source::JOURNAL_DEV
                    || ledger.entries().any(|k| k.key == *key && k.fp == a.fp)
            });
        }
    }

    fn open(&mut self, f: &Found) {
        if self.compressed.get(&f.key) == Some(&f.len) {
            return;
        }
        let window = self.cfg.fingerprint;
        let file = match File::open(&f.path) {
            Ok(file) => file,
            Err(e) => {
                self.complaints.warn(
                    &f.path.display().to_string(),
                    "unreadable",
                    &format!("cannot open it: {e}; nothing of it is read until it can be"),
                );
                self.count_read_error();
                return;
            }
        };
        // The path may have been rotated between the scan and the open: only the inode the
        // scan saw is taken (the next scan finds the new one).
        let opened = file.metadata().map(|m| {
            use std::os::unix::fs::MetadataExt;
            FileKey {
                dev: m.dev(),
                ino: m.ino(),
            }
        });
        if opened.ok() != Some(f.key) {
            return;
        }
        let old = self
            .cfg
            .ignore_older
            .zip(f.modified)
            .is_some_and(|(age, m)| m.elapsed().is_ok_and(|e| e > age));
        let fp = match Fingerprint::of(&file, window) {
            Ok(fp) => fp,
            Err(e) => {
                self.complaints.warn(
                    &f.path.display().to_string(),
                    "unreadable",
                    &format!("cannot read it: {e}; nothing of it is read until it can be"),
                );
                self.count_read_error();
                return;
            }
        };
        if is_compressed(&file) {
            // Remembered with its length, so that it is looked at again only if it changes.
            self.compressed.insert(f.key, f.len);
            tracing::info!(path = %f.path.display(), "compressed file (by its first bytes): not read");
            return;
        }
        self.compressed.remove(&f.key);
        if looks_binary(&file) {
            tracing::warn!(path = %f.path.display(),
                "binary content (NUL bytes in its first 4 KiB): read as text anyway, each line shipped with invalid UTF-8 replaced; exclude it if it is not a log");
        }
        let offset = match self.ledger.resume(f.key, &file, f.len, window) {
            Resume::Same { offset } => {
                if old {
                    return;
                }
                offset
            }
            Resume::Copy { offset, of } => {
                self.ledger.note(f.key, fp, &f.path, offset);
                if old {
                    return;
                }
                tracing::info!(path = %f.path.display(), of = %of.display(), offset,
                    "a copy of a file already read: reading only what it did not have");
                offset
            }
            Resume::Replaced { was } => {
                tracing::info!(path = %f.path.display(), was = %was.path.display(), known = ?was.fp, now = ?fp,
                    "same inode, other content (truncated or replaced while the agent was stopped): reading from its start");
                if was.path == f.path {
                    // Copytruncate while the agent was stopped: the copy may hold the rest.
                    self.recover_from_copy(&f.path, f.key, was.fp, was.offset);
                }
                0
            }
            Resume::New => {
                if old {
                    // Too old to read; remember its end so that lines added later are read.
                    self.ledger.note(f.key, fp, &f.path, f.len);
                    return;
                }
                if !self.started && self.cfg.read_from_end {
                    self.ledger.note(f.key, fp, &f.path, f.len);
                    f.len
                } else {
                    0
                }
            }
        };
        let multiline = f.multiline.then_some(self.cfg.max_line_bytes);
        match Watched::new(f.path.clone(), file, f.key, fp, offset, multiline) {
            Ok(w) => {
                tracing::info!(path = %f.path.display(), offset, "tailing");
                self.metrics.read(f.key, &f.path, 0, offset);
                let parser = self.discovery.parser_for(&f.path);
                self.files.insert(f.key, Entry { w, parser });
            }
            Err(e) => tracing::warn!(path = %f.path.display(), error = %e, "cannot seek file"),
        }
    }

    /// After `path` (fingerprint `fp`) was truncated when `from` bytes of it were handed out:
    /// reads the rest from its copy, if there is one.
    fn recover_from_copy(&mut self, path: &Path, key: FileKey, fp: Fingerprint, from: u64) {
        let window = self.cfg.fingerprint;
        let Some((copy_path, copy, copy_key)) = find_copy(path, key, fp, from, window) else {
            tracing::warn!(path = %path.display(), from,
                "file truncated and no copy of it found beside it: lines written after offset {from} before the truncation may be lost");
            return;
        };
        if self.files.contains_key(&copy_key) {
            return; // open: it skips what the original handed out (Ledger::progress)
        }
        let len = copy.metadata().map_or(from, |m| m.len());
        let from = match self.ledger.resume(copy_key, &copy, len, window) {
            Resume::Same { offset } | Resume::Copy { offset, .. } => offset,
            Resume::Replaced { .. } | Resume::New => from,
        };
        self.ledger.note(copy_key, fp, &copy_path, from);
        tracing::info!(path = %path.display(), copy = %copy_path.display(), from,
            "file truncated (copytruncate): reading its last lines from the copy");
        let multiline = self
            .discovery
            .scan_one(path)
            .then_some(self.cfg.max_line_bytes);
        match Watched::new(copy_path.clone(), copy, copy_key, fp, from, multiline) {
            Ok(mut w) => {
                w.rotated = Some(Instant::now());
                self.metrics.read(copy_key, &copy_path, 0, from);
                let parser = self.discovery.parser_for(path);
                self.files.insert(copy_key, Entry { w, parser });
            }
            Err(e) => tracing::warn!(copy = %copy_path.display(), error = %e, "cannot read copy"),
        }
    }

    /// Reads one chunk of a file. Returns whether data was read.
    fn read_file(&mut self, key: FileKey, tx: &mpsc::Sender<Item>) -> Result<bool, Closed> {
        let max_line = self.cfg.max_line_bytes;
        let window = self.cfg.fingerprint;
        let ledger = &self.ledger;
        let Entry { w, parser } = self.files.get_mut(&key).expect("key from the map");
        let (mut last, mut lines) = (None, 0);
        let start = w.buf_start;
        let progress = |fp| ledger.progress(key, fp);
        let outcome = w.read_some(max_line, window, &progress, &mut |w, line| {
            last = Some(line.end);
            lines += 1;
            send(w, parser, line, tx)
        });
        if let Some(end) = last {
            self.note(key, end, lines);
        } else if self.files[&key].w.buf_start > start {
            // Skipped (read from a copy or the original of this copy): shown as read.
            let w = &self.files[&key].w;
            self.metrics.read(key, &w.path, 0, w.buf_start);
        }
        match outcome {
            Ok(None) => Err(Closed),
            Ok(Some(ReadOutcome::Data(_))) => Ok(true),
            Ok(Some(ReadOutcome::Eof)) => Ok(false),
            Ok(Some(ReadOutcome::Truncated { read_to })) => {
                self.truncated(key, read_to, tx)?;
                Ok(true)
            }
            Err(e) => {
                let path = self.files[&key].w.path.display().to_string();
                self.complaints.warn(
                    &path,
                    "read failed",
                    &format!("reading failed: {e}; tried again"),
                );
                self.count_read_error();
                Ok(false)
            }
        }
    }

    /// Remembers where a file's handed-out lines end.
    /// Hands out the record being joined for `key` (see `Watched::flush`) and notes where it
    /// ends.
    fn flush_record(
        &mut self,
        key: FileKey,
        timeout: Option<Duration>,
        all: bool,
        tx: &mpsc::Sender<Item>,
    ) -> Result<(), Closed> {
        let Entry { w, parser } = self.files.get_mut(&key).expect("key from the map");
        let (mut last, mut lines) = (None, 0);
        let ok = w.flush(timeout, all, &mut |w, line| {
            last = Some(line.end);
            lines += 1;
            send(w, parser, line, tx)
        });
        if let Some(end) = last {
            self.note(key, end, lines);
        }
        if ok { Ok(()) } else { Err(Closed) }
    }

    fn count_read_error(&self) {
        self.metrics
            .read_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn note(&mut self, key: FileKey, end: u64, lines: u64) {
        let e = &self.files[&key];
        self.metrics.read(key, &e.w.path, lines, end);
        self.ledger.note(key, e.w.fp, &e.w.path, end);
    }

    fn truncated(
        &mut self,
        key: FileKey,
        read_to: u64,
        tx: &mpsc::Sender<Item>,
    ) -> Result<(), Closed> {
        let window = self.cfg.fingerprint;
        // The record being joined is complete: hand it out first.
        self.flush_record(key, None, false, tx)?;
        let e = self.files.get_mut(&key).expect("key from the map");
        let (path, fp, from) = (e.w.path.clone(), e.w.fp, e.w.buf_start);
        tracing::warn!(path = %path.display(), read_to, "file truncated (copytruncate?); reading it again from 0");
        if let Err(err) = e.w.restart_at_zero(window) {
            tracing::warn!(path = %path.display(), error = %err, "cannot seek truncated file");
        }
        self.recover_from_copy(&path, key, fp, from);
        Ok(())
    }

    /// Hands out joined records whose timeout has passed.
    fn flush_due(&mut self, tx: &mpsc::Sender<Item>) -> Result<(), Closed> {
        let timeout = self.cfg.multiline_timeout;
        let keys: Vec<FileKey> = self
            .files
            .iter()
            .filter(|(_, e)| e.w.joiner.as_ref().is_some_and(|j| !j.is_empty()))
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.flush_record(key, Some(timeout), false, tx)?;
        }
        Ok(())
    }

    /// Lets go of rotated or deleted files that were read to their end and stayed quiet.
    fn let_go_finished(&mut self, tx: &mpsc::Sender<Item>) -> Result<(), Closed> {
        let done: Vec<FileKey> = self
            .files
            .iter()
            .filter(|(_, e)| {
                e.w.rotated.is_some_and(|t| t.elapsed() >= ROTATE_GRACE)
                    && e.w.last_data.elapsed() >= ROTATE_GRACE
                    && e.w.file.metadata().is_ok_and(|m| m.len() <= e.w.read_pos())
            })
            .map(|(k, _)| *k)
            .collect();
        for key in done {
            self.flush_record(key, None, true, tx)?;
            let e = self.files.remove(&key).expect("key from the map");
            self.metrics.let_go(key);
            tracing::info!(path = %e.w.path.display(), offset = e.w.read_pos(), "finished a rotated file");
        }
        Ok(())
    }
}

/// Parses a record and sends it; false when the pipeline is gone.
fn send(w: &Watched, parser: &mut LineParser, line: Line<'_>, tx: &mpsc::Sender<Item>) -> bool {
    let mut draft = parser.parse(line.text);
    if line.truncated {
        draft.fields.insert("truncated".into(), true.into());
    }
    let origin = Origin {
        file: w.key,
        fp: w.fp,
        path: w.path.clone(),
        end: line.end,
    };
    let item = Item {
        draft,
        origin: Some(origin),
    };
    // `try_send` first: `blocking_send` sets up a parked-thread future per call, a tenth of
    // the agent's instructions per line when the channel has room (nearly always; issue 25).
    match tx.try_send(item) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(item)) => tx.blocking_send(item).is_ok(),
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Whether a file starts like a compressed one (gzip, zstd, xz, bzip2, lz4): never read as text,
/// whatever its name.
fn is_compressed(file: &File) -> bool {
    use std::os::unix::fs::FileExt;
    const MAGIC: [&[u8]; 5] = [
        &[0x1f, 0x8b],
        &[0x28, 0xb5, 0x2f, 0xfd],
        &[0xfd, b'7', b'z', b'X', b'Z', 0],
        b"BZh",
        &[0x04, 0x22, 0x4d, 0x18],
    ];
    let mut head = [0u8; 6];
    let n = file.read_at(&mut head, 0).unwrap_or(0);
    MAGIC.iter().any(|m| head[..n].starts_with(m))
}

/// Whether a file's first 4 KiB hold a NUL byte (text logs do not).
fn looks_binary(file: &File) -> bool {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; 4096];
    let n = file.read_at(&mut head, 0).unwrap_or(0);
    memchr::memchr(0, &head[..n]).is_some()
}

/// Whether `candidate` sits beside `original` with a name that extends its name
/// (`mailbox.log` -> `mailbox.log.1`, `mailbox.log-20240101`).
fn is_sibling_copy(original: &Path, candidate: &Path) -> bool {
    let (Some(name), Some(cname)) = (original.file_name(), candidate.file_name()) else {
        return false;
    };
    original.parent() == candidate.parent()
        && cname.len() > name.len()
        && cname
            .as_encoded_bytes()
            .starts_with(name.as_encoded_bytes())
}

/// The copy of a truncated file: beside it, a name extending its name, not compressed, another
/// inode, the same fingerprint and at least `from` bytes. The most recently modified wins.
fn find_copy(
    path: &Path,
    key: FileKey,
    fp: Fingerprint,
    from: u64,
    window: Window,
) -> Option<(PathBuf, File, FileKey)> {
    use std::os::unix::fs::MetadataExt;
    if fp.len == 0 {
        return None;
    }
    let dir = path.parent()?;
    let mut best: Option<(std::time::SystemTime, PathBuf, File, FileKey)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let cand = entry.path();
        if !is_sibling_copy(path, &cand)
            || cand
                .extension()
                .is_some_and(|e| ["gz", "bz2", "xz", "zst", "lz4"].iter().any(|c| e == *c))
        {
            continue;
        }
        let Ok(file) = File::open(&cand) else {
            continue;
        };
        let Ok(meta) = file.metadata() else { continue };
        let ckey = FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
        };
        if !meta.is_file() || ckey == key || meta.len() < from {
            continue;
        }
        if !fp.matches(&file, window).unwrap_or(false) {
            continue;
        }
        let m = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        if best.as_ref().is_none_or(|(bm, ..)| m > *bm) {
            best = Some((m, cand, file, ckey));
        }
    }
    best.map(|(_, p, f, k)| (p, f, k))
}

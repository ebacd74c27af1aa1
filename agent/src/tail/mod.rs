//! Tailing files: find the files the globs match, read their new lines, and hand each line,
//! parsed, to the pipeline with the offset where it ends.
//!
//! This is the walking skeleton's tailer: a poll loop on its own thread. It follows a file that
//! is renamed away (read to its end, then dropped) and restarts a file that shrinks at 0 (with a
//! warning); the lossless-tailing work replaces discovery with notify, identifies files by
//! fingerprint as well as inode, and reads truncated ranges where they can still be reached.

pub mod checkpoint;

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::FileRule;
use crate::parse::{Format, LineParser, ParseOptions};
use crate::pipeline::{Item, Origin};
use checkpoint::Checkpoints;

/// Longest line kept whole; longer lines are cut into pieces of this size, each flagged
/// `partial`, so that nothing is lost and no event is over the collector's limit.
pub const MAX_LINE: usize = 512 * 1024;
const READ_CHUNK: usize = 256 * 1024;
const DISCOVER_EVERY: Duration = Duration::from_millis(500);
const IDLE_SLEEP: Duration = Duration::from_millis(50);

/// A file's identity while it is open: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
}

/// One file being read.
struct Tailed {
    path: PathBuf,
    file: File,
    parser: LineParser,
    /// Offset of the first byte not yet handed out as part of a line.
    offset: u64,
    /// Bytes read after `offset` that do not yet end in a newline.
    partial: Vec<u8>,
    /// The path now names another file (or nothing): read to the end, then drop.
    rotated: bool,
}

pub struct Tailer {
    rules: Vec<(glob::Pattern, Format, ParseOptions)>,
    files: HashMap<FileKey, Tailed>,
    /// Acknowledged offsets at start: where each known file resumes.
    resume: Checkpoints,
}

impl Tailer {
    pub fn new(rules: &[FileRule], resume: Checkpoints) -> Tailer {
        let rules = rules
            .iter()
            .filter_map(|r| {
                let options = ParseOptions {
                    zone: r.tz,
                    ..ParseOptions::default()
                };
                glob::Pattern::new(&r.path)
                    .ok()
                    .map(|p| (p, r.format, options))
            })
            .collect();
        Tailer {
            rules,
            files: HashMap::new(),
            resume,
        }
    }

    /// Runs until `cancel` fires or the pipeline goes away. Blocking: give it its own thread.
    /// `tx` carries each line to the batcher; when the batcher is full, `blocking_send` waits
    /// and the data simply stays in the file.
    pub fn run(mut self, tx: mpsc::Sender<Item>, cancel: CancellationToken) {
        let mut last_discovery: Option<Instant> = None;
        while !cancel.is_cancelled() {
            if last_discovery.is_none_or(|t| t.elapsed() >= DISCOVER_EVERY) {
                self.discover();
                last_discovery = Some(Instant::now());
            }
            let mut read_any = false;
            let keys: Vec<FileKey> = self.files.keys().copied().collect();
            for key in keys {
                match self.read_some(key, &tx) {
                    Ok(n) => read_any |= n > 0,
                    Err(Closed) => return,
                }
            }
            if !read_any {
                self.drop_finished_rotations();
                std::thread::sleep(IDLE_SLEEP);
            }
        }
    }

    /// Matches the globs, opens new files and notices rotated ones.
    fn discover(&mut self) {
        let mut seen: HashMap<PathBuf, FileKey> = HashMap::new();
        for (pattern, format, options) in &self.rules {
            let Ok(paths) = glob::glob(pattern.as_str()) else {
                continue;
            };
            for path in paths.flatten() {
                if path.extension().is_some_and(|e| e == "gz") {
                    continue; // compressed rotations are not read
                }
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let key = FileKey {
                    dev: meta.dev(),
                    ino: meta.ino(),
                };
                seen.insert(path.clone(), key);
                if self.files.contains_key(&key) {
                    continue;
                }
                let file = match File::open(&path) {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot open file");
                        continue;
                    }
                };
                let offset = match self.resume.offset(key) {
                    Some(o) if o <= meta.len() => o,
                    Some(o) => {
                        tracing::warn!(path = %path.display(), checkpoint = o, len = meta.len(),
                            "file is shorter than its checkpoint (truncated while stopped); reading from 0");
                        0
                    }
                    None => 0,
                };
                tracing::info!(path = %path.display(), offset, "tailing");
                let parser = LineParser::with_options(&path, *format, options);
                self.files.insert(
                    key,
                    Tailed {
                        path,
                        file,
                        parser,
                        offset,
                        partial: Vec::new(),
                        rotated: false,
                    },
                );
            }
        }
        for (key, t) in self.files.iter_mut() {
            if !t.rotated && seen.get(&t.path) != Some(key) {
                tracing::info!(path = %t.path.display(), "file rotated or removed; reading it to its end");
                t.rotated = true;
            }
        }
    }

    fn drop_finished_rotations(&mut self) {
        self.files.retain(|_, t| {
            if t.rotated && !t.partial.is_empty() {
                // The last line of a rotated file never got its newline: ship it as it is.
                return true;
            }
            !t.rotated
        });
    }

    /// Reads one chunk of a file and sends its complete lines. Returns the bytes read.
    fn read_some(&mut self, key: FileKey, tx: &mpsc::Sender<Item>) -> Result<usize, Closed> {
        let t = self.files.get_mut(&key).expect("key from the map");
        let pos = t.offset + t.partial.len() as u64;
        if let Ok(meta) = t.file.metadata()
            && meta.len() < pos
        {
            tracing::warn!(path = %t.path.display(), from = pos, to = meta.len(),
                "file truncated (copytruncate?); reading again from 0");
            t.offset = 0;
            t.partial.clear();
            if let Err(e) = std::io::Seek::seek(&mut t.file, std::io::SeekFrom::Start(0)) {
                tracing::warn!(path = %t.path.display(), error = %e, "seek failed");
            }
        }
        let mut chunk = vec![0u8; READ_CHUNK];
        let n = match t.file.read(&mut chunk) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(path = %t.path.display(), error = %e, "read failed");
                return Ok(0);
            }
        };
        if n == 0 {
            if t.rotated && !t.partial.is_empty() {
                let line = std::mem::take(&mut t.partial);
                t.offset += line.len() as u64;
                send_line(t, key, &line, false, tx)?;
            }
            return Ok(0);
        }
        t.partial.extend_from_slice(&chunk[..n]);
        let buf = std::mem::take(&mut t.partial);
        let mut start = 0;
        while let Some(i) = memchr::memchr(b'\n', &buf[start..]) {
            let end = start + i;
            let line = buf[start..end]
                .strip_suffix(b"\r")
                .unwrap_or(&buf[start..end]);
            t.offset += (end + 1 - start) as u64;
            send_line(t, key, line, false, tx)?;
            start = end + 1;
        }
        let mut rest = &buf[start..];
        while rest.len() >= MAX_LINE {
            t.offset += MAX_LINE as u64;
            send_line(t, key, &rest[..MAX_LINE], true, tx)?;
            rest = &rest[MAX_LINE..];
        }
        t.partial = rest.to_vec();
        Ok(n)
    }
}

/// The pipeline has shut down.
struct Closed;

fn send_line(
    t: &mut Tailed,
    key: FileKey,
    line: &[u8],
    partial: bool,
    tx: &mpsc::Sender<Item>,
) -> Result<(), Closed> {
    let mut draft = t.parser.parse(line);
    if partial {
        draft.fields.insert("partial".into(), true.into());
    }
    let origin = Origin {
        file: key,
        path: t.path.clone(),
        end: t.offset,
    };
    tx.blocking_send(Item {
        draft,
        origin: Some(origin),
    })
    .map_err(|_| Closed)
}

//! One file being read: its open handle, where its next line starts, and the line splitting
//! (with the line length limit and multiline joining).
//!
//! Positions: `buf` holds the bytes `[buf_start, buf_start + buf.len())` of the file, read but
//! not yet part of a complete line; the handle's cursor is at the end of `buf`. A line handed
//! out carries the offset just after its newline: that offset is where reading resumes once the
//! line is in the spool.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use super::multiline::{Joined, Joiner};
use crate::source::FileKey;
use crate::source::fingerprint::{Fingerprint, Window};

/// Bytes read from a file at a time.
pub const READ_CHUNK: usize = 256 * 1024;

/// A complete record ready to be parsed: one line, or several joined.
pub struct Line<'a> {
    pub text: &'a [u8],
    pub end: u64,
    /// Cut at the line length limit (the rest of the line was skipped).
    pub truncated: bool,
}

pub struct Watched {
    /// Shared with every record's origin.
    pub path: std::sync::Arc<std::path::Path>,
    pub file: File,
    pub key: FileKey,
    pub fp: Fingerprint,
    pub buf_start: u64,
    buf: Vec<u8>,
    /// A line over the limit: its first `max_line` bytes, kept while the rest is skipped up to
    /// its newline.
    long: Option<Vec<u8>>,
    pub joiner: Option<Joiner>,
    /// Set when the path no longer leads to this file (renamed or deleted): read it to its end.
    pub rotated: Option<Instant>,
    /// When data was last read from it.
    pub last_data: Instant,
    /// Lines cut at the length limit so far (the first is logged, then every 1,000th).
    long_lines: u64,
}

/// What one read found.
pub enum ReadOutcome {
    /// Bytes were read (the count).
    Data(usize),
    /// At the end of the file.
    Eof,
    /// The file is shorter than what was read: truncated (copytruncate), with the read position.
    Truncated { read_to: u64 },
}

impl Watched {
    pub fn new(
        path: PathBuf,
        mut file: File,
        key: FileKey,
        fp: Fingerprint,
        offset: u64,
        multiline: Option<usize>,
    ) -> std::io::Result<Watched> {
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))?;
        Ok(Watched {
            path: path.into(),
            file,
            key,
            fp,
            buf_start: offset,
            buf: Vec::new(),
            long: None,
            joiner: multiline.map(Joiner::new),
            rotated: None,
            last_data: Instant::now(),
            long_lines: 0,
        })
    }

    /// Where the next read starts.
    pub fn read_pos(&self) -> u64 {
        self.buf_start + self.buf.len() as u64
    }

    /// Whether bytes read are still waiting for their newline (or a joined record its end).
    pub fn holds_data(&self) -> bool {
        !self.buf.is_empty()
            || self.long.is_some()
            || self.joiner.as_ref().is_some_and(|j| !j.is_empty())
    }

    /// Reads one chunk and hands every complete record to `emit`. `emit` returning false stops
    /// (the pipeline is gone). `progress` says how far another file with the same content (a
    /// copy, or the original of this copy) was read: what lies before it was handed out there,
    /// and is skipped here.
    pub fn read_some(
        &mut self,
        max_line: usize,
        window: Window,
        progress: &dyn Fn(Fingerprint) -> Option<u64>,
        emit: &mut dyn FnMut(&Watched, Line<'_>) -> bool,
    ) -> std::io::Result<Option<ReadOutcome>> {
        let len = self.file.metadata()?.len();
        let pos = self.read_pos();
        if len < pos {
            return Ok(Some(ReadOutcome::Truncated { read_to: pos }));
        }
        if len == pos {
            return Ok(Some(ReadOutcome::Eof));
        }
        // Truncated and written again past where we were: the first bytes tell.
        if self.fp.len > 0 && !self.fp.matches(&self.file, window)? {
            return Ok(Some(ReadOutcome::Truncated { read_to: pos }));
        }
        if self.fp.is_partial(window) && pos < window.skip + window.len as u64 {
            self.fp = Fingerprint::of(&self.file, window)?;
        }
        if let Some(p) = progress(self.fp)
            && p > self.buf_start
        {
            let to = p.min(len);
            self.skip_to(to)?;
            if to == len {
                return Ok(Some(ReadOutcome::Eof));
            }
        }
        let pos = self.read_pos();
        let old = self.buf.len();
        let want = ((len - pos) as usize).min(READ_CHUNK);
        self.buf.resize(old + want, 0);
        let n = match self.file.read(&mut self.buf[old..]) {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(old);
                return Err(e);
            }
        };
        self.buf.truncate(old + n);
        if n == 0 {
            return Ok(Some(ReadOutcome::Eof));
        }
        self.last_data = Instant::now();
        if !self.split(old, max_line, emit) {
            return Ok(None);
        }
        Ok(Some(ReadOutcome::Data(n)))
    }

    /// Cuts the complete lines out of `buf` (new bytes start at `from`).
    fn split(
        &mut self,
        from: usize,
        max_line: usize,
        emit: &mut dyn FnMut(&Watched, Line<'_>) -> bool,
    ) -> bool {
        let buf = std::mem::take(&mut self.buf);
        let mut start = 0;
        let mut search = from;
        while let Some(i) = memchr::memchr(b'\n', &buf[search..]) {
            let nl = search + i;
            let end = self.buf_start + nl as u64 + 1;
            let ok = if let Some(head) = self.long.take() {
                self.deliver(&head, end, true, emit)
            } else {
                let line = &buf[start..nl];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let (line, truncated) = if line.len() > max_line {
                    self.note_long_line(self.buf_start + start as u64, max_line);
                    (&line[..max_line], true)
                } else {
                    (line, false)
                };
                self.deliver(line, end, truncated, emit)
            };
            if !ok {
                self.buf = buf;
                return false;
            }
            start = nl + 1;
            search = start;
        }
        let rest = &buf[start..];
        if self.long.is_some() {
            // Still skipping the tail of a long line.
            self.buf_start += buf.len() as u64;
            self.buf = buf;
            self.buf.clear();
        } else if rest.len() > max_line {
            self.note_long_line(self.buf_start + start as u64, max_line);
            self.long = Some(rest[..max_line].to_vec());
            self.buf_start += buf.len() as u64;
            self.buf = buf;
            self.buf.clear();
        } else {
            self.buf_start += start as u64;
            let mut buf = buf;
            buf.drain(..start);
            self.buf = buf;
        }
        true
    }

    /// Logs a line over the length limit (the first of this file, then every 1,000th).
    fn note_long_line(&mut self, at: u64, max_line: usize) {
        self.long_lines += 1;
        if self.long_lines % 1000 == 1 {
            tracing::warn!(path = %self.path.display(), offset = at, max_line_bytes = max_line,
                long_lines = self.long_lines,
                "a line longer than max_line_bytes: its first max_line_bytes are shipped with truncated=true, the rest up to its newline is skipped");
        }
    }

    /// Sends a line through the joiner (if any) to `emit`.
    fn deliver(
        &mut self,
        line: &[u8],
        end: u64,
        truncated: bool,
        emit: &mut dyn FnMut(&Watched, Line<'_>) -> bool,
    ) -> bool {
        match self.joiner.as_mut() {
            None => emit(
                self,
                Line {
                    text: line,
                    end,
                    truncated,
                },
            ),
            Some(j) => match j.push(line, end, truncated) {
                Some(done) => emit_joined(self, done, emit),
                None => true,
            },
        }
    }

    /// Hands out what is held back: a joined record (when `timeout` has passed, or always with
    /// `None`), and with `all` also a last line without its newline (a file that is let go).
    pub fn flush(
        &mut self,
        timeout: Option<std::time::Duration>,
        all: bool,
        emit: &mut dyn FnMut(&Watched, Line<'_>) -> bool,
    ) -> bool {
        if all {
            let end = self.read_pos();
            if let Some(head) = self.long.take() {
                if !self.deliver(&head, end, true, emit) {
                    return false;
                }
            } else if !self.buf.is_empty() {
                let line = std::mem::take(&mut self.buf);
                let ok = self.deliver(&line, end, false, emit);
                self.buf_start = end;
                if !ok {
                    return false;
                }
            }
            self.buf_start = end;
        }
        let done = match (self.joiner.as_mut(), timeout) {
            (Some(j), Some(t)) if !all => j.due(t),
            (Some(j), _) => j.flush(),
            (None, _) => None,
        };
        match done {
            Some(d) => emit_joined(self, d, emit),
            None => true,
        }
    }

    /// Goes on at `to`: what lies before it was handed out from another file with the same
    /// content (held bytes and a record being joined included).
    fn skip_to(&mut self, to: u64) -> std::io::Result<()> {
        self.buf.clear();
        self.long = None;
        if let Some(j) = self.joiner.as_mut() {
            let _ = j.flush();
        }
        self.buf_start = to;
        std::io::Seek::seek(&mut self.file, std::io::SeekFrom::Start(to))?;
        Ok(())
    }

    /// Starts the file again at 0 after a truncation (what was held back is dropped: the
    /// caller has flushed it or recovered it from the rotated copy).
    pub fn restart_at_zero(&mut self, window: Window) -> std::io::Result<()> {
        self.buf.clear();
        self.long = None;
        self.buf_start = 0;
        std::io::Seek::seek(&mut self.file, std::io::SeekFrom::Start(0))?;
        self.fp = Fingerprint::of(&self.file, window)?;
        Ok(())
    }
}

fn emit_joined(w: &Watched, j: Joined, emit: &mut dyn FnMut(&Watched, Line<'_>) -> bool) -> bool {
    emit(
        w,
        Line {
            text: &j.text,
            end: j.end,
            truncated: j.truncated,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(w: &mut Watched, max: usize) -> Vec<(String, u64, bool)> {
        let mut out = Vec::new();
        while let Some(ReadOutcome::Data(_)) = w
            .read_some(max, Window::default(), &|_| None, &mut |_, l| {
                out.push((
                    String::from_utf8_lossy(l.text).into_owned(),
                    l.end,
                    l.truncated,
                ));
                true
            })
            .unwrap()
        {}
        out
    }

    fn open(dir: &std::path::Path, text: &[u8], multiline: Option<usize>) -> (PathBuf, Watched) {
        let path = dir.join("a.log");
        std::fs::write(&path, text).unwrap();
        let f = File::open(&path).unwrap();
        let fp = Fingerprint::of(&f, Window::default()).unwrap();
        let w = Watched::new(
            path.clone(),
            f,
            FileKey { dev: 0, ino: 0 },
            fp,
            0,
            multiline,
        )
        .unwrap();
        (path, w)
    }

    #[test]
    fn lines_carry_the_offset_after_their_newline_and_a_partial_line_waits() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut w) = open(dir.path(), b"one\r\ntwo\nthr", None);
        assert_eq!(
            collect(&mut w, 100),
            vec![("one".into(), 5, false), ("two".into(), 9, false)]
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"ee\n")
            .unwrap();
        assert_eq!(collect(&mut w, 100), vec![("three".into(), 15, false)]);
    }

    #[test]
    fn a_line_over_the_limit_is_truncated_flagged_and_the_next_line_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = vec![b'x'; READ_CHUNK * 2 + 10];
        text.extend_from_slice(b"\nshort\n");
        let (_, mut w) = open(dir.path(), &text, None);
        let got = collect(&mut w, 1000);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].0.len(), got[0].1, got[0].2),
            (1000, READ_CHUNK as u64 * 2 + 11, true)
        );
        assert_eq!(got[1], ("short".into(), text.len() as u64, false));
    }

    #[test]
    fn a_stack_trace_is_one_record_ending_at_its_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"2015-12-05 18:47:36,435 WARN boom\n\tat a.b(C.java:1)\n2015-12-05 18:47:37,000 INFO ok\n";
        let (_, mut w) = open(dir.path(), text, Some(1 << 16));
        let got = collect(&mut w, 1 << 16);
        assert_eq!(
            got,
            vec![(
                "2015-12-05 18:47:36,435 WARN boom\n\tat a.b(C.java:1)".into(),
                52,
                false
            )]
        );
        let mut rest = Vec::new();
        w.flush(None, false, &mut |_, l| {
            rest.push(l.end);
            true
        });
        assert_eq!(rest, vec![text.len() as u64]);
    }
}

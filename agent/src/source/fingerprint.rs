//! File identity by content: a CRC of the first bytes of a file.
//!
//! A file is known by `(dev, inode)` while it exists, but an inode is reused as soon as a file
//! is deleted, copytruncate keeps the inode while replacing the content, and a copy holds the
//! same content under another inode. So each place read is kept with a [`Fingerprint`]: the
//! CRC-32 of the bytes `[skip, skip + window)` (`skip` jumps over a fixed header that every file
//! of a kind starts with). A file shorter than that window is fingerprinted over its complete
//! lines (all of it when it has no newline yet), and the length is kept with the CRC: a later
//! check reads the same number of bytes, so a file that grew still matches, and one whose first
//! bytes changed (truncated and rewritten, or a new file on a reused inode) does not. Cutting
//! at a line end makes a copy taken while a line was being written match what was read.
//!
//! How the fingerprint identifies a content across inodes (copies, renames) is the module doc of
//! `ledger.rs`.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Bytes fingerprinted by default.
pub const DEFAULT_WINDOW: u32 = 256;

/// CRC-32 of the first `len` bytes after the skipped header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Fingerprint {
    pub len: u32,
    pub crc: u32,
}

/// Where a fingerprint is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Header bytes skipped before the window.
    pub skip: u64,
    /// Bytes fingerprinted when the file has them.
    pub len: u32,
}

impl Default for Window {
    fn default() -> Window {
        Window {
            skip: 0,
            len: DEFAULT_WINDOW,
        }
    }
}

impl Fingerprint {
    /// Fingerprints as much of the window as the file has.
    pub fn of(file: &File, w: Window) -> std::io::Result<Fingerprint> {
        let (buf, got) = Self::read(file, w.skip, w.len)?;
        let len = if got < w.len as usize {
            memchr::memrchr(b'\n', &buf[..got]).map_or(got, |i| i + 1)
        } else {
            got
        };
        Ok(Fingerprint {
            len: len as u32,
            crc: crc32fast::hash(&buf[..len]),
        })
    }

    /// The CRC of exactly the `want` bytes after `skip` (of fewer when the file is shorter, so
    /// that it cannot match a fingerprint of `want` bytes).
    pub fn of_exactly(file: &File, skip: u64, want: u32) -> std::io::Result<Fingerprint> {
        let (buf, got) = Self::read(file, skip, want)?;
        Ok(Fingerprint {
            len: got as u32,
            crc: crc32fast::hash(&buf[..got]),
        })
    }

    fn read(file: &File, skip: u64, want: u32) -> std::io::Result<(Vec<u8>, usize)> {
        let mut buf = vec![0u8; want as usize];
        let mut got = 0;
        while got < buf.len() {
            match file.read_at(&mut buf[got..], skip + got as u64)? {
                0 => break,
                n => got += n,
            }
        }
        Ok((buf, got))
    }

    /// Whether `file` still starts with the bytes this fingerprint was taken of.
    pub fn matches(&self, file: &File, w: Window) -> std::io::Result<bool> {
        let now = Self::of_exactly(file, w.skip, self.len)?;
        Ok(now == *self)
    }

    /// Whether the window is not full yet (the file was shorter): worth taking again later.
    pub fn is_partial(&self, w: Window) -> bool {
        self.len < w.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_short_file_that_grows_still_matches_and_a_rewritten_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"first line\n").unwrap();
        let r = File::open(&path).unwrap();
        let w = Window::default();
        let fp = Fingerprint::of(&r, w).unwrap();
        assert_eq!(fp.len, 11);
        assert!(fp.is_partial(w));
        f.write_all(&[b'x'; 500]).unwrap();
        assert!(fp.matches(&r, w).unwrap());
        assert_eq!(Fingerprint::of(&r, w).unwrap().len, 256);
        // Short of the window: only complete lines count.
        std::fs::write(&path, b"one\ntwo\nthr").unwrap();
        assert_eq!(Fingerprint::of(&r, w).unwrap().len, 8);
        f.set_len(0).unwrap();
        std::fs::write(&path, b"other line\n").unwrap();
        assert!(!fp.matches(&r, w).unwrap());
    }

    #[test]
    fn a_skipped_header_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"HEADER v1\nline a\n").unwrap();
        std::fs::write(&b, b"HEADER v1\nline b\n").unwrap();
        let w = Window { skip: 10, len: 64 };
        let fa = Fingerprint::of(&File::open(&a).unwrap(), w).unwrap();
        let fb = Fingerprint::of(&File::open(&b).unwrap(), w).unwrap();
        assert_ne!(fa, fb);
        let whole = Window { skip: 0, len: 10 };
        assert_eq!(
            Fingerprint::of(&File::open(&a).unwrap(), whole).unwrap(),
            Fingerprint::of(&File::open(&b).unwrap(), whole).unwrap()
        );
    }
}

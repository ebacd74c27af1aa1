//! Strictly increasing sequence numbers that are never reused, across crashes too: the `seq`
//! half of an event's identity. The agent numbers its events with one; the collector numbers the
//! syslog messages it receives with another.
//!
//! File layout: `<header>\n<N>\n`, where every seq below `N` may have been used. Seqs are
//! reserved in blocks (a lease): the end of a block is saved durably (temp file, fsync, rename)
//! before the first seq in it is handed out, so a crash at any moment never lets a seq be used
//! twice. Seqs are strictly increasing but not contiguous across a restart.

use std::io;
use std::path::{Path, PathBuf};

use crate::durable::save_atomically;

/// Seqs reserved per durable write.
const LEASE: u64 = 100_000;

#[derive(Debug)]
pub struct SeqAllocator {
    path: PathBuf,
    /// The file's first line, naming who owns it and the format version.
    header: &'static str,
    next: u64,
    /// Seqs below this are covered by the saved lease.
    reserved: u64,
}

impl SeqAllocator {
    /// Opens the lease file at `path` (a missing file starts at 1). Errors name the file.
    pub fn open(path: &Path, header: &'static str) -> io::Result<SeqAllocator> {
        let start = match std::fs::read_to_string(path) {
            Ok(text) => parse(&text, header).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("seq file {} is damaged: {text:?}", path.display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 1,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("reading seq file {}: {e}", path.display()),
                ));
            }
        };
        Ok(SeqAllocator {
            path: path.to_owned(),
            header,
            next: start,
            reserved: start,
        })
    }

    /// The next seq. Touches the disk once per [`LEASE`] seqs.
    pub fn allocate(&mut self) -> io::Result<u64> {
        if self.next >= self.reserved {
            let until = self.next + LEASE;
            let text = format!("{}\n{until}\n", self.header);
            save_atomically(&self.path, text.as_bytes()).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("saving seq file {}: {e}", self.path.display()),
                )
            })?;
            self.reserved = until;
        }
        let seq = self.next;
        self.next += 1;
        Ok(seq)
    }
}

fn parse(text: &str, header: &str) -> Option<u64> {
    let mut lines = text.lines();
    if lines.next() != Some(header) {
        return None;
    }
    lines.next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "test seq v1";

    #[test]
    fn seqs_never_repeat_across_restarts() {
        let dir = std::env::temp_dir().join(format!("lw-seq-{}", std::process::id()));
        let path = dir.join("seq");
        let _ = std::fs::remove_file(&path);
        let mut s = SeqAllocator::open(&path, H).unwrap();
        let first: Vec<u64> = (0..5).map(|_| s.allocate().unwrap()).collect();
        assert_eq!(first, vec![1, 2, 3, 4, 5]);
        drop(s); // a crash: the rest of the lease is never used
        let mut s = SeqAllocator::open(&path, H).unwrap();
        let after = s.allocate().unwrap();
        assert!(after > 5, "{after}");
        std::fs::write(&path, "garbage").unwrap();
        let err = SeqAllocator::open(&path, H).unwrap_err().to_string();
        assert!(err.contains("seq file") && err.contains("garbage"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

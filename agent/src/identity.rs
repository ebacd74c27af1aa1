//! Who this agent is and how it numbers its events.
//!
//! Files in the data directory:
//! - `agent_id`: one line, the agent's id, generated once (`<host>-<8 hex digits>`) and kept,
//!   so that a host renamed later still ships under the same identity.
//! - `seq`: `logwarden-agent seq v1\n<N>\n`. Every seq below `N` may have been used. The agent
//!   reserves seqs in blocks (a lease): it writes the end of the block durably before handing out
//!   the first seq in it, so a crash at any moment never lets a seq be used twice. Seqs are
//!   strictly increasing but not contiguous across a restart (the rest of a block is skipped).
//!   Saved as temp file, fsync, rename, fsync of the directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::durable::save_atomically;

const SEQ_HEADER: &str = "logwarden-agent seq v1";
/// Seqs reserved per durable write.
const LEASE: u64 = 100_000;

/// Reads the agent id from `data_dir`, making one on first start.
pub fn agent_id(data_dir: &Path, host: &str) -> anyhow::Result<String> {
    let path = data_dir.join("agent_id");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim();
            if id.is_empty() || id.contains(char::is_whitespace) {
                bail!(
                    "agent id file {} holds {:?}, not an id",
                    path.display(),
                    text
                );
            }
            Ok(id.to_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let clean: String = host
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let id = format!("{clean}-{:08x}", rand::random::<u32>());
            save_atomically(&path, format!("{id}\n").as_bytes())?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("reading agent id file {}", path.display())),
    }
}

/// Hands out strictly increasing seqs that are never reused, across crashes too.
#[derive(Debug)]
pub struct SeqAllocator {
    path: PathBuf,
    next: u64,
    /// Seqs below this are covered by the saved lease.
    reserved: u64,
}

impl SeqAllocator {
    pub fn open(data_dir: &Path) -> anyhow::Result<SeqAllocator> {
        let path = data_dir.join("seq");
        let start = match std::fs::read_to_string(&path) {
            Ok(text) => parse_seq_file(&text)
                .with_context(|| format!("seq file {} is damaged: {text:?}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 1,
            Err(e) => {
                return Err(e).with_context(|| format!("reading seq file {}", path.display()));
            }
        };
        Ok(SeqAllocator {
            path,
            next: start,
            reserved: start,
        })
    }

    /// The next seq. Touches the disk once per [`LEASE`] seqs.
    pub fn allocate(&mut self) -> anyhow::Result<u64> {
        if self.next >= self.reserved {
            let until = self.next + LEASE;
            save_atomically(&self.path, format!("{SEQ_HEADER}\n{until}\n").as_bytes())?;
            self.reserved = until;
        }
        let seq = self.next;
        self.next += 1;
        Ok(seq)
    }
}

fn parse_seq_file(text: &str) -> anyhow::Result<u64> {
    let mut lines = text.lines();
    if lines.next() != Some(SEQ_HEADER) {
        bail!("first line is not {SEQ_HEADER:?}");
    }
    let n = lines.next().context("no seq line")?.trim().parse::<u64>()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = agent_id(dir.path(), "mbox3.phx").unwrap();
        assert!(a.starts_with("mbox3.phx-"), "{a}");
        assert_eq!(agent_id(dir.path(), "other").unwrap(), a);
    }

    #[test]
    fn seqs_never_repeat_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SeqAllocator::open(dir.path()).unwrap();
        let first: Vec<u64> = (0..5).map(|_| s.allocate().unwrap()).collect();
        assert_eq!(first, vec![1, 2, 3, 4, 5]);
        drop(s); // a crash: the rest of the lease is never used
        let mut s = SeqAllocator::open(dir.path()).unwrap();
        let after = s.allocate().unwrap();
        assert!(after > 5, "{after}");
    }

    #[test]
    fn a_damaged_seq_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("seq"), "garbage").unwrap();
        let err = format!("{:#}", SeqAllocator::open(dir.path()).unwrap_err());
        assert!(err.contains("seq file") && err.contains("garbage"), "{err}");
    }
}

//! Who this agent is and how it numbers its events.
//!
//! Files in the data directory:
//! - `agent_id`: one line, the agent's id, generated once (`<host>-<8 hex digits>`) and kept,
//!   so that a host renamed later still ships under the same identity.
//! - `seq`: the seq lease (`logwarden-agent seq v1`, layout in `logwarden_core::seq`). The agent
//!   reserves seqs in blocks (a lease): it writes the end of the block durably before handing out
//!   the first seq in it, so a crash at any moment never lets a seq be used twice. Seqs are
//!   strictly increasing but not contiguous across a restart (the rest of a block is skipped).
//!   Saved as temp file, fsync, rename, fsync of the directory.

use std::path::Path;

use anyhow::{Context, bail};
pub use logwarden_core::seq::SeqAllocator;

use crate::durable::save_atomically;

const SEQ_HEADER: &str = "logwarden-agent seq v1";

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

/// The agent's seq allocator, kept in `seq` in the data directory (layout in
/// [`logwarden_core::seq`]).
pub fn seq_allocator(data_dir: &Path) -> anyhow::Result<SeqAllocator> {
    Ok(SeqAllocator::open(&data_dir.join("seq"), SEQ_HEADER)?)
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
    fn the_agent_seq_file_keeps_its_header() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = seq_allocator(dir.path()).unwrap();
        assert_eq!(s.allocate().unwrap(), 1);
        let text = std::fs::read_to_string(dir.path().join("seq")).unwrap();
        assert!(text.starts_with("logwarden-agent seq v1\n"), "{text}");
    }
}

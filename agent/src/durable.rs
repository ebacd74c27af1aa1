//! Saving small state files (agent id, seq lease, checkpoints) atomically: see
//! [`logwarden_core::durable`], with the file named in the error.

use std::path::Path;

use anyhow::Context;

/// Temp file, fsync, rename, fsync of the directory.
pub fn save_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    logwarden_core::durable::save_atomically(path, bytes)
        .with_context(|| format!("saving {}", path.display()))
}

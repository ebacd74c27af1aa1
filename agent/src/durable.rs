//! Saving small state files (agent id, seq lease, checkpoints) so that a crash at any moment
//! leaves either the old or the new content, never a mix.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Temp file, fsync, rename, fsync of the directory.
pub fn save_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().with_context(|| format!("saving {}", path.display()))
}

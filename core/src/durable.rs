//! Saving small state files (seq leases, checkpoints, snapshots) so that a crash at any moment
//! leaves either the old or the new content, never a mix.

use std::io::Write;
use std::path::Path;

/// Temp file (`<path>.tmp`), fsync, rename over `path`, fsync of the directory.
pub fn save_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// fsyncs a directory, so that the files created, renamed or removed in it stay so after a
/// crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

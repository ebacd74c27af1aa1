//! Early discovery: inotify (through the `notify` crate) on the directories the globs name, so
//! that a new or renamed file is picked up at once rather than at the next poll pass. The poll
//! pass (`[tail] scan_ms`) stays: it is the fallback where inotify does not work (NFS, some
//! container file systems), for directories that appear later, and for globs with wildcards in
//! their directories.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

/// Raised by the watcher thread when a watched directory gains, loses or renames an entry.
pub struct Wake {
    /// Kept alive for its inotify watches; `None` when inotify is unavailable.
    _watcher: Option<RecommendedWatcher>,
    flag: Arc<AtomicBool>,
}

impl Wake {
    pub fn new<'a>(globs: impl IntoIterator<Item = &'a str>) -> Wake {
        let flag = Arc::new(AtomicBool::new(false));
        let raised = flag.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res
                && matches!(
                    ev.kind,
                    EventKind::Create(_)
                        | EventKind::Remove(_)
                        | EventKind::Modify(notify::event::ModifyKind::Name(_))
                )
            {
                raised.store(true, Relaxed);
            }
        });
        let watcher = match watcher {
            Ok(mut w) => {
                for dir in dirs_of(globs) {
                    if let Err(e) = w.watch(&dir, RecursiveMode::NonRecursive) {
                        tracing::debug!(dir = %dir.display(), error = %e, "not watched with inotify; polling covers it");
                    }
                }
                Some(w)
            }
            Err(e) => {
                tracing::warn!(error = %e, "inotify unavailable: new files are found by polling only");
                None
            }
        };
        Wake {
            _watcher: watcher,
            flag,
        }
    }

    /// Whether a watched directory changed since the last call.
    pub fn take(&self) -> bool {
        self.flag.swap(false, Relaxed)
    }
}

/// The directory part of each glob, up to its first wildcard: `/var/log/*.log` -> `/var/log`,
/// `/srv/*/log/x.log` -> `/srv`.
fn dirs_of<'a>(globs: impl IntoIterator<Item = &'a str>) -> BTreeSet<PathBuf> {
    globs
        .into_iter()
        .filter_map(|g| {
            let mut dir = PathBuf::new();
            for part in Path::new(g).parent()?.components() {
                if part.as_os_str().to_string_lossy().contains(['*', '?', '[']) {
                    break;
                }
                dir.push(part);
            }
            (!dir.as_os_str().is_empty()).then_some(dir)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watched_directory_is_the_glob_up_to_its_first_wildcard() {
        let dirs: Vec<PathBuf> = dirs_of([
            "/var/log/*.log",
            "/srv/*/log/x.log",
            "/opt/zimbra/log/mailbox.log",
            "x",
        ])
        .into_iter()
        .collect();
        assert_eq!(
            dirs,
            vec![
                PathBuf::from("/opt/zimbra/log"),
                PathBuf::from("/srv"),
                PathBuf::from("/var/log")
            ]
        );
    }

    #[test]
    fn a_file_created_in_a_watched_directory_raises_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let glob = format!("{}/*.log", dir.path().display());
        let wake = Wake::new([glob.as_str()]);
        assert!(!wake.take());
        std::fs::write(dir.path().join("new.log"), "x\n").unwrap();
        let start = std::time::Instant::now();
        while !wake.take() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(5),
                "no inotify wake-up within 5 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

//! One process per data folder: an exclusive `flock` on `<data dir>/lock`.
//!
//! Two agents on one data folder would share the agent id, the seq leases and the file
//! offsets (duplicates, or lines skipped); two collectors would both append to one WAL. So the
//! agent and the collector take this lock before they read anything in their folder, and a
//! second process exits at once with an error naming the folder and the holder's pid.
//!
//! The lock file holds the holder's pid as one decimal line (for the message only: the lock is
//! the `flock`, not the file's content, so a pid left behind by a killed process is never
//! mistaken for a holder). The kernel releases the lock when the process ends, however it
//! ends (SIGKILL included); the descriptor is close-on-exec, so a child (smartctl, a hook)
//! never keeps it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside a data folder.
pub const LOCK_FILE: &str = "lock";

/// Why a data folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum DataLockError {
    #[error(
        "{dir} is in use by another {program} (pid {holder}, lock file {lock}): stop it first, \
         or give this one another data folder"
    )]
    Held {
        dir: PathBuf,
        lock: PathBuf,
        program: String,
        /// The holder's pid as its lock file says, or `unknown` (it is still writing it).
        holder: String,
    },
    #[error("cannot lock the data folder {dir} ({lock}): {source}")]
    Io {
        dir: PathBuf,
        lock: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock: kept for as long as the process uses the folder (dropping it unlocks).
#[derive(Debug)]
pub struct DataLock {
    _file: File,
    path: PathBuf,
}

impl DataLock {
    /// Creates `dir` if needed and locks it for `program` (named in the message another
    /// process gets), writing this process's pid into the lock file.
    pub fn acquire(dir: &Path, program: &str) -> Result<DataLock, DataLockError> {
        let lock = dir.join(LOCK_FILE);
        let io = |source| DataLockError::Io {
            dir: dir.to_owned(),
            lock: lock.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = match text.trim() {
                    pid if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => {
                        pid.to_owned()
                    }
                    _ => "unknown".to_owned(),
                };
                return Err(DataLockError::Held {
                    dir: dir.to_owned(),
                    lock,
                    program: program.to_owned(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // The pid is for the message only: on a full disk it may not be written (a second
        // process then says "pid unknown"), and the collector must still start there.
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()));
        Ok(DataLock {
            _file: file,
            path: lock,
        })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_with_the_holders_pid() {
        let dir = std::env::temp_dir().join(format!("lw-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = DataLock::acquire(&dir.join("data"), "logwarden-agent").unwrap();
        let pid = std::fs::read_to_string(first.path()).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        // flock locks belong to the open file description: a second open in this same process
        // conflicts just as another process's would.
        let err = DataLock::acquire(&dir.join("data"), "logwarden-agent").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataLockError::Held { .. }), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(
            msg.contains(&dir.join("data").display().to_string()),
            "{msg}"
        );
        drop(first);
        // Released: the next one gets it, and a pid left in the file is only overwritten.
        let again = DataLock::acquire(&dir.join("data"), "logwarden-agent").unwrap();
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The failover state file, `<data_dir>/failover.json`: this collector's role and epoch.
//!
//! ```text
//! {"version": 1, "role": "standby", "epoch": 3}
//! ```
//!
//! It is saved atomically (temp file, fsync, rename) *before* the collector acts in a new role,
//! so that a crash never leaves a collector that believes an older role than it has shown. A
//! missing file means "never switched": the configured role at epoch 1. The epoch here can be
//! ahead of the WAL's newest `Epoch` record (a primary learned of a new epoch before copying it;
//! a promoted standby writes its record right after start); the WAL can never be ahead.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Role;

const VERSION: u32 = 1;

/// Errors of the state file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file exists but cannot be read or written.
    #[error("failover state {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON of a version this build knows. Not guessed around: a wrong role could
    /// make two primaries.
    #[error(
        "failover state {path} is unreadable ({reason}); fix or remove it (removing makes the configured role count again)"
    )]
    Bad { path: PathBuf, reason: String },
    /// An epoch heard of is far beyond this collector's own (`super::MAX_EPOCH_STEP`): not
    /// saved, nothing changes.
    #[error(
        "epoch {epoch} is more than {} past this collector's epoch {ours}; refused (a bug or a forgery, not a failover)",
        super::MAX_EPOCH_STEP
    )]
    EpochOutOfReach { epoch: u64, ours: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverState {
    pub version: u32,
    pub role: Role,
    pub epoch: u64,
}

impl FailoverState {
    pub fn new(role: Role, epoch: u64) -> FailoverState {
        FailoverState {
            version: VERSION,
            role,
            epoch,
        }
    }

    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("failover.json")
    }

    /// The saved state, or `None` when there is none yet.
    pub fn load(data_dir: &Path) -> Result<Option<FailoverState>, StateError> {
        let path = Self::path(data_dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Io { path, source }),
        };
        let state: FailoverState = serde_json::from_slice(&bytes).map_err(|e| StateError::Bad {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if state.version != VERSION {
            return Err(StateError::Bad {
                path,
                reason: format!("version {} (this build reads {VERSION})", state.version),
            });
        }
        Ok(Some(state))
    }

    pub fn save(&self, data_dir: &Path) -> Result<(), StateError> {
        let path = Self::path(data_dir);
        let bytes = serde_json::to_vec(self).expect("the state always serializes");
        logwarden_core::durable::save_atomically(&path, &bytes)
            .map_err(|source| StateError::Io { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_loads_back_and_a_foreign_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(FailoverState::load(dir.path()).unwrap(), None);
        let s = FailoverState::new(Role::Standby, 3);
        s.save(dir.path()).unwrap();
        assert_eq!(FailoverState::load(dir.path()).unwrap(), Some(s));
        std::fs::write(
            FailoverState::path(dir.path()),
            r#"{"version":9,"role":"primary","epoch":1}"#,
        )
        .unwrap();
        let err = FailoverState::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("version 9"), "{err}");
    }
}

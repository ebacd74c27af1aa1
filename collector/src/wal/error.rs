//! Errors of the write-ahead log.

use std::path::{Path, PathBuf};

use super::record::MAX_PAYLOAD;

/// Errors of the write-ahead log.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An I/O call on a WAL file or the directory failed.
    #[error("WAL I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A segment header is missing, has the wrong magic or a version this build cannot read.
    #[error("WAL segment {path} is not readable: {reason}")]
    BadSegment { path: PathBuf, reason: String },
    /// An earlier write or fsync failed; the collector must restart to recover from disk.
    #[error("WAL is poisoned by an earlier failed write or fsync; restart the collector")]
    Poisoned,
    /// A replicated record does not come after the records held (a bug or a mixed-up peer).
    #[error("replicated record LSN {lsn} is not after the log's end (next LSN {next})")]
    OutOfOrder { lsn: u64, next: u64 },
    /// The payload is over [`MAX_PAYLOAD`].
    #[error("WAL record of {0} bytes is over the limit of {MAX_PAYLOAD} bytes")]
    TooLarge(usize),
}

impl WalError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> WalError {
        WalError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

//! Why the index could not do what it was asked: tantivy refused, or a file of the index
//! directory could not be read or written. A leaf, so that the partitions, the catalog and
//! reindexing can return it without needing `index/mod.rs` (which uses them).

use std::path::PathBuf;

/// An error of the index, naming the partition or file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// tantivy refused to open, write or commit a partition.
    #[error("index at {path}: {source}")]
    Tantivy {
        path: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },
    /// A file of the index directory could not be read, written or removed.
    #[error("index at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl IndexError {
    /// For `map_err`: an I/O error at `path`.
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> IndexError {
        let path = path.to_owned();
        move |source| IndexError::Io { path, source }
    }

    /// For `map_err`: tantivy's error about the index at `path`.
    pub(crate) fn tantivy(
        path: &std::path::Path,
    ) -> impl FnOnce(tantivy::TantivyError) -> IndexError {
        let path = path.to_owned();
        move |source| IndexError::Tantivy { path, source }
    }
}

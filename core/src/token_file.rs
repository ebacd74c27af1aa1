//! Bearer tokens read from a file (`--token-file` and the like), so that a token never has to
//! be given on a command line, where every user of the machine sees it in `ps`.
//!
//! A token file holds one token per line; blank lines and lines starting with `#` are skipped,
//! white space around a token is not part of it. Where one token is wanted, the file must hold
//! exactly one.

use std::path::{Path, PathBuf};

/// Why a token file gave no token.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("token file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("token file {0}: the file holds no token")]
    Empty(PathBuf),
    #[error("token file {path}: {count} tokens where one is wanted")]
    Many { path: PathBuf, count: usize },
}

/// Every token in `path`.
pub fn read_tokens(path: &Path) -> Result<Vec<String>, TokenFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        return Err(TokenFileError::Empty(path.to_owned()));
    }
    Ok(tokens)
}

/// The one token in `path`.
pub fn read_token(path: &Path) -> Result<String, TokenFileError> {
    let mut tokens = read_tokens(path)?;
    if tokens.len() > 1 {
        return Err(TokenFileError::Many {
            path: path.to_owned(),
            count: tokens.len(),
        });
    }
    Ok(tokens.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_by_line_and_an_empty_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, "# the agents' tokens\n  lw_a  \n\nlw_b\n").unwrap();
        assert_eq!(read_tokens(&path).unwrap(), ["lw_a", "lw_b"]);
        let err = read_token(&path).unwrap_err().to_string();
        assert!(err.contains("2 tokens where one"), "{err}");
        std::fs::write(&path, "lw_only\n").unwrap();
        assert_eq!(read_token(&path).unwrap(), "lw_only");
        std::fs::write(&path, "\n# nothing\n").unwrap();
        let err = read_token(&path).unwrap_err().to_string();
        assert!(
            err.contains("holds no token") && err.contains("/t"),
            "{err}"
        );
        let err = read_token(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing"), "{err}");
    }
}

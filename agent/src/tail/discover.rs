//! Finding the files to tail: the include globs of `[[files]]`, minus their `exclude` globs and
//! compressed files, each with how to read it.
//!
//! Discovery is a poll pass (every `[tail] scan_ms`, and at once when `wake.rs` sees a watched
//! directory change), which works on every file system; a pass over a few thousand files costs a
//! few milliseconds.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::FileKey;
use crate::config::{FileRule, Multiline};
use crate::parse::{Format, LineParser, ParseOptions, Zone};

/// Extensions of compressed rotations: never tailed.
const COMPRESSED: [&str; 5] = ["gz", "bz2", "xz", "zst", "lz4"];

/// A file a glob matched.
#[derive(Debug)]
pub struct Found {
    pub path: PathBuf,
    pub key: FileKey,
    pub len: u64,
    pub modified: Option<std::time::SystemTime>,
    pub format: Format,
    pub multiline: bool,
}

pub struct Discovery {
    rules: Vec<Rule>,
}

struct Rule {
    include: String,
    pattern: Option<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
    format: Format,
    tz: Zone,
    multiline: Multiline,
}

impl Discovery {
    pub fn new(rules: &[FileRule]) -> Discovery {
        Discovery {
            rules: rules
                .iter()
                .map(|r| Rule {
                    include: r.path.clone(),
                    pattern: glob::Pattern::new(&r.path).ok(),
                    exclude: r
                        .exclude
                        .iter()
                        .filter_map(|g| glob::Pattern::new(g).ok())
                        .collect(),
                    format: r.format,
                    tz: r.tz,
                    multiline: r.multiline,
                })
                .collect(),
        }
    }

    /// The rule whose include glob matches `path` (or `path` itself for a copy of it).
    fn rule_for(&self, path: &std::path::Path) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.pattern.as_ref().is_some_and(|p| p.matches_path(path)))
    }

    /// Whether records of `path` are joined (multiline).
    pub fn scan_one(&self, path: &std::path::Path) -> bool {
        self.rule_for(path)
            .is_some_and(|r| r.multiline.applies(path, r.format))
    }

    /// A parser for the lines of `path`, with its rule's format and time zone.
    pub fn parser_for(&self, path: &std::path::Path) -> LineParser {
        match self.rule_for(path) {
            Some(r) => {
                let options = ParseOptions {
                    zone: r.tz,
                    ..ParseOptions::default()
                };
                LineParser::with_options(path, r.format, &options)
            }
            None => LineParser::new(path, Format::Auto),
        }
    }

    /// Every regular file matched now (the first rule that matches a path wins).
    pub fn scan(&self) -> Vec<Found> {
        let mut out: Vec<Found> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for rule in &self.rules {
            let Ok(paths) = glob::glob(&rule.include) else {
                continue;
            };
            for path in paths.flatten() {
                if !seen.insert(path.clone()) || rule.excluded(&path) {
                    continue;
                }
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                out.push(Found {
                    key: FileKey {
                        dev: meta.dev(),
                        ino: meta.ino(),
                    },
                    len: meta.len(),
                    modified: meta.modified().ok(),
                    format: rule.format,
                    multiline: rule.multiline.applies(&path, rule.format),
                    path,
                });
            }
        }
        out
    }
}

impl Rule {
    fn excluded(&self, path: &std::path::Path) -> bool {
        if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| COMPRESSED.contains(&e))
        {
            return true;
        }
        let name = path.file_name().map(std::path::Path::new);
        self.exclude
            .iter()
            .any(|p| p.matches_path(path) || name.is_some_and(|n| p.matches_path(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_and_compressed_files_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.log", "a.log.1", "a.log.2.gz", "b.log", "keep.txt"] {
            std::fs::write(dir.path().join(name), b"x\n").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.log")).unwrap();
        let rule = FileRule {
            path: format!("{}/*", dir.path().display()),
            format: Format::Plain,
            tz: Zone::Local,
            exclude: vec!["b.*".into(), format!("{}/*.txt", dir.path().display())],
            multiline: Multiline::None,
        };
        let mut names: Vec<String> = Discovery::new(&[rule])
            .scan()
            .into_iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["a.log", "a.log.1"]);
    }
}

//! Finding the files to tail: the include globs of `[[files]]`, minus their `exclude` globs and
//! compressed files, each with how to read it.
//!
//! Discovery is a poll pass (every `[tail] scan_ms`, and at once when `wake.rs` sees a watched
//! directory change), which works on every file system; a pass over a few thousand files costs a
//! few milliseconds.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::settings::{FileRule, Multiline};
use crate::parse::{Format, LineParser, ParseOptions, Zone};
use crate::source::FileKey;

/// Extensions of compressed rotations: never tailed.
const COMPRESSED: [&str; 5] = ["gz", "bz2", "xz", "zst", "lz4"];

/// A path a glob matched that is not read, and why.
#[derive(Debug, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    /// A short kind (`fifo`, `directory`, `symlink loop`...), the key of the complaint.
    pub kind: &'static str,
    pub detail: String,
}

/// What one pass over the globs found.
#[derive(Debug, Default)]
pub struct Scan {
    pub found: Vec<Found>,
    pub skipped: Vec<Skipped>,
    /// Include globs that matched no path at all.
    pub empty: Vec<String>,
}

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

    /// Every regular file matched now (the first rule that matches a path wins), what was
    /// matched and cannot be read, and the globs that match nothing.
    pub fn scan(&self) -> Scan {
        let mut out = Scan::default();
        let mut seen = std::collections::HashSet::new();
        for rule in &self.rules {
            let Ok(paths) = glob::glob(&rule.include) else {
                out.empty.push(rule.include.clone());
                continue;
            };
            let mut matched = false;
            for path in paths {
                let path = match path {
                    Ok(p) => p,
                    Err(e) => {
                        out.skipped.push(Skipped {
                            path: e.path().to_owned(),
                            kind: "unreadable directory",
                            detail: format!("cannot look into it: {}", e.error()),
                        });
                        continue;
                    }
                };
                matched = true;
                if !seen.insert(path.clone()) || rule.excluded(&path) {
                    continue;
                }
                let meta = match std::fs::metadata(&path) {
                    Ok(m) => m,
                    Err(e) => {
                        if let Some(s) = unfollowable(&path, &e) {
                            out.skipped.push(s);
                        }
                        continue;
                    }
                };
                if !meta.is_file() {
                    out.skipped.push(not_regular(&path, &meta));
                    continue;
                }
                out.found.push(Found {
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
            if !matched {
                out.empty.push(rule.include.clone());
            }
        }
        out
    }
}

/// Why a matched path that `stat` refused is not read (`None`: it was just deleted).
fn unfollowable(path: &std::path::Path, e: &std::io::Error) -> Option<Skipped> {
    let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let (kind, detail) = if e.raw_os_error() == Some(40) {
        (
            "symlink loop",
            "a loop of symbolic links (ELOOP): not read".to_owned(),
        )
    } else if link && e.kind() == std::io::ErrorKind::NotFound {
        (
            "dangling symlink",
            "a symbolic link to nothing: not read".to_owned(),
        )
    } else if e.kind() == std::io::ErrorKind::NotFound {
        return None;
    } else {
        ("unreadable", format!("cannot stat it: {e}"))
    };
    Some(Skipped {
        path: path.to_owned(),
        kind,
        detail,
    })
}

/// Why a matched path that is not a regular file is not read.
fn not_regular(path: &std::path::Path, meta: &std::fs::Metadata) -> Skipped {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let kind = if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "not a regular file"
    };
    Skipped {
        path: path.to_owned(),
        kind,
        detail: format!(
            "a {kind}, not a regular file: not read (only regular files are tailed; narrow the glob or add an exclude)"
        ),
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
        let scan = Discovery::new(&[rule]).scan();
        assert_eq!(
            scan.skipped
                .iter()
                .map(|s| (s.path.file_name().unwrap().to_str().unwrap(), s.kind))
                .collect::<Vec<_>>(),
            vec![("sub.log", "directory")]
        );
        let mut names: Vec<String> = scan
            .found
            .into_iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["a.log", "a.log.1"]);
    }

    #[test]
    fn fifos_symlink_loops_and_empty_globs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ok.log"), b"x\n").unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            d.join("pipe.log"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        std::os::unix::fs::symlink(d.join("loop1.log"), d.join("loop2.log")).unwrap();
        std::os::unix::fs::symlink(d.join("loop2.log"), d.join("loop1.log")).unwrap();
        let rule = |path: String| FileRule {
            path,
            format: Format::Plain,
            tz: Zone::Local,
            exclude: vec![],
            multiline: Multiline::None,
        };
        let scan = Discovery::new(&[
            rule(format!("{}/*.log", d.display())),
            rule(format!("{}/nothing-*.log", d.display())),
        ])
        .scan();
        let mut kinds: Vec<(String, &str)> = scan
            .skipped
            .iter()
            .map(|s| (s.path.file_name().unwrap().to_string_lossy().into(), s.kind))
            .collect();
        kinds.sort();
        assert_eq!(
            kinds,
            vec![
                ("loop1.log".into(), "symlink loop"),
                ("loop2.log".into(), "symlink loop"),
                ("pipe.log".into(), "fifo"),
            ]
        );
        assert_eq!(scan.found.len(), 1);
        assert_eq!(scan.empty, vec![format!("{}/nothing-*.log", d.display())]);
    }
}

//! The tokens file: named, hashed bearer tokens that `logwarden-collector token add|revoke`
//! edits and the running collector re-reads when it changes (no restart).
//!
//! # Layout (version 1)
//!
//! ```text
//! # logwarden-collector tokens v1
//! # NAME ROLE SHA256-HEX [agent=PREFIX] (edit with `logwarden-collector token add|revoke|list`)
//! mbox1.phx ingest 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 agent=mbox1.phx
//! oncall admin 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752
//! ```
//!
//! The first line is the version tag; lines starting with `#` and blank lines are comments.
//! The optional fourth field binds an ingest token to one agent: it may only send event ids
//! whose agent part is PREFIX or starts with `PREFIX-` (an agent's generated id is
//! `<host>-<8 hex digits>`). Lines of three fields (files written before the binding existed)
//! are unbound and keep working.
//! Only the SHA-256 of a token is stored, so the file gives nothing away to whoever reads it;
//! the token itself is printed once, by `token add`. Saves go through
//! `save_atomically`, so the watcher sees either the old file or the new one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Role;

pub const HEADER: &str = "# logwarden-collector tokens v1";

/// Errors reading or writing a tokens file.
#[derive(Debug, thiserror::Error)]
pub enum TokensFileError {
    /// The file cannot be read or written.
    #[error("tokens file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line is not `NAME ROLE SHA256-HEX`, or the version tag is missing.
    #[error("tokens file {path}, line {line}: {reason}")]
    Syntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// `token add` of a name that exists.
    #[error("a token named {0:?} exists already; revoke it first")]
    Exists(String),
    /// `token revoke` of a name that does not exist.
    #[error("no token named {0:?}")]
    NoSuchName(String),
    /// A name with a space, a `#` or nothing in it.
    #[error("token name {0:?} must be non-empty, without spaces or '#'")]
    BadName(String),
}

/// One entry: who holds the token and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub role: Role,
    /// SHA-256 of the token, 64 lowercase hex digits.
    pub hash: String,
    /// The agent whose ids the token may send (ingest tokens; `None`: any agent).
    pub agent: Option<String>,
}

/// The hash under which a token is stored and looked up.
pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh random token: `lw_` and 64 hex digits (256 bits).
pub fn generate() -> String {
    let bytes: [u8; 32] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("lw_{hex}")
}

/// Reads a tokens file; a missing file is an empty one.
pub fn read(path: &Path) -> Result<BTreeMap<String, Entry>, TokensFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(TokensFileError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, Entry>, TokensFileError> {
    let syntax = |line: usize, reason: String| TokensFileError::Syntax {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut entries = BTreeMap::new();
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    match lines.next() {
        Some((_, HEADER)) => {}
        None | Some((_, "")) if text.trim().is_empty() => return Ok(entries),
        Some((n, other)) => {
            return Err(syntax(
                n,
                format!("expected the version tag {HEADER:?}, found {other:?}"),
            ));
        }
        None => unreachable!("an empty text returned above"),
    }
    for (n, line) in lines {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let (name, role, hash, agent) = match parts[..] {
            [name, role, hash] => (name, role, hash, None),
            [name, role, hash, bound] => match bound.strip_prefix("agent=") {
                Some(prefix) if !prefix.is_empty() && !prefix.contains(':') => {
                    (name, role, hash, Some(prefix.to_owned()))
                }
                _ => {
                    return Err(syntax(
                        n,
                        format!(
                            "expected agent=PREFIX (no ':') as the fourth field, found {bound:?}"
                        ),
                    ));
                }
            },
            _ => {
                return Err(syntax(
                    n,
                    format!(
                        "expected NAME ROLE SHA256-HEX [agent=PREFIX], found {} fields",
                        parts.len()
                    ),
                ));
            }
        };
        let role: Role = role.parse().map_err(|e: String| syntax(n, e))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(syntax(
                n,
                "the hash must be 64 hex digits (SHA-256)".to_owned(),
            ));
        }
        let entry = Entry {
            role,
            hash: hash.to_ascii_lowercase(),
            agent,
        };
        if entries.insert(name.to_owned(), entry).is_some() {
            return Err(syntax(n, format!("the name {name:?} appears twice")));
        }
    }
    Ok(entries)
}

fn render(entries: &BTreeMap<String, Entry>) -> String {
    let mut out = format!(
        "{HEADER}\n# NAME ROLE SHA256-HEX [agent=PREFIX] (edit with `logwarden-collector token add|revoke|list`)\n"
    );
    for (name, e) in entries {
        match &e.agent {
            Some(a) => out.push_str(&format!("{name} {} {} agent={a}\n", e.role, e.hash)),
            None => out.push_str(&format!("{name} {} {}\n", e.role, e.hash)),
        }
    }
    out
}

fn save(path: &Path, entries: &BTreeMap<String, Entry>) -> Result<(), TokensFileError> {
    logwarden_core::durable::save_atomically(path, render(entries).as_bytes()).map_err(|source| {
        TokensFileError::Io {
            path: path.to_owned(),
            source,
        }
    })
}

/// Adds a new token named `name` and returns it: the only time it is ever shown. An ingest
/// token is bound to the agent `agent` (see the module doc; `None`: any agent).
pub fn add(
    path: &Path,
    name: &str,
    role: Role,
    agent: Option<&str>,
) -> Result<String, TokensFileError> {
    if name.is_empty() || name.contains(char::is_whitespace) || name.contains('#') {
        return Err(TokensFileError::BadName(name.to_owned()));
    }
    if let Some(a) = agent
        && (a.is_empty() || a.contains(char::is_whitespace) || a.contains([':', '#']))
    {
        return Err(TokensFileError::BadName(a.to_owned()));
    }
    let mut entries = read(path)?;
    if entries.contains_key(name) {
        return Err(TokensFileError::Exists(name.to_owned()));
    }
    let token = generate();
    entries.insert(
        name.to_owned(),
        Entry {
            role,
            hash: hash(&token),
            agent: agent.filter(|_| role == Role::Ingest).map(str::to_owned),
        },
    );
    save(path, &entries)?;
    Ok(token)
}

/// Removes the token named `name`; a running collector stops accepting it within a second.
pub fn revoke(path: &Path, name: &str) -> Result<(), TokensFileError> {
    let mut entries = read(path)?;
    if entries.remove(name).is_none() {
        return Err(TokensFileError::NoSuchName(name.to_owned()));
    }
    save(path, &entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_tokens_are_stored_hashed_and_revoked_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let t = add(&path, "mbox1", Role::Ingest, None).unwrap();
        assert!(t.starts_with("lw_") && t.len() == 67);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&t), "the token itself is never written");
        assert!(text.contains(&hash(&t)));
        let e = read(&path).unwrap();
        assert_eq!(e["mbox1"].role, Role::Ingest);
        assert!(matches!(
            add(&path, "mbox1", Role::Read, None),
            Err(TokensFileError::Exists(_))
        ));
        revoke(&path, "mbox1").unwrap();
        assert!(read(&path).unwrap().is_empty());
        assert!(matches!(
            revoke(&path, "mbox1"),
            Err(TokensFileError::NoSuchName(_))
        ));
    }

    #[test]
    fn a_damaged_line_is_named_by_file_and_line() {
        let text = format!("{HEADER}\nok read {}\nbad admin 1234\n", hash("x"));
        let err = parse(Path::new("/etc/lw/tokens"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/etc/lw/tokens, line 3"), "{err}");
        assert!(err.contains("64 hex digits"), "{err}");
        let err = parse(Path::new("t"), "mbox1 ingest abc\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1") && err.contains("version tag"),
            "{err}"
        );
        let err = parse(
            Path::new("t"),
            &format!("{HEADER}\nx writer {}\n", hash("x")),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("line 2") && err.contains("ingest, read, replication or admin"),
            "{err}"
        );
    }

    #[test]
    fn a_binding_is_kept_and_files_without_one_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, format!("{HEADER}\nold ingest {}\n", hash("x"))).unwrap();
        add(&path, "mbox1.phx", Role::Ingest, Some("mbox1.phx")).unwrap();
        add(&path, "grafana", Role::Read, Some("ignored")).unwrap();
        let e = read(&path).unwrap();
        assert_eq!(e["old"].agent, None, "a line of three fields is unbound");
        assert_eq!(e["mbox1.phx"].agent.as_deref(), Some("mbox1.phx"));
        assert_eq!(e["grafana"].agent, None, "only ingest tokens are bound");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(" agent=mbox1.phx\n"), "{text}");
        let err = parse(
            Path::new("t"),
            &format!("{HEADER}\nx ingest {} host=y\n", hash("x")),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("line 2") && err.contains("agent=PREFIX"),
            "{err}"
        );
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        // echo -n test | sha256sum
        assert_eq!(
            hash("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }
}

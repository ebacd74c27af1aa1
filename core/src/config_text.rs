//! Turning a config error into a message an operator can act on: the file, the line, the key
//! (with its table) and what was expected, plus a suggestion for a misspelt key. Shared by the
//! agent's and the collector's config loaders, which pass the text they read.

use std::ops::Range;
use std::path::Path;

/// A config file that passed its checks.
pub struct Checked<S> {
    pub settings: S,
    /// One line per deprecated key the file uses, with its file and line, and the key's new
    /// spelling with the value converted.
    pub deprecations: Vec<String>,
}

/// The last step of checking a config file, the same in the agent and the collector: `build`
/// the parsed `file` into settings, with its error and each of the file's `deprecations` placed
/// at their line of `text` ([`locate`]).
pub fn checked<F, S, E: std::fmt::Display>(
    path: &Path,
    text: &str,
    file: F,
    deprecations: &[String],
    build: impl FnOnce(F) -> Result<S, E>,
) -> Result<Checked<S>, String> {
    let deprecations = deprecations
        .iter()
        .map(|note| locate(path, text, note))
        .collect();
    let settings = build(file).map_err(|e| locate(path, text, &format!("{e:#}")))?;
    Ok(Checked {
        settings,
        deprecations,
    })
}

/// A TOML error (`message` and the byte `span` it points at, as the `toml` crate reports them)
/// as one line naming the file, line, column and key, with a "did you mean" for unknown keys.
pub fn describe(path: &Path, text: &str, message: &str, span: Option<Range<usize>>) -> String {
    let message = message.trim();
    let Some(span) = span else {
        return format!("config file {}: {message}", path.display());
    };
    let at = span.start.min(text.len());
    let line = text[..at].matches('\n').count() + 1;
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..at].chars().count() + 1;
    let mut out = format!(
        "config file {}, line {line}, column {column}",
        path.display()
    );
    if let Some(key) = key_at(text, at) {
        out.push_str(&format!(": key `{key}`"));
    }
    out.push_str(&format!(": {message}"));
    if let Some(s) = suggestion(message) {
        out.push_str(&format!("; did you mean `{s}`?"));
    }
    out
}

/// The dotted key whose line holds byte `at`: the table header above it and the key before
/// the `=` on its line (`limits.max_body_bytes`).
fn key_at(text: &str, at: usize) -> Option<String> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = text[line_start..line_end].trim();
    if line.starts_with('[') {
        return None;
    }
    let key = line.split('=').next()?.trim().trim_matches('"');
    if key.is_empty() {
        return None;
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_owned(),
    })
}

/// For serde's "unknown field `x`, expected one of `a`, `b`": the closest known name, if one
/// is close enough to be a typo.
fn suggestion(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    expected
        .into_iter()
        .map(|k| (levenshtein(unknown, k), k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 3))
        .min()
        .map(|(_, k)| k.to_owned())
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diag + usize::from(ca != *cb));
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The line of `key` in table `[table]` (or at the top when `table` is empty), for errors found
/// after parsing ("[limits] max_lines must be above zero").
pub fn line_of(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            current = l.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
            continue;
        }
        if current == table
            && l.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        {
            return Some(i + 1);
        }
    }
    None
}

/// For a check's message that starts with `[table] key` (or a top-level `key`): where that key
/// is in the file, as "config file F, line N: MESSAGE". Messages naming no key found in the file
/// get the file alone.
pub fn locate(path: &Path, text: &str, message: &str) -> String {
    let (table, rest) = match message.strip_prefix('[').and_then(|m| m.split_once(']')) {
        Some((t, rest)) => (t.trim(), rest.trim_start()),
        None => ("", message),
    };
    let key: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    match (!key.is_empty())
        .then(|| line_of(text, table, &key))
        .flatten()
    {
        Some(line) => format!("config file {}, line {line}: {message}", path.display()),
        None => format!("config file {}: {message}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_key_is_named_with_its_table_line_and_the_likely_intended_key() {
        let text = "listen = \"x\"\n[limits]\nmax_bodybytes = 1\n";
        let at = text.find("max_bodybytes").unwrap();
        let msg = describe(
            Path::new("/etc/c.toml"),
            text,
            "unknown field `max_bodybytes`, expected one of `max_body_bytes`, `max_lines`",
            Some(at..at + 13),
        );
        assert_eq!(
            msg,
            "config file /etc/c.toml, line 3, column 1: key `limits.max_bodybytes`: unknown field `max_bodybytes`, expected one of `max_body_bytes`, `max_lines`; did you mean `max_body_bytes`?"
        );
    }

    #[test]
    fn a_wrong_type_names_the_key_and_no_far_fetched_suggestion_is_made() {
        let text = "[syslog]\nmax_connections = \"many\"\n";
        let at = text.find("\"many\"").unwrap();
        let msg = describe(
            Path::new("c.toml"),
            text,
            "invalid type: string \"many\", expected usize",
            Some(at..at + 6),
        );
        assert!(
            msg.starts_with(
                "config file c.toml, line 2, column 19: key `syslog.max_connections`: invalid type"
            ),
            "{msg}"
        );
        assert_eq!(
            suggestion("unknown field `zzz`, expected one of `listen`, `site`"),
            None
        );
    }

    #[test]
    fn a_check_after_parsing_is_placed_on_its_line() {
        let text = "site = \"a\"\n[limits]\n# note\nmax_lines = 0\n";
        assert_eq!(
            locate(
                Path::new("c.toml"),
                text,
                "[limits] max_lines must be above zero"
            ),
            "config file c.toml, line 4: [limits] max_lines must be above zero"
        );
        assert_eq!(
            locate(Path::new("c.toml"), text, "site must not be empty"),
            "config file c.toml, line 1: site must not be empty"
        );
        assert_eq!(
            locate(Path::new("c.toml"), text, "[wal] max_bytes too small"),
            "config file c.toml: [wal] max_bytes too small"
        );
    }
}

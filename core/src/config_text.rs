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
/// the parsed `file` into settings, with its error placed at its line of `text` ([`locate`])
/// and each of the file's `deprecations` at theirs ([`locate_each`]).
pub fn checked<F, S, E: std::fmt::Display>(
    path: &Path,
    text: &str,
    file: F,
    deprecations: &[String],
    build: impl FnOnce(F) -> Result<S, E>,
) -> Result<Checked<S>, String> {
    let deprecations = locate_each(path, text, deprecations);
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

/// The table a header line opens: `alerts` for `[alerts]`, `alerts.rules` for
/// `[[alerts.rules]]` (a comment after it is allowed); `None` for any other line.
fn header(line: &str) -> Option<&str> {
    let inner = line.trim().strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    Some(inner.split(']').next().unwrap_or(inner).trim())
}

/// The lines of `key` in every table named `table` (or at the top when `table` is empty), in
/// file order: one for a plain table, one per element for an array of tables
/// (`[[alerts.rules]]`) that gives the key.
pub fn lines_of(text: &str, table: &str, key: &str) -> Vec<usize> {
    let mut current = "";
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(t) = header(line) {
            current = t;
            continue;
        }
        if current == table
            && line
                .trim()
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        {
            lines.push(i + 1);
        }
    }
    lines
}

/// The table and key a check's message starts with: `[limits] max_lines ...`,
/// `[[alerts.rules]] window_s ...`, or a top-level `site ...` (table `""`).
fn table_and_key(message: &str) -> (&str, String) {
    let (table, rest) = match message.strip_prefix('[') {
        Some(m) => {
            let m = m.strip_prefix('[').unwrap_or(m);
            match m.split_once(']') {
                Some((t, rest)) => (t.trim(), rest.trim_start_matches(']').trim_start()),
                None => ("", message),
            }
        }
        None => ("", message),
    };
    let key = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (table, key)
}

fn at_line(path: &Path, line: Option<usize>, message: &str) -> String {
    match line {
        Some(line) => format!("config file {}, line {line}: {message}", path.display()),
        None => format!("config file {}: {message}", path.display()),
    }
}

/// For a check's message that starts with `[table] key` (or a top-level `key`): where that key
/// is in the file, as "config file F, line N: MESSAGE". A message naming no key found in the
/// file, or a key that several elements of an array of tables give (which one is meant cannot
/// be told from the message), gets the file alone.
pub fn locate(path: &Path, text: &str, message: &str) -> String {
    let (table, key) = table_and_key(message);
    let lines = if key.is_empty() {
        Vec::new()
    } else {
        lines_of(text, table, &key)
    };
    let line = match lines[..] {
        [line] => Some(line),
        _ => None,
    };
    at_line(path, line, message)
}

/// [`locate`] for the messages of a whole file at once, one per key the file gives in the
/// order of the file's tables (the deprecation lines): the n-th message about `key` in an
/// array of tables (`[[alerts.rules]] window_s`) is placed on the n-th line that gives it. When
/// the count of messages and lines for a key differ (a key written where this reading does not
/// look, as in an inline table), those messages get the file alone rather than a wrong line.
pub fn locate_each(path: &Path, text: &str, messages: &[String]) -> Vec<String> {
    let keyed: Vec<(&str, String)> = messages.iter().map(|m| table_and_key(m)).collect();
    let mut seen: std::collections::HashMap<(&str, &str), usize> = Default::default();
    keyed
        .iter()
        .zip(messages)
        .map(|((table, key), message)| {
            let n = seen.entry((table, key.as_str())).or_default();
            let nth = *n;
            *n += 1;
            let lines = if key.is_empty() {
                Vec::new()
            } else {
                lines_of(text, table, key)
            };
            let told = keyed
                .iter()
                .filter(|k| (k.0, &k.1) == (*table, key))
                .count();
            let line = (lines.len() == told).then(|| lines[nth]);
            at_line(path, line, message)
        })
        .collect()
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

    #[test]
    fn a_key_in_an_array_of_tables_is_placed_on_the_line_of_its_own_element() {
        let text = "[alerts]\ngroup_wait_s = 5\n\
                    [[alerts.rules]]\nname = \"a\"\nwindow_s = 60\n\
                    [[alerts.rules]] # no window here\nname = \"b\"\n\
                    [[alerts.rules]]\nname = \"c\"\n  window_s = 120\n\
                    [[health.redfish]]\nurl = \"https://b\"\ninterval_s = 30\n";
        let notes = [
            "[alerts] group_wait_s = 5 is deprecated".to_owned(),
            "[[alerts.rules]] window_s = 60 is deprecated".to_owned(),
            "[[alerts.rules]] window_s = 120 is deprecated".to_owned(),
            "[[health.redfish]] interval_s = 30 is deprecated".to_owned(),
        ];
        assert_eq!(
            locate_each(Path::new("c.toml"), text, &notes),
            [
                "config file c.toml, line 2: [alerts] group_wait_s = 5 is deprecated",
                "config file c.toml, line 5: [[alerts.rules]] window_s = 60 is deprecated",
                "config file c.toml, line 10: [[alerts.rules]] window_s = 120 is deprecated",
                "config file c.toml, line 13: [[health.redfish]] interval_s = 30 is deprecated",
            ]
        );
        // One message alone cannot tell which of two elements it is about: no line rather
        // than a wrong one; a key that one element alone gives is placed.
        assert_eq!(
            locate(Path::new("c.toml"), text, &notes[1]),
            "config file c.toml: [[alerts.rules]] window_s = 60 is deprecated"
        );
        assert_eq!(
            locate(Path::new("c.toml"), text, &notes[3]),
            "config file c.toml, line 13: [[health.redfish]] interval_s = 30 is deprecated"
        );
        // More messages than lines (a key this reading does not see): the file alone.
        let inline = "[alerts]\nrules = [{ name = \"a\", window_s = 5 }]\n";
        assert_eq!(
            locate_each(Path::new("c.toml"), inline, &notes[1..2]),
            ["config file c.toml: [[alerts.rules]] window_s = 60 is deprecated"]
        );
    }
}

//! The words people type, read the way they mean them: a query is parsed by tantivy's grammar,
//! its leaves rewritten, and only then turned into a tantivy query by the query parser.
//!
//! | you type | finds | as |
//! |---|---|---|
//! | `severity:error`, `warn`, `critical`, `information`, ... (any case) | the stored names `err`, `warning`, `crit`, `info` | the term of the stored name (`Severity::from_loose_name`); an unknown name is refused, naming the names |
//! | `app:postfix` | `postfix` and `postfix/smtpd`, `postfix/qmgr`, ... | the term, or a regex `postfix/.*` over the app terms |
//! | `host:VM` | `vm`, `Vm`, `VM` | a case-insensitive regex over the host terms |
//! | `host:mbox*`, `app:post*`, `site:`, `source:`, `kind:` with `*` at the end | values beginning so | a prefix regex over the field's terms (case-insensitive for `host`) |
//! | `timeout*`, `message:time*` | words beginning so | a prefix regex over the message's words (lowercase) |
//! | `message:/timeout.*/`, `host:/mbox[0-9]+/` | whole words (message) or values matching | tantivy's regex query; over `message` and `fields.*` it must begin with [`MIN_PLAIN_PREFIX`] plain characters (a leading wildcard reads every word of the index) |
//!
//! What each costs: the term lookup of an exact value is one dictionary lookup. A regex (the
//! `app` and `host` rewrites, prefixes, `/.../`) walks the field's term dictionary through an
//! automaton: for the keyword fields the dictionary holds one entry per distinct value (some
//! hundreds of hosts or apps), microseconds per segment; for `message` it holds every word, so
//! only patterns with a plain prefix are taken, which walk only the words beginning so.

use logwarden_core::Severity;
use tantivy::query_grammar::{Delimiter, Occur, UserInputAst, UserInputLeaf, UserInputLiteral};

/// Plain characters a regex over `message` or `fields.*` must begin with.
pub const MIN_PLAIN_PREFIX: usize = 2;
/// Longest regex accepted (characters).
pub const MAX_REGEX_CHARS: usize = 256;

/// Rewrites every leaf of `ast` (module doc); the error says which part is refused and why.
pub fn rewrite(ast: UserInputAst) -> Result<UserInputAst, String> {
    Ok(match ast {
        UserInputAst::Clause(clauses) => {
            let mut out = Vec::with_capacity(clauses.len());
            for (occur, a) in clauses {
                match (occur, rewrite(a)?) {
                    // `NOT a AND b` parses as `+(-a) +b`, and a clause of only exclusions
                    // matches nothing: lift `-a` up beside `+b`.
                    (None | Some(Occur::Must), UserInputAst::Clause(inner))
                        if inner.iter().all(|(o, _)| *o == Some(Occur::MustNot)) =>
                    {
                        out.extend(inner)
                    }
                    (occur, a) => out.push((occur, a)),
                }
            }
            // Only exclusions (`NOT kind:heartbeat`): everything but them.
            if !out.is_empty() && out.iter().all(|(o, _)| *o == Some(Occur::MustNot)) {
                out.push((Some(Occur::Should), leaf_ast(UserInputLeaf::All)));
            }
            UserInputAst::Clause(out)
        }
        UserInputAst::Boost(a, boost) => UserInputAst::Boost(Box::new(rewrite(*a)?), boost),
        UserInputAst::Leaf(leaf) => leaf_rewritten(*leaf)?,
    })
}

fn leaf_rewritten(leaf: UserInputLeaf) -> Result<UserInputAst, String> {
    let lit = match leaf {
        UserInputLeaf::Literal(lit) => lit,
        UserInputLeaf::Regex { field, pattern } => return checked_regex(field, pattern),
        UserInputLeaf::Set { field, elements } if field.as_deref() == Some("severity") => {
            let elements = elements
                .iter()
                .map(|e| severity(e).map(|s| s.as_str().to_owned()))
                .collect::<Result<_, _>>()?;
            return Ok(leaf_ast(UserInputLeaf::Set { field, elements }));
        }
        other => return Ok(leaf_ast(other)),
    };
    // `word*`, not quoted: a prefix.
    let prefix = (lit.delimiter == Delimiter::None && !lit.prefix)
        .then(|| lit.phrase.strip_suffix('*'))
        .flatten()
        .filter(|p| !p.is_empty() && !p.contains('*'))
        .map(str::to_owned);
    let field = lit.field_name.clone();
    Ok(match (field.as_deref(), prefix) {
        (Some("severity"), None) => {
            let name = severity(&lit.phrase)?.as_str().to_owned();
            leaf_ast(UserInputLeaf::Literal(UserInputLiteral {
                phrase: name,
                ..lit
            }))
        }
        (Some("host"), None) => regex("host", format!("(?i){}", escape(&lit.phrase))),
        (Some("host"), Some(p)) => regex("host", format!("(?i){}.*", escape(&p))),
        (Some("app"), None) if !lit.phrase.contains('/') => {
            // Either may match.
            let slash = regex("app", format!("{}/.*", escape(&lit.phrase)));
            UserInputAst::Clause(vec![
                (Some(Occur::Should), leaf_ast(UserInputLeaf::Literal(lit))),
                (Some(Occur::Should), slash),
            ])
        }
        (Some(f @ ("app" | "site" | "source" | "kind" | "severity")), Some(p)) => {
            regex(f, format!("{}.*", escape(&p)))
        }
        (None | Some("message"), Some(p)) => {
            let p = p.to_lowercase();
            if p.chars().count() < MIN_PLAIN_PREFIX {
                return Err(format!(
                    "{}*: a prefix of the message's words needs at least {MIN_PLAIN_PREFIX} characters",
                    lit.phrase.trim_end_matches('*')
                ));
            }
            regex("message", format!("{}.*", escape(&p)))
        }
        _ => leaf_ast(UserInputLeaf::Literal(lit)),
    })
}

/// The severity a user means by `name`, or an error that lists the names.
fn severity(name: &str) -> Result<Severity, String> {
    Severity::from_loose_name(name).ok_or_else(|| {
        format!(
            "severity {name:?} is not a severity; use one of emerg, alert, crit, err (error), warning (warn), notice, info, debug"
        )
    })
}

/// A `/pattern/` the user wrote: refused when it is too long, or, over `message` and the JSON
/// `fields`, when it does not begin with plain characters (module doc). Whether it compiles is
/// for tantivy to say (400 with its reason).
fn checked_regex(field: Option<String>, pattern: String) -> Result<UserInputAst, String> {
    if pattern.chars().count() > MAX_REGEX_CHARS {
        return Err(format!(
            "regex /{pattern}/ is longer than {MAX_REGEX_CHARS} characters"
        ));
    }
    let name = field.as_deref().unwrap_or("message");
    let big_dictionary = name == "message" || name.starts_with("fields");
    let plain = pattern
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '@' | '-' | '=' | ':'))
        .count();
    if big_dictionary && plain < MIN_PLAIN_PREFIX {
        return Err(format!(
            "regex /{pattern}/ on {name} must begin with at least {MIN_PLAIN_PREFIX} plain characters: a leading wildcard reads every word of the index"
        ));
    }
    Ok(leaf_ast(UserInputLeaf::Regex {
        field: Some(field.unwrap_or_else(|| "message".into())),
        pattern,
    }))
}

fn leaf_ast(leaf: UserInputLeaf) -> UserInputAst {
    UserInputAst::Leaf(Box::new(leaf))
}

fn regex(field: &str, pattern: String) -> UserInputAst {
    leaf_ast(UserInputLeaf::Regex {
        field: Some(field.to_owned()),
        pattern,
    })
}

/// `s` as a regex that matches exactly it.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~\"".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use logwarden_core::Severity;
    use logwarden_core::wire::SearchParams;

    use crate::search::SearchError;
    use crate::search::tests::{event, searcher_with};

    #[test]
    fn severities_apps_and_hosts_match_the_way_people_type_them() {
        let mut events = Vec::new();
        for (seq, host, app, sev, msg) in [
            (
                1,
                "MBOX3",
                "postfix/smtpd",
                Severity::Err,
                "connect timeout",
            ),
            (
                2,
                "mbox3",
                "postfix",
                Severity::Warning,
                "deferred timeouts",
            ),
            (3, "vm", "postfixadmin", Severity::Info, "login ok"),
            (
                4,
                "Mbox12",
                "amavis",
                Severity::Crit,
                "delivered to mailbox",
            ),
        ] {
            let mut e = event(seq, "2026-11-29T10:00:00Z", app, sev, msg, None);
            e.host = host.into();
            events.push(e);
        }
        let (_dir, s) = searcher_with(&events);
        let seqs = |q: &str| -> Vec<u64> {
            let p = SearchParams {
                q: q.into(),
                order: Some("oldest".into()),
                ..SearchParams::default()
            };
            let r = s
                .search(&p, Utc::now())
                .unwrap_or_else(|e| panic!("{q}: {e}"));
            r.hits.iter().map(|h| h.id.seq).collect()
        };
        assert_eq!(seqs("severity:error"), vec![1]);
        assert_eq!(seqs("severity:err"), vec![1]);
        assert_eq!(seqs("severity:WARN"), vec![2]);
        assert_eq!(
            seqs("severity:critical OR severity:information"),
            vec![3, 4]
        );
        assert_eq!(seqs("severity: IN [error warn]"), vec![1, 2]);
        assert_eq!(seqs("NOT severity:error AND app:postfix"), vec![2]);
        assert_eq!(seqs("NOT severity:error"), vec![2, 3, 4]);
        assert_eq!(seqs("NOT severity:error AND NOT host:vm"), vec![2, 4]);
        assert_eq!(seqs("-host:vm -host:mbox3"), vec![4]);
        assert_eq!(
            seqs("app:postfix"),
            vec![1, 2],
            "postfix/* but not postfixadmin"
        );
        assert_eq!(seqs("app:postfix/smtpd"), vec![1]);
        assert_eq!(seqs("app:post*"), vec![1, 2, 3]);
        assert_eq!(seqs("host:VM"), vec![3]);
        assert_eq!(seqs("host:mbox3"), vec![1, 2], "any case");
        assert_eq!(seqs("host:MBOX*"), vec![1, 2, 4]);
        assert_eq!(seqs("host:mbox1*"), vec![4]);
        assert_eq!(seqs("timeout*"), vec![1, 2]);
        assert_eq!(seqs("message:deliv*"), vec![4]);
        assert_eq!(seqs("message:/timeouts?/"), vec![1, 2]);
        assert_eq!(seqs("host:/mbox[0-9]+/"), vec![2], "a regex is as written");
        assert_eq!(seqs("host:vm AND login"), vec![3]);

        let refused = |q: &str, why: &str| match s.search(
            &SearchParams {
                q: q.into(),
                ..SearchParams::default()
            },
            Utc::now(),
        ) {
            Err(SearchError::BadQuery { query, reason }) => {
                assert_eq!(query, q);
                assert!(reason.contains(why), "{q}: {reason}");
            }
            other => panic!("{q}: {:?}", other.map(|r| r.total)),
        };
        refused("severity:loud", "severity \"loud\" is not a severity");
        refused(
            "message:/.*out/",
            "must begin with at least 2 plain characters",
        );
        refused(
            "fields.ip:/.*/",
            "must begin with at least 2 plain characters",
        );
        refused("message:/ti(meout/", "regex");
        refused(&format!("host:/{}/", "a".repeat(300)), "longer than 256");
        refused("t*", "at least 2 characters");
        refused("app:(", "does not parse");
    }
}

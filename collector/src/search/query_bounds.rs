//! Bounds on a query's shape, checked on its text before tantivy's parser sees it.
//!
//! tantivy's query grammar parses nested parentheses by recursion, and the logical query it
//! builds from them is walked by recursion again (to plan, to count its terms, to drop it): 2,200
//! `(` then `a` (2.2 KB) overflowed a worker's stack and aborted the collector (issue 26 §2). A
//! stack overflow cannot be caught in Rust, on any thread, so the only defence is not to let
//! such a query reach the parser: its nesting depth and its number of clauses are counted here,
//! by a flat scan of the text, and a query over either bound is refused with a 400 naming the
//! bound. Both bounds are far beyond what a person types; at them, parsing takes a small fraction
//! of a worker's 2 MiB stack (the tests run parsing on a 256 KiB stack).

/// Deepest nesting of parentheses a query may have.
pub const MAX_DEPTH: usize = 32;
/// Most clauses (words, phrases, `field:value` terms, range ends, set members) a query may
/// have, before parsing. (After parsing, the terms are bounded again: `MAX_QUERY_TERMS`.)
pub const MAX_CLAUSES: usize = 256;
/// Most prefix operators (`+`, `-`, `NOT`) in a row: each is a level of the parsed query too.
pub const MAX_PREFIXES: usize = 8;

/// The fields a range (`[a TO b]`, `{a TO b}`, `>a`, `<b`) may be on: those kept as fast
/// columns (`index::schema`). tantivy runs a range from the column, and on any other field
/// (`message`, `fields.x`) it fails while searching, which answered 503.
pub const RANGE_FIELDS: [&str; 8] = [
    "ts", "lsn", "host", "site", "app", "severity", "kind", "source",
];

fn no_range_on(field: &str) -> String {
    format!(
        "a range on {field:?} is not possible: ranges work on {} only (query range)",
        RANGE_FIELDS.join(", ")
    )
}

/// Checks `q` against [`MAX_DEPTH`], [`MAX_CLAUSES`] and [`MAX_PREFIXES`]; the error names
/// the bound and where the query passed it.
pub fn check(q: &str) -> Result<(), String> {
    let too_many_prefixes = |at: usize| {
        format!(
            "the query has more than {MAX_PREFIXES} operators in a row (at byte {at}), over the limit of {MAX_PREFIXES} (query nesting)"
        )
    };
    let mut depth = 0usize;
    let mut clauses = 0usize;
    let mut prefixes = 0usize;
    let mut in_word = false;
    // The last character outside whitespace, and whether the last word was `IN` (a set).
    let mut prev = ' ';
    let mut after_in = false;
    let mut chars = q.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let before = prev;
        if !c.is_whitespace() {
            prev = c;
        }
        match c {
            '"' => {
                // A phrase is one clause, whatever it holds; `\"` does not end it.
                clauses += 1;
                in_word = false;
                prefixes = 0;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '\\' => {
                // An escaped character is part of a word.
                chars.next();
                if !in_word {
                    in_word = true;
                    clauses += 1;
                    prefixes = 0;
                }
            }
            '(' => {
                // A group is a level of its own, bounded by the depth.
                prefixes = 0;
                depth += 1;
                in_word = false;
                if depth > MAX_DEPTH {
                    return Err(format!(
                        "the query nests parentheses more than {MAX_DEPTH} deep (at byte {at}), over the limit of {MAX_DEPTH} (query nesting)"
                    ));
                }
            }
            ')' => {
                depth = depth.saturating_sub(1);
                in_word = false;
            }
            '+' | '-' | '!' if !in_word => {
                prefixes += 1;
                if prefixes > MAX_PREFIXES {
                    return Err(too_many_prefixes(at));
                }
            }
            '[' | '{' if !in_word && before != ':' && !after_in => {
                return Err(format!(
                    "brackets at byte {at} start a range, and a range needs one of the fields {} (to search for brackets, quote them: \"[error]\") (query range)",
                    RANGE_FIELDS.join(", ")
                ));
            }
            c if c.is_whitespace() || matches!(c, '[' | ']' | '{' | '}') => in_word = false,
            _ => {
                if !in_word {
                    in_word = true;
                    let word = &q[at..];
                    let word = &word[..word
                        .find(|c: char| c.is_whitespace() || matches!(c, '(' | ')'))
                        .unwrap_or(word.len())];
                    after_in = word == "IN";
                    if let Some((field, rest)) = word.split_once(':')
                        && rest.starts_with(['[', '{', '<', '>'])
                        && !RANGE_FIELDS.contains(&field)
                    {
                        return Err(no_range_on(field));
                    }
                    match word {
                        "AND" | "OR" | "TO" | "IN" => prefixes = 0,
                        "NOT" => {
                            prefixes += 1;
                            if prefixes > MAX_PREFIXES {
                                return Err(too_many_prefixes(at));
                            }
                        }
                        _ => {
                            clauses += 1;
                            prefixes = 0;
                        }
                    }
                }
            }
        }
        if clauses > MAX_CLAUSES {
            return Err(format!(
                "the query has more than {MAX_CLAUSES} clauses (at byte {at}), over the limit of {MAX_CLAUSES} (query complexity)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::schema;
    use tantivy::query::QueryParser;
    use tantivy::tokenizer::TokenizerManager;

    /// A quarter of the 2 MiB stack searches run on (tokio's blocking threads), in a debug
    /// build, whose frames are several times larger than a release build's.
    const STACK: usize = 512 << 10;

    /// Parses `q` with the searcher's parser on a thread with a [`STACK`] stack: a query these
    /// bounds let through must parse, be walked and be dropped there.
    fn parses_on_a_small_stack(q: String) {
        std::thread::Builder::new()
            .stack_size(STACK)
            .spawn(move || {
                let (schema, fields) = schema::build();
                let mut parser =
                    QueryParser::new(schema, vec![fields.message], TokenizerManager::default());
                parser.set_conjunction_by_default();
                if let Ok(query) = parser.parse_query(&q) {
                    let mut n = 0;
                    query.query_terms(&mut |_, _| n += 1);
                    drop(query);
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn the_deep_query_that_aborted_the_collector_is_refused_naming_the_bound() {
        let q = format!("{}a", "(".repeat(2200));
        let e = check(&q).unwrap_err();
        assert!(e.contains("nests parentheses") && e.contains("32"), "{e}");
        let q = format!("{}a{}", "(".repeat(33), ")".repeat(33));
        assert!(check(&q).is_err());
    }

    #[test]
    fn ordinary_queries_pass() {
        for q in [
            "",
            "*",
            "raid degraded",
            "host:mbox3 AND (app:postfix OR app:amavis) NOT severity:debug",
            "\"status=deferred (connect to\" -smtp",
            "fields.queue_id:4F2A1B ts:[2026-01-01T00:00:00Z TO *]",
            "a\\(b\\)",
            "message:\"((((((((\"",
            "-+-a",
        ] {
            assert_eq!(check(q), Ok(()), "{q}");
        }
    }

    #[test]
    fn clauses_and_prefix_runs_are_bounded() {
        let many = vec!["w"; MAX_CLAUSES].join(" ");
        assert_eq!(check(&many), Ok(()));
        let e = check(&format!("{many} w")).unwrap_err();
        assert!(e.contains("clauses") && e.contains("256"), "{e}");
        let e = check(&format!("{}a", "-".repeat(MAX_PREFIXES + 1))).unwrap_err();
        assert!(e.contains("operators in a row"), "{e}");
        let e = check(&format!("{}a", "NOT ".repeat(MAX_PREFIXES + 1))).unwrap_err();
        assert!(e.contains("operators in a row"), "{e}");
        // Operators between clauses are not clauses.
        let ors = vec!["w"; MAX_CLAUSES].join(" OR ");
        assert_eq!(check(&ors), Ok(()));
    }

    #[test]
    fn a_range_on_a_field_without_a_column_is_refused_naming_the_field_and_others_run() {
        use crate::search::tests::{event, searcher_with};
        use logwarden_core::Severity;
        let events = [event(
            1,
            "2026-11-29T10:00:00Z",
            "sshd",
            Severity::Err,
            "failed",
            Some("bob"),
        )];
        let (_dir, s) = searcher_with(&events);
        let now = chrono::Utc::now();
        let search = |q: &str| {
            let params = logwarden_core::wire::SearchParams {
                q: q.into(),
                ..Default::default()
            };
            s.search(&params, now).map(|r| r.total)
        };
        for (q, field) in [
            ("fields.account:[a TO z]", "fields.account"),
            ("fields.n:>5", "fields.n"),
            ("message:{a TO z}", "message"),
            ("[a TO z]", "quote them"),
            ("[error] disk", "quote them"),
        ] {
            match search(q) {
                Err(crate::search::SearchError::BadParam(m)) => {
                    assert!(m.contains(field), "{q}: {m}")
                }
                other => panic!("{q}: {:?}", other.map_err(|e| e.to_string())),
            }
        }
        for q in [
            "ts:[2026-11-29T00:00:00Z TO 2026-11-30T00:00:00Z]",
            "app:[a TO t]",
            "host: IN [mbox3 mbox4]",
        ] {
            assert_eq!(search(q).map_err(|e| e.to_string()), Ok(1), "{q}");
        }
    }

    /// Random queries of the grammar's own pieces, up to the 4 KiB a query may have, seeded
    /// (`LOGWARDEN_SEED` replays one): every one the bounds let through parses, is walked and
    /// is dropped on the small stack. A stack overflow aborts the test run.
    #[test]
    fn random_queries_the_bounds_let_through_parse_on_a_small_stack() {
        const PIECES: [&str; 24] = [
            "(", "(", "(", ")", "\"", "-", "+", "!", "[", "]", "{", "}", ":", " AND ", " OR ",
            " NOT ", " TO ", " IN ", "a", "b ", "fields.x", "ts", "*", " ",
        ];
        let seed = std::env::var("LOGWARDEN_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        println!("seed {seed} (replay with LOGWARDEN_SEED={seed})");
        let mut x = seed | 1;
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let mut through = Vec::new();
        for _ in 0..3_000 {
            let len = [8, 64, 512, 2_000][next(4)];
            let mut q = String::new();
            while q.len() < len {
                q.push_str(PIECES[next(PIECES.len())]);
            }
            if check(&q).is_ok() {
                through.push(q);
            }
        }
        println!("{} of 3000 passed the bounds", through.len());
        assert!(!through.is_empty());
        std::thread::Builder::new()
            .stack_size(STACK)
            .spawn(move || {
                let (schema, fields) = schema::build();
                let mut parser =
                    QueryParser::new(schema, vec![fields.message], TokenizerManager::default());
                parser.set_conjunction_by_default();
                for q in through {
                    if let Ok(query) = parser.parse_query(&q) {
                        let mut n = 0;
                        query.query_terms(&mut |_, _| n += 1);
                    }
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn whatever_the_bounds_let_through_parses_on_a_small_stack() {
        let max = MAX_DEPTH;
        let worst = [
            format!("{}a{}", "(".repeat(max), ")".repeat(max)),
            format!("{}a", "(".repeat(max)),
            format!("{}a", "(-".repeat(max)),
            format!("{}a{}", "(NOT a AND ".repeat(max), ")".repeat(max)),
            format!("{}a", "-".repeat(MAX_PREFIXES)),
            format!("{}a", "NOT ".repeat(MAX_PREFIXES)),
            vec!["(a OR b)"; MAX_CLAUSES / 2].join(" AND "),
            vec!["w"; MAX_CLAUSES].join(" OR "),
            format!("({}a)", "-(".repeat(max - 1)),
        ];
        for q in worst {
            assert_eq!(check(&q), Ok(()), "{q}");
            parses_on_a_small_stack(q);
        }
    }
}

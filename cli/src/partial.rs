//! Answers of a collector in cluster mode that lack partitions (their owner did not answer,
//! or is still rebuilding them): the CLI prints what it got, says on stderr which partitions
//! are missing and why, and exits 3, unless `--allow-partial`.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Mutex;

/// The exit status of an answer that lacks partitions.
pub const EXIT_PARTIAL: u8 = 3;

/// What the answers of this run lacked, gathered over its requests (an export makes many).
static PARTIAL: Partial = Partial(Mutex::new((BTreeSet::new(), Vec::new())));

/// Notes partitions an answer lacked, and why.
pub fn record(missing: &[u32], reasons: &[String]) {
    PARTIAL.record(missing, reasons);
}

/// The exit status of a run that ended with `code`: told on stderr, and 3 unless `allowed`,
/// when an answer lacked partitions.
pub fn verdict(code: ExitCode, allowed: bool) -> ExitCode {
    match PARTIAL.verdict(allowed) {
        Some((line, partial)) => {
            eprintln!("{line}");
            if allowed { code } else { partial }
        }
        None => code,
    }
}

struct Partial(Mutex<(BTreeSet<u32>, Vec<String>)>);

impl Partial {
    fn record(&self, missing: &[u32], reasons: &[String]) {
        if missing.is_empty() {
            return;
        }
        if let Ok(mut p) = self.0.lock() {
            p.0.extend(missing);
            for r in reasons {
                if !p.1.contains(r) {
                    p.1.push(r.clone());
                }
            }
        }
    }

    /// The line for stderr and the exit status, when something was missing.
    fn verdict(&self, allowed: bool) -> Option<(String, ExitCode)> {
        let p = self.0.lock().ok()?;
        if p.0.is_empty() {
            return None;
        }
        let list: Vec<String> = p.0.iter().map(u32::to_string).collect();
        let mut line = format!(
            "logwarden: partial answer: partitions {} did not answer, their events are missing ({})",
            list.join(", "),
            p.1.join("; ")
        );
        let code = if allowed {
            ExitCode::SUCCESS
        } else {
            line.push_str("; --allow-partial accepts a partial answer");
            ExitCode::from(EXIT_PARTIAL)
        };
        Some((line, code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_partitions_are_named_once_and_fail_unless_allowed() {
        let p = Partial(Mutex::default());
        assert!(p.verdict(false).is_none());
        p.record(&[], &[]);
        assert!(p.verdict(false).is_none());
        p.record(&[7, 3], &["c2 did not answer".into()]);
        p.record(&[3], &["c2 did not answer".into()]);
        let (line, code) = p.verdict(false).unwrap();
        assert!(line.contains("partitions 3, 7 did not answer"), "{line}");
        assert_eq!(line.matches("c2 did not answer").count(), 1, "{line}");
        assert_eq!(code, ExitCode::from(EXIT_PARTIAL));
        let (line, code) = p.verdict(true).unwrap();
        assert!(!line.contains("--allow-partial"), "{line}");
        assert_eq!(code, ExitCode::SUCCESS);
    }
}

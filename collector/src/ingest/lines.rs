//! The NDJSON lines of a request, each parsed and validated on its own: a bad line is rejected
//! with its index and reason, the others go on.

use logwarden_core::Event;
use logwarden_core::wire::Rejected;

use super::{IngestError, Limits};

/// The events of a request that passed every check, with their line indexes, and the lines
/// that did not.
#[derive(Debug, Default)]
pub struct Checked {
    pub events: Vec<Event>,
    /// `lines[i]` is the index of `events[i]` among the request's non-empty lines.
    pub lines: Vec<usize>,
    /// `spans[i]`: where `events[i]`'s own JSON object is in the body, when the WAL can take it
    /// as it came (see [`crate::wal::write_received`]); `None` when it must be written again (it carried a
    /// `received` of its own, which the collector replaces).
    pub spans: Vec<Option<std::ops::Range<usize>>>,
    pub rejected: Vec<Rejected>,
}

/// Whether a line might hold a `received` key, even one set to `null` (which parses as no
/// value, but would make the key appear twice once the collector's own is put first, and a line
/// with a duplicate key is unreadable). A key spelt with escapes (`"rec\u0065ived"`) needs a
/// `\u` in the line. A false alarm only costs the line being serialized again.
fn may_name_received(line: &[u8]) -> bool {
    memchr::memmem::find(line, b"received").is_some()
        || memchr::memmem::find(line, br"\u").is_some()
}

/// Parses and validates each non-empty NDJSON line.
pub fn check_lines(body: &[u8], limits: &Limits) -> Result<Checked, IngestError> {
    // Sized once: grown line by line, the events of a 10,000-line request were moved into a
    // larger vector about fourteen times.
    let most = (memchr::memchr_iter(b'\n', body).count() + 1).min(limits.max_lines);
    let mut checked = Checked {
        events: Vec::with_capacity(most),
        lines: Vec::with_capacity(most),
        spans: Vec::with_capacity(most),
        rejected: Vec::new(),
    };
    let lines = body
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii())
        .filter(|l| !l.is_empty());
    for (index, line) in lines.enumerate() {
        if index >= limits.max_lines {
            return Err(IngestError::TooLarge {
                what: "number of lines in the request",
                limit: limits.max_lines,
            });
        }
        let reject = |reason: String| Rejected { index, reason };
        if line.len() > limits.max_line_bytes {
            checked.rejected.push(reject(format!(
                "line is {} bytes, over the limit of {} bytes",
                line.len(),
                limits.max_line_bytes
            )));
            continue;
        }
        let mut event: Event = match serde_json::from_slice(line) {
            Ok(e) => e,
            Err(e) => {
                checked
                    .rejected
                    .push(reject(format!("not a valid event: {e}")));
                continue;
            }
        };
        if let Err(e) = event.validate() {
            checked.rejected.push(reject(e.to_string()));
            continue;
        }
        // The collector says when it received it; a line without a `received` key of its own
        // can be written to the WAL as it is (JSON whitespace cannot hold a newline, so the
        // object is the whole trimmed line).
        let had_received = event.received.take().is_some();
        let as_is = !had_received && line.first() == Some(&b'{') && !may_name_received(line);
        let start = line.as_ptr() as usize - body.as_ptr() as usize;
        checked.spans.push(as_is.then(|| start..start + line.len()));
        checked.events.push(event);
        checked.lines.push(index);
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::write_received;

    const GOOD: &str =
        r#"{"id":"a:1","ts":"2026-01-01T00:00:00Z","host":"h","source":"s","message":"m"}"#;

    #[test]
    fn a_bad_line_is_rejected_by_index_and_the_others_kept() {
        let body = format!(
            "{GOOD}\n\n{{not json\n{}\n{}\n",
            GOOD.replace("a:1", "a:2"),
            GOOD.replace("\"h\"", "\"\"")
        );
        let c = check_lines(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(c.events.len(), 2);
        assert_eq!(c.lines, vec![0, 2]);
        assert_eq!(c.rejected.len(), 2);
        assert_eq!(c.rejected[0].index, 1);
        assert!(
            c.rejected[0].reason.contains("not a valid event"),
            "{:?}",
            c.rejected
        );
        assert_eq!(c.rejected[1].index, 3);
        assert!(c.rejected[1].reason.contains("host"), "{:?}", c.rejected);
    }

    #[test]
    fn a_line_is_written_to_the_wal_as_it_came_with_received_first() {
        let own_received =
            GOOD.replace("\"host\"", "\"received\":\"2026-01-01T00:00:01Z\",\"host\"");
        let body = format!("  {GOOD} \r\n{own_received}\n");
        let c = check_lines(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(c.events.len(), 2);
        assert!(c.events.iter().all(|e| e.received.is_none()));
        let span = c.spans[0].clone().expect("written as it came");
        assert_eq!(&body.as_bytes()[span.clone()], GOOD.as_bytes());
        assert_eq!(
            c.spans[1], None,
            "its own `received` must be replaced, not doubled"
        );
        // A `received` of null is no value, but still a key; so is one spelt with escapes.
        for key in ["received", r"rec\u0065ived"] {
            let line = GOOD.replace("\"host\"", &format!("\"{key}\":null,\"host\""));
            let c = check_lines(line.as_bytes(), &Limits::default()).unwrap();
            assert_eq!(c.events.len(), 1, "{line}");
            assert_eq!(c.spans[0], None, "{line}");
        }
        let now = chrono::Utc::now();
        let mut out = Vec::new();
        write_received(
            &mut out,
            &body.as_bytes()[span],
            &serde_json::to_vec(&now).unwrap(),
        );
        let back: Event = serde_json::from_slice(&out).unwrap();
        let mut want = c.events[0].clone();
        want.received = Some(now);
        assert_eq!(back, want);
    }

    #[test]
    fn an_oversized_line_is_rejected_alone() {
        let limits = Limits {
            max_line_bytes: 200,
            ..Limits::default()
        };
        let long = GOOD.replace("\"m\"", &format!("\"{}\"", "x".repeat(300)));
        let body = format!("{long}\n{GOOD}\n");
        let c = check_lines(body.as_bytes(), &limits).unwrap();
        assert_eq!(c.events.len(), 1);
        assert!(
            c.rejected[0].reason.contains("limit of 200 bytes"),
            "{:?}",
            c.rejected
        );
    }
}

//! Joining continuation lines into records: a log4j line and the Java stack trace under it are
//! one event, its message all the lines joined by `\n`.
//!
//! The joiner only buffers; the caller decides where records start (with
//! [`super::LineParser::starts_record`]) and parses what comes out. A record is complete when
//! the next one starts, or when the caller says so ([`RecordJoiner::finish`]: end of input, or
//! for a tailer, a quiet file: nothing more has been written for a while). A record never grows
//! past `max_bytes`: further lines are dropped and the record is marked truncated, so that one
//! runaway trace cannot take a batch down (see `logwarden_core::event::MAX_MESSAGE_BYTES`).

use logwarden_core::event::MAX_MESSAGE_BYTES;

/// A complete record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The lines, joined by `\n`, without a final newline.
    pub text: Vec<u8>,
    /// How many lines went into it (dropped ones included).
    pub lines: usize,
    /// Whether lines were dropped to keep it under the size limit.
    pub truncated: bool,
}

/// Collects the lines of the record being read.
#[derive(Debug)]
pub struct RecordJoiner {
    current: Option<Record>,
    max_bytes: usize,
}

impl Default for RecordJoiner {
    fn default() -> RecordJoiner {
        RecordJoiner::new(MAX_MESSAGE_BYTES)
    }
}

impl RecordJoiner {
    pub fn new(max_bytes: usize) -> RecordJoiner {
        RecordJoiner {
            current: None,
            max_bytes,
        }
    }

    /// Adds a line. When `starts` says it begins a new record, the record before it (if any) is
    /// complete and returned. A continuation line with nothing before it starts a record anyway.
    pub fn push(&mut self, line: &[u8], starts: bool) -> Option<Record> {
        match &mut self.current {
            Some(rec) if !starts => {
                rec.lines += 1;
                if rec.text.len() + 1 + line.len() <= self.max_bytes {
                    rec.text.push(b'\n');
                    rec.text.extend_from_slice(line);
                } else {
                    rec.truncated = true;
                }
                None
            }
            _ => {
                let mut text = line.to_vec();
                let truncated = text.len() > self.max_bytes;
                if truncated {
                    text.truncate(self.max_bytes);
                }
                self.current.replace(Record {
                    text,
                    lines: 1,
                    truncated,
                })
            }
        }
    }

    /// The record being read, complete now (end of input, or the file went quiet).
    pub fn finish(&mut self) -> Option<Record> {
        self.current.take()
    }

    /// Whether a record is waiting for its end.
    pub fn pending(&self) -> bool {
        self.current.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_trace_lines_join_the_record_above_them() {
        let mut j = RecordJoiner::default();
        assert_eq!(j.push(b"2021 a", true), None);
        assert_eq!(j.push(b"\tat x", false), None);
        let r = j.push(b"2021 b", true).unwrap();
        assert_eq!(r.text, b"2021 a\n\tat x");
        assert_eq!(r.lines, 2);
        assert!(!r.truncated);
        assert_eq!(j.finish().unwrap().text, b"2021 b");
        assert!(!j.pending());
    }

    #[test]
    fn a_leading_continuation_line_is_a_record_of_its_own() {
        let mut j = RecordJoiner::default();
        assert_eq!(j.push(b"\tat x", false), None);
        assert_eq!(j.finish().unwrap().text, b"\tat x");
    }

    #[test]
    fn records_stop_growing_at_the_size_limit_and_say_so() {
        let mut j = RecordJoiner::new(10);
        j.push(b"12345", true);
        j.push(b"6789", false);
        j.push(b"more", false);
        let r = j.finish().unwrap();
        assert_eq!(r.text, b"12345\n6789");
        assert_eq!(r.lines, 3);
        assert!(r.truncated);
        j.push(b"0123456789abc", true);
        let r = j.finish().unwrap();
        assert_eq!(r.text, b"0123456789");
        assert!(r.truncated);
    }
}

//! Multiline records: a Java stack trace in `mailbox.log` or `zmmailboxd.out` is one event with
//! the line it belongs to.
//!
//! The rule: a line that does not start with a timestamp continues the previous record. A
//! record is complete when the next one starts, or when nothing was added to it for the
//! timeout (`[tail] multiline_timeout_ms`). [`starts_record`] is the one place that decides;
//! it will defer to the parsers' own answer once they give one.

use std::time::{Duration, Instant};

/// Whether `line` starts a new record: it begins with a timestamp, such as
/// `2015-12-05 18:47:36,435`, `2021-01-15 15:57:32.537:` or a syslog `Nov 29 10:00:00`
/// (optionally after `[` or a syslog `<PRI>`).
pub fn starts_record(line: &[u8]) -> bool {
    let mut l = line;
    if let Some(rest) = l.strip_prefix(b"<") {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if (1..=3).contains(&digits) && rest.get(digits) == Some(&b'>') {
            l = &rest[digits + 1..];
        }
    }
    if let Some(rest) = l.strip_prefix(b"[") {
        l = rest;
    }
    iso_date_time(l) || syslog_date_time(l)
}

fn digits(b: &[u8], n: usize) -> bool {
    b.len() >= n && b[..n].iter().all(u8::is_ascii_digit)
}

/// `YYYY-MM-DD[ T]hh:mm:ss`
fn iso_date_time(b: &[u8]) -> bool {
    b.len() >= 19
        && digits(b, 4)
        && b[4] == b'-'
        && digits(&b[5..], 2)
        && b[7] == b'-'
        && digits(&b[8..], 2)
        && (b[10] == b' ' || b[10] == b'T')
        && time(&b[11..])
}

/// `Mmm dd hh:mm:ss` (day space-padded or not)
fn syslog_date_time(b: &[u8]) -> bool {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    if b.len() < 15 || !MONTHS.iter().any(|m| b[..3] == m[..]) || b[3] != b' ' {
        return false;
    }
    let day = &b[4..6];
    let day_ok = (day[0] == b' ' || day[0].is_ascii_digit()) && day[1].is_ascii_digit();
    day_ok && b[6] == b' ' && time(&b[7..])
}

/// `hh:mm:ss`
fn time(b: &[u8]) -> bool {
    b.len() >= 8
        && digits(b, 2)
        && b[2] == b':'
        && digits(&b[3..], 2)
        && b[5] == b':'
        && digits(&b[6..], 2)
}

/// A record being joined, and when it was last added to.
#[derive(Debug)]
pub struct Joiner {
    max_bytes: usize,
    pending: Option<Joined>,
    last_add: Instant,
}

/// A finished record: its lines joined with `\n`, where its last line ends, and whether it was
/// cut at the size limit.
#[derive(Debug, PartialEq, Eq)]
pub struct Joined {
    pub text: Vec<u8>,
    pub end: u64,
    pub truncated: bool,
}

impl Joiner {
    pub fn new(max_bytes: usize) -> Joiner {
        Joiner {
            max_bytes,
            pending: None,
            last_add: Instant::now(),
        }
    }

    /// Adds a line ending at `end`; returns the previous record when this line starts a new one.
    pub fn push(&mut self, line: &[u8], end: u64, truncated: bool) -> Option<Joined> {
        self.last_add = Instant::now();
        if let Some(p) = &mut self.pending
            && !starts_record(line)
        {
            let room = self.max_bytes.saturating_sub(p.text.len() + 1);
            if room == 0 || line.len() > room {
                p.truncated = true;
            }
            if room > 0 {
                p.text.push(b'\n');
                p.text.extend_from_slice(&line[..line.len().min(room)]);
            }
            p.end = end;
            p.truncated |= truncated;
            return None;
        }
        self.pending.replace(Joined {
            text: line.to_vec(),
            end,
            truncated,
        })
    }

    /// The record being joined, if the timeout has passed since its last line.
    pub fn due(&mut self, timeout: Duration) -> Option<Joined> {
        if self.pending.is_some() && self.last_add.elapsed() >= timeout {
            self.pending.take()
        } else {
            None
        }
    }

    /// The record being joined, now (the file ends, or is being let go).
    pub fn flush(&mut self) -> Option<Joined> {
        self.pending.take()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_of_zimbra_jetty_and_syslog_start_records() {
        assert!(starts_record(
            b"2015-12-05 18:47:36,435 INFO  [qtp] [] soap - x"
        ));
        assert!(starts_record(
            b"2021-01-15 15:57:32.537:INFO:oejs.Server:main: Started"
        ));
        assert!(starts_record(
            b"Nov 29 10:00:00 mta1 postfix/smtpd[1]: connect"
        ));
        assert!(starts_record(b"Nov  9 10:00:00 mta1 x"));
        assert!(starts_record(b"<34>Oct 11 22:14:15 mymachine su: x"));
        assert!(!starts_record(b"\tat com.zimbra.cs.Foo.bar(Foo.java:12)"));
        assert!(!starts_record(
            b"Caused by: java.io.IOException: broken pipe"
        ));
        assert!(!starts_record(b"java.lang.NullPointerException"));
        assert!(!starts_record(b""));
    }

    #[test]
    fn a_stack_trace_joins_the_line_before_it() {
        let mut j = Joiner::new(1 << 16);
        assert_eq!(
            j.push(b"2015-12-05 18:47:36,435 WARN boom", 10, false),
            None
        );
        assert_eq!(
            j.push(b"java.lang.IllegalStateException: x", 20, false),
            None
        );
        assert_eq!(j.push(b"\tat a.b(C.java:1)", 30, false), None);
        let r = j
            .push(b"2015-12-05 18:47:37,000 INFO next", 40, false)
            .unwrap();
        assert_eq!(
            r.text,
            b"2015-12-05 18:47:36,435 WARN boom\njava.lang.IllegalStateException: x\n\tat a.b(C.java:1)"
        );
        assert_eq!((r.end, r.truncated), (30, false));
        assert_eq!(j.flush().unwrap().end, 40);
        assert!(j.is_empty());
    }

    #[test]
    fn a_record_is_flushed_after_the_timeout_and_cut_at_the_limit() {
        let mut j = Joiner::new(20);
        j.push(b"2015-12-05 18:47:36 x", 5, false);
        j.push(b"\tat something long", 9, false);
        assert_eq!(j.due(Duration::from_secs(60)), None);
        let r = j.due(Duration::ZERO).unwrap();
        assert!(r.truncated);
        assert_eq!(r.end, 9);
    }
}

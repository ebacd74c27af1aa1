//! `zmmailboxd.out`: what Jetty (mailboxd's web server) prints through its own StdErrLog:
//!
//! ```text
//! 2021-01-15 15:57:32.537:WARN:oejs.DoSFilter:DOS ALERT:ip=127.0.1.1,session=null,user=null
//! 2021-01-15 15:57:32.537:WARN:oejs.HttpChannel:qtp1234-56: /service/soap
//! ```
//!
//! Yields the time, the level as severity, `fields.category` (the abbreviated logger name, e.g.
//! `oejs.DoSFilter`), `fields.thread` when Jetty 9 printed one, and for the DoSFilter's alerts
//! the client's `ip` and `user` (an IP rate-limited by mailboxd is how a runaway client shows up).
//! The app is `mailboxd`. Everything else in that file (JVM output, stack traces) is continuation
//! or plain lines.

use super::Origin;
use super::time::{digits, level, millis, ymd_hms};
use logwarden_core::Draft;

/// Whether `line` starts a Jetty record: `YYYY-MM-DD HH:MM:SS.mmm:`.
#[inline]
pub fn starts_record(line: &[u8]) -> bool {
    line.len() >= 24
        && line[19] == b'.'
        && line[23] == b':'
        && ymd_hms(line).is_some()
        && digits(&line[20..], 3).is_some()
}

pub fn parse(text: &str, origin: &mut Origin) -> Option<Draft> {
    let b = text.as_bytes();
    if !starts_record(b) {
        return None;
    }
    let naive = ymd_hms(b)? + chrono::Duration::milliseconds(i64::from(millis(&b[20..])?));
    let rest = &text[24..];
    let (lvl, rest) = rest.split_once(':')?;
    let severity = level(lvl)?;
    let mut draft = origin.draft(String::new());
    draft.app = "mailboxd".into();
    draft.ts = Some(origin.clock.to_utc(naive));
    draft.severity = severity;
    let rest = match rest.split_once(':') {
        Some((logger, msg)) if !logger.is_empty() && !logger.contains([' ', '\n']) => {
            draft.fields.insert("category".into(), logger.into());
            msg
        }
        _ => rest,
    };
    // Jetty 9: `qtp1234-56: message` (a thread pool name, then the message).
    let rest = match rest.split_once(": ") {
        Some((thread, msg)) if is_thread_name(thread) => {
            draft.fields.insert("thread".into(), thread.into());
            msg
        }
        _ => rest,
    };
    if let Some(alert) = rest.strip_prefix("DOS ALERT:") {
        let alert = alert.lines().next().unwrap_or_default();
        for pair in alert.trim().split(',') {
            if let Some((k, v)) = pair.split_once('=')
                && matches!(k.trim(), "ip" | "user" | "session")
                && v != "null"
            {
                draft.fields.insert(k.trim().into(), v.trim().into());
            }
        }
        draft.fields.insert("alert".into(), "dos".into());
    }
    draft.message = rest.to_owned();
    Some(draft)
}

fn is_thread_name(s: &str) -> bool {
    (s.starts_with("qtp") || s.starts_with("btpool") || s.starts_with("Scheduler-"))
        && !s.contains([' ', '\n'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Zone;
    use logwarden_core::Severity;

    #[test]
    fn dos_filter_alert_gives_level_logger_and_client_ip() {
        let mut o = Origin::for_test("/opt/zimbra/log/zmmailboxd.out", Zone::Utc);
        let d = parse(
            "2021-01-15 15:57:32.537:WARN:oejs.DoSFilter:DOS ALERT:ip=127.0.1.1,session=null,user=null",
            &mut o,
        )
        .unwrap();
        assert_eq!(d.ts.unwrap().to_rfc3339(), "2021-01-15T15:57:32.537+00:00");
        assert_eq!(d.severity, Severity::Warning);
        assert_eq!(d.app, "mailboxd");
        assert_eq!(d.fields["category"], "oejs.DoSFilter");
        assert_eq!(d.fields["ip"], "127.0.1.1");
        assert_eq!(d.fields["alert"], "dos");
        assert!(!d.fields.contains_key("user"));
        assert_eq!(d.message, "DOS ALERT:ip=127.0.1.1,session=null,user=null");
    }

    #[test]
    fn jetty9_thread_is_taken_out_of_the_message() {
        let mut o = Origin::for_test("zmmailboxd.out", Zone::Utc);
        let d = parse(
            "2023-02-01 08:00:00.001:INFO:oejs.HttpChannel:qtp1392425346-123: /service/soap/ failed",
            &mut o,
        )
        .unwrap();
        assert_eq!(d.fields["thread"], "qtp1392425346-123");
        assert_eq!(d.message, "/service/soap/ failed");
    }

    #[test]
    fn log4j_lines_are_not_jetty_lines() {
        let mut o = Origin::for_test("x", Zone::Utc);
        assert!(parse("2021-06-25 01:56:18,725 INFO [main] [] soap - x", &mut o).is_none());
        assert!(!starts_record(b"2021-06-25 01:56:18.725 INFO"));
    }
}

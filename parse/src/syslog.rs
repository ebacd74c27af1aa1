//! Syslog files (`/var/log/zimbra.log`, `/var/log/messages`, `auth.log`, ...) and syslog lines.
//!
//! The line nearly every file holds, RFC 3164 as syslogd writes it to disk,
//!
//! ```text
//! [<PRI>]Mar 16 19:21:05 www postfix/master[10002]: warning: process ... exit status 1
//! [<PRI>]2024-05-01T10:00:00.123456+02:00 www postfix/master[10002]: ...   (rsyslog's high-precision stamp)
//! ```
//!
//! is read by hand. This is the agent's hottest path: with drafts built either way, the hand path
//! read Loghub's lines at 1.2-1.9M lines/s per core where the same parser through syslog_loose
//! managed 0.75-0.96M (its 3164 path, tried after 5424, converts each stamp through the zone
//! database); and it keeps sysklogd's spaced tags (`syslogd 1.4.1:`) and `-- root[2421]:`
//! whole, which syslog_loose splits (8 of Linux_2k's 2,000 lines). Everything else (RFC 5424
//! `<PRI>1 ...` with structured data, stamps with a year, odd spacing) goes through the
//! `syslog_loose` crate.
//!
//! Yields `host`, `app` (the tag without its pid: `postfix/smtpd`, `sshd(pam_unix)`, and tags
//! holding a space such as `syslogd 1.4.1` as sysklogd writes them), `fields.pid` (a number when
//! it is one), `fields.facility` and the severity when the line has a PRI, `fields.msgid` and
//! `fields.sd` (structured data, `{id: {param: value}}`) for RFC 5424. Without a PRI the severity
//! comes from the message's own prefix (`fatal:`, `warning:`, ... as postfix writes them).
//! The year of a BSD stamp is inferred ([`super::time::YearGuess`]). Zimbra's own messages
//! inside syslog are read further by [`super::zimbra_messages`].

use chrono::Offset as _;
use serde_json::{Map, Value};
use syslog_loose::{ProcId, Variant};

use super::Origin;
use super::time::{Zone, digits, month, ymd_hms};
use logwarden_core::CompactString;
use logwarden_core::Draft;
use logwarden_core::Severity;

/// Longest tag read when it holds spaces (RFC 3164 allows 32 characters; sysklogd's
/// `syslogd 1.4.1` is the case that needs it).
const MAX_SPACED_TAG: usize = 32;

/// Whether the line could be syslog at all: a PRI, a month name or an ISO date first.
#[inline]
pub fn looks_like(line: &[u8]) -> bool {
    match line.first() {
        Some(b'<') => true,
        Some(c) if c.is_ascii_digit() => line.get(10) == Some(&b'T') && ymd_hms(line).is_some(),
        Some(_) => month(line).is_some() && line.get(3) == Some(&b' '),
        None => false,
    }
}

pub fn parse(text: &str, origin: &mut Origin) -> Option<Draft> {
    fast(text, origin).or_else(|| loose(text, origin))
}

/// The hand-written path for `[<PRI>]STAMP HOST TAG[PID]: MSG`.
fn fast(text: &str, origin: &mut Origin) -> Option<Draft> {
    let b = text.as_bytes();
    let mut pos = 0;
    let mut pri = None;
    if b.first() == Some(&b'<') {
        let close = b.iter().take(5).position(|&c| c == b'>')?;
        let n = digits(&b[1..], close - 1)?;
        if close < 2 || n > 191 {
            return None;
        }
        pri = Some(n as u8);
        pos = close + 1;
        if b.get(pos..pos + 2) == Some(b"1 ") {
            return None; // RFC 5424: syslog_loose reads it.
        }
    }

    let ts;
    if let Some(m) = month(&b[pos..]) {
        // `Mmm dd hh:mm:ss` (day padded with a space) followed by a space.
        let s = b.get(pos..pos + 16)?;
        if s[3] != b' ' || s[6] != b' ' || s[9] != b':' || s[12] != b':' || s[15] != b' ' {
            return None;
        }
        let day = if s[4] == b' ' {
            digits(&s[5..], 1)?
        } else {
            digits(&s[4..], 2)?
        };
        let (h, mi, sec) = (
            digits(&s[7..], 2)?,
            digits(&s[10..], 2)?,
            digits(&s[13..], 2)?,
        );
        ts = origin.years.resolve(&mut origin.clock, m, day, h, mi, sec);
        pos += 16;
    } else {
        let rest = &text[pos..];
        let end = rest.find(' ')?;
        let stamp = &rest[..end];
        if stamp.as_bytes().get(10) != Some(&b'T') {
            return None;
        }
        ts = match chrono::DateTime::parse_from_rfc3339(stamp) {
            Ok(t) => Some(t.with_timezone(&chrono::Utc)),
            Err(_) => {
                let naive =
                    chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
                Some(origin.clock.to_utc(naive))
            }
        };
        pos += end + 1;
    }

    let rest = &text[pos..];
    let (host, rest) = match rest.split_once(' ') {
        Some((h, r)) if !h.is_empty() && !h.ends_with(':') && !h.contains('[') => (Some(h), r),
        _ => (None, rest),
    };
    let rest = rest.trim_start_matches(' ');
    let (app, pid, message) = tag(rest);

    let mut draft = origin.draft_with_app(app, message.trim_end().to_owned());
    draft.ts = ts;
    draft.host = host.map(CompactString::from);
    if let Some(pid) = pid {
        draft.fields.insert("pid".into(), pid_value(pid));
    }
    draft.severity = match pri {
        Some(p) => {
            let (facility, _) = syslog_loose::decompose_pri(p);
            if let Some(f) = facility {
                draft.fields.insert("facility".into(), f.as_str().into());
            }
            Severity::from_level(p & 7).unwrap_or_default()
        }
        None => severity_from_prefix(&draft.message).unwrap_or_default(),
    };
    Some(draft)
}

/// Splits `TAG[PID]: MSG` into its parts. A tag runs to `[`, `:` or a space; it may hold spaces
/// only when a `:` or `[` closes it within [`MAX_SPACED_TAG`] bytes. Without a tag the whole
/// rest is the message.
fn tag(rest: &str) -> (&str, Option<&str>, &str) {
    let b = rest.as_bytes();
    let mut spaced = false;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'[' if i > 0 => {
                let after = &rest[i + 1..];
                let Some(close) = after.find(']') else {
                    return ("", None, rest);
                };
                let pid = &after[..close];
                let msg = after[close + 1..]
                    .strip_prefix(':')
                    .unwrap_or(&after[close + 1..]);
                return (&rest[..i], Some(pid), msg.strip_prefix(' ').unwrap_or(msg));
            }
            b':' if i > 0 => {
                let msg = &rest[i + 1..];
                if !(msg.is_empty() || msg.starts_with(' ')) {
                    // `a:b` is not a tag (a time, an address, `27690:info:`...).
                    return ("", None, rest);
                }
                return (&rest[..i], None, msg.strip_prefix(' ').unwrap_or(msg));
            }
            b' ' => spaced = true,
            _ => {}
        }
        if spaced && i >= MAX_SPACED_TAG {
            break;
        }
    }
    ("", None, rest)
}

fn pid_value(pid: &str) -> Value {
    match pid.parse::<u64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::from(pid),
    }
}

/// The severity a message gives itself: postfix's `fatal:`, `warning:`..., and the like.
pub fn severity_from_prefix(msg: &str) -> Option<Severity> {
    // Only the first 9 bytes can hold the `:` of a word of up to 8: a line without one is not
    // searched to its end.
    let head = &msg.as_bytes()[..msg.len().min(9)];
    let word = &msg[..memchr::memchr(b':', head)?];
    Some(match word {
        "panic" => Severity::Emerg,
        "fatal" => Severity::Crit,
        "error" | "ERROR" => Severity::Err,
        "warning" | "WARNING" | "warn" => Severity::Warning,
        _ => return None,
    })
}

/// Whatever the fast path does not take, through syslog_loose. Only a result with a time counts:
/// syslog_loose calls anything a message, so without one it is not a syslog line.
fn loose(text: &str, origin: &mut Origin) -> Option<Draft> {
    if !looks_like(text.as_bytes()) {
        return None;
    }
    let years = origin.years.clone();
    let get_year = |(m, d, _, _, _): syslog_loose::IncompleteDate| years.year_for(m, d);
    let msg = match origin.clock.zone() {
        Zone::Local => syslog_loose::parse_message_with_year_exact_tz(
            text,
            get_year,
            Some(chrono::Local),
            Variant::Either,
        ),
        Zone::Utc => syslog_loose::parse_message_with_year_exact_tz(
            text,
            get_year,
            Some(chrono::Utc.fix()),
            Variant::Either,
        ),
        Zone::Fixed(f) => {
            syslog_loose::parse_message_with_year_exact_tz(text, get_year, Some(f), Variant::Either)
        }
    }
    .ok()?;
    let ts = msg.timestamp?;
    let mut draft = origin.draft_with_app(
        msg.appname.unwrap_or_default(),
        msg.msg.trim_end().to_owned(),
    );
    draft.ts = Some(ts.with_timezone(&chrono::Utc));
    draft.host = msg.hostname.map(CompactString::from);
    match msg.procid {
        Some(ProcId::PID(p)) => {
            draft.fields.insert("pid".into(), p.into());
        }
        Some(ProcId::Name(n)) => {
            draft.fields.insert("pid".into(), pid_value(n));
        }
        None => {}
    }
    if let Some(id) = msg.msgid {
        draft.fields.insert("msgid".into(), id.into());
    }
    if let Some(f) = msg.facility {
        draft.fields.insert("facility".into(), f.as_str().into());
    }
    draft.severity = match msg.severity {
        Some(s) => Severity::from_level(s as u8).unwrap_or_default(),
        None => severity_from_prefix(&draft.message).unwrap_or_default(),
    };
    if !msg.structured_data.is_empty() {
        let mut sd = Map::new();
        for el in &msg.structured_data {
            let params: Map<String, Value> = el
                .params()
                .map(|(k, v)| (k.to_string(), Value::from(v.to_string())))
                .collect();
            sd.insert(el.id.to_owned(), Value::Object(params));
        }
        draft.fields.insert("sd".into(), Value::Object(sd));
    }
    Some(draft)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn origin() -> Origin {
        let mut o = Origin::for_test("/var/log/zimbra.log", Zone::Utc);
        o.years = super::super::time::YearGuess::new(
            DateTime::parse_from_rfc3339("2015-03-20T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        );
        o
    }

    #[test]
    fn bsd_line_gives_host_app_pid_and_inferred_year() {
        let d = parse(
            "Mar 16 12:00:02 SRV03-BF65 postfix/postqueue[12926]: fatal: Queue report unavailable - mail system is down",
            &mut origin(),
        )
        .unwrap();
        assert_eq!(d.ts.unwrap().to_rfc3339(), "2015-03-16T12:00:02+00:00");
        assert_eq!(d.host.as_deref(), Some("SRV03-BF65"));
        assert_eq!(d.app, "postfix/postqueue");
        assert_eq!(d.fields["pid"], 12926);
        assert_eq!(d.severity, Severity::Crit);
        assert_eq!(
            d.message,
            "fatal: Queue report unavailable - mail system is down"
        );
    }

    #[test]
    fn tag_without_pid_and_space_padded_day_are_read() {
        let d = parse(
            "Mar  6 19:21:19 www postfix/postfix-script: refreshing the Postfix mail system",
            &mut origin(),
        )
        .unwrap();
        assert_eq!(d.ts.unwrap().to_rfc3339(), "2015-03-06T19:21:19+00:00");
        assert_eq!(d.app, "postfix/postfix-script");
        assert!(!d.fields.contains_key("pid"));
        assert_eq!(d.message, "refreshing the Postfix mail system");
    }

    #[test]
    fn sysklogd_tag_with_a_space_and_untagged_lines_are_told_apart() {
        let d = parse(
            "Jun 19 04:09:11 combo syslogd 1.4.1: restart.",
            &mut origin(),
        )
        .unwrap();
        assert_eq!(d.app, "syslogd 1.4.1");
        assert_eq!(d.message, "restart.");
        let d = parse(
            "Jun 19 04:09:11 combo last message repeated 3 times and then some more words: x",
            &mut origin(),
        )
        .unwrap();
        assert_eq!(d.app, "");
        assert_eq!(
            d.message,
            "last message repeated 3 times and then some more words: x"
        );
    }

    #[test]
    fn pri_gives_severity_and_facility() {
        let d = parse(
            "<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
            &mut origin(),
        )
        .unwrap();
        assert_eq!(d.severity, Severity::Crit);
        assert_eq!(d.fields["facility"], "auth");
        assert_eq!(d.app, "su");
        assert_eq!(d.ts.unwrap().to_rfc3339(), "2014-10-11T22:14:15+00:00");
    }

    #[test]
    fn rsyslog_high_precision_stamp_keeps_its_offset() {
        let d = parse(
            "2024-05-01T10:00:00.123456+02:00 mbox3 slapd[7019]: slapd starting",
            &mut origin(),
        )
        .unwrap();
        assert_eq!(
            d.ts.unwrap().to_rfc3339(),
            "2024-05-01T08:00:00.123456+00:00"
        );
        assert_eq!(d.host.as_deref(), Some("mbox3"));
        assert_eq!(d.app, "slapd");
        assert_eq!(d.fields["pid"], 7019);
    }

    #[test]
    fn rfc5424_goes_through_syslog_loose_with_msgid_and_structured_data() {
        let d = parse(
            r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event"#,
            &mut origin(),
        )
        .unwrap();
        assert_eq!(d.ts.unwrap().to_rfc3339(), "2003-10-11T22:14:15.003+00:00");
        assert_eq!(d.host.as_deref(), Some("mymachine.example.com"));
        assert_eq!(d.app, "evntslog");
        assert_eq!(d.fields["pid"], 1234);
        assert_eq!(d.fields["msgid"], "ID47");
        assert_eq!(d.fields["sd"]["exampleSDID@32473"]["iut"], "3");
        assert_eq!(d.severity, Severity::Notice);
        assert_eq!(d.message, "An application event");
    }

    #[test]
    fn stamp_with_a_year_goes_through_syslog_loose() {
        let d = parse("Mar 16 2015 12:00:02 host app[1]: hello", &mut origin()).unwrap();
        assert_eq!(d.ts.unwrap().to_rfc3339(), "2015-03-16T12:00:02+00:00");
        assert_eq!(d.app, "app");
    }

    #[test]
    fn lines_without_a_stamp_are_not_syslog() {
        assert!(parse("hello world", &mut origin()).is_none());
        assert!(parse("2015-12-05 18:47:36,435 INFO  [x] [] a - b", &mut origin()).is_none());
        assert!(parse("Marvellous day", &mut origin()).is_none());
    }
}

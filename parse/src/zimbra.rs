//! Zimbra's log4j files: `mailbox.log`, `audit.log`, `sync.log` (and `ews.log`, `activity.log`,
//! which share the layout `%d %-5p [%t] [%z] %c{1} - %m`):
//!
//! ```text
//! 2015-12-05 18:47:36,435 INFO  [qtp1545357780-7135140:http://127.0.0.1:80/service/soap/AuthRequest] [name=pepe@domain.com;oip=10.1.2.123;ua=zclient/2.0.5_GA_1839;] security - cmd=Auth; account=pepe@domain.com; protocol=soap;
//! ```
//!
//! Yields `fields.thread`, every `key=value` of the bracketed context (`name` becomes `account`;
//! `aname`, `mid`, `ip`, `oip`, `ua`, `port`, `soapId`, ... keep their names), `fields.category`,
//! and, on `security` lines (the audit records), the message's own `cmd`, `account`, `protocol`
//! and `error`. The log4j level becomes the severity (`FATAL` is `crit`).
//!
//! Real files bend the layout, and the parser follows them rather than give up: a thread whose
//! closing `]` is missing (`[btpool0-4361://localhost/... [name=...`), no space between thread
//! and context (sync.log), an empty context `[]`, context values holding spaces, commas and
//! brackets (`ua=BlueMail 1.140.103 (20466)(...)`). A record's continuation lines (stack traces)
//! stay in the message when the record is handed over whole.

use serde_json::Value;

use super::Origin;
use super::time::{digits, level, millis, ymd_hms};
use logwarden_core::Draft;

/// Whether `line` starts a log4j record: `YYYY-MM-DD HH:MM:SS,mmm `.
#[inline]
pub fn starts_record(line: &[u8]) -> bool {
    line.len() >= 24
        && line[19] == b','
        && ymd_hms(line).is_some()
        && digits(&line[20..], 3).is_some()
}

/// One record (its first line, possibly followed by continuation lines) into a draft; `None`
/// when it is not a log4j record.
pub fn parse(text: &str, origin: &mut Origin) -> Option<Draft> {
    let b = text.as_bytes();
    if !starts_record(b) {
        return None;
    }
    // The header is read on the first line only; continuation lines go to the message as they are.
    let (first, more) = text.split_at(text.find('\n').unwrap_or(text.len()));
    let naive = ymd_hms(b)? + chrono::Duration::milliseconds(i64::from(millis(&b[20..])?));
    let mut rest = first[23..].trim_start_matches(' ');

    let level_end = rest.find([' ', '[']).unwrap_or(rest.len());
    let severity = level(&rest[..level_end])?;
    rest = rest[level_end..].trim_start_matches(' ');

    let mut draft = origin.draft(String::new());
    draft.ts = Some(origin.clock.to_utc(naive));
    draft.severity = severity;

    // [thread]: ends at `]`, or at ` [` when the `]` was lost.
    if let Some(after) = rest.strip_prefix('[') {
        let (thread, next) = match (after.find(']'), after.find(" [")) {
            (Some(close), Some(open)) if open < close => (&after[..open], &after[open + 1..]),
            (Some(close), _) => (&after[..close], &after[close + 1..]),
            (None, Some(open)) => (&after[..open], &after[open + 1..]),
            (None, None) => (after, ""),
        };
        draft.fields.insert("thread".into(), thread.into());
        rest = next.trim_start_matches(' ');
    }

    // [key=value;key=value;]
    if let Some(after) = rest.strip_prefix('[') {
        rest = context(after, &mut draft).trim_start_matches(' ');
    }

    // category - message
    match rest.find(" - ") {
        Some(i) if !rest[..i].contains(' ') => {
            let category = &rest[..i];
            let message = &rest[i + 3..];
            if category == "security" {
                audit(message, &mut draft);
            } else if matches!(category, "lmtp" | "mailop" | "smtp") {
                super::zimbra_delivery::enrich(category, message, &mut draft);
            }
            draft.message = [message, more].concat();
            draft.fields.insert("category".into(), category.into());
        }
        _ => draft.message = [rest, more].concat(),
    }
    Some(draft)
}

/// Reads `key=value;` pairs up to the closing `]` and returns what follows it. A value runs to
/// its `;`, so brackets inside values (user agents) do not end the context early.
fn context<'a>(s: &'a str, draft: &mut Draft) -> &'a str {
    // Taken in at once: the pairs are the line's, in any order and number.
    let mut pairs = Vec::new();
    let rest = context_pairs(s, &mut pairs);
    draft.fields.extend(pairs);
    rest
}

fn context_pairs<'a>(mut s: &'a str, pairs: &mut Vec<(&'a str, Value)>) -> &'a str {
    loop {
        if let Some(after) = s.strip_prefix(']') {
            return after;
        }
        let Some(eq) = s.find('=') else {
            // No more pairs: skip to the closing bracket if there is one.
            return s.find(']').map_or("", |i| &s[i + 1..]);
        };
        let key = &s[..eq];
        if key.contains([']', ' ']) {
            // `]` before the next `=`: the context ended (with or without its last `;`).
            return s.find(']').map_or("", |i| &s[i + 1..]);
        }
        let after = &s[eq + 1..];
        let (value, next) = match after.find(';') {
            Some(semi) => (&after[..semi], &after[semi + 1..]),
            None => match after.find(']') {
                Some(close) => (&after[..close], &after[close..]),
                None => (after, ""),
            },
        };
        let key = if key == "name" { "account" } else { key };
        if !key.is_empty() {
            pairs.push((key, Value::from(value)));
        }
        s = next;
    }
}

/// The audit record of a `security` line: `cmd=Auth; account=x; protocol=soap; error=...;`. The
/// audited `account` wins over the context's `name` (an admin acting on someone); the context's
/// is kept as `name` when they differ.
fn audit(message: &str, draft: &mut Draft) {
    for pair in message.split(';') {
        let Some((k, v)) = pair.trim().split_once('=') else {
            continue;
        };
        let k = k.trim();
        if !matches!(
            k,
            "cmd" | "account" | "protocol" | "error" | "oip" | "ip" | "ua"
        ) {
            continue;
        }
        if k == "account"
            && let Some(prev) = draft.fields.get("account").and_then(Value::as_str)
            && prev != v
        {
            let prev = prev.to_owned();
            draft.fields.insert("name".into(), prev.into());
        }
        if (k == "ip" || k == "oip" || k == "ua") && draft.fields.contains_key(k) {
            continue;
        }
        draft.fields.insert(k.into(), v.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Zone;
    use logwarden_core::Severity;
    use serde_json::json;

    fn parse_utc(line: &str) -> Draft {
        let mut o = Origin::for_test("/opt/zimbra/log/mailbox.log", Zone::Utc);
        parse(line, &mut o).expect("a log4j line")
    }

    #[test]
    fn audit_line_gives_thread_context_category_and_audit_fields() {
        let d = parse_utc(
            "2015-12-05 18:47:36,435 INFO  [qtp1545357780-7135140:http://127.0.0.1:80/service/soap/AuthRequest] [name=pepe@domain.com;oip=10.1.2.123;ua=zclient/2.0.5_GA_1839;] security - cmd=Auth; account=pepe@domain.com; protocol=soap;",
        );
        assert_eq!(d.ts.unwrap().to_rfc3339(), "2015-12-05T18:47:36.435+00:00");
        assert_eq!(d.severity, Severity::Info);
        assert_eq!(d.app, "mailbox");
        assert_eq!(
            serde_json::to_value(&d.fields).unwrap(),
            json!({
                "thread": "qtp1545357780-7135140:http://127.0.0.1:80/service/soap/AuthRequest",
                "account": "pepe@domain.com",
                "oip": "10.1.2.123",
                "ua": "zclient/2.0.5_GA_1839",
                "category": "security",
                "cmd": "Auth",
                "protocol": "soap",
            })
        );
        assert_eq!(
            d.message,
            "cmd=Auth; account=pepe@domain.com; protocol=soap;"
        );
    }

    #[test]
    fn a_context_of_many_pairs_out_of_order_is_taken_whole_and_the_last_of_a_name_wins() {
        let mut ctx: Vec<String> = (0..20_000).rev().map(|i| format!("k{i:05}={i}")).collect();
        ctx.push("ip=10.0.0.1".into());
        ctx.push("k00007=again".into());
        let d = parse_utc(&format!(
            "2024-03-01 10:00:00,001 INFO  [ImapServer-7] [{};] imap - hello",
            ctx.join(";")
        ));
        assert_eq!(
            d.fields.len(),
            20_000 + 3,
            "the pairs, ip, thread and category"
        );
        assert_eq!(d.fields["k00007"], "again");
        assert_eq!(d.fields["k19999"], "19999");
        assert_eq!(d.fields["ip"], "10.0.0.1");
        assert_eq!(d.message, "hello");
    }

    #[test]
    fn context_values_keep_spaces_commas_and_brackets() {
        let d = parse_utc(
            "2025-09-19 19:40:17,304 INFO  [qtp1279309678-18:https://zimbra.example.net/service/soap/] [name=login@example.net;oip=1.2.3.4, 5.6.7.8;port=47834;ua=BlueMail 1.140.103 (20466)(...le2bw6) devip=1.2.3.4 ZPZB/74;soapId=56847ec2;] security - cmd=Auth; account=login@example.net; protocol=zsync;",
        );
        assert_eq!(d.fields["oip"], "1.2.3.4, 5.6.7.8");
        assert_eq!(d.fields["port"], "47834");
        assert_eq!(
            d.fields["ua"],
            "BlueMail 1.140.103 (20466)(...le2bw6) devip=1.2.3.4 ZPZB/74"
        );
        assert_eq!(d.fields["soapId"], "56847ec2");
        assert_eq!(d.fields["protocol"], "zsync");
        assert_eq!(d.fields["category"], "security");
    }

    #[test]
    fn thread_without_closing_bracket_still_yields_the_context() {
        let d = parse_utc(
            "2013-07-18 15:22:01,495 INFO [btpool0-4361://localhost/service/soap/MsgActionRequest [name=user@domain.com;mid=2538;oip=258.236.789.647;ua=zclient/7.2.4_GA_2900;] mailop - moving Message (id=339) to Folder Trash (id=3)",
        );
        assert_eq!(
            d.fields["thread"],
            "btpool0-4361://localhost/service/soap/MsgActionRequest"
        );
        assert_eq!(d.fields["account"], "user@domain.com");
        assert_eq!(d.fields["mid"], "2538");
        assert_eq!(d.fields["category"], "mailop");
        assert_eq!(d.message, "moving Message (id=339) to Folder Trash (id=3)");
    }

    #[test]
    fn fatal_is_crit_and_aname_is_kept() {
        let d = parse_utc(
            "2021-06-17 20:11:34,194 FATAL [btpool0-3335] [name=samd@example.com;aname=abcadmin@example.com;mid=142;ip=10.3.4.5;ua=zimbraConnectorForBES/5.0.207;] system - handler exception java.lang.OutOfMemoryError: PermGen space",
        );
        assert_eq!(d.severity, Severity::Crit);
        assert_eq!(d.fields["aname"], "abcadmin@example.com");
        assert_eq!(d.fields["ip"], "10.3.4.5");
        assert_eq!(d.fields["category"], "system");
    }

    #[test]
    fn empty_context_and_missing_space_before_context_are_read() {
        let d = parse_utc(
            "2021-06-25 01:56:18,725 INFO [main] [] soap - Servlet SoapServlet starting up",
        );
        assert_eq!(d.fields["thread"], "main");
        assert_eq!(d.fields["category"], "soap");
        assert!(!d.fields.contains_key("account"));
        let d = parse_utc(
            "2021-01-15 15:52:20,426 WARN [qtp1635701107-91:https://x.x.x.x/Microsoft-Server-ActiveSync?User=zsupport2&Cmd=FolderSync][name=zsupport2@domain.com;mid=64;ip=10.1.2.3;Cmd=FolderSync;DeviceID=Appl5K0113UN3NR;Version=12.1;] sync - Service exception",
        );
        assert_eq!(d.severity, Severity::Warning);
        assert_eq!(d.fields["account"], "zsupport2@domain.com");
        assert_eq!(d.fields["DeviceID"], "Appl5K0113UN3NR");
        assert_eq!(d.fields["category"], "sync");
    }

    #[test]
    fn audit_failure_keeps_the_error_and_the_acting_name() {
        let d = parse_utc(
            "2024-03-01 10:00:00,001 WARN  [ImapServer-7] [name=admin@example.com;ip=203.0.113.9;] security - cmd=Auth; account=bob@example.com; protocol=imap; error=authentication failed for [bob@example.com], invalid password;",
        );
        assert_eq!(d.fields["account"], "bob@example.com");
        assert_eq!(d.fields["name"], "admin@example.com");
        assert_eq!(
            d.fields["error"],
            "authentication failed for [bob@example.com], invalid password"
        );
    }

    #[test]
    fn continuation_lines_stay_in_the_message() {
        let d = parse_utc(
            "2021-06-17 20:11:34,194 ERROR [main] [] system - boom\njava.lang.RuntimeException: x\n\tat a.b.C(C.java:1)",
        );
        assert_eq!(
            d.message,
            "boom\njava.lang.RuntimeException: x\n\tat a.b.C(C.java:1)"
        );
        assert!(!starts_record(b"\tat a.b.C(C.java:1)"));
        assert!(starts_record(b"2021-06-17 20:11:34,194 ERROR x"));
    }

    #[test]
    fn lines_of_other_formats_are_not_taken() {
        let mut o = Origin::for_test("x", Zone::Utc);
        assert!(parse("2021-01-15 15:57:32.537:WARN:oejs.DoSFilter:x", &mut o).is_none());
        assert!(parse("Mar 16 12:00:02 h app: x", &mut o).is_none());
        assert!(parse("2021-06-25 01:56:18,725 LOUD [main] x", &mut o).is_none());
    }
}

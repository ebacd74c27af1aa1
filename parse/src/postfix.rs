//! Postfix's delivery path inside syslog: the lines that carry a queue id, read into the fields
//! `logwarden trace` follows a message by. The formats are postfix's own (`smtpd.c`,
//! `cleanup_message.c`, `qmgr_active.c`, `log_adhoc.c`, `bounce_notify_service.c`): the message
//! is kept whole, the fields come on top.
//!
//! | daemon: message | fields |
//! |---|---|
//! | `smtpd: 4F2A31C0A1: client=mail.example.org[203.0.113.5]` | `queue_id`, `client`, `ip` (and `sasl_username`, `orig_queue_id` when present) |
//! | `smtpd: connect from mail.example.org[203.0.113.5]` | `client`, `ip` |
//! | `smtpd: NOQUEUE: reject: RCPT from h[ip]: 554 5.7.1 ...; from=<a> to=<b> proto=ESMTP helo=<h>` | `status: rejected`, `client`, `ip`, `from`, `to`, `status_text` |
//! | `pickup: 4F2A31C0A1: uid=1000 from=<alice>` | `queue_id`, `uid`, `from` |
//! | `cleanup: 4F2A31C0A1: message-id=<x@example.org>` | `queue_id`, `message_id` |
//! | `qmgr: 4F2A31C0A1: from=<a@example.org>, size=1234, nrcpt=3 (queue active)` | `queue_id`, `from`, `size` (n), `nrcpt` (n) |
//! | `qmgr: 4F2A31C0A1: removed` | `queue_id`, `status: removed` |
//! | `qmgr: 4F2A31C0A1: from=<a@example.org>, status=expired, returned to sender` | `queue_id`, `from`, `status: expired` |
//! | `smtp`/`lmtp`/`local`/`virtual`/`pipe`/`error`/`qmgr`: `4F2A31C0A1: to=<b@x>, orig_to=<c@x>, relay=h[ip]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7B3C41C0B2)` | `queue_id`, `to`, `orig_to`, `relay`, `delay` (n), `delays`, `dsn`, `status` (`sent`, `deferred`, `bounced`, `expired`, ...), `status_text` (the parenthesised reply), `queued_as` (the next queue's id, when the reply names one) |
//! | `bounce: 4F2A31C0A1: sender non-delivery notification: 5E6F71C0C3` | `queue_id`, `notification` (`non-delivery`, `delay`, `delivery status`, `success`), `notification_id` |
//! | `postscreen: CONNECT from [203.0.113.5]:40000 to [192.0.2.1]:25`, `PASS NEW [ip]:port`, ... | `action` (`CONNECT`, `PASS NEW`, `DISCONNECT`, ...), `ip` |
//!
//! Speed: one look at the first bytes decides whether a line carries a queue id (5 to 20
//! letters and digits, then `: `); key=value pairs are read in one pass without copying the
//! message.

use logwarden_core::Draft;
use serde_json::Value;

/// Reads the delivery fields of a postfix line. Returns whether the line was one of the
/// delivery path's (the caller then skips the warning/fatal readings).
pub fn enrich(draft: &mut Draft) -> bool {
    let app = std::mem::take(&mut draft.app);
    let msg = std::mem::take(&mut draft.message);
    let daemon = app.rsplit('/').next().unwrap_or_default();
    let found = read(daemon, &msg, draft);
    draft.message = msg;
    draft.app = app;
    found
}

fn set(draft: &mut Draft, k: &str, v: impl Into<Value>) {
    draft.fields.insert(k.into(), v.into());
}

fn read(daemon: &str, msg: &str, draft: &mut Draft) -> bool {
    if let Some((qid, rest)) = queue_id(msg) {
        set(draft, "queue_id", qid);
        match daemon {
            "bounce" => notification(rest, draft),
            "cleanup" => {
                if let Some(id) = rest.strip_prefix("message-id=") {
                    set(draft, "message_id", id.trim_end());
                } else {
                    pairs(rest, draft);
                }
            }
            "pickup" => {
                // `uid=1000 from=<alice>`: space-separated, not comma-separated.
                for word in rest.split(' ') {
                    if let Some(u) = word.strip_prefix("uid=") {
                        set(draft, "uid", number(u));
                    } else if let Some(f) = word.strip_prefix("from=") {
                        set(draft, "from", unbracket(f));
                    }
                }
            }
            _ if rest == "removed" => set(draft, "status", "removed"),
            _ => pairs(rest, draft),
        }
        return true;
    }
    match daemon {
        "smtpd" => {
            if let Some(rest) = msg.strip_prefix("NOQUEUE: reject: ") {
                noqueue_reject(rest, draft);
                true
            } else if let Some(c) = msg
                .strip_prefix("connect from ")
                .or_else(|| msg.strip_prefix("disconnect from "))
            {
                client(c.split(' ').next().unwrap_or_default(), draft);
                true
            } else {
                false
            }
        }
        "postscreen" => postscreen(msg, draft),
        _ => false,
    }
}

/// `QUEUEID: rest`: a short id (upper-case hex) or a long one (postfix 2.9+, base 52), 5 to 20
/// letters and digits. `NOQUEUE` is not one.
fn queue_id(msg: &str) -> Option<(&str, &str)> {
    let b = msg.as_bytes();
    let n = b.iter().take(21).position(|c| !c.is_ascii_alphanumeric())?;
    if !(5..=20).contains(&n) || b.get(n + 1) != Some(&b' ') || b[n] != b':' {
        return None;
    }
    let qid = &msg[..n];
    // Short ids are upper-case hex; long ones mix cases and always hold a digit. Words such as
    // `warning:` or `statistics:` are neither.
    let short = qid
        .bytes()
        .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c));
    let long = n >= 12 && qid.bytes().any(|c| c.is_ascii_digit());
    (short || long).then(|| (qid, &msg[n + 2..]))
}

/// `<addr>` without its brackets.
fn unbracket(s: &str) -> &str {
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
}

fn number(s: &str) -> Value {
    match s.parse::<u64>() {
        Ok(n) => n.into(),
        Err(_) => match s.parse::<f64>() {
            Ok(f) if f.is_finite() => f.into(),
            _ => s.into(),
        },
    }
}

/// `host[ip]` or `host[ip]:port`: `client` whole and `ip`.
fn client(c: &str, draft: &mut Draft) {
    let c = c.trim_end_matches(',');
    set(draft, "client", c);
    if let Some(open) = c.find('[')
        && let Some(close) = c[open..].find(']')
    {
        set(draft, "ip", &c[open + 1..open + close]);
    }
}

/// `key=value, key=value, ..., status=WORD (text)`, and qmgr's `from=<a>, size=1, nrcpt=2
/// (queue active)`. A value runs to `, ` (an address in `<...>` to its `>`, which may hold a
/// comma); `status=` ends the pairs and the parenthesised text after it is the reply.
fn pairs(mut s: &str, draft: &mut Draft) {
    while let Some(eq) = s.find('=') {
        let key = &s[..eq];
        let after = &s[eq + 1..];
        let end = if after.starts_with('<') {
            after.find('>').map_or(after.len(), |i| i + 1)
        } else {
            after.find([',', ' ']).unwrap_or(after.len())
        };
        let value = &after[..end];
        let rest = &after[end..];
        match key {
            "to" | "orig_to" | "from" => set(draft, key, unbracket(value)),
            "relay" | "dsn" | "delays" => set(draft, key, value),
            "delay" | "size" | "nrcpt" => set(draft, key, number(value)),
            "client" => client(value, draft),
            "sasl_username" | "orig_queue_id" | "orig_client" => set(draft, key, value),
            "status" => {
                set(draft, "status", value);
                status_text(rest, draft);
                return;
            }
            _ => {}
        }
        s = match rest.strip_prefix(", ") {
            Some(r) => r,
            None => return,
        };
    }
}

/// ` (250 2.0.0 Ok: queued as 7B3C41C0B2)` after `status=sent`, or `, returned to sender`.
fn status_text(rest: &str, draft: &mut Draft) {
    let Some(text) = rest
        .strip_prefix(" (")
        .map(|t| t.strip_suffix(')').unwrap_or(t))
    else {
        return;
    };
    if let Some(i) = text.find("queued as ") {
        let id = text[i + "queued as ".len()..]
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or_default();
        if !id.is_empty() {
            set(draft, "queued_as", id);
        }
    }
    set(draft, "status_text", text);
}

/// `sender non-delivery notification: 5E6F71C0C3` (also `delay`, `delivery status`, `success`).
fn notification(rest: &str, draft: &mut Draft) {
    let Some(what) = rest
        .strip_prefix("sender ")
        .or_else(|| rest.strip_prefix("postmaster "))
    else {
        return;
    };
    if let Some((kind, id)) = what.split_once(" notification: ") {
        set(draft, "notification", kind);
        set(draft, "notification_id", id.trim());
    }
}

/// `RCPT from h[ip]: 554 5.7.1 <b@x>: Relay access denied; from=<a> to=<b> proto=ESMTP helo=<h>`
fn noqueue_reject(rest: &str, draft: &mut Draft) {
    set(draft, "status", "rejected");
    let Some((head, tail)) = rest.split_once("; from=") else {
        return;
    };
    if let Some(c) = head.split_once(" from ").map(|(_, c)| c)
        && let Some((c, reply)) = c.split_once(": ")
    {
        client(c, draft);
        set(draft, "status_text", reply);
        if let Some(dsn) = reply.split(' ').nth(1)
            && dsn.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && dsn.contains('.')
        {
            set(draft, "dsn", dsn);
        }
    }
    let mut words = tail.split(' ');
    if let Some(from) = words.next() {
        set(draft, "from", unbracket(from));
    }
    for w in words {
        if let Some(to) = w.strip_prefix("to=") {
            set(draft, "to", unbracket(to));
        }
    }
}

/// postscreen's `CONNECT from [ip]:port to [ip]:25`, `PASS NEW [ip]:port`, `DISCONNECT [ip]:port`.
fn postscreen(msg: &str, draft: &mut Draft) -> bool {
    let Some(open) = msg.find('[') else {
        return false;
    };
    let action = msg[..open]
        .trim_end()
        .trim_end_matches(" from")
        .trim_end_matches(':');
    if action.is_empty() || !action.bytes().all(|c| c.is_ascii_uppercase() || c == b' ') {
        return false;
    }
    let Some(close) = msg[open..].find(']') else {
        return false;
    };
    set(draft, "action", action);
    set(draft, "ip", &msg[open + 1..open + close]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(app: &str, message: &str) -> Draft {
        let mut d = Draft::plain("/var/log/zimbra.log", message.to_owned());
        d.app = app.into();
        assert!(enrich(&mut d), "{message}");
        assert_eq!(d.message, message, "the message is kept whole");
        d
    }

    #[test]
    fn smtpd_client_gives_queue_id_client_and_ip() {
        let d = draft(
            "postfix/smtpd",
            "4F2A31C0A1: client=mail.example.org[203.0.113.5], sasl_method=PLAIN, sasl_username=alice@example.org",
        );
        assert_eq!(d.fields["queue_id"], "4F2A31C0A1");
        assert_eq!(d.fields["client"], "mail.example.org[203.0.113.5]");
        assert_eq!(d.fields["ip"], "203.0.113.5");
        assert_eq!(d.fields["sasl_username"], "alice@example.org");
        let d = draft("postfix/smtpd", "connect from unknown[192.168.2.99]");
        assert_eq!(d.fields["ip"], "192.168.2.99");
        assert!(!d.fields.contains_key("queue_id"));
    }

    #[test]
    fn cleanup_gives_the_message_id_whole() {
        let d = draft(
            "postfix/cleanup",
            "4F2A31C0A1: message-id=<20261205.1a2b@mail.example.org>",
        );
        assert_eq!(d.fields["message_id"], "<20261205.1a2b@mail.example.org>");
        // Long queue ids (enable_long_queue_ids) are read too.
        let d = draft("postfix/cleanup", "3TbBwQ1Y0Hz1xnm: message-id=<a@b>");
        assert_eq!(d.fields["queue_id"], "3TbBwQ1Y0Hz1xnm");
    }

    #[test]
    fn qmgr_from_size_nrcpt_removed_and_expired() {
        let d = draft(
            "postfix/qmgr",
            "4F2A31C0A1: from=<alice@example.org>, size=1834, nrcpt=3 (queue active)",
        );
        assert_eq!(d.fields["from"], "alice@example.org");
        assert_eq!(d.fields["size"], 1834);
        assert_eq!(d.fields["nrcpt"], 3);
        let d = draft("postfix/qmgr", "4F2A31C0A1: removed");
        assert_eq!(d.fields["status"], "removed");
        let d = draft(
            "postfix/qmgr",
            "4F2A31C0A1: from=<alice@example.org>, status=expired, returned to sender",
        );
        assert_eq!(d.fields["status"], "expired");
        let d = draft(
            "postfix/qmgr",
            "4F2A31C0A1: from=<>, size=2211, nrcpt=1 (queue active)",
        );
        assert_eq!(d.fields["from"], "");
    }

    #[test]
    fn delivery_lines_give_recipient_relay_delays_status_and_next_queue() {
        let d = draft(
            "postfix/smtp",
            "4F2A31C0A1: to=<bob@example.com>, orig_to=<b@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.2, delays=0.1/0/0.05/1.05, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 7B3C41C0B2)",
        );
        assert_eq!(d.fields["to"], "bob@example.com");
        assert_eq!(d.fields["orig_to"], "b@example.com");
        assert_eq!(d.fields["relay"], "127.0.0.1[127.0.0.1]:10024");
        assert_eq!(d.fields["delay"], 1.2);
        assert_eq!(d.fields["delays"], "0.1/0/0.05/1.05");
        assert_eq!(d.fields["dsn"], "2.0.0");
        assert_eq!(d.fields["status"], "sent");
        assert_eq!(d.fields["queued_as"], "7B3C41C0B2");
        assert!(
            d.fields["status_text"]
                .as_str()
                .unwrap()
                .starts_with("250 2.0.0 from MTA")
        );
        let d = draft(
            "postfix/lmtp",
            "7B3C41C0B2: to=<bob@example.com>, relay=mbox1.example.com[10.0.0.21]:7025, conn_use=2, delay=0.31, delays=0.1/0/0.1/0.11, dsn=2.1.5, status=sent (250 2.1.5 Delivery OK)",
        );
        assert_eq!(d.fields["relay"], "mbox1.example.com[10.0.0.21]:7025");
        assert_eq!(d.fields["delay"], 0.31);
        assert!(!d.fields.contains_key("queued_as"));
        let d = draft(
            "postfix/smtp",
            "9A1B2C3D4E: to=<x@example.net>, relay=none, delay=30, delays=0.02/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.net[198.51.100.7]:25: Connection timed out)",
        );
        assert_eq!(d.fields["status"], "deferred");
        assert_eq!(d.fields["delay"], 30);
        assert_eq!(d.fields["dsn"], "4.4.1");
        assert_eq!(
            d.fields["status_text"],
            "connect to mx.example.net[198.51.100.7]:25: Connection timed out"
        );
    }

    #[test]
    fn bounce_names_the_notification() {
        let d = draft(
            "postfix/bounce",
            "9A1B2C3D4E: sender non-delivery notification: 5E6F71C0C3",
        );
        assert_eq!(d.fields["queue_id"], "9A1B2C3D4E");
        assert_eq!(d.fields["notification"], "non-delivery");
        assert_eq!(d.fields["notification_id"], "5E6F71C0C3");
    }

    #[test]
    fn pickup_postscreen_and_rejects() {
        let d = draft("postfix/pickup", "1C2D3E4F5A: uid=1000 from=<alice>");
        assert_eq!(d.fields["uid"], 1000);
        assert_eq!(d.fields["from"], "alice");
        let d = draft(
            "postfix/postscreen",
            "CONNECT from [203.0.113.5]:40000 to [192.0.2.1]:25",
        );
        assert_eq!(d.fields["action"], "CONNECT");
        assert_eq!(d.fields["ip"], "203.0.113.5");
        let d = draft("postfix/postscreen", "PASS NEW [203.0.113.5]:40000");
        assert_eq!(d.fields["action"], "PASS NEW");
        let d = draft(
            "postfix/smtpd",
            "NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 <x@example.net>: Relay access denied; from=<spam@example.biz> to=<x@example.net> proto=ESMTP helo=<spam>",
        );
        assert_eq!(d.fields["status"], "rejected");
        assert_eq!(d.fields["dsn"], "5.7.1");
        assert_eq!(d.fields["from"], "spam@example.biz");
        assert_eq!(d.fields["to"], "x@example.net");
        assert_eq!(d.fields["ip"], "203.0.113.9");
    }

    #[test]
    fn other_lines_are_left_alone() {
        for (app, m) in [
            ("postfix/master", "daemon started -- version 3.7.11"),
            ("postfix/smtpd", "warning: hostname x does not resolve"),
            ("postfix/postscreen", "cache btree:/x full cleanup"),
            ("postfix/smtpd", "NOQUEUE: x"),
            ("postfix/qmgr", "ABCD: short"),
            ("postfix/qmgr", "ÄÖÜÄÖÜ: x"),
            (
                "postfix/smtpd",
                "warning: unknown[1.2.3.4]: SASL LOGIN authentication failed",
            ),
            ("postfix/anvil", "statistics: max connection rate 1/60s"),
        ] {
            let mut d = Draft::plain("/x", m.to_owned());
            d.app = app.into();
            assert!(!enrich(&mut d), "{m}");
            assert!(d.fields.is_empty(), "{m}");
        }
    }
}

//! amavisd-new's verdict line inside syslog (app `amavis` or `amavisd`): what the content filter
//! decided about a message, and the queue id it handed the message back to postfix under.
//!
//! ```text
//! (09347-01) Passed CLEAN {RelayedInbound}, [203.0.113.5]:40712 [203.0.113.5] <alice@example.org> -> <bob@example.com>,<carol@example.com>, Queue-ID: 4F2A31C0A1, Message-ID: <x@example.org>, mail_id: TpW3bZ1x, Hits: -1.9, size: 1834, queued_as: 7B3C41C0B2, 1042 ms
//! (09347-02) Blocked SPAM {DiscardedInbound,Quarantined}, [ip]:port [ip] <a> -> <b>, quarantine: spam-x.gz, Queue-ID: ..., Message-ID: ..., mail_id: ..., Hits: 12.3, size: 2345, 820 ms
//! (09347-01) Passed CLEAN, [127.0.0.1] [203.0.113.5] <a> -> <b>, Message-ID: <x>, mail_id: y, Hits: -1.9, size: 1834, queued_as: 7B3C41C0B2, 1042 ms   (amavisd-new 2.5, Zimbra 6/7)
//! ```
//!
//! Fields: `verdict` (`Passed`, `Blocked`), `content` (`CLEAN`, `SPAM`, `SPAMMY`, `INFECTED`,
//! `BANNED`, `BAD-HEADER`, ...), `from`, `to` (one address as a string, several as a list),
//! `queue_id` (`Queue-ID`), `message_id`, `mail_id`, `hits` (n), `size` (n), `queued_as`,
//! `quarantine`, `ms` (n). Other amavis lines are left alone.

use logwarden_core::Draft;
use serde_json::Value;

/// Reads a verdict line; returns whether it was one.
pub fn enrich(draft: &mut Draft) -> bool {
    let msg = std::mem::take(&mut draft.message);
    let found = read(&msg, draft);
    draft.message = msg;
    found
}

fn set(draft: &mut Draft, k: &str, v: impl Into<Value>) {
    draft.fields.insert(k.into(), v.into());
}

fn read(msg: &str, draft: &mut Draft) -> bool {
    // `(09347-01) ` first, the log id of the child process and the message.
    let rest = match msg.strip_prefix('(').and_then(|r| r.split_once(") ")) {
        Some((_, r)) => r,
        None => msg,
    };
    let (verdict, rest) = if let Some(r) = rest.strip_prefix("Passed ") {
        ("Passed", r)
    } else if let Some(r) = rest.strip_prefix("Blocked ") {
        ("Blocked", r)
    } else {
        return false;
    };
    let content_end = rest.find([' ', ',']).unwrap_or(rest.len());
    let content = &rest[..content_end];
    if content.is_empty() || !content.bytes().all(|c| c.is_ascii_uppercase() || c == b'-') {
        return false;
    }
    set(draft, "verdict", verdict);
    set(draft, "content", content);

    // `<from> -> <to>,<to>, key: value, key: value, ..., N ms`
    let Some(arrow) = rest.find("> -> <") else {
        return true;
    };
    if let Some(open) = rest[..arrow].rfind('<') {
        set(draft, "from", &rest[open + 1..arrow]);
    }
    let after = &rest[arrow + "> -> ".len()..];
    let mut to = Vec::new();
    let mut s = after;
    while let Some(r) = s.strip_prefix('<') {
        let Some(close) = r.find('>') else { break };
        to.push(Value::from(&r[..close]));
        s = &r[close + 1..];
        match s.strip_prefix(',') {
            Some(r) => s = r,
            None => break,
        }
    }
    match to.len() {
        0 => {}
        1 => set(draft, "to", to.pop().unwrap_or_default()),
        _ => set(draft, "to", to),
    }
    for item in s.split(", ") {
        let item = item.trim();
        if let Some((k, v)) = item.split_once(": ") {
            match k {
                "Queue-ID" => set(draft, "queue_id", v),
                "Message-ID" => set(draft, "message_id", v),
                "mail_id" => set(draft, "mail_id", v),
                "queued_as" => set(draft, "queued_as", v),
                "quarantine" => set(draft, "quarantine", v),
                "Hits" => {
                    if let Ok(h) = v.parse::<f64>()
                        && h.is_finite()
                    {
                        set(draft, "hits", h);
                    }
                }
                "size" => {
                    if let Ok(n) = v.parse::<u64>() {
                        set(draft, "size", n);
                    }
                }
                _ => {}
            }
        } else if let Some(ms) = item.strip_suffix(" ms")
            && let Ok(n) = ms.parse::<u64>()
        {
            set(draft, "ms", n);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(message: &str) -> Draft {
        let mut d = Draft::plain("/var/log/zimbra.log", message.to_owned());
        d.app = "amavis".into();
        enrich(&mut d);
        assert_eq!(d.message, message);
        d
    }

    #[test]
    fn passed_line_gives_verdict_ids_and_the_next_queue() {
        let d = draft(
            "(09347-01) Passed CLEAN {RelayedInbound}, [203.0.113.5]:40712 [203.0.113.5] <alice@example.org> -> <bob@example.com>,<carol@example.com>, Queue-ID: 4F2A31C0A1, Message-ID: <20261205.1a2b@mail.example.org>, mail_id: TpW3bZ1x-Kq2, Hits: -1.9, size: 1834, queued_as: 7B3C41C0B2, 1042 ms",
        );
        assert_eq!(d.fields["verdict"], "Passed");
        assert_eq!(d.fields["content"], "CLEAN");
        assert_eq!(d.fields["from"], "alice@example.org");
        assert_eq!(
            d.fields["to"],
            serde_json::json!(["bob@example.com", "carol@example.com"])
        );
        assert_eq!(d.fields["queue_id"], "4F2A31C0A1");
        assert_eq!(d.fields["message_id"], "<20261205.1a2b@mail.example.org>");
        assert_eq!(d.fields["mail_id"], "TpW3bZ1x-Kq2");
        assert_eq!(d.fields["hits"], -1.9);
        assert_eq!(d.fields["size"], 1834);
        assert_eq!(d.fields["queued_as"], "7B3C41C0B2");
        assert_eq!(d.fields["ms"], 1042);
    }

    #[test]
    fn blocked_and_old_format_lines() {
        let d = draft(
            "(09347-02) Blocked SPAM {DiscardedInbound,Quarantined}, [198.51.100.9]:5123 [198.51.100.9] <x@spam.example> -> <bob@example.com>, quarantine: spam-Zx1.gz, Queue-ID: 5A5A5A5A5A, Message-ID: <s@spam.example>, mail_id: Zx1, Hits: 12.3, size: 2345, 820 ms",
        );
        assert_eq!(d.fields["verdict"], "Blocked");
        assert_eq!(d.fields["content"], "SPAM");
        assert_eq!(d.fields["to"], "bob@example.com");
        assert_eq!(d.fields["quarantine"], "spam-Zx1.gz");
        assert!(!d.fields.contains_key("queued_as"));
        let d = draft(
            "(12345-01) Passed CLEAN, [127.0.0.1] [203.0.113.5] <a@example.org> -> <b@example.com>, Message-ID: <m@example.org>, mail_id: y, Hits: -1.9, size: 1834, queued_as: 7B3C41C0B2, 1042 ms",
        );
        assert_eq!(d.fields["content"], "CLEAN");
        assert_eq!(d.fields["queued_as"], "7B3C41C0B2");
        assert!(!d.fields.contains_key("queue_id"));
    }

    #[test]
    fn other_amavis_lines_are_left_alone() {
        for m in [
            "starting.  /opt/zimbra/amavisd/sbin/amavisd at gauss.domain.com amavisd-new-2.5.4",
            "(09347-01) Passed",
            "(09347-01) Passed lowercase, x",
            "Net::Server: Process Backgrounded",
        ] {
            let mut d = Draft::plain("/x", m.to_owned());
            d.app = "amavis".into();
            assert!(!enrich(&mut d), "{m}");
            assert!(d.fields.is_empty(), "{m}");
        }
    }
}

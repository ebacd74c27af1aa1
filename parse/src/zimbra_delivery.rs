//! Zimbra's side of a delivery, in `mailbox.log`: the LMTP server taking a message from postfix
//! and the mailbox adding it to a folder. `logwarden trace` joins them to postfix's `lmtp` line
//! by the message-id.
//!
//! | category - message | fields |
//! |---|---|
//! | `lmtp - Delivering message: size=840 bytes, nrcpts=2, sender=alice@example.org, msgid=<x@example.org>` | `size` (n), `nrcpt` (n), `from`, `message_id` |
//! | `smtp - Sending message to MTA at mta2.example.com, port 25: Message-ID=<x@example.com>, replyType=r` | `relay`, `message_id`, `from` (the context's account) |
//! | `mailop - Adding Message: id=258, Message-ID=<x@example.org>, parentId=-1, folderId=2, folderName=Inbox.` | `item_id` (n), `message_id`, `folder_id` (n), `folder`; on an LMTP thread also `to` (the context's account: the recipient) |
//!
//! The formats are Zimbra's `ZimbraLmtpBackend.logEnvelope`, `MailSender.logMessage` and
//! `Mailbox.addMessage`'s log line. Only lines of those three categories are looked at.

use logwarden_core::Draft;
use serde_json::Value;

fn set(draft: &mut Draft, k: &str, v: impl Into<Value>) {
    draft.fields.insert(k.into(), v.into());
}

fn number(s: &str) -> Value {
    match s.parse::<i64>() {
        Ok(n) => n.into(),
        Err(_) => s.into(),
    }
}

/// Reads the message of a log4j line of category `category`.
pub fn enrich(category: &str, message: &str, draft: &mut Draft) {
    match category {
        "lmtp" => {
            if let Some(rest) = message.strip_prefix("Delivering message: ") {
                for (k, v) in pairs(rest) {
                    match k {
                        "size" => {
                            set(draft, "size", number(v.trim_end_matches(" bytes")));
                        }
                        "nrcpts" => set(draft, "nrcpt", number(v)),
                        "sender" => set(draft, "from", v),
                        "msgid" if !v.is_empty() => set(draft, "message_id", v),
                        _ => {}
                    }
                }
            }
        }
        "smtp" => {
            // `Sending message to MTA at HOST, port 25: Message-ID=<x>, replyType=r` (older:
            // `at HOST: Message-ID=...`)
            if let Some(rest) = message.strip_prefix("Sending message to MTA at ")
                && let Some((relay, rest)) = rest.split_once(": ")
            {
                set(
                    draft,
                    "relay",
                    relay.split(", port").next().unwrap_or(relay),
                );
                for (k, v) in pairs(rest) {
                    if k == "Message-ID" && !v.is_empty() {
                        set(draft, "message_id", v);
                    }
                }
                if let Some(account) = draft.fields.get("account").and_then(Value::as_str) {
                    let account = account.to_owned();
                    set(draft, "from", account);
                }
            }
        }
        "mailop" => {
            if let Some(rest) = message.strip_prefix("Adding Message: ") {
                for (k, v) in pairs(rest) {
                    match k {
                        "id" => set(draft, "item_id", number(v)),
                        "Message-ID" if !v.is_empty() => set(draft, "message_id", v),
                        "folderId" => set(draft, "folder_id", number(v)),
                        "folderName" => {
                            let v = v.split(" acct=").next().unwrap_or(v);
                            set(draft, "folder", v.strip_suffix('.').unwrap_or(v));
                        }
                        _ => {}
                    }
                }
                let on_lmtp = draft
                    .fields
                    .get("thread")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.starts_with("LmtpServer"));
                if on_lmtp
                    && let Some(account) = draft.fields.get("account").and_then(Value::as_str)
                {
                    let account = account.to_owned();
                    set(draft, "to", account);
                }
            }
        }
        _ => {}
    }
}

/// `key=value, key=value`: a value runs to the next `, key=` (a message-id holds no `, `).
fn pairs(s: &str) -> impl Iterator<Item = (&str, &str)> {
    s.trim_end().split(", ").filter_map(|p| p.split_once('='))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{Format, LineParser, ParseOptions, Zone};

    fn parse(line: &str) -> logwarden_core::Draft {
        let mut p = LineParser::with_options(
            Path::new("/opt/zimbra/log/mailbox.log"),
            Format::Auto,
            &ParseOptions {
                zone: Zone::Utc,
                reference: None,
                host_from_line: false,
            },
        );
        p.parse(line.as_bytes())
    }

    #[test]
    fn lmtp_delivering_gives_size_recipients_sender_and_message_id() {
        let d = parse(
            "2026-12-05 10:00:03,242 INFO  [LmtpServer-7] [ip=10.0.0.11;] lmtp - Delivering message: size=1834 bytes, nrcpts=2, sender=alice@example.org, msgid=<20261205.1a2b@mail.example.org>",
        );
        assert_eq!(d.fields["category"], "lmtp");
        assert_eq!(d.fields["size"], 1834);
        assert_eq!(d.fields["nrcpt"], 2);
        assert_eq!(d.fields["from"], "alice@example.org");
        assert_eq!(d.fields["message_id"], "<20261205.1a2b@mail.example.org>");
    }

    #[test]
    fn sending_to_the_mta_names_relay_sender_and_message_id() {
        let d = parse(
            "2026-12-04 10:04:58,120 INFO  [qtp1-211:https://10.0.0.21:443/service/soap/SendMsgRequest] [name=bob@example.com;mid=7;ip=198.51.100.30;] smtp - Sending message to MTA at mta2.example.com, port 25: Message-ID=<c3.20261204@example.com>, replyType=r",
        );
        assert_eq!(d.fields["relay"], "mta2.example.com");
        assert_eq!(d.fields["message_id"], "<c3.20261204@example.com>");
        assert_eq!(d.fields["from"], "bob@example.com");
    }

    #[test]
    fn adding_message_on_an_lmtp_thread_names_recipient_and_folder() {
        let d = parse(
            "2026-12-05 10:00:03,301 INFO  [LmtpServer-7] [name=bob@example.com;mid=12;ip=10.0.0.11;] mailop - Adding Message: id=258, Message-ID=<20261205.1a2b@mail.example.org>, parentId=-1, folderId=2, folderName=Inbox.",
        );
        assert_eq!(d.fields["item_id"], 258);
        assert_eq!(d.fields["message_id"], "<20261205.1a2b@mail.example.org>");
        assert_eq!(d.fields["folder_id"], 2);
        assert_eq!(d.fields["folder"], "Inbox");
        assert_eq!(d.fields["to"], "bob@example.com");
        // The same line from a SOAP request (a draft saved, a message moved) is not a delivery.
        let d = parse(
            "2026-12-05 10:00:03,301 INFO  [qtp1-7:https://x/service/soap/SaveDraftRequest] [name=bob@example.com;mid=12;] mailop - Adding Message: id=259, Message-ID=<d@example.com>, parentId=-1, folderId=6, folderName=Drafts.",
        );
        assert_eq!(d.fields["folder"], "Drafts");
        assert!(!d.fields.contains_key("to"));
    }
}

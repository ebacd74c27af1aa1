//! The trace over the mail corpus of `tests/data/mail/` (see its SOURCES.md for the scenarios),
//! parsed by the agent's parsers and indexed directly. `tests/tests/trace.rs` does the same
//! through the real binaries.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use logwarden_core::EventId;
use logwarden_core::trace::{TraceParams, TraceResponse, TraceTarget, TracedMessage};
use logwarden_parse::{Format, LineParser, ParseOptions, Zone};

use super::*;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/mail")
}

/// Every line of the corpus as an event (host from the line, or the folder's name for the
/// mailbox logs), in the order given.
pub(crate) fn corpus_events(order: &[&str]) -> Vec<Event> {
    let now = Utc::now();
    let mut out = Vec::new();
    for (n, host) in order.iter().enumerate() {
        let dir = corpus_dir().join(host);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let mut p = LineParser::with_options(
                &path,
                Format::Auto,
                &ParseOptions {
                    zone: Zone::Utc,
                    reference: Some(now),
                    // As the syslog intake reads them; the folder's host is the same.
                    host_from_line: true,
                },
            );
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, line) in text.lines().enumerate() {
                let d = p.parse(line.as_bytes());
                out.push(d.into_event(
                    EventId::new(format!("agent-{host}"), (n * 10_000 + i + 1) as u64),
                    host,
                    "phx",
                    now,
                ));
            }
        }
    }
    out
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

struct Fixture {
    _dir: tempfile::TempDir,
    catalog: Arc<Catalog>,
}

fn fixture() -> Fixture {
    let events = corpus_events(&["mbox2", "mta2", "mbox1", "mta1"]);
    let (dir, searcher) = crate::search::tests::searcher_with(&events);
    Fixture {
        _dir: dir,
        catalog: searcher.catalog().clone(),
    }
}

impl Fixture {
    fn trace(&self, q: &str) -> TraceResponse {
        let params = TraceParams {
            q: q.into(),
            since: Some("2026-12-01T00:00:00Z".into()),
            ..TraceParams::default()
        };
        trace(self.catalog.clone(), &params, at("2026-12-05T00:00:00Z")).unwrap()
    }

    fn one(&self, q: &str) -> TracedMessage {
        let r = self.trace(q);
        assert_eq!(r.messages.len(), 1, "{q}: {:#?}", r.messages);
        r.messages.into_iter().next().unwrap()
    }
}

/// Every hop of `m` is one of the lines naming one of `ids` (queue ids or message-ids), and
/// every such line is a hop: nothing missing, nothing mixed in.
fn assert_hops_are_exactly(m: &TracedMessage, ids: &[&str], expected: usize) {
    for h in &m.hops {
        let e = h.what.clone();
        assert!(
            h.queue_id.as_deref().is_some_and(|q| ids.contains(&q))
                || ids.iter().any(|id| e.contains(id))
                || h.component.starts_with("mailbox"),
            "hop not of this message: {h:?}"
        );
    }
    assert_eq!(
        m.hops.len(),
        expected,
        "{:#?}",
        m.hops.iter().map(|h| &h.what).collect::<Vec<_>>()
    );
}

fn recipient<'a>(m: &'a TracedMessage, addr: &str) -> &'a logwarden_core::trace::RecipientStatus {
    m.recipients
        .iter()
        .find(|r| r.address == addr)
        .unwrap_or_else(|| panic!("{addr} not among {:#?}", m.recipients))
}

#[test]
fn one_message_through_amavis_a_second_queue_and_lmtp_into_the_mailbox() {
    let f = fixture();
    let m = f.one("4A1B2C3D01");
    assert_eq!(m.queues, ["mta1/4A1B2C3D01", "mta1/7C1D2E3F02"]);
    assert_eq!(
        m.message_id.as_deref(),
        Some("<a1.20261204@sender.example.org>")
    );
    assert_eq!(m.from.as_deref(), Some("alice@sender.example.org"));
    // 5 lines of the first queue, the verdict, 5 of the second, 2 on the mailbox host.
    assert_hops_are_exactly(&m, &["4A1B2C3D01", "7C1D2E3F02"], 5 + 1 + 5 + 2);
    let mbox: Vec<_> = m.hops.iter().filter(|h| h.host == "mbox1").collect();
    assert_eq!(mbox.len(), 2);
    assert!(m.hops.iter().any(|h| h.component == "amavis"));
    assert_eq!(m.recipients.len(), 1);
    let bob = recipient(&m, "bob@example.com");
    assert_eq!(
        (
            bob.status.as_str(),
            bob.host.as_deref(),
            bob.folder.as_deref()
        ),
        ("delivered", Some("mbox1"), Some("Inbox"))
    );
    assert_eq!(m.status, "delivered");
    // The delay since the previous hop: the filter took 1.31 s after qmgr.
    assert!(m.hops[0].delay_s.is_none());
    assert!(m.hops.iter().skip(1).all(|h| h.delay_s.is_some()));
    // The same message from its second queue id and from its message-id.
    assert_eq!(f.one("7C1D2E3F02").hops, m.hops);
    assert_eq!(f.one("<a1.20261204@sender.example.org>").hops, m.hops);
}

#[test]
fn three_recipients_on_two_mailbox_hosts() {
    let f = fixture();
    let m = f.one("<b2.20261204@partner.example.net>");
    assert_eq!(m.queues, ["mta1/5B2C3D4E05", "mta1/8D3E4F5A06"]);
    // 3 + 3 smtp + removed, the verdict, 3 + 3 lmtp + removed, 3 on mbox1, 2 on mbox2.
    assert_hops_are_exactly(&m, &["5B2C3D4E05", "8D3E4F5A06"], 7 + 1 + 7 + 3 + 2);
    let got: Vec<_> = m
        .recipients
        .iter()
        .map(|r| {
            (
                r.address.as_str(),
                r.status.as_str(),
                r.host.as_deref().unwrap_or(""),
                r.folder.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("carol@example.com", "delivered", "mbox1", "Inbox"),
            ("dave@example.com", "delivered", "mbox1", "Partners"),
            ("erin@example.com", "delivered", "mbox2", "Inbox"),
        ]
    );
}

#[test]
fn deferred_then_sent_on_retry() {
    let f = fixture();
    let m = f.one("6C1A2B3C07");
    assert_eq!(m.queues, ["mta2/6C1A2B3C07"]);
    let statuses: Vec<_> = m
        .hops
        .iter()
        .filter(|h| h.component == "postfix/smtp")
        .map(|h| h.what.split(' ').next().unwrap())
        .collect();
    assert_eq!(statuses, ["deferred", "sent"]);
    let grace = recipient(&m, "grace@remote.example.net");
    assert_eq!(grace.status, "sent");
    assert_eq!(grace.host.as_deref(), Some("mx.remote.example.net"));
    assert_eq!(grace.dsn.as_deref(), Some("2.0.0"));
    // The mailbox host's side: sent to the MTA, a copy in Sent (not a delivery).
    assert!(
        m.hops
            .iter()
            .any(|h| h.host == "mbox1" && h.what.contains("to the MTA at mta2.example.com"))
    );
    assert_eq!(m.recipients.len(), 1);
    // Ten minutes between the deferral and the retry.
    let retry = m
        .hops
        .iter()
        .find(|h| h.what.starts_with("queued from") && h.ts > at("2026-12-04T10:10:00Z"))
        .unwrap();
    assert!(retry.delay_s.unwrap() > 590.0);
}

#[test]
fn bounced_with_a_notification() {
    let f = fixture();
    let m = f.one("7D2B3C4D08");
    assert_eq!(m.queues, ["mta2/7D2B3C4D08", "mta2/8E3C4D5E09"]);
    let nobody = recipient(&m, "nobody@remote.example.net");
    assert_eq!(nobody.status, "bounced");
    assert_eq!(nobody.dsn.as_deref(), Some("5.1.1"));
    assert!(nobody.detail.as_deref().unwrap().contains("User unknown"));
    assert_eq!(
        m.recipients.len(),
        1,
        "the notification's recipient is not the message's"
    );
    assert_eq!(m.status, "bounced");
    let notification: Vec<_> = m.hops.iter().filter(|h| h.notification).collect();
    // Its cleanup, qmgr, lmtp, removed on mta2 and the two lines on mbox1.
    assert_eq!(notification.len(), 6, "{notification:#?}");
    assert!(
        m.hops
            .iter()
            .any(|h| h.what == "non-delivery notification queued as 8E3C4D5E09")
    );
    // Traced from the notification's queue id: the same story, from the message that bounced.
    assert_eq!(f.one("8E3C4D5E09").hops, m.hops);
}

#[test]
fn a_queue_id_reused_an_hour_later_is_two_messages() {
    let f = fixture();
    let r = f.trace("9F0E1D2C03");
    assert_eq!(r.target, TraceTarget::QueueId);
    assert_eq!(r.messages.len(), 2);
    let (newer, older) = (&r.messages[0], &r.messages[1]);
    assert_eq!(
        newer.message_id.as_deref(),
        Some("<e2.20261204@sender.example.org>")
    );
    assert_eq!(
        older.message_id.as_deref(),
        Some("<e1.20261204@sender.example.org>")
    );
    assert_hops_are_exactly(newer, &["9F0E1D2C03"], 5 + 2);
    assert_hops_are_exactly(older, &["9F0E1D2C03"], 5 + 2);
    assert!(newer.hops.iter().all(|h| h.ts > at("2026-12-04T11:30:00Z")));
    assert!(older.hops.iter().all(|h| h.ts < at("2026-12-04T11:30:00Z")));
    assert_eq!(
        recipient(newer, "erin@example.com").host.as_deref(),
        Some("mbox2")
    );
    assert_eq!(
        recipient(older, "bob@example.com").host.as_deref(),
        Some("mbox1")
    );
    // By message-id: only that one; also pasted without its <>.
    assert_eq!(f.one("<e1.20261204@sender.example.org>").hops, older.hops);
    let r = f.trace("e1.20261204@sender.example.org");
    assert_eq!(r.target, TraceTarget::MessageId);
    assert_eq!(r.messages.len(), 1);
    assert_eq!(r.messages[0].hops, older.hops);
}

#[test]
fn an_address_lists_its_messages_newest_first() {
    let f = fixture();
    let r = f.trace("bob@example.com");
    assert_eq!(r.target, TraceTarget::Address);
    let ids: Vec<_> = r
        .messages
        .iter()
        .map(|m| m.message_id.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(
        ids,
        [
            "<e1.20261204@sender.example.org>",
            "<d4.20261204@example.com>",
            "<c3.20261204@example.com>",
            "<a1.20261204@sender.example.org>",
        ]
    );
    let statuses: Vec<_> = r.messages.iter().map(|m| m.status.as_str()).collect();
    assert_eq!(statuses, ["delivered", "bounced", "sent", "delivered"]);
    // --host narrows where the address is looked for.
    let params = TraceParams {
        q: "erin@example.com".into(),
        since: Some("2026-12-01T00:00:00Z".into()),
        host: Some("MBOX2".into()),
        ..TraceParams::default()
    };
    let r = trace(f.catalog.clone(), &params, at("2026-12-05T00:00:00Z")).unwrap();
    assert_eq!(r.messages.len(), 2);
}

#[test]
fn picked_up_deferred_then_expired() {
    let f = fixture();
    let m = f.one("C0DE5A1B2C");
    assert_eq!(m.queues, ["mta2/C0DE5A1B2C", "mta2/D1E2F3A4B5"]);
    assert_eq!(m.from.as_deref(), Some("backup-report@mta2.example.com"));
    let ops = recipient(&m, "ops@partner.example.net");
    assert_eq!(ops.status, "expired");
    assert!(
        ops.detail
            .as_deref()
            .unwrap()
            .contains("Connection refused")
    );
    assert_eq!(m.status, "expired");
    assert_eq!(m.recipients.len(), 1);
    assert!(m.hops[0].what.starts_with("picked up from uid 1000"));
    assert_eq!(m.hops.iter().filter(|h| h.notification).count(), 4);
    let expired = m
        .hops
        .iter()
        .position(|h| h.what.starts_with("expired"))
        .unwrap();
    let removed = m
        .hops
        .iter()
        .position(|h| {
            h.what == "removed from the queue" && h.queue_id.as_deref() == Some("C0DE5A1B2C")
        })
        .unwrap();
    assert!(expired < removed);
    // An hour in the deferred queue shows as the delay before the expiry.
    assert!(m.hops[expired].delay_s.unwrap() > 3590.0);
}

#[test]
fn rejected_and_blocked_mail_says_so() {
    let f = fixture();
    let m = f.one("AB12CD34EF");
    assert_eq!(m.status, "blocked");
    let carol = recipient(&m, "carol@example.com");
    assert_eq!(carol.status, "blocked");
    assert_eq!(carol.detail.as_deref(), Some("SPAM (content filter)"));
    let r = f.trace("carol@example.com");
    let got: Vec<_> = r
        .messages
        .iter()
        .map(|m| (m.status.as_str(), m.from.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        got,
        [
            ("blocked", "offers@spam.example.biz"),
            ("rejected", "promo@spam.example.biz"),
            ("delivered", "frank@partner.example.net"),
        ]
    );
    let rejected = &r.messages[1];
    assert_eq!(rejected.hops.len(), 1);
    assert_eq!(rejected.recipients[0].dsn.as_deref(), Some("5.7.1"));
}

#[test]
fn nothing_found_and_malformed_queries() {
    let f = fixture();
    assert!(f.trace("ABCDEF0123").messages.is_empty());
    assert!(f.trace("nobody@nowhere.example").messages.is_empty());
    for bad in [
        "",
        "a b",
        "x",
        "<unclosed",
        "@example.com",
        "4A1B2C3D01!",
        "\"q\"",
    ] {
        let params = TraceParams {
            q: bad.into(),
            ..TraceParams::default()
        };
        match trace(f.catalog.clone(), &params, Utc::now()) {
            Err(TraceError::BadParam(m)) => assert!(m.contains("is not a queue id"), "{m}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let params = TraceParams {
        q: "4A1B2C3D01".into(),
        since: Some("soon".into()),
        ..TraceParams::default()
    };
    assert!(matches!(
        trace(f.catalog.clone(), &params, Utc::now()),
        Err(TraceError::BadParam(_))
    ));
}

#[test]
fn classify_reads_each_form() {
    assert_eq!(classify("4A1B2C3D01"), Ok(TraceTarget::QueueId));
    assert_eq!(classify("3TbBwQ1Y0Hz1xnm"), Ok(TraceTarget::QueueId));
    assert_eq!(classify("<a@b>"), Ok(TraceTarget::MessageId));
    assert_eq!(classify("a@b.example"), Ok(TraceTarget::Address));
    assert!(classify("<>").is_err());
}

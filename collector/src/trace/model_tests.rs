//! The trace against schedules it did not choose: a seeded generator writes the logs of many
//! messages through two MTAs (one with amavis) and two mailbox hosts, drawing queue ids from a
//! small pool so that ids are reused all day (never while in use, as postfix does), with
//! deferrals, retries, bounces and their notifications. Every message is then traced from its
//! first queue id and from its message-id, and must come back with exactly its own lines and the
//! recipient statuses the model gave it.
//!
//! Replay a failure with `TRACE_MODEL_SEED=N cargo test -p logwarden-collector --lib trace::model`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use logwarden_core::EventId;
use logwarden_core::trace::TraceParams;
use logwarden_parse::{Format, LineParser, ParseOptions, Zone};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::*;

const LOCAL: [(&str, &str); 4] = [
    ("bob@example.com", "mbox1"),
    ("carol@example.com", "mbox1"),
    ("erin@example.com", "mbox2"),
    ("frank@example.com", "mbox2"),
];

fn base() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-04T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

struct Line {
    host: &'static str,
    log4j: bool,
    text: String,
    owner: usize,
}

#[derive(Default)]
struct Expect {
    first_queue: (String, String),
    message_id: String,
    recipients: BTreeMap<String, (String, String)>,
}

struct Gen {
    rng: StdRng,
    lines: Vec<Line>,
    busy: HashMap<(&'static str, String), Vec<(i64, i64)>>,
    pool: Vec<String>,
    pid: u32,
}

impl Gen {
    fn stamp(ms: i64) -> DateTime<Utc> {
        base() + Duration::milliseconds(ms)
    }

    fn syslog(&mut self, owner: usize, host: &'static str, ms: i64, app: &str, msg: String) {
        self.pid += 1;
        let ts = Self::stamp(ms).format("%Y-%m-%dT%H:%M:%S%.6f+00:00");
        self.lines.push(Line {
            host,
            log4j: false,
            text: format!("{ts} {host} {app}[{}]: {msg}", self.pid),
            owner,
        });
    }

    fn log4j(&mut self, owner: usize, host: &'static str, ms: i64, ctx: &str, msg: String) {
        let ts = Self::stamp(ms).format("%Y-%m-%d %H:%M:%S,%3f");
        self.lines.push(Line {
            host,
            log4j: true,
            text: format!("{ts} INFO  [LmtpServer-{}] [{ctx}] {msg}", owner % 9),
            owner,
        });
    }

    /// A queue id free on `host` over [from, to] (ms), mostly from the small pool.
    fn qid(&mut self, host: &'static str, from: i64, to: i64) -> String {
        for _ in 0..8 {
            let id = self.pool.choose(&mut self.rng).unwrap().clone();
            let spans = self.busy.entry((host, id.clone())).or_default();
            if spans.iter().all(|&(a, b)| to + 2000 < a || from > b + 2000) {
                spans.push((from, to));
                return id;
            }
        }
        let id = format!("{:010X}", self.rng.random::<u64>() & 0xFF_FFFF_FFFF);
        self.busy
            .entry((host, id.clone()))
            .or_default()
            .push((from, to));
        id
    }

    fn mailbox(
        &mut self,
        owner: usize,
        host: &'static str,
        ms: i64,
        from: &str,
        mid: &str,
        rcpts: &[&str],
    ) {
        self.log4j(
            owner,
            host,
            ms - 150,
            "ip=10.0.0.11;",
            format!(
                "lmtp - Delivering message: size=2000 bytes, nrcpts={}, sender={from}, msgid={mid}",
                rcpts.len()
            ),
        );
        for (i, r) in rcpts.iter().enumerate() {
            self.log4j(
                owner,
                host,
                ms - 100 + i as i64,
                &format!("name={r};mid=7;ip=10.0.0.11;"),
                format!("mailop - Adding Message: id={}, Message-ID={mid}, parentId=-1, folderId=2, folderName=Inbox.", owner * 10 + i),
            );
        }
    }

    /// A message from outside, through mta1 (amavis or not), to local recipients; an unknown
    /// one bounces, and the notification goes back out.
    fn inbound(&mut self, k: usize, t0: i64) -> Expect {
        let sender = format!("s{k}@sender.example.org");
        let mid = format!("<m{k}.{}@sender.example.org>", self.rng.random::<u32>());
        let amavis = self.rng.random_bool(0.6);
        let n = self.rng.random_range(1..=3);
        let mut rcpts: Vec<(&str, Option<&'static str>)> = Vec::new();
        for (addr, host) in LOCAL.choose_multiple(&mut self.rng, n) {
            rcpts.push((addr, Some(host)));
        }
        if self.rng.random_bool(0.2) {
            rcpts.push(("nobody@example.com", None));
        }
        let mut e = Expect {
            message_id: mid.clone(),
            ..Expect::default()
        };
        let (q1_end, q2_start) = (t0 + 1330, t0 + 1200);
        let deliver_at = if amavis { t0 + 1700 } else { t0 + 500 };
        let bounced = rcpts.iter().any(|(_, h)| h.is_none());
        let last_end = deliver_at + 10;
        let q1 = self.qid("mta1", t0, if amavis { q1_end } else { last_end });
        e.first_queue = ("mta1".into(), q1.clone());
        let client = "mail.sender.example.org[203.0.113.5]";
        self.syslog(
            k,
            "mta1",
            t0,
            "postfix/smtpd",
            format!("{q1}: client={client}"),
        );
        self.syslog(
            k,
            "mta1",
            t0 + 100,
            "postfix/cleanup",
            format!("{q1}: message-id={mid}"),
        );
        self.syslog(
            k,
            "mta1",
            t0 + 200,
            "postfix/qmgr",
            format!(
                "{q1}: from=<{sender}>, size=1500, nrcpt={} (queue active)",
                rcpts.len()
            ),
        );
        let dq = if amavis {
            let q2 = self.qid("mta1", q2_start, last_end);
            self.syslog(
                k,
                "mta1",
                q2_start,
                "postfix/amavisd/smtpd",
                format!("{q2}: client=localhost[127.0.0.1]"),
            );
            self.syslog(
                k,
                "mta1",
                q2_start + 50,
                "postfix/cleanup",
                format!("{q2}: message-id={mid}"),
            );
            self.syslog(
                k,
                "mta1",
                q2_start + 100,
                "postfix/qmgr",
                format!(
                    "{q2}: from=<{sender}>, size=2100, nrcpt={} (queue active)",
                    rcpts.len()
                ),
            );
            let to: Vec<String> = rcpts.iter().map(|(a, _)| format!("<{a}>")).collect();
            self.syslog(k, "mta1", t0 + 1310, "amavis", format!("({k:05}-01) Passed CLEAN {{RelayedInbound}}, [203.0.113.5]:4000 [203.0.113.5] <{sender}> -> {}, Queue-ID: {q1}, Message-ID: {mid}, mail_id: x{k}, Hits: 0.1, size: 1500, queued_as: {q2}, 900 ms", to.join(",")));
            for (a, _) in &rcpts {
                self.syslog(k, "mta1", t0 + 1320, "postfix/smtp", format!("{q1}: to=<{a}>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.3, delays=0.1/0/0/1.2, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as {q2})"));
            }
            self.syslog(k, "mta1", q1_end, "postfix/qmgr", format!("{q1}: removed"));
            q2
        } else {
            q1.clone()
        };
        let mut by_host: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (a, h) in &rcpts {
            if let Some(h) = h {
                by_host.entry(h).or_default().push(a);
            }
        }
        for (h, addrs) in &by_host {
            let h: &'static str = if *h == "mbox1" { "mbox1" } else { "mbox2" };
            self.mailbox(k, h, deliver_at, &sender, &mid, addrs);
        }
        for (a, h) in &rcpts {
            match h {
                Some(h) => {
                    self.syslog(k, "mta1", deliver_at, "postfix/lmtp", format!("{dq}: to=<{a}>, relay={h}.example.com[10.0.0.2]:7025, delay=0.4, delays=0.1/0/0.1/0.2, dsn=2.1.5, status=sent (250 2.1.5 Delivery OK)"));
                    e.recipients
                        .insert(a.to_string(), ("delivered".into(), h.to_string()));
                }
                None => {
                    self.syslog(k, "mta1", deliver_at, "postfix/lmtp", format!("{dq}: to=<{a}>, relay=mbox1.example.com[10.0.0.2]:7025, delay=0.4, delays=0.1/0/0.1/0.2, dsn=5.1.1, status=bounced (host mbox1.example.com[10.0.0.2] said: 550 5.1.1 No such user (in reply to RCPT TO command))"));
                    e.recipients.insert(
                        a.to_string(),
                        ("bounced".into(), "mbox1.example.com".into()),
                    );
                }
            }
        }
        if bounced {
            let qn = self.qid("mta1", deliver_at + 5, deliver_at + 510);
            self.syslog(
                k,
                "mta1",
                deliver_at + 5,
                "postfix/cleanup",
                format!("{qn}: message-id=<n{k}.{qn}@mta1.example.com>"),
            );
            self.syslog(
                k,
                "mta1",
                deliver_at + 6,
                "postfix/bounce",
                format!("{dq}: sender non-delivery notification: {qn}"),
            );
            self.syslog(
                k,
                "mta1",
                deliver_at + 7,
                "postfix/qmgr",
                format!("{qn}: from=<>, size=3000, nrcpt=1 (queue active)"),
            );
            self.syslog(k, "mta1", deliver_at + 500, "postfix/smtp", format!("{qn}: to=<{sender}>, relay=mx.sender.example.org[203.0.113.5]:25, delay=0.5, delays=0/0/0.2/0.3, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as Q{k}X)"));
            self.syslog(
                k,
                "mta1",
                deliver_at + 510,
                "postfix/qmgr",
                format!("{qn}: removed"),
            );
        }
        self.syslog(
            k,
            "mta1",
            last_end,
            "postfix/qmgr",
            format!("{dq}: removed"),
        );
        e
    }

    /// A local user's message out through mta2 to remote recipients: sent, deferred then sent
    /// on the retry, or bounced with a notification back into the sender's mailbox.
    fn outbound(&mut self, k: usize, t0: i64) -> Expect {
        let &(sender, mbox) = LOCAL.choose(&mut self.rng).unwrap();
        let mid = format!("<o{k}.{}@example.com>", self.rng.random::<u32>());
        let n = self.rng.random_range(1..=2);
        let outcomes: Vec<(String, u8)> = (0..n)
            .map(|i| {
                (
                    format!("r{k}x{i}@remote{i}.example.net"),
                    self.rng.random_range(0..3u8),
                )
            })
            .collect();
        let retry = outcomes.iter().any(|(_, o)| *o == 1);
        let bounced = outcomes.iter().any(|(_, o)| *o == 2);
        let end = if retry { t0 + 601_000 } else { t0 + 1_500 };
        let q = self.qid("mta2", t0, end);
        let mut e = Expect {
            message_id: mid.clone(),
            first_queue: ("mta2".into(), q.clone()),
            ..Expect::default()
        };
        self.syslog(k, "mta2", t0, "postfix/smtpd", format!("{q}: client={mbox}.example.com[10.0.0.21], sasl_method=PLAIN, sasl_username={sender}"));
        self.syslog(
            k,
            "mta2",
            t0 + 100,
            "postfix/cleanup",
            format!("{q}: message-id={mid}"),
        );
        self.syslog(
            k,
            "mta2",
            t0 + 200,
            "postfix/qmgr",
            format!("{q}: from=<{sender}>, size=900, nrcpt={n} (queue active)"),
        );
        let mut bounce_at = None;
        for (a, o) in &outcomes {
            let relay = format!("mx.{}[198.51.100.7]:25", a.split('@').nth(1).unwrap());
            let host = relay.split('[').next().unwrap().to_owned();
            match o {
                0 => {
                    self.syslog(k, "mta2", t0 + 900, "postfix/smtp", format!("{q}: to=<{a}>, relay={relay}, delay=0.9, delays=0.1/0/0.4/0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as R{k})"));
                    e.recipients.insert(a.clone(), ("sent".into(), host));
                }
                1 => {
                    self.syslog(k, "mta2", t0 + 30_000, "postfix/smtp", format!("{q}: to=<{a}>, relay=none, delay=30, delays=0.1/0/30/0, dsn=4.4.1, status=deferred (connect to {relay}: Connection timed out)"));
                    self.syslog(k, "mta2", t0 + 600_500, "postfix/smtp", format!("{q}: to=<{a}>, relay={relay}, delay=600, delays=599/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as R{k})"));
                    e.recipients.insert(a.clone(), ("sent".into(), host));
                }
                _ => {
                    self.syslog(k, "mta2", t0 + 1_000, "postfix/smtp", format!("{q}: to=<{a}>, relay={relay}, delay=1, delays=0.1/0/0.4/0.5, dsn=5.1.1, status=bounced (host {relay} said: 550 5.1.1 User unknown (in reply to RCPT TO command))"));
                    e.recipients.insert(a.clone(), ("bounced".into(), host));
                    bounce_at = Some(t0 + 1_000);
                }
            }
        }
        if retry {
            self.syslog(
                k,
                "mta2",
                t0 + 600_000,
                "postfix/qmgr",
                format!("{q}: from=<{sender}>, size=900, nrcpt={n} (queue active)"),
            );
        }
        if let (true, Some(tb)) = (bounced, bounce_at) {
            let qn = self.qid("mta2", tb + 100, tb + 610);
            let nmid = format!("<n{k}.{qn}@mta2.example.com>");
            self.syslog(
                k,
                "mta2",
                tb + 100,
                "postfix/cleanup",
                format!("{qn}: message-id={nmid}"),
            );
            self.syslog(
                k,
                "mta2",
                tb + 150,
                "postfix/bounce",
                format!("{q}: sender non-delivery notification: {qn}"),
            );
            self.syslog(
                k,
                "mta2",
                tb + 200,
                "postfix/qmgr",
                format!("{qn}: from=<>, size=3000, nrcpt=1 (queue active)"),
            );
            self.mailbox(k, mbox, tb + 600, "", &nmid, &[sender]);
            self.syslog(k, "mta2", tb + 600, "postfix/lmtp", format!("{qn}: to=<{sender}>, relay={mbox}.example.com[10.0.0.21]:7025, delay=0.4, delays=0.1/0/0.1/0.2, dsn=2.1.5, status=sent (250 2.1.5 Delivery OK)"));
            self.syslog(
                k,
                "mta2",
                tb + 610,
                "postfix/qmgr",
                format!("{qn}: removed"),
            );
        }
        self.syslog(k, "mta2", end, "postfix/qmgr", format!("{q}: removed"));
        e
    }
}

fn run(seed: u64, messages: usize) {
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed),
        lines: Vec::new(),
        busy: HashMap::new(),
        pool: Vec::new(),
        pid: 1000,
    };
    g.pool = (0..6)
        .map(|_| format!("{:010X}", g.rng.random::<u64>() & 0xFF_FFFF_FFFF))
        .collect();
    let mut expect = Vec::new();
    for k in 0..messages {
        // All within four hours: ids come back many times.
        let t0 = g.rng.random_range(0..4 * 3_600_000);
        let e = if g.rng.random_bool(0.5) {
            g.inbound(k, t0)
        } else {
            g.outbound(k, t0)
        };
        expect.push(e);
    }
    let now = base() + Duration::days(1);
    let options = ParseOptions {
        zone: Zone::Utc,
        reference: Some(now),
        host_from_line: true,
    };
    let mut syslog =
        LineParser::with_options(Path::new("/var/log/zimbra.log"), Format::Syslog, &options);
    let mut log4j = LineParser::with_options(
        Path::new("/opt/zimbra/log/mailbox.log"),
        Format::Zimbra,
        &options,
    );
    let mut owner: HashMap<String, usize> = HashMap::new();
    let events: Vec<Event> = g
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let p = if l.log4j { &mut log4j } else { &mut syslog };
            let e = p.parse(l.text.as_bytes()).into_event(
                EventId::new("model", i as u64 + 1),
                l.host,
                "phx",
                now,
            );
            owner.insert(e.id.to_string(), l.owner);
            e
        })
        .collect();
    let (_dir, searcher) = crate::search::tests::searcher_with(&events);
    let catalog = searcher.catalog().clone();
    let ask = |q: &str, host: Option<&str>| {
        let params = TraceParams {
            q: q.into(),
            since: Some("2026-12-03T00:00:00Z".into()),
            host: host.map(str::to_owned),
            limit: Some(200),
            ..TraceParams::default()
        };
        trace(catalog.clone(), &params, now).unwrap()
    };
    for (k, e) in expect.iter().enumerate() {
        let want: BTreeSet<String> = owner
            .iter()
            .filter(|(_, o)| **o == k)
            .map(|(id, _)| id.clone())
            .collect();
        let by_mid = ask(&e.message_id, None);
        assert_eq!(
            by_mid.messages.len(),
            1,
            "seed {seed} message {k} by message-id"
        );
        let by_queue = ask(&e.first_queue.1, Some(&e.first_queue.0));
        let from_queue: Vec<_> = by_queue
            .messages
            .iter()
            .filter(|m| m.message_id.as_deref() == Some(e.message_id.as_str()))
            .collect();
        if from_queue.len() != 1 {
            for m in &by_queue.messages {
                eprintln!(
                    "{:?} {:?} {:#?}",
                    m.message_id,
                    m.queues,
                    m.hops
                        .iter()
                        .map(|h| format!("{} {} {}", h.ts, h.host, h.what))
                        .collect::<Vec<_>>()
                );
            }
        }
        assert_eq!(
            from_queue.len(),
            1,
            "seed {seed} message {k} by queue id {:?}",
            e.first_queue
        );
        for m in [&by_mid.messages[0], from_queue[0]] {
            let got: BTreeSet<String> = m.hops.iter().map(|h| h.event_id.clone()).collect();
            let missing: Vec<_> = want
                .difference(&got)
                .map(|id| &g.lines[id_index(id)].text)
                .collect();
            let extra: Vec<_> = got
                .difference(&want)
                .map(|id| &g.lines[id_index(id)].text)
                .collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "seed {seed} message {k}: missing {missing:#?}\nmixed in {extra:#?}"
            );
            let statuses: BTreeMap<String, (String, String)> = m
                .recipients
                .iter()
                .map(|r| {
                    (
                        r.address.clone(),
                        (r.status.clone(), r.host.clone().unwrap_or_default()),
                    )
                })
                .collect();
            assert_eq!(statuses, e.recipients, "seed {seed} message {k}");
        }
    }
}

fn id_index(id: &str) -> usize {
    id.rsplit(':').next().unwrap().parse::<usize>().unwrap() - 1
}

#[test]
fn random_fleets_trace_every_message_to_exactly_its_lines() {
    if let Some(seed) = std::env::var("TRACE_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        run(seed, 60);
        return;
    }
    // Two fresh seeds a run (about 10 s each in a debug build), each printed for replay;
    // 12 seeds passed back to back when this was written.
    let first: u64 = rand::random::<u16>() as u64;
    for seed in first..first + 2 {
        eprintln!("trace model: seed {seed} (replay with TRACE_MODEL_SEED={seed})");
        run(seed, 60);
    }
}

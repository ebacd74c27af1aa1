//! `logwarden trace` end to end: the mail corpus of `tests/data/mail/` (SOURCES.md there) goes
//! into a real collector the ways a fleet sends it, out of order across hosts: mbox2's
//! mailbox.log first (an agent tailing it), then mta2's lines over syslog TCP newest first,
//! then mbox1's mailbox.log and mta1's zimbra.log (agents). Then each scenario is traced with the
//! CLI and must come back with exactly its own hops.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use logwarden_tests::{Collector, bin, wait_until};
use serde_json::Value;

fn corpus(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/mail")
        .join(rel);
    assert!(p.exists(), "{} is missing", p.display());
    p
}

/// An agent shipping one file as host `host`, in UTC (Zimbra's log4j stamps carry no zone).
struct HostAgent(Child);

impl HostAgent {
    fn start(dir: &Path, collector: &str, host: &str, file: &Path) -> HostAgent {
        let data = dir.join(format!("agent-{host}"));
        let logs = dir.join(format!("logs-{host}"));
        std::fs::create_dir_all(&logs).unwrap();
        let copy = logs.join(file.file_name().unwrap());
        std::fs::copy(file, &copy).unwrap();
        let child = Command::new(bin("logwarden-agent"))
            .arg("run")
            .arg("--collector")
            .arg(collector)
            .arg("--data-dir")
            .arg(&data)
            .arg("--host")
            .arg(host)
            .arg("--site")
            .arg("phx")
            .arg("--file")
            .arg(&copy)
            .env("TZ", "UTC")
            .env("LOGWARDEN_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting logwarden-agent");
        HostAgent(child)
    }
}

impl Drop for HostAgent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lines(rel: &str) -> usize {
    std::fs::read_to_string(corpus(rel))
        .unwrap()
        .lines()
        .count()
}

/// Waits until the collector holds `n` log events (the agents' heartbeats are not counted).
fn wait_for_total(c: &Collector, n: u64) {
    assert!(
        wait_until(Duration::from_secs(120), || c.count("kind:log") >= n),
        "the collector holds {} log events, not {n}",
        c.count("kind:log")
    );
}

fn trace(c: &Collector, q: &str) -> (Option<i32>, String, String) {
    let out = c.cli(&["trace", q, "--since", "2026-12-01T00:00:00Z", "-o", "json"]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn messages(c: &Collector, q: &str) -> Vec<Value> {
    let (code, stdout, stderr) = trace(c, q);
    assert_eq!(code, Some(0), "trace {q}: {stderr}");
    let v: Value = serde_json::from_str(&stdout).expect("trace -o json prints JSON");
    v["messages"].as_array().unwrap().clone()
}

fn one(c: &Collector, q: &str) -> Value {
    let m = messages(c, q);
    assert_eq!(m.len(), 1, "{q}: {m:#?}");
    m[0].clone()
}

fn queues(m: &Value) -> Vec<&str> {
    m["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q.as_str().unwrap())
        .collect()
}

/// Each hop as `host component queue_id`: what the test can compare whole.
fn hop_keys(m: &Value) -> Vec<String> {
    m["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{} {} {}",
                h["host"].as_str().unwrap(),
                h["component"].as_str().unwrap(),
                h["queue_id"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

fn recipients(m: &Value) -> Vec<(String, String, String)> {
    m["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
                r["host"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn owned(v: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    v.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[test]
fn each_scenario_is_traced_to_its_own_hops_across_hosts_and_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("collector"), &[]);

    // mbox2 first, though most of its lines are of messages whose start comes later.
    let _mbox2 = HostAgent::start(
        dir.path(),
        &collector.url,
        "mbox2",
        &corpus("mbox2/mailbox.log"),
    );
    let mut total = lines("mbox2/mailbox.log") as u64;
    wait_for_total(&collector, total);

    // mta2 over syslog TCP, newest line first.
    let text = std::fs::read_to_string(corpus("mta2/zimbra.log")).unwrap();
    let mut s = TcpStream::connect(collector.syslog_tcp.as_deref().unwrap()).unwrap();
    for line in text.lines().rev() {
        writeln!(s, "<22>{line}").unwrap();
    }
    s.flush().unwrap();
    drop(s);
    total += lines("mta2/zimbra.log") as u64;
    wait_for_total(&collector, total);

    let _mbox1 = HostAgent::start(
        dir.path(),
        &collector.url,
        "mbox1",
        &corpus("mbox1/mailbox.log"),
    );
    let _mta1 = HostAgent::start(
        dir.path(),
        &collector.url,
        "mta1",
        &corpus("mta1/zimbra.log"),
    );
    total += (lines("mbox1/mailbox.log") + lines("mta1/zimbra.log")) as u64;
    wait_for_total(&collector, total);

    // 1. smtpd -> amavis -> second queue -> lmtp -> mailbox.
    let a = one(&collector, "4A1B2C3D01");
    assert_eq!(queues(&a), ["mta1/4A1B2C3D01", "mta1/7C1D2E3F02"]);
    assert_eq!(
        hop_keys(&a),
        [
            "mta1 postfix/smtpd 4A1B2C3D01",
            "mta1 postfix/cleanup 4A1B2C3D01",
            "mta1 postfix/qmgr 4A1B2C3D01",
            "mta1 postfix/amavisd/smtpd 7C1D2E3F02",
            "mta1 postfix/cleanup 7C1D2E3F02",
            "mta1 postfix/qmgr 7C1D2E3F02",
            "mta1 amavis 4A1B2C3D01",
            "mta1 postfix/smtp 4A1B2C3D01",
            "mta1 postfix/qmgr 4A1B2C3D01",
            "mbox1 mailbox lmtp -",
            "mbox1 mailbox mailop -",
            "mta1 postfix/lmtp 7C1D2E3F02",
            "mta1 postfix/qmgr 7C1D2E3F02",
        ]
    );
    assert_eq!(
        recipients(&a),
        owned(&[("bob@example.com", "delivered", "mbox1")])
    );
    assert_eq!(a["recipients"][0]["folder"], "Inbox");
    // The same message from its second queue id and from its message-id.
    assert_eq!(hop_keys(&one(&collector, "7C1D2E3F02")), hop_keys(&a));
    assert_eq!(
        hop_keys(&one(&collector, "<a1.20261204@sender.example.org>")),
        hop_keys(&a)
    );

    // 2. Three recipients on two mailbox hosts.
    let b = one(&collector, "<b2.20261204@partner.example.net>");
    assert_eq!(queues(&b), ["mta1/5B2C3D4E05", "mta1/8D3E4F5A06"]);
    assert_eq!(
        recipients(&b),
        owned(&[
            ("carol@example.com", "delivered", "mbox1"),
            ("dave@example.com", "delivered", "mbox1"),
            ("erin@example.com", "delivered", "mbox2"),
        ])
    );
    assert_eq!(b["hops"].as_array().unwrap().len(), 20);
    let hosts: std::collections::BTreeSet<_> = b["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        hosts.into_iter().collect::<Vec<_>>(),
        ["mbox1", "mbox2", "mta1"]
    );

    // 3. Deferred, then sent on the retry ten minutes later.
    let c3 = one(&collector, "6C1A2B3C07");
    assert_eq!(queues(&c3), ["mta2/6C1A2B3C07"]);
    let smtp: Vec<_> = c3["hops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["component"] == "postfix/smtp")
        .map(|h| {
            h["what"]
                .as_str()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(smtp, ["deferred", "sent"]);
    assert_eq!(
        recipients(&c3),
        owned(&[("grace@remote.example.net", "sent", "mx.remote.example.net")])
    );

    // 4. Bounced, with the notification back to the sender's mailbox.
    let d = one(&collector, "7D2B3C4D08");
    assert_eq!(queues(&d), ["mta2/7D2B3C4D08", "mta2/8E3C4D5E09"]);
    assert_eq!(
        recipients(&d),
        owned(&[(
            "nobody@remote.example.net",
            "bounced",
            "mx.remote.example.net"
        )])
    );
    assert_eq!(d["recipients"][0]["dsn"], "5.1.1");
    let notified = d["hops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["notification"] == true)
        .count();
    assert_eq!(notified, 6);
    assert_eq!(hop_keys(&one(&collector, "8E3C4D5E09")), hop_keys(&d));

    // 5. A queue id reused an hour later: two messages, newest first, none mixed.
    let e = messages(&collector, "9F0E1D2C03");
    assert_eq!(e.len(), 2);
    assert_eq!(e[0]["message_id"], "<e2.20261204@sender.example.org>");
    assert_eq!(e[1]["message_id"], "<e1.20261204@sender.example.org>");
    assert_eq!(
        recipients(&e[0]),
        owned(&[("erin@example.com", "delivered", "mbox2")])
    );
    assert_eq!(
        recipients(&e[1]),
        owned(&[("bob@example.com", "delivered", "mbox1")])
    );
    for m in &e {
        assert_eq!(m["hops"].as_array().unwrap().len(), 7, "{m:#}");
    }

    // By address: newest first, each with its final status.
    let bob = messages(&collector, "bob@example.com");
    let got: Vec<_> = bob
        .iter()
        .map(|m| {
            (
                m["message_id"].as_str().unwrap(),
                m["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("<e1.20261204@sender.example.org>", "delivered"),
            ("<d4.20261204@example.com>", "bounced"),
            ("<c3.20261204@example.com>", "sent"),
            ("<a1.20261204@sender.example.org>", "delivered"),
        ]
    );

    // The text timeline names the hops and the recipients.
    let out = collector.cli(&["trace", "4A1B2C3D01", "--since", "2026-12-01T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("mta1/4A1B2C3D01 -> mta1/7C1D2E3F02"),
        "{text}"
    );
    assert!(text.contains("Passed CLEAN"), "{text}");
    assert!(
        text.lines().any(|l| l.contains("bob@example.com")
            && l.contains("delivered")
            && l.contains("mbox1")),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("  2026-12-04"))
            .count(),
        13
    );

    // Nothing: exit 1 and one line. Malformed: exit 2 and one line naming the input.
    let (code, stdout, stderr) = trace(&collector, "ABCDEF0123");
    assert_eq!(code, Some(1));
    assert!(serde_json::from_str::<Value>(&stdout).unwrap()["messages"] == serde_json::json!([]));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no message matches ABCDEF0123"), "{stderr}");
    let out = collector.cli(&["trace", "not an id"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("\"not an id\" is not a queue id"),
        "{stderr}"
    );
}

fn firing(c: &Collector) -> Vec<Value> {
    let out = c.cli(&["alerts", "-o", "json"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn mail_deferred_for_an_hour_fires_and_delivery_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    // A short resolve hold (default 120 s) so that the clear shows within the test.
    let cfg = dir.path().join("collector.toml");
    std::fs::write(&cfg, "[alerts]\nresolve_hold_s = 1.5\n").unwrap();
    let collector = Collector::start(
        &dir.path().join("collector"),
        &["--config", cfg.to_str().unwrap()],
    );
    let mut s = TcpStream::connect(collector.syslog_tcp.as_deref().unwrap()).unwrap();
    // Deferred half a minute after arrival: nothing yet. Then again 90 minutes after.
    for (ts, delay) in [("10:00:30", 30), ("11:30:00", 5400)] {
        writeln!(
            s,
            "<22>2026-12-04T{ts}+00:00 mta2 postfix/smtp[4003]: 6C1A2B3C07: to=<grace@remote.example.net>, relay=none, delay={delay}, delays=0.01/0/30/0, dsn=4.4.1, status=deferred (connect to mx.remote.example.net[198.51.100.7]:25: Connection timed out)"
        )
        .unwrap();
    }
    s.flush().unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || firing(&collector).iter().any(
            |a| a["name"] == "MailDeferred"
                && a["labels"]["domain"] == "remote.example.net"
                && a["labels"]["host"] == "mta2"
        )),
        "no MailDeferred: {:?}",
        firing(&collector)
    );
    let a = firing(&collector)
        .into_iter()
        .find(|a| a["name"] == "MailDeferred")
        .unwrap();
    assert_eq!(a["severity"], "warning");
    assert!(
        a.to_string().contains("Connection timed out"),
        "the reason is in the alert: {a}"
    );
    // The retry gets through: resolved.
    writeln!(
        s,
        "<22>2026-12-04T11:45:00+00:00 mta2 postfix/smtp[4004]: 6C1A2B3C07: to=<grace@remote.example.net>, relay=mx.remote.example.net[198.51.100.7]:25, delay=6300, delays=6299/0.01/0.4/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4kQ9ZP1xYz)"
    )
    .unwrap();
    s.flush().unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || !firing(&collector)
            .iter()
            .any(|a| a["name"] == "MailDeferred" && a["status"] == "firing")),
        "MailDeferred did not resolve: {:?}",
        firing(&collector)
    );
}

/// Runs `browser/trace.mjs` with node against Debian's Chromium; its one JSON line.
fn run_browser(url: &str) -> Value {
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        browser.join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules is missing: scripts/test runs `npm ci` there"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: scripts/test installs Debian's chromium"
    );
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/web-page");
    let out = Command::new("node")
        .arg(browser.join("trace.mjs"))
        .arg(url)
        .arg(&shots)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("running node (scripts/test installs nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser test failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("one JSON line")
}

#[test]
fn the_web_page_traces_a_clicked_mail_line() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("collector"), &[]);
    let mut agents = Vec::new();
    let mut total = 0;
    for (host, file) in [
        ("mbox1", "mbox1/mailbox.log"),
        ("mbox2", "mbox2/mailbox.log"),
        ("mta1", "mta1/zimbra.log"),
        ("mta2", "mta2/zimbra.log"),
    ] {
        agents.push(HostAgent::start(
            dir.path(),
            &collector.url,
            host,
            &corpus(file),
        ));
        total += lines(file) as u64;
    }
    wait_for_total(&collector, total);
    let got = run_browser(&collector.url);
    let clicked = &got["clicked"];
    assert_eq!(clicked["messages"], 1, "{got:#}");
    assert_eq!(clicked["hops"], 13, "{got:#}");
    assert_eq!(
        clicked["hosts"],
        serde_json::json!(["mbox1", "mta1"]),
        "{got:#}"
    );
    let recipients = clicked["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 1);
    let bob = recipients[0].as_str().unwrap();
    assert!(
        bob.starts_with("bob@example.com delivered mbox1 folder Inbox"),
        "{bob}"
    );
    let bounced = &got["bounced"];
    assert_eq!(bounced["notification"], 6, "{got:#}");
    assert!(
        bounced["recipients"][0]
            .as_str()
            .unwrap()
            .starts_with("nobody@remote.example.net bounced"),
        "{got:#}"
    );
    assert_eq!(got["nothing"]["messages"], 0);
}

/// `MailRelayDeferring`: postfix lines (syslog TCP, postfix's own format) deferring to one
/// relay from one host past `relay_deferrals` within the window fire it for that host and
/// relay only (`relay=none` counts for the host postfix tried, the addresses of one MX count
/// together); it resolves once the window empties. Other relays and hosts below the threshold,
/// and the same relay on another host, fire nothing.
#[test]
fn deferrals_to_one_relay_past_the_rate_fire_for_that_host_and_relay_only() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("collector.toml");
    std::fs::write(
        &cfg,
        "[alerts]\nresolve_hold = \"1s\"\nrelay_deferrals = 5\nrelay_deferral_window = \"30s\"\n\
         runbook_base_url = \"https://wiki.example/alerts.md\"\n",
    )
    .unwrap();
    let collector = Collector::start(
        &dir.path().join("collector"),
        &["--config", cfg.to_str().unwrap()],
    );
    let mut s = TcpStream::connect(collector.syslog_tcp.as_deref().unwrap()).unwrap();
    let timed_out = |host: &str, n: u32, ip: u32| {
        format!(
            "<22>2026-12-04T10:00:0{n}.{ip}00+00:00 {host} postfix/smtp[4003]: 6C1A2B3C{n}{ip}: to=<u{n}@remote.example.net>, relay=none, delay=30, delays=0.01/0/30/0, dsn=4.4.1, status=deferred (connect to mx.remote.example.net[198.51.100.{ip}]:25: Connection timed out)"
        )
    };
    let greylisted = |n: u32| {
        format!(
            "<22>2026-12-04T10:00:0{n}.500+00:00 mta2 postfix/smtp[4005]: 7D2B3C4D{n}0: to=<v{n}@grey.example.org>, relay=mx.grey.example.org[203.0.113.9]:25, delay=2, delays=0.01/0/1/1, dsn=4.7.1, status=deferred (host mx.grey.example.org[203.0.113.9] said: 450 4.7.1 Greylisted, try again later (in reply to RCPT TO command))"
        )
    };
    // Four each: below the threshold everywhere.
    for n in 0..4 {
        for line in [
            timed_out("mta2", n, 7 + n % 2),
            timed_out("mta1", n, 7),
            greylisted(n),
        ] {
            writeln!(s, "{line}").unwrap();
        }
    }
    s.flush().unwrap();
    let relay_alerts = |c: &Collector| -> Vec<Value> {
        firing(c)
            .into_iter()
            .filter(|a| a["name"] == "MailRelayDeferring" && a["status"] == "firing")
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(20), || collector.count("deferred")
            >= 12),
        "the lines were not ingested: {}",
        collector.count("deferred")
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(relay_alerts(&collector), Vec::<Value>::new(), "4 of 5");

    // The fifth to mx.remote from mta2 (another of its addresses): fires for mta2 only.
    writeln!(s, "{}", timed_out("mta2", 4, 9)).unwrap();
    s.flush().unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || !relay_alerts(&collector)
            .is_empty()),
        "no MailRelayDeferring: {:?}",
        firing(&collector)
    );
    std::thread::sleep(Duration::from_secs(1));
    let fired = relay_alerts(&collector);
    assert_eq!(fired.len(), 1, "{fired:?}");
    let a = &fired[0];
    assert_eq!(a["labels"]["host"], "mta2", "{a}");
    assert_eq!(a["labels"]["relay"], "mx.remote.example.net", "{a}");
    assert_eq!(a["severity"], "warning");
    assert!(
        a["annotations"]["summary"].as_str().is_some_and(|s| s
            .starts_with("5 deliveries from mta2 to mx.remote.example.net")
            && s.contains("Connection timed out")),
        "{a}"
    );
    assert_eq!(
        a["annotations"]["runbook_url"],
        "https://wiki.example/alerts.md#mailrelaydeferring-host-relay",
        "{a}"
    );
    assert!(
        !firing(&collector)
            .iter()
            .any(|a| a["name"] == "MailDeferred"),
        "no message waited an hour"
    );

    // Nothing more: the window empties and it resolves.
    assert!(
        wait_until(Duration::from_secs(120), || relay_alerts(&collector)
            .is_empty()),
        "MailRelayDeferring did not resolve: {:?}",
        firing(&collector)
    );
}

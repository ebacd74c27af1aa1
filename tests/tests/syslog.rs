//! Plain syslog into the collector: real `logger` processes as senders, over UDP and TCP with
//! both RFC 6587 framings, and a hostile sender beside a well-behaved one; and the collector
//! process set up for bursts (no transparent huge pages).

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use logwarden_tests::{Collector, assert_same, wait_until};

fn logger(args: &[&str]) {
    let out = Command::new("logger")
        .args(args)
        .output()
        .expect("running logger (util-linux)");
    assert!(
        out.status.success(),
        "logger failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn host_port(addr: &str) -> (String, String) {
    let (h, p) = addr.rsplit_once(':').unwrap();
    (h.to_owned(), p.to_owned())
}

#[test]
fn logger_messages_over_udp_and_both_tcp_framings_are_searchable_with_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("collector"), &[]);
    let (uh, up) = host_port(collector.syslog_udp.as_deref().unwrap());
    let (th, tp) = host_port(collector.syslog_tcp.as_deref().unwrap());
    logger(&[
        "-n",
        &uh,
        "-P",
        &up,
        "-d",
        "--rfc3164",
        "-t",
        "postfix/smtpd",
        "-p",
        "mail.err",
        "kiwi over udp 3164",
    ]);
    logger(&[
        "-n",
        &uh,
        "-P",
        &up,
        "-d",
        "--rfc5424",
        "-t",
        "slapd",
        "--msgid",
        "LDAP1",
        "kiwi over udp 5424",
    ]);
    logger(&[
        "-n",
        &th,
        "-P",
        &tp,
        "-T",
        "--octet-count",
        "-t",
        "sshd",
        "-p",
        "auth.warning",
        "kiwi over tcp counted",
    ]);
    logger(&[
        "-n",
        &th,
        "-P",
        &tp,
        "-T",
        "-t",
        "zmmtaconfig",
        "kiwi over tcp newline",
    ]);

    assert!(
        wait_until(Duration::from_secs(10), || collector.search("kiwi").len()
            == 4),
        "found {:?}",
        collector.search("kiwi")
    );
    // Every message is counted once it is durable, with no later traffic to push the count.
    let metrics = collector
        .http()
        .get(format!("{}/metrics", collector.url))
        .send()
        .and_then(|r| r.text())
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "logwarden_syslog_messages_total 4"),
        "{metrics}"
    );
    let hits = collector.search("kiwi");
    let find = |word: &str| {
        hits.iter()
            .find(|h| h["message"].as_str().unwrap().contains(word))
            .unwrap()
            .clone()
    };
    let smtpd = find("3164");
    assert_same("app", "postfix/smtpd", smtpd["app"].as_str().unwrap());
    assert_same("severity", "err", smtpd["severity"].as_str().unwrap());
    assert_same("source", "syslog", smtpd["source"].as_str().unwrap());
    assert_same(
        "transport",
        "udp",
        smtpd["fields"]["transport"].as_str().unwrap(),
    );
    assert!(
        smtpd["fields"]["sender"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{smtpd}"
    );
    assert!(
        smtpd["id"].as_str().unwrap().starts_with("syslog@"),
        "{smtpd}"
    );
    let slapd = find("5424");
    assert_same("msgid", "LDAP1", slapd["fields"]["msgid"].as_str().unwrap());
    let sshd = find("counted");
    assert_same(
        "app (octet counting)",
        "sshd",
        sshd["app"].as_str().unwrap(),
    );
    assert_same(
        "severity (octet counting)",
        "warning",
        sshd["severity"].as_str().unwrap(),
    );
    assert_same(
        "transport",
        "tcp",
        sshd["fields"]["transport"].as_str().unwrap(),
    );
    assert_same(
        "app (newline)",
        "zmmtaconfig",
        find("newline")["app"].as_str().unwrap(),
    );
    let out = collector.cli(&["search", "app:sshd AND kiwi"]);
    assert_same("cli exit", Some(0), out.status.code());

    // Counting by program, and over time.
    let out = collector.cli(&["count", "kiwi", "--by", "app", "-o", "json"]);
    let counted: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_same("count total", 4, counted["total"].as_u64().unwrap());
    assert_same(
        "count buckets",
        4,
        counted["buckets"].as_array().unwrap().len(),
    );
    let out = collector.cli(&["count", "kiwi", "--since", "1h", "--every", "1h"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("4 events\n") && text.contains('#'),
        "{text}"
    );
    let out = collector.cli(&["count", "kiwi", "--by", "message"]);
    assert_same("count by a text field", Some(2), out.status.code());
}

#[test]
fn a_sender_of_garbage_and_giant_frames_does_not_disturb_a_well_behaved_one() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("collector"), &[]);
    let addr = collector.syslog_tcp.clone().unwrap();

    // The hostile one: a 1 MiB line with no end, then a broken octet count.
    let mut bad = TcpStream::connect(&addr).unwrap();
    let giant = format!("<13>giant {}\n", "g".repeat(1 << 20));
    bad.write_all(giant.as_bytes()).unwrap();
    let mut worse = TcpStream::connect(&addr).unwrap();
    worse.write_all(b"12x <13>not a count\n").unwrap();

    // The good one sends 200 counted messages meanwhile.
    let mut good = TcpStream::connect(&addr).unwrap();
    for i in 0..200 {
        let msg = format!("<14>Nov 29 10:00:00 mta1 postfix/qmgr[12]: mango {i}");
        write!(good, "{} {}", msg.len(), msg).unwrap();
    }
    good.flush().unwrap();
    drop(good);

    assert!(
        wait_until(Duration::from_secs(10), || collector.search("mango").len()
            == 200),
        "found {} of 200",
        collector.search("mango").len()
    );
    let hits = collector.search("mango");
    assert!(
        hits.iter()
            .all(|h| h["host"] == "mta1" && h["app"] == "postfix/qmgr"),
        "{}",
        hits[0]
    );
    // The giant line was kept, cut at the limit and flagged.
    drop(bad);
    assert!(wait_until(Duration::from_secs(10), || !collector
        .search("giant")
        .is_empty()));
    let giant = &collector.search("giant")[0];
    assert_same(
        "truncated",
        true,
        giant["fields"]["truncated"].as_bool().unwrap(),
    );
    assert!(
        giant["message"].as_str().unwrap().len() <= 64 * 1024,
        "cut at the 64 KiB default"
    );
}

/// A burst over one connection, faster than the intake: indexing leaves the CPU to the intake
/// while it lasts (`wal/backlog.rs`), and afterwards every message becomes searchable and
/// indexing stops yielding. Meanwhile `/metrics` is asked for without pause: it used to read the
/// durable LSN twice in one statement, and a WAL update between the two reads hung the whole
/// runtime (in about one burst of six in a release build; a stress, not a proof).
/// Sends `n` messages (`<word> <i> xxx...`, about 130 bytes) over one TCP connection at once and
/// waits until the collector has made all of them durable.
fn send_burst(collector: &Collector, word: &str, n: u64) {
    let mut data = Vec::new();
    for i in 0..n {
        writeln!(
            data,
            "<14>Nov 29 10:{:02}:{:02} mta1 postfix/qmgr[12]: {word} {i} {}",
            (i / 60) % 60,
            i % 60,
            "x".repeat(60)
        )
        .unwrap();
    }
    let mut s = TcpStream::connect(collector.syslog_tcp.as_deref().unwrap()).unwrap();
    s.write_all(&data).unwrap();
    drop(s);
    let durable = || {
        collector
            .metric("logwarden_syslog_messages_total")
            .unwrap_or(0.0)
    };
    assert!(
        wait_until(Duration::from_secs(120), || durable() == n as f64),
        "durable: {} of {n}",
        durable()
    );
}

#[test]
fn a_burst_faster_than_the_intake_goes_to_the_wal_first_then_all_of_it_is_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("collector"), &[]);
    let polling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let pollers: Vec<_> = (0..3)
        .map(|_| {
            let (url, polling) = (format!("{}/metrics", collector.url), polling.clone());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .unwrap();
                let mut answered = 0u64;
                while polling.load(std::sync::atomic::Ordering::Relaxed) {
                    match http.get(&url).send().and_then(|r| r.error_for_status()) {
                        Ok(_) => answered += 1,
                        Err(e) => return Err(format!("after {answered} answers: {e}")),
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok(answered)
            })
        })
        .collect();
    const N: u64 = 100_000;
    send_burst(&collector, "burstline", N);
    let yielded = || {
        collector
            .metric("logwarden_index_yielded_seconds_total")
            .expect("the yield counter is in /metrics")
    };
    assert!(yielded() > 0.0, "indexing never yielded to the burst");
    assert!(
        wait_until(Duration::from_secs(180), || collector.count("burstline")
            == N),
        "searchable: {} of {N}",
        collector.count("burstline")
    );
    let after = yielded();
    std::thread::sleep(Duration::from_millis(500));
    assert_same("seconds yielded once the burst is over", after, yielded());
    polling.store(false, std::sync::atomic::Ordering::Relaxed);
    for p in pollers {
        let answered = p.join().unwrap();
        assert!(
            answered.as_ref().is_ok_and(|n| *n > 0),
            "GET /metrics during the burst: {answered:?}"
        );
    }
}

/// The collector turns transparent huge pages off for itself (`collector/src/main.rs`): that
/// cut the CPU of a syslog burst by about a fifth (docs/BENCHMARKS.md, session 7).
/// A burst larger than `[index] max_backlog_mb` (1 MiB here, about 3,000 of these messages):
/// the intake holds the sender off whenever the index is that far behind, resumes once it has
/// caught up enough, and every message ends up durable and searchable, each once.
#[test]
fn a_burst_past_the_index_backlog_bound_holds_the_sender_off_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("collector.toml");
    std::fs::write(&cfg, "[index]\nmax_backlog_mb = 1\n").unwrap();
    let collector = Collector::start(
        &dir.path().join("collector"),
        &["--config", cfg.to_str().unwrap()],
    );
    const N: u64 = 30_000;
    send_burst(&collector, "heldline", N);
    let paused = collector
        .metric("logwarden_syslog_paused_seconds_total")
        .expect("the pause counter is in /metrics");
    assert!(paused > 0.0, "the intake was never held off");
    assert!(
        wait_until(Duration::from_secs(120), || collector.count("heldline")
            == N),
        "searchable: {} of {N}",
        collector.count("heldline")
    );
    for i in [0, N / 2, N - 1] {
        assert_same(
            &format!("copies of message {i}"),
            1,
            collector.count(&format!("\"heldline {i}\"")),
        );
    }
}

#[test]
fn the_collector_runs_without_transparent_huge_pages() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("collector"), &[]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", collector.pid())).unwrap();
    let thp = status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .map(str::trim);
    assert_eq!(thp, Some("0"), "{status}");
}

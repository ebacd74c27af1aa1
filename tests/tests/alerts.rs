//! End to end: alerts from real agents and ingested events, delivered to real receivers that the
//! test runs on loopback (an HTTP server recording POSTs, a minimal SMTP server).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logwarden_tests::{Agent, Collector, HttpSink, assert_same, wait_until};
use serde_json::{Value, json};

/// A minimal SMTP server on loopback that keeps each message's DATA.
struct SmtpSink {
    addr: String,
    messages: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let m = messages.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let m = m.clone();
                std::thread::spawn(move || serve_smtp(stream, &m));
            }
        });
        SmtpSink { addr, messages }
    }
}

fn serve_smtp(mut stream: TcpStream, messages: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let _ = stream.write_all(b"220 sink.test ESMTP\r\n");
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let verb = line.trim().to_ascii_uppercase();
        if verb.starts_with("DATA") {
            let _ = stream.write_all(b"354 end with <CRLF>.<CRLF>\r\n");
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l).unwrap_or(0) == 0 {
                    return;
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(&l);
            }
            messages.lock().unwrap().push(data);
            let _ = stream.write_all(b"250 queued\r\n");
        } else if verb.starts_with("QUIT") {
            let _ = stream.write_all(b"221 bye\r\n");
            return;
        } else if verb.starts_with("EHLO") {
            let _ = stream.write_all(b"250 sink.test\r\n");
        } else {
            let _ = stream.write_all(b"250 ok\r\n");
        }
    }
}

const HEALTHY: &str = "Personalities : [raid6] [raid5] [raid4]
md2 : active raid6 sdf1[5] sde1[4] sdd1[3] sdc1[2] sdb1[1] sda1[0]
      7813531648 blocks super 1.2 level 6, 512k chunk, algorithm 2 [6/6] [UUUUUU]

unused devices: <none>
";
const ONE_LOST: &str = "Personalities : [raid6] [raid5] [raid4]
md2 : active raid6 sdf1[5](F) sde1[4] sdd1[3] sdc1[2] sdb1[1] sda1[0]
      7813531648 blocks super 1.2 level 6, 512k chunk, algorithm 2 [6/5] [UUUUU_]

unused devices: <none>
";
const TWO_LOST: &str = "Personalities : [raid6] [raid5] [raid4]
md2 : active raid6 sdf1[5](F) sde1[4](F) sdd1[3] sdc1[2] sdb1[1] sda1[0]
      7813531648 blocks super 1.2 level 6, 512k chunk, algorithm 2 [6/4] [UUUU__]

unused devices: <none>
";

/// A collector config with short timers, so that tests take seconds.
fn config(dir: &Path, extra: &str) -> String {
    let path = dir.join("collector.toml");
    std::fs::write(
        &path,
        format!("[alerts]\nresolve_hold_s = 1.5\ngroup_interval_s = 0.5\n{extra}\n"),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// Starts a collector with a webhook to `sink` and an agent watching an mdstat file that starts
/// healthy; returns once the healthy array reached the collector.
fn raid_setup(
    dir: &Path,
    sink: &HttpSink,
    extra_config: &str,
) -> (Collector, Agent, std::path::PathBuf) {
    let cfg = config(dir, extra_config);
    let collector = Collector::start(
        &dir.join("collector"),
        &["--config", &cfg, "--webhook", &sink.url],
    );
    let mdstat = dir.join("mdstat");
    std::fs::write(&mdstat, HEALTHY).unwrap();
    let agent = Agent::start_with(
        &dir.join("agent"),
        &collector.url,
        &[],
        &["--mdstat", mdstat.to_str().unwrap()],
    );
    assert!(
        wait_until(Duration::from_secs(20), || !collector
            .search("fields.array:md2")
            .is_empty()),
        "the healthy array was never reported"
    );
    (collector, agent, mdstat)
}

fn wait_for(
    sink: &HttpSink,
    name: &str,
    status: &str,
    severity: &str,
    n: usize,
    secs: u64,
) -> bool {
    wait_until(Duration::from_secs(secs), || {
        sink.alerts(name)
            .iter()
            .filter(|(s, sev, _)| s == status && sev == severity)
            .count()
            >= n
    })
}

#[test]
fn a_degrading_md_array_pages_once_escalates_to_critical_and_resolves_when_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start(0);
    let (collector, _agent, mdstat) = raid_setup(dir.path(), &sink, "");

    // One disk lost: redundancy left, warning. Written in place, as the kernel's file changes.
    let changed = Instant::now();
    std::fs::write(&mdstat, ONE_LOST).unwrap();
    assert!(
        wait_for(&sink, "RaidArrayDegraded", "firing", "warning", 1, 10),
        "no RaidArrayDegraded webhook; got {:?}",
        sink.posts()
    );
    let latency = sink.alerts("RaidArrayDegraded")[0].2 - changed;
    println!(
        "alert latency, mdstat change to webhook POST: {} ms",
        latency.as_millis()
    );
    assert!(
        latency < Duration::from_secs(2),
        "latency {latency:?} is over the 2 s target"
    );

    // The POST is Alertmanager's webhook format.
    let post = sink
        .posts()
        .into_iter()
        .find(|p| p.body["groupLabels"]["alertname"] == "RaidArrayDegraded")
        .unwrap()
        .body;
    assert_same("version", "4", post["version"].as_str().unwrap());
    assert_same("status", "firing", post["status"].as_str().unwrap());
    assert_same("receiver", "webhook-1", post["receiver"].as_str().unwrap());
    let a = &post["alerts"][0];
    assert_same("host", "testhost", a["labels"]["host"].as_str().unwrap());
    assert_same("array", "md2", a["labels"]["array"].as_str().unwrap());
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    assert!(a["fingerprint"].as_str().unwrap().len() == 16, "{a}");
    let summary = a["annotations"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("[6/5]") && summary.contains("1 redundancy left"),
        "{summary}"
    );

    // A second disk: no redundancy left, critical.
    std::fs::write(&mdstat, TWO_LOST).unwrap();
    assert!(
        wait_for(&sink, "RaidArrayDegraded", "firing", "critical", 1, 10),
        "no escalation; got {:?}",
        sink.alerts("RaidArrayDegraded")
    );
    // The CLI shows it.
    let out = collector.cli(&["alerts", "-o", "json"]);
    let listed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        listed
            .iter()
            .any(|a| a["name"] == "RaidArrayDegraded" && a["severity"] == "critical"),
        "{listed:?}"
    );

    // Rebuilt: resolved, once.
    std::fs::write(&mdstat, HEALTHY).unwrap();
    assert!(
        wait_for(&sink, "RaidArrayDegraded", "resolved", "critical", 1, 10),
        "no resolve; got {:?}",
        sink.alerts("RaidArrayDegraded")
    );
    std::thread::sleep(Duration::from_secs(2));
    let seen: Vec<(String, String)> = sink
        .alerts("RaidArrayDegraded")
        .into_iter()
        .map(|(s, sev, _)| (s, sev))
        .collect();
    assert_same(
        "RaidArrayDegraded notifications",
        vec![
            ("firing".to_owned(), "warning".to_owned()),
            ("firing".to_owned(), "critical".to_owned()),
            ("resolved".to_owned(), "critical".to_owned()),
        ],
        seen,
    );
}

#[test]
fn a_flapping_array_gives_one_firing_and_one_resolved_notification() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start(0);
    let (_collector, _agent, mdstat) = raid_setup(dir.path(), &sink, "");
    for _ in 0..4 {
        std::fs::write(&mdstat, ONE_LOST).unwrap();
        std::thread::sleep(Duration::from_millis(700));
        std::fs::write(&mdstat, HEALTHY).unwrap();
        std::thread::sleep(Duration::from_millis(700));
    }
    assert!(wait_for(
        &sink,
        "RaidArrayDegraded",
        "resolved",
        "warning",
        1,
        10
    ));
    std::thread::sleep(Duration::from_secs(2));
    let seen: Vec<String> = sink
        .alerts("RaidArrayDegraded")
        .into_iter()
        .map(|(s, _, _)| s)
        .collect();
    assert_same(
        "notifications",
        vec!["firing".to_owned(), "resolved".to_owned()],
        seen,
    );
}

#[test]
fn after_sigkill_mid_incident_no_second_page_and_the_resolve_still_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start(0);
    let (mut collector, _agent, mdstat) = raid_setup(dir.path(), &sink, "");
    std::fs::write(&mdstat, TWO_LOST).unwrap();
    assert!(wait_for(
        &sink,
        "RaidArrayDegraded",
        "firing",
        "critical",
        1,
        10
    ));
    // Let the notification log record reach the WAL (it is written right after the POST).
    std::thread::sleep(Duration::from_millis(500));
    collector.kill9();
    collector.restart();
    // The restarted collector replays the WAL: the alert is known and already sent.
    std::thread::sleep(Duration::from_secs(3));
    let firing = sink
        .alerts("RaidArrayDegraded")
        .iter()
        .filter(|(s, _, _)| s == "firing")
        .count();
    assert_same("firing pages after the restart", 1, firing);
    let out = collector.cli(&["alerts"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("RaidArrayDegraded"),
        "the alert survived the restart: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::write(&mdstat, HEALTHY).unwrap();
    assert!(
        wait_for(&sink, "RaidArrayDegraded", "resolved", "critical", 1, 15),
        "no resolve after the restart: {:?}",
        sink.alerts("RaidArrayDegraded")
    );
    assert_same(
        "firing pages in all",
        1,
        sink.alerts("RaidArrayDegraded")
            .iter()
            .filter(|(s, _, _)| s == "firing")
            .count(),
    );
}

fn health_line(seq: u64, host: &str, fields: Value) -> String {
    json!({
        "id": format!("t:{seq}"),
        "ts": chrono_now(),
        "host": host,
        "site": "lab",
        "source": "health",
        "app": fields["check"],
        "severity": "warning",
        "kind": "health",
        "message": "test record",
        "fields": fields,
    })
    .to_string()
}

fn chrono_now() -> String {
    // RFC 3339 now, without a chrono dependency in the tests crate.
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.%3NZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn fs_full(seq: u64, host: &str, used: f64) -> String {
    health_line(
        seq,
        host,
        json!({"check": "filesystem", "mount": "/opt", "used_percent": used}),
    )
}

#[test]
fn an_acked_alert_is_not_repeated_and_a_silenced_one_is_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start(0);
    let cfg = config(dir.path(), "repeat_interval_s = 1.0");
    let c = Collector::start(
        &dir.path().join("c"),
        &["--config", &cfg, "--webhook", &sink.url],
    );
    c.ingest_ok(&[fs_full(1, "h1", 96.0)]);
    assert!(wait_for(
        &sink,
        "FilesystemFull",
        "firing",
        "critical",
        1,
        10
    ));
    // Unacked, it repeats every second.
    assert!(
        wait_for(&sink, "FilesystemFull", "firing", "critical", 2, 10),
        "no repeat"
    );
    let out = c.cli(&["alerts", "-o", "json"]);
    let alert: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    let id = alert["id"].as_str().unwrap();
    let out = c.cli(&[
        "ack",
        id,
        "--comment",
        "replacing the disk",
        "--author",
        "oncall",
    ]);
    assert_same("ack exit", Some(0), out.status.code());
    std::thread::sleep(Duration::from_millis(600));
    let before = sink.alerts("FilesystemFull").len();
    std::thread::sleep(Duration::from_secs(3));
    assert_same(
        "notifications after the ack",
        before,
        sink.alerts("FilesystemFull").len(),
    );
    let out = c.cli(&["alerts"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("acked by oncall"));

    // A silence on h2: its alert is listed as silenced and never sent.
    let out = c.cli(&[
        "silence",
        "add",
        "host=h2",
        "--duration",
        "1h",
        "--comment",
        "maintenance",
        "--author",
        "oncall",
    ]);
    assert_same("silence exit", Some(0), out.status.code());
    let silence_id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    c.ingest_ok(&[fs_full(2, "h2", 97.0)]);
    assert!(wait_until(Duration::from_secs(5), || {
        String::from_utf8_lossy(&c.cli(&["alerts"]).stdout).contains("silenced")
    }));
    std::thread::sleep(Duration::from_secs(2));
    let h2_posts = sink
        .posts()
        .iter()
        .filter(|p| p.body["commonLabels"]["host"] == "h2")
        .count();
    assert_same("POSTs about the silenced host", 0, h2_posts);
    let out = c.cli(&["silence", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("host=h2"));
    // Expired, the alert goes out.
    let out = c.cli(&["silence", "expire", &silence_id]);
    assert_same("expire exit", Some(0), out.status.code());
    assert!(wait_until(Duration::from_secs(5), || sink
        .posts()
        .iter()
        .any(|p| p.body["commonLabels"]["host"] == "h2")));
}

#[test]
fn a_misplaced_backup_and_a_mass_delete_in_mailbox_log_raise_their_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start(0);
    let cfg = config(dir.path(), "");
    let c = Collector::start(
        &dir.path().join("c"),
        &["--config", &cfg, "--webhook", &sink.url],
    );
    let backup = dir.path().join("backup");
    let data = dir.path().join("store");
    std::fs::create_dir_all(&backup).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let log = dir.path().join("mailbox.log");
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!(
            "2026-03-01 10:00:{:02},{:03} INFO  [ImapServer-7] [name=bob@example.com;ip=203.0.113.9;] mailop - moving Message (id={}) to Folder Trash (id=3)\n",
            i / 40,
            i % 1000,
            1000 + i
        ));
    }
    std::fs::write(&log, text).unwrap();
    let _agent = Agent::start_with(
        &dir.path().join("agent"),
        &c.url,
        &[log.to_str().unwrap()],
        &[
            "--backup",
            backup.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert!(
        wait_for(&sink, "MassMailboxDelete", "firing", "warning", 1, 20),
        "no MassMailboxDelete: {:?}",
        sink.posts()
    );
    let post = sink
        .posts()
        .into_iter()
        .find(|p| p.body["groupLabels"]["alertname"] == "MassMailboxDelete")
        .unwrap();
    assert_same(
        "account",
        "bob@example.com",
        post.body["alerts"][0]["labels"]["account"]
            .as_str()
            .unwrap(),
    );
    assert!(
        wait_for(&sink, "BackupMisplaced", "firing", "critical", 1, 20),
        "no BackupMisplaced: {:?}",
        sink.posts()
    );
}

#[test]
fn email_slack_and_pagerduty_receivers_get_their_own_formats_and_429_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let slack = HttpSink::start(1); // the first POST is refused with 429, Retry-After: 1
    let pd = HttpSink::start(0);
    let smtp = SmtpSink::start();
    let extra = format!(
        r#"
[[alerts.receivers]]
name = "mail"
type = "email"
smtp = "{}"
from = "logwarden@example.com"
to = ["oncall@example.com"]

[[alerts.receivers]]
name = "chat"
type = "slack"
url = "{}"

[[alerts.receivers]]
name = "pager"
type = "pagerduty"
url = "{}"
routing_key = "R0UT1NGKEY"
severities = ["critical"]
"#,
        smtp.addr, slack.url, pd.url
    );
    let cfg = config(dir.path(), &extra);
    let c = Collector::start(&dir.path().join("c"), &["--config", &cfg]);
    c.ingest_ok(&[health_line(
        1,
        "mbox3",
        json!({"check": "smart", "device": "/dev/sdb",
        "verdict": "failing", "reasons": ["overall health FAILED"]}),
    )]);

    assert!(
        wait_until(Duration::from_secs(10), || !smtp
            .messages
            .lock()
            .unwrap()
            .is_empty()),
        "no e-mail"
    );
    let mail = smtp.messages.lock().unwrap()[0].clone();
    for want in [
        "Subject: [FIRING:1] SmartDiskFailing host=mbox3",
        "To: oncall@example.com",
        "/dev/sdb on mbox3 is failing",
        "logwarden ack",
    ] {
        assert!(mail.contains(want), "e-mail lacks {want:?}:\n{mail}");
    }

    assert!(
        wait_until(Duration::from_secs(10), || !pd.posts().is_empty()),
        "no PagerDuty event"
    );
    let e = &pd.posts()[0].body;
    assert_same(
        "routing_key",
        "R0UT1NGKEY",
        e["routing_key"].as_str().unwrap(),
    );
    assert_same(
        "event_action",
        "trigger",
        e["event_action"].as_str().unwrap(),
    );
    assert_same(
        "severity",
        "critical",
        e["payload"]["severity"].as_str().unwrap(),
    );
    assert_same("source", "mbox3", e["payload"]["source"].as_str().unwrap());
    assert!(
        e["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("/dev/sdb")
    );
    let dedup = e["dedup_key"].as_str().unwrap().to_owned();

    assert!(
        wait_until(Duration::from_secs(10), || !slack.posts().is_empty()),
        "no Slack post"
    );
    assert!(
        slack.refused.load(Ordering::SeqCst) >= 2,
        "the 429 was answered and retried"
    );
    let s = &slack.posts()[0].body;
    assert_same(
        "text",
        "[FIRING:1] SmartDiskFailing host=mbox3",
        s["text"].as_str().unwrap(),
    );
    assert_same(
        "color",
        "danger",
        s["attachments"][0]["color"].as_str().unwrap(),
    );

    // Acked: PagerDuty hears `acknowledge` for the same dedup key.
    let out = c.cli(&["ack", &dedup]);
    assert_same("ack exit", Some(0), out.status.code());
    assert!(
        wait_until(Duration::from_secs(10), || pd.posts().len() >= 2),
        "no acknowledge"
    );
    let e = &pd.posts()[1].body;
    assert_same(
        "event_action",
        "acknowledge",
        e["event_action"].as_str().unwrap(),
    );
    assert_same(
        "dedup_key",
        dedup.as_str(),
        e["dedup_key"].as_str().unwrap(),
    );
    // Resolved: `resolve`.
    c.ingest_ok(&[health_line(
        2,
        "mbox3",
        json!({"check": "smart", "device": "/dev/sdb", "verdict": "ok"}),
    )]);
    assert!(
        wait_until(Duration::from_secs(10), || pd.posts().len() >= 3),
        "no resolve"
    );
    assert_same(
        "event_action",
        "resolve",
        pd.posts()[2].body["event_action"].as_str().unwrap(),
    );
}

#[test]
fn a_user_rule_with_a_bad_query_is_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "\n[[alerts.rules]]\nname = \"X\"\nquery = \"a OR b\"\n",
    );
    let out = std::process::Command::new(logwarden_tests::bin("logwarden-collector"))
        .args(["config", "check", &cfg])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_same("exit", Some(2), out.status.code());
    assert!(
        err.contains("collector.toml, line 7") && err.contains("OR"),
        "{err}"
    );
}

/// WAL retention: once the segments holding an incident's first records are deleted, a
/// SIGKILLed collector still knows the alert (no second page, the resolve goes out), still
/// refuses the trimmed events as duplicates, and still finds them in the index.
#[test]
fn after_the_wal_is_trimmed_a_sigkilled_collector_keeps_alerts_dedup_and_search() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start(0);
    // The smallest segments, and keep nothing beyond what the collector's parts still need.
    let cfg = config(
        dir.path(),
        "[wal]\nsegment_bytes = 1048576\nkeep_bytes = 1\n",
    );
    let mut c = Collector::start(
        &dir.path().join("c"),
        &["--config", &cfg, "--webhook", &sink.url],
    );
    c.ingest_ok(&[fs_full(1, "h1", 97.0)]);
    assert!(wait_for(
        &sink,
        "FilesystemFull",
        "firing",
        "critical",
        1,
        10
    ));
    // About 6 MB of log lines after it: six segments.
    let batch = |b| logwarden_tests::filler_batch("bulk", b, &[(1, "needleearly")]);
    for b in 0..12 {
        c.ingest_ok(&batch(b));
    }
    // The alert's record (LSN 1) and the first batches' are gone once the first LSN held passes
    // the fourth batch (retention looks every 10 s).
    assert!(
        wait_until(Duration::from_secs(60), || c.wal_first_lsn() > 5),
        "the WAL was not trimmed: {:?}",
        c.status().map(|s| s["wal"].clone())
    );
    let segments_before = c.status().unwrap()["wal"]["segments"].as_u64().unwrap();
    assert!(segments_before <= 3, "{segments_before} segments left");
    std::thread::sleep(Duration::from_millis(300));
    c.kill9();
    c.restart();
    assert!(
        c.wal_first_lsn() > 5,
        "the restarted collector reads a trimmed log"
    );

    // Dedup: the trimmed events (and the health record) are duplicates, nothing is added twice.
    let (status, body) = c.ingest(batch(0).join("\n").into_bytes(), &[]);
    assert_same("resend status", 200, status);
    assert_same("accepted on resend", 0, body["accepted"].as_u64().unwrap());
    assert_same(
        "duplicates on resend",
        2000,
        body["duplicates"].as_array().unwrap().len(),
    );
    let (_, body) = c.ingest(fs_full(1, "h1", 97.0).into_bytes(), &[]);
    assert_same(
        "health record resent",
        0,
        body["accepted"].as_u64().unwrap(),
    );
    // Search: the index still has them, once each.
    assert_same("needleearly hits", 1, c.count("needleearly"));

    // Alerts: still firing, not paged again, and the resolve still goes out.
    std::thread::sleep(Duration::from_secs(3));
    let out = c.cli(&["alerts"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("FilesystemFull"),
        "the alert survived the trim and the restart: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let firing = |sink: &HttpSink| {
        sink.alerts("FilesystemFull")
            .iter()
            .filter(|(s, _, _)| s == "firing")
            .count()
    };
    assert_same("firing pages after the restart", 1, firing(&sink));
    c.ingest_ok(&[fs_full(2, "h1", 40.0)]);
    assert!(
        wait_for(&sink, "FilesystemFull", "resolved", "critical", 1, 15),
        "no resolve after the restart: {:?}",
        sink.alerts("FilesystemFull")
    );
    assert_same("firing pages in all", 1, firing(&sink));
}

//! Cluster mode's syslog intake and partition hand-over (docs/scale.md, issue 32), with real
//! `nats-server` and real collectors:
//! - plain syslog from real `logger` processes (UDP and TCP), a real rsyslogd relaying, and a
//!   relay naming many hosts,
//!   sent to one collector, is found exactly once by a search on another, pages once through
//!   the alert leader, and a collector killed with SIGKILL and started again never reuses an
//!   id (the stream would drop a reused one as a duplicate);
//! - TCP syslog read while NATS is down is held, not lost, and published once it is back;
//! - a partition given up (to balance, or at shutdown) leaves no durable consumer behind;
//! - `logwarden fleet forget HOST` asked of any collector: the host leaves every collector's
//!   fleet view, its AgentSilent resolves once through the alert leader, and neither comes
//!   back when the leader is killed, until the host reports again.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use logwarden_tests::cluster_view::{self, owned, view};
use logwarden_tests::nats::NatsCluster;
use logwarden_tests::rsyslog::{rsyslogd, send};
use logwarden_tests::{Collector, HttpSink, wait_until};

const PARTITIONS: u32 = 8;

fn balanced(collectors: &[&Collector]) -> bool {
    cluster_view::balanced(collectors, PARTITIONS)
}

/// A collector config for cluster mode on one NATS node, with `alerts` in `[alerts]` and a
/// log rule that pages on `sysboom`.
fn config(dir: &Path, id: &str, nats: &[String], alerts: &str) -> PathBuf {
    let urls: Vec<String> = nats.iter().map(|u| format!("{u:?}")).collect();
    let text = format!(
        "[cluster]\nnats = [{}]\nid = \"{id}\"\npartitions = {PARTITIONS}\nreplicas = 1\n\
         lease_ttl = \"6s\"\n\n[alerts]\ngroup_interval = \"500ms\"\n{alerts}\n[[alerts.rules]]\n\
         name = \"SyslogBoom\"\nquery = 'sysboom'\nthreshold = 1\nwindow = \"1h\"\n\
         group_by = [\"host\"]\nseverity = \"critical\"\n",
        urls.join(", ")
    );
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(&path, text).expect("writing the collector config");
    path
}

fn start(dir: &Path, id: &str, nats: &[String], webhook: &str) -> Collector {
    start_with(dir, id, nats, webhook, "")
}

fn start_with(dir: &Path, id: &str, nats: &[String], webhook: &str, alerts: &str) -> Collector {
    let data = dir.join(id);
    std::fs::create_dir_all(&data).expect("data dir");
    let cfg = config(dir, id, nats, alerts);
    Collector::start(
        &data,
        &[
            "--config",
            cfg.to_str().expect("utf-8 path"),
            "--webhook",
            webhook,
        ],
    )
}

/// The durable consumers of the event stream named like a collector's (`<id>-p<N>`), as the
/// NATS node's monitoring endpoint lists them.
fn consumers(nats: &NatsCluster) -> BTreeSet<String> {
    let jsz: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!(
            "{}/jsz?accounts=true&streams=true&consumers=true",
            nats.nodes[0].monitor
        ))
        .timeout(Duration::from_secs(2))
        .send()
        .and_then(|r| r.json())
        .unwrap_or_default();
    let mut out = BTreeSet::new();
    for account in jsz["account_details"].as_array().into_iter().flatten() {
        for stream in account["stream_detail"].as_array().into_iter().flatten() {
            if stream["name"] != "LOGWARDEN_EVENTS" {
                continue;
            }
            for c in stream["consumer_detail"].as_array().into_iter().flatten() {
                let name = c["name"].as_str().unwrap_or_default();
                if name.contains("-p") {
                    out.insert(name.to_owned());
                }
            }
        }
    }
    out
}

/// The consumers the owners of the partitions should have: `<id>-p<N>` for each partition
/// each one owns now.
fn expected_consumers(collectors: &[(&str, &Collector)]) -> BTreeSet<String> {
    collectors
        .iter()
        .flat_map(|(id, c)| owned(c).into_iter().map(move |p| format!("{id}-p{p}")))
        .collect()
}

fn logger(args: &[&str], stdin: &str) {
    let mut child = Command::new("logger")
        .args(args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running logger (util-linux)");
    child
        .stdin
        .take()
        .expect("logger's stdin")
        .write_all(stdin.as_bytes())
        .expect("writing to logger");
    let out = child.wait_with_output().expect("logger ran");
    assert!(
        out.status.success(),
        "logger failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn host_port(addr: &str) -> (String, String) {
    let (h, p) = addr.rsplit_once(':').expect("host:port");
    (h.to_owned(), p.to_owned())
}

/// `lines` sent one per message by a real `logger` over TCP to `c`.
fn logger_tcp(c: &Collector, tag: &str, lines: &[String]) {
    let (h, p) = host_port(c.syslog_tcp.as_deref().expect("syslog tcp"));
    logger(
        &["-n", &h, "-P", &p, "-T", "-t", tag],
        &(lines.join("\n") + "\n"),
    );
}

fn logger_udp(c: &Collector, tag: &str, lines: &[String]) {
    let (h, p) = host_port(c.syslog_udp.as_deref().expect("syslog udp"));
    logger(
        &["-n", &h, "-P", &p, "-d", "-t", tag],
        &(lines.join("\n") + "\n"),
    );
}

/// Messages whose message holds `word`, asked of `c` (a fanned-out search), as message ->
/// the ids it was found under; `None` while the answer names missing partitions.
fn found(c: &Collector, word: &str) -> Option<HashMap<String, Vec<String>>> {
    let answer = c.search_api(word, 10_000);
    if answer["missing_partitions"]
        .as_array()
        .is_some_and(|m| !m.is_empty())
    {
        return None;
    }
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for h in answer["hits"].as_array().into_iter().flatten() {
        let message = h["message"].as_str().unwrap_or_default().to_owned();
        let id = h["id"].as_str().unwrap_or_default().to_owned();
        out.entry(message).or_default().push(id);
    }
    Some(out)
}

/// Waits until `c` finds every one of `sent` (messages with `word`), then checks that each is
/// found exactly once and nothing else is; returns the ids.
fn exactly_once(c: &Collector, word: &str, sent: &BTreeSet<String>) -> Vec<String> {
    let mut last = None;
    let complete = wait_until(Duration::from_secs(60), || {
        last = found(c, word);
        last.as_ref()
            .is_some_and(|f| sent.iter().all(|m| f.contains_key(m)))
    });
    let f = last.unwrap_or_default();
    let missing: Vec<&String> = sent.iter().filter(|m| !f.contains_key(*m)).collect();
    assert!(
        complete,
        "{} of {} messages never found on {}: {missing:?}",
        missing.len(),
        sent.len(),
        c.url
    );
    // A second look, after more time for any copy to arrive.
    std::thread::sleep(Duration::from_secs(2));
    let f = found(c, word).expect("a complete answer");
    let extra: Vec<&String> = f.keys().filter(|m| !sent.contains(*m)).collect();
    assert!(extra.is_empty(), "found messages never sent: {extra:?}");
    let twice: Vec<(&String, &Vec<String>)> = f.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(twice.is_empty(), "found more than once: {twice:?}");
    f.into_values().flatten().collect()
}

/// The messages of syslog lines `line` made for `sent`: RFC 3164 from a relay that names 12
/// hosts (so that they spread over the partitions).
fn relay_lines(word: &str, n: usize) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut messages = Vec::new();
    for i in 0..n {
        let message = format!("{word} relayed {i}");
        text.push_str(&format!(
            "<13>Dec  6 00:10:00 relay-h{} app: {message}\n",
            i % 12
        ));
        messages.push(message);
    }
    (text, messages)
}

/// Syslog sent to c1 (real `logger` over TCP and UDP, and a relay naming 12 hosts) is found
/// exactly once by a search on c2 and on c1, spread over several partitions; a log rule on a
/// syslog line pages once, through the alert leader; c1 killed -9 and started again numbers
/// new messages with ids never used, so that every one of them is taken.
#[test]
fn syslog_to_one_collector_is_found_once_on_another_and_pages_through_the_leader() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sink = HttpSink::start(0);
    let nats = NatsCluster::start(&dir.path().join("nats"), 1);
    let urls = nats.urls();
    let mut c1 = start(dir.path(), "c1", &urls, &sink.url);
    let c2 = start(dir.path(), "c2", &urls, &sink.url);
    assert!(
        wait_until(Duration::from_secs(60), || balanced(&[&c1, &c2])
            && view(&c2)["alert_leader"].is_string()),
        "no balanced cluster with an alert leader within 60 s: {} {}",
        view(&c1),
        view(&c2)
    );

    let tcp: Vec<String> = (0..30).map(|i| format!("sysword tcp {i}")).collect();
    let udp: Vec<String> = (0..30).map(|i| format!("sysword udp {i}")).collect();
    logger_tcp(&c1, "postfix/smtpd", &tcp);
    logger_udp(&c1, "slapd", &udp);
    let (relay, relayed) = relay_lines("sysword", 36);
    let mut conn = TcpStream::connect(c1.syslog_tcp.as_deref().expect("tcp")).expect("connect");
    conn.write_all(relay.as_bytes()).expect("relay sends");
    drop(conn);
    // And a real rsyslogd relaying 50 messages of hosts mta0..2 (octet-counted TCP, omfwd).
    let rsyslog_dir = dir.path().join("rsyslog");
    std::fs::create_dir_all(&rsyslog_dir).expect("rsyslog dir");
    let rsyslog = rsyslogd(&rsyslog_dir, c1.syslog_tcp.as_deref().expect("tcp"), None);
    send(&rsyslog, "sysword", 50);
    let forwarded = (0..50).map(|i| format!("sysword message {i}"));
    let mut sent: BTreeSet<String> = tcp
        .iter()
        .chain(&udp)
        .chain(&relayed)
        .cloned()
        .chain(forwarded)
        .collect();

    // A log rule on a syslog line: the leader (whichever it is: it reads the stream, not
    // c1's WAL) pages once.
    logger_tcp(&c1, "mailboxd", &["sysboom disk on fire".to_owned()]);
    let pages = || {
        sink.alerts("SyslogBoom")
            .iter()
            .filter(|(status, _, _)| status == "firing")
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(30), || pages() >= 1),
        "the rule on a syslog line never paged: {:?}",
        sink.posts()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(pages(), 1, "paged once: {:?}", sink.posts());

    let ids = exactly_once(&c2, "sysword", &sent);
    exactly_once(&c1, "sysword", &sent);
    let sources: BTreeSet<&str> = ids
        .iter()
        .filter_map(|id| id.rsplit_once(':').map(|(a, _)| a))
        .collect();
    assert!(
        sources.iter().all(|s| s.starts_with("syslog@c1/")),
        "syslog ids name the collector that took them: {sources:?}"
    );
    assert!(
        sources.len() >= 3,
        "12 relayed hosts spread over several partitions: {sources:?}"
    );

    drop(rsyslog);

    // Killed and started again: new messages get ids never used before. A reused id would be
    // taken by JetStream as a duplicate (within its window) and the message lost.
    c1.kill9();
    c1.restart();
    let after: Vec<String> = (0..30).map(|i| format!("sysword after {i}")).collect();
    logger_tcp(&c1, "postfix/smtpd", &after);
    let (relay, relayed) = relay_lines("sysword again", 24);
    let mut conn = TcpStream::connect(c1.syslog_tcp.as_deref().expect("tcp")).expect("connect");
    conn.write_all(relay.as_bytes()).expect("relay sends");
    drop(conn);
    sent.extend(after);
    sent.extend(relayed);
    let all = exactly_once(&c2, "sysword", &sent);
    assert_eq!(all.len(), 200);
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "every id once");
}

/// TCP syslog read while the NATS server is down is held (the sender waits) and published
/// once NATS is back: found exactly once.
#[test]
fn tcp_syslog_read_while_nats_is_down_is_published_when_it_is_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sink = HttpSink::start(0);
    let mut nats = NatsCluster::start(&dir.path().join("nats"), 1);
    let urls = nats.urls();
    let c1 = start(dir.path(), "c1", &urls, &sink.url);
    assert!(
        wait_until(Duration::from_secs(60), || owned(&c1).len()
            == PARTITIONS as usize),
        "c1 never owned every partition: {}",
        view(&c1)
    );
    let before: Vec<String> = (0..10).map(|i| format!("outage before {i}")).collect();
    logger_tcp(&c1, "app", &before);
    exactly_once(&c1, "outage", &before.iter().cloned().collect());

    nats.nodes[0].kill9();
    let during: Vec<String> = (0..40).map(|i| format!("outage during {i}")).collect();
    logger_tcp(&c1, "app", &during);
    let (relay, relayed) = relay_lines("outage", 24);
    let mut conn = TcpStream::connect(c1.syslog_tcp.as_deref().expect("tcp")).expect("connect");
    conn.write_all(relay.as_bytes()).expect("relay sends");
    drop(conn);
    // Long enough for the intake to read them and try (and fail) to publish.
    std::thread::sleep(Duration::from_secs(5));
    nats.nodes[0].restart();
    let sent: BTreeSet<String> = before.into_iter().chain(during).chain(relayed).collect();
    exactly_once(&c1, "outage", &sent);
}

/// A partition given up leaves no durable consumer: c1 alone reads all 8 partitions through
/// 8 consumers; once c2 joins and takes its share, the stream has exactly one consumer per
/// partition, its owner's; c2 killed with SIGKILL leaves its consumers, and deletes those of
/// partitions held by others when started again (after c3 took them); once c2 and c3 stop
/// cleanly, c1 takes everything back and their consumers are gone.
#[test]
fn a_given_up_partition_leaves_no_durable_consumer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sink = HttpSink::start(0);
    let nats = NatsCluster::start(&dir.path().join("nats"), 1);
    let urls = nats.urls();
    let c1 = start(dir.path(), "c1", &urls, &sink.url);
    let all_c1: BTreeSet<String> = (0..PARTITIONS).map(|p| format!("c1-p{p}")).collect();
    assert!(
        wait_until(Duration::from_secs(60), || consumers(&nats) == all_c1),
        "c1 alone does not read every partition: {:?}",
        consumers(&nats)
    );
    let mut c2 = start(dir.path(), "c2", &urls, &sink.url);
    let mut last = (BTreeSet::new(), BTreeSet::new());
    let settled = wait_until(Duration::from_secs(60), || {
        if !balanced(&[&c1, &c2]) {
            return false;
        }
        last = (
            consumers(&nats),
            expected_consumers(&[("c1", &c1), ("c2", &c2)]),
        );
        last.0 == last.1
    });
    assert!(
        settled,
        "after the rebalance the stream's consumers are {:?}, the owners' {:?}",
        last.0, last.1
    );
    assert_eq!(last.0.len(), PARTITIONS as usize);
    assert!(last.0.iter().any(|n| n.starts_with("c2-")));

    // Killed with SIGKILL, c2 deletes nothing: c1 takes its partitions back and c2's consumers
    // stay. c3 joins and takes them; c2, started again, finds its old consumers and deletes
    // those of partitions the others hold; once the three are balanced, the stream has
    // exactly the owners' consumers.
    let c2_before: BTreeSet<String> = last
        .0
        .iter()
        .filter(|n| n.starts_with("c2-"))
        .cloned()
        .collect();
    c2.kill9();
    let mut seen = BTreeSet::new();
    assert!(
        wait_until(Duration::from_secs(60), || {
            seen = consumers(&nats);
            owned(&c1).len() == PARTITIONS as usize && seen.is_superset(&all_c1)
        }),
        "c1 never took c2's partitions back: {seen:?}"
    );
    assert!(
        seen.is_superset(&c2_before),
        "c2's consumers are left: {seen:?}"
    );
    let c3 = start(dir.path(), "c3", &urls, &sink.url);
    assert!(
        wait_until(Duration::from_secs(60), || balanced(&[&c1, &c3])),
        "c1 and c3 never balanced"
    );
    c2.restart();
    let settled = wait_until(Duration::from_secs(90), || {
        if !balanced(&[&c1, &c2, &c3]) {
            return false;
        }
        last = (
            consumers(&nats),
            expected_consumers(&[("c1", &c1), ("c2", &c2), ("c3", &c3)]),
        );
        last.0 == last.1
    });
    assert!(
        settled,
        "after c2's restart the stream's consumers are {:?}, the owners' {:?}",
        last.0, last.1
    );

    // A clean stop gives c2's and c3's partitions up: c1 takes them back, and their consumers
    // go.
    c2.signal("TERM");
    c3.signal("TERM");
    assert!(
        wait_until(Duration::from_secs(60), || consumers(&nats) == all_c1),
        "after c2 stopped: {:?}",
        consumers(&nats)
    );
}

/// The status of `host`'s AgentSilent as `c` lists the alerts (through the leader).
fn silent(c: &Collector, host: &str) -> Option<String> {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/alerts?all=true", c.url))
        .timeout(Duration::from_secs(20))
        .send()
        .ok()?;
    let v: serde_json::Value = resp.json().ok()?;
    let alerts = v
        .as_array()
        .cloned()
        .or_else(|| v["alerts"].as_array().cloned())?;
    alerts
        .iter()
        .find(|a| a["name"] == "AgentSilent" && a["labels"]["host"] == host)
        .and_then(|a| a["status"].as_str().map(str::to_owned))
}

/// The hosts `logwarden fleet -o json` lists when asked of `c`.
fn fleet_hosts(c: &Collector) -> Vec<String> {
    let out = c.cli(&["fleet", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["host"].as_str().map(str::to_owned))
        .collect()
}

/// Webhook notifications about AgentSilent of `host`: their statuses, in order.
fn notified(sink: &HttpSink, host: &str) -> Vec<String> {
    sink.posts()
        .iter()
        .flat_map(|p| p.body["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["labels"]["alertname"] == "AgentSilent" && a["labels"]["host"] == host)
        .map(|a| a["status"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// `logwarden fleet forget` asked of a collector that does not lead alerting: the host
/// leaves the fleet view of both collectors at once, its AgentSilent resolves (one resolved
/// notification, not after `resolve_hold`); the leader killed with SIGKILL, the survivor
/// leads from the shared state and neither the host nor its alert comes back; once the host
/// reports again it is in the fleet view again.
#[test]
fn fleet_forget_works_across_the_cluster_and_survives_the_leader() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sink = HttpSink::start(0);
    let nats = NatsCluster::start(&dir.path().join("nats"), 1);
    let urls = nats.urls();
    // Silent after 1 s without a heartbeat; a cleared verdict would take a minute to resolve,
    // so only the forget's own resolution can pass within the test's waits.
    let alerts = "heartbeat_interval_s = 0.5\nsilent_intervals = 2\nresolve_hold_s = 60\n";
    let mut collectors = vec![
        start_with(dir.path(), "c1", &urls, &sink.url, alerts),
        start_with(dir.path(), "c2", &urls, &sink.url, alerts),
    ];
    let leader = || {
        view(&collectors[0])["alert_leader"]
            .as_str()
            .map(str::to_owned)
    };
    assert!(
        wait_until(Duration::from_secs(60), || balanced(&[
            &collectors[0],
            &collectors[1]
        ]) && leader().is_some()),
        "no balanced cluster with an alert leader within 60 s"
    );
    let l = usize::from(leader().as_deref() == Some("c2"));
    let other = 1 - l;
    collectors[l].ingest_ok(&[
        logwarden_tests::heartbeat("retired1", 1),
        logwarden_tests::heartbeat("alive1", 1),
    ]);
    let asked = &collectors[other];
    assert!(
        wait_until(Duration::from_secs(30), || {
            silent(asked, "retired1").as_deref() == Some("firing")
                && silent(asked, "alive1").as_deref() == Some("firing")
        }),
        "AgentSilent never fired for both hosts"
    );
    assert!(
        wait_until(Duration::from_secs(30), || {
            let hosts = fleet_hosts(asked);
            hosts.contains(&"retired1".to_owned()) && hosts.contains(&"alive1".to_owned())
        }),
        "the fleet view never listed both hosts: {:?}",
        fleet_hosts(asked)
    );

    let out = asked.cli(&["fleet", "forget", "retired1", "--author", "test"]);
    assert!(
        out.status.success(),
        "fleet forget in cluster mode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("AgentSilent"), "{stdout}");
    for c in &collectors {
        let hosts = fleet_hosts(c);
        assert!(!hosts.contains(&"retired1".to_owned()), "{hosts:?}");
        assert!(hosts.contains(&"alive1".to_owned()), "{hosts:?}");
    }
    assert_eq!(silent(asked, "retired1").as_deref(), Some("resolved"));
    assert_eq!(silent(asked, "alive1").as_deref(), Some("firing"));
    assert!(
        wait_until(Duration::from_secs(30), || notified(&sink, "retired1")
            .last()
            .map(String::as_str)
            == Some("resolved")),
        "the receiver never heard the resolve: {:?}",
        notified(&sink, "retired1")
    );
    // Forgotten already: a second forget finds no such host.
    let again = asked.cli(&["fleet", "forget", "retired1"]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");

    // The leader killed: the survivor leads from the shared state; the host stays forgotten
    // and its alert resolved (its old heartbeats, replayed from the stream, do not bring the
    // watch back).
    collectors[l].kill9();
    let survivor = &collectors[other];
    let id = if other == 0 { "c1" } else { "c2" };
    assert!(
        wait_until(Duration::from_secs(60), || view(survivor)["alert_leader"]
            == id
            && silent(survivor, "alive1").is_some()),
        "the survivor never led alerting: {}",
        view(survivor)
    );
    std::thread::sleep(Duration::from_secs(4)); // several heartbeat intervals and ticks
    assert_eq!(silent(survivor, "retired1").as_deref(), Some("resolved"));
    assert_eq!(silent(survivor, "alive1").as_deref(), Some("firing"));
    assert!(!fleet_hosts(survivor).contains(&"retired1".to_owned()));
    let statuses = notified(&sink, "retired1");
    assert_eq!(
        statuses.iter().filter(|s| *s == "firing").count(),
        1,
        "fired once, never again: {statuses:?}"
    );

    // It reports again: back in the fleet view.
    survivor.ingest_ok(&[logwarden_tests::heartbeat("retired1", 2)]);
    assert!(
        wait_until(Duration::from_secs(60), || fleet_hosts(survivor)
            .contains(&"retired1".to_owned())),
        "a host that reports after its forget is back in the fleet view"
    );
}

/// A TCP sender that keeps writing while NATS is down is held back: once the collector's
/// queue and the socket buffers are full, its writes block (nothing is read and dropped); UDP
/// datagrams meanwhile are dropped and counted; once NATS is back, the writes go on, and every
/// line written is found, once.
#[test]
fn a_tcp_sender_is_held_back_while_the_stream_refuses_and_loses_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let dir = tempfile::tempdir().expect("temp dir");
    let sink = HttpSink::start(0);
    let mut nats = NatsCluster::start(&dir.path().join("nats"), 1);
    let urls = nats.urls();
    let c1 = start(dir.path(), "c1", &urls, &sink.url);
    assert!(
        wait_until(Duration::from_secs(60), || owned(&c1).len()
            == PARTITIONS as usize),
        "c1 never owned every partition: {}",
        view(&c1)
    );
    nats.nodes[0].kill9();

    let written = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let addr = c1.syslog_tcp.clone().expect("syslog tcp");
    let writer = {
        let (written, stop) = (written.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).expect("connect");
            // At most this many: far more than the collector holds while the stream refuses.
            for i in 0..5_000_000u64 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let line = format!("<13>Dec  6 00:10:00 flood-h{} app: heldback {i}\n", i % 50);
                s.write_all(line.as_bytes()).expect("write");
                written.store(i + 1, Ordering::Relaxed);
            }
        })
    };
    // Held back: no progress for 3 s, long before the 5,000,000 lines.
    let mut last = (0, std::time::Instant::now());
    let stalled = wait_until(Duration::from_secs(120), || {
        let now = written.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, std::time::Instant::now());
        }
        now > 0 && last.1.elapsed() > Duration::from_secs(3)
    });
    let held = written.load(Ordering::Relaxed);
    assert!(
        stalled && held < 5_000_000,
        "the sender was never held back ({held} lines written)"
    );
    println!("held back after {held} lines");
    // UDP meanwhile: the intake's queue is full, so datagrams are dropped and counted (UDP
    // cannot hold a sender back), never taken and then lost.
    let dropped_before = c1
        .metric("logwarden_syslog_dropped_messages_total")
        .unwrap_or(0.0);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    let to = c1.syslog_udp.clone().expect("syslog udp");
    for i in 0..500 {
        let line = format!("<13>Dec  6 00:10:00 flood-u app: udpdrop {i}");
        udp.send_to(line.as_bytes(), &to).expect("udp send");
    }
    let mut dropped = 0.0;
    assert!(
        wait_until(Duration::from_secs(30), || {
            dropped = c1
                .metric("logwarden_syslog_dropped_messages_total")
                .unwrap_or(0.0)
                - dropped_before;
            dropped > 0.0
        }),
        "UDP datagrams sent while the intake is held were not counted as dropped"
    );
    stop.store(true, Ordering::Relaxed);
    nats.nodes[0].restart();
    writer.join().expect("the writer ends once NATS is back");
    let total = written.load(Ordering::Relaxed);
    let mut count = 0;
    let complete = wait_until(Duration::from_secs(300), || {
        count = c1.count("heldback");
        count >= total
    });
    assert!(complete, "{count} of {total} lines found");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(c1.count("heldback"), total, "every line once");
    // Each datagram either dropped and counted, or taken (read after the queue had room).
    let dropped = c1
        .metric("logwarden_syslog_dropped_messages_total")
        .unwrap_or(0.0)
        - dropped_before;
    let taken = c1.count("udpdrop");
    assert!(
        dropped as u64 + taken <= 500 && dropped > 0.0,
        "{dropped} dropped, {taken} taken of 500"
    );
}

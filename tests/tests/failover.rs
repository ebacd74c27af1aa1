//! End to end: a primary and a standby collector on loopback, under steady agent load: the
//! standby's copy, a planned switchover, a killed primary, the old primary's return, and alert
//! notifications across a failover (docs/failover.md).

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use logwarden_tests::{
    Agent, Collector, Gate, HttpSink, Witness, assert_same, free_addr, wait_until,
};
use serde_json::json;

/// Starts A as primary and B as standby of each other; `extra` goes to both.
fn pair(dir: &Path, extra: &[&str]) -> (Collector, Collector) {
    let (addr_a, addr_b) = (free_addr(), free_addr());
    let (url_a, url_b) = (format!("http://{addr_a}"), format!("http://{addr_b}"));
    pair_at(dir, (&addr_a, &url_b, extra), (&addr_b, &url_a, extra))
}

/// Starts A (primary) on `a.0` with peer URL `a.1` and more flags `a.2`, then B (standby).
fn pair_at(
    dir: &Path,
    a: (&str, &str, &[&str]),
    b: (&str, &str, &[&str]),
) -> (Collector, Collector) {
    let start = |name: &str, role: &str, (addr, peer, extra): (&str, &str, &[&str])| {
        let mut args = vec!["--site", name, "--role", role, "--peer", peer];
        args.extend(extra);
        Collector::start_at(&dir.join(name), addr, &args)
    };
    let a = start("a", "primary", a);
    let b = start("b", "standby", b);
    (a, b)
}

/// A collector config with short alert timers and the given failover timeout.
fn config(dir: &Path, failover_timeout_s: f64) -> String {
    let path = dir.join("collector.toml");
    std::fs::write(
        &path,
        format!(
            "[alerts]\nresolve_hold_s = 1.5\ngroup_interval_s = 0.5\n\
             [replication]\nfailover_timeout_s = {failover_timeout_s}\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// A RAID health record for host `h1`, array md2: 6 disks, `working` of them working.
fn raid_line(seq: u64, working: u64) -> String {
    let state = if working == 6 { "clean" } else { "degraded" };
    json!({
        "id": format!("probe:{seq}"),
        "ts": chrono::Utc::now().to_rfc3339(),
        "host": "h1",
        "site": "lab",
        "source": "health",
        "app": "raid",
        "severity": "info",
        "kind": "health",
        "message": format!("md2 {state}"),
        "fields": {"check": "raid", "array": "md2", "level": "raid6", "state": state,
            "disks_total": 6, "disks_working": working, "disks_spare": 0,
            "redundancy_left": working as i64 - 4, "sync_action": "idle"},
    })
    .to_string()
}

/// Firing and resolved RaidArrayDegraded notifications the sink received.
fn raid_notices(sink: &HttpSink) -> (usize, usize) {
    let a = sink.alerts("RaidArrayDegraded");
    let count = |s: &str| a.iter().filter(|(st, _, _)| st == s).count();
    (count("firing"), count("resolved"))
}

/// Steady load: a file written at 200 lines/s and an agent given both collectors' URLs, A first.
fn load(dir: &Path, word: &'static str, a: &Collector, b: &Collector) -> (Writer, Agent) {
    let log = dir.join(format!("{word}.log"));
    let writer = Writer::start(&log, word, 200);
    let agent = Agent::start_with(
        &dir.join("agent"),
        &a.url,
        &[log.to_str().unwrap()],
        &["--collector", &b.url],
    );
    (writer, agent)
}

fn role_epoch(c: &Collector) -> Option<(String, u64)> {
    let s = c.status()?;
    Some((s["role"].as_str()?.to_owned(), s["epoch"].as_u64()?))
}

fn durable(c: &Collector) -> u64 {
    c.status()
        .map_or(0, |s| s["wal"]["durable_lsn"].as_u64().unwrap_or(0))
}

/// Appends numbered lines to a file at a steady rate until stopped; counts them.
struct Writer {
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(path: &Path, word: &'static str, per_second: u64) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        let (s, w) = (stop.clone(), written.clone());
        let thread = std::thread::spawn(move || {
            let tick = Duration::from_millis(20);
            let per_tick = (per_second / 50).max(1);
            while !s.load(Ordering::SeqCst) {
                let start = w.load(Ordering::SeqCst);
                let mut chunk = String::new();
                for i in start..start + per_tick {
                    chunk.push_str(&format!("{word} line {i:06}\n"));
                }
                f.write_all(chunk.as_bytes()).unwrap();
                w.store(start + per_tick, Ordering::SeqCst);
                std::thread::sleep(tick);
            }
        });
        Writer {
            stop,
            written,
            thread: Some(thread),
        }
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// Stops writing; returns how many lines were written.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        self.written()
    }
}

/// Waits until `n` events of `word` are searchable on `c`, then checks lines `0..n` are there
/// exactly once each; returns the events' `received` times (seconds since the epoch), sorted.
fn verify_exact(c: &Collector, word: &str, n: u64) -> Vec<f64> {
    let reached = wait_until(Duration::from_secs(60), || c.count(word) >= n);
    std::thread::sleep(Duration::from_millis(1500)); // let late duplicates, if any, arrive
    let hits = c.hits(word, 10_000);
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut received = Vec::new();
    for h in &hits {
        *seen
            .entry(h["message"].as_str().unwrap().to_owned())
            .or_default() += 1;
        let r = h["received"].as_str().expect("received is set");
        let t = chrono::DateTime::parse_from_rfc3339(r).unwrap();
        received.push(t.timestamp_micros() as f64 / 1e6);
    }
    let missing: Vec<u64> = (0..n)
        .filter(|i| !seen.contains_key(&format!("{word} line {i:06}")))
        .collect();
    let duplicates: u32 = seen.values().map(|k| k - 1).sum();
    println!(
        "{word}: lines written {n}, unique found {}, duplicates {duplicates}, first missing {:?}",
        n - missing.len() as u64,
        &missing[..missing.len().min(10)]
    );
    assert!(
        reached || !missing.is_empty(),
        "count reached but lines missing"
    );
    assert_same("missing lines", Vec::<u64>::new(), missing);
    assert_same("duplicates", 0, duplicates);
    assert_same("events of the word", n, hits.len() as u64);
    received.sort_by(f64::total_cmp);
    received
}

/// The longest stretch without an accepted event that ends after `after` (seconds).
fn longest_gap_after(received: &[f64], after: f64) -> f64 {
    received
        .windows(2)
        .filter(|w| w[1] >= after)
        .map(|w| w[1] - w[0])
        .fold(0.0, f64::max)
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn the_standby_copies_the_log_and_a_planned_switchover_pauses_ingest_under_2s_losing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(dir.path(), &[]);
    let (writer, _agent) = load(dir.path(), "switchover", &a, &b);
    assert!(
        wait_until(Duration::from_secs(20), || a.count("switchover") > 300),
        "the primary never got the agent's events"
    );
    // The standby follows: its WAL and its index (built from its own WAL) have the events.
    assert!(
        wait_until(Duration::from_secs(10), || b.count("switchover") > 300),
        "the standby's index never got the events"
    );
    let status = b.status().unwrap();
    println!("standby status: {status}");
    assert_same("standby role", "standby", status["role"].as_str().unwrap());
    assert!(status["replication"]["lag_records"].as_u64().is_some());
    let metrics = reqwest::blocking::get(format!("{}/metrics", b.url))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("logwarden_replication_lag_records ")
            && metrics.contains("logwarden_primary 0"),
        "replication lag in the standby's metrics:\n{metrics}"
    );
    let out = b.cli(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("records behind") && text.contains("promote"),
        "status names the lag and how to promote:\n{text}"
    );

    let before = now_s();
    let started = Instant::now();
    let out = b.cli(&["promote"]);
    let took = started.elapsed();
    println!(
        "promote: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promote failed");
    assert_eq!(role_epoch(&b), Some(("primary".into(), 2)));
    assert!(
        wait_until(Duration::from_secs(10), || role_epoch(&a)
            == Some(("standby".into(), 2))),
        "the old primary did not become the standby: {:?}",
        role_epoch(&a)
    );
    println!("switchover command took {:.2} s", took.as_secs_f64());

    // The agent follows without a restart: new lines reach the new primary.
    let mark = writer.written();
    assert!(
        wait_until(Duration::from_secs(20), || b.count("switchover")
            > mark + 200),
        "the agent did not follow the new primary"
    );
    let n = writer.stop();
    let received = verify_exact(&b, "switchover", n);
    let pause = longest_gap_after(&received, before);
    println!("ingest pause during the planned switchover: {pause:.3} s");
    assert!(pause < 2.0, "ingest paused {pause:.3} s");

    // The old primary, now standby, catches up with the new primary.
    assert!(
        wait_until(Duration::from_secs(20), || durable(&a) == durable(&b)),
        "the old primary did not catch up: {} vs {}",
        durable(&a),
        durable(&b)
    );
    assert!(wait_until(Duration::from_secs(20), || a
        .count("switchover")
        == n));
}

#[test]
fn a_killed_primary_is_replaced_by_the_standby_and_rejoins_as_its_standby() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, b) = pair(dir.path(), &[]);
    let (writer, _agent) = load(dir.path(), "killed", &a, &b);
    assert!(wait_until(Duration::from_secs(20), || b.count("killed") > 300));

    a.kill9();
    let killed = Instant::now();
    // No witness: the standby says how to promote by hand, and the operator does.
    let advice = b.status().unwrap()["replication"]["advice"].clone();
    assert!(
        advice.as_str().unwrap_or("").contains("--force"),
        "{advice}"
    );
    let out = b.cli(&["promote", "--force"]);
    assert!(
        out.status.success(),
        "promote --force: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_until(Duration::from_secs(15), || role_epoch(&b)
        == Some(("primary".into(), 2))));
    println!(
        "standby primary {:.2} s after the primary was killed (manual promotion)",
        killed.elapsed().as_secs_f64()
    );

    let mark = writer.written();
    assert!(
        wait_until(Duration::from_secs(30), || b.count("killed") > mark + 200),
        "the agent did not follow the new primary"
    );

    // The old primary returns with its old role in its state file: it learns of epoch 2 from
    // its peer, steps down and copies what it missed.
    a.restart();
    assert!(
        wait_until(Duration::from_secs(15), || role_epoch(&a)
            == Some(("standby".into(), 2))),
        "the old primary did not step down: {:?}",
        role_epoch(&a)
    );
    let n = writer.stop();
    verify_exact(&b, "killed", n);
    assert!(
        wait_until(Duration::from_secs(30), || durable(&a) == durable(&b)
            && a.count("killed") == n),
        "the old primary did not catch up: {} vs {}, {} events",
        durable(&a),
        durable(&b),
        a.count("killed")
    );
}

#[test]
fn with_a_witness_a_killed_primary_is_replaced_within_15s_and_an_alert_is_paged_once_and_resolved_once()
 {
    let dir = tempfile::tempdir().unwrap();
    let witness = Witness::start(&dir.path().join("witness"));
    let sink = HttpSink::start(0);
    // The default failover timeout (10 s), as an operator would run it.
    let cfg = config(dir.path(), 10.0);
    let flags = [
        "--config",
        &cfg,
        "--witness",
        &witness.url,
        "--webhook",
        &sink.url,
    ];
    let (mut a, b) = pair(dir.path(), &flags);
    let (writer, _agent) = load(dir.path(), "witnessed", &a, &b);
    assert!(wait_until(Duration::from_secs(20), || b.count("witnessed") > 300));

    // An alert fires on the primary and its notification is logged (and copied).
    let (status, _) = a.ingest(raid_line(1, 6).into_bytes(), &[]);
    assert_same("ingest status", 200, status);
    let (status, _) = a.ingest(raid_line(2, 5).into_bytes(), &[]);
    assert_same("ingest status", 200, status);
    assert!(
        wait_until(Duration::from_secs(10), || raid_notices(&sink).0 == 1),
        "no firing notification: {:?}",
        sink.posts()
    );
    assert!(
        wait_until(Duration::from_secs(5), || durable(&b) >= durable(&a)),
        "the standby did not copy the notification log"
    );

    a.kill9();
    let killed = Instant::now();
    assert!(
        wait_until(Duration::from_secs(30), || role_epoch(&b)
            == Some(("primary".into(), 2))),
        "the standby did not take over: {:?}",
        b.status()
    );
    let took = killed.elapsed();
    println!(
        "standby primary {:.2} s after the primary was SIGKILLed (failover timeout 10 s)",
        took.as_secs_f64()
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");

    // The agent ships to the new primary without a restart.
    let mark = writer.written();
    assert!(
        wait_until(Duration::from_secs(30), || b.count("witnessed")
            > mark + 200),
        "the agent did not follow the new primary"
    );
    // The array is repaired: the new primary resolves the alert it inherited.
    let (status, body) = b.ingest(raid_line(3, 6).into_bytes(), &[]);
    assert_same("ingest status on the new primary", 200, status);
    assert_same("epoch of the ack", 2, body["epoch"].as_u64().unwrap());
    assert!(
        wait_until(Duration::from_secs(15), || raid_notices(&sink).1 >= 1),
        "no resolved notification: {:?}",
        sink.posts()
    );
    std::thread::sleep(Duration::from_secs(2)); // a second page, if any, would come by now
    assert_same(
        "RaidArrayDegraded notifications (firing, resolved)",
        (1, 1),
        raid_notices(&sink),
    );

    let n = writer.stop();
    verify_exact(&b, "witnessed", n);
    // The old primary returns, learns of epoch 2 and follows as standby.
    a.restart();
    assert!(
        wait_until(Duration::from_secs(15), || role_epoch(&a)
            == Some(("standby".into(), 2))),
        "{:?}",
        role_epoch(&a)
    );
    assert!(
        wait_until(Duration::from_secs(30), || durable(&a) == durable(&b)
            && a.count("witnessed") == n),
        "the old primary did not catch up"
    );
    assert_same(
        "notifications after the rejoin",
        (1, 1),
        raid_notices(&sink),
    );
}

#[test]
fn a_primary_cut_off_from_the_standby_and_the_witness_is_fenced_and_no_brain_splits() {
    let dir = tempfile::tempdir().unwrap();
    let witness = Witness::start(&dir.path().join("witness"));
    let cfg = config(dir.path(), 3.0);
    let (addr_a, addr_b) = (free_addr(), free_addr());
    // Every path of A to the others goes through a gate the test can cut; the agent (at A's
    // site) reaches both collectors directly.
    let a_to_b = Gate::start(&addr_b);
    let b_to_a = Gate::start(&addr_a);
    let a_to_witness = Gate::start(witness.url.trim_start_matches("http://"));
    let a_flags = ["--config", &cfg, "--witness", &a_to_witness.url()];
    let b_flags = ["--config", &cfg, "--witness", &witness.url];
    let (a_peer, b_peer) = (a_to_b.url(), b_to_a.url());
    let (a, b) = pair_at(
        dir.path(),
        (&addr_a, &a_peer, &a_flags),
        (&addr_b, &b_peer, &b_flags),
    );
    let (writer, _agent) = load(dir.path(), "partition", &a, &b);
    assert!(wait_until(Duration::from_secs(20), || b.count("partition") > 300));

    let cut = Instant::now();
    for g in [&a_to_b, &b_to_a, &a_to_witness] {
        g.cut();
    }
    assert!(
        wait_until(Duration::from_secs(20), || role_epoch(&b)
            == Some(("primary".into(), 2))),
        "the standby did not take over: {:?}",
        b.status()
    );
    println!(
        "standby primary {:.2} s after the partition (failover timeout 3 s)",
        cut.elapsed().as_secs_f64()
    );
    // The old primary still runs and still thinks it is primary at epoch 1, but it is fenced:
    // it acknowledges nothing.
    let (role, epoch) = role_epoch(&a).unwrap();
    println!("old primary during the partition: {role} at epoch {epoch}");
    let (status, body) = a.ingest(
        logwarden_tests::event_line("split", 1, "split brain probe").into_bytes(),
        &[],
    );
    println!("ingest on the old primary: {status} {body}");
    assert_same("ingest status on the fenced old primary", 503, status);
    assert!(
        body["error"].as_str().unwrap_or("").contains("fenced"),
        "{body}"
    );

    // The agent ships to the new primary meanwhile.
    let mark = writer.written();
    assert!(
        wait_until(Duration::from_secs(30), || b.count("partition")
            > mark + 200),
        "the agent did not follow the new primary"
    );

    // The partition heals: the old primary steps down and catches up.
    for g in [&a_to_b, &b_to_a, &a_to_witness] {
        g.heal();
    }
    assert!(
        wait_until(Duration::from_secs(15), || role_epoch(&a)
            == Some(("standby".into(), 2))),
        "{:?}",
        role_epoch(&a)
    );
    let n = writer.stop();
    verify_exact(&b, "partition", n);
    assert_same("the probe sent to the fenced primary", 0, b.count("split"));
    assert!(
        wait_until(Duration::from_secs(30), || durable(&a) == durable(&b)
            && a.count("partition") == n),
        "the old primary did not catch up"
    );
}

#[test]
fn syslog_sent_to_the_standby_reaches_the_primary_once_and_follows_a_switchover() {
    let dir = tempfile::tempdir().unwrap();
    let (addr_a, addr_b, syslog_b) = (free_addr(), free_addr(), free_addr());
    let (url_a, url_b) = (format!("http://{addr_a}"), format!("http://{addr_b}"));
    let (a, b) = pair_at(
        dir.path(),
        (&addr_a, &url_b, &[]),
        (&addr_b, &url_a, &["--syslog-tcp", &syslog_b]),
    );
    let send = |from: u64, to: u64| {
        let mut s = std::net::TcpStream::connect(&syslog_b).unwrap();
        for i in from..to {
            writeln!(s, "<14>Nov 29 10:00:00 mta1 postfix/qmgr[12]: quince {i}").unwrap();
        }
        s.flush().unwrap();
    };
    send(0, 300);
    assert!(
        wait_until(Duration::from_secs(15), || a.count("quince") == 300),
        "the primary holds {} of 300 messages sent to the standby",
        a.count("quince")
    );
    // After a switchover the same listener (now the primary's) writes them itself.
    let out = b.cli(&["promote"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_until(Duration::from_secs(10), || role_epoch(&b)
        == Some(("primary".into(), 2))));
    send(300, 600);
    assert!(
        wait_until(Duration::from_secs(15), || b.count("quince") == 600),
        "the new primary holds {} of 600",
        b.count("quince")
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_same("syslog messages, each once", 600, b.count("quince"));
}

/// WAL retention with a standby that arrives late: the primary's WAL was trimmed before the
/// standby existed. The standby copies what the WAL still holds, and the deduplication state
/// comes whole with the first copied checkpoint: after a promotion, resends of events trimmed
/// before the standby ever saw them are still duplicates.
#[test]
fn a_standby_copied_from_a_trimmed_primary_still_refuses_the_trimmed_events_as_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("small-wal.toml");
    std::fs::write(&cfg, "[wal]\nsegment_bytes = 1048576\nkeep_bytes = 1\n").unwrap();
    let cfg = cfg.to_str().unwrap();
    let (addr_a, addr_b) = (free_addr(), free_addr());
    let (url_a, url_b) = (format!("http://{addr_a}"), format!("http://{addr_b}"));
    let batch =
        |b| logwarden_tests::filler_batch("bulk", b, &[(1, "needleearly"), (24_000, "needlelate")]);
    // A alone first: about 6 MB of events, and its WAL trimmed down to its last segments.
    let mut a = Collector::start_at(
        &dir.path().join("a"),
        &addr_a,
        &["--site", "a", "--config", cfg],
    );
    for b in 0..12 {
        a.ingest_ok(&batch(b));
    }
    assert!(
        wait_until(Duration::from_secs(60), || a.wal_first_lsn() > 5),
        "A's WAL was not trimmed: {:?}",
        a.status().map(|s| s["wal"].clone())
    );
    let a_first = a.wal_first_lsn();
    a.kill9();

    // Then the pair: A primary, B a new standby.
    let a = Collector::start_at(
        &dir.path().join("a"),
        &addr_a,
        &[
            "--site", "a", "--config", cfg, "--role", "primary", "--peer", &url_b,
        ],
    );
    let b = Collector::start_at(
        &dir.path().join("b"),
        &addr_b,
        &[
            "--site", "b", "--config", cfg, "--role", "standby", "--peer", &url_a,
        ],
    );
    assert!(
        wait_until(Duration::from_secs(30), || durable(&b) == durable(&a)
            && durable(&a) > 0),
        "B did not catch up: A {} B {}",
        durable(&a),
        durable(&b)
    );
    assert!(
        b.wal_first_lsn() >= a_first,
        "B holds what A's WAL held: B from {} A from {a_first}",
        b.wal_first_lsn()
    );
    assert!(
        wait_until(Duration::from_secs(20), || b.count("needlelate") == 1),
        "B indexed the records it copied"
    );
    assert_same(
        "trimmed before B existed: not on B",
        0,
        b.count("needleearly"),
    );

    let out = b.cli(&["promote"]);
    assert!(
        out.status.success(),
        "promote: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_until(Duration::from_secs(10), || role_epoch(&b)
        .is_some_and(|(r, _)| r == "primary")));
    // The first batch, trimmed from A's WAL before B was started, is known to B all the same.
    let (status, body) = b.ingest(batch(0).join("\n").into_bytes(), &[]);
    assert_same("resend to B", 200, status);
    assert_same(
        "accepted / duplicates on B",
        (0, 2000),
        (
            body["accepted"].as_u64().unwrap(),
            body["duplicates"].as_array().unwrap().len(),
        ),
    );
    drop(a);
}

/// A pair with small WAL segments and WAL retention keeping nothing extra (`hold_s`: the
/// primary's `standby_wal_hold_s`), the standby reaching the primary through a gate; 4,000
/// events copied, then the gate cut and 24,000 more sent to the primary. Returns the pair, the
/// gate, and the LSN the standby had when it was cut off.
fn cut_off_standby(dir: &Path, hold_s: u64) -> (Collector, Collector, Gate, u64) {
    let cfg = dir.join("small-wal.toml");
    std::fs::write(
        &cfg,
        format!(
            "[wal]\nsegment_bytes = 1048576\nkeep_bytes = 1\n\
             [replication]\nmode = \"async\"\nstandby_wal_hold_s = {hold_s}\n"
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let (addr_a, addr_b) = (free_addr(), free_addr());
    let b_to_a = Gate::start(&addr_a);
    let flags = ["--config", cfg];
    let (a, b) = pair_at(
        dir,
        (&addr_a, &format!("http://{addr_b}"), &flags),
        (&addr_b, &b_to_a.url(), &flags),
    );
    let send = |n: u64| {
        let words = [(1, "needleearly"), (28_000, "needlelate")];
        a.ingest_ok(&logwarden_tests::filler_batch("bulk", n, &words));
    };
    for n in 0..2 {
        send(n);
    }
    assert!(wait_until(Duration::from_secs(20), || durable(&b) == durable(&a)));
    b_to_a.cut();
    let b_has = durable(&b);
    for n in 2..14 {
        send(n);
    }
    (a, b, b_to_a, b_has)
}

/// Whether the standby moved its data aside (a diverged log) into `diverged-<time>/`.
fn moved_aside(data_dir: &Path) -> bool {
    std::fs::read_dir(data_dir)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with("diverged-"))
}

/// WAL retention on a primary keeps what its standby has not copied: with the standby cut off
/// while 6 MB arrive, the primary's WAL still starts at or before what the standby needs next,
/// and once the link is back the standby catches up from where it was, without copying afresh.
#[test]
fn a_primary_keeps_the_wal_its_cut_off_standby_has_not_copied_yet() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, b_to_a, b_has) = cut_off_standby(dir.path(), 86_400);
    // Two rounds of retention (every 10 s) with the standby away.
    std::thread::sleep(Duration::from_secs(22));
    assert_same(
        "what holds A's WAL",
        Some("standby"),
        a.status()
            .and_then(|s| s["wal"]["held_by"].as_str().map(str::to_owned))
            .as_deref(),
    );
    let status = logwarden_tests::ok_stdout(&a.cli(&["status"]));
    assert!(status.contains("for the standby"), "{status}");
    let a_first = a.wal_first_lsn();
    assert!(
        a_first <= b_has + 1,
        "A trimmed records B has not copied: A holds from {a_first}, B has up to {b_has}"
    );
    b_to_a.heal();
    assert!(
        wait_until(Duration::from_secs(30), || durable(&b) == durable(&a)),
        "B did not catch up: A {} B {}",
        durable(&a),
        durable(&b)
    );
    assert!(
        wait_until(Duration::from_secs(20), || b.count("line") == 28_000),
        "B has every event once: {}",
        b.count("line")
    );
    assert!(
        !moved_aside(&dir.path().join("b")),
        "B set its data aside instead of catching up"
    );
    // Now that B has everything, A trims its WAL.
    assert!(
        wait_until(Duration::from_secs(25), || a.wal_first_lsn() > b_has + 1),
        "A's WAL was not trimmed once B had caught up: from {}",
        a.wal_first_lsn()
    );
}

/// A standby away for longer than the primary's `standby_wal_hold_s` finds the records it needs
/// next trimmed: the primary answers 410, and the standby removes its WAL and copies afresh what
/// the primary's WAL holds, keeping its index (what it had stays searchable), then follows as
/// before.
#[test]
fn a_standby_away_past_the_hold_copies_afresh_and_follows_again() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, b_to_a, b_has) = cut_off_standby(dir.path(), 2);
    assert!(
        wait_until(Duration::from_secs(30), || a.wal_first_lsn() > b_has + 1),
        "A kept the WAL for B past the hold: from {}, B has up to {b_has}",
        a.wal_first_lsn()
    );
    b_to_a.heal();
    assert!(
        wait_until(Duration::from_secs(30), || durable(&b) == durable(&a)
            && b.wal_first_lsn() == a.wal_first_lsn()),
        "B did not catch up: A {}..{} B {}..{}",
        a.wal_first_lsn(),
        durable(&a),
        b.wal_first_lsn(),
        durable(&b)
    );
    assert!(
        wait_until(Duration::from_secs(20), || b.count("needlelate") == 1),
        "B indexes what it copied afresh"
    );
    assert_same(
        "copied before the cut, still on B",
        1,
        b.count("needleearly"),
    );
    println!(
        "B holds {} of the 28,000 events after copying afresh (the rest were trimmed while it was away)",
        b.count("line")
    );
    // It follows new records as before.
    let body = logwarden_tests::filler_batch("late", 0, &[(7, "afterwards")]).join("\n");
    assert_same("ingest after", 200, a.ingest(body.into_bytes(), &[]).0);
    assert!(
        wait_until(Duration::from_secs(20), || b.count("afterwards") == 1),
        "B follows after copying afresh"
    );
}

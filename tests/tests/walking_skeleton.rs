//! End to end: real collector, agent and CLI processes on loopback, real files, SIGKILL.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use logwarden_tests::{Agent, Collector, assert_same, event_line, wait_until};

fn ids(hits: &[serde_json::Value]) -> Vec<String> {
    hits.iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn lines_written_to_a_file_are_found_by_search_with_their_content() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("collector"), &[]);
    let log = dir.path().join("app.log");
    let mut f = std::fs::File::create(&log).unwrap();
    // Lines present before the agent starts, and lines appended while it runs.
    for i in 0..100 {
        writeln!(f, "early line {i} quokka").unwrap();
    }
    f.flush().unwrap();
    let _agent = Agent::start(
        &dir.path().join("agent"),
        &collector.url,
        &[log.to_str().unwrap()],
    );
    for i in 0..150 {
        writeln!(f, "late line {i} quokka").unwrap();
    }
    f.flush().unwrap();

    let found = wait_until(Duration::from_secs(15), || {
        collector.search("quokka").len() == 250
    });
    let hits = collector.search("quokka");
    assert!(found, "found {} of 250 lines", hits.len());
    let mut messages: Vec<String> = hits
        .iter()
        .map(|h| h["message"].as_str().unwrap().to_owned())
        .collect();
    messages.sort();
    let mut expected: Vec<String> = (0..100)
        .map(|i| format!("early line {i} quokka"))
        .chain((0..150).map(|i| format!("late line {i} quokka")))
        .collect();
    expected.sort();
    assert_same("messages found", expected, messages);
    let unique: HashSet<String> = ids(&hits).into_iter().collect();
    assert_same("distinct ids", 250, unique.len());
    let h = &hits[0];
    assert_same("host", "testhost", h["host"].as_str().unwrap());
    assert_same("site", "lab", h["site"].as_str().unwrap());
    assert_same(
        "source",
        log.to_str().unwrap(),
        h["source"].as_str().unwrap(),
    );
    assert!(h["received"].is_string(), "received is set: {h}");

    // A selective query and the text output a person reads.
    let out = collector.cli(&["search", "\"late line 7\"", "--limit", "5"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_same("exit code", Some(0), out.status.code());
    assert_same("lines printed", 1, text.lines().count());
    assert!(
        text.contains("testhost") && text.contains("late line 7 quokka"),
        "{text}"
    );
    // Nothing found: exit 1, nothing printed.
    let out = collector.cli(&["search", "wombat"]);
    assert_same("exit code with no hit", Some(1), out.status.code());
}

#[test]
fn every_acked_event_survives_sigkill_exactly_once_and_resends_are_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(&dir.path().join("collector"), &[]);
    let mut acked = 0;
    let mut batches = Vec::new();
    for b in 0..20u64 {
        let body: String = (0..100u64)
            .map(|i| {
                event_line(
                    "killer",
                    b * 100 + i + 1,
                    &format!("durable event {} platypus", b * 100 + i),
                ) + "\n"
            })
            .collect();
        let (status, resp) = collector.ingest(body.clone().into_bytes(), &[]);
        assert_same("status", 200, status);
        acked += resp["accepted"].as_u64().unwrap();
        batches.push(body);
    }
    assert_same("acked", 2000, acked);
    // Killed right after the last ack: the index has not necessarily committed it yet.
    collector.kill9();
    collector.restart();

    assert!(
        wait_until(Duration::from_secs(15), || collector
            .search("platypus")
            .len()
            == 2000),
        "after restart found {} of 2000",
        collector.search("platypus").len()
    );
    let hits = collector.search("platypus");
    let unique: HashSet<String> = ids(&hits).into_iter().collect();
    assert_same("distinct ids after restart", 2000, unique.len());

    // The agent resends a batch it never saw acked: nothing is added.
    let (status, resp) = collector.ingest(batches[7].clone().into_bytes(), &[]);
    assert_same("status of a resend", 200, status);
    assert_same("accepted on resend", 0, resp["accepted"].as_u64().unwrap());
    assert_same(
        "duplicates on resend",
        100,
        resp["duplicates"].as_array().unwrap().len(),
    );

    // And again after a second crash, with the index rebuilt from the WAL from scratch.
    collector.kill9();
    std::fs::remove_dir_all(collector.data_dir.join("index")).unwrap();
    collector.restart();
    assert!(
        wait_until(Duration::from_secs(15), || collector
            .search("platypus")
            .len()
            == 2000),
        "after index rebuild found {}",
        collector.search("platypus").len()
    );
}

#[test]
fn the_agent_keeps_what_it_read_while_the_collector_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(&dir.path().join("collector"), &[]);
    let log = dir.path().join("svc.log");
    let mut f = std::fs::File::create(&log).unwrap();
    let _agent = Agent::start(
        &dir.path().join("agent"),
        &collector.url,
        &[log.to_str().unwrap()],
    );
    for i in 0..50 {
        writeln!(f, "before outage {i} numbat").unwrap();
    }
    f.flush().unwrap();
    assert!(wait_until(Duration::from_secs(15), || collector
        .search("numbat")
        .len()
        == 50));

    collector.kill9();
    for i in 0..300 {
        writeln!(f, "during outage {i} numbat").unwrap();
    }
    f.flush().unwrap();
    std::thread::sleep(Duration::from_secs(2)); // the agent reads and retries meanwhile
    collector.restart();

    let done = wait_until(Duration::from_secs(30), || {
        collector.search("numbat").len() >= 350
    });
    let hits = collector.search("numbat");
    assert!(done, "found {} of 350", hits.len());
    let messages: HashSet<String> = hits
        .iter()
        .map(|h| h["message"].as_str().unwrap().to_owned())
        .collect();
    assert_same("distinct lines", 350, messages.len());
    assert_same("events (no duplicates)", 350, hits.len());
}

#[test]
fn a_malformed_line_is_rejected_by_index_with_a_reason_and_the_rest_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("collector"), &[]);
    let body = [
        event_line("m", 1, "good one echidna"),
        "{\"id\": \"m:2\", \"this is\": not json".to_owned(),
        event_line("m", 3, "good three echidna").replace("\"info\"", "\"loud\""),
        event_line("m", 4, "good four echidna"),
    ]
    .join("\n");
    let (status, resp) = collector.ingest(body.into_bytes(), &[]);
    assert_same("status", 200, status);
    assert_same("accepted", 2, resp["accepted"].as_u64().unwrap());
    let rejected = resp["rejected"].as_array().unwrap();
    assert_same("rejected count", 2, rejected.len());
    assert_same(
        "first rejected index",
        1,
        rejected[0]["index"].as_u64().unwrap(),
    );
    assert_same(
        "second rejected index",
        2,
        rejected[1]["index"].as_u64().unwrap(),
    );
    assert!(
        rejected[1]["reason"].as_str().unwrap().contains("\"loud\""),
        "{resp}"
    );
    assert!(wait_until(Duration::from_secs(10), || collector
        .search("echidna")
        .len()
        == 2));
}

#[test]
fn bodies_over_the_limit_get_413_naming_it_and_compressed_bodies_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, "[limits]\nmax_body_bytes = 100000\n").unwrap();
    let collector = Collector::start(
        &dir.path().join("collector"),
        &["--config", config.to_str().unwrap()],
    );
    let big: String = (0..2000u64)
        .map(|i| event_line("big", i + 1, "padding padding padding") + "\n")
        .collect();
    assert!(big.len() > 100_000);
    let (status, resp) = collector.ingest(big.clone().into_bytes(), &[]);
    assert_same("status", 413, status);
    assert!(resp["error"].as_str().unwrap().contains("100000"), "{resp}");

    // The same events compressed fit, and are all taken.
    let z = zstd::bulk::compress(big.as_bytes(), 3).unwrap();
    assert!(z.len() < 100_000);
    let (status, resp) = collector.ingest(z, &[("content-encoding", "zstd")]);
    assert_same("status (zstd)", 200, status);
    assert_same("accepted (zstd)", 2000, resp["accepted"].as_u64().unwrap());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(event_line("gz", 1, "gzipped").as_bytes())
        .unwrap();
    let (status, resp) = collector.ingest(gz.finish().unwrap(), &[("content-encoding", "gzip")]);
    assert_same("status (gzip)", 200, status);
    assert_same("accepted (gzip)", 1, resp["accepted"].as_u64().unwrap());
}

#[test]
fn a_collector_with_tokens_refuses_requests_without_the_right_one() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("collector"), &["--token", "s3cret"]);
    let line = event_line("t", 1, "tokened").into_bytes();
    let (status, resp) = collector.ingest(line.clone(), &[]);
    assert_same("status without token", 401, status);
    assert!(
        resp["error"].as_str().unwrap().contains("bearer token"),
        "{resp}"
    );
    let (status, _) = collector.ingest(line.clone(), &[("authorization", "Bearer wrong")]);
    assert_same("status with a wrong token", 401, status);
    let (status, resp) = collector.ingest(line, &[("authorization", "Bearer s3cret")]);
    assert_same("status with the token", 200, status);
    assert_same("accepted", 1, resp["accepted"].as_u64().unwrap());
}

#[test]
fn cli_errors_are_one_clear_line_and_a_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("collector"), &[]);
    let out = collector.cli(&["search", "app:(", "--since", "1h"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_same("exit code", Some(2), out.status.code());
    assert_same("stderr lines", 1, err.lines().count());
    assert!(err.contains("400") && err.contains("app:("), "{err}");

    let out = collector.cli(&["search", "*", "--since", "yesterday"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_same("exit code", Some(2), out.status.code());
    assert!(err.contains("\"yesterday\""), "{err}");

    let out = collector.cli(&["status", "-o", "json"]);
    assert_same("status exit", Some(0), out.status.code());
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_same("role", "primary", status["role"].as_str().unwrap());

    let out = std::process::Command::new(logwarden_tests::bin("logwarden"))
        .args(["--server", "http://127.0.0.1:9", "status"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_same("exit code unreachable", Some(2), out.status.code());
    assert!(err.contains("cannot reach http://127.0.0.1:9"), "{err}");
}

#[test]
fn an_array_that_degrades_on_the_agent_is_searchable_at_the_collector_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("collector"), &[]);
    let mdstat = dir.path().join("mdstat");
    std::fs::copy(
        logwarden_tests::fixture("mdstat/raid5_bitmap_healthy.txt"),
        &mdstat,
    )
    .unwrap();
    let _agent = Agent::start_with(
        &dir.path().join("agent"),
        &collector.url,
        &[],
        &["--mdstat", mdstat.to_str().unwrap()],
    );
    assert!(
        wait_until(Duration::from_secs(15), || !collector
            .search("kind:health AND fields.array:md_d0")
            .is_empty()),
        "the healthy array was never reported"
    );
    let healthy = collector.search("kind:health AND fields.array:md_d0");
    assert_same(
        "state",
        "clean",
        healthy[0]["fields"]["state"].as_str().unwrap(),
    );

    // The kernel's view changes: md0 has lost a disk. (Written in place, as the kernel's file
    // changes: the agent keeps /proc/mdstat open and reads it again.)
    let degraded = std::fs::read(logwarden_tests::fixture("mdstat/raid5_degraded.txt")).unwrap();
    std::fs::write(&mdstat, degraded).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || !collector
            .search("fields.array:md0 AND fields.state:degraded")
            .is_empty()),
        "the degraded array was not searchable within 5 s"
    );
    let degraded = collector.search("fields.array:md0 AND fields.state:degraded");
    let f = &degraded[0]["fields"];
    assert_same("redundancy_left", 0, f["redundancy_left"].as_i64().unwrap());
    assert_same(
        "disks",
        (4, 3),
        (
            f["disks_total"].as_u64().unwrap(),
            f["disks_working"].as_u64().unwrap(),
        ),
    );
    assert_same(
        "severity",
        "crit",
        degraded[0]["severity"].as_str().unwrap(),
    );
    assert_same("host", "testhost", degraded[0]["host"].as_str().unwrap());
}

#[test]
fn the_fleet_shows_each_host_with_its_arrays_and_backups_across_a_collector_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(&dir.path().join("collector"), &[]);
    let mdstat = dir.path().join("mdstat");
    std::fs::copy(
        logwarden_tests::fixture("mdstat/raid5_degraded.txt"),
        &mdstat,
    )
    .unwrap();
    // Backups written beside the data they protect: the story this product exists for.
    let (backup, data) = (dir.path().join("backup"), dir.path().join("store"));
    std::fs::create_dir_all(&backup).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let _agent = Agent::start_with(
        &dir.path().join("agent"),
        &collector.url,
        &[],
        &[
            "--mdstat",
            mdstat.to_str().unwrap(),
            "--backup",
            backup.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
    );
    let fleet = |c: &Collector| -> serde_json::Value {
        let out = c.cli(&["fleet", "-o", "json"]);
        assert_same("fleet exit", Some(0), out.status.code());
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let check = |f: &serde_json::Value, check: &str| -> Option<serde_json::Value> {
        f["hosts"]
            .as_array()?
            .iter()
            .find(|h| h["host"] == "testhost")?["checks"]
            .as_array()?
            .iter()
            .find(|c| c["fields"]["check"] == check)
            .cloned()
    };
    assert!(
        wait_until(Duration::from_secs(15), || {
            let f = fleet(&collector);
            check(&f, "raid").is_some() && check(&f, "backup").is_some()
        }),
        "fleet never showed the array and the backup: {}",
        fleet(&collector)
    );
    let f = fleet(&collector);
    let raid = check(&f, "raid").unwrap();
    assert_same("array", "md0", raid["fields"]["array"].as_str().unwrap());
    assert_same(
        "state",
        "degraded",
        raid["fields"]["state"].as_str().unwrap(),
    );
    let backup_rec = check(&f, "backup").unwrap();
    assert_same(
        "placement",
        "same_filesystem",
        backup_rec["fields"]["placement"].as_str().unwrap(),
    );

    let text = String::from_utf8_lossy(&collector.cli(&["fleet"]).stdout).into_owned();
    assert!(
        text.contains("testhost (site lab)") && text.contains("md0"),
        "{text}"
    );

    // After a crash the view comes back from its snapshot and the WAL.
    collector.kill9();
    collector.restart();
    let state = |c: &Collector| {
        check(&fleet(c), "raid").and_then(|r| r["fields"]["state"].as_str().map(str::to_owned))
    };
    wait_until(Duration::from_secs(10), || state(&collector).is_some());
    assert_same(
        "state after restart",
        Some("degraded".to_owned()),
        state(&collector),
    );
}

#[test]
fn search_follow_prints_the_last_matches_then_new_ones_as_they_arrive() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("collector"), &[]);
    let batch = |from: u64, n: u64, word: &str| -> Vec<u8> {
        (from..from + n)
            .map(|i| {
                // Distinct times, so that "the last three" has one answer.
                let line = event_line("tailer", i, &format!("{word} number {i}"));
                line.replace("10:00:00Z", &format!("10:00:{i:02}Z")) + "\n"
            })
            .collect::<String>()
            .into_bytes()
    };
    collector.ingest(batch(1, 3, "papaya"), &[]);
    assert!(wait_until(Duration::from_secs(10), || collector
        .search("papaya")
        .len()
        == 3));

    let mut child = std::process::Command::new(logwarden_tests::bin("logwarden"))
        .args([
            "--server",
            &collector.url,
            "search",
            "papaya",
            "--follow",
            "-o",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let take = |n: usize, lines: &mut Vec<String>| {
        while lines.len() < n {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(l) => lines.push(l),
                Err(_) => break,
            }
        }
    };
    take(3, &mut lines);
    assert_same("lines before new events", 3, lines.len());
    collector.ingest(batch(4, 5, "papaya"), &[]);
    collector.ingest(batch(9, 2, "guava"), &[]);
    take(8, &mut lines);
    let _ = child.kill();
    let _ = child.wait();
    let messages: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["message"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = (1..=8).map(|i| format!("papaya number {i}")).collect();
    assert_same(
        "followed messages, in order, no guava, no repeats",
        expected,
        messages,
    );
}

#[test]
fn a_wal_over_its_limit_gets_429_and_keeps_nothing_of_the_refused_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, "[wal]\nmax_bytes = 4000\n").unwrap();
    let collector = Collector::start(
        &dir.path().join("collector"),
        &["--config", config.to_str().unwrap()],
    );
    let mut accepted = 0;
    let mut refused = None;
    for b in 0..20u64 {
        let body: String = (0..5)
            .map(|i| event_line("full", b * 5 + i + 1, "lychee") + "\n")
            .collect();
        let (status, resp) = collector.ingest(body.into_bytes(), &[]);
        match status {
            200 => accepted += resp["accepted"].as_u64().unwrap(),
            429 => {
                refused = Some(resp["error"].as_str().unwrap().to_owned());
                break;
            }
            other => panic!("unexpected status {other}: {resp}"),
        }
    }
    let why = refused.expect("the WAL limit was never reached");
    assert!(why.contains("max_bytes") && why.contains("4000"), "{why}");
    assert!(accepted > 0);
    assert!(wait_until(
        Duration::from_secs(10),
        || collector.search("lychee").len() as u64 == accepted
    ));
    std::thread::sleep(Duration::from_millis(500));
    assert_same(
        "stored events",
        accepted,
        collector.search("lychee").len() as u64,
    );
}

/// The nice value of each of the collector's threads, by thread name.
fn thread_nice(pid: u32) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = task.unwrap().path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        // Fields after the `(comm)`: state is field 3, nice field 19.
        let rest = &stat[stat.rfind(')').unwrap() + 1..];
        let nice = rest.split_whitespace().nth(16).unwrap().parse().unwrap();
        out.push((comm.trim().to_owned(), nice));
    }
    out
}

#[test]
fn indexing_runs_at_a_lower_cpu_priority_than_intake() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("collector"), &[]);
    let (status, _) = collector.ingest((event_line("prio", 1, "quince") + "\n").into_bytes(), &[]);
    assert_eq!(status, 200);
    // The tantivy writer (and its threads) exists once an event was indexed.
    assert!(wait_until(Duration::from_secs(10), || collector
        .count("quince")
        == 1));
    let threads = thread_nice(collector.pid());
    let nice_of = |prefix: &str| -> Vec<i64> {
        threads
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, n)| *n)
            .collect()
    };
    // Relative to the intake's own (the tests may themselves run niced).
    let base = nice_of("wal-committer")[0];
    for (prefix, add) in [
        ("indexer", 10),
        ("thrd-tantivy", 10),
        ("merge_thread", 10),
        ("wal-committer", 0),
        ("tokio-rt-worke", 0),
    ] {
        let want = (base + add).min(19);
        let got = nice_of(prefix);
        assert!(!got.is_empty(), "no thread named {prefix}*: {threads:?}");
        assert!(
            got.iter().all(|n| *n == want),
            "{prefix}: {got:?}, want {want}"
        );
    }
}

//! `logwarden export` and paging `search`: every match, once, in order, however many events share
//! a timestamp; the order is the same after a collector restart and an index rebuild.

use std::collections::HashSet;

use logwarden_tests::{Collector, assert_same, wait_until};

fn event(seq: u64, ts: &str) -> String {
    serde_json::json!({
        "id": format!("exp:{seq}"), "ts": ts, "host": "h1", "site": "lab",
        "source": "/var/log/test.log", "app": "test", "severity": "info", "kind": "log",
        "message": format!("export me {seq}"),
    })
    .to_string()
}

#[test]
fn export_writes_every_match_once_across_pages_that_split_equal_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), &[]);
    // 2,503 events, seven at each millisecond: pages of 1,000 end inside a group.
    let mut body = String::new();
    for i in 0..2503u64 {
        let ts = format!("2026-03-01T10:00:00.{:03}Z", i / 7);
        body.push_str(&event(i, &ts));
        body.push('\n');
    }
    // Ten more, outside the range exported.
    for i in 0..10u64 {
        body.push_str(&event(10_000 + i, "2026-02-01T00:00:00Z"));
        body.push('\n');
    }
    let (status, _) = c.ingest(body.into_bytes(), &[]);
    assert_same("ingest", 200, status);
    assert!(wait_until(std::time::Duration::from_secs(20), || c
        .count("message:export")
        == 2513));

    let out = c.cli(&[
        "export",
        "message:export",
        "--since",
        "2026-03-01T00:00:00Z",
        "--page-size",
        "1000",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    let ids: HashSet<&str> = lines.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_same("events written", 2503, lines.len());
    assert_same("distinct ids", 2503, ids.len());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exported 2,503 events"), "{stderr}");
    // Not a terminal: no progress bar drawn.
    assert!(
        !stderr.contains('\r') && !stderr.contains("exporting"),
        "{stderr}"
    );
}

/// The ids `export` writes, in order, and its stderr.
fn export_ids(c: &Collector, args: &[&str]) -> Vec<String> {
    let mut all = vec!["export", "message:burst", "--since", "2026-11-30T00:00:00Z"];
    all.extend_from_slice(args);
    let out = c.cli(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let e: serde_json::Value = serde_json::from_str(l).expect("NDJSON");
            e["id"].as_str().expect("an id").to_owned()
        })
        .collect()
}

/// The ids `search --oldest-first` pages through with `--after`, following the cursor each page
/// prints on stderr.
fn search_pages(c: &Collector, limit: usize) -> (Vec<String>, usize) {
    let (mut ids, mut pages, mut after) = (Vec::new(), 0, None::<String>);
    loop {
        let limit = limit.to_string();
        let mut args = vec![
            "search",
            "message:burst",
            "--since",
            "2026-11-30T00:00:00Z",
            "--oldest-first",
            "--limit",
            &limit,
        ];
        if let Some(a) = &after {
            args.extend(["--after", a.as_str()]);
        }
        let out = c.cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_same("exit code", Some(0), out.status.code());
        pages += 1;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // time host app severity message: the message ends with the id's seq.
            let seq = line.rsplit(' ').next().expect("a message");
            ids.push(format!("b:{seq}"));
        }
        match stderr.split("next page: --after ").nth(1) {
            Some(rest) => after = Some(rest.trim_end().trim_end_matches(')').to_owned()),
            None => return (ids, pages),
        }
    }
}

fn burst_event(agent: &str, seq: u64) -> String {
    serde_json::json!({
        "id": format!("{agent}:{seq}"), "ts": "2026-12-01T00:00:00Z", "host": "h1", "site": "lab",
        "source": "/var/log/test.log", "app": "test", "severity": "info", "kind": "log",
        "message": format!("burst {seq}"),
    })
    .to_string()
}

#[test]
fn fifty_thousand_events_of_one_second_export_and_page_whole_in_one_order_across_restart_and_rebuild()
 {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Collector::start(dir.path(), &[]);
    // 50,000 events in one second, in five requests (five WAL records) of 10,000.
    let n = 50_000u64;
    for part in 0..5 {
        let lines: Vec<String> = (part * 10_000..(part + 1) * 10_000)
            .map(|seq| burst_event("b", seq))
            .collect();
        c.ingest_ok(&lines);
    }
    assert!(wait_until(std::time::Duration::from_secs(120), || c
        .count("message:burst")
        == n));
    // The total order within one second is the order of the WAL: the order sent.
    let sent: Vec<String> = (0..n).map(|seq| format!("b:{seq}")).collect();
    let oldest = export_ids(&c, &["--oldest-first", "--page-size", "7000"]);
    assert_same("events exported", n as usize, oldest.len());
    assert!(oldest == sent, "oldest first is the order sent");
    let mut newest = export_ids(&c, &["--page-size", "10000"]);
    newest.reverse();
    assert!(newest == sent, "newest first is the reverse");
    let (paged, pages) = search_pages(&c, 9_000);
    assert_same("pages of search", 6, pages);
    assert!(paged == sent, "search pages are the same order");

    // Killed and started again: the same order, and events of the same second that come
    // after the restart follow them.
    c.kill9();
    c.restart();
    let more: Vec<String> = (n..n + 1_000).map(|seq| burst_event("b", seq)).collect();
    c.ingest_ok(&more);
    assert!(wait_until(std::time::Duration::from_secs(120), || c
        .count("message:burst")
        == n + 1_000));
    let after_restart = export_ids(&c, &["--oldest-first", "--page-size", "10000"]);
    let all: Vec<String> = (0..n + 1_000).map(|seq| format!("b:{seq}")).collect();
    assert!(after_restart == all, "the order after a restart");

    // The index deleted and rebuilt from the WAL at the next start: the same order.
    c.kill9();
    std::fs::remove_dir_all(dir.path().join("index")).expect("removing the index");
    c.restart();
    assert!(wait_until(std::time::Duration::from_secs(180), || c
        .count("message:burst")
        == n + 1_000));
    let rebuilt = export_ids(&c, &["--oldest-first", "--page-size", "10000"]);
    assert!(rebuilt == all, "the order after a rebuild");

    // A malformed cursor is refused, naming it.
    let out = c.cli(&["search", "*", "--after", "1.x.2.3"]);
    assert_same("exit code", Some(2), out.status.code());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cursor \"1.x.2.3\" is not valid"),
        "{stderr}"
    );
}

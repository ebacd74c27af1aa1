//! `logwarden export`: every match, once, however the pages fall among events that share a
//! timestamp.

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
    // Ten more at one instant, for the page-size check below.
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

    // Ten events at one instant cannot be paged five at a time: said so, not looped on.
    let out = c.cli(&[
        "export",
        "message:export",
        "--until",
        "2026-02-02T00:00:00Z",
        "--page-size",
        "5",
    ]);
    assert_same("exit code", Some(2), out.status.code());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("use a larger --page-size"), "{stderr}");
}

//! End to end: silences with regex matchers and a later start (`--start`), through the CLI.

use std::time::Duration;

use logwarden_tests::{Collector, HttpSink, wait_until};
use serde_json::{Value, json};

fn fs_full(seq: u64, host: &str) -> String {
    json!({
        "id": format!("t:{seq}"), "ts": chrono::Utc::now().to_rfc3339(),
        "host": host, "site": "lab", "source": "health", "app": "filesystem",
        "severity": "warning", "kind": "health", "message": "test record",
        "fields": {"check": "filesystem", "mount": "/opt", "used_percent": 97.0},
    })
    .to_string()
}

#[test]
fn a_regex_silence_holds_back_what_it_matches_and_a_later_one_nothing_yet() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start(0);
    let c = Collector::start(&dir.path().join("c"), &["--webhook", &sink.url]);
    // Now: every FilesystemFull except on the mailbox hosts.
    let out = c.cli(&[
        "silence",
        "add",
        "alertname=~Filesystem.*",
        "host!~mbox[0-9]+",
        "--duration",
        "1h",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Tonight's window: mbox1, from an hour on.
    let out = c.cli(&[
        "silence",
        "add",
        "host=mbox1",
        "--start",
        "+1h",
        "--duration",
        "2h",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = c.cli(&["silence", "add", "host=~mbox[", "--duration", "1h"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("regex does not compile"),
        "{err}"
    );

    let list = String::from_utf8_lossy(&c.cli(&["silence", "list"]).stdout).to_string();
    let pending = list.lines().find(|l| l.contains("host=mbox1")).unwrap();
    assert!(
        pending.contains("pending") && pending.contains(" from "),
        "{list}"
    );

    c.ingest_ok(&[fs_full(1, "mbox1"), fs_full(2, "mbox2"), fs_full(3, "web1")]);
    let hosts = || -> Vec<String> {
        let mut v: Vec<String> = sink
            .posts()
            .iter()
            .flat_map(|p| p.body["alerts"].as_array().cloned().unwrap_or_default())
            .map(|a| a["labels"]["host"].as_str().unwrap_or("").to_owned())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert!(
        wait_until(Duration::from_secs(10), || hosts().len() >= 2),
        "{:?}",
        hosts()
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        hosts(),
        ["mbox1", "mbox2"],
        "web1 is silenced, mbox1 not yet"
    );
    let out = c.cli(&["alerts", "-o", "json"]);
    let web1: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|a| a["labels"]["host"] == "web1")
        .unwrap();
    assert_eq!(
        web1["silenced_by"].as_array().map(Vec::len),
        Some(1),
        "{web1}"
    );
}

/// A weekly maintenance window from the config: open now, it holds back what it matches and
/// `silence list` shows it; removed by a reload, what it held back is sent.
#[test]
fn a_maintenance_window_from_the_config_silences_and_a_reload_that_removes_it_lets_through() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start(0);
    let cfg = dir.path().join("c.toml");
    let base = format!(
        "[alerts]\ngroup_interval_s = 0.5\n\n[[alerts.receivers]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n",
        sink.url
    );
    // Every day, midnight to midnight in Berlin: open whenever the test runs.
    let window = "\n[[alerts.maintenance]]\nname = \"backup\"\nmatchers = [\"alertname=~Filesystem.*\", \"host=~mbox[0-9]+\"]\n\
                  days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\nstart = \"00:00\"\nend = \"00:00\"\ntz = \"Europe/Berlin\"\n";
    std::fs::write(&cfg, format!("{base}{window}")).unwrap();
    let c = Collector::start(&dir.path().join("c"), &["--config", cfg.to_str().unwrap()]);
    let list = String::from_utf8_lossy(&c.cli(&["silence", "list"]).stdout).to_string();
    assert!(
        list.contains("window:backup active") && list.contains("Europe/Berlin"),
        "{list}"
    );
    c.ingest_ok(&[fs_full(1, "mbox1"), fs_full(2, "web1")]);
    let hosts = || -> Vec<String> {
        sink.posts()
            .iter()
            .flat_map(|p| p.body["alerts"].as_array().cloned().unwrap_or_default())
            .map(|a| a["labels"]["host"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert!(wait_until(Duration::from_secs(10), || !hosts().is_empty()));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(hosts(), ["web1"], "mbox1 is in its window");

    std::fs::write(&cfg, &base).unwrap();
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &c.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    assert!(
        wait_until(Duration::from_secs(10), || hosts()
            .contains(&"mbox1".to_owned())),
        "the window's alert was not sent once it was gone: {:?}",
        hosts()
    );
}

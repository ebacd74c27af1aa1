//! End to end: silences with regex matchers and a later start (`--start`), through the CLI.

use std::time::Duration;

use logwarden_tests::{Collector, HttpSink, ok_stdout, wait_until};
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

/// A weekly maintenance window made from the CLI (`silence add --every --at --duration --tz`):
/// one whose opening covers now holds back what it matches, one that opens later does not; both
/// are listed with their opening, kept across a SIGKILL restart (the WAL's alert state), and
/// the open one, expired, lets through what it held back. Bad days, zones and times are refused
/// naming them.
#[test]
fn a_weekly_window_from_the_cli_silences_only_while_open_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start(0);
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[alerts]\ngroup_interval = \"500ms\"\n\n[[alerts.receivers]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n",
            sink.url
        ),
    )
    .unwrap();
    let mut c = Collector::start(&dir.path().join("c"), &["--config", cfg.to_str().unwrap()]);
    let every_day = "mon,tue,wed,thu,fri,sat,sun";
    let now = chrono::Utc::now();
    let hhmm = |t: chrono::DateTime<chrono::Utc>| t.format("%H:%M").to_string();
    let add = |args: &[&str]| {
        let mut all = vec!["silence", "add"];
        all.extend_from_slice(args);
        c.cli(&all)
    };
    // Opened an hour ago (UTC), for three hours: covers now whatever the day.
    let open_at = hhmm(now - chrono::Duration::hours(1));
    let open = add(&[
        "host=mbox1",
        "--every",
        every_day,
        "--at",
        &open_at,
        "--duration",
        "3h",
        "--tz",
        "UTC",
    ]);
    let open_id = ok_stdout(&open).trim().to_owned();
    // Opens four hours from now in UTC terms, Berlin time (UTC+1 or +2): two or three hours on.
    let later_at = hhmm(now + chrono::Duration::hours(4));
    let later = add(&[
        "host=mbox2",
        "--every",
        every_day,
        "--at",
        &later_at,
        "--duration",
        "1h",
        "--tz",
        "Europe/Berlin",
    ]);
    ok_stdout(&later);

    for (args, named) in [
        (
            vec!["host=a", "--every", "mon,caturday", "--at", "01:00"],
            "caturday",
        ),
        (vec!["host=a", "--every", "sat", "--at", "25:00"], "25:00"),
        (
            vec![
                "host=a",
                "--every",
                "sat",
                "--at",
                "01:00",
                "--tz",
                "Mars/Olympus",
            ],
            "Mars/Olympus",
        ),
        (
            vec![
                "host=a",
                "--every",
                "sat",
                "--at",
                "01:00",
                "--duration",
                "2d",
            ],
            "24h",
        ),
    ] {
        let out = add(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(named),
            "{args:?}: {err}"
        );
    }

    let listed =
        |c: &Collector| String::from_utf8_lossy(&c.cli(&["silence", "list"]).stdout).to_string();
    let check_list = |list: &str| {
        let open_line = list
            .lines()
            .find(|l| l.contains("host=mbox1"))
            .unwrap_or("");
        assert!(
            open_line.contains("active")
                && open_line.contains(&format!("every {every_day} {open_at} UTC for 3h"))
                && open_line.contains("open until"),
            "{list}"
        );
        let later_line = list
            .lines()
            .find(|l| l.contains("host=mbox2"))
            .unwrap_or("");
        assert!(
            later_line.contains("pending")
                && later_line.contains("Europe/Berlin")
                && later_line.contains(" next "),
            "{list}"
        );
    };
    check_list(&listed(&c));

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
    assert_eq!(hosts(), ["mbox2", "web1"], "mbox1 is in its open window");

    // Both kept across a SIGKILL: still listed, mbox1 still held back.
    c.kill9();
    c.restart();
    check_list(&listed(&c));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(hosts(), ["mbox2", "web1"], "after the restart");

    // Removed, the window lets through what it held back.
    ok_stdout(&c.cli(&["silence", "expire", &open_id]));
    assert!(
        wait_until(Duration::from_secs(10), || hosts()
            .contains(&"mbox1".to_owned())),
        "{:?}",
        hosts()
    );
    let list = listed(&c);
    assert!(
        list.lines()
            .any(|l| l.contains("host=mbox1") && l.contains("expired")),
        "{list}"
    );
}

fn durable(c: &Collector) -> u64 {
    c.status()
        .map_or(0, |s| s["wal"]["durable_lsn"].as_u64().unwrap_or(0))
}

/// A weekly window made from the CLI on the primary is in the WAL's alert state, so the standby
/// copies it: killed primary, promoted standby, and the window still holds back what it
/// matches there.
#[test]
fn a_weekly_window_from_the_cli_holds_on_the_promoted_standby() {
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start(0);
    let (addr_a, addr_b) = (logwarden_tests::free_addr(), logwarden_tests::free_addr());
    let start = |name: &str, role: &str, addr: &str, peer: &str| {
        let peer = format!("http://{peer}");
        let args = [
            "--site",
            name,
            "--role",
            role,
            "--peer",
            &peer,
            "--webhook",
            &sink.url,
        ];
        Collector::start_at(&dir.path().join(name), addr, &args)
    };
    let mut a = start("a", "primary", &addr_a, &addr_b);
    let b = start("b", "standby", &addr_b, &addr_a);
    let open_at = (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%H:%M")
        .to_string();
    let id = ok_stdout(&a.cli(&[
        "silence",
        "add",
        "host=mbox1",
        "--every",
        "mon,tue,wed,thu,fri,sat,sun",
        "--at",
        &open_at,
        "--duration",
        "3h",
    ]))
    .trim()
    .to_owned();
    assert!(
        wait_until(Duration::from_secs(20), || durable(&b) >= durable(&a)
            && durable(&a) > 0),
        "the standby did not copy the primary's WAL: {} of {}",
        durable(&b),
        durable(&a)
    );
    a.kill9();
    let out = b.cli(&["promote", "--force"]);
    assert!(
        out.status.success(),
        "promote --force: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_until(Duration::from_secs(15), || b
        .status()
        .is_some_and(|s| s["role"] == "primary")));
    let list = String::from_utf8_lossy(&b.cli(&["silence", "list"]).stdout).to_string();
    assert!(
        list.lines()
            .any(|l| l.starts_with(&id) && l.contains("active") && l.contains("every")),
        "{list}"
    );
    b.ingest_ok(&[fs_full(1, "mbox1"), fs_full(2, "web1")]);
    let hosts = || -> Vec<String> {
        let mut v: Vec<String> = sink
            .posts()
            .iter()
            .flat_map(|p| p.body["alerts"].as_array().cloned().unwrap_or_default())
            // Not ReplicationDegraded: its peer is gone.
            .filter(|a| a["labels"]["alertname"] == "FilesystemFull")
            .map(|a| a["labels"]["host"].as_str().unwrap_or("").to_owned())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert!(wait_until(Duration::from_secs(15), || !hosts().is_empty()));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        hosts(),
        ["web1"],
        "mbox1 is in its window on the new primary"
    );
}

//! The collector's web page in real headless Chromium (Debian's `chromium`, driven by
//! playwright-core from `tests/browser/`; `scripts/test` installs both): a collector fed by a
//! real agent with a degraded md array (fixture mdstat) and a backup on the same file system
//! as its data; the page must show both and list the alert, and acknowledging it on the page
//! (entering the admin token the page asks for) must change its state, also in the API; so must
//! silencing another one from its menu.
//! Screenshots go to `target/web-page/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use logwarden_tests::{Agent, Collector, assert_same, fixture, wait_until};
use serde_json::Value;

const ADMIN_TOKEN: &str = "page-admin-token";
const READ_TOKEN: &str = "page-read-token";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Runs one of `browser/`'s scripts with node against Chromium and returns the one JSON line it
/// prints; a failing script fails the test with its output.
fn run_browser(script: &str, args: &[&str]) -> Value {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: scripts/test installs Debian's chromium (apt-get install chromium)"
    );
    let out = Command::new("node")
        .arg(browser_dir().join(script))
        .args(args)
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

fn alerts(c: &Collector) -> Vec<Value> {
    let v: Value = reqwest::blocking::get(format!("{}/api/v1/alerts", c.url))
        .and_then(|r| r.json())
        .expect("alerts answer");
    v["alerts"].as_array().cloned().unwrap_or_default()
}

#[test]
fn the_page_shows_a_degraded_array_and_a_misplaced_backup_and_acknowledges_the_alert() {
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules is missing: scripts/test runs `npm ci` there"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("collector.toml");
    std::fs::write(
        &cfg,
        format!("[alerts]\nadmin_tokens = [\"{ADMIN_TOKEN}\"]\n"),
    )
    .unwrap();
    let collector = Collector::start(&dir.path().join("c"), &["--config", cfg.to_str().unwrap()]);
    let (backup, data) = (dir.path().join("backup"), dir.path().join("store"));
    std::fs::create_dir_all(&backup).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let log = dir.path().join("mailbox.log");
    std::fs::write(
        &log,
        "2026-03-01 10:00:00,000 INFO  [main] [] misc - mailboxd starting\n",
    )
    .unwrap();
    let _agent = Agent::start_with(
        &dir.path().join("agent"),
        &collector.url,
        &[log.to_str().unwrap()],
        &[
            "--mdstat",
            fixture("mdstat/raid5_degraded.txt").to_str().unwrap(),
            "--backup",
            backup.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
    );
    let firing = |name: &str| {
        alerts(&collector)
            .into_iter()
            .find(|a| a["name"] == name && a["status"] == "firing")
    };
    assert!(
        wait_until(Duration::from_secs(30), || firing("RaidArrayDegraded")
            .is_some()
            && firing("BackupMisplaced").is_some()),
        "the alerts never fired: {:?}",
        alerts(&collector)
    );
    let before = firing("RaidArrayDegraded").unwrap();
    assert!(
        before.get("ack").is_none(),
        "acked before the test: {before}"
    );

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/web-page");
    std::fs::create_dir_all(&shots).unwrap();
    let result = run_browser(
        "dashboard.mjs",
        &[
            collector.url.as_str(),
            "RaidArrayDegraded",
            ADMIN_TOKEN,
            shots.to_str().unwrap(),
        ],
    );
    let id = result["acked_id"].as_str().expect("the acked alert's id");
    assert_same("acked alert", before["id"].as_str().unwrap(), id);

    // The state changed in the collector, by the author typed in the page.
    let after = alerts(&collector)
        .into_iter()
        .find(|a| a["id"] == id)
        .expect("the alert is still listed");
    assert_same(
        "ack author",
        "oncall-browser",
        after["ack"]["author"].as_str().unwrap_or(""),
    );
    let misplaced = firing("BackupMisplaced").unwrap();
    assert!(
        misplaced.get("ack").is_none(),
        "only the one alert was acknowledged"
    );
    assert_same(
        "silenced alert",
        misplaced["id"].as_str().unwrap(),
        result["silenced_id"].as_str().unwrap_or(""),
    );
    assert!(
        misplaced["silenced_by"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "the silence set on the page is not on the alert: {misplaced}"
    );
    for shot in [
        "dashboard-before-ack.png",
        "dashboard-after-ack.png",
        "dashboard-phone.png",
    ] {
        let len = std::fs::metadata(shots.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 1000, "screenshot {shot} missing or empty");
    }
    println!("screenshots in {}", shots.display());
}

/// Reads need a token once read tokens are configured: the page asks for one, keeps it for the
/// tab and then shows the fleet and the search hits (the agent ships without a token: ingest
/// stays open to loopback while no ingest token exists).
#[test]
fn with_read_tokens_the_page_asks_for_one_and_then_shows_the_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("c"), &["--read-token", READ_TOKEN]);
    let log = dir.path().join("mailbox.log");
    std::fs::write(
        &log,
        "2026-03-01 10:00:00,000 INFO  [main] [] misc - mailboxd starting\n",
    )
    .unwrap();
    let _agent = Agent::start(
        &dir.path().join("agent"),
        &collector.url,
        &[log.to_str().unwrap()],
    );
    let fleet_status = || {
        reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/fleet", collector.url))
            .bearer_auth(READ_TOKEN)
            .send()
            .ok()
            .filter(|r| r.status().is_success())
            .and_then(|r| r.json::<Value>().ok())
            .is_some_and(|v| v["hosts"].as_array().is_some_and(|h| !h.is_empty()))
    };
    assert!(
        wait_until(Duration::from_secs(30), fleet_status),
        "the agent never showed up in the fleet"
    );
    let bare = reqwest::blocking::get(format!("{}/api/v1/fleet", collector.url)).unwrap();
    assert_same("fleet without a token", 401, bare.status().as_u16());

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/web-page");
    std::fs::create_dir_all(&shots).unwrap();
    let result = run_browser(
        "read_token.mjs",
        &[collector.url.as_str(), READ_TOKEN, shots.to_str().unwrap()],
    );
    assert_same("host cards", 1, result["hosts"].as_u64().unwrap_or(0));
    assert!(
        result["hits"].as_u64().unwrap_or(0) >= 1,
        "no search hit shown: {result}"
    );
}

/// The search list loads more by cursor: 450 events of one second are listed 200 at a time,
/// every one once, newest first (the order of the WAL, reversed), and "Load more" then hides;
/// a click on a hit shows the events around it.
#[test]
fn the_search_list_loads_more_by_cursor_through_events_of_one_second() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), &[]);
    let lines: Vec<String> = (0..450u64)
        .map(|seq| {
            serde_json::json!({
                "id": format!("w:{seq}"), "ts": "2026-12-01T00:00:00Z", "host": "h1",
                "source": "/var/log/test.log", "app": "test", "severity": "info",
                "message": format!("paged {seq}"),
            })
            .to_string()
        })
        .collect();
    collector.ingest_ok(&lines);
    assert!(wait_until(Duration::from_secs(30), || collector
        .count("paged")
        == 450));
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/web-page");
    std::fs::create_dir_all(&shots).unwrap();
    let result = run_browser(
        "search_more.mjs",
        &[collector.url.as_str(), "paged", shots.to_str().unwrap()],
    );
    assert_same("pages", 3, result["pages"].as_u64().unwrap_or(0));
    let shown: Vec<&str> = result["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    let expected: Vec<String> = (0..450u64).rev().map(|s| format!("paged {s}")).collect();
    assert!(shown == expected, "rows: {shown:?}");
    // The third row is "paged 447": five before it and the two after, oldest first.
    let context: Vec<&str> = result["context"]
        .as_array()
        .expect("context")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    let expected: Vec<String> = (442..450u64).map(|s| format!("paged {s}")).collect();
    assert!(context == expected, "context: {context:?}");
    assert_same(
        "marked",
        "paged 447",
        result["marked"].as_str().unwrap_or(""),
    );
}

/// A BMC (health records from the agent's Redfish poller) and a hypervisor (its storage events
/// by syslog) are hosts of their own on the page, named as such, the BMC with what it serves;
/// an agent's host has no such line.
#[test]
fn the_page_names_bmcs_and_hypervisors_and_what_they_serve() {
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules is missing: scripts/test runs `npm ci` there"
    );
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("c"), &[]);
    let now = chrono::Utc::now().to_rfc3339();
    let health = |seq: u64, host: &str, fields: Value| {
        serde_json::json!({"id": format!("roles:{seq}"), "ts": now, "host": host, "site": "lab",
            "source": "health", "app": "raid", "severity": "info", "kind": "health",
            "message": format!("record {seq}"), "fields": fields})
        .to_string()
    };
    collector.ingest_ok(&[
        health(
            1,
            "bmc-esx1",
            serde_json::json!({"check": "redfish", "bmc": "bmc-esx1", "state": "ok",
                "provider": "redfish", "serves": ["esx1", "mbox1"]}),
        ),
        health(
            2,
            "esx1",
            serde_json::json!({"check": "raid", "array": "naa.1", "state": "clean",
                "provider": "esxi", "level": "multipath"}),
        ),
        health(
            3,
            "mbox1",
            serde_json::json!({"check": "raid", "array": "md0", "state": "clean"}),
        ),
    ]);
    assert!(
        wait_until(Duration::from_secs(20), || {
            reqwest::blocking::get(format!("{}/api/v1/fleet", collector.url))
                .and_then(|r| r.json::<Value>())
                .is_ok_and(|v| v["hosts"].as_array().is_some_and(|h| h.len() == 3))
        }),
        "the three hosts never reached the fleet"
    );
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/web-page");
    std::fs::create_dir_all(&shots).unwrap();
    let got = run_browser(
        "fleet_roles.mjs",
        &[
            collector.url.as_str(),
            shots.to_str().unwrap(),
            "bmc-esx1",
            "esx1",
            "mbox1",
        ],
    );
    assert_same(
        "BMC",
        "BMC, serves esx1, mbox1",
        got["bmc-esx1"]["role"].as_str().unwrap_or(""),
    );
    assert_same(
        "hypervisor",
        "hypervisor",
        got["esx1"]["role"].as_str().unwrap_or(""),
    );
    assert!(got["mbox1"]["role"].is_null(), "{got}");
}

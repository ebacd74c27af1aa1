//! End to end: what the collector sends to Slack and PagerDuty, checked against JSON Schemas of
//! their documented payloads (tests/data/schemas, validated with PyPI's `jsonschema` by
//! `tests/peers/check_schema.py`): a trigger with a runbook link, an acknowledge, a resolve,
//! and the Slack messages of each.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use logwarden_tests::{Collector, HttpSink, event_line, wait_until};
use serde_json::{Value, json};

/// Validates every body against `schema`; panics with the validator's report otherwise.
fn check(schema: &str, bodies: &[Value]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(logwarden_tests::test_python())
        .arg(root.join("peers/check_schema.py"))
        .arg(root.join("data/schemas").join(schema))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running check_schema.py");
    let mut stdin = child.stdin.take().unwrap();
    for b in bodies {
        writeln!(stdin, "{b}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{schema}: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains(&format!("{} documents, 0 errors", bodies.len())),
        "{report}"
    );
}

fn smart(seq: u64, verdict: &str) -> String {
    json!({
        "id": format!("t:{seq}"), "ts": chrono::Utc::now().to_rfc3339(),
        "host": "mbox3", "site": "lab", "source": "health", "app": "smart",
        "severity": "warning", "kind": "health", "message": "test record",
        "fields": {"check": "smart", "device": "/dev/sdb", "verdict": verdict,
                   "reasons": ["overall health FAILED"]},
    })
    .to_string()
}

#[test]
fn slack_and_pagerduty_payloads_follow_their_documented_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let (slack, pd) = (HttpSink::start(0), HttpSink::start(0));
    let cfg = dir.path().join("collector.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[alerts]
resolve_hold_s = 1
group_interval_s = 0.5
runbook_base_url = "https://docs.example.net/logwarden/alerts.md"

[[alerts.receivers]]
name = "chat"
type = "slack"
url = "{}"

[[alerts.receivers]]
name = "pager"
type = "pagerduty"
url = "{}"
routing_key = "R0UT1NGKEY0123456789abcdef012345"

[[alerts.rules]]
name = "MailboxOutOfMemory"
query = "OutOfMemoryError"
group_by = ["host"]
severity = "critical"
annotations = {{ summary = "mailboxd on {{{{ labels.host }}}} ran out of memory" }}
runbook_url = "https://wiki.example.net/runbooks/oom#{{{{ labels.host }}}}"
"#,
            slack.url, pd.url
        ),
    )
    .unwrap();
    let c = Collector::start(&dir.path().join("c"), &["--config", cfg.to_str().unwrap()]);
    c.ingest_ok(&[
        smart(1, "failing"),
        event_line("mb", 1, "java.lang.OutOfMemoryError: Java heap space"),
    ]);
    let actions = |a: &str| {
        pd.posts()
            .iter()
            .filter(|p| p.body["event_action"] == a)
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(10), || actions("trigger") == 2),
        "two triggers: {:?}",
        pd.posts()
    );
    // The runbook is a documented `links` entry.
    let oom = pd
        .posts()
        .into_iter()
        .find(|p| p.body["payload"]["class"] == "MailboxOutOfMemory")
        .unwrap()
        .body;
    assert_eq!(
        oom["links"][0]["href"],
        "https://wiki.example.net/runbooks/oom#h1"
    );
    assert_eq!(
        oom["payload"]["summary"],
        "mailboxd on h1 ran out of memory"
    );
    // A built-in alert links to its section of docs/alerts.md under runbook_base_url.
    let disk = pd
        .posts()
        .into_iter()
        .find(|p| p.body["payload"]["class"] == "SmartDiskFailing")
        .unwrap()
        .body;
    assert_eq!(
        disk["links"][0]["href"],
        "https://docs.example.net/logwarden/alerts.md#smartdiskfailing-host-device--smartdiskwarning-host-device"
    );

    // Acknowledge the disk alert, then clear it.
    let out = c.cli(&["alerts", "-o", "json"]);
    let id = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|a| a["name"] == "SmartDiskFailing")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(c.cli(&["ack", &id]).status.success());
    assert!(
        wait_until(Duration::from_secs(10), || actions("acknowledge") == 1),
        "no acknowledge"
    );
    c.ingest_ok(&[smart(2, "ok")]);
    assert!(
        wait_until(Duration::from_secs(15), || actions("resolve") == 1),
        "no resolve"
    );
    assert!(wait_until(Duration::from_secs(10), || slack
        .posts()
        .iter()
        .any(|p| p.body["text"]
            .as_str()
            .unwrap_or("")
            .starts_with("[RESOLVED]"))));

    let pd_bodies: Vec<Value> = pd.posts().into_iter().map(|p| p.body).collect();
    let slack_bodies: Vec<Value> = slack.posts().into_iter().map(|p| p.body).collect();
    eprintln!(
        "{} PagerDuty events, {} Slack messages checked",
        pd_bodies.len(),
        slack_bodies.len()
    );
    check("pagerduty-events-v2.json", &pd_bodies);
    check("slack-incoming-webhook.json", &slack_bodies);
    // The check can fail: an undocumented field is refused.
    let mut wrong = pd_bodies[0].clone();
    wrong["payload"]["severity"] = json!("fatal");
    let result = std::panic::catch_unwind(|| check("pagerduty-events-v2.json", &[wrong]));
    assert!(result.is_err(), "the schema let a wrong severity through");
}

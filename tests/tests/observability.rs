//! Self-observability: the agent's `/metrics` and `/status` and `logwarden-agent status`
//! against a running agent, and the Grafana dashboards in `dashboards/` against the real
//! `/metrics` of a running collector and agent.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use logwarden_tests::{Agent, Collector, assert_same, bin, fixture, wait_until};
use serde_json::Value;

fn get(url: &str) -> String {
    let resp = reqwest::blocking::get(url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
    resp.text().expect("a text answer")
}

fn agent_status(agent: &Agent) -> Value {
    let out = Command::new(bin("logwarden-agent"))
        .args(["status", "--json", "--listen"])
        .arg(
            agent
                .metrics
                .as_deref()
                .expect("agent started with --metrics-listen"),
        )
        .output()
        .expect("running logwarden-agent status");
    assert!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status --json prints JSON")
}

fn append_lines(path: &Path, from: usize, n: usize) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in from..from + n {
        writeln!(f, "Mar  1 10:00:00 mbox3 postfix/smtpd[42]: line {i}").unwrap();
    }
}

#[test]
fn agent_status_shows_offsets_checkpoint_lag_and_spool_of_a_running_agent() {
    let dir = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(&dir.path().join("c"), &[]);
    let log = dir.path().join("app.log");
    append_lines(&log, 0, 100);
    let agent_dir = dir.path().join("agent");
    // An mdstat that is not one: each failed probe run is counted.
    let mdstat = dir.path().join("mdstat");
    std::fs::write(&mdstat, "hello\n").unwrap();
    let agent = Agent::start_with(
        &agent_dir,
        &collector.url,
        &[log.to_str().unwrap()],
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--mdstat",
            mdstat.to_str().unwrap(),
        ],
    );
    let path = log.to_str().unwrap().to_owned();
    let file_of = |s: &Value| -> Option<Value> {
        s["files"]
            .as_array()?
            .iter()
            .find(|f| f["path"] == path.as_str())
            .cloned()
    };
    assert!(
        wait_until(Duration::from_secs(20), || {
            file_of(&agent_status(&agent)).is_some_and(|f| f["lines_shipped"] == 100)
        }),
        "the 100 lines were never shown shipped: {}",
        agent_status(&agent)
    );
    let len = std::fs::metadata(&log).unwrap().len();
    // The checkpoint is saved right after the ack is counted: wait for it too.
    assert!(
        wait_until(Duration::from_secs(10), || file_of(&agent_status(&agent))
            .is_some_and(|f| f["acked_offset"] == len)),
        "acked offset never reached the end: {}",
        agent_status(&agent)
    );
    let f = file_of(&agent_status(&agent)).unwrap();
    assert_same("read offset", len, f["read_offset"].as_u64().unwrap());
    assert_same("lag", 0, f["unacked_bytes"].as_u64().unwrap());
    assert_same("lines read", 100, f["lines_read"].as_u64().unwrap());

    // With the collector gone, new lines are read and spooled but not acknowledged.
    collector.kill9();
    append_lines(&log, 100, 50);
    let len2 = std::fs::metadata(&log).unwrap().len();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let s = agent_status(&agent);
            file_of(&s).is_some_and(|f| f["lines_read"] == 150 && f["read_offset"] == len2)
                && s["spool"]["events"].as_u64() >= Some(50)
                && s["errors"]["ship_unreachable"].as_u64() > Some(0)
        }),
        "spooled lines or unreachable collector not shown: {}",
        agent_status(&agent)
    );
    let s = agent_status(&agent);
    let f = file_of(&s).unwrap();
    assert_same(
        "lag while the collector is down",
        len2 - len,
        f["unacked_bytes"].as_u64().unwrap(),
    );
    assert!(
        s["spool"]["bytes"].as_u64().unwrap() > 0,
        "spool bytes: {s}"
    );

    // The same in Prometheus text, and in the table a person reads.
    let metrics = get(&format!(
        "http://{}/metrics",
        agent.metrics.as_ref().unwrap()
    ));
    let lag_line = format!(
        "logwarden_agent_checkpoint_lag_bytes{{path=\"{path}\"}} {}",
        len2 - len
    );
    assert!(
        metrics.contains(&lag_line),
        "{lag_line} missing from:\n{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "logwarden_agent_lines_read_total{{path=\"{path}\"}} 150"
        )),
        "{metrics}"
    );
    let out = Command::new(bin("logwarden-agent"))
        .args(["status", "--listen", agent.metrics.as_ref().unwrap()])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && table.contains(&path), "{table}");
    assert!(table.contains("events waiting"), "{table}");

    // Without the listener, the data dir still tells the acknowledged offsets and the lag.
    let out = Command::new(bin("logwarden-agent"))
        .args(["status", "--json", "--data-dir"])
        .arg(&agent_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_disk: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = file_of(&from_disk).expect("the file in the checkpoints");
    assert_same(
        "acked offset on disk",
        len,
        f["acked_offset"].as_u64().unwrap(),
    );
    assert_same(
        "lag on disk",
        len2 - len,
        f["unacked_bytes"].as_u64().unwrap(),
    );
}

/// Every `logwarden_*` name in a PromQL expression (label names and functions never start
/// with it).
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_ident = (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_')
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
        if starts_ident {
            let end = bytes[i..]
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b':'))
                .map_or(bytes.len(), |n| i + n);
            let word = &expr[i..end];
            // Skip quoted label values ({path="logwarden_x"}).
            let quoted = expr[..i].matches('"').count() % 2 == 1;
            if word.starts_with("logwarden_") && !quoted {
                out.push(word.to_owned());
            }
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

fn exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => exprs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| exprs(x, out)),
        _ => {}
    }
}

/// The series names a `/metrics` text offers: every sample's name, and for each declared
/// family its names (`_total` for counters), so that a family with no series yet still counts.
fn exposed(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                match kind {
                    "counter" => names.insert(format!("{name}_total")),
                    _ => names.insert(name.to_owned()),
                };
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

#[test]
fn promql_names_are_found_outside_label_values() {
    assert_eq!(
        metric_names(
            r#"sum by (path) (rate(logwarden_agent_lines_read_total{path="logwarden_x"}[5m])) / logwarden_b"#
        ),
        vec!["logwarden_agent_lines_read_total", "logwarden_b"]
    );
}

#[test]
fn every_metric_a_dashboard_uses_is_in_the_real_metrics_output() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(
        &dir.path().join("c"),
        &["--webhook", "http://127.0.0.1:9/unreachable"],
    );
    let log = dir.path().join("app.log");
    append_lines(&log, 0, 10);
    let (backup, data) = (dir.path().join("backup"), dir.path().join("store"));
    std::fs::create_dir_all(&backup).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(backup.join("zimbra-full.tgz"), "x").unwrap();
    let agent = Agent::start_with(
        &dir.path().join("agent"),
        &collector.url,
        &[log.to_str().unwrap()],
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--mdstat",
            fixture("mdstat/raid5_degraded.txt").to_str().unwrap(),
            "--backup",
            backup.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
    );
    // A SMART disk and a controller's virtual drive: the records the agent would send, made
    // by `logwarden-agent check` from real outputs, ingested as they are.
    let out = Command::new(bin("logwarden-agent"))
        .args(["check", "--json", "--smartctl-json"])
        .arg(fixture("smart/ata_realloc304_passed.json"))
        .arg("--storcli-json")
        .arg(fixture("hwraid/storcli_pd_offline_J.json"))
        .output()
        .unwrap();
    assert!(
        !out.stdout.is_empty(),
        "check printed nothing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, answer) =
        collector.ingest(out.stdout, &[("content-type", "application/x-ndjson")]);
    assert_same("ingest of check records", 200, status);
    assert!(answer["accepted"].as_u64() > Some(0), "{answer}");
    assert!(
        wait_until(Duration::from_secs(20), || {
            let m = get(&format!("{}/metrics", collector.url));
            [
                "logwarden_raid_degraded{",
                "logwarden_backup_age_seconds{",
                "logwarden_smart_verdict{",
                "logwarden_hwraid_degraded{",
            ]
            .iter()
            .all(|n| m.contains(n))
        }),
        "the health records never all reached the collector's metrics:\n{}",
        get(&format!("{}/metrics", collector.url))
    );
    let mut have = exposed(&get(&format!("{}/metrics", collector.url)));
    have.extend(exposed(&get(&format!(
        "http://{}/metrics",
        agent.metrics.as_ref().unwrap()
    ))));

    let dashboards = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards");
    let mut files: Vec<_> = std::fs::read_dir(&dashboards)
        .expect("dashboards/ beside the tests")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "expected the three dashboards, found {files:?}"
    );
    let mut missing = Vec::new();
    for file in &files {
        let json: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.display()));
        let mut found = Vec::new();
        exprs(&json, &mut found);
        let names: BTreeSet<String> = found.iter().flat_map(|e| metric_names(e)).collect();
        assert!(
            !names.is_empty(),
            "{} uses no logwarden metric",
            file.display()
        );
        for n in names {
            if !have.contains(&n) {
                missing.push(format!("{}: {n}", file.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "dashboards use metrics that /metrics does not offer:\n{}\noffered: {have:?}",
        missing.join("\n")
    );
}

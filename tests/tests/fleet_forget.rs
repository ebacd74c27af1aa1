//! `logwarden fleet forget HOST`: a host stopped on purpose is retired. Its AgentSilent
//! resolves at once (and the receivers hear it), it leaves the fleet view, both stay so across
//! SIGKILL restarts (the forget is a WAL record), and the host comes back when it reports again.

use std::time::Duration;

use logwarden_tests::{Collector, HttpSink, heartbeat, ok_stdout, wait_until};
use serde_json::Value;

/// The alerts `logwarden alerts --all -o json` lists, as (name, host, status).
fn alerts(c: &Collector) -> Vec<(String, String, String, String)> {
    let out = ok_stdout(&c.cli(&["alerts", "--all", "-o", "json"]));
    out.lines()
        .map(|l| {
            let a: Value = serde_json::from_str(l).expect("alerts -o json prints JSON lines");
            (
                a["id"].as_str().unwrap_or("").to_owned(),
                a["name"].as_str().unwrap_or("").to_owned(),
                a["labels"]["host"].as_str().unwrap_or("").to_owned(),
                a["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn silent(c: &Collector, host: &str) -> Option<String> {
    alerts(c)
        .into_iter()
        .find(|(_, name, h, _)| name == "AgentSilent" && h == host)
        .map(|(_, _, _, status)| status)
}

fn fleet_hosts(c: &Collector) -> Vec<String> {
    let out = ok_stdout(&c.cli(&["fleet", "-o", "json"]));
    let v: Value = serde_json::from_str(&out).expect("fleet -o json is JSON");
    v["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["host"].as_str().unwrap().to_owned())
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

#[test]
fn a_forgotten_host_resolves_its_agent_silent_and_leaves_the_fleet_until_it_reports_again() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("collector.toml");
    // Silent after 1 s without a heartbeat; a cleared verdict would take a minute to resolve,
    // so only the forget's own resolution can pass within the test's waits.
    std::fs::write(
        &cfg,
        "[alerts]\nheartbeat_interval_s = 0.5\nsilent_intervals = 2\nresolve_hold_s = 60\n\
         group_interval_s = 0.5\n",
    )
    .unwrap();
    let sink = HttpSink::start(0);
    let mut c = Collector::start(
        &dir.path().join("collector"),
        &["--config", cfg.to_str().unwrap(), "--webhook", &sink.url],
    );
    c.ingest_ok(&[heartbeat("retired1", 1), heartbeat("alive1", 1)]);
    assert!(
        wait_until(Duration::from_secs(30), || {
            silent(&c, "retired1").as_deref() == Some("firing")
                && silent(&c, "alive1").as_deref() == Some("firing")
        }),
        "AgentSilent never fired: {:?}",
        alerts(&c)
    );
    assert!(fleet_hosts(&c).contains(&"retired1".to_owned()));

    // A host not in the fleet: a clear error, with the spelling that is there.
    let out = c.cli(&["fleet", "forget", "RETIRED1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no host \"RETIRED1\" in the fleet view: did you mean retired1?"),
        "{err}"
    );

    let out = ok_stdout(&c.cli(&["fleet", "forget", "retired1", "--author", "test"]));
    let silent_id = alerts(&c)
        .into_iter()
        .find(|(_, n, h, _)| n == "AgentSilent" && h == "retired1")
        .map(|(id, ..)| id)
        .unwrap();
    assert!(
        out.starts_with(
            "forgot retired1: it leaves the fleet view until it reports again; resolved:"
        ) && out.contains(&format!("  {silent_id} AgentSilent (critical)")),
        "{out}"
    );
    // At once, not after resolve_hold; the other host's alert stays.
    assert_eq!(silent(&c, "retired1").as_deref(), Some("resolved"));
    assert_eq!(silent(&c, "alive1").as_deref(), Some("firing"));
    assert!(!fleet_hosts(&c).contains(&"retired1".to_owned()));
    assert!(fleet_hosts(&c).contains(&"alive1".to_owned()));
    assert!(
        wait_until(Duration::from_secs(30), || notified(&sink, "retired1")
            .last()
            .map(String::as_str)
            == Some("resolved")),
        "the receiver never heard the resolve: {:?}",
        notified(&sink, "retired1")
    );

    // Across SIGKILL restarts (the first replays the WAL, the next starts from the snapshots
    // written since): still forgotten, and it does not fire again with no heartbeat.
    for round in 0..2 {
        c.kill9();
        c.restart();
        std::thread::sleep(Duration::from_secs(3)); // a few heartbeat intervals and ticks
        assert_eq!(
            silent(&c, "retired1").as_deref(),
            Some("resolved"),
            "restart {round}: {:?}",
            alerts(&c)
        );
        assert_eq!(silent(&c, "alive1").as_deref(), Some("firing"));
        let hosts = fleet_hosts(&c);
        assert!(
            !hosts.contains(&"retired1".to_owned()),
            "restart {round}: {hosts:?}"
        );
        assert!(
            hosts.contains(&"alive1".to_owned()),
            "restart {round}: {hosts:?}"
        );
    }
    let resolves = notified(&sink, "retired1");
    assert_eq!(
        resolves.iter().filter(|s| *s == "firing").count(),
        1,
        "fired once, never again: {resolves:?}"
    );

    // It reports again: back in the fleet view, and watched again (silent once more).
    c.ingest_ok(&[heartbeat("retired1", 2)]);
    assert!(wait_until(Duration::from_secs(30), || fleet_hosts(&c)
        .contains(&"retired1".to_owned())));
    assert!(
        wait_until(Duration::from_secs(30), || silent(&c, "retired1")
            .as_deref()
            == Some("firing")),
        "a host back after a forget is watched again: {:?}",
        alerts(&c)
    );
}

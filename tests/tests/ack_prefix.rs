//! `logwarden ack` takes a unique prefix of an alert id, as git takes commits; an ambiguous one
//! is refused with the ids it matches, and nothing is acknowledged.

use std::collections::BTreeMap;
use std::time::Duration;

use logwarden_tests::{Collector, heartbeat, ok_stdout, wait_until};
use serde_json::Value;

/// Firing alerts: id -> acked.
fn firing(c: &Collector) -> BTreeMap<String, bool> {
    ok_stdout(&c.cli(&["alerts", "-o", "json"]))
        .lines()
        .map(|l| {
            let a: Value = serde_json::from_str(l).unwrap();
            (a["id"].as_str().unwrap().to_owned(), !a["ack"].is_null())
        })
        .collect()
}

#[test]
fn ack_takes_a_unique_prefix_and_refuses_an_ambiguous_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("collector.toml");
    std::fs::write(
        &cfg,
        "[alerts]\nheartbeat_interval_s = 0.5\nsilent_intervals = 2\n",
    )
    .unwrap();
    let c = Collector::start(
        &dir.path().join("collector"),
        &["--config", cfg.to_str().unwrap()],
    );
    // 17 silent agents: 17 ids of 16 hex digits, so at least two share their first digit.
    let hosts: Vec<String> = (0..17).map(|i| format!("host{i:02}")).collect();
    c.ingest_ok(&hosts.iter().map(|h| heartbeat(h, 1)).collect::<Vec<_>>());
    assert!(
        wait_until(Duration::from_secs(30), || firing(&c).len() == 17),
        "17 AgentSilent alerts: {:?}",
        firing(&c)
    );
    let ids: Vec<String> = firing(&c).into_keys().collect();

    // The shortest prefix that tells one id from all the others.
    let unique = |id: &str| {
        (1..=16)
            .map(|n| &id[..n])
            .find(|p| ids.iter().filter(|i| i.starts_with(p)).count() == 1)
            .unwrap()
            .to_owned()
    };
    let target = &ids[0];
    let prefix = unique(target);
    let out = ok_stdout(&c.cli(&["ack", &prefix, "--author", "test"]));
    assert!(
        out.starts_with(&format!("acknowledged {target} AgentSilent")),
        "{out}"
    );
    assert!(firing(&c)[target], "acknowledged");

    // A first digit two ids share.
    let shared = ids
        .iter()
        .map(|i| &i[..1])
        .find(|d| ids.iter().filter(|i| i.starts_with(d)).count() > 1)
        .unwrap()
        .to_owned();
    let before = firing(&c);
    let out = c.cli(&["ack", &shared]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("alert id prefix {shared:?} is ambiguous")),
        "{err}"
    );
    for id in ids.iter().filter(|i| i.starts_with(&shared)) {
        assert!(err.contains(id.as_str()), "{err} names {id}");
    }
    assert_eq!(firing(&c), before, "nothing acknowledged");

    // A prefix of no alert: the usual answer.
    let none = (0..16)
        .map(|d| format!("{d:x}"))
        .find(|d| !ids.iter().any(|i| i.starts_with(d.as_str())))
        .unwrap_or_else(|| "zz".to_owned());
    let out = c.cli(&["ack", &none]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("no firing alert with id {none}")),
        "{err}"
    );
}

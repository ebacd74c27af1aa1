//! The words a new user types, through the real CLI and collector: severity aliases, an app
//! family, a host in capitals, a prefix; counts by an extracted field and by pairs with the rest
//! as (other); an empty result and an unknown field said plainly.

use logwarden_tests::{Collector, assert_same, ok_stdout, wait_until};

fn line(seq: u64, host: &str, app: &str, severity: &str, ip: &str, message: &str) -> String {
    serde_json::json!({
        "id": format!("w:{seq}"), "ts": "2026-11-29T10:00:00Z", "host": host, "site": "lab",
        "source": "/var/log/mail.log", "app": app, "severity": severity, "kind": "log",
        "message": message, "fields": {"ip": ip},
    })
    .to_string()
}

#[test]
fn aliases_families_any_case_and_counts_by_any_field() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), &[]);
    let mut lines = Vec::new();
    for i in 0..30u64 {
        let (host, app, sev) = match i % 3 {
            0 => ("mbox1", "postfix/smtpd", "err"),
            1 => ("MBOX2", "postfix/qmgr", "warning"),
            _ => ("vm", "sshd", "info"),
        };
        let ip = format!("10.0.0.{}", i % 4);
        lines.push(line(
            i,
            host,
            app,
            sev,
            &ip,
            &format!("connection timeout {i}"),
        ));
    }
    c.ingest_ok(&lines);
    assert!(wait_until(std::time::Duration::from_secs(30), || c
        .count("*")
        == 30));

    let hits = |q: &str| c.search(q).len();
    assert_same("severity:error", 10, hits("severity:error"));
    assert_same("severity:WARN", 10, hits("severity:WARN"));
    assert_same("app:postfix", 20, hits("app:postfix"));
    assert_same("host:VM", 10, hits("host:VM"));
    assert_same("host:mbox*", 20, hits("host:mbox*"));
    assert_same("NOT app:postfix", 10, hits("NOT app:postfix"));
    assert_same("message:/timeouts?/", 30, hits("message:/timeouts?/"));

    // Nothing found: said on stderr, with the range, exit 1.
    let out = c.cli(&["search", "app:nginx", "--since", "7d"]);
    assert_same("exit code", Some(1), out.status.code());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no events match \"app:nginx\" in the last 7d"),
        "{stderr}"
    );
    // A word that is no severity, a costly regex: refused, naming them.
    for (q, why) in [
        ("severity:loud", "severity \"loud\" is not a severity"),
        (
            "message:/.*out/",
            "must begin with at least 2 plain characters",
        ),
    ] {
        let out = c.cli(&["search", q]);
        assert_same("exit code", Some(2), out.status.code());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{q}: {stderr}");
    }

    // Counts by an extracted field: the top 2 and the rest.
    let out = ok_stdout(&c.cli(&["count", "*", "--by", "fields.ip", "--limit", "2"]));
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_same("total", vec!["30", "events"], rows[0].clone());
    assert_same("first", vec!["10.0.0.0", "8"], rows[1][..2].to_vec());
    assert_same("second", vec!["10.0.0.1", "8"], rows[2][..2].to_vec());
    assert_same("other", vec!["(other)", "14"], rows[3].clone());
    // Pairs.
    let out = ok_stdout(&c.cli(&["count", "app:postfix", "--by", "host,app", "-o", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys: Vec<&str> = v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["key"].as_str().unwrap())
        .collect();
    assert_same(
        "pairs",
        vec!["MBOX2 postfix/qmgr", "mbox1 postfix/smtpd"],
        keys,
    );
    // Context: a hit's position, then the events around it from its host and source; -C N for
    // every hit.
    let out = ok_stdout(&c.cli(&["search", "\"timeout 12\"", "--positions"]));
    let position = out
        .split_whitespace()
        .next()
        .expect("a position")
        .to_owned();
    let out = ok_stdout(&c.cli(&["context", &position, "-B", "2", "-A", "1"]));
    let messages: Vec<&str> = out
        .lines()
        .map(|l| l.rsplit("timeout ").next().unwrap())
        .collect();
    assert_same(
        "context of 12 (mbox1)",
        vec!["6", "9", "12", "15"],
        messages,
    );
    assert!(out.lines().nth(2).unwrap().starts_with("> "), "{out}");
    // By the event's id (AGENT:SEQ, as `search -o json` prints it): the same lines.
    let by_id = ok_stdout(&c.cli(&["context", "w:12", "-B", "2", "-A", "1"]));
    assert_same("context by id", out.as_str(), by_id.as_str());
    let out = ok_stdout(&c.cli(&["search", "\"timeout 12\" OR \"timeout 13\"", "-C", "1"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_same("groups", 7, lines.len());
    assert_same("separator", "--", lines[3]);
    // No such event, by position or by id: one line, exit 1 (as a search that finds nothing);
    // neither a position nor an id: exit 2, naming it. The API: 404 and 400.
    for (at, says) in [
        ("1.5.6.7", "no event at position \"1.5.6.7\""),
        ("w:999", "no event with id w:999"),
    ] {
        let out = c.cli(&["context", at]);
        assert_same("exit code", Some(1), out.status.code());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_same("lines on stderr", 1, stderr.lines().count());
        assert!(stderr.contains(says), "{at}: {stderr}");
    }
    for (at, says) in [
        ("w:", "event id \"w:\" is not valid"),
        ("w:x12", "event id \"w:x12\" is not valid"),
        ("nope", "cursor \"nope\" is not valid"),
    ] {
        let out = c.cli(&["context", at]);
        assert_same("exit code", Some(2), out.status.code());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{at}: {stderr}");
    }
    let api = |at: &str| {
        let resp = c
            .http()
            .get(format!("{}/api/v1/context", c.url))
            .query(&[("at", at), ("before", "1"), ("after", "1")])
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<serde_json::Value>().unwrap())
    };
    let (status, body) = api("w:12");
    assert_same("status", 200, status);
    assert_same("hit", "w:12", body["hit"]["id"].as_str().unwrap());
    assert_same("before", "w:9", body["before"][0]["id"].as_str().unwrap());
    assert_same("status of an unknown id", 404, api("w:999").0);
    assert_same("status of a malformed id", 400, api("w:").0);
    // Field discovery: the names there are, and a field's most frequent values.
    let out = ok_stdout(&c.cli(&["fields", "app:sshd", "--since", "30d"]));
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_same(
        "fields",
        vec![vec!["10", "events"], vec!["fields.ip", "10"]],
        rows,
    );
    let out = ok_stdout(&c.cli(&["values", "host", "--since", "30d", "--limit", "1"]));
    assert!(out.contains("(other)") && out.lines().count() == 3, "{out}");
    // A field no event has: said, exit 2.
    let out = c.cli(&["count", "*", "--by", "fields.nope"]);
    assert_same("exit code", Some(2), out.status.code());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no event in the time range has that field"),
        "{stderr}"
    );
}

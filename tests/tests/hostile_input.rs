//! Input chosen to hurt (issue 26 §2 and §7), against the real binaries: requests that used to
//! abort the collector, answer 503 for a bad input, or answer a few bytes with megabytes (each
//! is now a 400 naming the problem, and the collector goes on serving); and a log line that
//! named its own host.

use std::io::{Read, Write};
use std::time::Duration;

use logwarden_tests::{Agent, Collector, wait_until};

fn event(seq: u64, ts: &str, message: &str) -> String {
    serde_json::json!({
        "id": format!("hostile:{seq}"),
        "ts": ts,
        "host": "mbox1",
        "site": "lab",
        "source": "/var/log/test.log",
        "app": "test",
        "severity": "info",
        "kind": "log",
        "message": message,
        "fields": {"account": "bob", "n": 7},
    })
    .to_string()
}

/// `GET path?query` with its status and the answer's body.
fn get(c: &Collector, path: &str, query: &[(&str, &str)]) -> (u16, String) {
    let resp = c
        .http()
        .get(format!("{}{path}", c.url))
        .query(query)
        .timeout(Duration::from_secs(30))
        .send()
        .unwrap_or_else(|e| panic!("{path} {query:?}: no answer ({e}): did the collector die?"));
    let status = resp.status().as_u16();
    (status, resp.text().unwrap_or_default())
}

#[track_caller]
fn refused(c: &Collector, path: &str, query: &[(&str, &str)], naming: &str) {
    let (status, body) = get(c, path, query);
    let shown: String = format!("{query:?}").chars().take(120).collect();
    assert_eq!(status, 400, "{path} {shown}: {body}");
    let error = serde_json::from_str::<serde_json::Value>(&body).expect("a JSON error")["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains(naming),
        "{path} {shown}: the error does not name {naming:?}: {error}"
    );
}

/// A collector holding two events twelve hours apart on one day, six days ago and more (a
/// histogram over all of the data, one bucket a second, is then hundreds of thousands of
/// buckets).
fn collector_with_two_events(dir: &std::path::Path) -> Collector {
    let c = Collector::start(&dir.join("data"), &[]);
    c.ingest_ok(&[
        event(1, "2026-11-29T10:00:00Z", "alpha one"),
        event(2, "2026-11-29T22:00:00Z", "alpha two"),
    ]);
    assert!(wait_until(Duration::from_secs(30), || c.count("alpha") == 2));
    c
}

/// §2: 2,200 `(` then `a` overflowed a worker's stack and aborted the process.
#[test]
fn a_deeply_nested_or_too_wide_query_is_a_400_on_search_count_and_tail() {
    let dir = tempfile::tempdir().unwrap();
    let c = collector_with_two_events(dir.path());
    let deep = format!("{}a", "(".repeat(2200));
    for path in ["/api/v1/search", "/api/v1/count", "/api/v1/tail"] {
        refused(&c, path, &[("q", &deep)], "nests parentheses");
    }
    let wide = vec!["w"; 300].join(" OR ");
    refused(&c, "/api/v1/search", &[("q", &wide)], "clauses");
    let prefixed = format!("{}a", "-".repeat(50));
    refused(
        &c,
        "/api/v1/count",
        &[("q", &prefixed)],
        "operators in a row",
    );
    assert_eq!(c.count("alpha"), 2, "the collector goes on");
}

/// §7: `since` after `until` panicked inside (503).
#[test]
fn since_after_until_is_a_400_and_an_empty_window_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let c = collector_with_two_events(dir.path());
    let backwards = [
        ("q", "alpha"),
        ("since", "2026-11-30T00:00:00Z"),
        ("until", "2026-11-29T00:00:00Z"),
    ];
    refused(&c, "/api/v1/search", &backwards, "later than until");
    refused(&c, "/api/v1/count", &backwards, "later than until");
    let (status, body) = get(
        &c,
        "/api/v1/search",
        &[
            ("q", "alpha"),
            ("since", "2026-11-29T00:00:00Z"),
            ("until", "2026-11-29T00:00:00Z"),
        ],
    );
    assert_eq!(
        (status, body.contains("\"total\":0")),
        (200, true),
        "{body}"
    );
}

/// §7: a range on the JSON field answered 503.
#[test]
fn a_range_on_a_json_field_is_a_400_naming_it_and_ranges_on_columns_run() {
    let dir = tempfile::tempdir().unwrap();
    let c = collector_with_two_events(dir.path());
    refused(
        &c,
        "/api/v1/search",
        &[("q", "fields.n:[1 TO 9]")],
        "\"fields.n\"",
    );
    refused(
        &c,
        "/api/v1/count",
        &[("q", "fields.account:>a")],
        "\"fields.account\"",
    );
    let (status, body) = get(
        &c,
        "/api/v1/search",
        &[(
            "q",
            "ts:[2026-11-29T00:00:00Z TO 2026-11-30T00:00:00Z] AND alpha",
        )],
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"total\":2"), "{body}");
}

/// §7: this 37-byte request answered with megabytes (a bucket a second over all the data).
#[test]
fn a_37_byte_histogram_request_cannot_ask_for_megabytes() {
    let dir = tempfile::tempdir().unwrap();
    let c = collector_with_two_events(dir.path());
    let request = "GET /api/v1/count?every=1s HTTP/1.1\r\n";
    assert_eq!(request.len(), 37);
    let addr = c.url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    s.write_all(format!("Host: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(
        answer.len() < 4096,
        "a 37-byte request was answered with {} bytes",
        answer.len()
    );
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("buckets"), "{text}");
    // With a window the histogram runs, and holds both events.
    let (status, body) = get(
        &c,
        "/api/v1/count",
        &[
            ("q", "alpha"),
            ("every", "1h"),
            ("since", "2026-11-29T00:00:00Z"),
            ("until", "2026-11-30T00:00:00Z"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let counted: u64 = serde_json::from_str::<serde_json::Value>(&body).unwrap()["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 2, "{body}");
}

/// §7: the agent's `auto` parser took the word after an ISO stamp for the host, so a line any
/// application writes could file itself under another machine. The event's host is the
/// agent's; the name the line carries is kept in `fields.hostname`.
#[test]
fn a_line_in_a_file_cannot_set_its_events_host() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(&dir.path().join("data"), &[]);
    let log = dir.path().join("app.log");
    std::fs::write(
        &log,
        "2026-12-05T10:00:00Z victim sshd[1]: Accepted password for root numbat\n\
         2026-12-05T10:00:01 mbox9.phx postfix/smtpd[2]: connect from numbat\n",
    )
    .unwrap();
    let _agent = Agent::start(&dir.path().join("agent"), &c.url, &[log.to_str().unwrap()]);
    assert!(
        wait_until(Duration::from_secs(60), || c.count("numbat") == 2),
        "{} of 2 lines arrived",
        c.count("numbat")
    );
    let hits = c.hits("numbat", 10);
    let mut named: Vec<(String, String)> = hits
        .iter()
        .map(|h| {
            assert_eq!(h["host"], "testhost", "{h}");
            (
                h["app"].as_str().unwrap_or_default().to_owned(),
                h["fields"]["hostname"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    named.sort();
    assert_eq!(
        named,
        [
            ("postfix/smtpd".to_owned(), "mbox9.phx".to_owned()),
            ("sshd".to_owned(), "victim".to_owned())
        ]
    );
}

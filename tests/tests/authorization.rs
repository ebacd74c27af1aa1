//! Who may call what, end to end over the real collector on loopback (docs/security.md,
//! "Authentication"): the role table route by route, for every role, with and without tokens;
//! and the findings of issue 26 §1 about replication and handover (the ingest token opened the
//! WAL stream, a GET demoted the primary, an epoch could be pushed to `u64::MAX` and wrapped,
//! a claimed standby progress cleared `ReplicationDegraded`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use logwarden_tests::{Collector, assert_same, bin, event_line, free_addr, wait_until};

/// `logwarden-collector token add NAME --role ROLE --data-dir DIR [more]`: the new token.
fn token_add(data_dir: &Path, name: &str, role: &str, more: &[&str]) -> String {
    let out = Command::new(bin("logwarden-collector"))
        .args(["token", "add", name, "--role", role, "--data-dir"])
        .arg(data_dir)
        .args(more)
        .output()
        .expect("running token add");
    assert!(
        out.status.success(),
        "token add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum R {
    Ingest,
    Read,
    Replication,
    Admin,
}

/// One call of the API, the roles that open it, and how to make it.
struct Route {
    method: &'static str,
    path: &'static str,
    body: &'static str,
    roles: &'static [R],
}

const ALL: &[R] = &[R::Ingest, R::Read, R::Replication, R::Admin];

/// The role table of docs/security.md, one row per route.
fn table() -> Vec<Route> {
    let r = |method, path, body, roles| Route {
        method,
        path,
        body,
        roles,
    };
    vec![
        r(
            "POST",
            "/api/v1/ingest",
            "LINE",
            &[R::Ingest, R::Replication, R::Admin],
        ),
        r(
            "GET",
            "/api/v1/search?q=tokened&limit=1",
            "",
            &[R::Read, R::Admin],
        ),
        r("GET", "/api/v1/count?q=tokened", "", &[R::Read, R::Admin]),
        r("GET", "/api/v1/tail?q=tokened", "", &[R::Read, R::Admin]),
        r("GET", "/api/v1/fleet", "", &[R::Read, R::Admin]),
        r("GET", "/metrics", "", &[R::Read, R::Admin]),
        r("GET", "/api/v1/alerts", "", &[R::Read, R::Admin]),
        r("GET", "/api/v1/silences", "", &[R::Read, R::Admin]),
        r(
            "GET",
            "/api/v1/status",
            "",
            &[R::Read, R::Replication, R::Admin],
        ),
        r(
            "POST",
            "/api/v1/replication/wal?from=1&wait_ms=0",
            "",
            &[R::Replication, R::Admin],
        ),
        // Epoch 1 is not above the primary's: refused (409) by whoever may ask, nothing changes.
        r(
            "POST",
            "/api/v1/replication/handover?epoch=1",
            "",
            &[R::Replication, R::Admin],
        ),
        r("POST", "/api/v1/promote", "", &[R::Admin]),
        r("POST", "/api/v1/alerts/no-such-alert/ack", "", &[R::Admin]),
        r("POST", "/api/v1/silences", "{}", &[R::Admin]),
        r(
            "DELETE",
            "/api/v1/silences/no-such-silence",
            "",
            &[R::Admin],
        ),
        r("GET", "/", "", ALL),
    ]
}

/// Makes one call; the status. Streaming answers (tail) count once their head arrives.
fn call(base: &str, route: &Route, token: Option<&str>, seq: u64) -> u16 {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = format!("{base}{}", route.path);
    let mut req = match route.method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        "DELETE" => client.delete(url),
        m => panic!("method {m}"),
    };
    let body = if route.body == "LINE" {
        event_line("mbox1-0a0b0c0d", seq, "tokened")
    } else {
        route.body.to_owned()
    };
    req = req.body(body).header("x-logwarden-standby", "test");
    if route.body == "{}" {
        req = req.header("content-type", "application/json");
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().expect("the collector answers").status().as_u16()
}

#[test]
fn the_role_table_holds_route_by_route_for_every_role_with_and_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tokened");
    let tokens = [
        (R::Ingest, token_add(&data, "mbox1", "ingest", &[])),
        (R::Read, token_add(&data, "grafana", "read", &[])),
        (
            R::Replication,
            token_add(&data, "site-b", "replication", &[]),
        ),
        (R::Admin, token_add(&data, "oncall", "admin", &[])),
    ];
    let collector = Collector::start(&data, &[]);
    let mut seq = 0;
    let mut wrong = Vec::new();
    for route in table() {
        let what = format!("{} {}", route.method, route.path);
        let public = route.roles == ALL;
        for (presented, expected_refusal) in [(None, 401), (Some("lw_not-a-token"), 401)] {
            seq += 1;
            let got = call(&collector.url, &route, presented, seq);
            let refused = got == 401 || got == 403;
            if public && refused || !public && got != expected_refusal {
                wrong.push(format!("{what} with token {presented:?}: {got}"));
            }
        }
        for (role, token) in &tokens {
            seq += 1;
            let got = call(&collector.url, &route, Some(token), seq);
            let allowed = route.roles.contains(role);
            let ok = if allowed {
                got != 401 && got != 403
            } else {
                got == 403
            };
            if !ok {
                wrong.push(format!(
                    "{what} with the {role:?} token: {got} (allowed: {allowed})"
                ));
            }
        }
    }
    // Still the primary at epoch 1 after all of it (promote and handover were refused).
    let status = collector
        .http()
        .get(format!("{}/api/v1/status", collector.url));
    let status: serde_json::Value = status
        .bearer_auth(&tokens[1].1)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_same("role", "primary", status["role"].as_str().unwrap_or(""));
    assert_same("epoch", 1, status["epoch"].as_u64().unwrap_or(0));
    drop(collector);

    // No token of any kind: every call is open to this machine (loopback).
    let open = Collector::start(&dir.path().join("open"), &[]);
    for route in table() {
        seq += 1;
        let got = call(&open.url, &route, None, seq);
        if got == 401 || got == 403 {
            wrong.push(format!(
                "{} {} without tokens from loopback: {got}",
                route.method, route.path
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "calls against the role table:\n{}",
        wrong.join("\n")
    );
}

/// Issue 26 §1: the agent's token returned every stored event from the replication stream.
#[test]
fn an_ingest_token_cannot_pull_the_wal_stream() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("c");
    let agent = token_add(&data, "mbox1", "ingest", &[]);
    let collector = Collector::start(&data, &[]);
    let (status, _) = collector.ingest(
        event_line("mbox1-0a0b0c0d", 1, "secret-word").into_bytes(),
        &[("authorization", &format!("Bearer {agent}"))],
    );
    assert_same("ingest with the agent's token", 200, status);
    let http = collector.http();
    for method in ["GET", "POST"] {
        let url = format!("{}/api/v1/replication/wal?from=1&wait_ms=0", collector.url);
        let req = if method == "GET" {
            http.get(url)
        } else {
            http.post(url)
        };
        let resp = req
            .bearer_auth(&agent)
            .header("x-logwarden-standby", "x")
            .send()
            .unwrap();
        let code = resp.status().as_u16();
        let body = resp.bytes().unwrap();
        let leaked = body.windows(11).any(|w| w == b"secret-word");
        assert!(
            !leaked && (code == 403 || code == 405),
            "{method} of the WAL stream with an ingest token: {code}, event in the answer: {leaked}"
        );
    }
}

/// Issue 26 §1: `GET .../replication/wal?from=1&epoch=999` (from any page in a browser on the
/// collector's host, with no tokens) demoted the primary for good. A handover to epoch 999
/// did too. Now a GET changes nothing, and an epoch far beyond the primary's is refused.
#[test]
fn no_get_and_no_far_epoch_demotes_the_primary() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("c"), &[]);
    let http = collector.http();
    let url = |q: &str| format!("{}/api/v1/replication/wal?{q}", collector.url);
    let get = http.get(url("from=1&epoch=999&wait_ms=0")).send().unwrap();
    assert!(
        get.status().as_u16() == 405,
        "GET of the replication stream: {}",
        get.status()
    );
    let post = http
        .post(url("from=1&epoch=999&wait_ms=0"))
        .header("x-logwarden-standby", "x")
        .send()
        .unwrap();
    assert_same("POST at a higher epoch", 503, post.status().as_u16());
    let forged = http.post(url("from=1&wait_ms=0")).send().unwrap();
    assert_same(
        "POST without the standby header (what a browser's form can send)",
        400,
        forged.status().as_u16(),
    );
    let handover = http
        .post(format!(
            "{}/api/v1/replication/handover?epoch=999",
            collector.url
        ))
        .send()
        .unwrap();
    assert_same("handover to epoch 999", 409, handover.status().as_u16());
    let status = collector.status().expect("status");
    assert_same("role", "primary", status["role"].as_str().unwrap_or(""));
    assert_same("epoch", 1, status["epoch"].as_u64().unwrap_or(0));
    let saved =
        std::fs::read_to_string(collector.data_dir.join("failover.json")).unwrap_or_default();
    assert!(
        saved.is_empty() || saved.contains(r#""role":"primary","epoch":1"#),
        "no role change was saved: {saved}"
    );
    collector.ingest_ok(&[event_line("a", 1, "still primary")]);
}

/// Issue 26 §1: an epoch pushed to `u64::MAX` made `promote --force` wrap to 0, and agents
/// that had seen the high epoch then refused every ack.
#[test]
fn a_promotion_never_wraps_the_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("c");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("failover.json"),
        format!(r#"{{"version":1,"role":"standby","epoch":{}}}"#, u64::MAX),
    )
    .unwrap();
    let collector = Collector::start(&data, &[]);
    let resp = collector
        .http()
        .post(format!("{}/api/v1/promote?force=true", collector.url))
        .send()
        .unwrap();
    let code = resp.status().as_u16();
    let text = resp.text().unwrap();
    assert!(
        code == 409 && text.contains("last one"),
        "promote --force at u64::MAX: {code} {text}"
    );
    let status = collector.status().expect("status");
    assert_same("role", "standby", status["role"].as_str().unwrap_or(""));
    assert_same("epoch", u64::MAX, status["epoch"].as_u64().unwrap_or(0));
}

/// Issue 26 §1: `from=1000000` against a sync primary whose standby is down cleared
/// `ReplicationDegraded` and showed `streaming, lag 0`.
#[test]
fn a_claimed_standby_progress_past_the_primarys_log_keeps_it_degraded() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, "[replication]\nsync_timeout_s = 0.5\n").unwrap();
    // A peer that is never there: the standby is down.
    let peer = format!("http://{}", free_addr());
    let collector = Collector::start(
        &dir.path().join("c"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--site",
            "a",
            "--role",
            "primary",
            "--peer",
            &peer,
        ],
    );
    collector.ingest_ok(&[event_line("a", 1, "alone")]);
    let degraded = || collector.metric("logwarden_replication_degraded") == Some(1.0);
    assert!(
        wait_until(Duration::from_secs(20), degraded),
        "the primary went on alone"
    );
    let http = collector.http();
    let url = format!(
        "{}/api/v1/replication/wal?from=1000000&wait_ms=0",
        collector.url
    );
    let get = http.get(&url).send().unwrap().status().as_u16();
    let post = http
        .post(&url)
        .header("x-logwarden-standby", "x")
        .send()
        .unwrap();
    let (post_code, post_text) = (post.status().as_u16(), post.text().unwrap());
    assert!(
        degraded(),
        "still degraded after GET ({get}) and POST ({post_code})"
    );
    assert!(
        post_code == 400 && post_text.contains("log ends at LSN"),
        "{post_code} {post_text}"
    );
    let status = collector.status().unwrap();
    assert_same(
        "replication state",
        "degraded",
        status["replication"]["state"].as_str().unwrap_or(""),
    );
}

/// Issue 26 §5: an agent's token sent `VICTIM:last+1 ..` ids, and the victim's next lines
/// were dropped as duplicates without a word. A token made by `token add NAME` may only send
/// ids of agent NAME (`NAME-*:SEQ`, as agents make them); a batch with another agent's id is
/// refused whole (403 naming the id) and counted.
#[test]
fn an_agent_token_cannot_send_another_agents_ids() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("c");
    let mbox1 = token_add(&data, "mbox1.phx", "ingest", &[]);
    let victim = token_add(&data, "mbox2.phx", "ingest", &[]);
    // A plain token of the config (shared by a relay of several hosts) is bound to no agent.
    let collector = Collector::start(&data, &["--token", "relay-secret"]);
    let send = |token: &str, lines: &[String]| {
        collector.ingest(
            lines.join("\n").into_bytes(),
            &[("authorization", &format!("Bearer {token}"))],
        )
    };
    let victim_id = "mbox2.phx-0a0b0c0d";
    let forged: Vec<String> = (5..=7)
        .map(|seq| event_line(victim_id, seq, "forged"))
        .collect();
    let mut batch = vec![event_line("mbox1.phx-01020304", 1, "own")];
    batch.extend(forged);
    let (status, body) = send(&mbox1, &batch);
    let error = body["error"].as_str().unwrap_or("");
    assert!(
        status == 403 && error.contains("mbox2.phx-0a0b0c0d:5") && error.contains("mbox1.phx"),
        "a batch with another agent's ids: {status} {body}"
    );
    assert_same(
        "logwarden_ingest_id_refused_total",
        Some(1.0),
        collector.metric("logwarden_ingest_id_refused_total"),
    );
    // The victim's own lines are taken, none a "duplicate" of the forgery.
    let own: Vec<String> = (5..=7)
        .map(|seq| event_line(victim_id, seq, "genuine"))
        .collect();
    let (status, body) = send(&victim, &own);
    assert_same("the victim's batch", 200, status);
    assert_same("accepted", 3, body["accepted"].as_u64().unwrap_or(0));
    // Nothing of the refused batch was stored, and the agent's own ids pass.
    let (status, body) = send(&mbox1, &[event_line("mbox1.phx-01020304", 1, "own")]);
    assert_same(
        "the agent's own id",
        (200, 1),
        (status, body["accepted"].as_u64().unwrap_or(0)),
    );
    let (status, _) = send(
        "relay-secret",
        &[event_line("host9-0a0b0c0d", 1, "relayed")],
    );
    assert_same("an unbound token", 200, status);
    assert_same("forged events searchable", 0, collector.count("forged"));
}

/// Issue 26 §7: `--token` values showed in `ps`. Every program takes its tokens from a file
/// (or the environment) instead: the collector's `--token-file`/`--read-token-file`, the
/// agent's and the CLI's `--token-file`; none of them shows the token in its command line.
#[test]
fn tokens_come_from_files_and_never_show_in_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (ingest_file, read_file) = (dir.path().join("ingest.tok"), dir.path().join("read.tok"));
    std::fs::write(&ingest_file, "# agents\nlw_agent_secret_1\n").unwrap();
    std::fs::write(&read_file, "lw_reader_secret_2\n").unwrap();
    let collector = Collector::start(
        &dir.path().join("c"),
        &[
            "--token-file",
            ingest_file.to_str().unwrap(),
            "--read-token-file",
            read_file.to_str().unwrap(),
        ],
    );
    let cmdline = |pid: u32| std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let shows = |pid: u32| {
        let c = cmdline(pid);
        c.windows(9).any(|w| w == b"lw_agent_" || w == b"lw_reader")
    };
    assert!(
        !shows(collector.pid()),
        "the collector's command line shows a token"
    );
    let (status, _) = collector.ingest(event_line("x", 1, "no token").into_bytes(), &[]);
    assert_same("ingest without a token", 401, status);

    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let mut agent = logwarden_tests::Agent::start_with(
        &dir.path().join("agent"),
        &collector.url,
        &[log.to_str().unwrap()],
        &["--token-file", ingest_file.to_str().unwrap()],
    );
    std::fs::write(&log, "tokenfromfile shipped by the agent\n").unwrap();
    let count = || {
        let out = collector.cli(&[
            "--token-file",
            read_file.to_str().unwrap(),
            "count",
            "tokenfromfile",
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert!(
        wait_until(Duration::from_secs(30), || count().starts_with('1')),
        "the agent's line, counted with the CLI's --token-file: {:?}",
        count()
    );
    let out = collector.cli(&["count", "tokenfromfile"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "the CLI without a token is refused"
    );
    let _ = agent.stop();
}

/// A network namespace this test creates, joined to this one by a veth pair: a client in it
/// is not on loopback. Removed (with its veth pair) on drop.
struct Netns {
    name: String,
    host_ip: String,
}

impl Netns {
    fn create() -> Netns {
        let id = std::process::id() % 250 + 1;
        let name = format!("lw-auth-{}", std::process::id());
        let (host_if, ns_if) = (format!("lwh{id}"), format!("lwn{id}"));
        let host_ip = format!("10.251.{id}.1");
        let ns_ip = format!("10.251.{id}.2");
        let sh = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("running ip");
            assert!(
                out.status.success(),
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        sh(&["netns", "add", &name]);
        let ns = Netns {
            name: name.clone(),
            host_ip: host_ip.clone(),
        };
        sh(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
        ]);
        sh(&["link", "set", &ns_if, "netns", &name]);
        sh(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if]);
        sh(&["link", "set", &host_if, "up"]);
        let in_ns = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &name, "ip"];
            all.extend(args);
            sh(&all);
        };
        in_ns(&["addr", "add", &format!("{ns_ip}/30"), "dev", &ns_if]);
        in_ns(&["link", "set", &ns_if, "up"]);
        in_ns(&["link", "set", "lo", "up"]);
        ns
    }

    /// `curl` from inside the namespace: the status.
    fn call(&self, method: &str, url: &str, body: &str, token: Option<&str>) -> u16 {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, "curl", "-s", "-o", "/dev/null"])
            .args([
                "-w",
                "%{http_code}",
                "-m",
                "10",
                "-X",
                method,
                "--data-binary",
                body,
            ])
            .args(["-H", "x-logwarden-standby: test"]);
        if body == "{}" {
            cmd.args(["-H", "content-type: application/json"]);
        }
        if let Some(t) = token {
            cmd.args(["-H", &format!("authorization: Bearer {t}")]);
        }
        let out = cmd
            .arg(url)
            .output()
            .expect("running curl in the namespace");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// The role table again, from a client that is not on loopback (a network namespace this
/// test creates): with tokens every role opens exactly its calls; without any token every call
/// but the page is refused (403), where loopback clients are served. Needs root (`ip netns`);
/// set LOGWARDEN_TESTS_NO_NETNS=1 to skip it on a machine without.
#[test]
fn the_role_table_holds_from_a_network_namespace_too() {
    if std::env::var_os("LOGWARDEN_TESTS_NO_NETNS").is_some() {
        eprintln!("SKIPPED by LOGWARDEN_TESTS_NO_NETNS: the role table from a network namespace");
        return;
    }
    let ns = Netns::create();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tokened");
    let tokens = [
        (R::Ingest, token_add(&data, "mbox1", "ingest", &[])),
        (R::Read, token_add(&data, "grafana", "read", &[])),
        (
            R::Replication,
            token_add(&data, "site-b", "replication", &[]),
        ),
        (R::Admin, token_add(&data, "oncall", "admin", &[])),
    ];
    let listen = format!("{}:0", ns.host_ip);
    let collector = Collector::start_at(&data, &listen, &[]);
    let mut wrong = Vec::new();
    let mut seq = 0;
    let body = |route: &Route, seq: u64| {
        if route.body == "LINE" {
            event_line("mbox1-0a0b0c0d", seq, "tokened")
        } else {
            route.body.to_owned()
        }
    };
    for route in table() {
        let url = format!("{}{}", collector.url, route.path);
        let public = route.roles == ALL;
        for (role, token) in tokens
            .iter()
            .map(|(r, t)| (Some(*r), Some(t.as_str())))
            .chain([(None, None)])
        {
            seq += 1;
            let got = ns.call(route.method, &url, &body(&route, seq), token);
            let ok = match role {
                Some(r) if route.roles.contains(&r) => got != 401 && got != 403 && got != 0,
                Some(_) => got == 403,
                None if public => got == 200,
                None => got == 401,
            };
            if !ok {
                wrong.push(format!(
                    "{} {} with {role:?}: {got}",
                    route.method, route.path
                ));
            }
        }
    }
    drop(collector);
    let open = Collector::start_at(&dir.path().join("open"), &listen, &[]);
    for route in table() {
        seq += 1;
        let url = format!("{}{}", open.url, route.path);
        let got = ns.call(route.method, &url, &body(&route, seq), None);
        let want = if route.roles == ALL { 200 } else { 403 };
        if got != want {
            wrong.push(format!(
                "{} {} without tokens from the namespace: {got}, not {want}",
                route.method, route.path
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "calls from the namespace against the role table:\n{}",
        wrong.join("\n")
    );
}

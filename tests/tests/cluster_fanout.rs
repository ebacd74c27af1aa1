//! Fanned-out reads in cluster mode (docs/scale.md, "Fan-out"; issue 32 §3): search, count
//! and export asked of any collector ask the owner of every partition and merge, exactly once,
//! and name the partitions whose owner did not answer. Real `nats-server` processes (a 3-node
//! JetStream cluster on loopback), three real collectors, one killed with SIGKILL.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use logwarden_tests::nats::NatsCluster;
use logwarden_tests::schedule::Schedule;
use logwarden_tests::{Collector, wait_until};

const PARTITIONS: u32 = 16;

fn start_collector(dir: &Path, id: &str, nats: &[String]) -> Collector {
    start_with(dir, id, nats, "", "")
}

/// A collector with `top` lines before `[cluster]` and `cluster` lines in it.
fn start_with(dir: &Path, id: &str, nats: &[String], top: &str, cluster: &str) -> Collector {
    let urls: Vec<String> = nats.iter().map(|u| format!("{u:?}")).collect();
    let text = format!(
        "{top}[cluster]\nnats = [{}]\nid = \"{id}\"\npartitions = {PARTITIONS}\nreplicas = 3\nlease_ttl = \"6s\"\n{cluster}",
        urls.join(", ")
    );
    let cfg = dir.join(format!("{id}.toml"));
    std::fs::write(&cfg, text).expect("writing the collector config");
    let data = dir.join(id);
    std::fs::create_dir_all(&data).expect("data dir");
    Collector::start(&data, &["--config", cfg.to_str().expect("utf-8 path")])
}

fn get(c: &Collector, path: &str, query: &[(&str, &str)]) -> Option<serde_json::Value> {
    get_as(c, path, query, None)
}

/// `GET path?query` with a bearer token when given.
fn get_as(
    c: &Collector,
    path: &str,
    query: &[(&str, &str)],
    token: Option<&str>,
) -> Option<serde_json::Value> {
    let mut req = reqwest::blocking::Client::new()
        .get(format!("{}{path}", c.url))
        .query(query)
        .timeout(Duration::from_secs(30));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().ok()?.json().ok()
}

fn owned(c: &Collector) -> Vec<u32> {
    owned_as(c, None)
}

fn owned_as(c: &Collector, token: Option<&str>) -> Vec<u32> {
    get_as(c, "/api/v1/cluster", &[], token)
        .and_then(|v| {
            v["owned"].as_array().map(|a| {
                a.iter()
                    .filter_map(|p| p.as_u64())
                    .map(|p| p as u32)
                    .collect()
            })
        })
        .unwrap_or_default()
}

fn balanced(collectors: &[&Collector]) -> bool {
    balanced_as(collectors, None)
}

fn balanced_as(collectors: &[&Collector], token: Option<&str>) -> bool {
    let mut all = Vec::new();
    for c in collectors {
        let o = owned_as(c, token);
        if o.is_empty() {
            return false;
        }
        all.extend(o);
    }
    all.sort_unstable();
    all == (0..PARTITIONS).collect::<Vec<_>>()
}

/// The events: `agents` agents on hosts `vm-<n % 5>`, `per_agent` each, their times drawn by
/// the schedule from five seconds (so that many share a timestamp across partitions).
fn events(schedule: &mut Schedule, agents: usize, per_agent: u64) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for a in 0..agents {
        let agent = format!("fan-agent-{a}");
        for seq in 1..=per_agent {
            let second = schedule.below(5);
            let line = serde_json::json!({
                "id": format!("{agent}:{seq}"),
                "ts": format!("2026-11-29T10:00:0{second}Z"),
                "host": format!("vm-{}", a % 5),
                "site": "lab",
                "source": "/var/log/test.log",
                "app": "test",
                "severity": "info",
                "kind": "log",
                "message": format!("fanword {agent} {seq}"),
                "fields": {"queue": format!("Q{seq}")},
            })
            .to_string();
            out.push((format!("{agent}:{seq}"), line));
        }
    }
    out
}

/// Posts `lines` in batches of 50, round-robin over `collectors`, each until acknowledged.
fn post_all(collectors: &[&Collector], lines: &[String]) {
    for (i, batch) in lines.chunks(50).enumerate() {
        let start = Instant::now();
        loop {
            let c = collectors[i % collectors.len()];
            let (status, body) = c.ingest(batch.join("\n").into_bytes(), &[]);
            if status == 200 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "batch {i} not acknowledged in 120 s: {status} {body}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `logwarden export fanword` through `c` (page size `page`, `--oldest-first` or not): the
/// ids in the order printed, the exit status and stderr.
fn export(c: &Collector, page: usize, oldest: bool, extra: &[&str]) -> (Vec<String>, i32, String) {
    let page = page.to_string();
    let mut args = vec!["export", "fanword", "--page-size", &page];
    if oldest {
        args.push("--oldest-first");
    }
    args.extend(extra);
    let out = c.cli(&args);
    let ids = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("an NDJSON event");
            v["id"].as_str().expect("an id").to_owned()
        })
        .collect();
    (
        ids,
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `GET /api/v1/count?q=fanword` through `c`: the total and the missing partitions.
fn count(c: &Collector) -> Option<(u64, Vec<u64>)> {
    let v = get(c, "/api/v1/count", &[("q", "fanword")])?;
    let missing = v["missing_partitions"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p.as_u64()).collect())
        .unwrap_or_default();
    Some((v["total"].as_u64()?, missing))
}

/// Whether every collector of `collectors` answers the complete count `n`, naming nothing
/// missing.
fn complete(collectors: &[&Collector], n: u64) -> bool {
    collectors.iter().all(|c| count(c) == Some((n, Vec::new())))
}

/// Checks that an export through every collector of `collectors`, both ways and with an odd
/// page size, holds every id of `sent` once, in time order, and the same on each.
fn exports_agree(collectors: &[&Collector], sent: &BTreeMap<String, String>, page: usize) {
    let ts_of = |id: &String| -> String {
        let v: serde_json::Value = serde_json::from_str(&sent[id]).expect("sent line");
        v["ts"].as_str().expect("ts").to_owned()
    };
    let mut first: Option<Vec<String>> = None;
    for c in collectors {
        for oldest in [true, false] {
            let (ids, code, stderr) = export(c, page, oldest, &[]);
            assert_eq!(code, 0, "export through {} failed: {stderr}", c.url);
            let unique: BTreeSet<&String> = ids.iter().collect();
            assert_eq!(
                ids.len(),
                unique.len(),
                "an event exported twice through {}",
                c.url
            );
            let expected: BTreeSet<&String> = sent.keys().collect();
            assert_eq!(
                unique, expected,
                "the export through {} is not every event",
                c.url
            );
            let times: Vec<String> = ids.iter().map(ts_of).collect();
            let mut sorted = times.clone();
            sorted.sort();
            if !oldest {
                sorted.reverse();
            }
            assert_eq!(times, sorted, "not in time order through {}", c.url);
            let mut forward = ids.clone();
            if !oldest {
                forward.reverse();
            }
            match &first {
                None => first = Some(forward),
                Some(f) => assert_eq!(
                    f, &forward,
                    "the total order differs through {} (or between directions)",
                    c.url
                ),
            }
        }
    }
}

/// Three collectors share 16 partitions; 12 agents' events (many sharing a timestamp) posted
/// to all of them. Search, count and export through each collector give every event once, in
/// one total order. A collector killed with SIGKILL: the survivors' answers name its
/// partitions as missing (and the CLI says so and exits 3, 0 with --allow-partial) until they
/// are re-owned and read again, then are complete and exactly once again.
#[test]
fn fanned_out_reads_are_complete_once_and_name_what_is_missing() {
    let mut schedule = Schedule::new("cluster_fanout");
    let victim = schedule.below(3) as usize;
    let page = 7 + schedule.below(200) as usize;
    println!(
        "cluster_fanout: kill c{}, export pages of {page}",
        victim + 1
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let nats = NatsCluster::start(&dir.path().join("nats"), 3);
    let urls = nats.urls();
    let mut collectors: Vec<Collector> = ["c1", "c2", "c3"]
        .iter()
        .map(|id| start_collector(dir.path(), id, &urls))
        .collect();
    let all: Vec<&Collector> = collectors.iter().collect();
    assert!(
        wait_until(Duration::from_secs(90), || balanced(&all)),
        "the three collectors did not share the {PARTITIONS} partitions within 90 s: {:?}",
        all.iter().map(|c| owned(c)).collect::<Vec<_>>()
    );
    let sent: Vec<(String, String)> = events(&mut schedule, 12, 60);
    let n = sent.len() as u64;
    post_all(
        &all,
        &sent.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>(),
    );
    let sent: BTreeMap<String, String> = sent.into_iter().collect();
    let start = Instant::now();
    assert!(
        wait_until(Duration::from_secs(120), || complete(&all, n)),
        "not every collector answered the complete count {n} within 120 s: {:?}",
        all.iter().map(|c| count(c)).collect::<Vec<_>>()
    );
    println!(
        "cluster_fanout: {n} events complete on every collector {:.1} s after the last post",
        start.elapsed().as_secs_f64()
    );

    let mut expected_seconds: BTreeMap<String, u64> = BTreeMap::new();
    for line in sent.values() {
        let v: serde_json::Value = serde_json::from_str(line).expect("sent line");
        *expected_seconds
            .entry(v["ts"].as_str().expect("ts").to_owned())
            .or_default() += 1;
    }
    // Counts by value: summed over the owners, the same through each collector.
    for c in &all {
        let v = get(c, "/api/v1/count", &[("q", "fanword"), ("by", "host")]).expect("count by");
        let by: BTreeMap<String, u64> = v["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .map(|b| {
                (
                    b["key"].as_str().unwrap().to_owned(),
                    b["count"].as_u64().unwrap(),
                )
            })
            .collect();
        let expected: BTreeMap<String, u64> = (0..5)
            .map(|h| (format!("vm-{h}"), if h < 2 { 3 * 60 } else { 2 * 60 }))
            .collect();
        assert_eq!(by, expected, "count by host through {}", c.url);
        assert_eq!(v["other"], 0, "{v}");
        // The fields the events have, counted over the owners.
        let fl = get(
            c,
            "/api/v1/fields",
            &[("q", "fanword"), ("since", "2026-11-29T00:00:00Z")],
        )
        .expect("fields");
        assert_eq!(fl["total"], n, "{fl}");
        assert_eq!(fl["fields"][0]["key"], "fields.queue", "{fl}");
        assert_eq!(fl["fields"][0]["count"], n, "{fl}");
        // A histogram: per second, summed over the owners.
        let h = get(
            c,
            "/api/v1/count",
            &[
                ("q", "fanword"),
                ("every", "1s"),
                ("since", "2026-11-29T10:00:00Z"),
                ("until", "2026-11-29T10:00:05Z"),
            ],
        )
        .expect("histogram");
        let per_second: BTreeMap<String, u64> = h["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .filter(|b| b["count"].as_u64() > Some(0))
            .map(|b| {
                (
                    b["key"].as_str().unwrap().to_owned(),
                    b["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            per_second, expected_seconds,
            "count --every 1s through {}",
            c.url
        );
        // A search page: the newest 10 of all, with the total.
        let s = get(c, "/api/v1/search", &[("q", "fanword"), ("limit", "10")]).expect("search");
        assert_eq!(s["total"], n, "{s}");
        assert_eq!(s["hits"].as_array().map(Vec::len), Some(10));
        assert!(s.get("missing_partitions").is_none(), "{s}");
        // The fleet view: every host once, from whichever owners hold its agents.
        let f = get(c, "/api/v1/fleet", &[]).expect("fleet");
        let hosts: Vec<&str> = f["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .filter_map(|h| h["host"].as_str())
            .collect();
        assert_eq!(hosts, ["vm-0", "vm-1", "vm-2", "vm-3", "vm-4"], "{f}");
        assert!(f.get("missing_partitions").is_none(), "{f}");
    }
    exports_agree(&all, &sent, page);

    // Context around fanned-out hits: asked of each hit's partition owner.
    let out = all[1].cli(&["search", "fanword", "-C", "1", "--limit", "2", "-o", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "search -C: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(
        (2..=6).contains(&shown),
        "search -C 1 of 2 hits printed {shown} events"
    );

    // A bad cursor is refused by name, not reported as a missing partition.
    let bad = get(
        all[0],
        "/api/v1/search",
        &[("q", "fanword"), ("after", "1.2.3.4")],
    )
    .expect("answer");
    assert!(
        bad["error"]
            .as_str()
            .unwrap_or_default()
            .contains("cursor \"1.2.3.4\""),
        "{bad}"
    );

    let victim_owned = owned(&collectors[victim]);
    collectors[victim].kill9();
    let killed = Instant::now();
    let survivors: Vec<&Collector> = collectors
        .iter()
        .enumerate()
        .filter_map(|(i, c)| (i != victim).then_some(c))
        .collect();
    // Right after the kill its partitions are still leased to it: named missing.
    let (total, missing) = count(survivors[0]).expect("a survivor answers");
    println!(
        "cluster_fanout: {:.1} s after the kill: total {total} of {n}, missing {missing:?} (the victim owned {victim_owned:?})",
        killed.elapsed().as_secs_f64()
    );
    assert!(
        !missing.is_empty(),
        "an answer right after the kill names nothing missing"
    );
    assert!(
        total < n,
        "the victim's events are not there, yet the total is {total}"
    );
    let f = get(survivors[0], "/api/v1/fleet", &[]).expect("fleet");
    assert!(
        f["missing_partitions"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "the fleet view right after the kill names nothing missing: {f}"
    );
    let out = survivors[1].cli(&["count", "fanword"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(3) {
        assert!(stderr.contains("partial answer: partitions"), "{stderr}");
        let allowed = survivors[1].cli(&["count", "fanword", "--allow-partial"]);
        assert_eq!(
            allowed.status.code(),
            Some(0),
            "--allow-partial: {allowed:?}"
        );
        assert!(String::from_utf8_lossy(&allowed.stderr).contains("partial answer"));
    } else {
        // Only when the partitions were already back (a very slow machine).
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        println!("cluster_fanout: the CLI's count came after the partitions were back");
    }

    assert!(
        wait_until(Duration::from_secs(90), || complete(&survivors, n)),
        "the survivors' answers were not complete again within 90 s: {:?}",
        survivors.iter().map(|c| count(c)).collect::<Vec<_>>()
    );
    println!(
        "cluster_fanout: complete again {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    exports_agree(&survivors, &sent, page);

    // The victim comes back: the survivors give partitions up to it and keep their events in
    // their indexes, hidden; answers stay exactly once.
    collectors[victim].restart();
    let all: Vec<&Collector> = collectors.iter().collect();
    assert!(
        wait_until(Duration::from_secs(90), || balanced(&all)),
        "the three collectors did not share the partitions again within 90 s: {:?}",
        all.iter().map(|c| owned(c)).collect::<Vec<_>>()
    );
    assert!(
        wait_until(Duration::from_secs(90), || complete(&all, n)),
        "not complete after the victim came back: {:?}",
        all.iter().map(|c| count(c)).collect::<Vec<_>>()
    );
    let held: u64 = all
        .iter()
        .map(|c| {
            c.status()
                .and_then(|s| s["index"]["docs"].as_u64())
                .unwrap_or(0)
        })
        .sum();
    println!("cluster_fanout: the three indexes hold {held} events for {n} distinct");
    assert!(
        held > n,
        "no collector holds a partition it gave up: the test did not check hiding"
    );
    exports_agree(&all, &sent, page);

    // The live tail through another collector: new events of every agent arrive, once each;
    // when an owner dies the tail ends rather than go on without its partitions.
    let through = &collectors[(victim + 1) % 3];
    let mut tail = LiveTail::start(through, "tailword");
    let mut warm = 0u64;
    assert!(
        wait_until(Duration::from_secs(60), || {
            warm += 1;
            let line = logwarden_tests::event_line("tail-warm", warm, "tailword warm");
            through.ingest(line.into_bytes(), &[]);
            std::thread::sleep(Duration::from_millis(300));
            !tail.ids().is_empty()
        }),
        "the live tail printed nothing within 60 s"
    );
    let fresh: Vec<String> = (0..10)
        .flat_map(|a| {
            (1..=10u64).map(move |seq| {
                logwarden_tests::event_line(&format!("tail-agent-{a}"), seq, "tailword new")
            })
        })
        .collect();
    let all: Vec<&Collector> = collectors.iter().collect();
    post_all(&all, &fresh);
    let arrived = wait_until(Duration::from_secs(60), || {
        tail.ids()
            .iter()
            .filter(|id| id.starts_with("tail-agent-"))
            .count()
            >= 100
    });
    let ids: Vec<String> = tail
        .ids()
        .into_iter()
        .filter(|id| id.starts_with("tail-agent-"))
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert!(
        arrived,
        "the live tail showed {} of 100 new events",
        unique.len()
    );
    assert_eq!(
        ids.len(),
        unique.len(),
        "the live tail showed an event twice"
    );
    collectors[victim].kill9();
    assert!(
        tail.ends_within(Duration::from_secs(60)),
        "the live tail went on after an owner died"
    );
}

/// `logwarden search -f QUERY -o json` running, its events' ids collected as they come.
struct LiveTail {
    child: std::process::Child,
    ids: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl LiveTail {
    fn start(c: &Collector, query: &str) -> LiveTail {
        use std::io::BufRead;
        let mut child = std::process::Command::new(logwarden_tests::bin("logwarden"))
            .args([
                "--server", &c.url, "search", "-f", query, "--limit", "1", "-o", "json",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting logwarden search -f");
        let out = child.stdout.take().expect("piped stdout");
        let ids: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let seen = ids.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(id) = v["id"].as_str()
                {
                    seen.lock().unwrap().push(id.to_owned());
                }
            }
        });
        LiveTail { child, ids }
    }

    fn ids(&self) -> Vec<String> {
        self.ids.lock().unwrap().clone()
    }

    /// Whether the process ends within `limit`.
    fn ends_within(&mut self, limit: Duration) -> bool {
        wait_until(limit, || matches!(self.child.try_wait(), Ok(Some(_))))
    }
}

impl Drop for LiveTail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls between collectors carry the read token of `[cluster] token_file`: with read tokens
/// on both collectors, the one that has the file gets complete answers; the one without is
/// refused (by the other and by itself: it asks its own API too), and its answers name every
/// partition missing with the 401.
#[test]
fn calls_between_collectors_carry_the_read_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let nats = NatsCluster::start(&dir.path().join("nats"), 3);
    let urls = nats.urls();
    let token_file = dir.path().join("cluster-token");
    std::fs::write(&token_file, "fan-secret\n").expect("token file");
    let top = "read_tokens = [\"fan-secret\"]\n";
    let with = format!(
        "token_file = {:?}\n",
        token_file.to_str().expect("utf-8 path")
    );
    let c1 = start_with(dir.path(), "c1", &urls, top, &with);
    let c2 = start_with(dir.path(), "c2", &urls, top, "");
    assert!(
        wait_until(Duration::from_secs(90), || balanced_as(
            &[&c1, &c2],
            Some("fan-secret")
        )),
        "the two collectors did not share the partitions within 90 s"
    );
    let lines: Vec<String> = (0..8)
        .flat_map(|a| {
            (1..=10u64).map(move |seq| {
                logwarden_tests::event_line(&format!("tok-agent-{a}"), seq, "tokenword")
            })
        })
        .collect();
    post_all(&[&c1, &c2], &lines);
    let ask = |c: &Collector| {
        get_as(
            c,
            "/api/v1/count",
            &[("q", "tokenword")],
            Some("fan-secret"),
        )
    };
    let mut last = None;
    let complete = wait_until(Duration::from_secs(90), || {
        last = ask(&c1);
        last.as_ref()
            .is_some_and(|v| v["total"] == 80 && v.get("missing_partitions").is_none())
    });
    assert!(complete, "the collector with the token file: {last:?}");
    let from_c2 = ask(&c2).expect("c2 answers");
    let missing = from_c2["missing_partitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Without the file it asks every owner, itself included, with no token: all refused.
    let all: Vec<serde_json::Value> = (0..PARTITIONS).map(serde_json::Value::from).collect();
    assert_eq!(missing, all, "c2 names every partition missing: {from_c2}");
    let reasons = from_c2["missing_reasons"].to_string();
    assert!(
        reasons.contains("c1 (") && reasons.contains("401"),
        "the reason is the refusal: {from_c2}"
    );
    assert_eq!(from_c2["total"], 0, "{from_c2}");
}

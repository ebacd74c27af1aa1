//! Fanned-out reads against an oracle, on inputs the test did not choose (issue 32, fan-out
//! correctness): random events (most sharing one of a few timestamps, random agents, hosts,
//! words and field values) posted to random collectors of a 3-node NATS + 3-collector
//! cluster; then random queries through random collectors (search pages of random sizes
//! walked to the end in either direction, counts by value with random limits, counts by host,
//! exports) compared with the answer the test computes from what it sent. In about half the
//! seeds a collector is killed with SIGKILL in the middle of a walk and started again in the
//! middle of a later one, so that partitions change owner between two pages of a walk.
//!
//! Replay a schedule with `LOGWARDEN_SEED=<seed>` (printed first).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use logwarden_tests::nats::NatsCluster;
use logwarden_tests::schedule::Schedule;
use logwarden_tests::{Collector, wait_until};

const PARTITIONS: u32 = 16;
const WORD: &str = "rndword";

fn start_collector(dir: &Path, id: &str, nats: &[String]) -> Collector {
    let urls: Vec<String> = nats.iter().map(|u| format!("{u:?}")).collect();
    let text = format!(
        "[cluster]\nnats = [{}]\nid = \"{id}\"\npartitions = {PARTITIONS}\nreplicas = 3\nlease_ttl = \"6s\"\n",
        urls.join(", ")
    );
    let cfg = dir.join(format!("{id}.toml"));
    std::fs::write(&cfg, text).expect("writing the collector config");
    let data = dir.join(id);
    std::fs::create_dir_all(&data).expect("data dir");
    Collector::start(&data, &["--config", cfg.to_str().expect("utf-8 path")])
}

/// `GET url+path?query` (the collectors here have no TLS).
fn get(url: &str, path: &str, query: &[(&str, String)]) -> Option<serde_json::Value> {
    reqwest::blocking::Client::new()
        .get(format!("{url}{path}"))
        .query(query)
        .timeout(Duration::from_secs(60))
        .send()
        .ok()?
        .json()
        .ok()
}

/// One event sent: its id, time (microseconds, for the order), host, app, word and queue.
#[derive(Debug, Clone)]
struct Sent {
    id: String,
    ts: i64,
    host: String,
    app: String,
    word: String,
    queue: String,
}

/// `n` random events of `agents` agents; most share one of six timestamps, two of which
/// differ by a microsecond.
fn random_events(s: &mut Schedule, n: usize, agents: u64) -> (Vec<Sent>, Vec<String>) {
    let base = 1_795_860_000_000_000i64; // 2026-11-27T10:00:00Z
    let times = [0, 0, 1, 1_000_000, 2_000_000, 2_500_000];
    let mut seqs: BTreeMap<u64, u64> = BTreeMap::new();
    let (mut sent, mut lines) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let a = s.below(agents);
        let seq = seqs.entry(a).or_default();
        *seq += 1 + s.below(3);
        let ts = base + times[s.below(times.len() as u64) as usize];
        // A skewed queue: a few large values, many small ones (so owners' top lists differ).
        let queue = format!("Q{}", s.below(150).min(s.below(150)));
        let e = Sent {
            id: format!("rnd-agent-{a}:{seq}"),
            ts,
            host: format!("h{}", s.below(4)),
            app: format!("a{}", s.below(3)),
            word: format!("w{}", s.below(4)),
            queue,
        };
        let at = chrono::DateTime::from_timestamp_micros(ts).expect("time in range");
        lines.push(
            serde_json::json!({
                "id": e.id,
                "ts": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "host": e.host,
                "site": "lab",
                "source": "/var/log/rnd.log",
                "app": e.app,
                "severity": "info",
                "kind": "log",
                "message": format!("{WORD} {} {}", e.word, e.id),
                "fields": {"queue": e.queue},
            })
            .to_string(),
        );
        sent.push(e);
    }
    (sent, lines)
}

/// A query, and what it matches.
type Query = (&'static str, fn(&Sent) -> bool);

/// The queries asked.
fn queries() -> Vec<Query> {
    vec![
        (WORD, |_| true),
        ("rndword AND w1", |e| e.word == "w1"),
        ("app:a2", |e| e.app == "a2"),
        ("host:h0 OR w3", |e| e.host == "h0" || e.word == "w3"),
    ]
}

/// The three collectors and which of them run.
struct Cluster {
    collectors: Vec<Collector>,
    alive: Vec<bool>,
}

impl Cluster {
    fn pick(&self, s: &mut Schedule) -> &Collector {
        let up: Vec<&Collector> = self
            .collectors
            .iter()
            .zip(&self.alive)
            .filter_map(|(c, up)| up.then_some(c))
            .collect();
        up[s.below(up.len() as u64) as usize]
    }
}

/// `GET path` through `c` until its answer names no missing partition (partitions moving
/// after a kill or a restart): the complete answer.
fn complete_answer(url: &str, path: &str, query: &[(&str, String)]) -> serde_json::Value {
    let start = Instant::now();
    loop {
        if let Some(v) = get(url, path, query) {
            assert!(v.get("error").is_none(), "{path} {query:?}: {v}");
            if v.get("missing_partitions").is_none() {
                return v;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{path} {query:?} through {url} named missing partitions for 120 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Walks a search to its end in pages of `page` through `url`, calling `between` after each
/// page: the ids in the order given.
fn walk(
    url: &str,
    q: &str,
    oldest: bool,
    page: usize,
    mut between: impl FnMut(usize),
) -> Vec<String> {
    let (mut ids, mut after, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let mut query = vec![
            ("q", q.to_owned()),
            ("limit", page.to_string()),
            ("order", if oldest { "oldest" } else { "newest" }.to_owned()),
        ];
        if let Some(a) = &after {
            query.push(("after", a.clone()));
        }
        let v = complete_answer(url, "/api/v1/search", &query);
        let hits = v["hits"].as_array().expect("hits");
        ids.extend(
            hits.iter()
                .map(|h| h["id"].as_str().expect("id").to_owned()),
        );
        pages += 1;
        match v["cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(hits.len(), page, "a page before the last is full: {v}");
                after = Some(cursor.to_owned());
            }
            None => return ids,
        }
        between(pages);
        assert!(pages < 10_000, "the walk does not end");
    }
}

#[test]
fn fanned_out_answers_match_an_oracle_on_random_events_and_owner_changes() {
    let mut s = Schedule::new("cluster_random");
    let dir = tempfile::tempdir().expect("temp dir");
    let nats = NatsCluster::start(&dir.path().join("nats"), 3);
    let urls = nats.urls();
    let mut cluster = Cluster {
        collectors: ["c1", "c2", "c3"]
            .iter()
            .map(|id| start_collector(dir.path(), id, &urls))
            .collect(),
        alive: vec![true; 3],
    };
    let shared = wait_until(Duration::from_secs(90), || {
        let mut owned: Vec<u64> = Vec::new();
        for c in &cluster.collectors {
            let v = get(&c.url, "/api/v1/cluster", &[]).unwrap_or_default();
            let mine: Vec<u64> = v["owned"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| p.as_u64()).collect())
                .unwrap_or_default();
            if mine.is_empty() {
                return false;
            }
            owned.extend(mine);
        }
        owned.sort_unstable();
        owned == (0..u64::from(PARTITIONS)).collect::<Vec<_>>()
    });
    assert!(
        shared,
        "the collectors did not share the partitions in 90 s"
    );
    let n = 500 + s.below(400) as usize;
    let agents = 6 + s.below(10);
    let (sent, lines) = random_events(&mut s, n, agents);
    for batch in lines.chunks(1 + s.below(80) as usize) {
        let c = cluster.pick(&mut s);
        let start = Instant::now();
        while c.ingest(batch.join("\n").into_bytes(), &[]).0 != 200 {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "a batch not acknowledged in 120 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let by_id: BTreeMap<&str, &Sent> = sent.iter().map(|e| (e.id.as_str(), e)).collect();
    for c in &cluster.collectors {
        let done = wait_until(Duration::from_secs(120), || {
            get(&c.url, "/api/v1/count", &[("q", WORD.to_owned())])
                .is_some_and(|v| v["total"] == n && v.get("missing_partitions").is_none())
        });
        assert!(done, "{n} events not complete through {} in 120 s", c.url);
    }
    let victim = s.below(3) as usize;
    // In about half the seeds: the victim is killed after a page of the first walk, and
    // started again after a page of the third.
    let (kill_in, restart_in) = if s.below(2) == 0 {
        (Some(0usize), Some(2usize))
    } else {
        (None, None)
    };
    println!(
        "cluster_random: {n} events; owner changes: {}",
        if kill_in.is_some() {
            format!("c{} killed and restarted mid-walk", victim + 1)
        } else {
            "none".into()
        }
    );
    // The order each (query, direction) was first walked in, to compare later walks with.
    let mut orders: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for round in 0..6 {
        let (q, matches) = queries()[s.below(4) as usize];
        let expected: Vec<&Sent> = sent.iter().filter(|e| matches(e)).collect();
        let oldest = s.below(2) == 0;
        let small = s.below(3) == 0;
        // At most about 120 pages a walk (each a round of requests; the machine is shared).
        let page =
            (1 + s.below(if small { 8 } else { 120 }) as usize).max(expected.len() / 120 + 1);
        let through = loop {
            let i = s.below(3) as usize;
            if cluster.alive[i] && i != victim {
                break i;
            }
        };
        let (mut kill, mut restart) = (kill_in == Some(round), restart_in == Some(round));
        let url = cluster.collectors[through].url.clone();
        let mut owner_change = |pages: usize| {
            if pages < 2 {
                return;
            }
            if std::mem::take(&mut kill) {
                cluster.collectors[victim].kill9();
                cluster.alive[victim] = false;
                println!("cluster_random: round {round}: c{} killed", victim + 1);
            } else if std::mem::take(&mut restart) {
                cluster.collectors[victim].restart();
                cluster.alive[victim] = true;
                println!("cluster_random: round {round}: c{} restarted", victim + 1);
            }
        };
        let ids = walk(&url, q, oldest, page, &mut owner_change);
        // A walk too short to reach its second page changes no owner: do it now.
        owner_change(2);
        println!(
            "cluster_random: round {round}: {q:?} {} by {page} through {url}: {} hits",
            if oldest {
                "oldest first"
            } else {
                "newest first"
            },
            ids.len()
        );
        let unique: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{q:?}: an event twice in the walk");
        let want: BTreeSet<&str> = expected.iter().map(|e| e.id.as_str()).collect();
        let got: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        assert_eq!(got, want, "{q:?}: the walk is not the matching events");
        let times: Vec<i64> = ids.iter().map(|id| by_id[id.as_str()].ts).collect();
        assert!(
            times
                .windows(2)
                .all(|w| if oldest { w[0] <= w[1] } else { w[0] >= w[1] }),
            "{q:?}: not in time order"
        );
        let mut forward = ids.clone();
        if !oldest {
            forward.reverse();
        }
        match orders.get(q) {
            Some(first) => assert_eq!(first, &forward, "{q:?}: another order than before"),
            None => {
                orders.insert(q, forward);
            }
        }

        // Counts by value, with a random limit, through a random collector.
        let c = cluster.pick(&mut s).url.clone();
        let limit = 1 + s.below(6);
        let v = complete_answer(
            &c,
            "/api/v1/count",
            &[
                ("q", q.to_owned()),
                ("by", "fields.queue".to_owned()),
                ("limit", limit.to_string()),
            ],
        );
        let mut truth: BTreeMap<&str, u64> = BTreeMap::new();
        for e in &expected {
            *truth.entry(e.queue.as_str()).or_default() += 1;
        }
        let listed: BTreeMap<String, u64> = v["buckets"]
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
        assert_eq!(v["total"], expected.len(), "{q:?} count total: {v}");
        assert_eq!(listed.len() as u64, limit.min(truth.len() as u64), "{v}");
        for (key, count) in &listed {
            assert_eq!(
                truth.get(key.as_str()),
                Some(count),
                "{q:?} by queue, limit {limit}: {key} is not exact: {v}"
            );
        }
        let smallest = listed.values().min().copied().unwrap_or(0);
        let bound = v["unlisted_up_to"].as_u64();
        for (key, count) in &truth {
            if !listed.contains_key(*key) {
                assert!(
                    *count <= bound.unwrap_or(smallest),
                    "{q:?} by queue, limit {limit}: {key} has {count}, more than what is listed or said: {v}"
                );
            }
        }
        let sum: u64 = listed.values().sum();
        assert_eq!(v["other"], expected.len() as u64 - sum, "{v}");
        // The fields of the matching events, counted over the owners.
        let f = complete_answer(&c, "/api/v1/fields", &[("q", q.to_owned())]);
        assert_eq!(f["total"], expected.len(), "{q:?} fields: {f}");
        assert_eq!(f["fields"][0]["key"], "fields.queue", "{f}");
        assert_eq!(f["fields"][0]["count"], expected.len(), "{f}");
        // By host: few values, all listed.
        let v = complete_answer(
            &c,
            "/api/v1/count",
            &[("q", q.to_owned()), ("by", "host".to_owned())],
        );
        let mut hosts: BTreeMap<String, u64> = BTreeMap::new();
        for e in &expected {
            *hosts.entry(e.host.clone()).or_default() += 1;
        }
        let got: BTreeMap<String, u64> = v["buckets"]
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
        assert_eq!(got, hosts, "{q:?} by host: {v}");
    }
    // Every collector running at the end: an export through each, with a random page size,
    // holds every event once, in the order the walks saw.
    if cluster.alive.iter().any(|up| !up) {
        cluster.collectors[victim].restart();
        cluster.alive[victim] = true;
    }
    let page = (1 + s.below(300)).to_string();
    for c in &cluster.collectors {
        let start = Instant::now();
        let out = loop {
            let out = c.cli(&["export", WORD, "--page-size", &page, "--oldest-first"]);
            if out.status.code() != Some(3) || start.elapsed() > Duration::from_secs(120) {
                break out;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        assert_eq!(
            out.status.code(),
            Some(0),
            "export through {}: {}",
            c.url,
            String::from_utf8_lossy(&out.stderr)
        );
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("an NDJSON event");
                v["id"].as_str().expect("an id").to_owned()
            })
            .collect();
        assert_eq!(ids.len(), n, "export through {}", c.url);
        if let Some(first) = orders.get(WORD) {
            assert_eq!(first, &ids, "the export's order differs from the walks'");
        }
        let unique: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), n, "an event exported twice through {}", c.url);
    }
}

//! Issue 32's first must-hold, under load (docs/scale.md): a 3-node JetStream cluster of real
//! `nats-server` processes, three real collectors and six real `logwarden-agent` processes
//! tailing files the test keeps appending to, each agent shipping to all three collectors (a
//! different one first), and a loader posting batches of four more agents from the moment the
//! collectors start (so the first balancing happens under load too). While lines flow, one
//! collector and one NATS node are killed with SIGKILL: which ones, in which order and when
//! come from a seeded schedule (printed; replay with `LOGWARDEN_SEED`). The victim is the
//! alert leader in about half the runs; the node is the victim's own, the Raft leader of the
//! lease bucket or of the alert state, or any. Then:
//!
//! - the victim's partitions have a new owner within 15 s of its kill;
//! - every line written is acknowledged by its agent (they spool through the outage), and the
//!   loader's batches are acknowledged (sent again to the next collector until they are);
//! - an export through each collector holds every line and every batch's event exactly once,
//!   by agent id and seq and by content, also after the victim came back (in about half the
//!   runs while the load still flows, so that the survivors give partitions back while they
//!   are still reading them);
//! - a log rule that fired before the kills, and one whose line was written during the
//!   outage, each page exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logwarden_tests::cluster_view::{self, alert_leader, owned, view as cluster_view};
use logwarden_tests::nats::NatsCluster;
use logwarden_tests::schedule::Schedule;
use logwarden_tests::{Agent, Collector, HttpSink, wait_until};

const PARTITIONS: u32 = 16;

fn balanced(collectors: &[&Collector]) -> bool {
    cluster_view::balanced(collectors, PARTITIONS)
}

fn partition_of(agent: &str) -> u32 {
    cluster_view::partition_of(agent, PARTITIONS)
}
const IDS: [&str; 3] = ["c1", "c2", "c3"];
/// Agents per collector, each on a partition that collector owns at the start.
const AGENTS_PER_COLLECTOR: usize = 2;
/// The word of every line the agents ship.
const WORD: &str = "loadword";
/// The word of every event the loader posts.
const BULK: &str = "bulkword";
/// The two incidents: the name of the rule and the word of the line that fires it.
const BEFORE: (&str, &str) = ("LoadIncidentBefore", "triggerbefore");
const DURING: (&str, &str) = ("LoadIncidentDuring", "triggerduring");

/// A collector config for cluster mode with the two incidents' rules.
fn config(dir: &Path, id: &str, nats: &[String]) -> PathBuf {
    let urls: Vec<String> = nats.iter().map(|u| format!("{u:?}")).collect();
    let mut text = format!(
        "[cluster]\nnats = [{}]\nid = \"{id}\"\npartitions = {PARTITIONS}\nreplicas = 3\n\
         lease_ttl = \"6s\"\nalert_snapshot_every = \"1s\"\n",
        urls.join(", ")
    );
    for (name, word) in [BEFORE, DURING] {
        text.push_str(&format!(
            "[[alerts.rules]]\nname = \"{name}\"\nquery = \"{word}\"\nthreshold = 1\n\
             window = \"30m\"\nseverity = \"critical\"\n"
        ));
    }
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(&path, text).expect("writing the collector config");
    path
}

fn start_collector(dir: &Path, id: &str, nats: &[String], webhook: &str) -> Collector {
    let data = dir.join(id);
    std::fs::create_dir_all(&data).expect("data dir");
    let cfg = config(dir, id, nats);
    Collector::start_logged(
        &data,
        &[
            "--config",
            cfg.to_str().expect("utf-8 path"),
            "--webhook",
            webhook,
        ],
        &dir.join(format!("{id}.log")),
    )
}

/// The owner of every partition as the lease bucket says (`GET /api/v1/cluster?view=true`
/// on `c`); `None` when the view cannot be read.
fn bucket_owners(c: &Collector) -> Option<Vec<Option<String>>> {
    let v: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/cluster?view=true", c.url))
        .timeout(Duration::from_secs(5))
        .send()
        .and_then(|r| r.json())
        .ok()?;
    let owners: Vec<Option<String>> = v["view"]["partitions"]
        .as_array()?
        .iter()
        .map(|p| p["owner"].as_str().map(str::to_owned))
        .collect();
    (owners.len() == PARTITIONS as usize).then_some(owners)
}

/// The leader all of `collectors` agree on, if they do.
fn agreed_leader(collectors: &[&Collector]) -> Option<String> {
    let seen: BTreeSet<Option<String>> = collectors.iter().map(|c| alert_leader(c)).collect();
    match seen.into_iter().collect::<Vec<_>>().as_slice() {
        [Some(l)] => Some(l.clone()),
        _ => None,
    }
}

/// `GET /status` of a running agent (`Null` when it does not answer).
fn agent_status(agent: &Agent) -> serde_json::Value {
    let at = agent
        .metrics
        .as_deref()
        .expect("started with --metrics-listen");
    reqwest::blocking::Client::new()
        .get(format!("http://{at}/status"))
        .timeout(Duration::from_secs(5))
        .send()
        .and_then(|r| r.json::<serde_json::Value>())
        .unwrap_or_default()
}

/// Whether `agent` has every byte of its files acknowledged and nothing in its spool.
fn all_acknowledged(agent: &Agent) -> bool {
    let s = agent_status(agent);
    s["spool"]["events"] == 0
        && s["files"]
            .as_array()
            .is_some_and(|files| !files.is_empty() && files.iter().all(|f| f["unacked_bytes"] == 0))
}

/// Appends lines to the agents' files until stopped: every 50 ms `burst` lines to each file,
/// `loadword <agent> n<k> <padding>`; keeps what it wrote.
struct Writer {
    stop: Arc<AtomicBool>,
    written: Arc<Mutex<BTreeSet<String>>>,
    task: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(files: Vec<(String, PathBuf)>, burst: usize, pad: usize) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let written: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let (s, w) = (stop.clone(), written.clone());
        let task = std::thread::spawn(move || {
            let mut open: Vec<(String, std::fs::File)> = files
                .into_iter()
                .map(|(agent, path)| {
                    let f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                        .expect("opening an agent's file");
                    (agent, f)
                })
                .collect();
            let mut k = 0;
            while !s.load(Ordering::SeqCst) {
                for (agent, f) in &mut open {
                    for b in 0..burst {
                        let line = format!("{WORD} {agent} n{} {}", k + b, "x".repeat(pad));
                        f.write_all(format!("{line}\n").as_bytes())
                            .expect("appending a line");
                        w.lock().unwrap().insert(line);
                    }
                }
                k += burst;
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Writer {
            stop,
            written,
            task: Some(task),
        }
    }

    fn count(&self) -> usize {
        self.written.lock().unwrap().len()
    }

    /// Stops writing; returns every line written.
    fn finish(&mut self) -> BTreeSet<String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.task.take() {
            t.join().expect("the writer thread");
        }
        self.written.lock().unwrap().clone()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Posts batches of 25 events of four agents of its own (`bulkword <agent> s<seq>`), in
/// turn to each collector of `targets` (which may grow), each batch until it is acknowledged (trying the next
/// collector after a failure, as an agent does), until stopped; keeps what was acknowledged.
struct Loader {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<BTreeSet<String>>>,
    task: Option<std::thread::JoinHandle<()>>,
}

impl Loader {
    fn start(tag: u64, targets: Arc<Mutex<Vec<String>>>) -> Loader {
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let (s, a) = (stop.clone(), acked.clone());
        let task = std::thread::spawn(move || {
            let agents: Vec<String> = (0..4).map(|i| format!("bulk-{tag}-{i}")).collect();
            let (mut turn, mut b) = (0usize, 0u64);
            while !s.load(Ordering::SeqCst) {
                let agent = &agents[b as usize % agents.len()];
                let first = b / agents.len() as u64 * 25 + 1;
                let messages: Vec<String> = (first..first + 25)
                    .map(|seq| format!("{BULK} {agent} s{seq}"))
                    .collect();
                let lines: Vec<String> = (first..first + 25)
                    .zip(&messages)
                    .map(|(seq, m)| bulk_line(agent, seq, m))
                    .collect();
                let started = Instant::now();
                loop {
                    let url = {
                        let t = targets.lock().unwrap();
                        t[turn % t.len()].clone()
                    };
                    turn += 1;
                    match post(&url, &lines) {
                        Ok(()) => break,
                        Err(e) => {
                            assert!(
                                started.elapsed() < Duration::from_secs(120),
                                "a batch of {agent} not acknowledged in 120 s: {e}"
                            );
                            std::thread::sleep(Duration::from_millis(200));
                        }
                    }
                }
                a.lock().unwrap().extend(messages);
                b += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Loader {
            stop,
            acked,
            task: Some(task),
        }
    }

    /// Stops posting (after the batch in hand is acknowledged); returns what was acknowledged.
    fn finish(&mut self) -> BTreeSet<String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.task.take() {
            t.join().expect("the loader thread");
        }
        self.acked.lock().unwrap().clone()
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn bulk_line(agent: &str, seq: u64, message: &str) -> String {
    serde_json::json!({
        "id": format!("{agent}:{seq}"),
        "ts": chrono::Utc::now().to_rfc3339(),
        "host": "bulk-host",
        "site": "lab",
        "source": "/var/log/bulk.log",
        "app": "bulk",
        "severity": "info",
        "kind": "log",
        "message": message,
    })
    .to_string()
}

/// POSTs a batch; `Ok` when every line was acknowledged (accepted or already held).
fn post(url: &str, lines: &[String]) -> Result<(), String> {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/ingest"))
        .timeout(Duration::from_secs(30))
        .body(lines.join("\n"))
        .send()
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().map_err(|e| format!("{url}: {e}"))?;
    let acked = body["accepted"].as_u64().unwrap_or(0)
        + body["duplicates"].as_array().map_or(0, |d| d.len() as u64);
    if status != 200 || acked != lines.len() as u64 {
        return Err(format!("{url}: {status} {body}"));
    }
    Ok(())
}

/// Keeps the test's folder (logs of every process, NATS stores) when the test fails, or
/// always with `LOGWARDEN_KEEP_LOGS` set.
struct KeepOnFailure(Option<tempfile::TempDir>);

impl KeepOnFailure {
    fn path(&self) -> &Path {
        self.0.as_ref().expect("the folder").path()
    }
}

impl Drop for KeepOnFailure {
    fn drop(&mut self) {
        if (std::thread::panicking() || std::env::var_os("LOGWARDEN_KEEP_LOGS").is_some())
            && let Some(d) = self.0.take()
        {
            eprintln!("cluster_load: logs kept in {}", d.keep().display());
        }
    }
}

/// `logwarden export WORD` through `c`: the events printed (as JSON), the exit status and
/// stderr.
fn export(c: &Collector, word: &str, page: usize) -> (Vec<serde_json::Value>, i32, String) {
    let out = c.cli(&["export", word, "--page-size", &page.to_string()]);
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (
        events,
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits (up to 120 s) for an export of `word` through `c` to succeed with `written.len()`
/// events, then checks that it holds every message of `written` exactly once: each (agent id,
/// seq) once, each message once, and each event's id of the agent its message names. Returns
/// how long the wait took.
fn exactly_once_through(
    c: &Collector,
    word: &str,
    written: &BTreeSet<String>,
    page: usize,
) -> Duration {
    let start = Instant::now();
    let mut last = (Vec::new(), -1, String::new());
    let complete = wait_until(Duration::from_secs(120), || {
        last = export(c, word, page);
        last.1 == 0 && last.0.len() >= written.len()
    });
    let (events, code, stderr) = last;
    assert!(
        complete,
        "the export through {} did not hold {} events within 120 s: {} events, exit {code}: {stderr}",
        c.url,
        written.len(),
        events.len()
    );
    let mut ids = BTreeSet::new();
    let mut lines: BTreeMap<String, usize> = BTreeMap::new();
    for e in &events {
        let id = e["id"].as_str().expect("an id").to_owned();
        let message = e["message"].as_str().expect("a message").to_owned();
        let (agent, _seq) = id.rsplit_once(':').expect("agent:seq");
        let named = message.split(' ').nth(1).unwrap_or_default();
        assert_eq!(
            agent, named,
            "event {id} carries a line of {named}: {message}"
        );
        assert!(
            ids.insert(id.clone()),
            "{id} exported twice through {}",
            c.url
        );
        *lines.entry(message).or_default() += 1;
    }
    let twice: Vec<_> = lines.iter().filter(|(_, n)| **n > 1).take(3).collect();
    assert!(
        twice.is_empty(),
        "lines exported twice through {}: {twice:?}",
        c.url
    );
    let got: BTreeSet<String> = lines.into_keys().collect();
    let missing: Vec<_> = written.difference(&got).take(3).collect();
    let unknown: Vec<_> = got.difference(written).take(3).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "the export through {} differs from what was written: missing {missing:?}, never written {unknown:?}",
        c.url
    );
    start.elapsed()
}

/// Starts the killed collector `victim` again; waits (up to 90 s) for the three to share the
/// partitions again.
fn rejoin(collectors: &mut [Collector], victim: usize, when: &str) {
    collectors[victim].restart();
    let all: Vec<&Collector> = collectors.iter().collect();
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(90), || balanced(&all)),
        "the three collectors did not share the partitions again within 90 s ({} back {when}): {:?}",
        IDS[victim],
        all.iter().map(|c| owned(c)).collect::<Vec<_>>()
    );
    println!(
        "cluster_load: {} back {when}, balanced again in {:.1} s",
        IDS[victim],
        t.elapsed().as_secs_f64()
    );
}

/// Firing notifications of rule `name` the sink received.
fn firing(sink: &HttpSink, name: &str) -> usize {
    sink.alerts(name)
        .iter()
        .filter(|(status, _, _)| status == "firing")
        .count()
}

/// The kills, drawn from the schedule once the leader is known.
#[derive(Debug)]
struct Plan {
    /// Index of the collector killed.
    victim: usize,
    /// Index of the NATS node killed.
    node: usize,
    /// Why that node (for the log).
    node_why: &'static str,
    /// The NATS node is killed first.
    node_first: bool,
    /// Between the two kills.
    gap: Duration,
    /// Load after incident one's page before the first kill.
    delay: Duration,
    /// After the kills, before the second incident's line.
    trigger_after: Duration,
    /// Load after the partitions moved, before the writing stops.
    tail: Duration,
}

fn plan(schedule: &mut Schedule, leader: usize, nats: &NatsCluster) -> Plan {
    let victim = if schedule.below(2) == 0 {
        leader
    } else {
        (leader + 1 + schedule.below(2) as usize) % 3
    };
    let serving = nats.node_serving(&format!("logwarden-collector {}", IDS[victim]));
    let (node, node_why) = match schedule.below(4) {
        0 => (serving, "the victim's own NATS node"),
        1 => (
            nats.stream_leader("KV_logwarden_leases"),
            "the lease bucket's Raft leader",
        ),
        2 => (
            nats.stream_leader("LOGWARDEN_ALERTS"),
            "the alert state's Raft leader",
        ),
        _ => (None, "drawn"),
    };
    let (node, node_why) = match node {
        Some(n) => (n, node_why),
        None => (schedule.below(3) as usize, "drawn"),
    };
    Plan {
        victim,
        node,
        node_why,
        node_first: schedule.below(2) == 0,
        gap: Duration::from_millis(schedule.below(1500)),
        delay: Duration::from_millis(schedule.below(5000)),
        trigger_after: Duration::from_millis(schedule.below(3000)),
        tail: Duration::from_millis(4000 + schedule.below(8000)),
    }
}

#[test]
fn under_agent_load_a_collector_and_a_nats_node_killed_lose_nothing_and_page_once() {
    let mut schedule = Schedule::new("cluster_load");
    let started = Instant::now();
    let dir = KeepOnFailure(Some(tempfile::tempdir().expect("temp dir")));
    let sink = HttpSink::start(0);
    let mut nats = NatsCluster::start(&dir.path().join("nats"), 3);
    let urls = nats.urls();
    // Batches posted from the start: the first balancing happens under load. In about half
    // the runs c1 starts alone and takes every partition before the others start, so that it
    // gives most of them up under load.
    let staggered = schedule.below(2) == 0;
    let targets: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut collectors = vec![start_collector(dir.path(), IDS[0], &urls, &sink.url)];
    targets.lock().unwrap().push(collectors[0].url.clone());
    let mut loader = Loader::start(schedule.below(1_000_000), targets.clone());
    if staggered {
        let t = Instant::now();
        assert!(
            wait_until(Duration::from_secs(60), || owned(&collectors[0]).len()
                == PARTITIONS as usize),
            "c1 alone did not take the {PARTITIONS} partitions within 60 s"
        );
        println!(
            "cluster_load: c1 alone owns every partition after {:.1} s; c2 and c3 start",
            t.elapsed().as_secs_f64()
        );
    }
    for id in &IDS[1..] {
        let c = start_collector(dir.path(), id, &urls, &sink.url);
        targets.lock().unwrap().push(c.url.clone());
        collectors.push(c);
    }
    let all: Vec<&Collector> = collectors.iter().collect();
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(90), || balanced(&all)
            && agreed_leader(&all).is_some()),
        "no balanced cluster with one alert leader within 90 s: {:?}",
        all.iter().map(|c| cluster_view(c)).collect::<Vec<_>>()
    );
    println!(
        "cluster_load: balanced with an alert leader {:.1} s after the collectors started",
        t.elapsed().as_secs_f64()
    );

    // Two agents on partitions of each collector, each shipping to all three collectors,
    // its own first; agent 0 tails the incidents' file too.
    let tag = schedule.below(1_000_000);
    let mut agent_ids: Vec<(usize, String)> = Vec::new();
    for (j, c) in all.iter().enumerate() {
        let mine = owned(c);
        let mut k = 0;
        let mut taken = BTreeSet::new();
        while taken.len() < AGENTS_PER_COLLECTOR {
            let id = format!("load-{tag}-{j}-{k}");
            k += 1;
            let p = partition_of(&id);
            if mine.contains(&p) && taken.insert(p) {
                agent_ids.push((j, id));
            }
        }
    }
    let incidents = dir.path().join("incidents.log");
    std::fs::write(&incidents, "").expect("creating the incidents' file");
    let mut files = Vec::new();
    let mut agents = Vec::new();
    for (i, (j, id)) in agent_ids.iter().enumerate() {
        let data = dir.path().join(id);
        std::fs::create_dir_all(&data).expect("agent data dir");
        std::fs::write(data.join("agent_id"), format!("{id}\n")).expect("agent id");
        let file = dir.path().join(format!("{id}.log"));
        std::fs::write(&file, "").expect("creating an agent's file");
        files.push((id.clone(), file.clone()));
        let mut tails = vec![file.to_str().expect("utf-8 path").to_owned()];
        if i == 0 {
            tails.push(incidents.to_str().expect("utf-8 path").to_owned());
        }
        let tails: Vec<&str> = tails.iter().map(String::as_str).collect();
        let (second, third) = (&all[(j + 1) % 3].url, &all[(j + 2) % 3].url);
        agents.push(Agent::start_logged(
            &data,
            &all[*j].url,
            &tails,
            &[
                "--collector",
                second,
                "--collector",
                third,
                "--metrics-listen",
                "127.0.0.1:0",
            ],
            Some(&dir.path().join(format!("{id}.agent.log"))),
        ));
    }
    println!(
        "cluster_load: agents {:?}",
        agent_ids
            .iter()
            .map(|(j, id)| format!("{id} (partition {}, {} first)", partition_of(id), IDS[*j]))
            .collect::<Vec<_>>()
    );
    let burst = 1 + schedule.below(4) as usize;
    let pad = 20 + schedule.below(200) as usize;
    println!(
        "cluster_load: {} lines a second of {} bytes",
        agents.len() * burst * 20,
        pad + 40
    );
    let mut writer = Writer::start(files, burst, pad);

    // Incident one, under load: pages once.
    let warm = Duration::from_millis(3000 + schedule.below(7000));
    std::thread::sleep(warm);
    let incident = |word: &str| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&incidents)
            .expect("opening the incidents' file");
        writeln!(f, "{word} the disk array of the load test").expect("writing an incident");
    };
    incident(BEFORE.1);
    assert!(
        wait_until(Duration::from_secs(60), || firing(&sink, BEFORE.0) >= 1),
        "incident one did not page within 60 s: {:?}",
        sink.posts()
    );
    // The notification log is written within milliseconds of the delivery; a leader killed
    // inside that window pages again (cluster.rs, docs/scale.md): give it the time.
    std::thread::sleep(Duration::from_secs(2));

    let leader = agreed_leader(&all).expect("one alert leader");
    let l = IDS
        .iter()
        .position(|id| *id == leader)
        .expect("a known leader");
    let p = plan(&mut schedule, l, &nats);
    std::thread::sleep(p.delay);
    let victim_owned = owned(&collectors[p.victim]);
    println!(
        "cluster_load: {} leads alerting; killing {}{} (owns {victim_owned:?}) and n{} ({}), {} first, {} ms apart, {} lines written so far; {p:?}",
        leader,
        IDS[p.victim],
        if p.victim == l {
            ", the alert leader,"
        } else {
            ""
        },
        p.node + 1,
        p.node_why,
        if p.node_first {
            "the node"
        } else {
            "the collector"
        },
        p.gap.as_millis(),
        writer.count()
    );
    if p.node_first {
        nats.nodes[p.node].kill9();
        std::thread::sleep(p.gap);
    }
    collectors[p.victim].kill9();
    let killed = Instant::now();
    if !p.node_first {
        std::thread::sleep(p.gap);
        nats.nodes[p.node].kill9();
    }
    let survivors: Vec<&Collector> = collectors
        .iter()
        .enumerate()
        .filter_map(|(i, c)| (i != p.victim).then_some(c))
        .collect();
    std::thread::sleep(p.trigger_after.saturating_sub(killed.elapsed()));
    incident(DURING.1);

    // Re-owned: each survivor saying it owns its share (it holds their leases: taken with a
    // create in the bucket), and every partition leased to a survivor as the bucket says
    // (the whole cluster's view, read in up to 3 s: a bound from above).
    let survivor_ids: Vec<&str> = (0..3).filter(|i| *i != p.victim).map(|i| IDS[i]).collect();
    let (mut in_bucket, mut said) = (None, None);
    let moved = wait_until(Duration::from_secs(60), || {
        if said.is_none() && balanced(&survivors) {
            said = Some(killed.elapsed());
        }
        if in_bucket.is_none()
            && bucket_owners(survivors[0]).is_some_and(|o| {
                o.iter()
                    .all(|w| w.as_deref().is_some_and(|w| survivor_ids.contains(&w)))
            })
        {
            in_bucket = Some(killed.elapsed());
        }
        in_bucket.is_some() && said.is_some()
    });
    assert!(
        moved,
        "the partitions of {} were not re-owned within 60 s: {:?}, the bucket says {:?}",
        IDS[p.victim],
        survivors.iter().map(|c| owned(c)).collect::<Vec<_>>(),
        bucket_owners(survivors[0])
    );
    let reowned = said.unwrap_or_default();
    println!(
        "cluster_load: the partitions of {} re-owned {:.1} s after its kill (the lease bucket's view agreed by {:.1} s)",
        IDS[p.victim],
        reowned.as_secs_f64(),
        in_bucket.unwrap_or_default().as_secs_f64(),
    );
    let led = wait_until(Duration::from_secs(60), || {
        agreed_leader(&survivors).is_some_and(|n| n != IDS[p.victim])
    });
    assert!(led, "no alert leader among the survivors within 60 s");
    println!(
        "cluster_load: {} leads alerting {:.1} s after the kill",
        agreed_leader(&survivors).unwrap_or_default(),
        killed.elapsed().as_secs_f64()
    );

    // In about half the runs the victim comes back while the load goes on (as a crashed
    // collector restarted by systemd): the survivors give partitions back while they are
    // still reading them from the stream. Otherwise it comes back once the survivors alone
    // answered exactly once.
    let back_early = schedule.below(2) == 0;
    if back_early {
        std::thread::sleep(Duration::from_millis(schedule.below(3000)));
        rejoin(&mut collectors, p.victim, "under load");
    }

    // The load goes on a while, then the NATS node comes back and the writing stops.
    std::thread::sleep(p.tail);
    nats.nodes[p.node].restart();
    let written = writer.finish();
    let bulk = loader.finish();
    println!(
        "cluster_load: {} lines written and {} events posted in all, {:.1} s after the start",
        written.len(),
        bulk.len(),
        started.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(120), || agents
            .iter()
            .all(all_acknowledged)),
        "not every line acknowledged within 120 s: {:?}",
        agents.iter().map(agent_status).collect::<Vec<_>>()
    );
    let retries: Vec<u64> = agents
        .iter()
        .map(|a| {
            let e = &agent_status(a)["errors"];
            e["ship_unreachable"].as_u64().unwrap_or(0) + e["ship_refused"].as_u64().unwrap_or(0)
        })
        .collect();
    println!(
        "cluster_load: every line acknowledged {:.1} s after the writing stopped; failed deliveries per agent {retries:?}",
        t.elapsed().as_secs_f64()
    );
    assert!(
        reowned < Duration::from_secs(15),
        "the partitions of {} moved {:.1} s after its kill, over the 15 s promised",
        IDS[p.victim],
        reowned.as_secs_f64()
    );

    let page = 500 + schedule.below(4500) as usize;
    let through = |collectors: &[&Collector]| {
        for c in collectors {
            let took = exactly_once_through(c, WORD, &written, page);
            exactly_once_through(c, BULK, &bulk, page);
            println!(
                "cluster_load: exactly once through {} (pages of {page}) after {:.1} s more",
                c.url,
                took.as_secs_f64()
            );
        }
    };
    if !back_early {
        through(
            &collectors
                .iter()
                .enumerate()
                .filter_map(|(i, c)| (i != p.victim).then_some(c))
                .collect::<Vec<_>>(),
        );
        rejoin(&mut collectors, p.victim, "after the load");
    }
    through(&collectors.iter().collect::<Vec<_>>());
    assert!(
        wait_until(Duration::from_secs(60), || firing(&sink, DURING.0) >= 1),
        "incident two (written during the outage) did not page: {:?}",
        sink.posts()
    );

    // One page per incident: a second one, if any, would have come by now.
    std::thread::sleep(Duration::from_secs(3));
    let pages = (firing(&sink, BEFORE.0), firing(&sink, DURING.0));
    println!(
        "cluster_load: pages (before the kills, during the outage) = {pages:?}; {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(pages, (1, 1), "one page per incident: {:?}", sink.posts());
}

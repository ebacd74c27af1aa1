//! A randomized model test of tailing: "every line, once" against schedules nobody chose.
//!
//! Each seed makes a schedule (a few dozen steps) of what logrotate, an application, an operator
//! and bad luck do to a log folder while the real agent tails `app.log*` and ships to the real
//! collector:
//!
//! - the application appends numbered lines of random lengths to the file it holds open;
//! - rename rotation (`app.log` -> `app.log.1`, older ones shifted up) and, a little later, the
//!   application reopening `app.log` (logrotate's `create`);
//! - copytruncate (copy `app.log` to `app.log.1`, then truncate it; lines written between the two
//!   are marked: they are the one loss that no reader can avoid);
//! - delaycompress (`app.log.2` compressed to `app.log.2.gz`) and deletion of the oldest file;
//! - the agent killed with SIGKILL and started again later; the collector killed with SIGKILL,
//!   away for a while, and started again;
//! - for half the seeds, the smallest spool (256 KiB, `block`): during an outage it fills up and
//!   reading stops until acknowledgements free it;
//! - spool disk full: the spool lives on a 1 MiB tmpfs the test mounts for the seed; the schedule
//!   fills it to the last byte with a ballast file for a while (at least a few hundred ms, so that
//!   the agent's once-a-second retry meets it), then deletes the ballast. Lines the agent cannot
//!   spool stay in the files: it stops reading and resumes. The spool can also fill the tmpfs by
//!   itself during a collector outage. Where mounting is impossible (not root), the seed runs
//!   without these steps and says so.
//!
//! The oracle: once everything has arrived, every line written is stored exactly once, except the
//! lines written inside a copytruncate window, which may be stored once or not at all. Files are
//! compressed or deleted only after the agent has read them to their end (a file deleted before
//! any reader saw it is not a loss the agent could prevent); the test waits for that through the
//! agent's `/status`, and skips the step while the disk is full (the agent cannot read then).
//!
//! Replaying: a failure prints its seed and the schedule. `LOGWARDEN_MODEL_SEED=S` runs only seed
//! S; `LOGWARDEN_MODEL_SEEDS=N` (default 50) and `LOGWARDEN_MODEL_FIRST=F` (default 1) choose a
//! range; `LOGWARDEN_MODEL_JOBS=J` (default 3) how many seeds run side by side, each with its own
//! collector, agent and folder. `scripts/soak --seeds N` runs many.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use logwarden_tests::{Agent, Collector, Tmpfs, wait_until};

/// SplitMix64: a seeded generator small enough to keep here (schedules must replay exactly).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// One thing that happens to the log folder or the processes.
#[derive(Debug, Clone)]
enum Step {
    /// The application appends `lines` lines of up to `pad` padding bytes.
    Write {
        lines: u64,
        pad: u64,
    },
    /// Time passes.
    Pause {
        ms: u64,
    },
    /// Older rotations shifted up, `app.log` renamed to `app.log.1`; the application goes on
    /// writing to the renamed file until `Reopen`.
    Rename,
    /// The application reopens `app.log`, creating it (logrotate `create` + postrotate).
    Reopen,
    /// Older rotations shifted up, `app.log` copied to `app.log.1`, `window` lines written, then
    /// `app.log` truncated; the application goes on writing at offset 0.
    CopyTruncate {
        window: u64,
    },
    /// `app.log.2` compressed to `app.log.2.gz` (delaycompress).
    Compress,
    /// The oldest rotation deleted when more than 4 exist.
    DeleteOldest,
    AgentKill,
    AgentStart,
    CollectorKill,
    CollectorStart,
    /// The spool's file system filled to the last byte by a ballast file.
    DiskFill,
    /// The ballast deleted, once the disk has been full for at least `min_full_ms`.
    DiskFree {
        min_full_ms: u64,
    },
}

/// A schedule: 25 to 40 steps; every kill is followed by a start within a few steps.
fn schedule(seed: u64) -> Vec<Step> {
    let mut rng = Rng(seed);
    let mut steps = Vec::new();
    let (mut agent_up, mut collector_up, mut renamed) = (true, true, false);
    let mut agent_down_for = 0;
    let mut collector_down_for = 0;
    let n = rng.range(25, 40);
    for _ in 0..n {
        let pick = rng.range(0, 99);
        let step = match pick {
            0..=39 => Step::Write {
                lines: rng.range(1, 120),
                pad: if rng.chance(20) { 2000 } else { 120 },
            },
            40..=49 => Step::Pause {
                ms: rng.range(10, 400),
            },
            50..=59 if !renamed => {
                renamed = true;
                Step::Rename
            }
            50..=59 => {
                renamed = false;
                Step::Reopen
            }
            60..=69 if !renamed => Step::CopyTruncate {
                window: if rng.chance(50) { 0 } else { rng.range(1, 5) },
            },
            70..=74 if agent_up => Step::Compress,
            75..=79 if agent_up => Step::DeleteOldest,
            80..=86 if agent_up => {
                agent_up = false;
                agent_down_for = rng.range(1, 5);
                Step::AgentKill
            }
            87..=92 if collector_up => {
                collector_up = false;
                collector_down_for = rng.range(1, 6);
                Step::CollectorKill
            }
            _ => Step::Write {
                lines: rng.range(1, 30),
                pad: 80,
            },
        };
        steps.push(step);
        if !agent_up {
            agent_down_for -= 1;
            if agent_down_for == 0 {
                agent_up = true;
                steps.push(Step::AgentStart);
            }
        }
        if !collector_up {
            collector_down_for -= 1;
            if collector_down_for == 0 {
                collector_up = true;
                steps.push(Step::CollectorStart);
            }
        }
    }
    if renamed {
        steps.push(Step::Reopen);
    }
    steps.push(Step::Write {
        lines: rng.range(1, 20),
        pad: 50,
    });
    if !agent_up {
        steps.push(Step::AgentStart);
    }
    if !collector_up {
        steps.push(Step::CollectorStart);
    }
    with_disk_full(seed, steps)
}

/// Adds spool-disk-full episodes to a schedule: before any step, about one time in 16, the disk
/// fills; 1 to 5 steps later it is freed (always before the last write). A generator of its own
/// keeps the other steps of a seed as they were before disk-full was added.
fn with_disk_full(seed: u64, base: Vec<Step>) -> Vec<Step> {
    let mut rng = Rng(seed ^ 0xd15c_f111);
    let last = base.len() - 1;
    let mut steps = Vec::with_capacity(base.len() + 8);
    let mut full_for = 0;
    for (i, step) in base.into_iter().enumerate() {
        if full_for == 0 && i < last && rng.chance(6) {
            steps.push(Step::DiskFill);
            full_for = rng.range(1, 5);
        }
        steps.push(step);
        if full_for > 0 {
            full_for -= 1;
            if full_for == 0 || i + 1 >= last {
                full_for = 0;
                steps.push(Step::DiskFree {
                    min_full_ms: rng.range(250, 1200),
                });
            }
        }
    }
    steps
}

/// The log folder and the application writing into it.
struct World {
    dir: PathBuf,
    word: String,
    /// The file the application writes to (O_APPEND).
    out: File,
    next: u64,
    /// Lines written inside a copytruncate window: stored at most once.
    window: Vec<u64>,
    rng: Rng,
    /// The spool's small file system, when it could be mounted, and since when it is full.
    spool_fs: Option<PathBuf>,
    full_since: Option<Instant>,
}

impl World {
    fn path(&self, n: u32) -> PathBuf {
        if n == 0 {
            self.dir.join("app.log")
        } else {
            self.dir.join(format!("app.log.{n}"))
        }
    }

    fn gz(&self, n: u32) -> PathBuf {
        self.dir.join(format!("app.log.{n}.gz"))
    }

    fn line(&self, i: u64, pad: usize) -> String {
        format!("{} n{i:07} {}", self.word, "x".repeat(pad))
    }

    fn write(&mut self, lines: u64, pad: u64) -> Vec<u64> {
        let mut text = String::new();
        let mut numbers = Vec::new();
        for _ in 0..lines {
            let p = self.rng.range(0, pad) as usize;
            text.push_str(&self.line(self.next, p));
            text.push('\n');
            numbers.push(self.next);
            self.next += 1;
        }
        self.out
            .write_all(text.as_bytes())
            .expect("appending lines");
        numbers
    }

    /// The highest rotation number present (plain or compressed), 0 when none.
    fn highest(&self) -> u32 {
        (1..100)
            .take_while(|&n| self.path(n).exists() || self.gz(n).exists())
            .last()
            .unwrap_or(0)
    }

    /// `app.log.N[.gz]` -> `app.log.N+1[.gz]`, from the highest down.
    fn shift(&self) {
        for n in (1..=self.highest()).rev() {
            for (from, to) in [
                (self.path(n), self.path(n + 1)),
                (self.gz(n), self.gz(n + 1)),
            ] {
                if from.exists() {
                    std::fs::rename(&from, &to).expect("shifting a rotation");
                }
            }
        }
    }
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("opening the log for appending")
}

/// The agent's view of its files (`/status`): (inode, read offset) of each file it reads.
fn agent_reads(agent: &Agent) -> Option<HashMap<u64, u64>> {
    let addr = agent.metrics.as_ref()?;
    let status: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("http://{addr}/status"))
        .timeout(Duration::from_secs(5))
        .send()
        .ok()?
        .json()
        .ok()?;
    let mut out = HashMap::new();
    for f in status["files"].as_array()? {
        let ino = f["inode"].as_u64()?;
        let off = f["read_offset"].as_u64()?;
        let e = out.entry(ino).or_insert(0);
        *e = (*e).max(off);
    }
    Some(out)
}

/// Waits until the agent has read `path` to its end (or skipped to it: a copy of what it read);
/// gives up after 30 s with a note (the check at the end then says whether anything was lost).
fn wait_read(agent: &Agent, path: &Path, log: &mut Vec<String>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let (ino, len) = (meta.ino(), meta.len());
    let ok = wait_until(Duration::from_secs(30), || {
        agent_reads(agent).is_some_and(|r| r.get(&ino).is_some_and(|&off| off >= len))
    });
    if !ok {
        log.push(format!(
            "  (the agent had not read {} to its end after 30 s)",
            path.display()
        ));
    }
}

/// Before a file is deleted or compressed: waits until the agent has read it and everything
/// written so far is stored (a file is gone for good only once its lines are acknowledged, as
/// logrotate deletes files days old; lines read but not yet in the spool die with a SIGKILL).
/// False when the agent or the collector is away: the step is then skipped.
fn settled(
    agent: &Option<Agent>,
    collector: Option<&Collector>,
    w: &World,
    path: &Path,
    log: &mut Vec<String>,
) -> bool {
    let (Some(agent), Some(collector)) = (agent, collector) else {
        return false;
    };
    if w.full_since.is_some() {
        return false;
    }
    wait_read(agent, path, log);
    let want = w.next - w.window.len() as u64;
    if !wait_until(Duration::from_secs(30), || collector.count(&w.word) >= want) {
        log.push(format!(
            "  (not all {want} lines were stored after 30 s: {})",
            collector.count(&w.word)
        ));
    }
    true
}

/// What one seed found.
struct Outcome {
    written: u64,
    missing: Vec<u64>,
    duplicated: Vec<(u64, u32)>,
    window_lost: u64,
    /// Disk-full episodes run (on a mounted tmpfs), and the times the agent said it could not
    /// write its spool (a full disk met), from its log.
    fills: u64,
    disk_stalls: u64,
    log: Vec<String>,
}

/// Starts the agent on `app.log*`, with the config beside its data folder when there is one.
fn start_agent(dir: &Path, adir: &Path, url: &str) -> Agent {
    let glob = format!("{}/app.log*", dir.display());
    let config = adir.with_extension("toml");
    let config = config.display().to_string();
    let mut extra = vec!["--metrics-listen", "127.0.0.1:0"];
    if Path::new(&config).exists() {
        extra.extend(["--config", &config]);
    }
    Agent::start_logged(
        adir,
        url,
        &[&glob],
        &extra,
        Some(&adir.with_extension("log")),
    )
}

/// Runs one seed's schedule against a fresh collector and agent and checks the result.
fn run_seed(seed: u64) -> Outcome {
    let steps = schedule(seed);
    let tmp = tempfile::tempdir().expect("temp dir");
    let (cdir, adir, dir) = (
        tmp.path().join("collector"),
        tmp.path().join("agent"),
        tmp.path().join("logs"),
    );
    std::fs::create_dir_all(&dir).unwrap();
    let word = format!("model{seed}");
    let out = open_append(&dir.join("app.log"));
    let mut log = Vec::new();
    // Declared after `tmp`, so unmounted before the folder is removed.
    let (tmpfs, spool_fs) = spool_file_system(tmp.path(), &mut log);
    let mut w = World {
        dir: dir.clone(),
        word: word.clone(),
        out,
        next: 0,
        window: Vec::new(),
        rng: Rng(seed ^ 0x5eed),
        spool_fs,
        full_since: None,
    };
    let mut config = String::from("[spool]\n");
    if let Some(fs) = &w.spool_fs {
        config.push_str(&format!("dir = \"{}\"\n", fs.join("spool").display()));
    }
    if Rng(seed ^ 0x5b001).chance(50) {
        config.push_str("max_bytes = 262144\npolicy = \"block\"\n");
        log.push("(agent spool: 256 KiB, block)".into());
    }
    std::fs::write(adir.with_extension("toml"), config).unwrap();
    let mut collector = Collector::start(&cdir, &[]);
    let mut agent = Some(start_agent(&dir, &adir, &collector.url));
    let mut collector_up = true;
    let mut fills = 0;
    for step in &steps {
        let mut note = format!("{step:?}");
        match *step {
            Step::Write { lines, pad } => {
                let n = w.write(lines, pad);
                note = format!("Write {} lines n{}..n{}", n.len(), n[0], n[n.len() - 1]);
            }
            Step::Pause { ms } => std::thread::sleep(Duration::from_millis(ms)),
            Step::Rename => {
                w.shift();
                std::fs::rename(w.path(0), w.path(1)).expect("renaming app.log");
            }
            Step::Reopen => w.out = open_append(&w.path(0)),
            Step::CopyTruncate { window } => {
                w.shift();
                std::fs::copy(w.path(0), w.path(1)).expect("copying app.log");
                let lines = w.write(window, 40);
                w.window.extend(&lines);
                w.out.set_len(0).expect("truncating app.log");
            }
            Step::Compress => {
                let p2 = w.path(2);
                if !p2.exists() {
                    note.push_str(" (nothing to do)");
                } else if !settled(
                    &agent,
                    collector_up.then_some(&collector),
                    &w,
                    &p2,
                    &mut log,
                ) {
                    note.push_str(
                        " (skipped: the agent or the collector is away, or the disk is full)",
                    );
                } else {
                    let text = std::fs::read(&p2).unwrap();
                    let mut gz = flate2::write::GzEncoder::new(
                        File::create(w.gz(2)).unwrap(),
                        flate2::Compression::fast(),
                    );
                    gz.write_all(&text).unwrap();
                    gz.finish().unwrap();
                    std::fs::remove_file(&p2).unwrap();
                }
            }
            Step::DeleteOldest => {
                let h = w.highest();
                let (p, g) = (w.path(h), w.gz(h));
                if h > 4
                    && p.exists()
                    && !settled(&agent, collector_up.then_some(&collector), &w, &p, &mut log)
                {
                    note.push_str(
                        " (skipped: the agent or the collector is away, or the disk is full)",
                    );
                } else if h > 4 {
                    let _ = std::fs::remove_file(&p);
                    let _ = std::fs::remove_file(&g);
                    note = format!("DeleteOldest app.log.{h}");
                } else {
                    note.push_str(" (nothing to do)");
                }
            }
            Step::AgentKill => {
                if let Some(mut a) = agent.take() {
                    a.kill9();
                }
            }
            Step::AgentStart => agent = Some(start_agent(&dir, &adir, &collector.url)),
            Step::CollectorKill => {
                collector.kill9();
                collector_up = false;
            }
            Step::CollectorStart => {
                collector.restart();
                collector_up = true;
            }
            Step::DiskFill => match &w.spool_fs {
                Some(fs) => {
                    fill(&fs.join("ballast"));
                    fills += 1;
                    w.full_since = Some(Instant::now());
                }
                None => note.push_str(" (skipped: no tmpfs)"),
            },
            Step::DiskFree { min_full_ms } => {
                if let (Some(fs), Some(since)) = (&w.spool_fs, w.full_since.take()) {
                    let min = Duration::from_millis(min_full_ms);
                    std::thread::sleep(min.saturating_sub(since.elapsed()));
                    std::fs::remove_file(fs.join("ballast")).expect("deleting the ballast");
                    note = format!("DiskFree after {:?} full", since.elapsed());
                }
            }
        }
        log.push(format!(
            "{} {note}",
            chrono::Utc::now().format("%H:%M:%S%.3f")
        ));
    }
    // Everything should now arrive: wait for the lines, then for quiet (late duplicates).
    let written = w.next;
    let expect_min = written - w.window.len() as u64;
    let mut last = (u64::MAX, Instant::now());
    wait_until(Duration::from_secs(60), || {
        let n = collector.count(&word);
        if n != last.0 {
            last = (n, Instant::now());
        }
        n >= expect_min && last.1.elapsed() > Duration::from_millis(2500)
    });
    let mut seen: HashMap<u64, u32> = HashMap::new();
    for hit in collector.hits(&word, 10_000) {
        let msg = hit["message"].as_str().unwrap_or("");
        let num = msg
            .split(' ')
            .nth(1)
            .and_then(|t| t.strip_prefix('n'))
            .and_then(|t| t.parse().ok());
        match num {
            Some(i) => *seen.entry(i).or_default() += 1,
            None => log.push(format!("  stray event: {msg:.80}")),
        }
    }
    drop(agent);
    drop(tmpfs);
    let disk_stalls = std::fs::read_to_string(adir.with_extension("log"))
        .unwrap_or_default()
        .matches("cannot write the spool")
        .count() as u64;
    let in_window = |i: &u64| w.window.contains(i);
    let missing: Vec<u64> = (0..written)
        .filter(|i| !seen.contains_key(i) && !in_window(i))
        .collect();
    let window_lost = w.window.iter().filter(|i| !seen.contains_key(i)).count() as u64;
    let mut duplicated: Vec<(u64, u32)> = seen.into_iter().filter(|&(_, k)| k > 1).collect();
    duplicated.sort();
    if !missing.is_empty() || !duplicated.is_empty() {
        // Kept for a look: the logs, the agent's data and its log (agent.log).
        let kept = tmp.keep();
        log.push(format!(
            "  (folders and the agent's log kept in {})",
            kept.display()
        ));
    }
    Outcome {
        written,
        missing,
        duplicated,
        window_lost,
        fills,
        disk_stalls,
        log,
    }
}

/// Mounts a 1 MiB tmpfs for the spool under `tmp` (`spoolfs/`); without it (mounting needs
/// root), the disk-full steps are skipped and the log says why.
fn spool_file_system(tmp: &Path, log: &mut Vec<String>) -> (Option<Tmpfs>, Option<PathBuf>) {
    let fs = tmp.join("spoolfs");
    match Tmpfs::mount(&fs, "1m") {
        Ok(m) => (Some(m), Some(fs)),
        Err(e) => {
            log.push(format!(
                "(SKIPPED disk-full steps: cannot mount a tmpfs for the spool: {e})"
            ));
            (None, None)
        }
    }
}

/// Fills the file system holding `path` to the last byte with the file `path`.
fn fill(path: &Path) {
    let mut f = File::create(path).expect("creating the ballast");
    let block = vec![0u8; 16 << 10];
    while f.write_all(&block).is_ok() {}
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn every_line_is_stored_exactly_once_through_random_rotations_restarts_and_outages() {
    let seeds: Vec<u64> = match env_u64("LOGWARDEN_MODEL_SEED") {
        Some(s) => vec![s],
        None => {
            let first = env_u64("LOGWARDEN_MODEL_FIRST").unwrap_or(1);
            let n = env_u64("LOGWARDEN_MODEL_SEEDS").unwrap_or(50);
            (first..first + n).collect()
        }
    };
    let jobs = env_u64("LOGWARDEN_MODEL_JOBS").unwrap_or(3).max(1) as usize;
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let totals = Mutex::new((0u64, 0u64, 0u64));
    let disk = Mutex::new((0u64, 0u64));
    std::thread::scope(|s| {
        for _ in 0..jobs.min(seeds.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                    let Some(&seed) = seeds.get(i) else { return };
                    let o = run_seed(seed);
                    let dup: u64 = o.duplicated.iter().map(|&(_, k)| u64::from(k) - 1).sum();
                    println!(
                        "seed {seed}: {} lines written, {} missing, {dup} duplicated, {} of the copytruncate window lost, {} disk-full episodes ({} stalls of the agent)",
                        o.written,
                        o.missing.len(),
                        o.window_lost,
                        o.fills,
                        o.disk_stalls
                    );
                    {
                        let mut d = disk.lock().unwrap();
                        d.0 += o.fills;
                        d.1 += o.disk_stalls;
                    }
                    {
                        let mut t = totals.lock().unwrap();
                        t.0 += o.written;
                        t.1 += o.missing.len() as u64;
                        t.2 += dup;
                    }
                    if !o.missing.is_empty() || dup > 0 {
                        let text = format!(
                            "seed {seed} FAILED: {} missing (first {:?}), {dup} duplicated (first {:?})\n\
                             replay: LOGWARDEN_MODEL_SEED={seed} cargo test -p logwarden-tests --test tail_model -- --nocapture\n\
                             schedule:\n  {}",
                            o.missing.len(),
                            &o.missing[..o.missing.len().min(10)],
                            &o.duplicated[..o.duplicated.len().min(10)],
                            o.log.join("\n  ")
                        );
                        println!("{text}");
                        failures.lock().unwrap().push(text);
                    }
                }
            });
        }
    });
    let t = totals.into_inner().unwrap();
    let (fills, stalls) = disk.into_inner().unwrap();
    let failures = failures.into_inner().unwrap();
    println!(
        "{} seeds in {:.0?}: {} lines written, {} missing, {} duplicated; {fills} spool disk-full episodes, {stalls} agent stalls on them; {} seeds failed",
        seeds.len(),
        started.elapsed(),
        t.0,
        t.1,
        t.2,
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The disk-full steps must reach the agent, or they test nothing.
    assert!(
        fills < 10 || stalls > 0,
        "{fills} disk-full episodes ran and the agent never met a full disk"
    );
}

/// The schedule of issue 25 as reported: 200,000 numbered lines through 8 rotations (one every
/// 23,000 lines; odd ones copytruncate, even ones rename-and-create; older files shifted up, none
/// deleted), glob `app.log*`, the agent killed at 40 % and started again, the collector killed at
/// 70 % and back after 3 s. Before content identity, 69,000 lines were stored twice. A few
/// minutes on a busy machine: run by `scripts/soak` (`--ignored`), not in every test run.
#[test]
#[ignore = "200,000 lines: run by scripts/soak"]
fn the_reported_200k_line_schedule_stores_every_line_once() {
    const N: u64 = 200_000;
    const BUCKET: u64 = 5_000;
    let tmp = tempfile::tempdir().unwrap();
    let (cdir, adir, dir) = (
        tmp.path().join("collector"),
        tmp.path().join("agent"),
        tmp.path().join("logs"),
    );
    std::fs::create_dir_all(&dir).unwrap();
    let line = |i: u64| {
        format!(
            "big200k big200kb{} n{i:07} lorem ipsum dolor sit amet",
            i / BUCKET
        )
    };
    let mut w = World {
        dir: dir.clone(),
        word: "big200k".into(),
        out: open_append(&dir.join("app.log")),
        next: 0,
        window: Vec::new(),
        rng: Rng(1),
        spool_fs: None,
        full_since: None,
    };
    let mut collector = Collector::start(&cdir, &[]);
    let mut agent = Some(start_agent(&dir, &adir, &collector.url));
    let mut rotations = 0;
    let mut text = String::new();
    for i in 0..N {
        text.push_str(&line(i));
        text.push('\n');
        if text.len() > 64 * 1024 || (i + 1) % 23_000 == 0 {
            w.out.write_all(text.as_bytes()).unwrap();
            text.clear();
            std::thread::sleep(Duration::from_millis(5));
        }
        if (i + 1) % 23_000 == 0 {
            rotations += 1;
            w.shift();
            if rotations % 2 == 1 {
                std::fs::copy(w.path(0), w.path(1)).unwrap();
                w.out.set_len(0).unwrap();
            } else {
                std::fs::rename(w.path(0), w.path(1)).unwrap();
                w.out = open_append(&w.path(0));
            }
        }
        if i + 1 == N * 4 / 10 {
            agent.take().unwrap().kill9();
            std::thread::sleep(Duration::from_millis(500));
            agent = Some(start_agent(&dir, &adir, &collector.url));
        }
        if i + 1 == N * 7 / 10 {
            collector.kill9();
            std::thread::sleep(Duration::from_secs(3));
            collector.restart();
        }
    }
    w.out.write_all(text.as_bytes()).unwrap();
    println!("{rotations} rotations");
    let mut last = (u64::MAX, Instant::now());
    wait_until(Duration::from_secs(600), || {
        let n = collector.count("big200k");
        if n != last.0 {
            last = (n, Instant::now());
        }
        n >= N && last.1.elapsed() > Duration::from_secs(5)
    });
    let mut seen: HashMap<u64, u32> = HashMap::new();
    for b in 0..N.div_ceil(BUCKET) {
        for hit in collector.hits(&format!("big200kb{b}"), 10_000) {
            let msg = hit["message"].as_str().unwrap_or("");
            if let Some(i) = msg
                .split(' ')
                .nth(2)
                .and_then(|t| t.strip_prefix('n'))
                .and_then(|t| t.parse::<u64>().ok())
            {
                *seen.entry(i).or_default() += 1;
            }
        }
    }
    drop(agent);
    let missing = (0..N).filter(|i| !seen.contains_key(i)).count();
    let duplicated: u64 = seen.values().map(|&k| u64::from(k) - 1).sum();
    println!("200k schedule: {N} written, {missing} missing, {duplicated} duplicated");
    assert_eq!((missing, duplicated), (0, 0));
}

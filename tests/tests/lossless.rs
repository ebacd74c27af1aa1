//! Lossless tailing, end to end: real collector and agent processes, real files, real renames,
//! truncations, SIGKILL and a full file system. Every case writes numbered lines and then
//! counts, through the collector's search API, the unique events found against the lines
//! written, and the duplicates (by message). Both must come out exact.
//!
//! Each case uses its own word, so that the cases can share nothing and run side by side.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use logwarden_tests::{Agent, Collector, Tmpfs, assert_same, wait_until};

/// Lines per bucket word: one search returns a whole bucket (the API returns 10,000 at most).
const BUCKET: u64 = 4000;

/// The text of line `i` of a case: the case word, a bucket word, the number, some padding.
fn line(word: &str, i: u64) -> String {
    format!(
        "{word} {word}b{} line {i:07} lorem ipsum dolor sit amet consectetur",
        i / BUCKET
    )
}

/// Appends lines `range` to `f` in chunks (one write per 100 lines).
fn append(f: &mut File, word: &str, range: std::ops::Range<u64>) {
    let mut chunk = String::new();
    for i in range {
        chunk.push_str(&line(word, i));
        chunk.push('\n');
        if chunk.len() > 8000 {
            f.write_all(chunk.as_bytes()).unwrap();
            chunk.clear();
        }
    }
    f.write_all(chunk.as_bytes()).unwrap();
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// Waits until `n` events of `word` are searchable, then checks that lines `0..n` are there
/// exactly once each. Prints the tally either way.
fn verify_exact(c: &Collector, word: &str, n: u64, timeout: Duration) {
    let reached = wait_until(timeout, || c.count(word) >= n);
    // Let late duplicates, if any, arrive before counting.
    std::thread::sleep(Duration::from_millis(1500));
    let total = c.count(word);
    let mut seen: HashMap<String, u32> = HashMap::new();
    for b in 0..n.div_ceil(BUCKET) {
        for hit in c.hits(&format!("{word}b{b}"), 10_000) {
            *seen
                .entry(hit["message"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let missing: Vec<u64> = (0..n)
        .filter(|&i| !seen.contains_key(&line(word, i)))
        .collect();
    let unique = n - missing.len() as u64;
    let duplicates: u64 = seen.values().map(|&k| u64::from(k) - 1).sum();
    let stray = seen.len() as u64 - unique;
    println!(
        "{word}: lines written {n}, unique events found {unique}, duplicates {duplicates}, \
         other events {stray}, total matching {total}"
    );
    if !missing.is_empty() {
        println!(
            "{word}: first missing lines: {:?}",
            &missing[..missing.len().min(20)]
        );
    }
    assert!(reached || unique < n, "count reached but lines missing");
    assert_same("unique events found", n, unique);
    assert_same("duplicates", 0, duplicates);
    assert_same("events matching the word", n, total);
}

fn dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("collector");
    let a = dir.path().join("agent");
    (dir, c, a)
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn rename_rotation_under_continuous_writing_loses_and_repeats_nothing() {
    let (dir, cdir, adir) = dirs();
    let collector = Collector::start(&cdir, &[]);
    let log = dir.path().join("app.log");
    let mut f = open_append(&log);
    let _agent = Agent::start(&adir, &collector.url, &[log.to_str().unwrap()]);
    const N: u64 = 24_000;
    let mut rotations = 0;
    for start in (0..N).step_by(500) {
        append(&mut f, "wombatrename", start..start + 500);
        if (start + 500) % 3000 == 0 {
            rotations += 1;
            std::fs::rename(&log, dir.path().join(format!("app.log.{rotations}"))).unwrap();
            f = open_append(&log);
        }
        // About a second per file: the life of a log between two rotations, sped up.
        std::thread::sleep(Duration::from_millis(150));
    }
    println!("rename: {rotations} rotations");
    verify_exact(&collector, "wombatrename", N, Duration::from_secs(60));
}

#[test]
fn copytruncate_under_continuous_writing_loses_and_repeats_nothing() {
    let (dir, cdir, adir) = dirs();
    let collector = Collector::start(&cdir, &[]);
    let log = dir.path().join("app.log");
    let mut f = open_append(&log);
    let _agent = Agent::start(&adir, &collector.url, &[log.to_str().unwrap()]);
    const N: u64 = 24_000;
    let mut rotations = 0;
    for start in (0..N).step_by(500) {
        append(&mut f, "wombattrunc", start..start + 500);
        if (start + 500) % 3000 == 0 {
            // logrotate's copytruncate: copy, then cut the original; the writer goes on
            // appending (O_APPEND) to the same inode, now at offset 0.
            rotations += 1;
            std::fs::copy(&log, dir.path().join(format!("app.log.{rotations}"))).unwrap();
            f.set_len(0).unwrap();
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    println!("copytruncate: {rotations} rotations");
    verify_exact(&collector, "wombattrunc", N, Duration::from_secs(60));
}

#[test]
fn agent_killed_in_the_middle_of_a_rotation_resumes_exactly() {
    let (dir, cdir, adir) = dirs();
    let collector = Collector::start(&cdir, &[]);
    let log = dir.path().join("app.log");
    let glob = format!("{}/app.log*", dir.path().display());
    let mut f = open_append(&log);
    let mut agent = Agent::start(&adir, &collector.url, &[&glob]);
    append(&mut f, "wombatkill", 0..30_000);
    // Kill while the agent is busy with those lines: some shipped, some spooled, some unread.
    assert!(wait_until(Duration::from_secs(30), || collector
        .count("wombatkill")
        > 0));
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    agent.kill9();
    println!(
        "kill9: {} of 30000 searchable at the kill",
        collector.count("wombatkill")
    );
    // The application writes its last lines to the renamed file, then reopens.
    append(&mut f, "wombatkill", 30_000..31_000);
    let mut f = open_append(&log);
    append(&mut f, "wombatkill", 31_000..40_000);
    let mut agent = Agent::start(&adir, &collector.url, &[&glob]);
    // And once more, killed right after start, with the collector still catching up.
    std::thread::sleep(Duration::from_millis(700));
    agent.kill9();
    append(&mut f, "wombatkill", 40_000..42_000);
    let _agent = Agent::start(&adir, &collector.url, &[&glob]);
    verify_exact(&collector, "wombatkill", 42_000, Duration::from_secs(90));
}

#[test]
fn collector_down_while_100k_lines_are_written_then_back_loses_and_repeats_nothing() {
    let (dir, cdir, adir) = dirs();
    let mut collector = Collector::start(&cdir, &[]);
    let log = dir.path().join("app.log");
    let mut f = open_append(&log);
    let _agent = Agent::start(&adir, &collector.url, &[log.to_str().unwrap()]);
    append(&mut f, "wombatdown", 0..1000);
    assert!(wait_until(Duration::from_secs(30), || collector
        .count("wombatdown")
        == 1000));
    collector.kill9();
    append(&mut f, "wombatdown", 1000..101_000);
    std::thread::sleep(Duration::from_secs(2));
    collector.restart();
    verify_exact(&collector, "wombatdown", 101_000, Duration::from_secs(150));
}

fn spool_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_full_spool_with_block_pauses_reading_and_loses_nothing() {
    let (dir, cdir, adir) = dirs();
    let mut collector = Collector::start(&cdir, &[]);
    let config = write_config(
        dir.path(),
        "[spool]\nmax_bytes = 262144\npolicy = \"block\"\n",
    );
    let log = dir.path().join("app.log");
    let mut f = open_append(&log);
    let mut agent = Agent::start_with(
        &adir,
        &collector.url,
        &[log.to_str().unwrap()],
        &["--config", config.to_str().unwrap()],
    );
    append(&mut f, "wombatblock", 0..500);
    assert!(wait_until(Duration::from_secs(30), || collector
        .count("wombatblock")
        == 500));
    collector.kill9();
    // ~20,000 events of ~400 bytes: about 30 times the spool.
    append(&mut f, "wombatblock", 500..20_000);
    let spool = adir.join("spool");
    let mut most = 0;
    for _ in 0..30 {
        most = most.max(spool_bytes(&spool));
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("block: spool held at most {most} bytes of 262144 while the collector was down");
    assert!(most > 100_000, "the spool should have filled: {most}");
    assert!(most <= 262_144, "the spool went over its bound: {most}");
    assert!(agent.is_running(), "the agent must keep running");
    collector.restart();
    verify_exact(&collector, "wombatblock", 20_000, Duration::from_secs(90));
}

/// Fills the file system under `dir` with a ballast file; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("ballast");
    let mut f = File::create(&path).unwrap();
    let block = vec![0u8; 4096];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
    path
}

#[test]
fn a_full_disk_under_the_spool_pauses_and_resumes_losing_nothing() {
    let (dir, cdir, adir) = dirs();
    let spool_dir = dir.path().join("spoolfs");
    let _tmpfs = match Tmpfs::mount(&spool_dir, "2m") {
        Ok(m) => m,
        Err(e) => {
            println!(
                "SKIPPED: this machine forbids mounting a tmpfs ({e}); the full-disk case was not run"
            );
            return;
        }
    };
    let mut collector = Collector::start(&cdir, &[]);
    let config = write_config(
        dir.path(),
        &format!(
            "[spool]\ndir = \"{}\"\nmax_bytes = 67108864\n",
            spool_dir.join("spool").display()
        ),
    );
    let log = dir.path().join("app.log");
    let mut f = open_append(&log);
    let mut agent = Agent::start_with(
        &adir,
        &collector.url,
        &[log.to_str().unwrap()],
        &["--config", config.to_str().unwrap()],
    );
    append(&mut f, "wombatdisk", 0..500);
    assert!(wait_until(Duration::from_secs(30), || collector
        .count("wombatdisk")
        == 500));

    // 1. The disk is full of something else: nothing can be spooled, nothing is shipped, the
    //    agent waits; space comes back, everything goes.
    let ballast = fill(&spool_dir);
    append(&mut f, "wombatdisk", 500..5000);
    std::thread::sleep(Duration::from_secs(2));
    let during = collector.count("wombatdisk");
    println!("disk full: {during} of 5000 searchable while the disk was full");
    assert!(
        agent.is_running(),
        "the agent must keep running on a full disk"
    );
    std::fs::remove_file(&ballast).unwrap();
    verify_exact(&collector, "wombatdisk", 5000, Duration::from_secs(60));

    // 2. The spool itself fills the disk while the collector is away (~8 MB of events on a
    //    2 MiB file system), then acknowledgements free it.
    collector.kill9();
    append(&mut f, "wombatdisk", 5000..25_000);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        agent.is_running(),
        "the agent must keep running on a full disk"
    );
    collector.restart();
    verify_exact(&collector, "wombatdisk", 25_000, Duration::from_secs(90));
}

/// A small deterministic random source (no dependency for one test).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn a_thousand_files_created_and_rotated_at_random_lose_and_repeat_nothing() {
    let (dir, cdir, adir) = dirs();
    let collector = Collector::start(&cdir, &[]);
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let glob = format!("{}/f*.log*", logs.display());
    let _agent = Agent::start(&adir, &collector.url, &[&glob]);
    const FILES: u64 = 1000;
    let mut rng = Lcg(7);
    let mut open: Vec<Option<File>> = (0..FILES).map(|_| None).collect();
    let mut generation = vec![0u32; FILES as usize];
    let mut next = 0u64;
    let mut rotations = 0;
    for round in 0..40 {
        // Each round: 25 new files, then writes and rotations among those that exist.
        for k in round * 25..(round + 1) * 25 {
            open[k as usize] = Some(open_append(&logs.join(format!("f{k}.log"))));
        }
        let existing = (round + 1) * 25;
        for _ in 0..600 {
            let k = rng.below(existing) as usize;
            let f = open[k].as_mut().unwrap();
            append(f, "wombatmany", next..next + 1);
            next += 1;
            if rng.below(40) == 0 {
                generation[k] += 1;
                let from = logs.join(format!("f{k}.log"));
                std::fs::rename(&from, logs.join(format!("f{k}.log.{}", generation[k]))).unwrap();
                open[k] = Some(open_append(&from));
                rotations += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("many files: {FILES} files, {rotations} rotations, {next} lines");
    verify_exact(&collector, "wombatmany", next, Duration::from_secs(90));
}

/// The agent ships what it has spooled for at most 3 s after SIGTERM (the rest stays in the
/// spool), then waits at most 2 s for the request in flight; our systemd unit allows 30 s
/// before SIGKILL.
const STOP_BOUND: Duration = Duration::from_secs(6);
/// With no collector to ship to there is nothing to wait for.
const STOP_BOUND_COLLECTOR_DOWN: Duration = Duration::from_secs(3);

#[test]
fn sigterm_while_busy_stops_cleanly_and_the_next_start_resumes_exactly() {
    let (dir, cdir, adir) = dirs();
    let collector = Collector::start(&cdir, &[]);
    let log = dir.path().join("app.log");
    let mut f = open_append(&log);
    let mut agent = Agent::start(&adir, &collector.url, &[log.to_str().unwrap()]);
    append(&mut f, "wombatterm", 0..20_000);
    // Stop while those lines are in flight: some acknowledged, some spooled, some unread.
    assert!(wait_until(Duration::from_secs(30), || collector
        .count("wombatterm")
        > 0));
    let (status, took) = agent.stop();
    println!(
        "sigterm (collector up): stopped in {took:?} with {status}; {} of 20000 searchable",
        collector.count("wombatterm")
    );
    assert!(status.success(), "clean stop exits 0: {status}");
    assert!(took < STOP_BOUND, "stop took {took:?}");
    // Checkpoints and the spool were left consistent: the next start neither skips nor
    // repeats, including lines written while the agent was down.
    append(&mut f, "wombatterm", 20_000..25_000);
    let _agent = Agent::start(&adir, &collector.url, &[log.to_str().unwrap()]);
    verify_exact(&collector, "wombatterm", 25_000, Duration::from_secs(90));
}

#[test]
fn sigterm_with_the_collector_down_keeps_everything_read_in_the_spool() {
    let (dir, cdir, adir) = dirs();
    let mut collector = Collector::start(&cdir, &[]);
    let log = dir.path().join("app.log");
    let mut f = open_append(&log);
    let mut agent = Agent::start(&adir, &collector.url, &[log.to_str().unwrap()]);
    append(&mut f, "wombatspool", 0..1000);
    assert!(wait_until(Duration::from_secs(30), || collector
        .count("wombatspool")
        == 1000));
    collector.kill9();
    append(&mut f, "wombatspool", 1000..10_000);
    // Let the agent read and spool them while it cannot ship.
    let spool = adir.join("spool");
    assert!(wait_until(Duration::from_secs(30), || spool_bytes(&spool) > 9_000 * 60));
    let (status, took) = agent.stop();
    println!("sigterm (collector down): stopped in {took:?} with {status}");
    assert!(status.success(), "clean stop exits 0: {status}");
    assert!(took < STOP_BOUND_COLLECTOR_DOWN, "stop took {took:?}");
    collector.restart();
    let _agent = Agent::start(&adir, &collector.url, &[log.to_str().unwrap()]);
    verify_exact(&collector, "wombatspool", 10_000, Duration::from_secs(90));
}

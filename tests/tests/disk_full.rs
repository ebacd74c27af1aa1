//! A full disk under the collector (issue 26 §3): the collector's data directory on a small
//! tmpfs the test mounts, filled to the last byte by another "process" (a ballast file) while
//! agents keep sending, then freed. Every event answered 200 must be searchable afterwards,
//! without a restart, and the WAL must never be trimmed past what the index holds.
//!
//! The ballast hits every write point the collector has on that disk while it is full: tantivy's
//! segment flushes and commits, the index state file, merges, the fleet snapshot, and (with
//! `min_free_bytes = 0`, second case) the WAL's own writes and segment creation.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logwarden_tests::schedule::Schedule;
use logwarden_tests::{Collector, Tmpfs, fill_disk as fill, filler_batch, wait_until};

/// What the sender thread saw.
#[derive(Default)]
struct Sent {
    /// Batches answered 200 with every line accepted.
    acked: BTreeSet<u64>,
    /// Answers other than 200 (the disk full, the WAL refusing).
    refused: u64,
}

/// Sends batches `0..batches` of 2,000 events one after the other, each again until it is
/// answered 200 (or `stop`), and records which were acknowledged.
fn sender(c: &Collector, agent: &str, batches: u64, stop: &AtomicBool, sent: &Mutex<Sent>) {
    let mut b = 0;
    while b < batches && !stop.load(Ordering::Relaxed) {
        let body = filler_batch(agent, b, &[]).join("\n").into_bytes();
        let resp = c
            .http()
            .post(format!("{}/api/v1/ingest", c.url))
            .body(body)
            .timeout(Duration::from_secs(30))
            .send();
        let ok = match resp {
            Ok(r) if r.status().as_u16() == 200 => {
                let j: serde_json::Value = r.json().expect("ingest answer is JSON");
                assert_eq!(j["accepted"], 2000, "batch {b}: {j}");
                true
            }
            _ => false,
        };
        let mut s = sent.lock().unwrap();
        if ok {
            s.acked.insert(b);
            b += 1;
        } else {
            s.refused += 1;
            drop(s);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Runs the schedule on a collector whose data directory is a tmpfs of `size` with
/// `min_free_bytes`: events flow, the disk is filled for `hold`, freed, `rounds` times; then
/// every acknowledged event must become searchable with the collector still running.
fn fill_and_free(tag: &str, min_free_bytes: u64, rounds: u32) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _tmpfs = match Tmpfs::mount(&data, "160m") {
        Ok(m) => m,
        Err(e) => {
            println!(
                "SKIPPED {tag}: this machine forbids mounting a tmpfs ({e}); the full-disk case was not run"
            );
            return;
        }
    };
    let cfg = dir.path().join("collector.toml");
    // Small segments and margin, so that WAL retention trims while the test runs.
    std::fs::write(
        &cfg,
        format!(
            "[wal]\nsegment_bytes = 1048576\nkeep_bytes = 1048576\nmin_free_bytes = {min_free_bytes}\n"
        ),
    )
    .unwrap();
    let c = Arc::new(Collector::start(
        &data,
        &["--config", cfg.to_str().unwrap()],
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(Mutex::new(Sent::default()));
    let agent = format!("dfull{tag}");
    let thread = {
        let (c, stop, sent, agent) = (c.clone(), stop.clone(), sent.clone(), agent.clone());
        // 60 batches: 120,000 events, about 40 MB of WAL and as much of index at most.
        std::thread::spawn(move || sender(&c, &agent, 60, &stop, &sent))
    };
    // Whatever the index says it holds, the WAL must still hold everything after it.
    let check_floor = |c: &Collector| {
        if let Some(s) = c.status() {
            let first = s["wal"]["first_lsn"].as_u64().unwrap_or(0);
            let indexed = s["index"]["indexed_lsn"].as_u64().unwrap_or(0);
            assert!(
                first <= indexed + 1,
                "{tag}: the WAL starts at {first} but the index holds only through {indexed}"
            );
        }
    };
    let mut schedule = Schedule::new(tag);
    for round in 0..rounds {
        // Events flow for 0.5-2.5 s, then the disk is full (or nearly: up to 1 MiB left, room
        // for some writes and not others) for 1-4 s.
        let (flow, hold) = (500 + schedule.below(2000), 1000 + schedule.below(3000));
        let leave = [0, 0, 4 << 10, 64 << 10, 1 << 20][schedule.below(5) as usize];
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(flow) {
            check_floor(&c);
            std::thread::sleep(Duration::from_millis(100));
        }
        let ballast = fill(&data, leave);
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(hold) {
            check_floor(&c);
            std::thread::sleep(Duration::from_millis(100));
        }
        std::fs::remove_file(&ballast).unwrap();
        println!(
            "{tag}: round {round} (flow {flow} ms, full for {hold} ms, {leave} bytes left): {} batches acknowledged so far",
            sent.lock().unwrap().acked.len()
        );
    }
    // A little more after the last round, then stop sending.
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();
    let (acked, refused) = {
        let s = sent.lock().unwrap();
        (s.acked.clone(), s.refused)
    };
    assert!(!acked.is_empty(), "{tag}: nothing was acknowledged");
    let want = acked.len() as u64 * 2000;
    let mut found = 0;
    let all_in = wait_until(Duration::from_secs(180), || {
        check_floor(&c);
        found = c.count("filler");
        found >= want
    });
    println!(
        "{tag}: {} batches acknowledged ({want} events), {refused} answers refused, {found} searchable",
        acked.len()
    );
    assert!(
        all_in && found == want,
        "{tag}: {want} events acknowledged, {found} searchable after the disk was freed (status {:?})",
        c.status()
    );
    // Each acknowledged batch whole, none twice.
    for b in [*acked.first().unwrap(), *acked.last().unwrap()] {
        let seq = b * 2000 + 1000;
        assert_eq!(c.count(&format!("\"line {seq}\"")), 1, "{tag}: batch {b}");
    }
}

#[test]
fn a_disk_filled_under_the_index_and_freed_loses_no_acknowledged_event() {
    // Ingest stops under 4 MiB free, so the WAL itself keeps room: the index's writes fail.
    fill_and_free("index", 4 << 20, 4);
}

#[test]
fn a_disk_filled_under_the_wal_and_the_index_and_freed_loses_no_acknowledged_event() {
    // No free-space floor: the WAL's writes fail too.
    fill_and_free("wal", 0, 3);
}

//! A full disk under the standby (issue 26): the standby's data directory on a small tmpfs the
//! test mounts, filled by another "process" (a ballast file) while the primary keeps taking
//! events, then freed. Before, a copied write that failed at a segment's creation poisoned the
//! standby's log (and the identities of a failed copy stayed held): it copied nothing more
//! until a restart. Now every acknowledged event ends up on the standby, searchable, with the
//! same processes running; while it cannot write, its status says `write_failing` and
//! `logwarden_replication_standby_write_failing` is 1.
//!
//! Found here (seed 11, about 3 runs in 5): one batch, the first whose copy failed, was in the
//! primary's log and not searchable on the standby. A failed copy that held one of the
//! primary's checkpoints made the standby's committer write checkpoints of its own, and one
//! appended after the group had failed stayed pending with the next LSN; the primary's events
//! record of that LSN was then skipped as held already (`wal/commit/group.rs`,
//! `checkpoint_if_due`). The standby's durable LSN matched the primary's all the same, so only
//! the searchable check below saw it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use logwarden_tests::schedule::Schedule;
use logwarden_tests::{Collector, Tmpfs, fill_disk, filler_batch, free_addr, wait_until};

fn state(c: &Collector) -> Option<String> {
    Some(c.status()?["replication"]["state"].as_str()?.to_owned())
}

fn durable(c: &Collector) -> u64 {
    c.status()
        .map_or(0, |s| s["wal"]["durable_lsn"].as_u64().unwrap_or(0))
}

/// The pair after the schedule: the primary, the standby, the events acknowledged; the
/// tmpfs and folders live as long as it does.
struct Filled {
    a: Arc<Collector>,
    b: Collector,
    b_pid: u32,
    want: u64,
    _tmpfs: Tmpfs,
    _dir: tempfile::TempDir,
}

/// Runs the schedule; `None` where this machine forbids a tmpfs (said on stdout).
fn fill_the_standbys_disk_under_load() -> Option<Filled> {
    let dir = tempfile::tempdir().unwrap();
    let b_data = dir.path().join("b");
    let tmpfs = match Tmpfs::mount(&b_data, "160m") {
        Ok(m) => m,
        Err(e) => {
            println!(
                "SKIPPED: this machine forbids mounting a tmpfs ({e}); the standby's full disk was not tried"
            );
            return None;
        }
    };
    // Small segments on the standby: the disk fills at segment creation too (where the log
    // was poisoned before). Sync acks wait for the standby at most 1 s.
    let cfg = dir.path().join("collector.toml");
    std::fs::write(
        &cfg,
        "[wal]\nsegment_bytes = 1048576\n[replication]\nsync_timeout = \"1s\"\n",
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let (addr_a, addr_b) = (free_addr(), free_addr());
    let (url_a, url_b) = (format!("http://{addr_a}"), format!("http://{addr_b}"));
    let start = |name: &str, data: &std::path::Path, role: &str, addr: &str, peer: &str| {
        Collector::start_at(
            data,
            addr,
            &[
                "--site", name, "--role", role, "--peer", peer, "--config", cfg,
            ],
        )
    };
    let a = Arc::new(start(
        "a",
        &dir.path().join("a"),
        "primary",
        &addr_a,
        &url_b,
    ));
    let b = start("b", &b_data, "standby", &addr_b, &url_a);
    let b_pid = b.pid();

    // Batches of 2,000 events to the primary, each until answered 200, paced so that they
    // span the rounds below.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let sender = {
        let (a, stop, acked) = (a.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let mut batch = 0;
            while !stop.load(Ordering::Relaxed) && batch < 80 {
                let body = filler_batch("sbfull", batch, &[]).join("\n").into_bytes();
                let (status, answer) = a.ingest(body, &[]);
                if status == 200 {
                    assert_eq!(answer["accepted"], 2000, "batch {batch}: {answer}");
                    batch += 1;
                    acked.store(batch, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(150));
                } else {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
    };

    let mut schedule = Schedule::new("standby disk full");
    let mut seen_failing = false;
    for round in 0..3 {
        let (flow, hold) = (500 + schedule.below(1500), 2000 + schedule.below(3000));
        let leave = [0, 0, 4 << 10, 64 << 10][schedule.below(4) as usize];
        std::thread::sleep(Duration::from_millis(flow));
        let ballast = fill_disk(&b_data, leave);
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(hold) {
            seen_failing |= state(&b).as_deref() == Some("write_failing");
            std::thread::sleep(Duration::from_millis(100));
        }
        seen_failing |= state(&b).as_deref() == Some("write_failing");
        if seen_failing {
            let m = b.metric("logwarden_replication_standby_write_failing");
            println!("round {round}: write_failing metric {m:?}");
        }
        std::fs::remove_file(&ballast).unwrap();
        println!(
            "round {round} (flow {flow} ms, full for {hold} ms, {leave} bytes left): {} batches acknowledged, standby {:?}",
            acked.load(Ordering::Relaxed),
            state(&b)
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let want = acked.load(Ordering::Relaxed) * 2000;
    assert!(want > 0, "nothing was acknowledged");
    assert!(
        seen_failing,
        "the standby never said it could not write: was its disk full at all?"
    );

    Some(Filled {
        a,
        b,
        b_pid,
        want,
        _tmpfs: tmpfs,
        _dir: dir,
    })
}

/// Every record the primary holds reaches the standby's WAL, by the same process, which then
/// says it writes again.
#[test]
fn a_standby_whose_disk_fills_copies_everything_by_itself_once_there_is_room() {
    let Some(f) = fill_the_standbys_disk_under_load() else {
        return;
    };
    let (a, b, b_pid, want) = (&f.a, &f.b, f.b_pid, f.want);
    let caught_up = wait_until(Duration::from_secs(180), || durable(b) >= durable(a));
    println!(
        "{want} events acknowledged by the primary; the standby holds WAL {} of {}, state {:?}",
        durable(b),
        durable(a),
        state(b)
    );
    assert!(
        caught_up,
        "the standby did not catch up by itself: WAL {} of {} (status {:?})",
        durable(b),
        durable(a),
        b.status()
    );
    // Copies keep the primary's LSNs and come in order from the standby's own durable LSN. The
    // same durable LSN is not yet the same log (a record of the standby's own could take an LSN
    // of the primary's): the searchable test below checks the events themselves.
    let s = b.status().unwrap();
    assert_eq!(s["wal"]["corrupt_records"], 0, "{s}");
    assert_eq!(b.pid(), b_pid);
    assert!(
        std::path::Path::new(&format!("/proc/{b_pid}")).exists(),
        "the standby process is the one started"
    );
    assert_eq!(state(b).as_deref(), Some("streaming"));
    assert_eq!(
        b.metric("logwarden_replication_standby_write_failing"),
        Some(0.0)
    );
    assert!(
        wait_until(Duration::from_secs(120), || a.count("filler") == want),
        "the primary holds each acknowledged event once: {} of {want}",
        a.count("filler")
    );
}

/// The same, and every acknowledged event searchable on the standby, by the same process.
#[test]
fn a_standby_whose_disk_fills_has_every_acknowledged_event_searchable() {
    let Some(f) = fill_the_standbys_disk_under_load() else {
        return;
    };
    let (a, b, want) = (&f.a, &f.b, f.want);
    let caught_up = wait_until(Duration::from_secs(180), || {
        durable(b) >= durable(a) && b.count("filler") >= want
    });
    let found = b.count("filler");
    println!(
        "{want} events acknowledged by the primary; the standby holds WAL {} of {}, {found} searchable, state {:?}",
        durable(b),
        durable(a),
        state(b)
    );
    if !(caught_up && found == want) {
        for batch in 0..want / 2000 {
            let q = format!("\"line {}\"", batch * 2000 + 1000);
            let (on_a, on_b) = (a.count(&q), b.count(&q));
            if on_a != 1 || on_b != 1 {
                println!("batch {batch}: {on_a} on the primary, {on_b} on the standby");
            }
        }
    }
    assert!(
        caught_up && found == want,
        "the standby did not catch up by itself: {found} of {want} searchable, WAL {} of {} (status {:?})",
        durable(b),
        durable(a),
        b.status()
    );
}

use super::snapshots::Snapshots;
use super::syncer::{Answer, Unsynced, sync_and_answer};
use super::*;
use crate::wal::checkpoint;
use crate::wal::dedup::DedupSet;
use crate::wal::log::{WalOptions, Written};
use chrono::Utc;
use logwarden_core::EventId;

fn ev(seq: u64) -> Event {
    Event::log(
        EventId::new("ag", seq),
        Utc::now(),
        "h",
        "s",
        "src",
        format!("m{seq}"),
    )
}

fn start(dir: &std::path::Path) -> (Committer, JoinHandle<()>, watch::Receiver<u64>) {
    let (wal, _) = Wal::open(dir, WalOptions::default()).unwrap();
    let (tx, rx) = watch::channel(wal.durable_lsn());
    let (c, h) = Committer::start(wal, tx, Default::default(), Default::default()).unwrap();
    (c, h, rx)
}

/// Issue 26 §3: requests that a full disk failed were neither kept nor remembered: once
/// there is room, the same events are taken (not called duplicates of what the log does not
/// hold), exactly once, by the same committer (no restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_group_and_a_resend_once_there_is_room_is_taken_once() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(disk) = crate::wal::tests::SmallDisk::mount(&tmp.path().join("disk"), "2m") else {
        return;
    };
    let dir = disk.0.join("wal");
    let (c, h, durable) = start(&dir);
    let big = |seq: u64| {
        let mut e = ev(seq);
        e.message = format!("m{seq} {}", "x".repeat(4000));
        e
    };
    let batch = |r: u64| (r * 100..r * 100 + 100).map(big).collect::<Vec<_>>();
    let before = c.commit(batch(0), Originals::default()).await.unwrap();
    assert_eq!(before.accepted, 100);
    let ballast = disk.fill_leaving(0);
    // Several requests at once (one group, mostly), and the last also holds events of the
    // first: all fail, nothing of them is held.
    let mut pending = Vec::new();
    for r in 1..=4 {
        let mut events = batch(r);
        if r == 4 {
            events.extend(batch(1).into_iter().take(10));
        }
        pending.push(c.submit(events, Originals::default()).await.unwrap());
    }
    for p in pending {
        let e = p.await.unwrap_err();
        assert!(e.to_string().contains("No space left"), "{e}");
    }
    std::fs::remove_file(ballast).unwrap();
    for r in 1..=4 {
        let got = c.commit(batch(r), Originals::default()).await.unwrap();
        assert_eq!(
            (got.accepted, got.duplicates.len()),
            (100, 0),
            "batch {r} after the disk was freed"
        );
    }
    let again = c.commit(batch(2), Originals::default()).await.unwrap();
    assert_eq!((again.accepted, again.duplicates.len()), (0, 100));
    let upto = *durable.borrow();
    drop(c);
    tokio::task::spawn_blocking(move || h.join().unwrap())
        .await
        .unwrap();
    // The log holds each event once, in records numbered without a gap.
    let mut reader = crate::wal::WalReader::new(dir.clone(), 1);
    let mut seen = std::collections::BTreeMap::new();
    let mut lsns = Vec::new();
    while let Some(rec) = reader.next(upto).unwrap() {
        lsns.push(rec.lsn);
        for line in crate::wal::record::event_lines(&rec.payload) {
            let e: Event = serde_json::from_slice(line).unwrap();
            *seen.entry(e.id.to_string()).or_insert(0) += 1;
        }
    }
    assert_eq!(lsns, (1..=upto).collect::<Vec<_>>());
    assert_eq!(seen.len(), 500);
    assert!(seen.values().all(|n| *n == 1));
}

/// Issue 26: a standby whose disk filled poisoned its log and copied nothing more until a
/// restart. Now a failed copy is cut back like a failed ingest: nothing of it is held (its
/// events would be taken as new after a promotion), and once there is room the same records are
/// copied, with the primary's LSNs, by the same committer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_a_copy_and_the_same_records_are_copied_once_there_is_room() {
    let tmp = tempfile::tempdir().unwrap();
    // The primary's records, on an ordinary disk.
    let primary_dir = tmp.path().join("primary");
    let (p, ph, pdurable) = start(&primary_dir);
    let big = |seq: u64| {
        let mut e = ev(seq);
        e.message = format!("m{seq} {}", "x".repeat(4000));
        e
    };
    let batch = |r: u64| (r * 100..r * 100 + 100).map(big).collect::<Vec<_>>();
    for r in 0..6 {
        p.commit(batch(r), Originals::default()).await.unwrap();
    }
    let upto = *pdurable.borrow();
    drop(p);
    tokio::task::spawn_blocking(move || ph.join().unwrap())
        .await
        .unwrap();
    let mut reader = crate::wal::WalReader::new(primary_dir, 1);
    let mut records = Vec::new();
    while let Some(rec) = reader.next(upto).unwrap() {
        records.push(rec);
    }
    assert_eq!(records.len(), 6);
    let Some(disk) = crate::wal::tests::SmallDisk::mount(&tmp.path().join("disk"), "8m") else {
        return;
    };
    let dir = disk.0.join("wal");
    let (c, h, durable) = start(&dir);
    c.commit_replicated(records[..2].to_vec()).await.unwrap();
    let ballast = disk.fill_leaving(0);
    let e = c
        .commit_replicated(records[2..5].to_vec())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("No space left"), "{e}");
    std::fs::remove_file(ballast).unwrap();
    // Nothing of the failed copy is held: its events are new here (as after a promotion)...
    let got = c.commit(batch(4), Originals::default()).await.unwrap();
    assert_eq!((got.accepted, got.duplicates.len()), (100, 0));
    // ... and those of a copy that was written are not.
    let got = c.commit(batch(1), Originals::default()).await.unwrap();
    assert_eq!((got.accepted, got.duplicates.len()), (0, 100));
    drop(c);
    tokio::task::spawn_blocking(move || h.join().unwrap())
        .await
        .unwrap();
    let _ = durable;

    // The same again without the ingest in between: the same records are copied once there is
    // room, with their own LSNs, without a restart.
    let dir = disk.0.join("wal2");
    let (c, h, durable) = start(&dir);
    c.commit_replicated(records[..2].to_vec()).await.unwrap();
    let ballast = disk.fill_leaving(0);
    assert!(c.commit_replicated(records[2..5].to_vec()).await.is_err());
    assert!(c.commit_replicated(records[2..5].to_vec()).await.is_err());
    std::fs::remove_file(ballast).unwrap();
    assert_eq!(c.commit_replicated(records[2..].to_vec()).await.unwrap(), 6);
    let got = c.commit(batch(4), Originals::default()).await.unwrap();
    assert_eq!(
        (got.accepted, got.duplicates.len()),
        (0, 100),
        "copied identities held"
    );
    let upto = *durable.borrow();
    drop(c);
    tokio::task::spawn_blocking(move || h.join().unwrap())
        .await
        .unwrap();
    let mut reader = crate::wal::WalReader::new(dir, 1);
    let mut copied = Vec::new();
    while let Some(rec) = reader.next(upto).unwrap() {
        copied.push(rec);
    }
    assert_eq!(copied.len(), 6);
    for (a, b) in copied.iter().zip(&records) {
        assert_eq!((a.lsn, a.kind, &a.payload), (b.lsn, b.kind, &b.payload));
    }
}

/// Issue 26: a copy that a full disk failed, holding one of the primary's checkpoints, made
/// the standby write checkpoints of its own, and one appended after the failure stayed pending
/// in the log with the next LSN: the primary's record of that LSN was then skipped as held
/// already, and the standby's log held its checkpoint where the primary's events were (never
/// indexed, lost at a promotion). Now the standby's log is the primary's, record for record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_copy_holding_a_checkpoint_leaves_the_standbys_log_the_primarys_record_for_record()
{
    let tmp = tempfile::tempdir().unwrap();
    let big = |seq: u64| {
        let mut e = ev(seq);
        e.message = format!("m{seq} {}", "x".repeat(4000));
        serde_json::to_vec(&e).unwrap()
    };
    // The primary's log: events records of about 300 KB, and a checkpoint at LSN 3.
    let mut records = Vec::new();
    for r in 0..7u64 {
        let lsn = r + 1;
        let (kind, payload) = if lsn == 3 {
            (
                RecordKind::Checkpoint,
                checkpoint::encode(&DedupSet::default(), &[]),
            )
        } else {
            let mut payload = Vec::new();
            for seq in r * 100..r * 100 + 70 {
                payload.extend(big(seq));
                payload.push(b'\n');
            }
            (RecordKind::Events, payload)
        };
        records.push(Record { lsn, kind, payload });
    }
    let Some(disk) = crate::wal::tests::SmallDisk::mount(&tmp.path().join("disk"), "8m") else {
        return;
    };
    // Segments of 1 MiB, so that a copy of four records rolls one.
    let dir = disk.0.join("wal");
    let opts = WalOptions {
        segment_bytes: 1 << 20,
    };
    let (wal, _) = Wal::open(&dir, opts).unwrap();
    let (tx, durable) = watch::channel(wal.durable_lsn());
    let (c, h) = Committer::start(wal, tx, Default::default(), Default::default()).unwrap();
    c.commit_replicated(records[..1].to_vec()).await.unwrap();
    let ballast = disk.fill_leaving(0);
    // Fails where the group is written out, with the primary's checkpoint in it...
    assert!(c.commit_replicated(records[1..3].to_vec()).await.is_err());
    // ... then where a segment rolls, part-way through the group.
    assert!(c.commit_replicated(records[1..5].to_vec()).await.is_err());
    std::fs::remove_file(ballast).unwrap();
    assert_eq!(c.commit_replicated(records[1..].to_vec()).await.unwrap(), 7);
    let upto = *durable.borrow();
    drop(c);
    tokio::task::spawn_blocking(move || h.join().unwrap())
        .await
        .unwrap();
    assert_eq!(upto, 7, "the standby's log ends where the primary's does");
    let mut reader = crate::wal::WalReader::new(dir, 1);
    let mut copied = Vec::new();
    while let Some(rec) = reader.next(u64::MAX).unwrap() {
        copied.push(rec);
    }
    let kinds = |rs: &[Record]| rs.iter().map(|r| (r.lsn, r.kind)).collect::<Vec<_>>();
    assert_eq!(kinds(&copied), kinds(&records));
    for (a, b) in copied.iter().zip(&records) {
        assert!(a.payload == b.payload, "record {} differs", a.lsn);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_caught_within_a_request_across_requests_and_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (c, h, durable) = start(dir.path());
    let r = c
        .commit(vec![ev(1), ev(2), ev(1)], Originals::default())
        .await
        .unwrap();
    assert_eq!(
        (r.accepted, r.duplicates.clone(), r.lsn),
        (2, vec![2], Some(1))
    );
    assert_eq!(
        *durable.borrow(),
        1,
        "durable LSN published before the answer"
    );
    let r = c
        .commit(vec![ev(2), ev(3)], Originals::default())
        .await
        .unwrap();
    assert_eq!(
        (r.accepted, r.duplicates.clone(), r.lsn),
        (1, vec![0], Some(2))
    );
    let r = c.commit(vec![ev(3)], Originals::default()).await.unwrap();
    assert_eq!(
        (r.accepted, r.lsn),
        (0, None),
        "nothing new: no record written"
    );
    drop(c);
    tokio::task::spawn_blocking(move || h.join().unwrap())
        .await
        .unwrap();

    let (c, _h, _) = start(dir.path());
    let r = c
        .commit(vec![ev(1), ev(2), ev(3), ev(4)], Originals::default())
        .await
        .unwrap();
    assert_eq!(
        (r.accepted, r.duplicates, r.lsn),
        (1, vec![0, 1, 2], Some(3))
    );
}

/// A group of one `Record` request written to `file` through `lsn`, and its answer's receiver.
fn unsynced(
    lsn: u64,
    file: std::fs::File,
    path: &std::path::Path,
) -> (Unsynced, oneshot::Receiver<Result<u64, CommitError>>) {
    let (reply, rx) = oneshot::channel();
    let group = vec![CommitRequest::Record {
        kind: RecordKind::AlertState,
        payload: Vec::new(),
        reflects: None,
        reply,
    }];
    let g = Unsynced {
        written: Written::for_test(lsn, file, path),
        group,
        answers: vec![Answer::Record(Ok(lsn))],
        snapshots: Snapshots::default(),
    };
    (g, rx)
}

#[test]
fn the_syncer_answers_in_order_once_synced_and_fails_everything_after_a_failed_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let seg = dir.path().join("segment");
    let file = || std::fs::File::create(&seg).unwrap();
    // fsync of a character device fails (EINVAL): a disk that refuses.
    let broken = || std::fs::File::open("/dev/null").unwrap();
    let stats = WalStats::default();
    let poisoned = AtomicBool::new(false);
    let (durable_tx, durable) = watch::channel(0);
    let (tx, rx) = std::sync::mpsc::sync_channel(8);
    let (g1, a1) = unsynced(1, file(), &seg);
    let (g2, a2) = unsynced(2, file(), &seg);
    tx.send(g1).unwrap();
    tx.send(g2).unwrap();
    let (g3, a3) = unsynced(3, broken(), std::path::Path::new("/dev/null"));
    let (g4, a4) = unsynced(4, file(), &seg);
    // The first two are synced and answered in one go, in order.
    drop(tx);
    sync_and_answer(rx, durable_tx.clone(), &stats, &poisoned);
    assert_eq!(a1.blocking_recv().unwrap().unwrap(), 1);
    assert_eq!(a2.blocking_recv().unwrap().unwrap(), 2);
    assert_eq!(*durable.borrow(), 2);
    assert!(!poisoned.load(Relaxed));
    // Then an fsync fails: that group fails, and so does the next, though its own fsync
    // would work; nothing more is said durable.
    for (g, a) in [(g3, a3), (g4, a4)] {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        tx.send(g).unwrap();
        drop(tx);
        sync_and_answer(rx, durable_tx.clone(), &stats, &poisoned);
        assert!(a.blocking_recv().unwrap().is_err());
    }
    assert_eq!(*durable.borrow(), 2);
    assert!(
        poisoned.load(Relaxed),
        "the committer is told to poison the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_keeps_every_identity_after_the_segments_before_it_are_trimmed() {
    use std::sync::atomic::Ordering::Relaxed;
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        segment_bytes: 1 << 20,
    };
    let open = |dir: &std::path::Path| {
        let (wal, _) = Wal::open(dir, opts.clone()).unwrap();
        let (tx, _) = watch::channel(wal.durable_lsn());
        let stats = Arc::new(WalStats::default());
        let (c, h) = Committer::start(wal, tx, stats.clone(), Default::default()).unwrap();
        (c, h, stats)
    };
    let (c, h, stats) = open(dir.path());
    // About 3 MB of events: three segments, a checkpoint every half segment.
    for batch in 0..40u64 {
        let events = (batch * 500 + 1..=batch * 500 + 500).map(ev).collect();
        let r = c.commit(events, Originals::default()).await.unwrap();
        assert_eq!(r.accepted, 500);
    }
    let checkpoint = stats.checkpoint_lsn.load(Relaxed);
    assert!(
        checkpoint > 20,
        "a checkpoint in the later segments: {checkpoint}"
    );
    let t = c.trim(checkpoint, 0).await.unwrap();
    assert!(t.segments >= 1 && t.first_lsn > 1, "{t:?}");
    assert!(
        t.first_lsn <= checkpoint,
        "the checkpoint itself is kept: {t:?}"
    );
    assert_eq!(stats.first_lsn.load(Relaxed), t.first_lsn);
    drop(c);
    tokio::task::spawn_blocking(move || h.join().unwrap())
        .await
        .unwrap();

    // The identities of the trimmed records are only in the checkpoint now.
    let (c, _h, stats) = open(dir.path());
    assert!(stats.checkpoint_lsn.load(Relaxed) >= checkpoint);
    assert_eq!(stats.first_lsn.load(Relaxed), t.first_lsn);
    let all: Vec<Event> = (1..=20_000).map(ev).collect();
    let r = c.commit(all, Originals::default()).await.unwrap();
    assert_eq!((r.accepted, r.duplicates.len()), (0, 20_000));
    let r = c
        .commit(vec![ev(20_001)], Originals::default())
        .await
        .unwrap();
    assert_eq!(r.accepted, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_fsyncs_and_each_event_is_taken_once() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _h, _) = start(dir.path());
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let c = c.clone();
        // Every task sends the same 50 events plus 50 of its own.
        tasks.push(tokio::spawn(async move {
            let events = (1..=50)
                .chain(1000 * (t + 1)..1000 * (t + 1) + 50)
                .map(ev)
                .collect();
            c.commit(events, Originals::default()).await.unwrap()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap().accepted;
    }
    assert_eq!(accepted, 50 + 8 * 50);
}

/// The LSN a rules snapshot reflects (retention's hold for the engine): handed over by the
/// engine for its own snapshots, read by the reader the server passes for those found in the
/// log at start and those a standby copies from its primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_lsn_is_handed_over_by_the_engine_or_read_by_the_servers_reader() {
    use crate::rules::snapshot::Snapshot;
    use std::sync::atomic::Ordering::Relaxed;
    // The reader the server passes.
    assert_eq!(
        Snapshot::payload_lsn(br#"{"v":1,"lsn":42,"x":[1]}"#),
        Some(42)
    );
    assert_eq!(Snapshot::payload_lsn(b"{}"), None);
    assert_eq!(Snapshot::payload_lsn(b"garbage"), None);
    let dir = tempfile::tempdir().unwrap();
    let open = |dir: &std::path::Path| {
        let (wal, _) = Wal::open(dir, WalOptions::default()).unwrap();
        let (tx, _) = watch::channel(wal.durable_lsn());
        let stats = Arc::new(WalStats::default());
        let options = CommitterOptions {
            max_future: None,
            rules_snapshot_lsn: Snapshot::payload_lsn,
        };
        let (c, h) =
            Committer::start_with(wal, tx, stats.clone(), Default::default(), options).unwrap();
        (c, h, stats)
    };
    let (c, h, stats) = open(dir.path());
    assert_eq!(stats.rules_lsn.load(Relaxed), 0, "no snapshot yet");
    let copied = Record {
        lsn: 1,
        kind: RecordKind::RulesSnapshot,
        payload: br#"{"v":1,"lsn":42}"#.to_vec(),
    };
    assert_eq!(c.commit_replicated(vec![copied]).await.unwrap(), 1);
    assert_eq!(stats.rules_lsn.load(Relaxed), 42, "read from a copied one");
    // The engine's own: the LSN it hands over counts, not what the payload may say.
    let own = br#"{"v":1,"lsn":76}"#.to_vec();
    assert_eq!(c.commit_rules_snapshot(77, own).await.unwrap(), 2);
    assert_eq!(stats.rules_lsn.load(Relaxed), 77, "handed over");
    drop(c);
    tokio::task::spawn_blocking(move || h.join().unwrap())
        .await
        .unwrap();
    let (_c, _h, stats) = open(dir.path());
    assert_eq!(stats.rules_lsn.load(Relaxed), 76, "read at start");
}

/// The committer's errors say what they always said: callers pass the text on (an API answer's
/// log line, a standby's pull error, the engine's `EngineError::Wal`).
#[test]
fn commit_errors_keep_their_messages() {
    assert_eq!(
        CommitError::Stopped.to_string(),
        "the WAL committer has stopped"
    );
    assert_eq!(
        CommitError::SyncerStopped.to_string(),
        "the WAL syncer has stopped"
    );
    assert_eq!(
        CommitError::from(WalError::Poisoned).to_string(),
        WalError::Poisoned.to_string()
    );
}

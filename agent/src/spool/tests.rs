//! Tests of the spool as a whole: writer, reader, release and recovery.

use std::io::Write;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::source::fingerprint::Fingerprint;

fn cfg(dir: &Path, max_bytes: u64, policy: FullPolicy) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_owned(),
        max_bytes,
        policy,
    }
}

fn origin(end: u64) -> Origin {
    Origin {
        file: FileKey { dev: 1, ino: 2 },
        fp: Fingerprint { len: 10, crc: 3 },
        path: PathBuf::from("/var/log/a.log").into(),
        end,
    }
}

fn limits(n: usize) -> Limits {
    Limits {
        max_events: n,
        max_bytes: 1 << 20,
        max_wait: Duration::from_millis(10),
    }
}

fn event(seq: u64) -> Vec<u8> {
    format!("{{\"n\":{seq},\"pad\":\"{}\"}}", "x".repeat(100)).into_bytes()
}

fn seqs_of(batch: &ReadBatch) -> Vec<u64> {
    batch
        .body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<serde_json::Value>(l).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn write(spool: &mut Spool, seqs: std::ops::Range<u64>) {
    let cancel = CancellationToken::new();
    for s in seqs {
        spool
            .writer
            .append(s, Some(&origin(s * 10)), &event(s), &cancel)
            .unwrap();
    }
    spool.writer.commit().unwrap();
}

#[tokio::test]
async fn records_come_back_in_order_and_unacked_ones_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), 64 << 20, FullPolicy::Block);
    let mut spool = Spool::open(&c, Position::default()).unwrap();
    write(&mut spool, 1..101);
    let b = spool.reader.next_batch(limits(60)).await.unwrap();
    assert_eq!(seqs_of(&b), (1..61).collect::<Vec<_>>());
    assert_eq!(only_origin(&b), 600);
    let acked = b.end;
    drop(spool); // a crash: nothing closed, nothing saved but `acked`
    let mut spool = Spool::open(&c, acked).unwrap();
    assert_eq!(spool.pending, 40);
    assert_eq!(only_resume(&spool), 1000);
    write(&mut spool, 200..203);
    spool.writer.close();
    let b = spool.reader.next_batch(limits(1000)).await.unwrap();
    let expected: Vec<u64> = (61..101).chain(200..203).collect();
    assert_eq!(seqs_of(&b), expected);
    assert!(spool.reader.next_batch(limits(1000)).await.is_none());
}

#[test]
fn torn_record_after_a_kill_is_detected_counted_and_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), 64 << 20, FullPolicy::Block);
    let mut spool = Spool::open(&c, Position::default()).unwrap();
    write(&mut spool, 1..11);
    drop(spool);
    // A kill -9 in the middle of a write: half a record at the end of the newest segment.
    let seg = segment_path(dir.path(), list_segments(dir.path()).unwrap()[0]);
    let mut half = Vec::new();
    record::encode(&mut half, 11, Some(&origin(110)), &event(11));
    let len_before = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(&half[..half.len() / 2])
        .unwrap();
    let spool = Spool::open(&c, Position::default()).unwrap();
    assert_eq!(spool.stats.torn, 1);
    assert_eq!(spool.pending, 10);
    // The torn record's line was never durably spooled: its file resumes before it.
    assert_eq!(only_resume(&spool), 100);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), len_before);
}

#[tokio::test]
async fn a_damaged_record_in_the_middle_is_counted_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), 64 << 20, FullPolicy::Block);
    let mut spool = Spool::open(&c, Position::default()).unwrap();
    write(&mut spool, 1..6);
    drop(spool);
    let seg = segment_path(dir.path(), list_segments(dir.path()).unwrap()[0]);
    let mut bytes = std::fs::read(&seg).unwrap();
    let second = SEGMENT_HEADER as usize + bytes.len().saturating_sub(SEGMENT_HEADER as usize) / 5;
    bytes[second + 20] ^= 0xff; // inside the body of record 2
    std::fs::write(&seg, &bytes).unwrap();
    let mut spool = Spool::open(&c, Position::default()).unwrap();
    assert_eq!(spool.stats.damaged, 1);
    spool.writer.close();
    let b = spool.reader.next_batch(limits(100)).await.unwrap();
    assert_eq!(seqs_of(&b), vec![1, 3, 4, 5]);
}

#[tokio::test]
async fn after_every_segment_was_acked_and_deleted_new_records_are_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), 256 << 10, FullPolicy::Block);
    let mut spool = Spool::open(&c, Position::default()).unwrap();
    write(&mut spool, 1..2);
    drop(spool);
    // A restart leaves the writer on a new segment: the old one can then go once acked.
    let mut spool = Spool::open(&c, Position::default()).unwrap();
    let b = spool.reader.next_batch(limits(10)).await.unwrap();
    spool.reader.release(b.end);
    assert!(list_segments(dir.path()).unwrap().is_empty());
    drop(spool);
    let mut spool = Spool::open(&c, b.end).unwrap();
    write(&mut spool, 2..3);
    spool.writer.close();
    let b = spool.reader.next_batch(limits(10)).await.unwrap();
    assert_eq!(seqs_of(&b), vec![2]);
}

#[test]
fn a_segment_whose_creation_was_interrupted_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), 64 << 20, FullPolicy::Block);
    std::fs::write(segment_path(dir.path(), 3), b"LWS").unwrap();
    let spool = Spool::open(&c, Position::default()).unwrap();
    assert_eq!(spool.pending, 0);
    assert!(!segment_path(dir.path(), 3).exists());
}

#[tokio::test]
async fn a_full_spool_blocks_the_writer_until_acks_free_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), 256 << 10, FullPolicy::Block);
    let Spool {
        mut writer,
        mut reader,
        ..
    } = Spool::open(&c, Position::default()).unwrap();
    let cancel = CancellationToken::new();
    let cancel2 = cancel.clone();
    // ~170 bytes a record: 256 KiB hold about 1,500.
    let t = std::thread::spawn(move || {
        for s in 1..=5000u64 {
            if writer.append(s, None, &event(s), &cancel2).is_err() {
                return s;
            }
        }
        writer.commit().unwrap();
        writer.close();
        0
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!t.is_finished(), "the writer should be blocked");
    assert!(reader.bytes() <= 256 << 10, "{}", reader.bytes());
    let mut got = Vec::new();
    while let Some(b) = reader.next_batch(limits(500)).await {
        got.extend(seqs_of(&b));
        reader.release(b.end);
        assert!(reader.bytes() <= 256 << 10);
    }
    assert_eq!(t.join().unwrap(), 0);
    assert_eq!(got, (1..=5000).collect::<Vec<_>>());
    cancel.cancel();
}

#[tokio::test]
async fn drop_oldest_keeps_the_newest_events_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), 256 << 10, FullPolicy::DropOldest);
    let Spool {
        mut writer,
        mut reader,
        ..
    } = Spool::open(&c, Position::default()).unwrap();
    let cancel = CancellationToken::new();
    for s in 1..=5000u64 {
        writer.append(s, None, &event(s), &cancel).unwrap();
    }
    writer.commit().unwrap();
    writer.close();
    let mut got = Vec::new();
    while let Some(b) = reader.next_batch(limits(500)).await {
        got.extend(seqs_of(&b));
    }
    let dropped = reader.stats().dropped;
    assert!(dropped > 0);
    assert_eq!(got.len() as u64 + dropped, 5000);
    assert_eq!(*got.last().unwrap(), 5000);
    assert!(
        got.windows(2).all(|w| w[1] == w[0] + 1),
        "a contiguous newest part"
    );
}

#[tokio::test]
async fn released_segments_are_deleted_and_not_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path(), 256 << 10, FullPolicy::Block);
    let mut spool = Spool::open(&c, Position::default()).unwrap();
    write(&mut spool, 1..1001);
    let b = spool.reader.next_batch(limits(900)).await.unwrap();
    spool.reader.release(b.end);
    let left = list_segments(dir.path()).unwrap();
    assert!(
        left.iter().all(|&n| n >= b.end.segment),
        "{left:?} {:?}",
        b.end
    );
    drop(spool);
    let mut spool = Spool::open(&c, b.end).unwrap();
    spool.writer.close();
    let b = spool.reader.next_batch(limits(1000)).await.unwrap();
    assert_eq!(seqs_of(&b), (901..1001).collect::<Vec<_>>());
}

#[derive(Debug, Clone)]
enum Op {
    /// Append this many events and commit.
    Append(u64),
    /// Read a batch of at most this many events and acknowledge it.
    Ship(usize),
    /// Read a batch, then crash before the ack arrives.
    ReadThenCrash(usize),
    /// Crash and start again from the saved acknowledged position.
    Restart,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (1u64..120).prop_map(Op::Append),
        3 => (1usize..150).prop_map(Op::Ship),
        1 => (1usize..150).prop_map(Op::ReadThenCrash),
        1 => Just(Op::Restart),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(40))]

    /// Random appends, acks and crashes against a model: the spool hands out exactly the
    /// unacknowledged events, in order, with their seqs, however it was interrupted.
    #[test]
    fn random_appends_acks_and_crashes_match_a_model(ops in proptest::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let dir = tempfile::tempdir().unwrap();
            let c = cfg(dir.path(), 256 << 10, FullPolicy::Block);
            let mut acked = Position::default();
            let mut spool = Spool::open(&c, acked).unwrap();
            let mut model: std::collections::VecDeque<u64> = Default::default();
            let mut next = 1;
            let lim = |n| Limits { max_events: n, max_bytes: 1 << 20, max_wait: Duration::from_millis(1) };
            for op in ops {
                match op {
                    Op::Append(n) => {
                        if model.len() as u64 + n > 400 {
                            continue; // stay under the spool's bound: `block` would wait
                        }
                        write(&mut spool, next..next + n);
                        model.extend(next..next + n);
                        next += n;
                    }
                    Op::Ship(m) | Op::ReadThenCrash(m) => {
                        if model.is_empty() {
                            continue;
                        }
                        let b = tokio::time::timeout(Duration::from_secs(2), spool.reader.next_batch(lim(m)))
                            .await
                            .expect("the reader hung")
                            .unwrap();
                        let want: Vec<u64> = model.iter().take(m).copied().collect();
                        assert_eq!(seqs_of(&b), want);
                        if let Op::Ship(_) = op {
                            model.drain(..want.len());
                            acked = b.end;
                            spool.reader.release(acked);
                        } else {
                            drop(spool);
                            spool = Spool::open(&c, acked).unwrap();
                            assert_eq!(spool.pending, model.len() as u64);
                        }
                    }
                    Op::Restart => {
                        drop(spool);
                        spool = Spool::open(&c, acked).unwrap();
                        assert_eq!(spool.pending, model.len() as u64);
                    }
                }
                assert!(spool.reader.bytes() <= 256 << 10);
            }
            spool.writer.close();
            let mut rest = Vec::new();
            while let Some(b) = spool.reader.next_batch(lim(500)).await {
                rest.extend(seqs_of(&b));
            }
            assert_eq!(rest, model.into_iter().collect::<Vec<_>>());
        });
    }
}

#[tokio::test]
async fn the_released_version_1_format_still_opens_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/spool/testdata/v1/00000000000000000001.seg");
    std::fs::copy(&fixture, dir.path().join("00000000000000000001.seg")).unwrap();
    let c = cfg(dir.path(), 64 << 20, FullPolicy::Block);
    let mut spool = Spool::open(&c, Position::default()).unwrap();
    assert_eq!(
        (spool.pending, spool.stats.torn, spool.stats.damaged),
        (3, 0, 0)
    );
    assert_eq!(only_resume(&spool), 240);
    spool.writer.close();
    let b = spool.reader.next_batch(limits(10)).await.unwrap();
    assert_eq!(seqs_of(&b), vec![1, 2, 3]);
    assert_eq!(only_origin(&b), 240);
}

/// The end of the one file's last spooled line (the tests spool one file, one content).
fn only_resume(spool: &Spool) -> u64 {
    assert_eq!(spool.resume.len(), 1, "{:?}", spool.resume);
    spool.resume.values().next().unwrap().end
}

/// The end of the one file's last record in a batch (the tests spool one file, one content).
fn only_origin(b: &ReadBatch) -> u64 {
    assert_eq!(b.origins.len(), 1, "{:?}", b.origins);
    b.origins.values().next().unwrap().end
}

#[tokio::test]
async fn ready_says_whether_durable_records_wait_past_the_reader_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    // 256 KiB: 64 KiB segments, so 1,000 records of ~150 bytes span several.
    let c = cfg(dir.path(), 256 << 10, FullPolicy::Block);
    let mut spool = Spool::open(&c, Position::default()).unwrap();
    assert!(!spool.reader.ready(), "an empty spool");
    write(&mut spool, 1..1001);
    assert!(spool.reader.ready());
    let mut n = 0;
    while spool.reader.ready() {
        let b = spool.reader.next_batch(limits(300)).await.unwrap();
        n += b.events;
        spool.reader.release(b.end);
    }
    assert_eq!(n, 1000, "ready until every record was read");
    write(&mut spool, 1001..1002);
    assert!(spool.reader.ready(), "a new commit");
}

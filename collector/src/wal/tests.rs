//! Unit tests of the WAL: numbering, segments, and what a crash or damage leaves behind.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::log::WRITE_PIECE;
use super::*;

fn opts(segment_bytes: u64) -> WalOptions {
    WalOptions { segment_bytes }
}

fn payload(i: u64) -> Vec<u8> {
    format!("record number {i}").into_bytes()
}

/// Appends records `1..=n` (each synced) and returns the log.
fn write_n(dir: &Path, n: u64, segment_bytes: u64) -> Wal {
    let (mut wal, rec) = Wal::open(dir, opts(segment_bytes)).unwrap();
    let start = rec.last_lsn;
    for i in 1..=n {
        let lsn = wal.append(RecordKind::Events, &payload(start + i)).unwrap();
        assert_eq!(lsn, start + i);
        wal.sync().unwrap();
    }
    wal
}

fn read_all(dir: &Path) -> (Vec<u64>, u64) {
    let mut r = WalReader::new(dir.to_owned(), 1);
    let mut lsns = Vec::new();
    while let Some(rec) = r.next(u64::MAX).unwrap() {
        assert_eq!(rec.payload, payload(rec.lsn), "payload of {}", rec.lsn);
        lsns.push(rec.lsn);
    }
    (lsns, r.skipped())
}

fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    segment::list(dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

/// Byte offset of record `k` (1-based) in a single segment holding `payload(1..)`.
fn offset_of(k: u64) -> u64 {
    let mut off = segment::HEADER_LEN;
    for i in 1..k {
        off += record::encoded_len(payload(i).len()) as u64;
    }
    off
}

#[test]
fn records_come_back_in_order_across_segments_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let wal = write_n(dir.path(), 50, 300);
    assert!(wal.segments() > 5, "only {} segments", wal.segments());
    assert_eq!(wal.durable_lsn(), 50);
    drop(wal);
    let wal = write_n(dir.path(), 10, 300);
    assert_eq!(wal.durable_lsn(), 60);
    let (lsns, skipped) = read_all(dir.path());
    assert_eq!(lsns, (1..=60).collect::<Vec<_>>());
    assert_eq!(skipped, 0);
}

#[test]
fn a_reader_starts_anywhere_and_never_passes_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = write_n(dir.path(), 20, 400);
    let mut r = wal.reader(7);
    let mut got = Vec::new();
    while let Some(rec) = r.next(12).unwrap() {
        got.push(rec.lsn);
    }
    assert_eq!(got, (7..=12).collect::<Vec<_>>());
    // Written but not synced: not handed out even with a higher bound from a stale caller.
    wal.append(RecordKind::Events, &payload(21)).unwrap();
    while let Some(rec) = r.next(20).unwrap() {
        got.push(rec.lsn);
    }
    assert_eq!(*got.last().unwrap(), 20);
    wal.sync().unwrap();
    assert_eq!(r.next(21).unwrap().map(|r| r.lsn), Some(21));
    assert_eq!(r.next(21).unwrap(), None);
}

#[test]
fn torn_record_after_a_crash_is_cut_off_and_numbering_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_n(dir.path(), 3, 1 << 20));
    // A crash in the middle of writing record 4: only part of it reached the disk.
    let mut torn = Vec::new();
    record::encode(&mut torn, 4, RecordKind::Events, &payload(4));
    let seg = &segment_paths(dir.path())[0];
    let before = std::fs::metadata(seg).unwrap().len();
    let mut f = OpenOptions::new().append(true).open(seg).unwrap();
    f.write_all(&torn[..torn.len() - 5]).unwrap();
    drop(f);

    let (mut wal, rec) = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(rec.last_lsn, 3);
    assert!(rec.corrupt.is_empty());
    let (_, at, cut) = rec.truncated_tail.clone().expect("torn tail reported");
    assert_eq!((at, cut), (before, torn.len() as u64 - 5));
    assert_eq!(std::fs::metadata(seg).unwrap().len(), before);
    assert_eq!(wal.append(RecordKind::Events, &payload(4)).unwrap(), 4);
    wal.sync().unwrap();
    assert_eq!(read_all(dir.path()), ((1..=4).collect(), 0));
}

#[test]
fn crc_mismatch_in_the_middle_is_reported_skipped_and_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_n(dir.path(), 5, 1 << 20));
    let seg = &segment_paths(dir.path())[0];
    // Flip one payload byte of record 3: its CRC no longer matches.
    let f = OpenOptions::new().read(true).write(true).open(seg).unwrap();
    let at = offset_of(3) + record::RECORD_HEADER_LEN as u64 + 2;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x40], at).unwrap();
    drop(f);

    let (mut wal, rec) = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(rec.last_lsn, 5);
    assert_eq!(rec.truncated_tail, None);
    assert_eq!(rec.corrupt.len(), 1);
    assert_eq!(rec.corrupt[0].1, offset_of(3));
    assert_eq!(wal.append(RecordKind::Events, &payload(6)).unwrap(), 6);
    wal.sync().unwrap();
    assert_eq!(read_all(dir.path()), (vec![1, 2, 4, 5, 6], 1));
}

#[test]
fn a_record_the_caller_knows_is_handed_out_by_its_header_without_reading_the_payload() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_n(dir.path(), 6, 1 << 20));
    // Record 3's payload is damaged: a whole read would skip it.
    let seg = &segment_paths(dir.path())[0];
    let f = OpenOptions::new().read(true).write(true).open(seg).unwrap();
    let at = offset_of(3) + record::RECORD_HEADER_LEN as u64 + 2;
    f.write_all_at(b"#", at).unwrap();
    drop(f);

    let mut asked = Vec::new();
    let mut r = WalReader::new(dir.path().to_owned(), 2);
    let mut got = Vec::new();
    while let Some(read) = r
        .next_unless_known(5, |head| {
            asked.push(head.lsn);
            (head.lsn % 2 == 1).then_some(head.len)
        })
        .unwrap()
    {
        got.push(match read {
            Read::Known(head, len) => {
                assert_eq!((head.kind, head.len), (RecordKind::Events, len));
                assert_eq!(head.len, payload(head.lsn).len());
                format!("{} known", head.lsn)
            }
            Read::Record(rec) => {
                assert_eq!(rec.payload, payload(rec.lsn));
                format!("{} read", rec.lsn)
            }
        });
    }
    // Only records from the start to the bound are asked about; the damaged one is known, so
    // its payload is never read and nothing is skipped.
    assert_eq!(asked, [2, 3, 4, 5]);
    assert_eq!(got, ["2 read", "3 known", "4 read", "5 known"]);
    assert_eq!(r.skipped(), 0);
    // A whole read of the same log skips it.
    assert_eq!(read_all(dir.path()).1, 1);
}

#[test]
fn a_damaged_length_field_is_skipped_by_finding_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_n(dir.path(), 4, 1 << 20));
    let seg = &segment_paths(dir.path())[0];
    let f = OpenOptions::new().write(true).open(seg).unwrap();
    f.write_all_at(&u32::MAX.to_le_bytes(), offset_of(2) + 4)
        .unwrap();
    drop(f);
    let (_, rec) = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(rec.last_lsn, 4);
    assert_eq!(rec.corrupt.len(), 1);
    assert_eq!(read_all(dir.path()), (vec![1, 3, 4], 1));
}

#[test]
fn a_segment_whose_creation_was_interrupted_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_n(dir.path(), 2, 1 << 20));
    std::fs::write(dir.path().join(segment::name(3)), b"LWA").unwrap();
    let (wal, rec) = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(rec.last_lsn, 2);
    assert_eq!(wal.segments(), 1);
}

#[test]
fn a_segment_of_another_format_version_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    drop(write_n(dir.path(), 1, 1 << 20));
    let seg = &segment_paths(dir.path())[0];
    let f = OpenOptions::new().write(true).open(seg).unwrap();
    f.write_all_at(&9u32.to_le_bytes(), 4).unwrap();
    drop(f);
    let err = Wal::open(dir.path(), opts(1 << 20))
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("version 9") && err.contains(".wal"), "{err}");
}

#[test]
fn an_oversized_payload_is_refused_without_poisoning() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
    let big = vec![0u8; MAX_PAYLOAD + 1];
    assert!(matches!(
        wal.append(RecordKind::Events, &big),
        Err(WalError::TooLarge(_))
    ));
    assert_eq!(wal.append(RecordKind::Events, b"ok").unwrap(), 1);
    // Written in place and found too large only then: taken out of the buffer again, and the
    // records before and after it are whole.
    assert!(matches!(
        wal.append_with(RecordKind::Events, |out| out.resize(out.len() + MAX_PAYLOAD + 1, b'x')),
        Err(WalError::TooLarge(n)) if n == MAX_PAYLOAD + 1
    ));
    assert_eq!(wal.append(RecordKind::Events, b"ok too").unwrap(), 2);
    assert_eq!(wal.sync().unwrap(), 2);
    let mut r = wal.reader(1);
    assert_eq!(r.next(2).unwrap().unwrap().payload, b"ok");
    assert_eq!(r.next(2).unwrap().unwrap().payload, b"ok too");
    assert_eq!(r.next(2).unwrap(), None);
}

#[test]
fn a_payload_written_in_place_makes_the_very_files_a_copied_one_makes() {
    // Small segments, and groups of several records, so that records written in place start
    // new segments in the middle of a group.
    let (copied, in_place) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, _) = Wal::open(copied.path(), opts(300)).unwrap();
    let (mut b, _) = Wal::open(in_place.path(), opts(300)).unwrap();
    for i in 1..=40u64 {
        let p = payload(i);
        assert_eq!(a.append(RecordKind::Events, &p).unwrap(), i);
        let (lsn, len) = b
            .append_with(RecordKind::Events, |out| out.extend_from_slice(&p))
            .unwrap();
        assert_eq!((lsn, len), (i, p.len()));
        if i % 3 == 0 {
            a.sync().unwrap();
            b.sync().unwrap();
        }
    }
    a.sync().unwrap();
    b.sync().unwrap();
    assert!(a.segments() > 5, "only {} segments", a.segments());
    let (pa, pb) = (segment_paths(copied.path()), segment_paths(in_place.path()));
    assert_eq!(pa.len(), pb.len());
    for (x, y) in pa.iter().zip(&pb) {
        assert_eq!(x.file_name(), y.file_name());
        assert_eq!(
            std::fs::read(x).unwrap(),
            std::fs::read(y).unwrap(),
            "{x:?}"
        );
    }
    let (lsns, skipped) = read_all(in_place.path());
    assert_eq!((lsns, skipped), ((1..=40).collect(), 0));
}

#[test]
fn the_released_version_1_format_still_opens_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/wal/testdata/v1/00000000000000000001.wal");
    std::fs::copy(&fixture, dir.path().join(segment::name(1))).unwrap();
    let (mut wal, rec) = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(
        (rec.last_lsn, rec.corrupt.len(), rec.truncated_tail.clone()),
        (3, 0, None)
    );
    let mut r = wal.reader(1);
    let kinds: Vec<(u64, RecordKind)> = std::iter::from_fn(|| r.next(3).unwrap())
        .map(|rec| (rec.lsn, rec.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (1, RecordKind::Events),
            (2, RecordKind::AlertState),
            (3, RecordKind::Events)
        ]
    );
    let mut r = wal.reader(3);
    let third = r.next(3).unwrap().unwrap();
    let event: logwarden_core::Event = serde_json::from_slice(&third.payload).unwrap();
    assert_eq!(event.fields["redundancy_left"], 0);
    assert_eq!(wal.append(RecordKind::Events, b"next").unwrap(), 4);
}

#[test]
fn a_copy_keeps_the_primarys_lsns_through_the_stream_encoding_and_a_reopen() {
    let primary = tempfile::tempdir().unwrap();
    write_n(primary.path(), 5, 1 << 20);
    let mut stream = Vec::new();
    let mut r = WalReader::new(primary.path().to_owned(), 3);
    while let Some(rec) = r.next(5).unwrap() {
        encode_record(&mut stream, &rec);
    }
    let records = decode_stream(&stream).unwrap();
    assert_eq!(records.iter().map(|r| r.lsn).collect::<Vec<_>>(), [3, 4, 5]);
    assert!(decode_stream(&stream[..stream.len() - 1]).unwrap_err() > 0);

    let standby = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(standby.path(), WalOptions::default()).unwrap();
    for rec in &records {
        wal.append_at(rec.lsn, rec.kind, &rec.payload).unwrap();
    }
    assert!(matches!(
        wal.append_at(4, RecordKind::Events, b"late"),
        Err(WalError::OutOfOrder { lsn: 4, next: 6 })
    ));
    assert_eq!(wal.sync().unwrap(), 5);
    drop(wal);
    let (wal, rec) = Wal::open(standby.path(), WalOptions::default()).unwrap();
    assert_eq!(rec.last_lsn, 5);
    let mut r = wal.reader(1);
    let got: Vec<(u64, Vec<u8>)> = std::iter::from_fn(|| r.next(5).unwrap())
        .map(|r| (r.lsn, r.payload))
        .collect();
    assert_eq!(got, (3..=5).map(|i| (i, payload(i))).collect::<Vec<_>>());
}

#[test]
fn event_lines_are_the_non_empty_lines_with_or_without_a_last_newline() {
    fn lines(p: &[u8]) -> Vec<&[u8]> {
        super::event_lines(p).collect()
    }
    assert_eq!(lines(b"a\nbc\n"), vec![&b"a"[..], b"bc"]);
    assert_eq!(lines(b"a\n\n\nbc"), vec![&b"a"[..], b"bc"]);
    assert_eq!(lines(b"\n"), Vec::<&[u8]>::new());
    assert_eq!(lines(b""), Vec::<&[u8]>::new());
}

#[test]
fn a_copy_that_starts_late_or_skips_names_its_segments_by_their_first_record() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    // A standby copying afresh from a primary whose log starts at 500.
    wal.append_at(500, RecordKind::Events, &payload(500))
        .unwrap();
    wal.append_at(501, RecordKind::Events, &payload(501))
        .unwrap();
    // A record the primary skipped (damage): the next one starts a segment.
    wal.append_at(503, RecordKind::Events, &payload(503))
        .unwrap();
    wal.sync().unwrap();
    assert_eq!(first_lsn(dir.path()).unwrap(), Some(500));
    assert_eq!((wal.first_lsn(), wal.segments()), (500, 2));
    drop(wal);
    let (wal, rec) = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!((rec.last_lsn, rec.corrupt.len()), (503, 0));
    assert_eq!(wal.first_lsn(), 500);
    assert_eq!(read_all(dir.path()).0, vec![500, 501, 503]);
}

#[test]
fn one_pass_finds_the_newest_record_of_each_kind_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    let big = vec![b'x'; 300_000];
    // Checkpoint at 2; events filling segments; rules snapshot at 6 and 9; checkpoint at 10.
    let kinds = [
        RecordKind::Events,
        RecordKind::Checkpoint,
        RecordKind::Events,
        RecordKind::Events,
        RecordKind::Events,
        RecordKind::RulesSnapshot,
        RecordKind::Events,
        RecordKind::Events,
        RecordKind::RulesSnapshot,
        RecordKind::Checkpoint,
        RecordKind::Events,
    ];
    for kind in kinds {
        wal.append(kind, &big).unwrap();
        wal.sync().unwrap();
    }
    assert!(wal.segments() >= 3, "{} segments", wal.segments());
    let find = |upto| {
        let [c, r] = newest_of_kinds(
            dir.path(),
            [RecordKind::Checkpoint, RecordKind::RulesSnapshot],
            upto,
        )
        .unwrap();
        (c.map(|r| r.lsn), r.map(|r| r.lsn))
    };
    assert_eq!(find(u64::MAX), (Some(10), Some(9)));
    assert_eq!(find(9), (Some(2), Some(9)));
    assert_eq!(find(8), (Some(2), Some(6)));
    assert_eq!(find(5), (Some(2), None));
    assert_eq!(find(1), (None, None));
}

#[test]
fn a_group_larger_than_one_write_piece_comes_back_whole() {
    // `sync` hands a group to the kernel in pieces of WRITE_PIECE: records that straddle the
    // pieces, and a record larger than a piece, must come back byte for byte.
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), opts(64 << 20)).unwrap();
    let big: Vec<u8> = (0..(2 * WRITE_PIECE + 12_345))
        .map(|i| (i % 251) as u8)
        .collect();
    let mut written = Vec::new();
    for i in 0..40u64 {
        let p = if i == 7 {
            big.clone()
        } else {
            vec![i as u8; WRITE_PIECE / 9 + i as usize]
        };
        wal.append(RecordKind::Events, &p).unwrap();
        written.push(p);
    }
    assert!(
        wal.pending.len() > 3 * WRITE_PIECE,
        "one group over several pieces"
    );
    assert_eq!(wal.sync().unwrap(), 40);
    drop(wal);
    let (wal, rec) = Wal::open(dir.path(), opts(64 << 20)).unwrap();
    assert_eq!((rec.last_lsn, wal.durable_lsn()), (40, 40));
    let mut r = WalReader::new(dir.path().to_owned(), 1);
    let mut n = 0;
    while let Some(got) = r.next(u64::MAX).unwrap() {
        assert_eq!(got.payload, written[n], "payload of record {}", got.lsn);
        n += 1;
    }
    assert_eq!((n, r.skipped()), (40, 0));
}

/// A tmpfs mounted for one test (root only), unmounted when dropped.
pub(crate) struct SmallDisk(pub(crate) PathBuf);

impl SmallDisk {
    /// `None`, said on stdout, where this machine refuses the mount.
    pub(crate) fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(SmallDisk(dir.to_owned())),
            Ok(o) => {
                println!(
                    "SKIPPED: cannot mount a tmpfs here ({}); the full-disk case was not run",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                println!("SKIPPED: cannot run mount ({e}); the full-disk case was not run");
                None
            }
        }
    }

    /// Fills the disk, then frees about `leave` bytes of it again; returns the ballast.
    pub(crate) fn fill_leaving(&self, leave: u64) -> PathBuf {
        let path = self.0.join("ballast");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(leave)).unwrap();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Issue 26 §3: a full disk at every write point of the log (a group's write cut short at any
/// byte, a new segment that cannot be created) fails what was not yet written, poisons
/// nothing, and once the disk has room the log goes on: every record that was synced is read
/// back once, in order, with no gap and no damage, also after a reopen.
#[test]
fn a_full_disk_fails_the_write_without_poisoning_and_the_log_goes_on_once_there_is_room() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&tmp.path().join("disk"), "2m") else {
        return;
    };
    let dir = disk.0.join("wal");
    // Small segments: the disk fills at segment creation too.
    let (mut wal, _) = Wal::open(&dir, opts(24 << 10)).unwrap();
    let mut kept: std::collections::BTreeMap<u64, Vec<u8>> = Default::default();
    let mut unsynced: Vec<(u64, Vec<u8>)> = Vec::new();
    let (mut failed_writes, mut failed_appends) = (0, 0);
    let mut attempt = 0u64;
    // How much room the ballast leaves: nothing, less than a record, a few records, a segment.
    for leave in [700u64, 0, 3_000, 9_000, 30_000, 0, 5_000, 26_000] {
        let ballast = disk.fill_leaving(leave);
        let mut failed = false;
        if leave == 0 {
            // Nothing pending, no room: a record too large for the active segment needs a new
            // one, and creating it fails.
            wal.sync().unwrap();
            let big = vec![b'y'; 30 << 10];
            let e = wal.append(RecordKind::Events, &big).unwrap_err();
            assert!(matches!(e, WalError::Io { .. }), "{e}");
            failed_appends += 1;
            failed = true;
        }
        for i in 0..400u64 {
            if failed {
                break;
            }
            attempt += 1;
            let body = format!("{attempt}:{}", "x".repeat(200 + (i as usize * 37) % 2_500));
            match wal.append(RecordKind::Events, body.as_bytes()) {
                Ok(lsn) => unsynced.push((lsn, body.into_bytes())),
                Err(e) => {
                    assert!(matches!(e, WalError::Io { .. }), "{e}");
                    failed_appends += 1;
                    failed = true;
                }
            }
            if !failed && i % 3 == 2 {
                match wal.sync() {
                    Ok(durable) => {
                        assert_eq!(Some(durable), unsynced.last().map(|r| r.0));
                        kept.extend(unsynced.drain(..));
                    }
                    Err(e) => {
                        assert!(matches!(e, WalError::Io { .. }), "{e}");
                        failed_writes += 1;
                        failed = true;
                    }
                }
            }
            if failed {
                break;
            }
        }
        assert!(failed, "the disk with {leave} bytes left never filled");
        // A segment that could not be created failed after the records before it were
        // synced (they stay); a failed write forgot what it held: the next record takes the
        // first LSN the log does not hold.
        let next = wal.next_lsn();
        kept.extend(unsynced.drain(..).filter(|(lsn, _)| *lsn < next));
        assert_eq!(
            next,
            kept.keys().next_back().map_or(1, |l| l + 1),
            "leave {leave}"
        );
        std::fs::remove_file(ballast).unwrap();
        // Room again: the log goes on, no restart.
        for _ in 0..5 {
            attempt += 1;
            let body = format!("{attempt}:after");
            let lsn = wal.append(RecordKind::Events, body.as_bytes()).unwrap();
            kept.insert(lsn, body.into_bytes());
        }
        wal.sync()
            .expect("the log writes again once the disk has room");
    }
    println!("{failed_writes} writes and {failed_appends} segment creations failed");
    assert!(failed_writes > 0 && failed_appends > 0);
    let read = |dir: &Path| {
        let mut r = WalReader::new(dir.to_owned(), 1);
        let mut got = std::collections::BTreeMap::new();
        while let Some(rec) = r.next(u64::MAX).unwrap() {
            assert!(got.insert(rec.lsn, rec.payload).is_none());
        }
        (got, r.skipped())
    };
    let (got, skipped) = read(&dir);
    assert_eq!(skipped, 0);
    assert!(
        got == kept,
        "{} records read, {} kept",
        got.len(),
        kept.len()
    );
    drop(wal);
    let (_, recovery) = Wal::open(&dir, opts(24 << 10)).unwrap();
    assert!(
        recovery.corrupt.is_empty() && recovery.truncated_tail.is_none(),
        "{recovery:?}"
    );
    assert_eq!(recovery.last_lsn, *kept.keys().next_back().unwrap());
    assert!(read(&dir).0 == kept);
}

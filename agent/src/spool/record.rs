//! One spool record: its byte layout, encoding and decoding (see the layout in `spool/mod.rs`).
//!
//! Decoding never fails on bad bytes: it says what it found ([`Decoded`]), and the caller decides
//! whether that is a torn end (cut it off) or damage in the middle (count it and resync).

use std::path::{Path, PathBuf};

use crate::source::fingerprint::Fingerprint;
use crate::source::{FileKey, Origin};

/// `"LWSR"`: the start of every record, used to find the next record after damage.
pub const MAGIC: [u8; 4] = *b"LWSR";
/// magic, body length, CRC.
pub const HEADER_LEN: usize = 12;
/// A body longer than this is damage, not a record (an event is at most a few hundred KiB).
pub const MAX_BODY: usize = 16 << 20;
/// Fixed part of an origin: dev, ino, fingerprint length and CRC, end offset.
const ORIGIN_FIXED: usize = 8 + 8 + 4 + 4 + 8;

/// A record's origin as it lies in the buffer: [`OriginRef::to_origin`] makes the owned one.
/// The reader meets the same file in record after record; borrowing the path saves it an
/// allocation and a free per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OriginRef<'a> {
    pub file: FileKey,
    pub fp: Fingerprint,
    pub end: u64,
    /// The path's bytes (a journal source's cursor).
    pub path: &'a [u8],
}

impl OriginRef<'_> {
    pub fn to_origin(&self) -> Origin {
        Origin {
            file: self.file,
            fp: self.fp,
            path: path_from_bytes(self.path).into(),
            end: self.end,
        }
    }
}

/// A decoded record, borrowing from the buffer it was read from.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub seq: u64,
    pub origin: Option<OriginRef<'a>>,
    /// The event as one JSON object, without a newline.
    pub event: &'a [u8],
}

/// What the bytes at a position hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole record with a valid CRC, and its encoded length.
    Record(Record<'a>, usize),
    /// The bytes end before the record does: at the end of the newest segment, a write that a
    /// crash interrupted.
    Incomplete,
    /// Not a record (bad magic, impossible length, wrong CRC, unreadable body).
    Damaged,
}

/// Appends one encoded record to `out`.
pub fn encode(out: &mut Vec<u8>, seq: u64, origin: Option<&Origin>, event: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[0; 8]); // length and CRC, filled in below
    let body = out.len();
    out.extend_from_slice(&seq.to_le_bytes());
    match origin {
        None => out.extend_from_slice(&0u16.to_le_bytes()),
        Some(o) => {
            let path = o.path.as_os_str().as_encoded_bytes();
            // Paths longer than what fits are cut: the path is only informative.
            let path = &path[..path.len().min(u16::MAX as usize - ORIGIN_FIXED)];
            out.extend_from_slice(&((ORIGIN_FIXED + path.len()) as u16).to_le_bytes());
            out.extend_from_slice(&o.file.dev.to_le_bytes());
            out.extend_from_slice(&o.file.ino.to_le_bytes());
            out.extend_from_slice(&o.fp.len.to_le_bytes());
            out.extend_from_slice(&o.fp.crc.to_le_bytes());
            out.extend_from_slice(&o.end.to_le_bytes());
            out.extend_from_slice(path);
        }
    }
    out.extend_from_slice(event);
    let len = (out.len() - body) as u32;
    let crc = crc32fast::hash(&out[body..]);
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// Decodes the record at the start of `buf`.
pub fn decode(buf: &[u8]) -> Decoded<'_> {
    if buf.len() < HEADER_LEN {
        // Too short to tell; a prefix of the magic is still a torn record.
        return if MAGIC.starts_with(&buf[..buf.len().min(4)]) {
            Decoded::Incomplete
        } else {
            Decoded::Damaged
        };
    }
    if buf[..4] != MAGIC {
        return Decoded::Damaged;
    }
    let len = u32_at(buf, 4) as usize;
    if !(10..=MAX_BODY).contains(&len) {
        return Decoded::Damaged;
    }
    if buf.len() < HEADER_LEN + len {
        return Decoded::Incomplete;
    }
    let body = &buf[HEADER_LEN..HEADER_LEN + len];
    if crc32fast::hash(body) != u32_at(buf, 8) {
        return Decoded::Damaged;
    }
    let seq = u64_at(body, 0);
    let olen = u16::from_le_bytes([body[8], body[9]]) as usize;
    if 10 + olen > body.len() || (olen != 0 && olen < ORIGIN_FIXED) {
        return Decoded::Damaged;
    }
    let origin = (olen != 0).then(|| {
        let o = &body[10..10 + olen];
        OriginRef {
            file: FileKey {
                dev: u64_at(o, 0),
                ino: u64_at(o, 8),
            },
            fp: Fingerprint {
                len: u32_at(o, 16),
                crc: u32_at(o, 20),
            },
            end: u64_at(o, 24),
            path: &o[ORIGIN_FIXED..],
        }
    });
    Decoded::Record(
        Record {
            seq,
            origin,
            event: &body[10 + olen..],
        },
        HEADER_LEN + len,
    )
}

fn path_from_bytes(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(b)).to_owned()
}

/// The offset of the next valid record after damage at the start of `buf` (searching from
/// byte 1), or `None` when there is none.
pub fn resync(buf: &[u8]) -> Option<usize> {
    let mut from = 1;
    while let Some(i) = memchr::memmem::find(&buf[from.min(buf.len())..], &MAGIC) {
        let at = from + i;
        if let Decoded::Record(..) = decode(&buf[at..]) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            file: FileKey { dev: 8, ino: 1234 },
            fp: Fingerprint { len: 256, crc: 77 },
            path: PathBuf::from("/opt/zimbra/log/mailbox.log").into(),
            end: 4096,
        }
    }

    #[test]
    fn a_record_round_trips_with_and_without_origin() {
        let mut buf = Vec::new();
        encode(&mut buf, 42, Some(&origin()), br#"{"a":1}"#);
        let first = buf.len();
        encode(&mut buf, 43, None, b"{}");
        let Decoded::Record(r, n) = decode(&buf) else {
            panic!("not a record")
        };
        assert_eq!(
            (r.seq, r.origin.map(|o| o.to_origin()), r.event, n),
            (42, Some(origin()), &br#"{"a":1}"#[..], first)
        );
        let Decoded::Record(r, _) = decode(&buf[first..]) else {
            panic!("not a record")
        };
        assert_eq!((r.seq, r.origin, r.event), (43, None, &b"{}"[..]));
    }

    #[test]
    fn every_cut_of_a_record_is_incomplete_and_every_flipped_bit_is_damage() {
        let mut buf = Vec::new();
        encode(&mut buf, 7, Some(&origin()), b"{\"message\":\"x\"}");
        for cut in 0..buf.len() {
            assert_eq!(decode(&buf[..cut]), Decoded::Incomplete, "cut at {cut}");
        }
        for byte in 0..buf.len() {
            let mut bad = buf.clone();
            bad[byte] ^= 0x10;
            assert!(
                matches!(decode(&bad), Decoded::Damaged | Decoded::Incomplete),
                "flip in byte {byte} went unnoticed"
            );
        }
    }

    #[test]
    fn resync_finds_the_next_valid_record_after_garbage() {
        let mut buf = b"garbage LWSR more garbage".to_vec();
        let at = buf.len();
        encode(&mut buf, 9, None, b"{}");
        assert_eq!(decode(&buf), Decoded::Damaged);
        assert_eq!(resync(&buf), Some(at));
        assert_eq!(resync(b"LWSRxxxx"), None);
    }
}

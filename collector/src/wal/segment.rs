//! Segment files: naming, the header, and reading records at a byte offset (layout in the
//! module doc of `wal`).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::WalError;
use super::record::{self, Head, Parsed, RECORD_HEADER_LEN, RECORD_MAGIC, Record};

const SEGMENT_MAGIC: [u8; 4] = *b"LWAL";
const FORMAT_VERSION: u32 = 1;
pub(super) const HEADER_LEN: u64 = 16;
const SUFFIX: &str = ".wal";

pub(super) fn name(first_lsn: u64) -> String {
    format!("{first_lsn:020}{SUFFIX}")
}

/// The segment files of `dir` with their first LSN (from the name), oldest first. Other files
/// are left alone.
pub(super) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| WalError::io(dir, e))? {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else {
            continue;
        };
        if let Ok(first) = stem.parse::<u64>() {
            found.push((first, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Creates segment `first_lsn`: header, fsync, fsync of the directory.
pub(super) fn create(dir: &Path, first_lsn: u64) -> Result<(File, PathBuf), WalError> {
    let path = dir.join(name(first_lsn));
    let io = |e| WalError::io(&path, e);
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .read(true)
        .open(&path)
        .map_err(io)?;
    let mut header = Vec::with_capacity(HEADER_LEN as usize);
    header.extend_from_slice(&SEGMENT_MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&first_lsn.to_le_bytes());
    file.write_all_at(&header, 0).map_err(io)?;
    file.sync_all().map_err(io)?;
    logwarden_core::durable::sync_dir(dir).map_err(|e| WalError::io(dir, e))?;
    // Appends go after the header: reopen in append mode so that writes land at the end.
    Ok((open_append(&path)?, path))
}

pub(super) fn open_append(path: &Path) -> Result<File, WalError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| WalError::io(path, e))
}

/// What a read at an offset found.
pub(super) enum Decoded {
    /// A valid record and the offset after it.
    Record(Record, u64),
    /// Nothing more: the offset is the end of the file.
    End,
    /// Damage or a torn record at the offset.
    Bad,
}

/// What a header read at an offset found.
pub(super) enum Headed {
    /// A record header and the offset after the whole record.
    Head(RawHead, u64),
    /// Nothing more: the offset is the end of the file.
    End,
    /// Damage or a torn record at the offset.
    Bad,
}

/// A record header as read from a segment, and where it is.
pub(super) struct RawHead {
    header: [u8; RECORD_HEADER_LEN],
    pos: u64,
}

impl RawHead {
    pub fn head(&self) -> Head {
        record::head(&self.header)
    }
}

/// A segment opened for reading.
pub(super) struct SegmentFile {
    path: PathBuf,
    file: File,
    pub first_lsn: u64,
    /// The file's length when opened or last refreshed.
    pub len: u64,
}

impl SegmentFile {
    pub fn open(path: &Path) -> Result<SegmentFile, WalError> {
        let file = File::open(path).map_err(|e| WalError::io(path, e))?;
        let len = file.metadata().map_err(|e| WalError::io(path, e))?.len();
        let bad = |reason: String| WalError::BadSegment {
            path: path.to_owned(),
            reason,
        };
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut header, 0).map_err(|_| {
            bad(format!(
                "{len} bytes, shorter than the {HEADER_LEN}-byte header"
            ))
        })?;
        if header[0..4] != SEGMENT_MAGIC {
            return Err(bad("wrong magic: not a logwarden WAL segment".into()));
        }
        let version = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {version}; this build reads version {FORMAT_VERSION}"
            )));
        }
        let first_lsn = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
        Ok(SegmentFile {
            path: path.to_owned(),
            file,
            first_lsn,
            len,
        })
    }

    pub fn refresh_len(&mut self) -> Result<(), WalError> {
        self.len = self
            .file
            .metadata()
            .map_err(|e| WalError::io(&self.path, e))?
            .len();
        Ok(())
    }

    /// Reads the record at `pos` (header first, then exactly its payload).
    pub fn decode_at(&self, pos: u64) -> Result<Decoded, WalError> {
        self.read_on(self.head_at(pos)?)
    }

    /// Reads the header of the record at `pos`: its magic and length are checked, and the
    /// record must end within the file; the CRC is checked when the payload is read.
    pub fn head_at(&self, pos: u64) -> Result<Headed, WalError> {
        if pos >= self.len {
            return Ok(Headed::End);
        }
        if self.len - pos < RECORD_HEADER_LEN as u64 {
            return Ok(Headed::Bad);
        }
        let mut header = [0u8; RECORD_HEADER_LEN];
        self.read_at(&mut header, pos)?;
        let len = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")) as u64;
        let total = RECORD_HEADER_LEN as u64 + len;
        if header[0..4] != RECORD_MAGIC
            || len > record::MAX_PAYLOAD as u64
            || self.len - pos < total
        {
            return Ok(Headed::Bad);
        }
        Ok(Headed::Head(RawHead { header, pos }, pos + total))
    }

    /// Reads on from what [`head_at`](Self::head_at) found: a record's payload, whose CRC is
    /// then checked (a mismatch is damage, `Bad`), or the end or damage as it was.
    pub fn read_on(&self, headed: Headed) -> Result<Decoded, WalError> {
        let (raw, next) = match headed {
            Headed::Head(raw, next) => (raw, next),
            Headed::End => return Ok(Decoded::End),
            Headed::Bad => return Ok(Decoded::Bad),
        };
        let mut payload = vec![0u8; raw.head().len];
        self.read_at(&mut payload, raw.pos + RECORD_HEADER_LEN as u64)?;
        Ok(match record::from_parts(&raw.header, payload) {
            Some(rec) => Decoded::Record(rec, next),
            None => Decoded::Bad,
        })
    }

    /// Finds the first offset at or after `from` where a valid record starts, if any. Only used
    /// after damage, so it reads the rest of the segment into memory and scans it.
    pub fn resync(&self, from: u64) -> Result<Option<u64>, WalError> {
        if from >= self.len {
            return Ok(None);
        }
        let mut rest = vec![0u8; (self.len - from) as usize];
        self.read_at(&mut rest, from)?;
        let mut at = 0;
        while let Some(i) = find(&rest[at..], &RECORD_MAGIC) {
            let start = at + i;
            if let Parsed::Record(..) = record::parse(&rest[start..]) {
                return Ok(Some(from + start as u64));
            }
            at = start + 1;
        }
        Ok(None)
    }

    /// Cuts the file at `len` and makes that durable.
    pub fn truncate(&self, len: u64) -> Result<(), WalError> {
        let io = |e| WalError::io(&self.path, e);
        let file = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(io)?;
        file.set_len(len).map_err(io)?;
        file.sync_all().map_err(io)
    }

    fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<(), WalError> {
        self.file
            .read_exact_at(buf, pos)
            .map_err(|e| WalError::io(&self.path, e))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

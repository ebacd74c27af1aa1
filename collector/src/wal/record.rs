//! One WAL record: its kinds and its byte encoding (layout in the module doc of `wal`).

/// Marks the start of every record, so that a reader can find the next one after damage.
pub(super) const RECORD_MAGIC: [u8; 4] = *b"LWRE";
/// Bytes before the payload: magic, length, CRC, LSN, kind.
pub(super) const RECORD_HEADER_LEN: usize = 21;
/// The largest payload a record may carry (64 MiB). A length field above it is damage.
pub const MAX_PAYLOAD: usize = 64 << 20;

/// What a record holds. The numbers are part of the on-disk format: never reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A batch of accepted events, as NDJSON with `received` set, duplicates already removed.
    Events,
    /// Alert state changes (reserved for the alerting work).
    AlertState,
    /// A change of the collector's epoch (reserved for the failover work).
    Epoch,
    /// The committer's state (deduplication set, epoch history) as of this LSN, so that a start
    /// reads the log from here instead of from its beginning (`checkpoint.rs`).
    Checkpoint,
    /// The rules engine's state (alert table, rule windows, heartbeats) as of the LSN the
    /// payload names, so that the engine's start replays from there (`rules/snapshot.rs`).
    RulesSnapshot,
    /// A host retired with `logwarden fleet forget` (`fleet/forget.rs`): the fleet view and the
    /// rules drop it until it reports again.
    HostForgotten,
    /// A kind written by a newer version: kept and skipped by this one.
    Unknown(u8),
}

impl RecordKind {
    pub fn to_byte(self) -> u8 {
        match self {
            RecordKind::Events => 1,
            RecordKind::AlertState => 2,
            RecordKind::Epoch => 3,
            RecordKind::Checkpoint => 4,
            RecordKind::RulesSnapshot => 5,
            RecordKind::HostForgotten => 6,
            RecordKind::Unknown(b) => b,
        }
    }

    pub fn from_byte(b: u8) -> RecordKind {
        match b {
            1 => RecordKind::Events,
            2 => RecordKind::AlertState,
            3 => RecordKind::Epoch,
            4 => RecordKind::Checkpoint,
            5 => RecordKind::RulesSnapshot,
            6 => RecordKind::HostForgotten,
            other => RecordKind::Unknown(other),
        }
    }
}

/// A record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub lsn: u64,
    pub kind: RecordKind,
    pub payload: Vec<u8>,
}

/// What a record's header says, before its payload is read (and its CRC checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub lsn: u64,
    pub kind: RecordKind,
    /// The payload's length in bytes.
    pub len: usize,
}

impl Record {
    pub fn head(&self) -> Head {
        Head {
            lsn: self.lsn,
            kind: self.kind,
            len: self.payload.len(),
        }
    }
}

/// The header fields of an encoded header (magic and length checked by the caller).
pub(super) fn head(header: &[u8; RECORD_HEADER_LEN]) -> Head {
    Head {
        lsn: u64::from_le_bytes(header[12..20].try_into().expect("8 bytes")),
        kind: RecordKind::from_byte(header[20]),
        len: u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")) as usize,
    }
}

pub(super) fn encoded_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len
}

/// The CRC covers the length, so that a damaged length is caught, and everything after the CRC
/// (`after_crc` may come in pieces: the rest of the header, then the payload).
pub(super) fn crc(len: [u8; 4], after_crc: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    for part in after_crc {
        h.update(part);
    }
    h.finalize()
}

/// The events of an `Events` record: its payload is NDJSON, one event per non-empty line.
pub fn event_lines(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', payload).chain(std::iter::once(payload.len()));
    std::iter::from_fn(move || {
        loop {
            let end = ends.next()?;
            let line = &payload[start.min(end)..end];
            start = end + 1;
            if !line.is_empty() {
                return Some(line);
            }
        }
    })
}

/// Writes an event's JSON object as the WAL keeps it: `object` (one accepted event, exactly as
/// ingest parsed it, without a `received` key) with `"received":` and `received_json` (a
/// serialized timestamp) put first. Writing the bytes that were parsed, instead of serializing
/// the parsed event again, saved most of the WAL committer's CPU; every reader of the WAL parses
/// the line with the same `Event` rules that accepted it.
pub fn write_received(out: &mut Vec<u8>, object: &[u8], received_json: &[u8]) {
    debug_assert_eq!(object.first(), Some(&b'{'));
    out.extend_from_slice(b"{\"received\":");
    out.extend_from_slice(received_json);
    out.push(b',');
    out.extend_from_slice(&object[1..]);
}

pub(super) fn encode(out: &mut Vec<u8>, lsn: u64, kind: RecordKind, payload: &[u8]) {
    let start = out.len();
    out.resize(start + RECORD_HEADER_LEN, 0);
    out.extend_from_slice(payload);
    seal(&mut out[start..], lsn, kind);
}

/// Fills in the header of `rec`: [`RECORD_HEADER_LEN`] bytes (their content does not matter)
/// followed by the payload, which is all the rest of `rec` (at most [`MAX_PAYLOAD`] bytes).
pub(super) fn seal(rec: &mut [u8], lsn: u64, kind: RecordKind) {
    let payload_len = rec.len() - RECORD_HEADER_LEN;
    debug_assert!(payload_len <= MAX_PAYLOAD);
    let len = (payload_len as u32).to_le_bytes();
    rec[..4].copy_from_slice(&RECORD_MAGIC);
    rec[4..8].copy_from_slice(&len);
    rec[12..20].copy_from_slice(&lsn.to_le_bytes());
    rec[20] = kind.to_byte();
    let sum = crc(len, &[&rec[12..]]);
    rec[8..12].copy_from_slice(&sum.to_le_bytes());
}

/// What the first bytes of `buf` hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A valid record and its encoded length.
    Record(Record, usize),
    /// `buf` ends before the record does.
    Short,
    /// Not a valid record: wrong magic, impossible length or a CRC mismatch.
    Bad,
}

pub fn parse(buf: &[u8]) -> Parsed {
    if buf.len() < RECORD_HEADER_LEN {
        return Parsed::Short;
    }
    if buf[0..4] != RECORD_MAGIC {
        return Parsed::Bad;
    }
    let len_bytes: [u8; 4] = buf[4..8].try_into().expect("4 bytes");
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len > MAX_PAYLOAD {
        return Parsed::Bad;
    }
    let total = RECORD_HEADER_LEN + len;
    if buf.len() < total {
        return Parsed::Short;
    }
    let header: &[u8; RECORD_HEADER_LEN] = buf[..RECORD_HEADER_LEN].try_into().expect("checked");
    match from_parts(header, buf[RECORD_HEADER_LEN..total].to_vec()) {
        Some(record) => Parsed::Record(record, total),
        None => Parsed::Bad,
    }
}

/// The record of a header (whose magic and length were checked) and its payload, if the CRC
/// matches. Readers of big records read the payload straight into its own buffer, instead of
/// reading the whole record and copying the payload out of it.
pub(super) fn from_parts(header: &[u8; RECORD_HEADER_LEN], payload: Vec<u8>) -> Option<Record> {
    let len_bytes: [u8; 4] = header[4..8].try_into().expect("4 bytes");
    let want = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if u32::from_le_bytes(len_bytes) as usize != payload.len()
        || crc(len_bytes, &[&header[12..], &payload]) != want
    {
        return None;
    }
    let Head { lsn, kind, .. } = head(header);
    Some(Record { lsn, kind, payload })
}

/// Encodes one record as it is on disk: the replication stream uses the same bytes, so the CRC
/// travels with the record and is checked again at the standby.
pub fn encode_record(out: &mut Vec<u8>, rec: &Record) {
    encode(out, rec.lsn, rec.kind, &rec.payload);
}

/// Decodes back-to-back records from a replication answer. `Err` names the offset of the first
/// record that is damaged or cut short: the whole answer is then refused and asked for again.
pub fn decode_stream(mut buf: &[u8]) -> Result<Vec<Record>, usize> {
    let mut out = Vec::new();
    let mut offset = 0;
    while !buf.is_empty() {
        match parse(buf) {
            Parsed::Record(rec, len) => {
                out.push(rec);
                buf = &buf[len..];
                offset += len;
            }
            Parsed::Short | Parsed::Bad => return Err(offset),
        }
    }
    Ok(out)
}

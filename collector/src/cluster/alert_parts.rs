//! A write of the alert state larger than one NATS message (the server's `max_payload`, 1 MiB
//! by default): a busy engine's snapshot (many alerts and silences, a long notification log)
//! or a large batch of changes. It is stored as consecutive messages, its parts, and read
//! back whole only when every part is there and the whole checks out.
//!
//! # Layout (version 1)
//!
//! A write that fits in one message is one message, as before parts existed (no header below).
//! A larger one is `n` messages with the same `Logwarden-State` kind, each with:
//!
//! - `Logwarden-Part: <i>/<n>`: its place, from 1;
//! - `Logwarden-Whole: 1:<bytes>:<crc32>`: the layout version, the length of the whole payload
//!   and its CRC-32 (hex), the same on every part.
//!
//! The parts are consecutive in the stream: every write is fenced by
//! `Nats-Expected-Last-Sequence` (`alert_state.rs`), so nothing comes between two parts of one
//! write. A leader killed between two parts leaves a prefix, which no reader takes: the next
//! message (another leader's first write, or a new part 1) abandons it ([`Assembler`]).
//!
//! A reader takes the whole when part `n` arrives right after part `n - 1`, with the length
//! and CRC-32 of its header; a whole whose check fails is damaged (an error: a reader never
//! guesses at the state).

use async_nats::HeaderMap;

/// Each part's place.
pub const PART_HEADER: &str = "Logwarden-Part";
/// The whole payload's layout version, length and checksum.
pub const WHOLE_HEADER: &str = "Logwarden-Whole";
/// The version of this layout.
const VERSION: u32 = 1;
/// Room left in a message for its headers.
const HEADROOM: usize = 4096;
/// The smallest part (a server configured below this gets messages of this size, and refuses
/// them with a clear error).
const MIN_PART: usize = 1024;

/// The largest part for a server whose `max_payload` (headers included) is `max_payload`.
pub fn part_size(max_payload: usize) -> usize {
    max_payload.saturating_sub(HEADROOM).max(MIN_PART)
}

/// The parts of `payload`, each with its headers (beside `Logwarden-State`); one part without
/// headers when it fits in `size`.
pub fn split(payload: &[u8], size: usize) -> Vec<(HeaderMap, &[u8])> {
    if payload.len() <= size {
        return vec![(HeaderMap::new(), payload)];
    }
    let whole = format!(
        "{VERSION}:{}:{:08x}",
        payload.len(),
        crc32fast::hash(payload)
    );
    let n = payload.len().div_ceil(size);
    payload
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let mut h = HeaderMap::new();
            h.insert(PART_HEADER, format!("{}/{n}", i + 1).as_str());
            h.insert(WHOLE_HEADER, whole.as_str());
            (h, chunk)
        })
        .collect()
}

/// What a message of the stream gave the [`Assembler`].
#[derive(Debug, PartialEq)]
pub enum Fed {
    /// A whole write: its kind and payload.
    Whole(String, Vec<u8>),
    /// A part; the rest is to come.
    More,
}

/// A write whose parts are being read.
struct Open {
    kind: String,
    /// The next part expected, from 1.
    next: usize,
    count: usize,
    /// The stream sequence of the last part read.
    seq: u64,
    whole: String,
    bytes: Vec<u8>,
}

/// Puts the parts of the stream's writes back together, in stream order.
#[derive(Default)]
pub struct Assembler {
    open: Option<Open>,
}

impl Assembler {
    /// Takes the message at `seq` of kind `kind`. `Err` when a whole write is damaged (its
    /// parts are there but not what their header says) or a part header is unreadable.
    pub fn feed(
        &mut self,
        seq: u64,
        kind: &str,
        headers: &HeaderMap,
        payload: &[u8],
    ) -> Result<Fed, String> {
        let Some(part) = headers.get(PART_HEADER) else {
            self.abandon(seq);
            return Ok(Fed::Whole(kind.to_owned(), payload.to_vec()));
        };
        let (i, n) = place(part.as_str()).ok_or_else(|| {
            format!(
                "message {seq}: unreadable {PART_HEADER} {:?}",
                part.as_str()
            )
        })?;
        let whole = headers
            .get(WHOLE_HEADER)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let follows = self.open.as_ref().is_some_and(|o| {
            o.next == i && o.count == n && o.seq + 1 == seq && o.kind == kind && o.whole == whole
        });
        if !follows {
            self.abandon(seq);
            if i != 1 {
                // The start of this write was removed (a snapshot after it was stored and
                // the older messages purged while this reader read): not part of the state.
                tracing::warn!(
                    seq,
                    part = part.as_str(),
                    "cluster: a part of an alert state write without the parts before it; skipped"
                );
                return Ok(Fed::More);
            }
            self.open = Some(Open {
                kind: kind.to_owned(),
                next: 1,
                count: n,
                seq,
                whole: whole.clone(),
                bytes: Vec::new(),
            });
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(Fed::More);
        };
        open.bytes.extend_from_slice(payload);
        open.next = i + 1;
        open.seq = seq;
        if i < n {
            return Ok(Fed::More);
        }
        let Some(open) = self.open.take() else {
            return Ok(Fed::More);
        };
        check(&open.whole, &open.bytes)
            .map_err(|e| format!("the write ending at message {seq}: {e}"))?;
        Ok(Fed::Whole(open.kind, open.bytes))
    }

    /// The end of the stream: a write still open there was cut short.
    pub fn finish(&mut self, last: u64) {
        self.abandon(last + 1);
    }

    fn abandon(&mut self, at: u64) {
        if let Some(o) = self.open.take() {
            tracing::warn!(
                kind = %o.kind,
                parts = o.next - 1,
                of = o.count,
                at,
                "cluster: an alert state write cut short (its leader stopped while writing it); not part of the state"
            );
        }
    }
}

/// `i/n` with `1 <= i <= n`.
fn place(s: &str) -> Option<(usize, usize)> {
    let (i, n) = s.split_once('/')?;
    let (i, n) = (i.parse().ok()?, n.parse().ok()?);
    (1 <= i && i <= n).then_some((i, n))
}

/// Checks `bytes` against a `Logwarden-Whole` header.
fn check(whole: &str, bytes: &[u8]) -> Result<(), String> {
    let mut f = whole.split(':');
    let (Some(v), Some(len), Some(crc), None) = (f.next(), f.next(), f.next(), f.next()) else {
        return Err(format!("unreadable {WHOLE_HEADER} {whole:?}"));
    };
    if v != VERSION.to_string() {
        return Err(format!(
            "{WHOLE_HEADER} version {v}, this collector reads {VERSION}"
        ));
    }
    let crc_now = format!("{:08x}", crc32fast::hash(bytes));
    if len != bytes.len().to_string() || crc != crc_now {
        return Err(format!(
            "damaged: {len} bytes with CRC-32 {crc} expected, {} bytes with {crc_now} read",
            bytes.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    /// Feeds `messages` (kind, headers, payload) from sequence `first`; the wholes read.
    fn read(
        first: u64,
        messages: &[(String, HeaderMap, Vec<u8>)],
    ) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut a = Assembler::default();
        let mut out = Vec::new();
        for (k, (kind, h, p)) in messages.iter().enumerate() {
            if let Fed::Whole(kind, bytes) = a.feed(first + k as u64, kind, h, p)? {
                out.push((kind, bytes));
            }
        }
        a.finish(first + messages.len() as u64);
        Ok(out)
    }

    fn parts_of(kind: &str, payload: &[u8], size: usize) -> Vec<(String, HeaderMap, Vec<u8>)> {
        split(payload, size)
            .into_iter()
            .map(|(h, b)| (kind.to_owned(), h, b.to_vec()))
            .collect()
    }

    #[test]
    fn a_write_that_fits_is_one_message_without_part_headers() {
        let parts = split(b"small", 1024);
        assert_eq!(parts.len(), 1);
        assert!(parts[0].0.get(PART_HEADER).is_none());
        assert_eq!(part_size(1024 * 1024), 1024 * 1024 - HEADROOM);
        assert_eq!(part_size(0), MIN_PART);
    }

    /// Seeded writes of random sizes, some cut short at a random part as a leader killed
    /// while writing leaves them: exactly the whole writes come back, in order. Replay one
    /// seed with `LOGWARDEN_SEED=<n>`.
    #[test]
    fn whole_writes_come_back_and_writes_cut_short_are_left_out() {
        let seeds: Vec<u64> = match std::env::var("LOGWARDEN_SEED") {
            Ok(s) => vec![s.parse().expect("LOGWARDEN_SEED is a number")],
            Err(_) => (0..200).collect(),
        };
        for seed in seeds {
            let mut rng = StdRng::seed_from_u64(seed);
            let size = rng.random_range(1024..4096);
            let (mut stream, mut expected) = (Vec::new(), Vec::new());
            for w in 0..rng.random_range(1..12) {
                let len = rng.random_range(0..size * 5);
                let payload: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                let kind = if w % 3 == 0 { "snapshot" } else { "changes" };
                let mut parts = parts_of(kind, &payload, size);
                if parts.len() > 1 && rng.random_bool(0.3) {
                    parts.truncate(rng.random_range(1..parts.len()));
                } else {
                    expected.push((kind.to_owned(), payload));
                }
                stream.extend(parts);
            }
            let first = rng.random_range(1..1000);
            assert_eq!(
                read(first, &stream).unwrap_or_else(|e| panic!("seed {seed}: {e}")),
                expected,
                "seed {seed}"
            );
        }
    }

    #[test]
    fn a_damaged_whole_is_an_error_and_a_part_without_its_start_is_skipped() {
        let payload: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let mut parts = parts_of("snapshot", &payload, 1024);
        parts[2].2[10] ^= 1;
        let e = read(1, &parts).expect_err("a damaged write is refused");
        assert!(e.contains("damaged"), "{e}");

        // The first two parts purged while a reader read: the rest is not taken.
        let parts = parts_of("snapshot", &payload, 1024);
        assert_eq!(read(3, &parts[2..]).expect("skipped"), vec![]);
        // A gap in the sequence is not a whole either.
        let mut a = Assembler::default();
        let (h1, h2) = (&parts[0].1, &parts[1].1);
        assert_eq!(a.feed(1, "snapshot", h1, &parts[0].2), Ok(Fed::More));
        assert_eq!(a.feed(3, "snapshot", h2, &parts[1].2), Ok(Fed::More));
        assert!(a.open.is_none());
    }
}

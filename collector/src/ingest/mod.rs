//! Ingest: turning the body of `POST /api/v1/ingest` into checked events, ready for the WAL's
//! committer (`wal/commit`), which makes them durable; and the checks on room (`SpaceLimits`)
//! and memory (`budget.rs`) that a request passes first.
//!
//! A request is judged line by line: a bad line is rejected with its index and reason and never
//! sinks the others. Only limits on the whole request (its size, compressed or not, and its
//! number of lines) refuse the request as a whole, with 413 and the limit named.

pub mod budget;

use std::io::Read;

use bytes::Bytes;

use logwarden_core::Event;
use logwarden_core::wire::Rejected;

/// Limits on what one ingest request may carry.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Body as sent (compressed or not).
    pub max_body_bytes: usize,
    /// Body once decompressed: guards against compression bombs.
    pub max_decoded_bytes: usize,
    /// One NDJSON line.
    pub max_line_bytes: usize,
    /// Lines in one request.
    pub max_lines: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 16 << 20,
            max_decoded_bytes: 64 << 20,
            max_line_bytes: 2 << 20,
            max_lines: 100_000,
        }
    }
}

/// Limits on the space the collector may fill: past them ingest answers 429 and agents keep
/// their data until there is room again, instead of the collector failing a write.
#[derive(Debug, Clone, Default)]
pub struct SpaceLimits {
    /// Most bytes the WAL may hold (0: no limit).
    pub max_wal_bytes: u64,
    /// Least free space left on the data directory's file system.
    pub min_free_bytes: u64,
    /// Most bytes of events durable but not yet indexed (0: no limit; `wal/backlog.rs`).
    pub max_index_backlog_bytes: u64,
}

impl SpaceLimits {
    /// `Err` with the reason when a new batch must wait.
    pub fn check(
        &self,
        wal: &crate::wal::WalStats,
        data_dir: &std::path::Path,
    ) -> Result<(), String> {
        let wal_bytes = wal.bytes.load(std::sync::atomic::Ordering::Relaxed);
        if self.max_wal_bytes > 0 && wal_bytes >= self.max_wal_bytes {
            return Err(format!(
                "the WAL holds {wal_bytes} bytes, at its limit of {} ([wal] max_bytes); retry later",
                self.max_wal_bytes
            ));
        }
        let backlog = wal.backlog.bytes();
        if self.max_index_backlog_bytes > 0 && backlog >= self.max_index_backlog_bytes {
            return Err(format!(
                "the index trails the WAL by {backlog} bytes of events, at its limit of {} ([index] max_backlog_mb); retry later",
                self.max_index_backlog_bytes
            ));
        }
        if self.min_free_bytes > 0 {
            match rustix::fs::statvfs(data_dir) {
                Ok(st) => {
                    let free = st.f_bavail.saturating_mul(st.f_frsize);
                    if free < self.min_free_bytes {
                        return Err(format!(
                            "the disk of {} has {free} bytes free, under the {} kept free ([wal] min_free_bytes); retry later",
                            data_dir.display(),
                            self.min_free_bytes
                        ));
                    }
                }
                Err(e) => {
                    tracing::warn!(dir = %data_dir.display(), error = %e, "cannot measure free space")
                }
            }
        }
        Ok(())
    }
}

/// Why a whole request is refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Over one of the [`Limits`] on the whole request (answered 413).
    #[error("{what} is over the limit of {limit}")]
    TooLarge { what: &'static str, limit: usize },
    /// A `Content-Encoding` other than zstd, gzip or identity (415).
    #[error("content-encoding {0:?} is not supported; use zstd, gzip or none")]
    UnsupportedEncoding(String),
    /// The body does not decompress (400).
    #[error("body is not valid {encoding}: {reason}")]
    BadCompression {
        encoding: &'static str,
        reason: String,
    },
    /// The memory budget of all requests is spent (503, retry).
    #[error(transparent)]
    Busy(#[from] budget::Spent),
}

/// The largest zstd window a body may use (8 MiB; agents compress at level 1, with a window of
/// at most 512 KiB). A frame asking for more is refused (400) before any of it is allocated.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// Decompresses a body according to its `Content-Encoding`, within the limits.
pub fn decode_body(
    encoding: Option<&str>,
    body: Bytes,
    limits: &Limits,
) -> Result<Bytes, IngestError> {
    decode_body_within(encoding, body, limits, None)
}

/// As [`decode_body`], growing `reservation` (the memory budget, `budget.rs`) before the
/// decompressed buffer grows.
pub fn decode_body_within(
    encoding: Option<&str>,
    body: Bytes,
    limits: &Limits,
    mut reservation: Option<&mut budget::Reservation>,
) -> Result<Bytes, IngestError> {
    if body.len() > limits.max_body_bytes {
        return Err(IngestError::TooLarge {
            what: "request body",
            limit: limits.max_body_bytes,
        });
    }
    let encoding = encoding.map(|e| e.trim().to_ascii_lowercase());
    // What the request holds besides its decompressed buffer: the body, and a zstd window.
    let mut base = body.len();
    let (name, reader): (&'static str, Box<dyn Read + '_>) = match encoding.as_deref() {
        // Plain NDJSON, by far the most common, is used as it came: no copy of the body.
        None | Some("") | Some("identity") => return Ok(body),
        Some("zstd") => {
            let bad = |e: std::io::Error| IngestError::BadCompression {
                encoding: "zstd",
                reason: e.to_string(),
            };
            // The decoder allocates the window a frame declares (up to 128 MiB by default):
            // bounded here, and held in the budget while it decodes.
            base += 1 << ZSTD_WINDOW_LOG_MAX;
            if let Some(r) = reservation.as_deref_mut() {
                r.grow_to(base)?;
            }
            let mut d = zstd::stream::read::Decoder::new(&body[..]).map_err(bad)?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(bad)?;
            ("zstd", Box::new(d))
        }
        Some("gzip") | Some("x-gzip") => {
            ("gzip", Box::new(flate2::read::GzDecoder::new(&body[..])))
        }
        Some(other) => return Err(IngestError::UnsupportedEncoding(other.to_owned())),
    };
    let bad = |e: std::io::Error| IngestError::BadCompression {
        encoding: name,
        reason: e.to_string(),
    };
    let mut reader = reader.take(limits.max_decoded_bytes as u64 + 1);
    let mut out: Vec<u8> = Vec::new();
    // Grown by hand, reserving first: the buffer never holds more than the budget granted.
    let mut want = (body.len() * 4).clamp(64 << 10, limits.max_decoded_bytes + 1);
    loop {
        if out.len() == out.capacity() {
            if let Some(r) = reservation.as_deref_mut() {
                r.grow_to(base + want)?;
            }
            out.reserve_exact(want - out.len());
            want = (want * 2)
                .min(limits.max_decoded_bytes + 1)
                .max(out.len() + 1);
        }
        let start = out.len();
        let room = out.capacity() - start;
        out.resize(start + room, 0);
        let n = loop {
            match reader.read(&mut out[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(bad(e)),
            }
        };
        out.truncate(start + n);
        if n == 0 {
            break;
        }
    }
    if out.len() > limits.max_decoded_bytes {
        return Err(IngestError::TooLarge {
            what: "decompressed request body",
            limit: limits.max_decoded_bytes,
        });
    }
    Ok(out.into())
}

/// The events of a request that passed every check, with their line indexes, and the lines
/// that did not.
#[derive(Debug, Default)]
pub struct Checked {
    pub events: Vec<Event>,
    /// `lines[i]` is the index of `events[i]` among the request's non-empty lines.
    pub lines: Vec<usize>,
    /// `spans[i]`: where `events[i]`'s own JSON object is in the body, when the WAL can take it
    /// as it came (see [`crate::wal::write_received`]); `None` when it must be written again (it carried a
    /// `received` of its own, which the collector replaces).
    pub spans: Vec<Option<std::ops::Range<usize>>>,
    pub rejected: Vec<Rejected>,
}

/// Whether a line might hold a `received` key, even one set to `null` (which parses as no
/// value, but would make the key appear twice once the collector's own is put first, and a line
/// with a duplicate key is unreadable). A key spelt with escapes (`"rec\u0065ived"`) needs a
/// `\u` in the line. A false alarm only costs the line being serialized again.
fn may_name_received(line: &[u8]) -> bool {
    memchr::memmem::find(line, b"received").is_some()
        || memchr::memmem::find(line, br"\u").is_some()
}

/// Parses and validates each non-empty NDJSON line.
pub fn check_lines(body: &[u8], limits: &Limits) -> Result<Checked, IngestError> {
    // Sized once: grown line by line, the events of a 10,000-line request were moved into a
    // larger vector about fourteen times.
    let most = (memchr::memchr_iter(b'\n', body).count() + 1).min(limits.max_lines);
    let mut checked = Checked {
        events: Vec::with_capacity(most),
        lines: Vec::with_capacity(most),
        spans: Vec::with_capacity(most),
        rejected: Vec::new(),
    };
    let lines = body
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii())
        .filter(|l| !l.is_empty());
    for (index, line) in lines.enumerate() {
        if index >= limits.max_lines {
            return Err(IngestError::TooLarge {
                what: "number of lines in the request",
                limit: limits.max_lines,
            });
        }
        let reject = |reason: String| Rejected { index, reason };
        if line.len() > limits.max_line_bytes {
            checked.rejected.push(reject(format!(
                "line is {} bytes, over the limit of {} bytes",
                line.len(),
                limits.max_line_bytes
            )));
            continue;
        }
        let mut event: Event = match serde_json::from_slice(line) {
            Ok(e) => e,
            Err(e) => {
                checked
                    .rejected
                    .push(reject(format!("not a valid event: {e}")));
                continue;
            }
        };
        if let Err(e) = event.validate() {
            checked.rejected.push(reject(e.to_string()));
            continue;
        }
        // The collector says when it received it; a line without a `received` key of its own
        // can be written to the WAL as it is (JSON whitespace cannot hold a newline, so the
        // object is the whole trimmed line).
        let had_received = event.received.take().is_some();
        let as_is = !had_received && line.first() == Some(&b'{') && !may_name_received(line);
        let start = line.as_ptr() as usize - body.as_ptr() as usize;
        checked.spans.push(as_is.then(|| start..start + line.len()));
        checked.events.push(event);
        checked.lines.push(index);
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::write_received;

    const GOOD: &str =
        r#"{"id":"a:1","ts":"2026-01-01T00:00:00Z","host":"h","source":"s","message":"m"}"#;

    #[test]
    fn new_events_wait_while_the_index_trails_by_its_limit_and_go_on_once_it_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        let limits = SpaceLimits {
            max_wal_bytes: 0,
            min_free_bytes: 0,
            max_index_backlog_bytes: 1000,
        };
        let wal = crate::wal::WalStats::default();
        wal.backlog.written(1, 999);
        assert!(limits.check(&wal, dir.path()).is_ok());
        wal.backlog.written(2, 1);
        let why = limits.check(&wal, dir.path()).unwrap_err();
        assert!(why.contains("[index] max_backlog_mb"), "{why}");
        assert!(why.contains("1000 bytes"), "{why}");
        wal.backlog.indexed_through(1);
        assert!(limits.check(&wal, dir.path()).is_ok());
        let unbounded = SpaceLimits {
            max_index_backlog_bytes: 0,
            ..limits
        };
        wal.backlog.written(3, 1 << 40);
        assert!(unbounded.check(&wal, dir.path()).is_ok());
    }

    #[test]
    fn a_bad_line_is_rejected_by_index_and_the_others_kept() {
        let body = format!(
            "{GOOD}\n\n{{not json\n{}\n{}\n",
            GOOD.replace("a:1", "a:2"),
            GOOD.replace("\"h\"", "\"\"")
        );
        let c = check_lines(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(c.events.len(), 2);
        assert_eq!(c.lines, vec![0, 2]);
        assert_eq!(c.rejected.len(), 2);
        assert_eq!(c.rejected[0].index, 1);
        assert!(
            c.rejected[0].reason.contains("not a valid event"),
            "{:?}",
            c.rejected
        );
        assert_eq!(c.rejected[1].index, 3);
        assert!(c.rejected[1].reason.contains("host"), "{:?}", c.rejected);
    }

    #[test]
    fn a_line_is_written_to_the_wal_as_it_came_with_received_first() {
        let own_received =
            GOOD.replace("\"host\"", "\"received\":\"2026-01-01T00:00:01Z\",\"host\"");
        let body = format!("  {GOOD} \r\n{own_received}\n");
        let c = check_lines(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(c.events.len(), 2);
        assert!(c.events.iter().all(|e| e.received.is_none()));
        let span = c.spans[0].clone().expect("written as it came");
        assert_eq!(&body.as_bytes()[span.clone()], GOOD.as_bytes());
        assert_eq!(
            c.spans[1], None,
            "its own `received` must be replaced, not doubled"
        );
        // A `received` of null is no value, but still a key; so is one spelt with escapes.
        for key in ["received", r"rec\u0065ived"] {
            let line = GOOD.replace("\"host\"", &format!("\"{key}\":null,\"host\""));
            let c = check_lines(line.as_bytes(), &Limits::default()).unwrap();
            assert_eq!(c.events.len(), 1, "{line}");
            assert_eq!(c.spans[0], None, "{line}");
        }
        let now = chrono::Utc::now();
        let mut out = Vec::new();
        write_received(
            &mut out,
            &body.as_bytes()[span],
            &serde_json::to_vec(&now).unwrap(),
        );
        let back: Event = serde_json::from_slice(&out).unwrap();
        let mut want = c.events[0].clone();
        want.received = Some(now);
        assert_eq!(back, want);
    }

    #[test]
    fn an_oversized_line_is_rejected_alone() {
        let limits = Limits {
            max_line_bytes: 200,
            ..Limits::default()
        };
        let long = GOOD.replace("\"m\"", &format!("\"{}\"", "x".repeat(300)));
        let body = format!("{long}\n{GOOD}\n");
        let c = check_lines(body.as_bytes(), &limits).unwrap();
        assert_eq!(c.events.len(), 1);
        assert!(
            c.rejected[0].reason.contains("limit of 200 bytes"),
            "{:?}",
            c.rejected
        );
    }

    #[tokio::test]
    async fn decoding_holds_its_memory_in_the_budget_and_a_huge_zstd_window_is_refused() {
        let plain = vec![b'a'; 4 << 20];
        let z = Bytes::from(zstd::bulk::compress(&plain, 1).unwrap());
        let limits = Limits::default();
        // An 8 MiB window and 4 MiB decoded do not fit in 10 MiB.
        let small = budget::MemoryBudget::new(10 << 20);
        let mut r = small.reserve(z.len(), budget::WAIT).await.unwrap();
        let err = decode_body_within(Some("zstd"), z.clone(), &limits, Some(&mut r)).unwrap_err();
        assert!(matches!(err, IngestError::Busy(_)), "{err}");
        let roomy = budget::MemoryBudget::new(64 << 20);
        let mut r = roomy.reserve(z.len(), budget::WAIT).await.unwrap();
        let out = decode_body_within(Some("zstd"), z, &limits, Some(&mut r)).unwrap();
        assert_eq!(out.len(), plain.len());
        assert!(r.bytes() >= (4 << 20) + (8 << 20), "held {}", r.bytes());
        // A frame that asks for a 128 MiB window is refused before it is allocated.
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        enc.window_log(27).unwrap();
        std::io::Write::write_all(&mut enc, &plain).unwrap();
        let big = enc.finish().unwrap();
        let err = decode_body(Some("zstd"), big.into(), &limits).unwrap_err();
        assert!(matches!(err, IngestError::BadCompression { .. }), "{err}");
    }

    #[test]
    fn compressed_bodies_decode_and_a_bomb_is_stopped_at_the_limit() {
        let plain = GOOD.repeat(10);
        let z = zstd::bulk::compress(plain.as_bytes(), 1).unwrap();
        assert_eq!(
            decode_body(Some("zstd"), z.into(), &Limits::default()).unwrap(),
            plain.as_bytes()
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, plain.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(
            decode_body(Some("gzip"), gz.into(), &Limits::default()).unwrap(),
            plain.as_bytes()
        );

        let bomb = zstd::bulk::compress(&vec![b'a'; 10 << 20], 3).unwrap();
        let limits = Limits {
            max_decoded_bytes: 1 << 20,
            ..Limits::default()
        };
        assert!(bomb.len() < 1 << 20);
        let err = decode_body(Some("zstd"), bomb.into(), &limits).unwrap_err();
        assert!(matches!(err, IngestError::TooLarge { .. }), "{err}");
        assert!(matches!(
            decode_body(Some("br"), Bytes::from_static(b"x"), &limits),
            Err(IngestError::UnsupportedEncoding(_))
        ));
        assert!(matches!(
            decode_body(Some("gzip"), Bytes::from_static(b"xx"), &limits),
            Err(IngestError::BadCompression { .. })
        ));
    }
}

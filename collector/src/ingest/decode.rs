//! A request body as it came (`Content-Encoding`: zstd, gzip or none) decompressed within the
//! [`Limits`] and the memory budget.

use std::io::Read;

use bytes::Bytes;

use super::{IngestError, Limits, budget};

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

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        r#"{"id":"a:1","ts":"2026-01-01T00:00:00Z","host":"h","source":"s","message":"m"}"#;

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

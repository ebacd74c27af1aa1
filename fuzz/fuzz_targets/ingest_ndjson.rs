//! The body of `POST /api/v1/ingest`: decompression (the first byte picks none, gzip or zstd)
//! within small limits, then NDJSON line checks.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logwarden_collector::ingest::{Limits, check_lines, decode_body};
use logwarden_collector::wal::write_received;
use logwarden_core::Event;

fuzz_target!(|data: &[u8]| {
    let Some((&knob, body)) = data.split_first() else { return };
    let encoding = match knob % 4 {
        0 => None,
        1 => Some("gzip"),
        2 => Some("zstd"),
        _ => Some("identity"),
    };
    let limits = Limits {
        max_body_bytes: 1 << 16,
        max_decoded_bytes: 1 << 18,
        max_line_bytes: 1 << 12,
        max_lines: 200,
    };
    if let Ok(decoded) = decode_body(encoding, body.to_vec().into(), &limits) {
        assert!(decoded.len() <= limits.max_decoded_bytes);
        if let Ok(checked) = check_lines(&decoded, &limits) {
            assert_eq!(checked.events.len(), checked.lines.len());
            assert_eq!(checked.events.len(), checked.spans.len());
            // What is accepted is written to the WAL as JSON (serialized again, or as it came
            // with `received` put first) and read back by the indexer: the same event either way.
            let received = chrono::Utc::now();
            let received_json = serde_json::to_vec(&received).expect("a time serializes");
            for (e, span) in checked.events.iter().zip(&checked.spans) {
                let mut want = e.clone();
                want.received = Some(received);
                let json = match span {
                    Some(span) => {
                        let mut out = Vec::new();
                        write_received(&mut out, &decoded[span.clone()], &received_json);
                        assert!(!out.contains(&b'\n'), "a WAL line holds no newline");
                        out
                    }
                    None => serde_json::to_vec(&want).expect("an event serializes"),
                };
                let back: Event = serde_json::from_slice(&json).expect("an event reads back");
                assert_eq!(back, want);
                assert!(back.validate().is_ok());
            }
        }
    }
});

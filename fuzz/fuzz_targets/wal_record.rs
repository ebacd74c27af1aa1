//! The WAL record decoder, walked over a buffer the way recovery does: decode, and after damage
//! resync at the next magic. When the first byte is odd the CRC of a record at the start is
//! fixed up first, so that inputs get past it and reach the fields behind it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logwarden_collector::wal::{ParsedRecord, decode_record};

fuzz_target!(|data: &[u8]| {
    let Some((&knob, rest)) = data.split_first() else { return };
    let mut buf = rest.to_vec();
    if knob & 1 == 1 && buf.len() >= 21 {
        let len = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes")) as usize;
        let end = (21 + len).min(buf.len());
        let mut h = crc32fast::Hasher::new();
        h.update(&buf[4..8]);
        h.update(&buf[12..end]);
        let sum = h.finalize();
        buf[8..12].copy_from_slice(&sum.to_le_bytes());
    }
    let mut at = 0;
    while at < buf.len() {
        match decode_record(&buf[at..]) {
            ParsedRecord::Record(r, used) => {
                assert!(used >= 21 && used <= buf.len() - at);
                assert_eq!(used, 21 + r.payload.len());
                at += used;
            }
            ParsedRecord::Short => break,
            ParsedRecord::Bad => match buf[at + 1..].windows(4).position(|w| w == b"LWRE") {
                Some(i) => at += 1 + i,
                None => break,
            },
        }
    }
});

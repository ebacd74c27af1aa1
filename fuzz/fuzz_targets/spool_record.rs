//! The agent's spool record decoder, walked over a buffer the way the spool reader does:
//! decode, and after damage resync. When the first byte is odd the CRC of a record at the
//! start is fixed up first, so that inputs reach the origin and event fields behind it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logwarden_agent::spool::record::{Decoded, HEADER_LEN, decode, resync};

fuzz_target!(|data: &[u8]| {
    let Some((&knob, rest)) = data.split_first() else { return };
    let mut buf = rest.to_vec();
    if knob & 1 == 1 && buf.len() >= HEADER_LEN {
        let len = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes")) as usize;
        let end = (HEADER_LEN + len).min(buf.len());
        let sum = crc32fast::hash(&buf[HEADER_LEN..end]);
        buf[8..12].copy_from_slice(&sum.to_le_bytes());
    }
    let mut at = 0;
    while at < buf.len() {
        match decode(&buf[at..]) {
            Decoded::Record(r, used) => {
                assert!(used > HEADER_LEN && used <= buf.len() - at);
                let _ = r.origin.map(|o| o.path);
                at += used;
            }
            Decoded::Incomplete => break,
            Decoded::Damaged => match resync(&buf[at..]) {
                Some(i) => {
                    assert!(i > 0);
                    at += i;
                }
                None => break,
            },
        }
    }
});

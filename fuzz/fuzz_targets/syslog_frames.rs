//! The collector's syslog TCP intake: RFC 6587 framing of a byte stream cut at arbitrary
//! points, then each frame parsed as the intake does. The first byte picks the size limit and
//! the split points, so small limits (truncation) are reached too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logwarden_collector::syslog::framing::Framer;
use logwarden_collector::syslog::intake::Parser;

fuzz_target!(|data: &[u8]| {
    let Some((&knob, stream)) = data.split_first() else { return };
    let max = 1 + (knob as usize % 64) * 16;
    let chunk = 1 + (knob as usize >> 4);
    let mut framer = Framer::new(max);
    let mut parser = Parser::new("tcp");
    let peer = "127.0.0.1:5514".parse().expect("address");
    for piece in stream.chunks(chunk) {
        let pushed = framer.push(piece, |f| {
            assert!(f.bytes.len() <= max, "frame over the limit");
            let _ = parser.parse(f, peer);
        });
        if pushed.is_err() {
            return;
        }
    }
    if let Some(f) = framer.finish() {
        assert!(f.bytes.len() <= max, "frame over the limit");
        let _ = parser.parse(f, peer);
    }
});

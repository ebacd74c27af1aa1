//! Syslog lines (RFC 3164 and 5424, Zimbra's messages inside them) as a file of lines.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use logwarden_parse::{Format, LineParser};

fuzz_target!(|data: &[u8]| {
    let mut p = LineParser::new(Path::new("/var/log/zimbra.log"), Format::Syslog);
    for line in data.split(|&b| b == b'\n') {
        let _ = p.parse(line);
    }
});

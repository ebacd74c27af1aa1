//! Lines of Zimbra's files (log4j, Jetty, nginx, syslog inside them) under `auto` and `zimbra`,
//! one parser per input so that what it learns from one line is used on the next.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use logwarden_parse::{Format, LineParser};

fuzz_target!(|data: &[u8]| {
    for (path, format) in [
        ("/opt/zimbra/log/mailbox.log", Format::Auto),
        ("/opt/zimbra/log/zmmailboxd.out", Format::Zimbra),
        ("/opt/zimbra/log/nginx.access.log", Format::Auto),
    ] {
        let mut p = LineParser::new(Path::new(path), format);
        for line in data.split(|&b| b == b'\n') {
            let _ = p.starts_record(line);
            let _ = p.parse(line);
        }
        let _ = p.parse(data);
    }
});

//! `storcli /call/vall show all J` output.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(drives) = logwarden_agent::health::storcli::parse(text) {
        for d in drives {
            let _ = d.to_draft();
        }
    }
});

//! /proc/mdstat text: the parser must never panic, whatever the kernel (or a test) writes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = logwarden_agent::health::mdstat::parse(text);
    }
});

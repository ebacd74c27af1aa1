//! `smartctl --json` output, read twice so that the "rising counts" path runs too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logwarden_agent::health::smart::{SmartOutcome, SmartPolicy, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let policy = SmartPolicy::default();
    if let Ok(SmartOutcome::Report(first)) = parse(text, &policy, None) {
        let _ = first.message();
        let _ = first.fields();
        let _ = parse(text, &policy, Some(&first.counts));
    }
});

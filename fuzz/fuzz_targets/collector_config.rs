//! The collector's config loader: TOML text to checked settings. Errors are fine; panics are
//! not.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use logwarden_collector::config::{Overrides, Settings, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(file) = parse(Path::new("collector.toml"), text) {
        let _ = Settings::build(file, Overrides::default());
    }
});

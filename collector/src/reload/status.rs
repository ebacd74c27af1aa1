//! The outcome of the last config reload, for `/metrics`: whether it succeeded and when the
//! last one that did happened. A leaf (nothing but two atomics), so that the metrics read it
//! without depending on the config that a reload reads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

static SUCCESSFUL: AtomicBool = AtomicBool::new(true);
/// Milliseconds since the epoch.
static SUCCESS_AT_MS: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The config the process started with counts as the first successful load.
pub fn started() {
    succeeded();
}

pub(super) fn succeeded() {
    SUCCESSFUL.store(true, Relaxed);
    SUCCESS_AT_MS.store(now_ms(), Relaxed);
}

pub(super) fn failed() {
    SUCCESSFUL.store(false, Relaxed);
}

/// Whether the last reload succeeded, and when the last one that did happened (seconds).
pub fn status() -> (bool, f64) {
    (
        SUCCESSFUL.load(Relaxed),
        SUCCESS_AT_MS.load(Relaxed) as f64 / 1000.0,
    )
}

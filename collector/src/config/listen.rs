//! Listener addresses as written: `IP:PORT`, or `"off"`.

use std::net::SocketAddr;

use anyhow::Context;

/// `"off"` (or empty) disables a listener; anything else must be IP:PORT.
pub(super) fn listener_addr(what: &str, value: &str) -> anyhow::Result<Option<SocketAddr>> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .with_context(|| format!("{what} address {value:?} is not IP:PORT or \"off\""))
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

//! `logwarden context ID|POSITION` and `search -C N`: the events around a hit, from the same host
//! and source, in order (`GET /api/v1/context`). In text, the hit is marked `>`, its neighbours
//! are indented the same, and groups are parted by `--` as `grep -C` does.

use std::io::Write;

use logwarden_core::wire::{ContextParams, ContextResponse};

use crate::client::Client;
use crate::output::{self, Format};

/// The events around the one `at` names: its position, or its id (`AGENT:SEQ`). A 404 (no such
/// event) is a [`crate::client::NotFound`].
pub fn fetch(
    client: &Client,
    at: &str,
    before: usize,
    after: usize,
) -> anyhow::Result<ContextResponse> {
    client.context(&ContextParams {
        at: at.to_owned(),
        before: Some(before),
        after: Some(after),
    })
}

/// One group: the events before, the hit, the events after.
pub fn print(out: &mut impl Write, c: &ContextResponse, format: Format) -> anyhow::Result<()> {
    for e in &c.before {
        if format == Format::Text {
            write!(out, "  ")?;
        }
        output::event(out, e, format)?;
    }
    if format == Format::Text {
        write!(out, "{} ", crate::display::bold(">"))?;
    }
    output::event(out, &c.hit, format)?;
    for e in &c.after {
        if format == Format::Text {
            write!(out, "  ")?;
        }
        output::event(out, e, format)?;
    }
    Ok(())
}

/// Between two groups of `search -C` (text only).
pub fn separator(out: &mut impl Write, format: Format) -> anyhow::Result<()> {
    if format == Format::Text {
        writeln!(out, "--")?;
    }
    Ok(())
}

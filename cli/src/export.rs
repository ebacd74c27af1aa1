//! `logwarden export QUERY`: every matching event as NDJSON on stdout, newest (or oldest) first,
//! paged through the search API; a progress bar on stderr when it is a terminal.
//!
//! Paging: each answer ends with a cursor (the last event's place in the collector's total
//! order: time, then its place in the WAL), and the next page asks for what comes after it, so
//! no number of events at one timestamp stops it. `until` is fixed at the start, so events that
//! arrive meanwhile do not shift the pages.

use std::io::Write;

use anyhow::{Context, bail};
use chrono::{SecondsFormat, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use logwarden_core::wire::SearchParams;

use crate::client::Client;

#[derive(clap::Args)]
pub struct Export {
    /// The query; '*' exports everything.
    pub query: String,
    /// Only events at or after: a duration back from now (15m, 2h, 7d) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before (default: the time the export starts).
    #[arg(long)]
    pub until: Option<String>,
    /// Events asked for per request (at most 10000).
    #[arg(long, default_value_t = 5000)]
    pub page_size: usize,
    /// Oldest first (the default is newest first).
    #[arg(long)]
    pub oldest_first: bool,
}

/// Writes every matching event to `out`; returns how many.
pub fn run(client: &Client, e: &Export, out: &mut impl Write) -> anyhow::Result<u64> {
    if e.page_size == 0 || e.page_size > 10_000 {
        bail!("--page-size must be 1 to 10000");
    }
    let until = e
        .until
        .clone()
        .unwrap_or_else(|| Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true));
    let bar = ProgressBar::with_draw_target(
        None,
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} exporting [{bar:40}] {human_pos}/{human_len} events ({rate}, {eta} left)",
        )
        .context("progress bar template")?
        .with_key(
            "rate",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&rate(s.per_sec()));
            },
        )
        .progress_chars("=> "),
    );
    let mut written = 0u64;
    let mut after = None;
    loop {
        let page = client.search(&SearchParams {
            q: e.query.clone(),
            since: e.since.clone(),
            until: Some(until.clone()),
            limit: Some(e.page_size),
            order: Some(if e.oldest_first { "oldest" } else { "newest" }.into()),
            after: after.take(),
        })?;
        if written == 0 {
            bar.set_length(page.total);
        }
        for ev in &page.hits {
            serde_json::to_writer(&mut *out, ev).context("writing to stdout")?;
            out.write_all(b"\n").context("writing to stdout")?;
        }
        written += page.hits.len() as u64;
        bar.inc(page.hits.len() as u64);
        match page.cursor {
            Some(cursor) => after = Some(cursor),
            None if page.total > page.hits.len() as u64 => bail!(
                "the collector answered {} of {} events without a cursor to go on from: it is older than this client",
                page.hits.len(),
                page.total
            ),
            None => break,
        }
    }
    out.flush().context("writing to stdout")?;
    bar.finish_and_clear();
    Ok(written)
}

/// Events per second as people read them: `13,834/s`, not `13,834.1306/s`.
fn rate(per_sec: f64) -> String {
    format!(
        "{}/s",
        indicatif::HumanCount(per_sec.round().max(0.0) as u64)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_a_whole_number_with_thousands_separators() {
        assert_eq!(rate(13_834.130_6), "13,834/s");
        assert_eq!(rate(0.4), "0/s");
        assert_eq!(rate(1_234_567.5), "1,234,568/s");
    }
}

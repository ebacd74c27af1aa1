//! `logwarden export QUERY`: every matching event as NDJSON on stdout, newest first, paged
//! through the search API; a progress bar on stderr when it is a terminal.
//!
//! Paging: each page asks for the events before the oldest one of the last page (`until`,
//! exclusive, at the index's microsecond precision), plus that microsecond itself, skipping the
//! ids already written there. `until` is fixed at the start, so events that arrive meanwhile
//! do not shift the pages.

use std::collections::HashSet;
use std::io::Write;

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use logwarden_core::EventId;
use logwarden_core::wire::SearchParams;

use crate::client::Client;

pub struct Export {
    pub query: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub page_size: usize,
}

/// The time the index keeps for an event: microseconds.
fn indexed(ts: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(ts.timestamp_micros()).unwrap_or(ts)
}

/// Writes every matching event to `out`; returns how many.
pub fn run(client: &Client, e: &Export, out: &mut impl Write) -> anyhow::Result<u64> {
    if e.page_size == 0 || e.page_size > 10_000 {
        bail!("--page-size must be 1 to 10000");
    }
    let mut until = e
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
    // The ids written at the oldest microsecond so far: the next page starts there again.
    let mut edge: Option<(DateTime<Utc>, HashSet<EventId>)> = None;
    let mut written = 0u64;
    let mut first = true;
    loop {
        let page = client.search(&SearchParams {
            q: e.query.clone(),
            since: e.since.clone(),
            until: Some(until.clone()),
            limit: Some(e.page_size),
        })?;
        if first {
            bar.set_length(page.total);
            first = false;
        }
        let mut new = 0;
        for ev in &page.hits {
            if edge
                .as_ref()
                .is_some_and(|(t, ids)| indexed(ev.ts) == *t && ids.contains(&ev.id))
            {
                continue;
            }
            serde_json::to_writer(&mut *out, ev).context("writing to stdout")?;
            out.write_all(b"\n").context("writing to stdout")?;
            new += 1;
        }
        written += new;
        bar.inc(new);
        let Some(oldest) = page.hits.last() else {
            break;
        };
        if page.hits.len() < e.page_size {
            break;
        }
        let at = indexed(oldest.ts);
        if new == 0 {
            bail!(
                "more than {} events at {} alone: use a larger --page-size",
                e.page_size,
                at.to_rfc3339_opts(SecondsFormat::Micros, true)
            );
        }
        let mut ids = match edge.take() {
            Some((t, ids)) if t == at => ids,
            _ => HashSet::new(),
        };
        ids.extend(
            page.hits
                .iter()
                .filter(|ev| indexed(ev.ts) == at)
                .map(|ev| ev.id.clone()),
        );
        edge = Some((at, ids));
        until = (at + TimeDelta::microseconds(1)).to_rfc3339_opts(SecondsFormat::Micros, true);
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
        assert_eq!(rate(13_834.1306), "13,834/s");
        assert_eq!(rate(0.4), "0/s");
        assert_eq!(rate(1_234_567.5), "1,234,568/s");
    }

    #[test]
    fn index_time_drops_the_nanoseconds() {
        let t: DateTime<Utc> = "2026-03-01T10:00:00.123456789Z".parse().unwrap();
        assert_eq!(
            indexed(t).to_rfc3339_opts(SecondsFormat::Nanos, true),
            "2026-03-01T10:00:00.123456000Z"
        );
    }
}

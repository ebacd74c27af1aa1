//! `logwarden search`: one page of matching events (newest or oldest first, with the cursor of
//! the next), each with its context (`-C`) or position, or followed as they arrive (`-f`).

use std::io::Write;
use std::process::ExitCode;

use logwarden_core::wire::SearchParams;

use crate::client::Client;
use crate::context;
use crate::display;
use crate::output::{self, Format};

/// Find events: tantivy query syntax over the event fields, newest first.
///
/// Examples: 'app:sshd AND severity:err', 'host:mbox3 "RAID degraded"',
/// 'fields.account:alice@example.com'. Exits 1 when nothing matches.
#[derive(clap::Args)]
pub struct SearchArgs {
    /// The query; '*' matches everything.
    pub query: String,
    /// Only events at or after: a duration back from now (15m, 2h, 7d) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before: an RFC 3339 time or a duration back from now.
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many events (the newest, or the oldest with --oldest-first).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Oldest first (the default is newest first).
    #[arg(long, conflicts_with = "follow")]
    pub oldest_first: bool,
    /// The next page: the cursor the last page ended with (printed on stderr after it).
    #[arg(long, value_name = "CURSOR", conflicts_with = "follow")]
    pub after: Option<String>,
    /// Each hit with N events before and after it from the same host and source (text:
    /// the hit marked `>`, groups parted by `--`).
    #[arg(
        short = 'C',
        long = "context",
        value_name = "N",
        conflicts_with = "follow"
    )]
    pub context: Option<usize>,
    /// Text: begin each line with the event's position, for `logwarden context`.
    #[arg(long, conflicts_with = "follow")]
    pub positions: bool,
    /// text (readable), json (one event per line, as ingested), raw (the message only),
    /// csv (a header, then one row per event: the columns of --fields).
    #[arg(short = 'o', long = "output", default_value = "text")]
    pub output: Format,
    /// With -o csv: the columns, comma separated: ts, received, id, host, site, source, app,
    /// severity, kind, message, fields.NAME (default ts,host,app,severity,message).
    #[arg(long, value_name = "COLUMNS", default_value = display::DEFAULT_COLUMNS)]
    pub fields: String,
    /// Print the newest matches oldest first, then new matches as they arrive (Ctrl-C stops).
    #[arg(short = 'f', long, conflicts_with = "until")]
    pub follow: bool,
}

pub fn run(
    client: &Client,
    args: SearchArgs,
    mut out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let SearchArgs {
        query,
        since,
        until,
        limit,
        oldest_first,
        after,
        context,
        positions,
        output,
        follow,
        fields: _,
    } = args;
    let mut resp = client.search(&SearchParams {
        q: query.clone(),
        since: since.clone(),
        until: until.clone(),
        limit: Some(limit),
        order: oldest_first.then(|| "oldest".into()),
        after,
    })?;
    if follow {
        // Like tail -f: the last lines in order, then what comes.
        resp.hits.reverse();
        output::hits(&mut out, &resp, output, true)?;
        let seen = resp.hits.iter().map(|e| e.id.clone()).collect();
        client.follow(&query, resp.indexed_lsn, seen, |e| {
            output::event(&mut out, e, output)?;
            std::io::Write::flush(&mut out)?;
            Ok(())
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    match context {
        Some(n) => {
            output::header(&mut out, output)?;
            for (i, p) in resp.positions.iter().enumerate() {
                if i > 0 {
                    context::separator(&mut out, output)?;
                }
                context::print(&mut out, &context::fetch(client, p, n, n)?, output)?;
            }
            output::remaining(&resp, output, oldest_first);
        }
        None if positions && output == Format::Text => {
            for (e, p) in resp.hits.iter().zip(&resp.positions) {
                write!(out, "{p} ")?;
                output::event(&mut out, e, output)?;
            }
            output::remaining(&resp, output, oldest_first);
        }
        None => output::hits(&mut out, &resp, output, oldest_first)?,
    }
    if resp.hits.is_empty() {
        eprintln!(
            "logwarden: {}",
            output::no_match(&query, since.as_deref(), until.as_deref())
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

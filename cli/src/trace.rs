//! `logwarden trace QUEUE_ID|MESSAGE_ID|ADDRESS`: one message followed across the fleet
//! (`GET /api/v1/trace`), as a timeline and the final status of each recipient; for an address,
//! its messages newest first, one line each.
//!
//! Exit codes: 0 something found, 1 nothing (one line on stderr), 2 a malformed query or any
//! other error.

use std::io::Write;
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use logwarden_core::trace::{TraceParams, TraceResponse, TraceTarget, TracedMessage};

use crate::client::Client;

#[derive(clap::Args)]
pub struct TraceArgs {
    /// A postfix queue id (4A1B2C3D01), a message-id (<x@example.org>, quoted in the shell) or
    /// an address (alice@example.org).
    query: String,
    /// Look from: a duration back from now (2h, 7d) or an RFC 3339 time (default: 30 days).
    #[arg(long)]
    since: Option<String>,
    /// Look until: an RFC 3339 time or a duration back from now.
    #[arg(long)]
    until: Option<String>,
    /// Only where the id or address is seen on this host; the message is then followed
    /// wherever it went.
    #[arg(long)]
    host: Option<String>,
    /// At most this many messages (newest first; at most 200).
    #[arg(long)]
    limit: Option<usize>,
    /// text (a timeline) or json (the API's answer).
    #[arg(short = 'o', long = "output", default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

pub fn run(client: &Client, args: TraceArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let since_text = args.since.clone();
    let resp = client.trace(&TraceParams {
        q: args.query.clone(),
        since: args.since,
        until: args.until,
        host: args.host,
        limit: args.limit,
    })?;
    if args.output == "json" {
        serde_json::to_writer(&mut *out, &resp)?;
        writeln!(out)?;
    } else if resp.target == TraceTarget::Address {
        list(out, &resp)?;
    } else {
        for (i, m) in resp.messages.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            timeline(out, m)?;
        }
    }
    if resp.truncated {
        eprintln!("logwarden: more matched than shown (--limit, or narrow --since/--host)");
    }
    if resp.messages.is_empty() {
        let range = since_text.map_or("the last 30 days".to_owned(), |s| format!("--since {s}"));
        eprintln!("logwarden: no message matches {} in {range}", resp.query);
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn ts(t: DateTime<Utc>) -> String {
    crate::display::time(t, SecondsFormat::Millis)
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("-")
}

/// One message: a header, one line per hop, one per recipient.
fn timeline(out: &mut impl Write, m: &TracedMessage) -> anyhow::Result<()> {
    writeln!(
        out,
        "message {}  from <{}>  {}",
        opt(&m.message_id),
        opt(&m.from),
        m.status
    )?;
    if !m.queues.is_empty() {
        writeln!(out, "queues  {}", m.queues.join(" -> "))?;
    }
    let host_w = m.hops.iter().map(|h| h.host.len()).max().unwrap_or(4);
    let comp_w = m.hops.iter().map(|h| h.component.len()).max().unwrap_or(4);
    for h in &m.hops {
        let delay = h
            .delay_s
            .map_or(String::new(), |d| format!("+{}", seconds(d)));
        writeln!(
            out,
            "  {}  {delay:>9}  {:<host_w$}  {:<comp_w$}  {:<10}  {}{}",
            ts(h.ts),
            h.host,
            h.component,
            h.queue_id.as_deref().unwrap_or(""),
            if h.notification {
                "[notification] "
            } else {
                ""
            },
            h.what
        )?;
    }
    writeln!(out, "recipients")?;
    for r in &m.recipients {
        let mut line = format!("  {:<30} {:<9}", r.address, r.status);
        if let Some(h) = &r.host {
            line.push_str(&format!(" {h}"));
        }
        if let Some(f) = &r.folder {
            line.push_str(&format!(" folder {f}"));
        }
        if let Some(d) = &r.dsn {
            line.push_str(&format!(" dsn {d}"));
        }
        if let Some(d) = &r.detail {
            line.push_str(&format!(" ({d})"));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    if m.recipients.is_empty() {
        writeln!(out, "  (none logged yet)")?;
    }
    Ok(())
}

/// `0.31s`, `12.0s`, `10m31s`, `2h05m`.
fn seconds(d: f64) -> String {
    if d < 60.0 {
        format!("{d:.2}s")
    } else if d < 3600.0 {
        format!("{}m{:02}s", (d / 60.0) as u64, (d % 60.0) as u64)
    } else {
        format!(
            "{}h{:02}m",
            (d / 3600.0) as u64,
            ((d % 3600.0) / 60.0) as u64
        )
    }
}

/// An address's messages, one line each, newest first.
fn list(out: &mut impl Write, resp: &TraceResponse) -> anyhow::Result<()> {
    for m in &resp.messages {
        let to: Vec<String> = m
            .recipients
            .iter()
            .map(|r| format!("{} {}", r.address, r.status))
            .collect();
        writeln!(
            out,
            "{}  {:<9}  from <{}>  to {}  {}  {}",
            ts(m.first_seen),
            m.status,
            opt(&m.from),
            if to.is_empty() {
                "-".into()
            } else {
                to.join(", ")
            },
            opt(&m.message_id),
            m.queues.first().map_or("-", String::as_str)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_read_at_a_glance() {
        assert_eq!(seconds(0.31), "0.31s");
        assert_eq!(seconds(631.0), "10m31s");
        assert_eq!(seconds(7500.0), "2h05m");
    }
}

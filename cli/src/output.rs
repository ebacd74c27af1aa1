//! Printing answers: `text` for a terminal, `json` for scripts (events exactly as ingested),
//! `raw` for piping messages on, `csv` for spreadsheets (the columns of `--fields`). Times in
//! text and csv are shown in the zone of `--tz`, colour as `--color` says (`display`).

use std::io::Write;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use logwarden_core::Event;
use logwarden_core::wire::{AlertStatus, AlertView, Silence, Weekly};
use logwarden_core::wire::{
    CountResponse, FieldsResponse, FleetResponse, SearchResponse, StatusResponse,
};

use crate::display;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Raw,
    Csv,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "raw" => Ok(Format::Raw),
            "csv" => Ok(Format::Csv),
            other => Err(format!(
                "output {other:?} is not one of text, json, raw, csv"
            )),
        }
    }
}

/// `-o` of the commands that print no events (count, fleet, status, alerts, silences): text
/// or json; `raw` and `csv` are shapes of events.
pub fn summary_format(s: &str) -> Result<Format, String> {
    match s.parse()? {
        f @ (Format::Raw | Format::Csv) => Err(format!(
            "{} prints events, and this command prints none: use text or json",
            if f == Format::Raw { "raw" } else { "csv" }
        )),
        f => Ok(f),
    }
}

/// Before the first event of a csv answer: the names of its columns.
pub fn header(out: &mut impl Write, format: Format) -> anyhow::Result<()> {
    if format == Format::Csv {
        let names: Vec<String> = display::columns().iter().map(|c| c.name()).collect();
        out.write_all(display::csv_record(&names).as_bytes())?;
    }
    Ok(())
}

/// One event in the chosen format.
pub fn event(out: &mut impl Write, e: &Event, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer(&mut *out, e)?;
            writeln!(out)?;
        }
        Format::Raw => writeln!(out, "{}", e.message)?,
        Format::Csv => {
            let zone = display::zone();
            let cells: Vec<String> = display::columns().iter().map(|c| c.cell(e, zone)).collect();
            out.write_all(display::csv_record(&cells).as_bytes())?;
        }
        Format::Text => writeln!(
            out,
            "{} {} {} {} {}",
            display::dim(&display::time(e.ts, SecondsFormat::Millis)),
            e.host,
            if e.app.is_empty() { "-" } else { &e.app },
            display::severity(e.severity.as_str(), e.severity),
            e.message
        )?,
    }
    Ok(())
}

/// The hits, and on stderr (text only) how many more there are and how to get them.
pub fn hits(
    out: &mut impl Write,
    resp: &SearchResponse,
    format: Format,
    oldest_first: bool,
) -> anyhow::Result<()> {
    header(out, format)?;
    for e in &resp.hits {
        event(out, e, format)?;
    }
    remaining(resp, format, oldest_first);
    Ok(())
}

/// On stderr (text only), when more matched than were shown: how many, and the next page.
pub fn remaining(resp: &SearchResponse, format: Format, oldest_first: bool) {
    if format == Format::Text && resp.total as usize > resp.hits.len() {
        let next = match &resp.cursor {
            Some(c) => format!("next page: --after {c}"),
            None => "--limit for more".into(),
        };
        eprintln!(
            "({} of {} matching events shown, {} first; {next})",
            resp.hits.len(),
            resp.total,
            if oldest_first { "oldest" } else { "newest" },
        );
    }
}

/// What an empty search says on stderr: the query and the time it looked at, in the words the
/// user gave them (`no events match 'app:x' in the last 7d`).
pub fn no_match(query: &str, since: Option<&str>, until: Option<&str>) -> String {
    let is_duration =
        |s: &str| s.trim().starts_with(|c: char| c.is_ascii_digit()) && !s.contains(':');
    let at = |s: &str| match is_duration(s) {
        true => format!("{} ago", s.trim()),
        false => s.trim().to_owned(),
    };
    let range = match (since, until) {
        (Some(s), None) if is_duration(s) => format!("in the last {}", s.trim()),
        (Some(s), None) => format!("since {}", at(s)),
        (None, Some(u)) => format!("before {}", at(u)),
        (Some(s), Some(u)) => format!("from {} to {}", at(s), at(u)),
        (None, None) => "in all the index holds".into(),
    };
    format!("no events match {query:?} {range}")
}

pub fn status(out: &mut impl Write, s: &StatusResponse, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        serde_json::to_writer(&mut *out, s)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "role        {}", s.role)?;
    writeln!(out, "site        {}", s.site)?;
    writeln!(out, "epoch       {}", s.epoch)?;
    writeln!(out, "version     {}", s.version)?;
    let held = match &s.wal.held_by {
        Some(by) => format!("held from {} for the {by}", s.wal.first_lsn),
        None => format!("held from {}", s.wal.first_lsn),
    };
    writeln!(
        out,
        "wal         lsn {} durable ({held}), {} segments, {} bytes, {} corrupt records skipped",
        s.wal.durable_lsn, s.wal.segments, s.wal.bytes, s.wal.corrupt_records
    )?;
    writeln!(
        out,
        "index       lsn {} searchable, {} records behind, {} events",
        s.index.indexed_lsn, s.index.lag_records, s.index.docs
    )?;
    let parts = &s.index.partitions;
    if let (Some(first), Some(last)) = (parts.first(), parts.last()) {
        let bytes: u64 = parts.iter().map(|p| p.bytes).sum();
        writeln!(
            out,
            "partitions  {} days, {} to {}, {bytes} bytes",
            parts.len(),
            first.day,
            last.day
        )?;
    }
    if let Some(day) = s.index.dropped_through {
        writeln!(
            out,
            "retention   dropped through {day}, {} late events not indexed",
            s.index.expired_events
        )?;
    }
    if let Some(p) = &s.primary {
        writeln!(out, "primary     {p}")?;
    }
    if let Some(c) = &s.cluster {
        let owned: Vec<String> = c.owned.iter().map(u32::to_string).collect();
        writeln!(
            out,
            "cluster     {}: owns {} of {} partitions ({}), {} events pending",
            c.id,
            c.owned.len(),
            c.partitions,
            owned.join(", "),
            c.pending.values().sum::<u64>()
        )?;
    }
    match &s.replication {
        Some(r) => {
            let contact = r
                .last_contact_ms
                .map(|ms| format!(", peer last heard {:.1} s ago", ms as f64 / 1000.0))
                .unwrap_or_else(|| ", peer never heard".into());
            writeln!(
                out,
                "replication {} with {}: {}, {} records behind{contact}",
                r.mode, r.peer, r.state, r.lag_records
            )?;
            if let Some(a) = &r.advice {
                writeln!(out, "failover    {a}")?;
            }
        }
        None => match s.replication_lag {
            Some(lag) => writeln!(out, "replication {lag} records behind")?,
            None => writeln!(out, "replication none configured")?,
        },
    }
    Ok(())
}

/// `fleet`: a block per host, a line per check and subject, worst first.
pub fn fleet(
    out: &mut impl Write,
    f: &FleetResponse,
    format: Format,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if format != Format::Text {
        serde_json::to_writer(&mut *out, f)?;
        writeln!(out)?;
        return Ok(());
    }
    if f.hosts.is_empty() {
        writeln!(out, "no host has sent anything yet")?;
    }
    for h in &f.hosts {
        let ago = (now - h.last_seen).num_seconds().max(0);
        writeln!(
            out,
            "{} (site {}), last seen {} ({ago} s ago)",
            h.host,
            if h.site.is_empty() { "-" } else { &h.site },
            display::time(h.last_seen, SecondsFormat::Secs)
        )?;
        // A BMC, hypervisor or filer: what it is, and who depends on it where configured.
        let fields = || h.checks.iter().map(|e| &e.fields);
        if let Some(role) = logwarden_core::health::host_role(fields()) {
            let serves = logwarden_core::health::serves(fields());
            if serves.is_empty() {
                writeln!(out, "  {role}")?;
            } else {
                writeln!(out, "  {role}, serves {}", serves.join(", "))?;
            }
        }
        let mut checks: Vec<_> = h.checks.iter().collect();
        checks.sort_by_key(|e| e.severity);
        for e in checks {
            let check = e
                .fields
                .get("check")
                .and_then(|c| c.as_str())
                .unwrap_or("-");
            writeln!(
                out,
                "  {} {:<10} {:<24} {}",
                display::severity(&format!("{:<8}", e.severity.as_str()), e.severity),
                check,
                logwarden_core::health::subject(&e.fields),
                e.message
            )?;
        }
        if h.checks.is_empty() {
            writeln!(out, "  (no health records)")?;
        }
    }
    Ok(())
}

/// `alerts`: one line per alert, with its state, and its summary below.
pub fn alerts(out: &mut impl Write, alerts: &[AlertView], format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        for a in alerts {
            serde_json::to_writer(&mut *out, a)?;
            writeln!(out)?;
        }
        return Ok(());
    }
    if alerts.is_empty() {
        writeln!(out, "no alerts")?;
        return Ok(());
    }
    for a in alerts {
        let mut flags = Vec::new();
        if a.status == AlertStatus::Resolved {
            flags.push("resolved".to_owned());
        }
        if let Some(ack) = &a.ack {
            flags.push(format!("acked by {}", ack.author));
        }
        if !a.silenced_by.is_empty() {
            flags.push(format!("silenced ({})", a.silenced_by.join(",")));
        }
        if let Some(by) = &a.inhibited_by {
            flags.push(format!("inhibited by {by}"));
        }
        let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(
            out,
            "{} {:<8} {:<18} {} since {}{}",
            a.id,
            a.severity,
            a.name,
            labels.join(" "),
            display::time(a.starts_at, SecondsFormat::Secs),
            if flags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", flags.join("; "))
            }
        )?;
        if let Some(s) = a.annotations.get("summary") {
            writeln!(out, "    {s}")?;
        }
    }
    Ok(())
}

/// `count`: the total, then one line per bucket with a bar scaled to the largest.
pub fn count(out: &mut impl Write, c: &CountResponse, format: Format) -> anyhow::Result<()> {
    if format != Format::Text {
        serde_json::to_writer(&mut *out, c)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{} events", c.total)?;
    let other = c.other.filter(|n| *n > 0);
    let width = c
        .buckets
        .iter()
        .map(|b| b.key.chars().count())
        .chain(other.map(|_| "(other)".len()))
        .max()
        .unwrap_or(0);
    let most = c.buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    for b in &c.buckets {
        let bar = "#".repeat(((b.count * 40).div_ceil(most)) as usize);
        writeln!(out, "{:<width$}  {:>10}  {bar}", b.key, b.count)?;
    }
    if let Some(n) = other {
        writeln!(out, "{:<width$}  {n:>10}", "(other)")?;
    }
    Ok(())
}

/// `fields`: one line per field name with how many of the matching events have it.
pub fn fields(out: &mut impl Write, f: &FieldsResponse, format: Format) -> anyhow::Result<()> {
    if format != Format::Text {
        serde_json::to_writer(&mut *out, f)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{} events", f.total)?;
    let width = f
        .fields
        .iter()
        .map(|b| b.key.chars().count())
        .max()
        .unwrap_or(0);
    for b in &f.fields {
        writeln!(out, "{:<width$}  {:>10}", b.key, b.count)?;
    }
    Ok(())
}

/// `silence list`: one line per silence with its state.
pub fn silences(out: &mut impl Write, silences: &[Silence], format: Format) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    for s in silences {
        if format == Format::Json {
            serde_json::to_writer(&mut *out, s)?;
            writeln!(out)?;
            continue;
        }
        let matchers: Vec<String> = s.matchers.iter().map(ToString::to_string).collect();
        if let Some(every) = &s.every {
            window(out, s, every, &matchers, now)?;
            continue;
        }
        let state = if s.ends_at <= now {
            "expired"
        } else if s.starts_at > now {
            "pending"
        } else {
            "active"
        };
        let from = if s.starts_at > now {
            format!(" from {}", display::time(s.starts_at, SecondsFormat::Secs))
        } else {
            String::new()
        };
        writeln!(
            out,
            "{} {state:<7} {}{from} until {} by {}{}",
            s.id,
            matchers.join(" "),
            display::time(s.ends_at, SecondsFormat::Secs),
            s.author,
            comment(s)
        )?;
    }
    Ok(())
}

fn comment(s: &Silence) -> String {
    if s.comment.is_empty() {
        String::new()
    } else {
        format!(": {}", s.comment)
    }
}

/// A recurring silence (or a config window): its days, time and zone, then the opening in force
/// (`active`) or the next one (`pending`), or `expired` when none is left.
fn window(
    out: &mut impl Write,
    s: &Silence,
    every: &Weekly,
    matchers: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let t = |at| display::time(at, SecondsFormat::Secs);
    let (state, when) = match s.next_window {
        Some(o) if o.starts_at <= now => ("active", format!("open until {}", t(o.ends_at))),
        Some(o) => (
            "pending",
            format!("next {} to {}", t(o.starts_at), t(o.ends_at)),
        ),
        None => ("expired", "no opening left".to_owned()),
    };
    let length =
        logwarden_core::config_duration::format(std::time::Duration::from_secs(every.duration_s));
    let until = if s.ends_at >= logwarden_core::wire::forever() {
        String::new()
    } else {
        format!(" until {}", t(s.ends_at))
    };
    writeln!(
        out,
        "{} {state:<7} {} every {} {} {} for {length}{until}, {when} by {}{}",
        s.id,
        matchers.join(" "),
        every.days.join(","),
        every.at,
        every.tz,
        s.author,
        comment(s)
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_search_says_what_it_looked_for_and_when() {
        assert_eq!(
            no_match("app:x", Some("7d"), None),
            "no events match \"app:x\" in the last 7d"
        );
        assert_eq!(
            no_match("*", Some("2026-12-01T00:00:00Z"), Some("1h")),
            "no events match \"*\" from 2026-12-01T00:00:00Z to 1h ago"
        );
        assert_eq!(
            no_match("a", None, Some("2026-12-01T00:00:00Z")),
            "no events match \"a\" before 2026-12-01T00:00:00Z"
        );
        assert_eq!(
            no_match("a", None, None),
            "no events match \"a\" in all the index holds"
        );
    }
}

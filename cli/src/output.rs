//! Printing answers: `text` for a terminal, `json` for scripts (events exactly as ingested),
//! `raw` for piping messages on.

use std::io::Write;
use std::str::FromStr;

use logwarden_core::wire::{SearchResponse, StatusResponse};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Raw,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "raw" => Ok(Format::Raw),
            other => Err(format!("output {other:?} is not one of text, json, raw")),
        }
    }
}

pub fn hits(out: &mut impl Write, resp: &SearchResponse, format: Format) -> anyhow::Result<()> {
    for e in &resp.hits {
        match format {
            Format::Json => {
                serde_json::to_writer(&mut *out, e)?;
                writeln!(out)?;
            }
            Format::Raw => writeln!(out, "{}", e.message)?,
            Format::Text => writeln!(
                out,
                "{} {} {} {} {}",
                e.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                e.host,
                if e.app.is_empty() { "-" } else { &e.app },
                e.severity,
                e.message
            )?,
        }
    }
    if format == Format::Text && resp.total as usize > resp.hits.len() {
        eprintln!(
            "({} of {} matching events shown, newest first; --limit for more)",
            resp.hits.len(),
            resp.total
        );
    }
    Ok(())
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
    writeln!(
        out,
        "wal         lsn {} durable, {} segments, {} bytes, {} corrupt records skipped",
        s.wal.durable_lsn, s.wal.segments, s.wal.bytes, s.wal.corrupt_records
    )?;
    writeln!(
        out,
        "index       lsn {} searchable, {} records behind, {} events",
        s.index.indexed_lsn, s.index.lag_records, s.index.docs
    )?;
    match s.replication_lag {
        Some(lag) => writeln!(out, "replication {lag} records behind")?,
        None => writeln!(out, "replication none configured")?,
    }
    Ok(())
}

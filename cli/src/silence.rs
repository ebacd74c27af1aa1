//! `logwarden silence add|list|expire`: keep matching alerts from being notified for a while,
//! from now or from `--start`.

use std::io::Write;

use anyhow::Context;
use logwarden_core::wire::{Matcher, SilenceRequest};

use crate::client::Client;
use crate::output::{self, Format};

#[derive(clap::Subcommand)]
pub enum SilenceCommand {
    /// Add one: `logwarden silence add alertname=RaidRebuilding host=mbox3 --duration 2h`.
    Add {
        /// NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX over labels, alertname and
        /// severity (all must match; a regex matches the whole value).
        #[arg(required = true)]
        matchers: Vec<String>,
        /// How long, from its start (30m, 2h, 1d, 1h30m; a bare number has no unit and is refused).
        #[arg(long, default_value = "2h")]
        duration: String,
        /// When it starts: RFC 3339 (`2026-12-06T01:00:00+01:00`) or `+DURATION` from now
        /// (`+8h`); default now. Alerts are notified as usual until then.
        #[arg(long, value_name = "TIME")]
        start: Option<String>,
        /// Why (shown with the silence and the alerts it holds back).
        #[arg(long, default_value = "")]
        comment: String,
        /// Who silences (default: $USER).
        #[arg(long, env = "USER", default_value = "")]
        author: String,
    },
    /// List silences (active and expired).
    List {
        /// text (readable) or json (the API's answer).
        #[arg(short = 'o', long = "output", default_value = "text", value_parser = output::summary_format)]
        output: Format,
    },
    /// End a silence now.
    Expire {
        /// The silence's id (first column of `logwarden silence list`).
        id: String,
    },
}

pub fn run(client: &Client, command: SilenceCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match command {
        SilenceCommand::Add {
            matchers,
            duration,
            start,
            comment,
            author,
        } => {
            let matchers = matchers
                .iter()
                .map(|m| m.parse::<Matcher>().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let d = parse_duration(&duration)?;
            let starts_at = match start.as_deref() {
                None => None,
                Some(t) => Some(match t.strip_prefix('+') {
                    Some(rel) => chrono::Utc::now() + parse_duration(rel)?,
                    None => chrono::DateTime::parse_from_rfc3339(t)
                        .with_context(|| {
                            format!("--start {t:?} is not RFC 3339 (2026-12-06T01:00:00+01:00) or +DURATION")
                        })?
                        .with_timezone(&chrono::Utc),
                }),
            };
            let s = client.add_silence(&SilenceRequest {
                matchers,
                starts_at,
                ends_at: starts_at.unwrap_or_else(chrono::Utc::now) + d,
                author,
                comment,
            })?;
            writeln!(out, "{}", s.id)?;
            Ok(())
        }
        SilenceCommand::List { output } => {
            let resp = client.silences()?;
            output::silences(out, &resp.silences, output)?;
            Ok(())
        }
        SilenceCommand::Expire { id } => {
            let s = client.expire_silence(&id)?;
            writeln!(out, "expired {}", s.id)?;
            Ok(())
        }
    }
}

/// `30m`, `2h`, `1d`, `1h30m`: the one duration parser (`logwarden_core::duration`).
fn parse_duration(s: &str) -> anyhow::Result<chrono::Duration> {
    logwarden_core::duration::parse_chrono(s).map_err(anyhow::Error::msg)
}

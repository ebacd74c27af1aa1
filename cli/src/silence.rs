//! `logwarden silence add|list|expire`: keep matching alerts from being notified for a while,
//! from now or from `--start`, or in a weekly maintenance window (`--every DAYS --at HH:MM`).

use std::io::Write;

use anyhow::Context;
use logwarden_core::wire::{Matcher, SilenceRequest, Weekly};

use crate::client::Client;
use crate::display::Zone;
use crate::output::{self, Format};

#[derive(clap::Subcommand)]
pub enum SilenceCommand {
    /// Add one: `logwarden silence add alertname=RaidRebuilding host=mbox3 --duration 2h`, or a
    /// weekly maintenance window: `logwarden silence add alertname=~Backup.* --every sat,sun
    /// --at 01:00 --duration 4h --tz Europe/Berlin` (until expired, or `--until`).
    Add {
        /// NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX over labels, alertname and
        /// severity (all must match; a regex matches the whole value).
        #[arg(required = true)]
        matchers: Vec<String>,
        /// How long, from its start (30m, 2h, 1d, 1h30m; a bare number has no unit and is refused);
        /// with `--every`, how long each opening of the window lasts (at most 24h).
        #[arg(long, default_value = "2h")]
        duration: String,
        /// A recurring maintenance window on these days of the week (`mon,tue,...,sun`), from
        /// `--at` local time in the zone of `--tz` (UTC unless given; a tz database name such
        /// as Europe/Berlin, daylight saving included), for `--duration` each time.
        #[arg(long, value_name = "DAYS", value_delimiter = ',', requires = "at")]
        every: Vec<String>,
        /// With `--every`: when each opening starts, `HH:MM` local time.
        #[arg(long, value_name = "HH:MM", requires = "every")]
        at: Option<String>,
        /// With `--every`: when the window stops recurring (RFC 3339 or `+DURATION`); default
        /// never (until `logwarden silence expire ID`).
        #[arg(long, value_name = "TIME", requires = "every")]
        until: Option<String>,
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
    /// End a silence now (a recurring one opens no more).
    #[command(alias = "remove", alias = "rm")]
    Expire {
        /// The silence's id (first column of `logwarden silence list`).
        id: String,
    },
}

pub fn run(
    client: &Client,
    command: SilenceCommand,
    zone: Zone,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        SilenceCommand::Add {
            matchers,
            duration,
            every,
            at,
            until,
            start,
            comment,
            author,
        } => {
            let matchers = matchers
                .iter()
                .map(|m| m.parse::<Matcher>().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let d = parse_duration(&duration)?;
            let starts_at = start
                .as_deref()
                .map(|t| parse_time("--start", t))
                .transpose()?;
            let (ends_at, every) = match at {
                None => (starts_at.unwrap_or_else(chrono::Utc::now) + d, None),
                Some(at) => {
                    let ends_at = match until.as_deref() {
                        Some(t) => parse_time("--until", t)?,
                        None => logwarden_core::wire::forever(),
                    };
                    let every = Weekly {
                        days: every,
                        at,
                        duration_s: u64::try_from(d.num_seconds()).unwrap_or(0),
                        tz: window_zone(zone)?,
                    };
                    (ends_at, Some(every))
                }
            };
            let s = client.add_silence(&SilenceRequest {
                matchers,
                starts_at,
                ends_at,
                author,
                comment,
                every,
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

/// The zone of a window's `--at`: the global `--tz`, which must name one.
fn window_zone(zone: Zone) -> anyhow::Result<String> {
    match zone {
        Zone::Utc => Ok("UTC".into()),
        Zone::Named(tz) => Ok(tz.name().to_owned()),
        Zone::Local => anyhow::bail!(
            "--tz local does not name a zone the collector can keep for a maintenance window: \
             give its name (--tz Europe/Berlin)"
        ),
    }
}

/// RFC 3339 (`2026-12-06T01:00:00+01:00`) or `+DURATION` from now.
fn parse_time(flag: &str, t: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    Ok(match t.strip_prefix('+') {
        Some(rel) => chrono::Utc::now() + parse_duration(rel)?,
        None => chrono::DateTime::parse_from_rfc3339(t)
            .with_context(|| {
                format!("{flag} {t:?} is not RFC 3339 (2026-12-06T01:00:00+01:00) or +DURATION")
            })?
            .with_timezone(&chrono::Utc),
    })
}

/// `30m`, `2h`, `1d`, `1h30m`: the one duration parser (`logwarden_core::duration`).
fn parse_duration(s: &str) -> anyhow::Result<chrono::Duration> {
    logwarden_core::duration::parse_chrono(s).map_err(anyhow::Error::msg)
}

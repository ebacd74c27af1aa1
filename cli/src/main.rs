//! `logwarden`: the on-call engineer's command line, a thin client of the collector's HTTP API.
//!
//! Exit codes: 0 success (and, for `search`, at least one hit), 1 a search with no hit, 2 an
//! error (printed as one line on stderr).

mod client;
mod context;
mod display;
mod export;
#[cfg(test)]
mod help_texts;
mod output;
mod test_alert;
mod trace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use logwarden_core::wire::{CountParams, DEFAULT_SERVER, SearchParams};
use std::io::Write;

use anyhow::Context;
use logwarden_core::wire::{AckRequest, ForgetRequest, Matcher, SilenceRequest};

use client::Client;
use output::Format;

#[derive(Parser)]
#[command(
    name = "logwarden",
    version,
    about = "Search and watch a logwarden collector"
)]
struct Cli {
    /// The collector's URL.
    #[arg(long, global = true, env = "LOGWARDEN_SERVER", default_value = DEFAULT_SERVER)]
    server: String,
    /// Bearer token sent with every call: a read token for search and status, an admin token
    /// for acks and silences, when the collector has tokens.
    #[arg(long, global = true, env = "LOGWARDEN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file holding the token (one line), so that it does not show in `ps`; wins over
    /// `--token` and `LOGWARDEN_TOKEN`.
    #[arg(long, global = true, env = "LOGWARDEN_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,
    /// PEM CA certificate(s) to trust for an https:// collector, besides the system's roots.
    #[arg(long, global = true, env = "LOGWARDEN_CA_FILE", value_name = "FILE")]
    ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate, for a collector that demands one (mutual TLS).
    #[arg(
        long,
        global = true,
        env = "LOGWARDEN_CLIENT_CERT",
        value_name = "FILE",
        requires = "client_key"
    )]
    client_cert: Option<std::path::PathBuf>,
    /// PEM private key of `--client-cert`.
    #[arg(
        long,
        global = true,
        env = "LOGWARDEN_CLIENT_KEY",
        value_name = "FILE",
        requires = "client_cert"
    )]
    client_key: Option<std::path::PathBuf>,
    /// The zone times are shown in: UTC (the default), local (this machine's), or a tz
    /// database name such as Europe/Berlin (daylight saving included). Times typed in
    /// --since/--until without an offset are not affected: give them with one.
    #[arg(
        long,
        global = true,
        env = "LOGWARDEN_TZ",
        value_name = "ZONE",
        default_value = "UTC"
    )]
    tz: display::Zone,
    /// Colour in text answers: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value = "auto"
    )]
    color: display::ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Find events: tantivy query syntax over the event fields, newest first.
    ///
    /// Examples: 'app:sshd AND severity:err', 'host:mbox3 "RAID degraded"',
    /// 'fields.account:alice@example.com'. Exits 1 when nothing matches.
    Search {
        /// The query; '*' matches everything.
        query: String,
        /// Only events at or after: a duration back from now (15m, 2h, 7d) or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only events before: an RFC 3339 time or a duration back from now.
        #[arg(long)]
        until: Option<String>,
        /// At most this many events (the newest, or the oldest with --oldest-first).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Oldest first (the default is newest first).
        #[arg(long, conflicts_with = "follow")]
        oldest_first: bool,
        /// The next page: the cursor the last page ended with (printed on stderr after it).
        #[arg(long, value_name = "CURSOR", conflicts_with = "follow")]
        after: Option<String>,
        /// Each hit with N events before and after it from the same host and source (text:
        /// the hit marked `>`, groups parted by `--`).
        #[arg(
            short = 'C',
            long = "context",
            value_name = "N",
            conflicts_with = "follow"
        )]
        context: Option<usize>,
        /// Text: begin each line with the event's position, for `logwarden context`.
        #[arg(long, conflicts_with = "follow")]
        positions: bool,
        /// text (readable), json (one event per line, as ingested), raw (the message only),
        /// csv (a header, then one row per event: the columns of --fields).
        #[arg(short = 'o', long = "output", default_value = "text")]
        output: Format,
        /// With -o csv: the columns, comma separated: ts, received, id, host, site, source, app,
        /// severity, kind, message, fields.NAME (default ts,host,app,severity,message).
        #[arg(long, value_name = "COLUMNS", default_value = display::DEFAULT_COLUMNS)]
        fields: String,
        /// Print the newest matches oldest first, then new matches as they arrive (Ctrl-C stops).
        #[arg(short = 'f', long, conflicts_with = "until")]
        follow: bool,
    },
    /// Count matching events: in all, by a field's values (--by), or over time (--every).
    Count {
        /// The query; '*' counts everything.
        query: String,
        /// Only events at or after: a duration back from now (15m, 2h, 7d) or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only events before: an RFC 3339 time or a duration back from now.
        #[arg(long)]
        until: Option<String>,
        /// host, site, app, severity, kind, source or fields.NAME: the most frequent values, the
        /// rest as (other); two comma separated (host,app) count pairs.
        #[arg(long, conflicts_with = "every")]
        by: Option<String>,
        /// A bucket width (5m, 1h, 1d): a histogram.
        #[arg(long)]
        every: Option<String>,
        /// With --by: how many values (default 10).
        #[arg(long)]
        limit: Option<usize>,
        /// text (readable) or json (the API's answer).
        #[arg(short = 'o', long = "output", default_value = "text", value_parser = output::summary_format)]
        output: Format,
    },
    /// The extracted fields (fields.NAME) the matching events have, most frequent first, with
    /// how many have each.
    Fields {
        /// The query; '*' (the default) for every event.
        #[arg(default_value = "*")]
        query: String,
        /// Only events at or after: a duration back from now (15m, 2h, 7d) or an RFC 3339 time.
        #[arg(long, default_value = "1d")]
        since: String,
        /// Only events before: an RFC 3339 time or a duration back from now.
        #[arg(long)]
        until: Option<String>,
        /// text or json.
        #[arg(short = 'o', long = "output", default_value = "text", value_parser = output::summary_format)]
        output: Format,
    },
    /// The most frequent values of a field (host, app, ... or fields.NAME) among the matching
    /// events, the rest as (other): `count --by FIELD` by another name.
    Values {
        /// The field whose most frequent values are listed (host, app, fields.x, ...).
        field: String,
        /// The query; '*' (the default) for every event.
        #[arg(default_value = "*")]
        query: String,
        /// Only events at or after: a duration back from now (15m, 2h, 7d) or an RFC 3339 time.
        #[arg(long, default_value = "1d")]
        since: String,
        /// Only events before: an RFC 3339 time or a duration back from now.
        #[arg(long)]
        until: Option<String>,
        /// How many values (default 20).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// text or json.
        #[arg(short = 'o', long = "output", default_value = "text", value_parser = output::summary_format)]
        output: Format,
    },
    /// Every matching event as NDJSON on stdout, newest first, however many (a progress bar
    /// on stderr when it is a terminal).
    Export {
        /// The query; '*' exports everything.
        query: String,
        /// Only events at or after: a duration back from now (15m, 2h, 7d) or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only events before (default: the time the export starts).
        #[arg(long)]
        until: Option<String>,
        /// Events asked for per request (at most 10000).
        #[arg(long, default_value_t = 5000)]
        page_size: usize,
        /// Oldest first (the default is newest first).
        #[arg(long)]
        oldest_first: bool,
    },
    /// The events around one, from the same host and source, in order: POSITION is what
    /// `search --positions` prints first on each line (or the API's `positions`).
    Context {
        /// The event's position, as `search --positions` prints it.
        position: String,
        /// Events before it.
        #[arg(short = 'B', long, default_value_t = 5)]
        before: usize,
        /// Events after it.
        #[arg(short = 'A', long, default_value_t = 5)]
        after: usize,
        /// text (readable), json (one event per line), raw (the message only), csv, as for search.
        #[arg(short = 'o', long = "output", default_value = "text")]
        output: Format,
        /// With -o csv: the columns, as for search.
        #[arg(long, value_name = "COLUMNS", default_value = display::DEFAULT_COLUMNS)]
        fields: String,
    },
    /// Follow a message across the fleet: by queue id, message-id or address.
    ///
    /// A timeline, one line per hop (time, delay since the previous hop, host, component,
    /// queue id, what happened), then each recipient's final status. By address: its
    /// messages newest first, one line each. Exits 1 when nothing matches, 2 on a malformed id.
    Trace(trace::TraceArgs),
    /// Every host: last seen, and the newest state of its arrays, disks, file systems, backups.
    Fleet {
        /// text (readable) or json (the API's answer).
        #[arg(short = 'o', long = "output", default_value = "text", value_parser = output::summary_format)]
        output: Format,
        #[command(subcommand)]
        command: Option<FleetCommand>,
    },
    /// The collector's role, epoch, WAL and index state.
    Status {
        /// text (readable) or json (the API's answer).
        #[arg(short = 'o', long = "output", default_value = "text", value_parser = output::summary_format)]
        output: Format,
    },
    /// Planned switchover: the standby becomes primary after it has copied everything the
    /// primary holds; agents follow (docs/failover.md). Asked of either collector.
    Promote {
        /// Promote the standby without the primary (it is down for good). The old primary
        /// steps down when it comes back.
        #[arg(long)]
        force: bool,
    },
    /// Firing alerts, loudest first (exit 0 either way); `alerts test` sends a test one.
    Alerts {
        #[command(subcommand)]
        command: Option<AlertsCommand>,
        /// Resolved alerts too.
        #[arg(long)]
        all: bool,
        /// text (readable) or json (the API's answer).
        #[arg(short = 'o', long = "output", default_value = "text", value_parser = output::summary_format)]
        output: Format,
    },
    /// Acknowledge an alert: no more repeats until it resolves or changes severity.
    Ack {
        /// The alert's id (first column of `logwarden alerts`), or enough of its first digits
        /// to tell it from the other firing alerts.
        id: String,
        /// Why, or what is being done about it (shown with the alert).
        #[arg(long, default_value = "")]
        comment: String,
        /// Who acks (default: $USER).
        #[arg(long, env = "USER", default_value = "")]
        author: String,
    },
    /// Silences: keep matching alerts from being notified for a while.
    Silence {
        #[command(subcommand)]
        command: SilenceCommand,
    },
}

#[derive(Subcommand)]
enum FleetCommand {
    /// Retire a host stopped on purpose (admin): its alerts (AgentSilent among them) resolve
    /// and it leaves the fleet view until it sends anything again.
    Forget {
        /// The host, as `logwarden fleet` shows it.
        host: String,
        /// Who retires it (default: $USER).
        #[arg(long, env = "USER", default_value = "")]
        author: String,
    },
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// Send a synthetic alert through the collector's routes to its real receivers and print
    /// what each answered (it never enters the alert table). Exit 1 if any refused or none was
    /// reached. Needs an admin token.
    Test {
        /// Only this receiver, whatever the routes say.
        #[arg(long, value_name = "NAME")]
        receiver: Option<String>,
        /// The alert's labels: `k=v,...` (repeat or comma-separate); `alertname` defaults to
        /// LogwardenTest, `severity` to warning.
        #[arg(long, value_name = "K=V,...")]
        labels: Vec<String>,
        /// text (readable) or json (the API's answer).
        #[arg(short = 'o', long = "output", default_value = "text", value_parser = output::summary_format)]
        output: Format,
    },
}

#[derive(Subcommand)]
enum SilenceCommand {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("logwarden: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let columns = match &cli.command {
        Command::Search {
            fields, output: o, ..
        }
        | Command::Context {
            fields, output: o, ..
        } => {
            if *o != Format::Csv && fields != display::DEFAULT_COLUMNS {
                anyhow::bail!("--fields chooses the columns of -o csv: add -o csv");
            }
            display::Column::parse_list(fields).map_err(anyhow::Error::msg)?
        }
        _ => Vec::new(),
    };
    display::init(display::Display {
        zone: cli.tz,
        color: cli.color.enabled(),
        columns,
    });
    let identity = cli.client_cert.as_deref().zip(cli.client_key.as_deref());
    let token = match &cli.token_file {
        Some(path) => Some(logwarden_core::token_file::read_token(path)?),
        None => cli.token.clone(),
    };
    let client = Client::new(&cli.server, token, cli.ca_file.as_deref(), identity)?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Search {
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
        } => {
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
                        context::print(&mut out, &context::fetch(&client, p, n, n)?, output)?;
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
        Command::Count {
            query,
            since,
            until,
            by,
            every,
            limit,
            output,
        } => {
            let resp = client.count(&CountParams {
                q: query,
                since,
                until,
                by,
                every,
                limit,
            })?;
            output::count(&mut out, &resp, output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            query,
            since,
            until,
            page_size,
            oldest_first,
        } => {
            let export = export::Export {
                query,
                since,
                until,
                page_size,
                oldest_first,
            };
            let mut buffered = std::io::BufWriter::with_capacity(1 << 16, out);
            let n = export::run(&client, &export, &mut buffered)?;
            eprintln!("logwarden: exported {} events", indicatif::HumanCount(n));
            Ok(ExitCode::SUCCESS)
        }
        Command::Trace(args) => trace::run(&client, args, &mut out),
        Command::Fields {
            query,
            since,
            until,
            output,
        } => {
            let resp = client.fields(&logwarden_core::wire::FieldsParams {
                q: query,
                since: Some(since),
                until,
            })?;
            output::fields(&mut out, &resp, output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Values {
            field,
            query,
            since,
            until,
            limit,
            output,
        } => {
            let resp = client.count(&CountParams {
                q: query,
                since: Some(since),
                until,
                by: Some(field),
                every: None,
                limit: Some(limit),
            })?;
            output::count(&mut out, &resp, output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Context {
            position,
            before,
            after,
            output,
            fields: _,
        } => {
            let c = context::fetch(&client, &position, before, after)?;
            output::header(&mut out, output)?;
            context::print(&mut out, &c, output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Fleet {
            command: Some(FleetCommand::Forget { host, author }),
            ..
        } => {
            let done = client.forget(&host, &ForgetRequest { author })?;
            write!(
                out,
                "forgot {}: it leaves the fleet view until it reports again",
                done.host
            )?;
            match done.resolved.as_slice() {
                [] => writeln!(out, "; none of its alerts was firing")?,
                resolved => {
                    writeln!(out, "; resolved:")?;
                    for a in resolved {
                        writeln!(out, "  {} {} ({})", a.id, a.name, a.severity)?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Fleet {
            output,
            command: None,
        } => {
            let fleet = client.fleet()?;
            output::fleet(&mut out, &fleet, output, chrono::Utc::now())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { output } => {
            let status = client.status()?;
            output::status(&mut out, &status, output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Promote { force } => {
            let started = std::time::Instant::now();
            let p = client.promote(force)?;
            writeln!(
                out,
                "site {} is primary at epoch {} (it holds the old primary's log up to LSN {})",
                p.site, p.epoch, p.durable_lsn
            )?;
            // The collectors restart their parts in their new roles: wait until this one shows it.
            let deadline = started + std::time::Duration::from_secs(30);
            loop {
                if let Ok(s) = client.status()
                    && s.epoch >= p.epoch
                {
                    writeln!(
                        out,
                        "{} is now {} (switchover took {:.2} s)",
                        cli.server,
                        s.role,
                        started.elapsed().as_secs_f64()
                    )?;
                    break;
                }
                if std::time::Instant::now() > deadline {
                    anyhow::bail!(
                        "{} did not show epoch {} within 30 s; check `logwarden status` on both collectors",
                        cli.server,
                        p.epoch
                    );
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Alerts {
            command:
                Some(AlertsCommand::Test {
                    receiver,
                    labels,
                    output,
                }),
            ..
        } => {
            let mut map = std::collections::BTreeMap::new();
            for part in labels.iter().flat_map(|l| l.split(',')) {
                let part = part.trim();
                if part.is_empty() {
                    continue;
                }
                let (k, v) = part
                    .split_once('=')
                    .with_context(|| format!("label {part:?} is not name=value"))?;
                map.insert(k.trim().to_owned(), v.trim().to_owned());
            }
            let resp = client.test_alert(&logwarden_core::wire::TestAlertRequest {
                receiver,
                labels: map,
            })?;
            test_alert::print(&mut out, &resp, output)?;
            let ok = !resp.outcomes.is_empty() && resp.outcomes.iter().all(|o| o.sent);
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Alerts {
            command: None,
            all,
            output,
        } => {
            let resp = client.alerts(all)?;
            output::alerts(&mut out, &resp.alerts, output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ack {
            id,
            comment,
            author,
        } => {
            let a = client.ack(&id, &AckRequest { author, comment })?;
            writeln!(out, "acknowledged {} {} ({})", a.id, a.name, a.severity)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Silence { command } => match command {
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
                Ok(ExitCode::SUCCESS)
            }
            SilenceCommand::List { output } => {
                let resp = client.silences()?;
                output::silences(&mut out, &resp.silences, output)?;
                Ok(ExitCode::SUCCESS)
            }
            SilenceCommand::Expire { id } => {
                let s = client.expire_silence(&id)?;
                writeln!(out, "expired {}", s.id)?;
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}

/// `30m`, `2h`, `1d`, `1h30m`: the one duration parser (`logwarden_core::duration`).
fn parse_duration(s: &str) -> anyhow::Result<chrono::Duration> {
    logwarden_core::duration::parse_chrono(s).map_err(anyhow::Error::msg)
}

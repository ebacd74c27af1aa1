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
mod partial;
mod promote;
mod search;
mod silence;
mod test_alert;
mod trace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use logwarden_core::wire::{CountParams, DEFAULT_SERVER};
use std::io::Write;

use logwarden_core::wire::{AckRequest, ForgetRequest};

use client::Client;
use output::Format;

#[derive(Parser)]
#[command(
    name = "logwarden",
    version,
    about = "Search and watch a logwarden collector"
)]
struct Cli {
    /// Cluster mode: accept an answer that lacks partitions whose owner did not answer (it
    /// still says so on stderr); without it such an answer exits 3.
    #[arg(long, global = true)]
    allow_partial: bool,
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
    Search(search::SearchArgs),
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
    Export(export::Export),
    /// The events around one, from the same host and source, in order: the event's id
    /// (AGENT:SEQ, as `search -o json` prints it) or its position (what `search --positions`
    /// prints first on each line, or the API's `positions`). Exits 1 when no event has it, 2
    /// when it is neither an id nor a position.
    Context {
        /// The event's id (AGENT:SEQ) or position (as `search --positions` prints it).
        #[arg(value_name = "ID|POSITION")]
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
        command: silence::SilenceCommand,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let allow_partial = cli.allow_partial;
    match run(cli) {
        Ok(code) => partial::verdict(code, allow_partial),
        Err(e) => {
            eprintln!("logwarden: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let client = setup(&cli)?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Search(args) => return search::run(&client, args, &mut out),
        Command::Count {
            query,
            since,
            until,
            by,
            every,
            limit,
            output,
        } => {
            let params = CountParams {
                q: query,
                since,
                until,
                by,
                every,
                limit,
            };
            output::count(&mut out, &client.count(&params)?, output)?
        }
        Command::Export(export) => {
            let mut buffered = std::io::BufWriter::with_capacity(1 << 16, out);
            let n = export::run(&client, &export, &mut buffered)?;
            eprintln!("logwarden: exported {} events", indicatif::HumanCount(n));
        }
        Command::Trace(args) => return trace::run(&client, args, &mut out),
        Command::Fields {
            query,
            since,
            until,
            output,
        } => {
            let params = logwarden_core::wire::FieldsParams {
                q: query,
                since: Some(since),
                until,
            };
            output::fields(&mut out, &client.fields(&params)?, output)?
        }
        Command::Values {
            field,
            query,
            since,
            until,
            limit,
            output,
        } => {
            let params = CountParams {
                q: query,
                since: Some(since),
                until,
                by: Some(field),
                every: None,
                limit: Some(limit),
            };
            output::count(&mut out, &client.count(&params)?, output)?
        }
        Command::Context {
            position,
            before,
            after,
            output,
            fields: _,
        } => {
            let c = match context::fetch(&client, &position, before, after) {
                Err(e) if e.is::<client::NotFound>() => {
                    let e = e.downcast::<client::NotFound>()?;
                    eprintln!("logwarden: {}", e.message);
                    return Ok(ExitCode::from(1));
                }
                c => c?,
            };
            output::header(&mut out, output)?;
            context::print(&mut out, &c, output)?
        }
        Command::Fleet {
            command: Some(FleetCommand::Forget { host, author }),
            ..
        } => fleet_forget(&client, &host, author, &mut out)?,
        Command::Fleet {
            output,
            command: None,
        } => output::fleet(&mut out, &client.fleet()?, output, chrono::Utc::now())?,
        Command::Status { output } => output::status(&mut out, &client.status()?, output)?,
        Command::Promote { force } => promote::run(&client, &cli.server, force, &mut out)?,
        Command::Alerts {
            command:
                Some(AlertsCommand::Test {
                    receiver,
                    labels,
                    output,
                }),
            ..
        } => return test_alert::run(&client, receiver, &labels, output, &mut out),
        Command::Alerts {
            command: None,
            all,
            output,
        } => output::alerts(&mut out, &client.alerts(all)?.alerts, output)?,
        Command::Ack {
            id,
            comment,
            author,
        } => {
            let a = client.ack(&id, &AckRequest { author, comment })?;
            writeln!(out, "acknowledged {} {} ({})", a.id, a.name, a.severity)?
        }
        Command::Silence { command } => silence::run(&client, command, cli.tz, &mut out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The columns `--fields` names, refused unless the output is csv.
fn csv_columns(fields: &str, output: Format) -> anyhow::Result<Vec<display::Column>> {
    if output != Format::Csv && fields != display::DEFAULT_COLUMNS {
        anyhow::bail!("--fields chooses the columns of -o csv: add -o csv");
    }
    display::Column::parse_list(fields).map_err(anyhow::Error::msg)
}

/// How answers look (`display`) and the client of the collector, from the global flags.
fn setup(cli: &Cli) -> anyhow::Result<Client> {
    let columns = match &cli.command {
        Command::Search(a) => csv_columns(&a.fields, a.output)?,
        Command::Context { fields, output, .. } => csv_columns(fields, *output)?,
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
    Client::new(&cli.server, token, cli.ca_file.as_deref(), identity)
}

/// `fleet forget HOST`: retire a host stopped on purpose, and say which of its alerts resolved.
fn fleet_forget(
    client: &Client,
    host: &str,
    author: String,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let done = client.forget(host, &ForgetRequest { author })?;
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
    Ok(())
}

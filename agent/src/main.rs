//! `logwarden-agent`: reads arguments, builds, runs, and turns errors into an exit code.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use logwarden_agent::config::{self, Overrides, Settings};
use logwarden_agent::health::{self, CheckSources, HealthConfig};
use logwarden_agent::parse::join::{Record, RecordJoiner};
use logwarden_agent::parse::{Format, LineParser, ParseOptions, Zone};
use logwarden_core::EventId;
use logwarden_core::data_lock::DataLock;
use tokio_util::sync::CancellationToken;

/// How long a stopping agent goes on shipping what it has spooled. Short: the spool is on disk
/// and goes first at the next start, so a stop (systemd's, an upgrade's) need not wait for the
/// collector; it only lets the batch in flight be acknowledged.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(3);

#[derive(Parser)]
#[command(
    name = "logwarden-agent",
    version,
    about = "Tails logs, probes disk health, ships to a logwarden collector"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tail files and ship events until stopped (SIGINT or SIGTERM).
    Run {
        /// TOML config file (see docs/configuration.md).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Parse lines (FILE, or stdin) and print one event per line as NDJSON, as the agent would ship them.
    ///
    /// Continuation lines (stack traces under a log4j line) are joined into their record.
    Parse {
        #[arg(long, default_value = "auto")]
        format: Format,
        /// Zone of times written without one: `local`, `utc` or an offset like `+02:00`.
        #[arg(long, default_value = "local")]
        tz: Zone,
        file: Option<PathBuf>,
    },
    /// Probe disk and RAID health once and print the health records (NDJSON with --json).
    /// Exits 0 when every check was readable, 1 when one was not (named on stderr).
    /// With no source flag (--mdstat, --smartctl-json, --storcli-json, --backup, --redfish)
    /// it probes this machine.
    Check {
        /// One event per line as NDJSON, as the agent would ship them.
        #[arg(long)]
        json: bool,
        /// An mdstat file to read instead of /proc/mdstat.
        #[arg(long, value_name = "PATH")]
        mdstat: Option<PathBuf>,
        /// A /sys/block tree (md details, backup lineage).
        #[arg(long, value_name = "DIR")]
        sys_block: Option<PathBuf>,
        /// A saved `smartctl --json` output (repeat).
        #[arg(long = "smartctl-json", value_name = "FILE")]
        smartctl_json: Vec<PathBuf>,
        /// A saved `storcli /call show all J` output (repeat).
        #[arg(long = "storcli-json", value_name = "FILE")]
        storcli_json: Vec<PathBuf>,
        /// A backup folder; pairs with the --data at the same position (one --backup may
        /// serve several --data).
        #[arg(long, value_name = "DIR", requires = "data")]
        backup: Vec<PathBuf>,
        /// A data folder the backup protects.
        #[arg(long, value_name = "DIR", requires = "backup")]
        data: Vec<PathBuf>,
        /// A mountinfo file to read instead of /proc/self/mountinfo.
        #[arg(long, value_name = "FILE")]
        mountinfo: Option<PathBuf>,
        /// An fstab to read instead of /etc/fstab (for unmounted backup targets).
        #[arg(long, value_name = "FILE")]
        fstab: Option<PathBuf>,
        #[command(flatten)]
        redfish: RedfishArgs,
    },
    /// Inspect this machine (Zimbra services, logs, arrays, SMART, backups) and write a config.
    ///
    /// Prints what it found and what it could not see. Writes /etc/logwarden/agent.toml
    /// (--config) atomically, never over an existing file without --force.
    Init(logwarden_agent::init::InitArgs),
    /// Show what a running agent tails (offsets, lag, lines read and shipped) and its spool.
    ///
    /// Asks the agent's listener (`[metrics] listen`, or --metrics-listen of the running agent)
    /// when one is configured; otherwise reads the data dir (acknowledged offsets and spool
    /// size only).
    Status {
        /// The agent's config file: its [metrics] listen and data dir.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The agent's listener, e.g. 127.0.0.1:9102 (overrides the config's).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Read this data dir instead of asking the agent.
        #[arg(long, value_name = "DIR", conflicts_with = "listen")]
        data_dir: Option<PathBuf>,
        /// The status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

/// `check --redfish`: BMCs to read once (the user and TLS flags apply to each).
#[derive(clap::Args)]
struct RedfishArgs {
    /// A BMC's Redfish service (`https://bmc`, `/redfish/v1` added) to read the RAID volumes and
    /// drives of (repeat).
    #[arg(long = "redfish", value_name = "URL")]
    urls: Vec<String>,
    /// User for the BMC.
    #[arg(long = "redfish-user", value_name = "USER", requires = "urls")]
    user: Option<String>,
    /// File holding the BMC password (first line), mode 0600.
    #[arg(long = "redfish-password-file", value_name = "FILE", requires = "user")]
    password_file: Option<PathBuf>,
    /// PEM file of the CA (or the BMC's own certificate) to trust.
    #[arg(long = "redfish-ca-file", value_name = "FILE", requires = "urls")]
    ca_file: Option<PathBuf>,
    /// Accept any certificate (a factory self-signed one).
    #[arg(
        long = "redfish-insecure",
        requires = "urls",
        conflicts_with = "ca_file"
    )]
    insecure: bool,
    /// Seconds one request may take (default 5).
    #[arg(
        long = "redfish-timeout",
        value_name = "SECS",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    timeout: u64,
}

impl RedfishArgs {
    fn targets(&self) -> anyhow::Result<Vec<health::redfish::RedfishTarget>> {
        self.urls
            .iter()
            .map(|u| {
                let t = health::redfish::RedfishTarget {
                    user: self.user.clone(),
                    password_file: self.password_file.clone(),
                    ca_file: self.ca_file.clone(),
                    insecure: self.insecure,
                    timeout: std::time::Duration::from_secs(self.timeout),
                    ..health::redfish::RedfishTarget::new(u)
                };
                t.validate().map_err(|e| {
                    anyhow::anyhow!(e.replace("[[health.redfish]] url", "--redfish"))
                })?;
                Ok(t)
            })
            .collect()
    }
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file without starting.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOGWARDEN_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("logwarden-agent: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run { config, overrides } => {
            let flags = overrides.clone();
            let settings = match &config {
                Some(path) => config::load_settings(path, overrides)?,
                None => Settings::build(config::FileConfig::default(), overrides)?,
            };
            // Before anything in the folder is read: one agent per data folder (and spool).
            let _locks = lock_data_folders(&settings)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(async {
                let shutdown = CancellationToken::new();
                tokio::spawn(logwarden_core::signal::stop_on_signal(shutdown.clone()));
                let file_lists =
                    logwarden_agent::reload::spawn(config, flags, &settings, shutdown.clone());
                logwarden_agent::pipeline::run(settings, shutdown, SHUTDOWN_DRAIN, file_lists).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Init(args) => logwarden_agent::init::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Parse { format, tz, file } => parse(format, tz, file).map(|()| ExitCode::SUCCESS),
        Command::Check {
            json,
            mdstat,
            sys_block,
            smartctl_json,
            storcli_json,
            backup,
            data,
            mountinfo,
            fstab,
            redfish,
        } => {
            let backups = config::backup_rules(backup, data)?
                .into_iter()
                .flat_map(|r| r.data.into_iter().map(move |d| (r.dir.clone(), d)))
                .collect();
            let sources = CheckSources {
                mdstat,
                sys_block,
                smartctl_json,
                storcli_json,
                backups,
                mountinfo,
                fstab,
                redfish: redfish.targets()?,
            };
            check(&sources, json)
        }
        Command::Status {
            config,
            listen,
            data_dir,
            json,
        } => status(config, listen, data_dir, json),
        Command::Config {
            command: ConfigCommand::Check { file },
        } => {
            let checked = config::check(&file, Overrides::default())?;
            for note in &checked.deprecations {
                println!("{note}");
            }
            println!("{}: ok", file.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Locks the data folder, and the spool folder too when it is elsewhere; held until exit.
fn lock_data_folders(settings: &Settings) -> anyhow::Result<Vec<DataLock>> {
    let mut locks = vec![DataLock::acquire(&settings.data_dir, "logwarden-agent")?];
    if !settings.spool.dir.starts_with(&settings.data_dir) {
        locks.push(DataLock::acquire(&settings.spool.dir, "logwarden-agent")?);
    }
    Ok(locks)
}

/// `status`: from the running agent's listener, or from the data dir.
fn status(
    config: Option<PathBuf>,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use logwarden_agent::observe::AgentStatus;
    let file = match &config {
        Some(path) => config::load(path)?,
        None => config::FileConfig::default(),
    };
    let overrides = Overrides {
        data_dir: data_dir.clone(),
        metrics_listen: listen,
        ..Overrides::default()
    };
    let settings = Settings::build(file, overrides)?;
    let status = match settings.metrics_listen.filter(|_| data_dir.is_none()) {
        Some(addr) => {
            let url = format!(
                "http://{addr}{}",
                logwarden_agent::observe::listener::STATUS_PATH
            );
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(async {
                let resp = reqwest::Client::new()
                    .get(&url)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .with_context(|| format!("asking the agent at {url} (is it running with [metrics] listen = \"{addr}\"?)"))?
                    .error_for_status()
                    .with_context(|| format!("asking the agent at {url}"))?;
                resp.json::<AgentStatus>()
                    .await
                    .with_context(|| format!("reading the agent's answer from {url}"))
            })?
        }
        None => AgentStatus::from_data_dir(&settings.data_dir, &settings.spool.dir)?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", logwarden_agent::observe::table::render(&status));
    }
    Ok(ExitCode::SUCCESS)
}

/// `check`: probes once, prints the records on stdout, notes and problems on stderr.
fn check(sources: &CheckSources, json: bool) -> anyhow::Result<ExitCode> {
    let cfg = HealthConfig::default();
    let report = health::check_once(sources, &cfg, std::time::SystemTime::now());
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    if json {
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let now = chrono::Utc::now();
        for (i, draft) in report.drafts.into_iter().enumerate() {
            let event = draft.into_event(EventId::new("check", i as u64 + 1), &host, "", now);
            serde_json::to_writer(&mut out, &event)?;
            out.write_all(b"\n")?;
        }
    } else if !report.drafts.is_empty() {
        out.write_all(health::render_table(&report.drafts).as_bytes())?;
    }
    out.flush()?;
    for note in &report.notes {
        eprintln!("{note}");
    }
    for p in &report.problems {
        eprintln!("logwarden-agent check: cannot read {p}");
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn parse(format: Format, zone: Zone, file: Option<PathBuf>) -> anyhow::Result<()> {
    let (reader, path): (Box<dyn BufRead>, PathBuf) = match file {
        Some(p) => {
            let f = std::fs::File::open(&p).with_context(|| format!("opening {}", p.display()))?;
            (Box::new(std::io::BufReader::with_capacity(1 << 16, f)), p)
        }
        None => (Box::new(std::io::stdin().lock()), PathBuf::from("-")),
    };
    let options = ParseOptions {
        zone,
        ..ParseOptions::default()
    };
    let mut parser = LineParser::with_options(&path, format, &options);
    let mut joiner = RecordJoiner::default();
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out.lock());
    let mut seq = 0u64;
    let mut emit = |parser: &mut LineParser, rec: Record| -> anyhow::Result<()> {
        let mut draft = parser.parse(&rec.text);
        if rec.truncated {
            draft.fields.insert("truncated".into(), true.into());
        }
        seq += 1;
        let event = draft.into_event(EventId::new("parse", seq), &host, "", chrono::Utc::now());
        serde_json::to_writer(&mut out, &event)?;
        out.write_all(b"\n")?;
        Ok(())
    };
    for line in reader.split(b'\n') {
        let mut line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let starts = parser.starts_record(&line);
        if let Some(rec) = joiner.push(&line, starts) {
            emit(&mut parser, rec)?;
        }
    }
    if let Some(rec) = joiner.finish() {
        emit(&mut parser, rec)?;
    }
    out.flush()?;
    Ok(())
}

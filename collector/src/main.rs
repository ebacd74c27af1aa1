//! `logwarden-collector`: reads arguments, builds, runs, and turns errors into an exit code.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use logwarden_collector::auth::{Role, tokens_file};
use logwarden_collector::config::{self, Overrides, Settings};
use logwarden_core::data_lock::DataLock;
use tokio_util::sync::CancellationToken;

/// mimalloc rather than glibc's allocator. Events are allocated on one thread (a connection,
/// an ingest request) and freed on another (the committer's cache, tantivy's indexing thread),
/// which glibc pays for with arena locks and consolidation: with mimalloc the collector used
/// 11-20% less CPU for the same burst, in alternating runs (docs/BENCHMARKS.md, session 4).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc asks for transparent huge pages on its arenas, and gives memory it no longer uses
/// back in 64 KiB pieces. Under a syslog burst, where events are allocated on one thread and
/// freed on another, that meant fault after fault of a fresh 2 MiB page, each zeroed whole by
/// the kernel. Without them, six alternating pairs of runs of 500k syslog messages: median 595k
/// against 471k msgs/s durable, 1.55 against 2.03 s of CPU, 35 MiB less peak RSS; 1M events of
/// ingest: 19.3 against 18.7 MB/s per core, 28 MiB less (docs/BENCHMARKS.md, session 7). For
/// this process only; the system's setting is left alone.
fn no_transparent_huge_pages() {
    // Before any thread starts: threads share the flag, and memory faulted in before it stays
    // as it is.
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("warning: cannot turn transparent huge pages off for the collector: {e}");
    }
}

#[derive(Parser)]
#[command(
    name = "logwarden-collector",
    version,
    about = "Takes events from agents, keeps them in a WAL, indexes and serves them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the size of the `run` variant's flags does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve until stopped (SIGINT or SIGTERM).
    Run {
        /// TOML config file (see docs/configuration.md).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        overrides: Box<Overrides>,
    },
    /// The witness of a primary/standby pair, at a third site: it decides, once, which of them
    /// holds each epoch (docs/failover.md).
    Witness {
        /// HTTP address.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7071")]
        listen: String,
        /// Where the witness keeps its one small state file.
        #[arg(long, value_name = "DIR", default_value = "./logwarden-witness")]
        data_dir: PathBuf,
        /// Who may vote (docs/security.md).
        #[command(flatten)]
        tokens: logwarden_collector::replication::witness_tokens::WitnessTokens,
    },
    /// Configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Named bearer tokens, stored hashed in the tokens file; a running collector picks up
    /// changes within a second.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
        #[command(flatten)]
        place: TokensPlace,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it (the only time it is shown).
    Add {
        /// Who holds it: an agent's host name, a person, a dashboard.
        name: String,
        /// What it allows: `ingest` (agents), `read` (search and status), `replication` (the
        /// peer collector: WAL pull, handover) or `admin` (ack, silence, promote, and
        /// everything else).
        #[arg(long, default_value = "ingest")]
        role: logwarden_collector::auth::Role,
        /// An ingest token may only send ids of this agent (`AGENT:SEQ` or `AGENT-*:SEQ`, as
        /// the agent makes them from its host name). Default: NAME.
        #[arg(long, value_name = "AGENT", conflicts_with = "any_agent")]
        agent: Option<String>,
        /// An ingest token that may send any agent's ids (shared by several agents).
        #[arg(long)]
        any_agent: bool,
    },
    /// Remove a token; it stops working at once, without a restart.
    Revoke { name: String },
    /// The names and roles of the tokens (never the tokens).
    List,
}

/// Where the tokens file is: `--tokens-file`, else the config's `tokens_file`, else `tokens`
/// in the data directory (`--data-dir`, the config's `data_dir`, or the default).
#[derive(clap::Args)]
struct TokensPlace {
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[arg(long, global = true, value_name = "FILE")]
    tokens_file: Option<PathBuf>,
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl TokensPlace {
    fn path(self) -> anyhow::Result<PathBuf> {
        let file = match &self.config {
            Some(p) => config::load(p)?,
            None => config::FileConfig::default(),
        };
        Ok(self.tokens_file.or(file.tokens_file).unwrap_or_else(|| {
            self.data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(config::DEFAULT_DATA_DIR))
                .join("tokens")
        }))
    }
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file without starting.
    Check { file: PathBuf },
    /// The routing tree (`[alerts.route]`).
    Routes {
        #[command(subcommand)]
        command: RoutesCommand,
    },
}

#[derive(Subcommand)]
enum RoutesCommand {
    /// Print the receivers an alert with these labels reaches, one a line, with the route that
    /// chose each and its grouping and timers (Alertmanager's `amtool config routes test`).
    Test {
        /// The collector's config file (default: the embedded defaults).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// `name=value` labels, `alertname` and `severity` included (also comma-separated).
        #[arg(value_name = "LABEL", required = true)]
        labels: Vec<String>,
    },
}

/// `config check FILE`: the file checked whole without starting anything; one line per
/// deprecated key it uses, then `FILE: ok`.
fn config_check(file: &std::path::Path) -> anyhow::Result<()> {
    let checked = config::check(file, Overrides::default())?;
    for note in &checked.deprecations {
        println!("{note}");
    }
    println!("{}: ok", file.display());
    Ok(())
}

fn main() -> ExitCode {
    no_transparent_huge_pages();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOGWARDEN_LOG")
                .unwrap_or_else(|_| "info,tantivy=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logwarden-collector: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run { config, overrides } => serve(config, *overrides),
        Command::Witness {
            listen,
            data_dir,
            tokens,
        } => witness(&listen, &data_dir, &tokens),
        Command::Config {
            command: ConfigCommand::Check { file },
        } => config_check(&file),
        Command::Config {
            command:
                ConfigCommand::Routes {
                    command: RoutesCommand::Test { config, labels },
                },
        } => routes_test(config, &labels),
        Command::Token { command, place } => token(command, place),
    }
}

/// `run`: the collector, until SIGINT or SIGTERM.
fn serve(config: Option<PathBuf>, overrides: Overrides) -> anyhow::Result<()> {
    let flags = overrides.clone();
    let settings = match &config {
        Some(path) => config::load_settings(path, overrides)?,
        None => Settings::build(config::FileConfig::default(), overrides)?,
    };
    // Before anything in the folder is read, and before the port: one collector per
    // data folder, and the message says which process holds it.
    let _lock = DataLock::acquire(&settings.data_dir, "logwarden-collector")?;
    let mut settings = settings;
    settings.alerts.reloads = Some(logwarden_collector::reload::subscribe());
    logwarden_collector::reload::started();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("listening on {}", settings.listen))?;
        let addr = listener.local_addr()?;
        // Scripts and tests read this line to find the port.
        let scheme = if settings.tls.is_some() {
            "https"
        } else {
            "http"
        };
        if let Some(cluster) = &mut settings.cluster {
            cluster.reachable_at(scheme, addr)?;
        }
        println!("logwarden-collector listening on {scheme}://{addr}");
        std::io::stdout().flush().ok();
        let shutdown = CancellationToken::new();
        tokio::spawn(logwarden_core::signal::stop_on_signal(shutdown.clone()));
        tokio::spawn(logwarden_collector::reload::on_sighup(
            config.clone(),
            flags,
            settings.clone(),
        ));
        logwarden_collector::server::serve(listener, settings, shutdown).await
    })
}

/// `witness`: the third site's judge of epochs, until SIGINT or SIGTERM.
fn witness(
    listen: &str,
    data_dir: &std::path::Path,
    tokens: &logwarden_collector::replication::witness_tokens::WitnessTokens,
) -> anyhow::Result<()> {
    let _lock = DataLock::acquire(data_dir, "logwarden-collector witness")?;
    let auth = std::sync::Arc::new(tokens.auth(data_dir)?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        println!("logwarden-collector listening on http://{addr}");
        std::io::stdout().flush().ok();
        let shutdown = CancellationToken::new();
        tokio::spawn(logwarden_core::signal::stop_on_signal(shutdown.clone()));
        logwarden_collector::replication::witness::serve(listener, data_dir, auth, shutdown).await
    })
}

/// `config routes test`: the receivers these labels reach.
fn routes_test(config: Option<PathBuf>, labels: &[String]) -> anyhow::Result<()> {
    let settings = match &config {
        Some(path) => config::load_settings(path, Overrides::default())?,
        None => Settings::build(config::FileConfig::default(), Overrides::default())?,
    };
    let labels =
        logwarden_collector::notify::route::parse_labels(labels).map_err(anyhow::Error::msg)?;
    let alerts = &settings.alerts;
    let tree = alerts.route_tree();
    let reached = tree.matching(&|l| labels.get(l).map(String::as_str));
    if reached.is_empty() {
        eprintln!("no receiver: these labels reach no route with a receiver");
    }
    for i in reached {
        println!("{}", tree.describe(i, &alerts.receivers));
    }
    Ok(())
}

/// `token add|revoke|list`: edits or reads the tokens file.
fn token(command: TokenCommand, place: TokensPlace) -> anyhow::Result<()> {
    let path = place.path()?;
    match command {
        TokenCommand::Add {
            name,
            role,
            agent,
            any_agent,
        } => {
            let agent = (!any_agent).then(|| agent.unwrap_or_else(|| name.clone()));
            let token = tokens_file::add(&path, &name, role, agent.as_deref())?;
            let bound = match agent.filter(|_| role == Role::Ingest) {
                Some(a) => format!(" (ids of agent {a:?} only: {a}-*:SEQ)"),
                None => String::new(),
            };
            eprintln!(
                "added {role} token {name:?}{bound} to {}; it is shown only now:",
                path.display()
            );
            println!("{token}");
        }
        TokenCommand::Revoke { name } => {
            tokens_file::revoke(&path, &name)?;
            eprintln!("revoked token {name:?} in {}", path.display());
        }
        TokenCommand::List => {
            for (name, e) in tokens_file::read(&path)? {
                match e.agent {
                    Some(a) => println!("{name}\t{}\tagent={a}", e.role),
                    None => println!("{name}\t{}", e.role),
                }
            }
        }
    }
    Ok(())
}

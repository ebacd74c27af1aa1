//! `logwarden-agent init`: inspects the machine and writes the agent's config.
//!
//! ```text
//! machine.rs   the inspected tree (`/`, or a fake one with --root)
//! platform.rs  VM or container? (then SMART and the host's RAID are not visible here)
//! zimbra.rs    Zimbra's services on this server and the logs each writes
//! disks.rs     md arrays, smartctl, storcli
//! backups.rs   the backup folder, the data it protects, and whether they share a file system
//! render.rs    the TOML text, with a comment for every choice
//! ```
//!
//! Inspection only reads; the one write is the config file, saved atomically, never over an
//! existing one without `--force`. What `init` found and what it could not see is printed for
//! the operator (on stderr with `--dry-run`, so that stdout is the config alone).

pub mod backups;
pub mod disks;
pub mod machine;
pub mod platform;
pub mod render;
pub mod zimbra;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::config::{FileConfig, Overrides, Settings};
use crate::parse::Format;
use machine::Machine;

/// Where the Debian package keeps the agent's config and data.
pub const DEFAULT_CONFIG: &str = "/etc/logwarden/agent.toml";
pub const DEFAULT_DATA_DIR: &str = "/var/lib/logwarden/agent";

/// Flags of `logwarden-agent init`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// Collector URL (repeat: primary site first, then the standby).
    #[arg(long = "collector", value_name = "URL")]
    pub collectors: Vec<String>,
    /// This machine's site name.
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
    /// A file holding the agent's token; the config names the file, never the token.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The backup folder to check; replaces the one found.
    #[arg(long, value_name = "DIR")]
    pub backup: Option<PathBuf>,
    /// A data folder the backups protect (repeat); replaces the ones found (needed with
    /// --backup on a machine without a Zimbra mailbox or LDAP server).
    #[arg(long, value_name = "DIR")]
    pub data: Vec<PathBuf>,
    /// The agent's data folder (spool, checkpoints).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Where to write the config.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Print the config instead of writing it.
    #[arg(long)]
    pub dry_run: bool,
    /// Replace an existing config file.
    #[arg(long)]
    pub force: bool,
    /// Inspect this tree instead of `/` (a saved or fake machine; the config still names the
    /// machine's own paths).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

/// One `[[files]]` entry `init` chose, and why.
#[derive(Debug, Clone)]
pub struct LogFile {
    pub path: String,
    pub format: Format,
    pub why: String,
}

/// Everything `init` saw.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub platform: platform::Platform,
    pub zimbra: Option<zimbra::Zimbra>,
    /// `/opt/zimbra` exists but is not a Zimbra install.
    pub zimbra_problem: Option<String>,
    pub disks: disks::Disks,
    pub files: Vec<LogFile>,
    /// System logs looked for and not found.
    pub missing_system_logs: Vec<&'static str>,
    /// The journal's folder, when there is no syslog file: it is read instead (`[[journald]]`).
    pub journal_only: Option<&'static str>,
    pub backup: Option<backups::Plan>,
    pub previews: Vec<(PathBuf, backups::Preview)>,
    /// `--token-file` names a file this machine does not have (yet).
    pub token_file_missing: bool,
}

/// The syslog files, by distribution family: the first that exists of each group is read.
const SYSTEM_LOGS: [(&[&str], &str); 2] = [
    (&["/var/log/syslog", "/var/log/messages"], "system log"),
    (&["/var/log/auth.log", "/var/log/secure"], "logins and sudo"),
];

/// Where journald keeps the journal: persistent, then volatile.
const JOURNAL_DIRS: [&str; 2] = ["/var/log/journal", "/run/log/journal"];

pub fn inspect(m: &Machine, args: &InitArgs) -> Inspection {
    let platform = platform::detect(m);
    let (zimbra, zimbra_problem) = match zimbra::detect(m) {
        Ok(z) => (z, None),
        Err(why) => (None, Some(why)),
    };
    let mut files = Vec::new();
    let mut missing_system_logs = Vec::new();
    for (candidates, what) in SYSTEM_LOGS {
        match m.first_existing(candidates) {
            Some(p) => files.push(LogFile {
                path: p.into(),
                format: Format::Syslog,
                why: (*what).into(),
            }),
            None => missing_system_logs.push(candidates[0]),
        }
    }
    if let Some(z) = &zimbra {
        files.push(LogFile {
            path: zimbra::SYSLOG_FILE.into(),
            format: Format::Syslog,
            why: "Zimbra's syslog: postfix, amavis, slapd, zmconfigd, zimbramon".into(),
        });
        for role in z.roles.keys() {
            for (path, format) in role.logs() {
                files.push(LogFile {
                    path: (*path).into(),
                    format: *format,
                    why: format!("Zimbra {}", role.name()),
                });
            }
        }
    }
    // No syslog file (Debian 12, RHEL 9 without rsyslog): the journal is the system log.
    let journal_only = if missing_system_logs.contains(&SYSTEM_LOGS[0].0[0]) {
        JOURNAL_DIRS.into_iter().find(|d| m.is_dir(d))
    } else {
        None
    };
    let backup = backups::plan(m, zimbra.as_ref(), args.backup.as_deref(), &args.data);
    let previews = backup
        .as_ref()
        .map(|p| backups::preview(m, p))
        .unwrap_or_default();
    Inspection {
        platform,
        zimbra,
        zimbra_problem,
        disks: disks::detect(m),
        files,
        missing_system_logs,
        journal_only,
        backup,
        previews,
        token_file_missing: args.token_file.as_ref().is_some_and(|t| !m.exists(t)),
    }
}

/// `init`: inspect, render, check, then print or write.
pub fn run(args: &InitArgs) -> anyhow::Result<()> {
    if !args.root.is_dir() {
        bail!("--root {}: not a folder", args.root.display());
    }
    if let Some(t) = args.token_file.as_ref().filter(|t| !t.is_absolute()) {
        bail!(
            "--token-file {}: give an absolute path (the agent runs from another folder)",
            t.display()
        );
    }
    let m = Machine::new(&args.root);
    let found = inspect(&m, args);
    if let (Some(b), None) = (&args.backup, &found.backup) {
        bail!(
            "--backup {}: no data folder to compare it with here; name them with --data DIR",
            b.display()
        );
    }
    let text = render::config(&found, args);
    validate(&text)?;
    let report = render::report(&found, args);
    if args.dry_run {
        eprint!("{report}");
        print!("{text}");
        return Ok(());
    }
    write_config(&args.config, &text, args.force)?;
    print!("{report}");
    println!(
        "\nwrote {}; check it with `logwarden-agent config check {}`, then start the agent \
         (`systemctl enable --now logwarden-agent`)",
        args.config.display(),
        args.config.display()
    );
    Ok(())
}

/// The generated text must load as `config check` loads it. The token file is left out: it is
/// checked (and warned about) on its own, as it may be put in place after `init`.
fn validate(text: &str) -> anyhow::Result<()> {
    let mut file: FileConfig =
        toml::from_str(text).context("init produced a config that does not parse (a bug)")?;
    file.token_file = None;
    Settings::build(file, Overrides::default())
        .context("init produced a config that does not validate")?;
    Ok(())
}

/// Saves the config atomically. A replaced file keeps its mode, owner and group: the package
/// makes `agent.toml` `root:logwarden 0640` so that the service can read it and others cannot.
fn write_config(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;

    let old = std::fs::metadata(path).ok();
    if old.is_some() && !force {
        bail!(
            "{} already exists: not replaced (use --force to replace it, or --dry-run to see the new one)",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    crate::durable::save_atomically(path, text.as_bytes())?;
    if let Some(old) = old {
        std::os::unix::fs::chown(path, Some(old.uid()), Some(old.gid()))
            .and_then(|()| std::fs::set_permissions(path, old.permissions()))
            .with_context(|| format!("giving {} its former owner and mode", path.display()))?;
    }
    Ok(())
}

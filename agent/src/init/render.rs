//! The two texts `init` prints: the config (TOML with a comment for each choice) and the
//! report of what was found and what could not be seen.

use std::fmt::Write as _;
use std::path::Path;

use super::backups::Preview;
use super::platform::Platform;
use super::zimbra::Role;
use super::{InitArgs, Inspection};
use crate::parse::Format;

/// A TOML string literal, escaped.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn quote_path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Auto => "auto",
        Format::Zimbra => "zimbra",
        Format::Syslog => "syslog",
        Format::Nginx => "nginx",
        Format::Plain => "plain",
    }
}

pub fn config(found: &Inspection, args: &InitArgs) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# logwarden agent, written by `logwarden-agent init` (docs/configuration.md has every key).\n\
         # Check it with `logwarden-agent config check FILE`; run `init` again with --force to redo it.\n"
    );
    if args.collectors.is_empty() {
        let _ = writeln!(
            t,
            "# No --collector given: the agent sends to http://127.0.0.1:7070.\n\
             # collectors = [\"http://logs-a.example.net:7070\", \"http://logs-b.example.net:7070\"]"
        );
    } else {
        let list: Vec<String> = args.collectors.iter().map(|c| quote(c)).collect();
        let _ = writeln!(t, "collectors = [{}]", list.join(", "));
    }
    match &args.site {
        Some(s) => {
            let _ = writeln!(t, "site = {}", quote(s));
        }
        None => {
            let _ = writeln!(
                t,
                "# site = \"phx\"   # none given: events carry site \"default\""
            );
        }
    }
    if let Some(tf) = &args.token_file {
        let _ = writeln!(t, "token_file = {}", quote_path(tf));
    }
    let _ = writeln!(t, "data_dir = {}", quote_path(&args.data_dir));

    if let Some(dir) = found.journal_only {
        let _ = writeln!(
            t,
            "\n# No syslog file, but a journal in {dir}: the system log is read from the journal.\n[[journald]]"
        );
    }
    if found.files.is_empty() {
        let _ = writeln!(
            t,
            "\n# No log file found: the agent's defaults apply ({}).",
            crate::config::DEFAULT_FILES.join(", ")
        );
    }
    for f in &found.files {
        let _ = writeln!(
            t,
            "\n# {}\n[[files]]\npath = {}\nformat = {}",
            f.why,
            quote(&f.path),
            quote(format_name(f.format))
        );
    }

    let _ = writeln!(t, "\n[health]");
    let d = &found.disks;
    match (&found.platform, &d.smartctl) {
        (p, _) if p.is_virtual() => {
            let _ = writeln!(
                t,
                "# {}: SMART is the host's to read, not this machine's.\n\
                 # Set smart = true only if real disks are passed through to this machine.\n\
                 smart = false",
                p.describe()
            );
        }
        (_, Some(path)) => {
            let _ = writeln!(t, "smart = true\nsmartctl = {}", quote_path(path));
        }
        (_, None) => {
            let _ = writeln!(
                t,
                "# smartctl is not installed (apt install smartmontools), so SMART is off.\nsmart = false"
            );
        }
    }
    if let Some(s) = &d.storcli {
        let _ = writeln!(t, "storcli = {}", quote_path(s));
    }
    if let Some(plan) = &found.backup {
        let data: Vec<String> = plan.data.iter().map(|p| quote_path(p)).collect();
        let _ = writeln!(
            t,
            "\n# The backups ({}) and the data they protect: placement (same file system,\n\
             # array or disk) and freshness are checked (docs/health.md).\n\
             [[health.backups]]\ndir = {}\ndata = [{}]",
            plan.found_by,
            quote_path(&plan.dir),
            data.join(", ")
        );
    }
    t
}

pub fn report(found: &Inspection, args: &InitArgs) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut unseen: Vec<String> = Vec::new();
    report_platform(found, &mut seen, &mut unseen);
    report_zimbra(found, &mut seen, &mut unseen);
    report_logs(found, &mut seen, &mut unseen);
    report_disks(found, &mut seen, &mut unseen);
    report_backups(found, &mut seen, &mut unseen);
    report_flags(found, args, &mut unseen);

    let mut out = String::from("Found:\n");
    for s in &seen {
        let _ = writeln!(out, "  {s}");
    }
    if !unseen.is_empty() {
        out.push_str("Could not see, or needs a look:\n");
        for s in &unseen {
            let _ = writeln!(out, "  - {s}");
        }
    }
    out
}

/// Physical, VM or container, and what a VM or container cannot see.
fn report_platform(found: &Inspection, seen: &mut Vec<String>, unseen: &mut Vec<String>) {
    seen.push(format!("platform: {}", found.platform.describe()));
    match &found.platform {
        Platform::Physical => {}
        Platform::Vm(_) => unseen.push(
            "this is a VM: SMART and the hypervisor's RAID are not visible here; monitor the host too \
             (an agent on the hypervisor, or its own RAID/SMART alerts)"
                .into(),
        ),
        Platform::Container(_) => unseen.push(
            "this is a container: the disks and arrays are the host's; monitor the host too".into(),
        ),
    }
}

/// Zimbra and its services, or why there is none.
fn report_zimbra(found: &Inspection, seen: &mut Vec<String>, unseen: &mut Vec<String>) {
    match &found.zimbra {
        Some(z) => {
            let name = z
                .server_name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            seen.push(format!("Zimbra{name}"));
            for (role, why) in &z.roles {
                seen.push(format!("  service {}: {why}", role.name()));
            }
            if z.roles.is_empty() {
                unseen.push(
                    "Zimbra is installed but no service (mailbox, mta, ldap, proxy, logger) could be told from \
                     its packages or folders: only its syslog file is tailed"
                        .into(),
                );
            }
            if z.runs(Role::Logger) {
                unseen.push(
                    "this is Zimbra's logger: /var/log/zimbra.log also holds the other servers' syslog, so \
                     with agents on them too their lines arrive twice (once per path)"
                        .into(),
                );
            }
            if !z.other_logs.is_empty() {
                let names: Vec<String> = z
                    .other_logs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                unseen.push(format!(
                    "not tailed (add a [[files]] entry if wanted): {}",
                    names.join(", ")
                ));
            }
        }
        None => {
            seen.push("no Zimbra".into());
            if let Some(why) = &found.zimbra_problem {
                unseen.push(why.clone());
            }
        }
    }
}

/// The log files found, and the system logs missing.
fn report_logs(found: &Inspection, seen: &mut Vec<String>, unseen: &mut Vec<String>) {
    for f in &found.files {
        seen.push(format!("log {} ({})", f.path, format_name(f.format)));
    }
    for p in &found.missing_system_logs {
        match found.journal_only {
            Some(dir) if *p == "/var/log/syslog" => seen.push(format!(
                "no {p} or its equivalent: the journal ({dir}) is read instead ([[journald]])"
            )),
            _ => unseen.push(format!(
                "no {p} or its equivalent: is syslog only in the journal? (install rsyslog for a file to tail)"
            )),
        }
    }
}

/// md RAID, smartctl and the hardware RAID tool.
fn report_disks(found: &Inspection, seen: &mut Vec<String>, unseen: &mut Vec<String>) {
    let d = &found.disks;
    match &d.md {
        Ok(a) if a.is_empty() => seen.push("md RAID: none (the md driver is loaded)".into()),
        Ok(a) => seen.push(format!("md RAID: {}", a.join(", "))),
        Err(why) => unseen.push(format!("md RAID: {why}")),
    }
    match &d.smartctl {
        Some(p) => seen.push(format!("smartctl: {}", p.display())),
        None if !found.platform.is_virtual() => unseen
            .push("smartctl is not installed: SMART is off (apt install smartmontools)".into()),
        None => {}
    }
    match &d.storcli {
        Some(p) => seen.push(format!("hardware RAID tool: {}", p.display())),
        None if !found.platform.is_virtual() => unseen
            .push("no storcli/perccli: a hardware RAID controller, if any, is not watched".into()),
        None => {}
    }
}

/// The backup folder and its placement against the data.
fn report_backups(found: &Inspection, seen: &mut Vec<String>, unseen: &mut Vec<String>) {
    match &found.backup {
        Some(plan) => {
            seen.push(format!(
                "backups: {} ({}{})",
                plan.dir.display(),
                plan.found_by,
                if plan.exists {
                    ""
                } else {
                    "; does not exist yet"
                }
            ));
            if !plan.exists {
                unseen.push(format!(
                    "{} does not exist: the agent will report the backups `missing` until they are \
                     written there; if they go elsewhere, run init again with --backup DIR",
                    plan.dir.display()
                ));
            }
            for (data, p) in &found.previews {
                match p {
                    Preview::SameFilesystem { device, .. } => unseen.push(format!(
                        "BACKUP MISPLACED: {} and {} are on the same file system ({device}): \
                         the backups die with the data",
                        plan.dir.display(),
                        data.display()
                    )),
                    Preview::Separate { backup, data: dm } => seen.push(format!(
                        "  {} on another file system than {} ({dm} vs {backup}); shared arrays and \
                         disks are checked when the agent runs",
                        plan.dir.display(),
                        data.display()
                    )),
                    Preview::Unknown(why) => unseen.push(format!(
                        "placement of {} against {}: {why}",
                        plan.dir.display(),
                        data.display()
                    )),
                }
            }
        }
        None => unseen.push(
            "backups: none found and nothing known to protect; to check some, run init again with \
             --backup DIR --data DIR"
                .into(),
        ),
    }
}

/// Flags left out that the operator may want.
fn report_flags(found: &Inspection, args: &InitArgs, unseen: &mut Vec<String>) {
    if args.collectors.is_empty() {
        unseen.push("no --collector: the agent will send to http://127.0.0.1:7070".into());
    }
    if args.site.is_none() {
        unseen.push("no --site: events carry site \"default\"".into());
    }
    if let Some(tf) = args
        .token_file
        .as_ref()
        .filter(|_| found.token_file_missing)
    {
        unseen.push(format!(
            "token file {} does not exist: the agent will not start until it does",
            tf.display()
        ));
    }
}

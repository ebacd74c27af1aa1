//! One pass of each probe: read the inputs, build the records. Shared by `logwarden-agent
//! check` ([`check_once`]) and the long-running monitor ([`super::monitor`]).
//!
//! Every probe reports what it could not read as a [`ProbeError`] naming the input, and keeps
//! going with the rest: one unreadable smartctl output never hides the arrays.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::backup::{self, BackupStatus};
use super::filesystem::{self, FsPolicy, FsStatus, Usage};
use super::lineage::{self, BlockIndex};
use super::mdstat::{self, MdstatError};
use super::mountinfo::{self, Mount, MountinfoError};
use super::problem::Problem;
use super::raid::{self, RaidStatus};
use super::redfish::{self, RedfishReport, RedfishTarget};
use super::redfish_client::RedfishClient;
use super::settings::HealthConfig;
use super::smart::{self, SmartError, SmartHistory, SmartOutcome, SmartPolicy};
use super::storcli::{self, StorcliError, VirtualDriveStatus};
use super::sysfs_md;
use crate::draft::Draft;

/// What made a probe fail; each names the file, device or command it was reading.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A file could not be read (missing, no permission).
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The mdstat text is not an mdstat.
    #[error("{}: {source}", path.display())]
    Mdstat { path: PathBuf, source: MdstatError },
    /// The mountinfo text has a broken line.
    #[error("{}: {source}", path.display())]
    Mountinfo {
        path: PathBuf,
        source: MountinfoError,
    },
    /// A smartctl output (a file, or a device smartctl was run on) could not be read.
    #[error("{input}: {source}")]
    Smart { input: String, source: SmartError },
    /// A storcli output could not be read, or storcli could not be run.
    #[error("{input}: {source}")]
    Storcli { input: String, source: StorcliError },
    /// storcli could not be started or did not finish.
    #[error("{input}: {source}")]
    StorcliRun {
        input: String,
        source: std::io::Error,
    },
    /// A backup or data folder could not be placed on any mount.
    #[error("{source}")]
    Lineage { source: lineage::LineageError },
    /// `statvfs` failed on a mount point.
    #[error("{}: statvfs: {source}", path.display())]
    Statvfs {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn read(path: &Path) -> Result<String, ProbeError> {
    std::fs::read_to_string(path).map_err(|source| ProbeError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads mdstat and, where `<sys_block>/mdX/md/` exists, sysfs; one status per array.
pub fn raid(mdstat_path: &Path, sys_block: &Path) -> Result<Vec<RaidStatus>, ProbeError> {
    let text = read(mdstat_path)?;
    raid_from_text(&text, mdstat_path, sys_block)
}

/// [`raid`] on a text already read (the monitor keeps `/proc/mdstat` open for poll()).
pub fn raid_from_text(
    text: &str,
    mdstat_path: &Path,
    sys_block: &Path,
) -> Result<Vec<RaidStatus>, ProbeError> {
    let parsed = mdstat::parse(text).map_err(|source| ProbeError::Mdstat {
        path: mdstat_path.to_owned(),
        source,
    })?;
    Ok(parsed
        .arrays
        .iter()
        .map(|a| raid::assess(a, sysfs_md::read(sys_block, &a.name).as_ref()))
        .collect())
}

/// Reads a mountinfo file.
pub fn mounts(path: &Path) -> Result<Vec<Mount>, ProbeError> {
    mountinfo::parse(&read(path)?).map_err(|source| ProbeError::Mountinfo {
        path: path.to_owned(),
        source,
    })
}

/// The mount points fstab names; none when there is no fstab.
pub fn fstab_points(path: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string(path)
        .map(|t| mountinfo::fstab_mount_points(&t))
        .unwrap_or_default()
}

/// `statvfs` on each real file system.
pub fn filesystems(mounts: &[Mount], policy: &FsPolicy) -> (Vec<FsStatus>, Vec<ProbeError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for m in filesystem::candidates(mounts, policy) {
        match Usage::of(&m.mount_point) {
            Ok(u) => out.push(filesystem::assess(m, u, policy)),
            // A mount point this process cannot see (another namespace's) is not a failure.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => errors.push(ProbeError::Statvfs {
                path: m.mount_point.clone(),
                source,
            }),
        }
    }
    (out, errors)
}

/// Placement and freshness of each (backup, data) pair.
pub fn backups(
    pairs: &[(PathBuf, PathBuf)],
    mounts: &[Mount],
    sys_block: &Path,
    fstab: &[PathBuf],
    stale_after: Duration,
    now: SystemTime,
) -> (Vec<BackupStatus>, Vec<ProbeError>) {
    let index = BlockIndex::scan(sys_block);
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (b, d) in pairs {
        let lb = lineage::resolve(b, mounts, &index);
        let ld = lineage::resolve(d, mounts, &index);
        match (lb, ld) {
            (Ok(lb), Ok(ld)) => out.push(BackupStatus {
                backup_dir: b.clone(),
                data_dir: d.clone(),
                placement: backup::placement(&lb, &ld, fstab),
                fresh: backup::freshness(b, now, stale_after),
            }),
            (Err(source), _) | (_, Err(source)) => errors.push(ProbeError::Lineage { source }),
        }
    }
    (out, errors)
}

/// Reads one saved `smartctl --json` output.
pub fn smart_file(
    path: &Path,
    policy: &SmartPolicy,
    history: &mut SmartHistory,
) -> Result<SmartOutcome, ProbeError> {
    let text = read(path)?;
    history
        .assess(&text, policy)
        .map_err(|source| ProbeError::Smart {
            input: path.display().to_string(),
            source,
        })
}

/// What a smartctl run over this machine's devices found.
#[derive(Debug, Default)]
pub struct SmartRun {
    pub reports: Vec<smart::SmartReport>,
    /// Devices without SMART, and "smartctl is not installed": one line each, not failures.
    pub notes: Vec<String>,
    pub errors: Vec<ProbeError>,
}

/// Runs smartctl on the configured devices (or those `--scan-open` finds).
pub fn smart_devices(cfg: &HealthConfig, history: &mut SmartHistory) -> SmartRun {
    let mut run = SmartRun::default();
    let limit = cfg.smart_timeout;
    let devices = if cfg.smart_devices.is_empty() {
        match smart::scan(&cfg.smartctl, limit) {
            Ok(d) => d,
            Err(SmartError::NotInstalled(p)) => {
                run.notes.push(format!(
                    "smart: skipped, smartctl is not installed ({p}); install smartmontools to watch disks"
                ));
                return run;
            }
            Err(source) => {
                run.errors.push(ProbeError::Smart {
                    input: format!("{} --scan-open", cfg.smartctl.display()),
                    source,
                });
                return run;
            }
        }
    } else {
        cfg.smart_devices
            .iter()
            .map(|d| smart::ScannedDevice {
                name: d.clone(),
                dev_type: None,
            })
            .collect()
    };
    if devices.is_empty() {
        run.notes
            .push("smart: no device with SMART found (a virtual machine?)".into());
    }
    let policy = cfg.smart_policy();
    for dev in devices {
        let out = smart::read_device(&cfg.smartctl, &dev, limit)
            .and_then(|text| history.assess(&text, &policy));
        match out {
            Ok(SmartOutcome::Report(r)) => run.reports.push(*r),
            Ok(SmartOutcome::Unavailable { device, reason }) => {
                run.notes
                    .push(format!("smart: {device}: skipped, {reason}"));
            }
            Err(SmartError::NotInstalled(p)) => {
                run.notes
                    .push(format!("smart: skipped, smartctl is not installed ({p})"));
                break;
            }
            Err(source) => run.errors.push(ProbeError::Smart {
                input: dev.name.clone(),
                source,
            }),
        }
    }
    run
}

/// Reads one saved storcli JSON output.
pub fn storcli_file(path: &Path) -> Result<Vec<VirtualDriveStatus>, ProbeError> {
    storcli::parse(&read(path)?).map_err(|source| ProbeError::Storcli {
        input: path.display().to_string(),
        source,
    })
}

/// Runs `<storcli> /call show all J` (storcli64, perccli64, ...).
pub fn storcli_command(program: &Path) -> Result<Vec<VirtualDriveStatus>, ProbeError> {
    let input = format!("{} /call show all J", program.display());
    let out = std::process::Command::new(program)
        .args(["/call", "show", "all", "J"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|source| ProbeError::StorcliRun {
            input: input.clone(),
            source,
        })?;
    storcli::parse(&String::from_utf8_lossy(&out.stdout))
        .map_err(|source| ProbeError::Storcli { input, source })
}

/// What to probe in one `logwarden-agent check`. With no source (`mdstat`, `smartctl_json`,
/// `storcli_json`, `backups`) this machine is probed; `sys_block`, `mountinfo` and `fstab`
/// only point the probes at another tree.
#[derive(Debug, Clone, Default)]
pub struct CheckSources {
    pub mdstat: Option<PathBuf>,
    pub sys_block: Option<PathBuf>,
    pub smartctl_json: Vec<PathBuf>,
    pub storcli_json: Vec<PathBuf>,
    pub backups: Vec<(PathBuf, PathBuf)>,
    pub mountinfo: Option<PathBuf>,
    pub fstab: Option<PathBuf>,
    /// BMCs to read over Redfish (`--redfish URL`).
    pub redfish: Vec<RedfishTarget>,
}

impl CheckSources {
    /// No source flag: probe this machine.
    pub fn probes_this_machine(&self) -> bool {
        self.mdstat.is_none()
            && self.smartctl_json.is_empty()
            && self.storcli_json.is_empty()
            && self.backups.is_empty()
            && self.redfish.is_empty()
    }
}

/// The outcome of one `check`: the records, lines about what was skipped, and what could not be
/// read (which makes `check` exit non-zero).
#[derive(Debug, Default)]
pub struct CheckReport {
    pub drafts: Vec<Draft>,
    pub notes: Vec<String>,
    pub problems: Vec<Problem>,
}

fn problem(input: impl Into<String>, e: &ProbeError) -> Problem {
    Problem {
        input: input.into(),
        error: e.to_string(),
    }
}

/// One poll of one BMC; a client that cannot be built (password or CA file) is the reason.
pub fn redfish_once(t: &RedfishTarget) -> RedfishReport {
    match RedfishClient::new(t) {
        Ok(c) => redfish::assess(t, &c.walk()),
        Err(e) => {
            let mut r = redfish::assess(t, &redfish::Walk::default());
            r.problems.push(e.to_string());
            r
        }
    }
}

/// Probes once, as `logwarden-agent check` does.
pub fn check_once(src: &CheckSources, cfg: &HealthConfig, now: SystemTime) -> CheckReport {
    let mut rep = CheckReport::default();
    let machine = src.probes_this_machine();
    let sys_block = src
        .sys_block
        .clone()
        .unwrap_or_else(|| cfg.sys_block.clone());
    check_md(&mut rep, src, cfg, machine, &sys_block);
    check_smart(&mut rep, src, cfg, machine);
    check_hwraid(&mut rep, src, cfg, machine);
    check_bmcs(&mut rep, src);
    check_mounts(&mut rep, src, cfg, machine, &sys_block, now);
    rep
}

/// md RAID: `--mdstat`, else this machine's.
fn check_md(
    rep: &mut CheckReport,
    src: &CheckSources,
    cfg: &HealthConfig,
    machine: bool,
    sys_block: &Path,
) {
    match (&src.mdstat, machine) {
        (Some(p), _) => match raid(p, sys_block) {
            Ok(arrays) => rep.drafts.extend(arrays.iter().map(RaidStatus::to_draft)),
            Err(e) => rep
                .problems
                .push(problem(format!("--mdstat {}", p.display()), &e)),
        },
        (None, true) => match raid(&cfg.mdstat, sys_block) {
            Ok(arrays) if arrays.is_empty() => {
                rep.notes.push("raid: no md arrays on this machine".into());
            }
            Ok(arrays) => rep.drafts.extend(arrays.iter().map(RaidStatus::to_draft)),
            Err(ProbeError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                rep.notes.push(format!(
                    "raid: no md RAID on this machine ({} does not exist)",
                    cfg.mdstat.display()
                ));
            }
            Err(e) => rep
                .problems
                .push(problem(cfg.mdstat.display().to_string(), &e)),
        },
        (None, false) => {}
    }
}

/// SMART: `--smartctl-json` files, and this machine's disks when `[health] smart` is on.
fn check_smart(rep: &mut CheckReport, src: &CheckSources, cfg: &HealthConfig, machine: bool) {
    let mut history = SmartHistory::default();
    let policy = cfg.smart_policy();
    for p in &src.smartctl_json {
        match smart_file(p, &policy, &mut history) {
            Ok(SmartOutcome::Report(r)) => rep.drafts.push(r.to_draft()),
            Ok(SmartOutcome::Unavailable { device, reason }) => {
                rep.notes.push(format!(
                    "smart: {device} ({}): skipped, {reason}",
                    p.display()
                ));
            }
            Err(e) => rep
                .problems
                .push(problem(format!("--smartctl-json {}", p.display()), &e)),
        }
    }
    if machine && cfg.smart {
        let run = smart_devices(cfg, &mut history);
        rep.drafts
            .extend(run.reports.iter().map(smart::SmartReport::to_draft));
        rep.notes.extend(run.notes);
        for e in &run.errors {
            rep.problems.push(problem("smart", e));
        }
    }
}

/// Hardware RAID: `--storcli-json` files, and this machine's controller when `storcli` is set.
fn check_hwraid(rep: &mut CheckReport, src: &CheckSources, cfg: &HealthConfig, machine: bool) {
    for p in &src.storcli_json {
        match storcli_file(p) {
            Ok(vds) => rep
                .drafts
                .extend(vds.iter().map(VirtualDriveStatus::to_draft)),
            Err(e) => rep
                .problems
                .push(problem(format!("--storcli-json {}", p.display()), &e)),
        }
    }
    if machine && let Some(program) = &cfg.storcli {
        match storcli_command(program) {
            Ok(vds) => rep
                .drafts
                .extend(vds.iter().map(VirtualDriveStatus::to_draft)),
            Err(e) => rep.problems.push(problem("hwraid", &e)),
        }
    }
}

/// BMCs, all at once: a dead or slow one costs its timeout, not the others'.
fn check_bmcs(rep: &mut CheckReport, src: &CheckSources) {
    let reports: Vec<RedfishReport> = std::thread::scope(|s| {
        let handles: Vec<_> = src
            .redfish
            .iter()
            .map(|t| s.spawn(move || redfish_once(t)))
            .collect();
        handles
            .into_iter()
            .zip(&src.redfish)
            .map(|(h, t)| {
                h.join().unwrap_or_else(|_| {
                    let mut r = redfish::assess(t, &redfish::Walk::default());
                    r.problems.push("the poll panicked".into());
                    r
                })
            })
            .collect()
    });
    for r in reports {
        if !r.complete() {
            rep.problems.push(Problem {
                input: format!("--redfish {}", r.url),
                error: r.problems.join("; "),
            });
        }
        rep.drafts.extend(r.drafts());
    }
}

/// File systems and backups (both need the mounts).
fn check_mounts(
    rep: &mut CheckReport,
    src: &CheckSources,
    cfg: &HealthConfig,
    machine: bool,
    sys_block: &Path,
    now: SystemTime,
) {
    let mountinfo_path = src
        .mountinfo
        .clone()
        .unwrap_or_else(|| cfg.mountinfo.clone());
    let fstab = fstab_points(src.fstab.as_deref().unwrap_or(&cfg.fstab));
    let pairs: Vec<(PathBuf, PathBuf)> = if !src.backups.is_empty() {
        src.backups.clone()
    } else if machine {
        cfg.backup_pairs()
    } else {
        Vec::new()
    };
    if machine || !pairs.is_empty() {
        match mounts(&mountinfo_path) {
            Err(e) => rep.problems.push(problem(
                format!("mountinfo {}", mountinfo_path.display()),
                &e,
            )),
            Ok(mounts) => {
                if machine && cfg.filesystems {
                    let (fs, errors) = filesystems(&mounts, &cfg.fs_policy());
                    rep.drafts.extend(fs.iter().map(FsStatus::to_draft));
                    for e in &errors {
                        rep.problems.push(problem("filesystem", e));
                    }
                }
                if pairs.is_empty() && machine {
                    rep.notes.push(format!(
                        "backup: no backup folders configured and no {} here",
                        cfg.zimbra_root.display()
                    ));
                }
                let (statuses, errors) = backups(
                    &pairs,
                    &mounts,
                    sys_block,
                    &fstab,
                    cfg.backup_stale_after,
                    now,
                );
                rep.drafts
                    .extend(statuses.iter().map(BackupStatus::to_draft));
                for e in &errors {
                    rep.problems.push(problem("--backup/--data", e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/fixtures"
        ))
    }

    #[test]
    fn check_with_only_an_mdstat_gives_its_arrays_and_nothing_else() {
        let src = CheckSources {
            mdstat: Some(fixtures().join("mdstat/raid5_degraded.txt")),
            sys_block: Some("/nonexistent".into()),
            ..CheckSources::default()
        };
        let rep = check_once(&src, &HealthConfig::default(), SystemTime::now());
        assert!(rep.problems.is_empty(), "{:?}", rep.problems);
        assert_eq!(rep.drafts.len(), 1);
        assert_eq!(rep.drafts[0].fields["state"], "degraded");
    }

    #[test]
    fn an_unreadable_input_is_a_problem_naming_the_flag_and_the_rest_still_runs() {
        let src = CheckSources {
            mdstat: Some("/nonexistent/mdstat".into()),
            smartctl_json: vec![fixtures().join("smart/nvme_worn_73pct.json")],
            ..CheckSources::default()
        };
        let rep = check_once(&src, &HealthConfig::default(), SystemTime::now());
        assert_eq!(rep.problems.len(), 1);
        assert_eq!(rep.problems[0].input, "--mdstat /nonexistent/mdstat");
        assert_eq!(rep.drafts.len(), 1);
        assert_eq!(rep.drafts[0].fields["check"], "smart");
    }

    #[test]
    fn every_fixture_of_every_kind_is_readable() {
        let list = |sub: &str| -> Vec<PathBuf> {
            let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures().join(sub))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            v.sort();
            v
        };
        let mut total = 0;
        for p in list("mdstat") {
            let src = CheckSources {
                mdstat: Some(p.clone()),
                sys_block: Some("/nonexistent".into()),
                ..CheckSources::default()
            };
            let rep = check_once(&src, &HealthConfig::default(), SystemTime::now());
            assert!(
                rep.problems.is_empty(),
                "{}: {:?}",
                p.display(),
                rep.problems
            );
            total += rep.drafts.len();
        }
        assert_eq!(total, 39, "13 files, 39 arrays");
        let src = CheckSources {
            smartctl_json: list("smart"),
            storcli_json: list("hwraid"),
            ..CheckSources::default()
        };
        let rep = check_once(&src, &HealthConfig::default(), SystemTime::now());
        assert!(rep.problems.is_empty(), "{:?}", rep.problems);
        assert_eq!(rep.drafts.len(), 6);
    }
}

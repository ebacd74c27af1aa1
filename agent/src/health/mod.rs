//! Disk, RAID, file system and backup health probes. Each probe turns what it reads into
//! [`Draft`](crate::draft::Draft)s of kind `health` whose `fields` follow PRODUCT.md
//! ("Health records"); docs/health.md explains every check to operators.
//!
//! ```text
//! mdstat.rs ─┐ parse /proc/mdstat          smart.rs    smartctl --json -> verdict
//! sysfs_md.rs┴> raid.rs: state, redundancy  storcli.rs  storcli /call show all J
//! mountinfo.rs -> filesystem.rs (statvfs)   lineage.rs  path -> fs -> dm/md -> disks
//!                                            backup.rs   placement + freshness
//! probe.rs:   one pass of each probe (`logwarden-agent check`, and the monitor's timers)
//! monitor.rs: the long-running probes of `logwarden-agent run` (spawn_probes)
//! redfish.rs: a BMC's volumes and drives -> raid/smart records (redfish_client.rs reads
//!             the BMC, redfish_poller.rs polls each BMC on its own thread)
//! ```
//!
//! Pure parsers take text or paths, so tests run them on `tests/data/fixtures` and on fake
//! `/sys/block` trees built in temp folders.

pub mod backup;
pub mod filer;
pub mod filesystem;
pub mod lineage;
pub mod mdstat;
pub mod monitor;
pub mod mountinfo;
pub mod probe;
pub mod raid;
pub mod redfish;
pub mod redfish_client;
pub mod redfish_poller;
pub mod smart;
pub mod storcli;
pub mod sysfs_md;

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use crate::draft::Draft;

pub use monitor::{Probes, spawn_counted_probes, spawn_probes};
pub use probe::{CheckReport, CheckSources, check_once};

/// `[health]` in the agent's config file. Every key is optional; the defaults are what an
/// agent on a Zimbra server needs. Intervals are in seconds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Run the health probes at all (default `true`).
    pub enabled: bool,
    /// md status file, watched with poll() (default `/proc/mdstat`).
    pub mdstat: PathBuf,
    /// Block devices: md details and the lineage of backup folders (default `/sys/block`).
    pub sys_block: PathBuf,
    /// Mount table (default `/proc/self/mountinfo`).
    pub mountinfo: PathBuf,
    /// Where the intended mount points are listed, for `unmounted_target` (default
    /// `/etc/fstab`; a missing file disables that check).
    pub fstab: PathBuf,
    /// How often every check is sent again even when nothing changed (default 300).
    pub report_interval_s: u64,
    /// How often arrays with a sync running are sent with their progress (default 60).
    pub progress_interval_s: u64,
    /// How often mdstat is read even without a poll() wake-up, in milliseconds; bounds the
    /// delay where POLLPRI is not delivered (default 500).
    pub mdstat_reread_ms: u64,
    /// Read SMART with smartctl (default `true`).
    pub smart: bool,
    /// The smartctl program (default `smartctl`, looked up in PATH).
    pub smartctl: PathBuf,
    /// Devices to read (`/dev/sda`, ...); empty means all that `smartctl --scan-open` finds
    /// (default empty).
    pub smart_devices: Vec<String>,
    /// How often SMART is read (default 1800, as smartd).
    pub smart_interval_s: u64,
    /// How long one smartctl run may take before it is killed (default 60).
    pub smart_timeout_s: u64,
    /// Temperature in °C above which a drive without its own limit is `warning` (default 60).
    pub smart_max_temperature_c: i64,
    /// NVMe `percentage_used` at which a drive is `warning` (default 80).
    pub smart_worn_percent: u64,
    /// storcli or perccli program for hardware RAID (`/opt/MegaRAID/storcli/storcli64`);
    /// unset (the default) disables the check.
    pub storcli: Option<PathBuf>,
    /// How often hardware RAID is read (default 300).
    pub storcli_interval_s: u64,
    /// Report file system usage (default `true`).
    pub filesystems: bool,
    /// Used space or inodes at or above this percent: `warning` (default 85).
    pub fs_warn_percent: f64,
    /// ... and at or above this percent: `crit` (default 95).
    pub fs_crit_percent: f64,
    /// Also measure network file systems (default `false`: a dead server hangs statvfs).
    pub fs_include_network: bool,
    /// Backup folders and the data folders each protects. Empty means Zimbra's defaults when
    /// `zimbra_root` exists (default empty).
    pub backups: Vec<BackupRule>,
    /// Zimbra's home, for the default backup pairs: `backup` against `store`, `db/data`,
    /// `index`, `redolog` (default `/opt/zimbra`).
    pub zimbra_root: PathBuf,
    /// A backup older than this is `stale` (default 93600 = 26 h).
    pub backup_stale_after_s: u64,
    /// `[[health.redfish]]`: BMCs to poll for the RAID volumes and drives of the servers under
    /// the VMs (default none).
    pub redfish: Vec<redfish::RedfishTarget>,
}

/// `[[health.backups]]`: one backup folder and the data folders it protects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRule {
    pub dir: PathBuf,
    pub data: Vec<PathBuf>,
}

impl Default for HealthConfig {
    fn default() -> HealthConfig {
        HealthConfig {
            enabled: true,
            mdstat: "/proc/mdstat".into(),
            sys_block: "/sys/block".into(),
            mountinfo: "/proc/self/mountinfo".into(),
            fstab: "/etc/fstab".into(),
            report_interval_s: 300,
            progress_interval_s: 60,
            mdstat_reread_ms: 500,
            smart: true,
            smartctl: "smartctl".into(),
            smart_devices: Vec::new(),
            smart_interval_s: 1800,
            smart_timeout_s: 60,
            smart_max_temperature_c: 60,
            smart_worn_percent: 80,
            storcli: None,
            storcli_interval_s: 300,
            filesystems: true,
            fs_warn_percent: 85.0,
            fs_crit_percent: 95.0,
            fs_include_network: false,
            backups: Vec::new(),
            zimbra_root: "/opt/zimbra".into(),
            backup_stale_after_s: 26 * 3600,
            redfish: Vec::new(),
        }
    }
}

/// A `[health]` value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthConfigError {
    /// An interval of 0 would spin.
    #[error("[health] {0} must be above zero")]
    Zero(&'static str),
    /// Percent thresholds out of order or out of 0..=100.
    #[error("[health] need 0 < fs_warn_percent <= fs_crit_percent <= 100")]
    FsThresholds,
    /// A backup rule with no data folder to compare against.
    #[error("[health] backup {0}: `data` lists no folder")]
    NoData(PathBuf),
    /// A `[[health.redfish]]` entry that cannot work.
    #[error("{0}")]
    Redfish(String),
}

impl HealthConfig {
    /// Checks what serde cannot; call it from `Settings::build`.
    pub fn validate(&self) -> Result<(), HealthConfigError> {
        for (name, v) in [
            ("report_interval_s", self.report_interval_s),
            ("progress_interval_s", self.progress_interval_s),
            ("mdstat_reread_ms", self.mdstat_reread_ms),
            ("smart_interval_s", self.smart_interval_s),
            ("smart_timeout_s", self.smart_timeout_s),
            ("storcli_interval_s", self.storcli_interval_s),
            ("backup_stale_after_s", self.backup_stale_after_s),
        ] {
            if v == 0 {
                return Err(HealthConfigError::Zero(name));
            }
        }
        if !(self.fs_warn_percent > 0.0
            && self.fs_warn_percent <= self.fs_crit_percent
            && self.fs_crit_percent <= 100.0)
        {
            return Err(HealthConfigError::FsThresholds);
        }
        if let Some(r) = self.backups.iter().find(|r| r.data.is_empty()) {
            return Err(HealthConfigError::NoData(r.dir.clone()));
        }
        for t in &self.redfish {
            t.validate().map_err(HealthConfigError::Redfish)?;
        }
        Ok(())
    }

    pub fn smart_policy(&self) -> smart::SmartPolicy {
        smart::SmartPolicy {
            max_temperature_c: self.smart_max_temperature_c,
            worn_percent: self.smart_worn_percent,
        }
    }

    pub fn fs_policy(&self) -> filesystem::FsPolicy {
        filesystem::FsPolicy {
            warn_percent: self.fs_warn_percent,
            crit_percent: self.fs_crit_percent,
            include_network: self.fs_include_network,
        }
    }

    /// The (backup, data) pairs to check: the configured ones, else Zimbra's defaults.
    pub fn backup_pairs(&self) -> Vec<(PathBuf, PathBuf)> {
        if self.backups.is_empty() {
            return backup::zimbra_pairs(&self.zimbra_root);
        }
        self.backups
            .iter()
            .flat_map(|r| r.data.iter().map(|d| (r.dir.clone(), d.clone())))
            .collect()
    }
}

/// An input a check could not read: `check` prints it and exits non-zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What was being read, as the user named it (`--mdstat /x`, `smart`).
    pub input: String,
    pub error: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.error.starts_with(&self.input) {
            f.write_str(&self.error)
        } else if let Some((flag, path)) = self.input.split_once(' ')
            && self.error.starts_with(path)
        {
            // `--mdstat /x` + `/x: No such file` -> `--mdstat /x: No such file`.
            write!(f, "{flag} {}", self.error)
        } else {
            write!(f, "{}: {}", self.input, self.error)
        }
    }
}

/// A readable table of health records for a terminal: severity, check, subject, state, and the
/// message.
pub fn render_table(drafts: &[Draft]) -> String {
    let rows: Vec<[String; 4]> = drafts
        .iter()
        .map(|d| {
            let f = &d.fields;
            let s = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let check = s("check");
            let subject = logwarden_core::health::subject(f);
            let state = match check.as_str() {
                "raid" | "hwraid" | "redfish" => s("state"),
                "smart" => s("verdict"),
                "filesystem" => d.severity.as_str().to_owned(),
                "backup" => format!("{}/{}", s("placement"), s("freshness")),
                _ => String::new(),
            };
            [d.severity.as_str().to_owned(), check, subject, state]
        })
        .collect();
    let headers = ["SEVERITY", "CHECK", "SUBJECT", "STATE"];
    let mut widths = headers.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 4], msg: &str| {
        for (c, w) in cells.iter().zip(widths) {
            let _ = write!(out, "{c:<w$}  ");
        }
        let _ = writeln!(out, "{msg}");
    };
    line(&mut out, headers, "MESSAGE");
    for (r, d) in rows.iter().zip(drafts) {
        line(
            &mut out,
            [&r[0], &r[1], &r[2], &r[3]],
            &d.message.replace('\n', " "),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_unknown_keys_are_refused() {
        HealthConfig::default().validate().unwrap();
        let cfg: HealthConfig = toml::from_str(
            "smart_interval_s = 600\n[[backups]]\ndir = \"/backup\"\ndata = [\"/srv\"]\n",
        )
        .unwrap();
        assert_eq!(cfg.smart_interval_s, 600);
        assert_eq!(cfg.report_interval_s, 300);
        assert_eq!(
            cfg.backup_pairs(),
            vec![(PathBuf::from("/backup"), PathBuf::from("/srv"))]
        );
        let err = toml::from_str::<HealthConfig>("smart_intervl = 1\n").unwrap_err();
        assert!(err.to_string().contains("smart_intervl"), "{err}");
    }

    #[test]
    fn redfish_targets_are_read_and_what_cannot_work_is_refused_by_name() {
        let cfg: HealthConfig = toml::from_str(
            "[[redfish]]\nurl = \"https://idrac-esx1\"\nuser = \"monitor\"\n\
             password_file = \"/etc/logwarden/idrac.pass\"\nserves = [\"esx1\"]\n",
        )
        .unwrap();
        cfg.validate().unwrap();
        let t = &cfg.redfish[0];
        assert_eq!((t.interval_s, t.timeout_s, t.insecure), (60, 5, false));
        assert_eq!(t.host_name(), "idrac-esx1");
        for (text, says) in [
            ("url = \"idrac-esx1\"", "must start with https://"),
            (
                "url = \"https://b\"\ninsecure = true\nca_file = \"/ca.pem\"",
                "exclude each other",
            ),
            (
                "url = \"https://b\"\npassword_file = \"/p\"",
                "password_file without user",
            ),
            ("url = \"https://b\"\ntimeout_s = 0", "above zero"),
        ] {
            let cfg: HealthConfig = toml::from_str(&format!("[[redfish]]\n{text}\n")).unwrap();
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
        let err = toml::from_str::<HealthConfig>("[[redfish]]\nurl = \"https://b\"\npasword = 1\n")
            .unwrap_err();
        assert!(err.to_string().contains("pasword"), "{err}");
    }

    #[test]
    fn a_zero_interval_or_inverted_thresholds_are_refused() {
        let cfg = HealthConfig {
            report_interval_s: 0,
            ..HealthConfig::default()
        };
        assert_eq!(
            cfg.validate(),
            Err(HealthConfigError::Zero("report_interval_s"))
        );
        let cfg = HealthConfig {
            fs_warn_percent: 99.0,
            ..HealthConfig::default()
        };
        assert_eq!(cfg.validate(), Err(HealthConfigError::FsThresholds));
    }

    #[test]
    fn the_table_has_one_aligned_row_per_record() {
        let text =
            "Personalities : [raid1]\nmd0 : active raid1 sda1[0]\n      10 blocks [2/1] [U_]\n";
        let arrays = probe::raid_from_text(
            text,
            std::path::Path::new("x"),
            std::path::Path::new("/nonexistent"),
        )
        .unwrap();
        let drafts: Vec<Draft> = arrays.iter().map(raid::RaidStatus::to_draft).collect();
        let t = render_table(&drafts);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with("SEVERITY  CHECK  SUBJECT  STATE"),
            "{t}"
        );
        assert!(
            lines[1].starts_with("crit      raid   md0      degraded  md0 degraded"),
            "{t}"
        );
    }
}

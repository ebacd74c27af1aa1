//! `[health]` of the agent's config file: which probes run, how often, and their thresholds
//! ([`HealthConfig`]), checked into what the probes take. A leaf of `health/`: the probes and
//! the monitor read it, it reads only the parsers' policy types.

use std::path::PathBuf;

use serde::Deserialize;

use super::{backup, filesystem, redfish, smart};

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

//! `[health]` of the agent's config file: which probes run, how often, and their thresholds,
//! as written ([`HealthFileConfig`], with `[[health.redfish]]` as [`RedfishTargetConfig`]) and
//! checked into what the probes take ([`HealthConfig`]). A leaf of `health/`: the probes and
//! the monitor read it, it reads only the parsers' policy types and the Redfish target.

use std::path::PathBuf;
use std::time::Duration;

use logwarden_core::config_duration::{ConfigDuration, DurationKey};
use serde::Deserialize;

use super::redfish::{self, RedfishTarget};
use super::{backup, filesystem, smart};

/// `[health]` in the agent's config file, as written. Every key is optional; the defaults are
/// what an agent on a Zimbra server needs. [`HealthFileConfig::settings`] checks it into the
/// [`HealthConfig`] the probes run with. Timers are durations (`"5m"`); the old keys in whole
/// seconds (`report_interval_s = 300`) are deprecated aliases ([`DurationKey`]).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthFileConfig {
    /// Run the health probes at all (default `true`).
    pub enabled: Option<bool>,
    /// md status file, watched with poll() (default `/proc/mdstat`).
    pub mdstat: Option<PathBuf>,
    /// Block devices: md details and the lineage of backup folders (default `/sys/block`).
    pub sys_block: Option<PathBuf>,
    /// Mount table (default `/proc/self/mountinfo`).
    pub mountinfo: Option<PathBuf>,
    /// Where the intended mount points are listed, for `unmounted_target` (default
    /// `/etc/fstab`; a missing file disables that check).
    pub fstab: Option<PathBuf>,
    /// How often every check is sent again even when nothing changed (default `"5m"`).
    pub report_interval: Option<ConfigDuration>,
    /// Deprecated: `report_interval` in whole seconds.
    pub report_interval_s: Option<u64>,
    /// How often arrays with a sync running are sent with their progress (default `"1m"`).
    pub progress_interval: Option<ConfigDuration>,
    /// Deprecated: `progress_interval` in whole seconds.
    pub progress_interval_s: Option<u64>,
    /// How often mdstat is read even without a poll() wake-up, in milliseconds; bounds the
    /// delay where POLLPRI is not delivered (default 500).
    pub mdstat_reread_ms: Option<u64>,
    /// Read SMART with smartctl (default `true`).
    pub smart: Option<bool>,
    /// The smartctl program (default `smartctl`, looked up in PATH).
    pub smartctl: Option<PathBuf>,
    /// Devices to read (`/dev/sda`, ...); empty means all that `smartctl --scan-open` finds
    /// (default empty).
    pub smart_devices: Option<Vec<String>>,
    /// How often SMART is read (default `"30m"`, as smartd).
    pub smart_interval: Option<ConfigDuration>,
    /// Deprecated: `smart_interval` in whole seconds.
    pub smart_interval_s: Option<u64>,
    /// How long one smartctl run may take before it is killed (default `"1m"`).
    pub smart_timeout: Option<ConfigDuration>,
    /// Deprecated: `smart_timeout` in whole seconds.
    pub smart_timeout_s: Option<u64>,
    /// Temperature in °C above which a drive without its own limit is `warning` (default 60).
    pub smart_max_temperature_c: Option<i64>,
    /// NVMe `percentage_used` at which a drive is `warning` (default 80).
    pub smart_worn_percent: Option<u64>,
    /// storcli or perccli program for hardware RAID (`/opt/MegaRAID/storcli/storcli64`);
    /// unset (the default) disables the check.
    pub storcli: Option<PathBuf>,
    /// How often hardware RAID is read (default `"5m"`).
    pub storcli_interval: Option<ConfigDuration>,
    /// Deprecated: `storcli_interval` in whole seconds.
    pub storcli_interval_s: Option<u64>,
    /// Report file system usage (default `true`).
    pub filesystems: Option<bool>,
    /// Used space or inodes at or above this percent: `warning` (default 85).
    pub fs_warn_percent: Option<f64>,
    /// ... and at or above this percent: `crit` (default 95).
    pub fs_crit_percent: Option<f64>,
    /// Also measure network file systems (default `false`: a dead server hangs statvfs).
    pub fs_include_network: Option<bool>,
    /// Backup folders and the data folders each protects. Empty means Zimbra's defaults when
    /// `zimbra_root` exists (default empty).
    pub backups: Option<Vec<BackupRule>>,
    /// Zimbra's home, for the default backup pairs: `backup` against `store`, `db/data`,
    /// `index`, `redolog` (default `/opt/zimbra`).
    pub zimbra_root: Option<PathBuf>,
    /// A backup older than this is `stale` (default `"26h"`).
    pub backup_stale_after: Option<ConfigDuration>,
    /// Deprecated: `backup_stale_after` in whole seconds.
    pub backup_stale_after_s: Option<u64>,
    /// `[[health.redfish]]`: BMCs to poll for the RAID volumes and drives of the servers under
    /// the VMs (default none).
    #[serde(default)]
    pub redfish: Vec<RedfishTargetConfig>,
}

/// `[[health.redfish]]` as written: one BMC to poll (the fields of [`RedfishTarget`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedfishTargetConfig {
    pub url: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure: bool,
    /// Time between two polls (default `"1m"`).
    pub interval: Option<ConfigDuration>,
    /// Deprecated: `interval` in whole seconds.
    pub interval_s: Option<u64>,
    /// How long one request may take before the BMC is called unreachable (default `"5s"`).
    pub timeout: Option<ConfigDuration>,
    /// Deprecated: `timeout` in whole seconds.
    pub timeout_s: Option<u64>,
    #[serde(default)]
    pub serves: Vec<String>,
}

/// How messages name the two tables.
const HEALTH: &str = "[health]";
const REDFISH: &str = "[[health.redfish]]";

fn seconds(v: Option<u64>) -> Option<f64> {
    v.map(|s| s as f64)
}

/// The longest timer taken: a year. Far beyond any use, and clear of the overflow of adding a
/// huge duration to the clock (`Instant + Duration` panics).
const MAX_TIMER: Duration = Duration::from_secs(366 * 24 * 3600);

/// The duration a key gives, or `default`; zero, or more than [`MAX_TIMER`], is refused,
/// naming the key as written.
fn timer(key: &DurationKey<'_>, default: Duration) -> Result<Duration, HealthConfigError> {
    let d = key
        .or(default)
        .map_err(|e| HealthConfigError::Duration(e.to_string()))?;
    if d.is_zero() {
        return Err(HealthConfigError::Zero(key.written()));
    }
    if d > MAX_TIMER {
        return Err(HealthConfigError::Duration(format!(
            "{} is longer than a year",
            key.written()
        )));
    }
    Ok(d)
}

impl HealthFileConfig {
    /// The timers of `[health]`, each with its deprecated spelling in whole seconds.
    pub fn duration_keys(&self) -> [DurationKey<'_>; 6] {
        let k = |key, value, old_key, old: Option<u64>| {
            DurationKey::new(HEALTH, key, value, old_key, seconds(old))
        };
        [
            k(
                "report_interval",
                self.report_interval,
                "report_interval_s",
                self.report_interval_s,
            ),
            k(
                "progress_interval",
                self.progress_interval,
                "progress_interval_s",
                self.progress_interval_s,
            ),
            k(
                "smart_interval",
                self.smart_interval,
                "smart_interval_s",
                self.smart_interval_s,
            ),
            k(
                "smart_timeout",
                self.smart_timeout,
                "smart_timeout_s",
                self.smart_timeout_s,
            ),
            k(
                "storcli_interval",
                self.storcli_interval,
                "storcli_interval_s",
                self.storcli_interval_s,
            ),
            k(
                "backup_stale_after",
                self.backup_stale_after,
                "backup_stale_after_s",
                self.backup_stale_after_s,
            ),
        ]
    }

    /// Every duration key of `[health]` and of its `[[health.redfish]]` tables, in file order.
    pub fn all_duration_keys(&self) -> Vec<DurationKey<'_>> {
        let mut keys = self.duration_keys().to_vec();
        keys.extend(
            self.redfish
                .iter()
                .flat_map(RedfishTargetConfig::duration_keys),
        );
        keys
    }

    /// The settings the probes run with: the defaults where the file is silent, every timer
    /// resolved from either spelling (both at once, or zero, is refused by name). The checks
    /// that look at several keys together are [`HealthConfig::validate`]'s.
    pub fn settings(self) -> Result<HealthConfig, HealthConfigError> {
        let d = HealthConfig::default();
        let [
            report,
            progress,
            smart_every,
            smart_timeout,
            storcli_every,
            stale,
        ] = self.duration_keys();
        let timers = [
            (report, d.report_interval),
            (progress, d.progress_interval),
            (smart_every, d.smart_interval),
            (smart_timeout, d.smart_timeout),
            (storcli_every, d.storcli_interval),
            (stale, d.backup_stale_after),
        ]
        .map(|(key, default)| timer(&key, default));
        let [
            report,
            progress,
            smart_every,
            smart_timeout,
            storcli_every,
            stale,
        ] = timers;
        Ok(HealthConfig {
            enabled: self.enabled.unwrap_or(d.enabled),
            mdstat: self.mdstat.unwrap_or(d.mdstat),
            sys_block: self.sys_block.unwrap_or(d.sys_block),
            mountinfo: self.mountinfo.unwrap_or(d.mountinfo),
            fstab: self.fstab.unwrap_or(d.fstab),
            report_interval: report?,
            progress_interval: progress?,
            mdstat_reread_ms: self.mdstat_reread_ms.unwrap_or(d.mdstat_reread_ms),
            smart: self.smart.unwrap_or(d.smart),
            smartctl: self.smartctl.unwrap_or(d.smartctl),
            smart_devices: self.smart_devices.unwrap_or(d.smart_devices),
            smart_interval: smart_every?,
            smart_timeout: smart_timeout?,
            smart_max_temperature_c: self
                .smart_max_temperature_c
                .unwrap_or(d.smart_max_temperature_c),
            smart_worn_percent: self.smart_worn_percent.unwrap_or(d.smart_worn_percent),
            storcli: self.storcli.or(d.storcli),
            storcli_interval: storcli_every?,
            filesystems: self.filesystems.unwrap_or(d.filesystems),
            fs_warn_percent: self.fs_warn_percent.unwrap_or(d.fs_warn_percent),
            fs_crit_percent: self.fs_crit_percent.unwrap_or(d.fs_crit_percent),
            fs_include_network: self.fs_include_network.unwrap_or(d.fs_include_network),
            backups: self.backups.unwrap_or(d.backups),
            zimbra_root: self.zimbra_root.unwrap_or(d.zimbra_root),
            backup_stale_after: stale?,
            redfish: self
                .redfish
                .into_iter()
                .map(RedfishTargetConfig::target)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl RedfishTargetConfig {
    /// The two timers, each with its deprecated spelling in whole seconds.
    pub fn duration_keys(&self) -> [DurationKey<'_>; 2] {
        [
            DurationKey::new(
                REDFISH,
                "interval",
                self.interval,
                "interval_s",
                seconds(self.interval_s),
            ),
            DurationKey::new(
                REDFISH,
                "timeout",
                self.timeout,
                "timeout_s",
                seconds(self.timeout_s),
            ),
        ]
    }

    /// The target the poller runs with, its timers resolved (the URL and the rest are checked
    /// by [`RedfishTarget::validate`]).
    pub fn target(self) -> Result<RedfishTarget, HealthConfigError> {
        let d = RedfishTarget::new(&self.url);
        let [interval, timeout] = self.duration_keys();
        Ok(RedfishTarget {
            interval: timer(&interval, d.interval)?,
            timeout: timer(&timeout, d.timeout)?,
            url: self.url,
            name: self.name,
            user: self.user,
            password_file: self.password_file,
            ca_file: self.ca_file,
            insecure: self.insecure,
            serves: self.serves,
        })
    }
}

/// `[health]` checked: what the probes and the monitor run with ([`HealthFileConfig`] says
/// what each key means).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    pub enabled: bool,
    pub mdstat: PathBuf,
    pub sys_block: PathBuf,
    pub mountinfo: PathBuf,
    pub fstab: PathBuf,
    pub report_interval: Duration,
    pub progress_interval: Duration,
    pub mdstat_reread_ms: u64,
    pub smart: bool,
    pub smartctl: PathBuf,
    pub smart_devices: Vec<String>,
    pub smart_interval: Duration,
    pub smart_timeout: Duration,
    pub smart_max_temperature_c: i64,
    pub smart_worn_percent: u64,
    pub storcli: Option<PathBuf>,
    pub storcli_interval: Duration,
    pub filesystems: bool,
    pub fs_warn_percent: f64,
    pub fs_crit_percent: f64,
    pub fs_include_network: bool,
    pub backups: Vec<BackupRule>,
    pub zimbra_root: PathBuf,
    pub backup_stale_after: Duration,
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
            report_interval: Duration::from_secs(300),
            progress_interval: Duration::from_secs(60),
            mdstat_reread_ms: 500,
            smart: true,
            smartctl: "smartctl".into(),
            smart_devices: Vec::new(),
            smart_interval: Duration::from_secs(1800),
            smart_timeout: Duration::from_secs(60),
            smart_max_temperature_c: 60,
            smart_worn_percent: 80,
            storcli: None,
            storcli_interval: Duration::from_secs(300),
            filesystems: true,
            fs_warn_percent: 85.0,
            fs_crit_percent: 95.0,
            fs_include_network: false,
            backups: Vec::new(),
            zimbra_root: "/opt/zimbra".into(),
            backup_stale_after: Duration::from_secs(26 * 3600),
            redfish: Vec::new(),
        }
    }
}

/// A `[health]` value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthConfigError {
    /// An interval of 0 would spin (the key as written, with its table).
    #[error("{0} must be above zero")]
    Zero(String),
    /// A timer given both ways (`report_interval` and `report_interval_s`), or an old value
    /// that is not a number of seconds.
    #[error("{0}")]
    Duration(String),
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
        for (name, d) in [
            ("report_interval", self.report_interval),
            ("progress_interval", self.progress_interval),
            (
                "mdstat_reread_ms",
                Duration::from_millis(self.mdstat_reread_ms),
            ),
            ("smart_interval", self.smart_interval),
            ("smart_timeout", self.smart_timeout),
            ("storcli_interval", self.storcli_interval),
            ("backup_stale_after", self.backup_stale_after),
        ] {
            if d.is_zero() {
                return Err(HealthConfigError::Zero(format!("{HEALTH} {name}")));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Result<HealthConfig, HealthConfigError> {
        toml::from_str::<HealthFileConfig>(text).unwrap().settings()
    }

    #[test]
    fn defaults_are_valid_and_unknown_keys_are_refused() {
        HealthConfig::default().validate().unwrap();
        assert_eq!(settings("").unwrap(), HealthConfig::default());
        let cfg = settings(
            "smart_interval = \"10m\"\n[[backups]]\ndir = \"/backup\"\ndata = [\"/srv\"]\n",
        )
        .unwrap();
        assert_eq!(cfg.smart_interval, Duration::from_secs(600));
        assert_eq!(cfg.report_interval, Duration::from_secs(300));
        assert_eq!(
            cfg.backup_pairs(),
            vec![(PathBuf::from("/backup"), PathBuf::from("/srv"))]
        );
        let err = toml::from_str::<HealthFileConfig>("smart_intervl = 1\n").unwrap_err();
        assert!(err.to_string().contains("smart_intervl"), "{err}");
    }

    #[test]
    fn every_timer_reads_the_same_in_seconds_under_its_old_key_and_as_a_duration() {
        let old = "report_interval_s = 120\nprogress_interval_s = 15\nsmart_interval_s = 3600\n\
             smart_timeout_s = 90\nstorcli_interval_s = 600\nbackup_stale_after_s = 172800\n\
             [[redfish]]\nurl = \"https://b\"\ninterval_s = 30\ntimeout_s = 10\n";
        let new = "report_interval = \"2m\"\nprogress_interval = \"15s\"\nsmart_interval = \"1h\"\n\
             smart_timeout = \"1m30s\"\nstorcli_interval = \"10m\"\nbackup_stale_after = \"2d\"\n\
             [[redfish]]\nurl = \"https://b\"\ninterval = \"30s\"\ntimeout = \"10s\"\n";
        let (old, new) = (settings(old).unwrap(), settings(new).unwrap());
        assert_eq!(old, new);
        assert_ne!(new, settings("[[redfish]]\nurl = \"https://b\"\n").unwrap());
        assert_eq!(
            (new.smart_timeout, new.backup_stale_after),
            (Duration::from_secs(90), Duration::from_secs(172_800))
        );
        assert_eq!(
            (new.redfish[0].interval, new.redfish[0].timeout),
            (Duration::from_secs(30), Duration::from_secs(10))
        );
        // Sub-second timers are allowed in the new spelling.
        let fast = settings("progress_interval = \"500ms\"\n").unwrap();
        assert_eq!(fast.progress_interval, Duration::from_millis(500));
    }

    #[test]
    fn each_old_timer_key_has_a_deprecation_naming_its_new_spelling() {
        let file: HealthFileConfig = toml::from_str(
            "report_interval_s = 300\nbackup_stale_after = \"26h\"\n\
             [[redfish]]\nurl = \"https://a\"\n\
             [[redfish]]\nurl = \"https://b\"\ninterval_s = 90\n",
        )
        .unwrap();
        let notes: Vec<String> = file
            .all_duration_keys()
            .iter()
            .filter_map(|k| k.deprecation())
            .collect();
        assert_eq!(
            notes,
            [
                "[health] report_interval_s = 300 is deprecated: write report_interval = \"5m\"",
                "[[health.redfish]] interval_s = 90 is deprecated: write interval = \"1m 30s\"",
            ]
        );
    }

    #[test]
    fn both_spellings_a_bare_number_or_a_zero_timer_are_refused_by_name() {
        let err = settings("smart_timeout = \"1m\"\nsmart_timeout_s = 60\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "[health] smart_timeout_s and smart_timeout are both given: keep only smart_timeout"
        );
        let err = settings("[[redfish]]\nurl = \"https://b\"\ntimeout = \"5s\"\ntimeout_s = 5\n")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("[[health.redfish]] timeout_s and timeout are both given"),
            "{err}"
        );
        for (text, says) in [
            (
                "report_interval_s = 0",
                "[health] report_interval_s must be above zero",
            ),
            (
                "report_interval = \"0s\"",
                "[health] report_interval must be above zero",
            ),
            (
                "[[redfish]]\nurl = \"https://b\"\ntimeout_s = 0",
                "[[health.redfish]] timeout_s must be above zero",
            ),
        ] {
            assert_eq!(settings(text).unwrap_err().to_string(), says, "{text}");
        }
        for text in [
            "smart_interval = \"400d\"",
            "smart_interval_s = 100000000000",
        ] {
            let err = settings(text).unwrap_err().to_string();
            assert!(
                err.contains("[health] smart_interval") && err.contains("longer than a year"),
                "{err}"
            );
        }
        let err = toml::from_str::<HealthFileConfig>("storcli_interval = 300\n").unwrap_err();
        assert!(err.to_string().contains("write \"300s\""), "{err}");
    }

    #[test]
    fn redfish_targets_are_read_and_what_cannot_work_is_refused_by_name() {
        let cfg = settings(
            "[[redfish]]\nurl = \"https://idrac-esx1\"\nuser = \"monitor\"\n\
             password_file = \"/etc/logwarden/idrac.pass\"\nserves = [\"esx1\"]\n",
        )
        .unwrap();
        cfg.validate().unwrap();
        let t = &cfg.redfish[0];
        assert_eq!(
            (t.interval, t.timeout, t.insecure),
            (Duration::from_secs(60), Duration::from_secs(5), false)
        );
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
        ] {
            let cfg = settings(&format!("[[redfish]]\n{text}\n")).unwrap();
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
        let err =
            toml::from_str::<HealthFileConfig>("[[redfish]]\nurl = \"https://b\"\npasword = 1\n")
                .unwrap_err();
        assert!(err.to_string().contains("pasword"), "{err}");
    }

    #[test]
    fn a_zero_interval_or_inverted_thresholds_are_refused() {
        let cfg = HealthConfig {
            report_interval: Duration::ZERO,
            ..HealthConfig::default()
        };
        assert_eq!(
            cfg.validate(),
            Err(HealthConfigError::Zero("[health] report_interval".into()))
        );
        let cfg = HealthConfig {
            fs_warn_percent: 99.0,
            ..HealthConfig::default()
        };
        assert_eq!(cfg.validate(), Err(HealthConfigError::FsThresholds));
    }
}

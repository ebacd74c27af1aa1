//! Backups: could they die with the data they protect (placement), and are they recent
//! (freshness)? One `check: backup` record per (backup folder, data folder) pair.
//!
//! **Placement**, first match wins (each from [`lineage`](super::lineage)):
//! - `unmounted_target`: fstab names the backup folder (or a parent of it below its current
//!   mount) as a mount point, but nothing is mounted there, so the backups are silently
//!   filling the file system underneath;
//! - `same_filesystem`: both on one file system (same device numbers);
//! - `same_filer`: both on network file systems served by one file server (the same server
//!   name in the NFS or SMB source, or the same exported volume under two names): the filer
//!   going takes both ([`filer`](super::filer));
//! - `ok`: either side is on a network file system (another machine), and they differ;
//! - `unknown`: either side could not be followed down to its disks: never `ok` by default;
//! - `same_array`: they share an md array (two LVM volumes of one array, say);
//! - `same_disk`: they share a physical disk (two partitions of one disk);
//! - `ok`: nothing shared.
//!
//! **Freshness**: the age of the newest backup. When the folder has Zimbra's `sessions/`, the
//! newest `full-*` or `incr-*` session counts; otherwise the newest entry directly in the folder
//! (by modification time). `stale` past the configured age (26 h by default: a daily backup
//! plus slack), `missing` when there is none (or the folder does not exist).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::json;

use logwarden_core::{Fields, Kind, Severity};

use super::filer;
use super::lineage::Lineage;
use crate::draft::Draft;

/// Zimbra's own backup folder and the data folders it protects, relative to `/opt/zimbra`.
pub const ZIMBRA_BACKUP: &str = "backup";
pub const ZIMBRA_DATA: [&str; 4] = ["store", "db/data", "index", "redolog"];

/// The pairs checked when none are configured and `<zimbra_root>` exists.
pub fn zimbra_pairs(zimbra_root: &Path) -> Vec<(PathBuf, PathBuf)> {
    if !zimbra_root.is_dir() {
        return Vec::new();
    }
    ZIMBRA_DATA
        .iter()
        .map(|d| (zimbra_root.join(ZIMBRA_BACKUP), zimbra_root.join(d)))
        .collect()
}

/// The contract values of `placement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Ok,
    SameFilesystem,
    SameArray,
    SameDisk,
    UnmountedTarget,
    Unknown,
    SameFiler,
}

impl Placement {
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Ok => "ok",
            Placement::SameFilesystem => "same_filesystem",
            Placement::SameArray => "same_array",
            Placement::SameDisk => "same_disk",
            Placement::UnmountedTarget => "unmounted_target",
            Placement::Unknown => "unknown",
            Placement::SameFiler => "same_filer",
        }
    }
}

/// The contract values of `freshness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Ok,
    Stale,
    Missing,
}

impl Freshness {
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Ok => "ok",
            Freshness::Stale => "stale",
            Freshness::Missing => "missing",
        }
    }
}

/// A placement and what it is based on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementVerdict {
    pub placement: Placement,
    /// The devices both sides have in common (file system device, arrays, disks).
    pub shared_devices: Vec<String>,
    /// One phrase for the message (`both on md2`).
    pub reason: String,
}

/// Decides the placement of a backup folder against a data folder. `fstab_points` are the
/// mount points fstab names (empty when there is no fstab).
pub fn placement(backup: &Lineage, data: &Lineage, fstab_points: &[PathBuf]) -> PlacementVerdict {
    let verdict = |placement, shared: Vec<String>, reason: String| PlacementVerdict {
        placement,
        shared_devices: shared,
        reason,
    };
    // A folder meant to be a mount point: fstab names it or a parent of it that lies below the
    // mount it actually landed on.
    if let Some(point) = fstab_points.iter().find(|p| {
        p.as_path() != backup.mount.mount_point
            && backup.placed.starts_with(p)
            && p.starts_with(&backup.mount.mount_point)
    }) {
        return verdict(
            Placement::UnmountedTarget,
            backup.device.iter().cloned().collect(),
            format!(
                "{} is a mount point in fstab but is not mounted: backups land on {}",
                point.display(),
                backup.mount.mount_point.display()
            ),
        );
    }
    if (backup.mount.major, backup.mount.minor) == (data.mount.major, data.mount.minor) {
        return verdict(
            Placement::SameFilesystem,
            backup
                .device
                .iter()
                .cloned()
                .chain(std::iter::once(backup.mount.source.clone()))
                .take(1)
                .collect(),
            format!(
                "both on the file system at {} ({})",
                backup.mount.mount_point.display(),
                backup.mount.source
            ),
        );
    }
    if backup.is_network() && data.is_network() {
        let b = filer::server_and_volume(&backup.mount.fstype, &backup.mount.source);
        let d = filer::server_and_volume(&data.mount.fstype, &data.mount.source);
        if let (Some((bs, bv)), Some((ds, dv))) = (b, d) {
            let shared = vec![backup.mount.source.clone(), data.mount.source.clone()];
            if bs == ds {
                return verdict(
                    Placement::SameFiler,
                    shared,
                    format!("both served by the file server {bs}"),
                );
            }
            if bv == dv && bv != "/" {
                return verdict(
                    Placement::SameFiler,
                    shared,
                    format!(
                        "both of the exported volume {bv} (from {bs} and {ds}: one filer under two names?)"
                    ),
                );
            }
        }
    }
    if backup.is_network() || data.is_network() {
        return verdict(
            Placement::Ok,
            Vec::new(),
            "on different file systems, one of them on another machine".into(),
        );
    }
    if !backup.resolved() || !data.resolved() {
        let side = if !backup.resolved() { backup } else { data };
        return verdict(
            Placement::Unknown,
            Vec::new(),
            format!(
                "cannot follow {} ({} {}) down to its disks",
                side.mount.mount_point.display(),
                side.mount.fstype,
                side.mount.source
            ),
        );
    }
    let shared: Vec<String> = backup.nodes.intersection(&data.nodes).cloned().collect();
    let arrays: Vec<&String> = backup.arrays.intersection(&data.arrays).collect();
    let disks: Vec<&String> = backup.disks.intersection(&data.disks).collect();
    if !arrays.is_empty() {
        let names: Vec<&str> = arrays.iter().map(|s| s.as_str()).collect();
        return verdict(
            Placement::SameArray,
            shared,
            format!("both on array {}", names.join(", ")),
        );
    }
    if !disks.is_empty() {
        let names: Vec<&str> = disks.iter().map(|s| s.as_str()).collect();
        return verdict(
            Placement::SameDisk,
            shared,
            format!("both on disk {}", names.join(", ")),
        );
    }
    verdict(
        Placement::Ok,
        Vec::new(),
        "no file system, array or disk shared".into(),
    )
}

/// The newest backup found and how old it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreshnessVerdict {
    pub freshness: Freshness,
    pub newest: Option<PathBuf>,
    pub age: Option<Duration>,
}

/// Finds the newest backup in `dir` (see the module doc) and judges it against `stale_after`.
pub fn freshness(dir: &Path, now: SystemTime, stale_after: Duration) -> FreshnessVerdict {
    let sessions = dir.join("sessions");
    let (scan_dir, zimbra) = if sessions.is_dir() {
        (sessions, true)
    } else {
        (dir.to_path_buf(), false)
    };
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    if let Ok(rd) = std::fs::read_dir(&scan_dir) {
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if zimbra && !(name.starts_with("full-") || name.starts_with("incr-")) {
                continue;
            }
            if name.starts_with('.') {
                continue;
            }
            let Ok(mtime) = e.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            if newest.as_ref().is_none_or(|(t, _)| mtime > *t) {
                newest = Some((mtime, e.path()));
            }
        }
    }
    match newest {
        None => FreshnessVerdict {
            freshness: Freshness::Missing,
            newest: None,
            age: None,
        },
        Some((t, p)) => {
            let age = now.duration_since(t).unwrap_or(Duration::ZERO);
            FreshnessVerdict {
                freshness: if age > stale_after {
                    Freshness::Stale
                } else {
                    Freshness::Ok
                },
                newest: Some(p),
                age: Some(age),
            }
        }
    }
}

/// One pair's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupStatus {
    pub backup_dir: PathBuf,
    pub data_dir: PathBuf,
    pub placement: PlacementVerdict,
    pub fresh: FreshnessVerdict,
}

impl BackupStatus {
    pub fn severity(&self) -> Severity {
        let p = match self.placement.placement {
            Placement::Ok => Severity::Info,
            Placement::Unknown => Severity::Warning,
            _ => Severity::Err,
        };
        let f = match self.fresh.freshness {
            Freshness::Ok => Severity::Info,
            Freshness::Stale => Severity::Warning,
            Freshness::Missing => Severity::Err,
        };
        p.min(f)
    }

    /// `backup /opt/zimbra/backup for /opt/zimbra/store: same_array (both on array md2); newest
    /// 3h ago`.
    pub fn message(&self) -> String {
        let fresh = match (self.fresh.freshness, self.fresh.age) {
            (Freshness::Missing, _) => "no backup found".to_owned(),
            (f, Some(age)) => format!("newest {} ago ({})", human_age(age), f.as_str()),
            (f, None) => f.as_str().to_owned(),
        };
        format!(
            "backup {} for {}: {} ({}); {}",
            self.backup_dir.display(),
            self.data_dir.display(),
            self.placement.placement.as_str(),
            self.placement.reason,
            fresh
        )
    }

    /// The `fields` of the record (PRODUCT.md, `check: backup`).
    pub fn fields(&self) -> Fields {
        let mut f = Fields::new();
        f.insert("check".into(), json!("backup"));
        f.insert(
            "backup_dir".into(),
            json!(self.backup_dir.display().to_string()),
        );
        f.insert(
            "data_dir".into(),
            json!(self.data_dir.display().to_string()),
        );
        f.insert("placement".into(), json!(self.placement.placement.as_str()));
        f.insert(
            "shared_devices".into(),
            json!(self.placement.shared_devices),
        );
        f.insert("placement_reason".into(), json!(self.placement.reason));
        f.insert(
            "newest_backup_age_s".into(),
            json!(self.fresh.age.map(|a| a.as_secs())),
        );
        if let Some(p) = &self.fresh.newest {
            f.insert("newest_backup".into(), json!(p.display().to_string()));
        }
        f.insert("freshness".into(), json!(self.fresh.freshness.as_str()));
        f
    }

    pub fn to_draft(&self) -> Draft {
        Draft {
            ts: None,
            host: None,
            source: "health".into(),
            app: "backup".into(),
            severity: self.severity(),
            kind: Kind::Health,
            message: self.message(),
            fields: self.fields(),
        }
    }
}

fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::lineage::{BlockIndex, resolve, tests::FakeMachine};

    fn place(
        m: &FakeMachine,
        mounts: &[super::super::mountinfo::Mount],
        backup: &str,
        data: &str,
        fstab: &[&str],
    ) -> PlacementVerdict {
        let idx = BlockIndex::scan(&m.sys_block());
        let b = resolve(&m.path(backup), mounts, &idx).unwrap();
        let d = resolve(&m.path(data), mounts, &idx).unwrap();
        let fstab: Vec<PathBuf> = fstab.iter().map(|p| m.path(p)).collect();
        placement(&b, &d, &fstab)
    }

    /// Four disks, partition 2 of each in md2, LVM volumes store (dm-0) and backup (dm-1) on it;
    /// sde alone; sdf with two partitions.
    fn machine() -> FakeMachine {
        let m = FakeMachine::new();
        for (d, n) in [("sda", 0), ("sdb", 16), ("sdc", 32), ("sdd", 48)] {
            m.disk(d, &format!("8:{n}"));
            m.partition(d, &format!("{d}2"), &format!("8:{}", n + 2));
        }
        m.md("md2", "9:2", &["sda2", "sdb2", "sdc2", "sdd2"]);
        m.dm("dm-0", "253:0", "vg0-store", &["md2"]);
        m.dm("dm-1", "253:1", "vg0-backup", &["md2"]);
        m.disk("sde", "8:64");
        m.disk("sdf", "8:80");
        m.partition("sdf", "sdf1", "8:81");
        m.partition("sdf", "sdf2", "8:82");
        m
    }

    #[test]
    fn backup_and_data_on_one_file_system_are_same_filesystem() {
        let m = machine();
        let mounts = m.mountinfo(&[("/opt/zimbra", "253:0", "xfs", "/dev/mapper/vg0-store")]);
        m.mkdir("/opt/zimbra/backup");
        m.mkdir("/opt/zimbra/store");
        let v = place(&m, &mounts, "/opt/zimbra/backup", "/opt/zimbra/store", &[]);
        assert_eq!(v.placement, Placement::SameFilesystem, "{v:?}");
        assert_eq!(v.shared_devices, vec!["dm-0".to_owned()]);
    }

    #[test]
    fn two_lvm_volumes_of_one_md_array_are_same_array() {
        let m = machine();
        let mounts = m.mountinfo(&[
            ("/opt/zimbra", "253:0", "xfs", "/dev/mapper/vg0-store"),
            ("/backup", "253:1", "xfs", "/dev/mapper/vg0-backup"),
        ]);
        let v = place(&m, &mounts, "/backup", "/opt/zimbra/store", &[]);
        assert_eq!(v.placement, Placement::SameArray, "{v:?}");
        assert!(v.shared_devices.contains(&"md2".to_owned()));
        assert!(v.shared_devices.contains(&"sda".to_owned()));
        assert_eq!(v.reason, "both on array md2");
    }

    #[test]
    fn two_partitions_of_one_disk_are_same_disk() {
        let m = machine();
        let mounts = m.mountinfo(&[
            ("/data", "8:81", "ext4", "/dev/sdf1"),
            ("/backup", "8:82", "ext4", "/dev/sdf2"),
        ]);
        let v = place(&m, &mounts, "/backup", "/data", &[]);
        assert_eq!(v.placement, Placement::SameDisk, "{v:?}");
        assert_eq!(v.shared_devices, vec!["sdf".to_owned()]);
    }

    #[test]
    fn separate_disks_are_ok() {
        let m = machine();
        let mounts = m.mountinfo(&[
            ("/opt/zimbra", "253:0", "xfs", "/dev/mapper/vg0-store"),
            ("/backup", "8:64", "ext4", "/dev/sde"),
        ]);
        let v = place(&m, &mounts, "/backup", "/opt/zimbra/store", &[]);
        assert_eq!(v.placement, Placement::Ok, "{v:?}");
        assert!(v.shared_devices.is_empty());
    }

    #[test]
    fn a_backup_folder_meant_to_be_mounted_but_not_is_an_unmounted_target() {
        let m = machine();
        // fstab says /backup is sde; nothing is mounted there, so /backup is on /srv's disk.
        let mounts = m.mountinfo(&[
            ("/opt/zimbra", "253:0", "xfs", "/dev/mapper/vg0-store"),
            ("/srv", "8:81", "ext4", "/dev/sdf1"),
        ]);
        m.mkdir("/srv/backup");
        let v = place(
            &m,
            &mounts,
            "/srv/backup",
            "/opt/zimbra/store",
            &["/srv/backup"],
        );
        assert_eq!(v.placement, Placement::UnmountedTarget, "{v:?}");
        // Once it is mounted, the same fstab is fine.
        let mounts = m.mountinfo(&[
            ("/opt/zimbra", "253:0", "xfs", "/dev/mapper/vg0-store"),
            ("/srv", "8:81", "ext4", "/dev/sdf1"),
            ("/srv/backup", "8:64", "ext4", "/dev/sde"),
        ]);
        let v = place(
            &m,
            &mounts,
            "/srv/backup",
            "/opt/zimbra/store",
            &["/srv/backup"],
        );
        assert_eq!(v.placement, Placement::Ok, "{v:?}");
    }

    #[test]
    fn a_backup_on_nfs_is_separate_from_local_data() {
        let m = machine();
        let mounts = m.mountinfo(&[
            ("/opt/zimbra", "253:0", "xfs", "/dev/mapper/vg0-store"),
            ("/backup", "0:61", "nfs4", "filer:/export/backup"),
        ]);
        let v = place(&m, &mounts, "/backup", "/opt/zimbra/store", &[]);
        assert_eq!(v.placement, Placement::Ok, "{v:?}");
    }

    #[test]
    fn data_and_backup_from_one_filer_are_same_filer_from_two_filers_ok() {
        let m = machine();
        let mounts = m.mountinfo(&[
            ("/opt/zimbra", "0:60", "nfs4", "filer1:/vol/zimbra"),
            ("/backup", "0:61", "nfs4", "FILER1:/vol/backup"),
            ("/backup2", "0:62", "cifs", "//filer2/backup"),
            ("/backup3", "0:63", "nfs", "10.0.0.5:/vol/zimbra/backup"),
        ]);
        let v = place(&m, &mounts, "/backup", "/opt/zimbra/store", &[]);
        assert_eq!(v.placement, Placement::SameFiler, "{v:?}");
        assert!(v.reason.contains("filer1"), "{v:?}");
        let v = place(&m, &mounts, "/backup2", "/opt/zimbra/store", &[]);
        assert_eq!(v.placement, Placement::Ok, "{v:?}");
        let v = place(&m, &mounts, "/backup3", "/opt/zimbra/store", &[]);
        assert_eq!(v.placement, Placement::SameFiler, "{v:?}");
        assert!(v.reason.contains("/vol/zimbra"), "{v:?}");
    }

    #[test]
    fn an_unresolvable_device_is_unknown_never_ok() {
        let m = machine();
        let mounts = m.mountinfo(&[
            ("/opt/zimbra", "253:0", "xfs", "/dev/mapper/vg0-store"),
            ("/backup", "0:70", "zfs", "tank/backup"),
        ]);
        let v = place(&m, &mounts, "/backup", "/opt/zimbra/store", &[]);
        assert_eq!(v.placement, Placement::Unknown, "{v:?}");
        assert!(v.reason.contains("zfs"), "{}", v.reason);
    }

    #[test]
    fn freshness_reads_zimbra_sessions_and_plain_folders() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let day = Duration::from_secs(26 * 3600);
        assert_eq!(
            freshness(dir.path(), now, day).freshness,
            Freshness::Missing
        );
        assert_eq!(
            freshness(&dir.path().join("nope"), now, day).freshness,
            Freshness::Missing
        );
        std::fs::write(dir.path().join("dump.tar"), "x").unwrap();
        let f = freshness(dir.path(), now, day);
        assert_eq!(f.freshness, Freshness::Ok);
        assert!(f.age.unwrap() < Duration::from_secs(60));
        // Judged from a day and a half later, the same backup is stale.
        let later = now + Duration::from_secs(36 * 3600);
        assert_eq!(
            freshness(dir.path(), later, day).freshness,
            Freshness::Stale
        );
        // A Zimbra layout: only full-*/incr-* sessions count.
        std::fs::create_dir_all(dir.path().join("sessions/tmp-1")).unwrap();
        assert_eq!(
            freshness(dir.path(), now, day).freshness,
            Freshness::Missing
        );
        std::fs::create_dir_all(dir.path().join("sessions/incr-20240101.000000.000")).unwrap();
        let f = freshness(dir.path(), now, day);
        assert_eq!(f.freshness, Freshness::Ok);
        assert!(f.newest.unwrap().ends_with("incr-20240101.000000.000"));
    }

    #[test]
    fn the_backup_record_names_placement_shared_devices_and_freshness() {
        let m = machine();
        let mounts = m.mountinfo(&[
            ("/opt/zimbra", "253:0", "xfs", "/dev/mapper/vg0-store"),
            ("/backup", "253:1", "xfs", "/dev/mapper/vg0-backup"),
        ]);
        let s = BackupStatus {
            backup_dir: "/backup".into(),
            data_dir: "/opt/zimbra/store".into(),
            placement: place(&m, &mounts, "/backup", "/opt/zimbra/store", &[]),
            fresh: freshness(
                &m.path("/backup"),
                SystemTime::now(),
                Duration::from_secs(60),
            ),
        };
        let d = s.to_draft();
        assert_eq!(d.severity, Severity::Err);
        assert_eq!(d.fields["placement"], "same_array");
        assert_eq!(d.fields["freshness"], "missing");
        assert_eq!(d.fields["newest_backup_age_s"], serde_json::Value::Null);
        assert!(d.fields["shared_devices"].as_array().unwrap().len() >= 5);
        assert_eq!(
            s.message(),
            "backup /backup for /opt/zimbra/store: same_array (both on array md2); no backup found"
        );
    }
}

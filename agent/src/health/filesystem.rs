//! File systems: how full each real file system is, in space and in inodes (`check:
//! filesystem`).
//!
//! The list comes from mountinfo ([`super::mountinfo`]); pseudo file systems (proc, tmpfs,
//! cgroup, ...) are skipped, and so are network file systems unless asked for (a `statvfs` on a
//! dead NFS server hangs). Each file system is reported once, at its first mount point, even
//! when bind mounts show it again. `used_percent` is computed as `df` does: used / (used +
//! available to unprivileged users), so the root-reserved blocks count as full.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::json;

use logwarden_core::{Fields, Kind, Severity};

use super::mountinfo::Mount;
use crate::draft::Draft;

/// When a file system is worth a warning or a page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FsPolicy {
    /// At or above: `warning`.
    pub warn_percent: f64,
    /// At or above: `crit`.
    pub crit_percent: f64,
    /// Also `statvfs` network file systems (off by default: a dead server hangs the call).
    pub include_network: bool,
}

impl Default for FsPolicy {
    fn default() -> FsPolicy {
        FsPolicy {
            warn_percent: 85.0,
            crit_percent: 95.0,
            include_network: false,
        }
    }
}

/// The sizes `statvfs` gives, in blocks of `block_size` and in inodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub block_size: u64,
    pub blocks: u64,
    pub blocks_free: u64,
    pub blocks_avail: u64,
    pub files: u64,
    pub files_free: u64,
}

impl Usage {
    /// `statvfs(path)`.
    pub fn of(path: &Path) -> std::io::Result<Usage> {
        let s = rustix::fs::statvfs(path)?;
        Ok(Usage {
            block_size: s.f_frsize,
            blocks: s.f_blocks,
            blocks_free: s.f_bfree,
            blocks_avail: s.f_bavail,
            files: s.f_files,
            files_free: s.f_ffree,
        })
    }

    /// Percent used as `df` shows it, to one decimal; `None` for an empty file system.
    pub fn used_percent(&self) -> Option<f64> {
        let used = self.blocks.saturating_sub(self.blocks_free);
        let denom = used + self.blocks_avail;
        (denom > 0).then(|| round1(used as f64 * 100.0 / denom as f64))
    }

    /// Percent of inodes used; `None` where the file system has no fixed inode table (btrfs,
    /// some FUSE file systems report 0).
    pub fn inodes_used_percent(&self) -> Option<f64> {
        (self.files > 0).then(|| {
            round1(self.files.saturating_sub(self.files_free) as f64 * 100.0 / self.files as f64)
        })
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// One file system's record.
#[derive(Debug, Clone, PartialEq)]
pub struct FsStatus {
    pub mount: PathBuf,
    pub device: String,
    pub fstype: String,
    pub usage: Usage,
    pub severity: Severity,
}

/// The file systems worth a record, each once: not pseudo, not network unless asked.
pub fn candidates<'a>(mounts: &'a [Mount], policy: &FsPolicy) -> Vec<&'a Mount> {
    let mut seen = HashSet::new();
    mounts
        .iter()
        .filter(|m| !m.is_pseudo())
        .filter(|m| policy.include_network || !m.is_network())
        .filter(|m| {
            // Network mounts have distinct anonymous device numbers each; disks dedupe by devno.
            seen.insert((m.major, m.minor))
        })
        .collect()
}

/// Decides the severity from the usage.
pub fn assess(m: &Mount, usage: Usage, policy: &FsPolicy) -> FsStatus {
    let worst = usage
        .used_percent()
        .into_iter()
        .chain(usage.inodes_used_percent())
        .fold(0.0_f64, f64::max);
    let severity = if worst >= policy.crit_percent {
        Severity::Crit
    } else if worst >= policy.warn_percent {
        Severity::Warning
    } else {
        Severity::Info
    };
    FsStatus {
        mount: m.mount_point.clone(),
        device: m.source.clone(),
        fstype: m.fstype.clone(),
        usage,
        severity,
    }
}

impl FsStatus {
    /// `/var 91.2% used (inodes 3.0%) on /dev/sda3 ext4`.
    pub fn message(&self) -> String {
        let pct = |p: Option<f64>| p.map_or_else(|| "n/a".to_owned(), |p| format!("{p}%"));
        format!(
            "{} {} used (inodes {}) on {} {}",
            self.mount.display(),
            pct(self.usage.used_percent()),
            pct(self.usage.inodes_used_percent()),
            self.device,
            self.fstype
        )
    }

    /// The `fields` of the record (PRODUCT.md, `check: filesystem`).
    pub fn fields(&self) -> Fields {
        let u = &self.usage;
        let mut f = Fields::new();
        f.insert("check".into(), json!("filesystem"));
        f.insert("mount".into(), json!(self.mount.display().to_string()));
        f.insert("device".into(), json!(self.device));
        f.insert("fstype".into(), json!(self.fstype));
        f.insert("used_percent".into(), json!(u.used_percent()));
        f.insert("inodes_used_percent".into(), json!(u.inodes_used_percent()));
        f.insert(
            "size_bytes".into(),
            json!(u.blocks.saturating_mul(u.block_size)),
        );
        f.insert(
            "avail_bytes".into(),
            json!(u.blocks_avail.saturating_mul(u.block_size)),
        );
        f
    }

    pub fn to_draft(&self) -> Draft {
        Draft {
            ts: None,
            host: None,
            source: "health".into(),
            app: "filesystem".into(),
            severity: self.severity,
            kind: Kind::Health,
            message: self.message(),
            fields: self.fields(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::mountinfo;

    #[test]
    fn used_percent_counts_reserved_blocks_as_df_does() {
        let u = Usage {
            block_size: 4096,
            blocks: 1000,
            blocks_free: 100,
            blocks_avail: 50,
            files: 200,
            files_free: 150,
        };
        // used 900, available 50: 900 / 950.
        assert_eq!(u.used_percent(), Some(94.7));
        assert_eq!(u.inodes_used_percent(), Some(25.0));
        let m = &mountinfo::parse("27 1 8:3 / /var rw - ext4 /dev/sda3 rw\n").unwrap()[0];
        let s = assess(m, u, &FsPolicy::default());
        assert_eq!(s.severity, Severity::Warning);
        assert_eq!(
            s.message(),
            "/var 94.7% used (inodes 25%) on /dev/sda3 ext4"
        );
        assert_eq!(s.to_draft().fields["used_percent"], 94.7);
    }

    #[test]
    fn a_file_system_without_inode_table_has_no_inode_percent() {
        let u = Usage {
            block_size: 4096,
            blocks: 10,
            blocks_free: 10,
            blocks_avail: 10,
            files: 0,
            files_free: 0,
        };
        assert_eq!(u.inodes_used_percent(), None);
        assert_eq!(u.used_percent(), Some(0.0));
    }

    #[test]
    fn pseudo_network_and_bind_mounts_are_skipped() {
        let text = "\
22 27 0:21 / /proc rw - proc proc rw
27 1 8:1 / / rw - ext4 /dev/sda1 rw
28 27 8:1 /srv /mnt/srv rw - ext4 /dev/sda1 rw
29 27 0:50 / /mnt/nfs rw - nfs4 filer:/x rw
30 27 0:51 / /run rw - tmpfs tmpfs rw
";
        let mounts = mountinfo::parse(text).unwrap();
        let c = candidates(&mounts, &FsPolicy::default());
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].mount_point, Path::new("/"));
    }

    #[test]
    fn the_root_file_system_of_this_machine_can_be_measured() {
        let u = Usage::of(Path::new("/")).unwrap();
        assert!(u.blocks > 0);
        assert!(u.used_percent().is_some());
    }
}

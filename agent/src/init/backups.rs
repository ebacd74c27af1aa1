//! Where the backups go and what they protect, and a first look at whether they share a file
//! system with it (the agent's backup check goes further at run time: arrays and disks, see
//! `health/backup.rs`).
//!
//! The backup folder is, first found: `--backup`; Zimbra's own backup folder
//! (`/opt/zimbra/backup`, where Network Edition's `zmbackup` and most scripts write); the
//! `WORKDIR` of the open-source zmbackup tool (`/etc/zmbackup/zmbackup.conf`). The data is
//! what a mailbox server must not lose (store, database, index, redo log) and the LDAP
//! database on an LDAP server.

use std::path::{Path, PathBuf};

use super::machine::Machine;
use super::zimbra::{ROOT, Role, Zimbra};
use crate::health::backup::{ZIMBRA_BACKUP, ZIMBRA_DATA};
use crate::health::lineage::BlockIndex;
use crate::health::mountinfo::{self, Mount};

const ZMBACKUP_CONF: &str = "/etc/zmbackup/zmbackup.conf";
const LDAP_DATA: &str = "/opt/zimbra/data/ldap";

/// One backup folder and the folders it protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub dir: PathBuf,
    /// How the folder was found (`--backup`, `Zimbra's default`, ...).
    pub found_by: String,
    /// Whether it exists now (a missing one is reported `missing` by the agent).
    pub exists: bool,
    pub data: Vec<PathBuf>,
}

/// The backup plan: from the flags, else from Zimbra. `None` when there is nothing to protect
/// that `init` knows of and no flag named one.
pub fn plan(
    m: &Machine,
    zimbra: Option<&Zimbra>,
    backup: Option<&Path>,
    data: &[PathBuf],
) -> Option<Plan> {
    let mut protected = data.to_vec();
    if let Some(z) = zimbra.filter(|_| protected.is_empty()) {
        if z.runs(Role::Mailbox) {
            protected.extend(ZIMBRA_DATA.iter().map(|p| Path::new(ROOT).join(p)));
        }
        if z.runs(Role::Ldap) {
            protected.push(PathBuf::from(LDAP_DATA));
        }
    }
    if protected.is_empty() {
        return None;
    }
    let (dir, found_by) = if let Some(b) = backup {
        (b.to_owned(), "--backup".to_owned())
    } else if let Some(w) = zmbackup_workdir(m) {
        (w, format!("WORKDIR in {ZMBACKUP_CONF}"))
    } else {
        (
            Path::new(ROOT).join(ZIMBRA_BACKUP),
            "Zimbra's default backup folder".to_owned(),
        )
    };
    Some(Plan {
        exists: m.is_dir(&dir),
        dir,
        found_by,
        data: protected,
    })
}

/// `WORKDIR="/opt/zimbra/backup"` in zmbackup's config (a shell file).
fn zmbackup_workdir(m: &Machine) -> Option<PathBuf> {
    m.read(ZMBACKUP_CONF)?.lines().find_map(|l| {
        let v = l.trim().strip_prefix("WORKDIR=")?;
        let v = v.trim().trim_matches(['"', '\'']);
        v.starts_with('/').then(|| PathBuf::from(v))
    })
}

/// How one (backup, data) pair looks from the mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preview {
    /// Both on one file system: the backups die with the data.
    SameFilesystem { mount: PathBuf, device: String },
    /// On different file systems (which may still share an array or a disk).
    Separate { backup: String, data: String },
    /// The mount table could not be read or does not place a path.
    Unknown(String),
}

/// Compares the file systems of the backup folder and each data folder, from the inspected
/// tree's `/proc/self/mountinfo` and `/sys/block`.
pub fn preview(m: &Machine, plan: &Plan) -> Vec<(PathBuf, Preview)> {
    let mounts = match m.read("/proc/self/mountinfo").map(|t| mountinfo::parse(&t)) {
        Some(Ok(mounts)) => mounts,
        Some(Err(e)) => {
            let why = format!("/proc/self/mountinfo: {e}");
            return plan
                .data
                .iter()
                .map(|d| (d.clone(), Preview::Unknown(why.clone())))
                .collect();
        }
        None => {
            let why = "/proc/self/mountinfo cannot be read".to_owned();
            return plan
                .data
                .iter()
                .map(|d| (d.clone(), Preview::Unknown(why.clone())))
                .collect();
        }
    };
    let index = BlockIndex::scan(&m.at("/sys/block"));
    let place = |p: &Path| -> Option<Mount> {
        mountinfo::mount_of(&mounts, &m.existing_ancestor(p)).cloned()
    };
    let describe = |mnt: &Mount| -> String {
        let dev = index
            .device_of(mnt)
            .map(|d| format!("/dev/{d}"))
            .unwrap_or_else(|| mnt.source.clone());
        format!("{} on {}", mnt.mount_point.display(), dev)
    };
    let backup_mount = place(&plan.dir);
    plan.data
        .iter()
        .map(|d| {
            let verdict = match (&backup_mount, place(d)) {
                (Some(b), Some(dm)) if b.devno() == dm.devno() => Preview::SameFilesystem {
                    mount: b.mount_point.clone(),
                    device: describe(b),
                },
                (Some(b), Some(dm)) => Preview::Separate {
                    backup: describe(b),
                    data: describe(&dm),
                },
                _ => Preview::Unknown("no mount in mountinfo holds it".into()),
            };
            (d.clone(), verdict)
        })
        .collect()
}

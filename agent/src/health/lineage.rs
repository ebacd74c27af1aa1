//! Lineage: which file system, arrays and physical disks a path lives on.
//!
//! ```text
//! path --(longest mount point, mountinfo)--> mount (major:minor, source)
//!      --(<sys_block>/*/dev, partitions, dm/name)--> block device (sda3, dm-2, md2)
//!      --(partition -> its disk; <dev>/slaves/* through LVM, dm-crypt, multipath, md)-->
//!      every device below it, the md arrays among them, and the disks at the bottom
//! ```
//!
//! Everything is read from the paths the caller gives (`/sys/block`, a mountinfo text), so a
//! test can build a fake machine in a temp folder: `<sys_block>/<name>/dev` holds `M:m`, a
//! partition is a subfolder with a `partition` file and its own `dev`, `slaves/` lists the
//! devices below, `md/` marks an md array and `dm/name` gives a device-mapper name
//! (`/dev/mapper/<name>`).
//!
//! A path that does not exist yet (a backup folder not created) is placed by its nearest
//! existing parent: that is where its files would go. A file system whose device cannot be
//! found (ZFS, overlay, a device this tree does not show) gives a lineage with `device: None`,
//! which placement reports as `unknown`, never as `ok`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::mountinfo::{self, Mount};

/// Why a path could not be placed at all.
#[derive(Debug, thiserror::Error)]
pub enum LineageError {
    /// No mount point is a prefix of the path (only possible with a partial mountinfo).
    #[error("{0}: no mount point in mountinfo contains it")]
    NoMount(PathBuf),
}

/// The block devices `<sys_block>` shows, by device number and by name.
#[derive(Debug, Clone, Default)]
pub struct BlockIndex {
    sys_block: PathBuf,
    by_devno: HashMap<(u32, u32), String>,
    /// partition -> the disk (or md array) it is a partition of.
    parent: HashMap<String, String>,
    /// device-mapper name (`vg-data`) -> `dm-N`.
    dm_names: HashMap<String, String>,
    /// every name the index knows (disks and partitions).
    known: BTreeSet<String>,
}

fn read_devno(path: &Path) -> Option<(u32, u32)> {
    let s = std::fs::read_to_string(path).ok()?;
    let (a, b) = s.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The names in a folder, sorted; empty when it cannot be read.
pub(crate) fn dir_names(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

impl BlockIndex {
    /// Reads `<sys_block>`: each device, its partitions and device-mapper names. A missing
    /// directory gives an empty index (every lineage is then `unknown`).
    pub fn scan(sys_block: &Path) -> BlockIndex {
        let mut idx = BlockIndex {
            sys_block: sys_block.to_owned(),
            ..BlockIndex::default()
        };
        for name in dir_names(sys_block) {
            let dir = sys_block.join(&name);
            if let Some(devno) = read_devno(&dir.join("dev")) {
                idx.by_devno.insert(devno, name.clone());
            }
            if let Ok(dm) = std::fs::read_to_string(dir.join("dm").join("name")) {
                idx.dm_names.insert(dm.trim().to_owned(), name.clone());
            }
            for sub in dir_names(&dir) {
                let part = dir.join(&sub);
                if part.join("partition").exists() {
                    if let Some(devno) = read_devno(&part.join("dev")) {
                        idx.by_devno.insert(devno, sub.clone());
                    }
                    idx.parent.insert(sub.clone(), name.clone());
                    idx.known.insert(sub);
                }
            }
            idx.known.insert(name);
        }
        idx
    }

    /// The device a mount sits on: by `major:minor`, else by its source (`/dev/sda1`,
    /// `/dev/mapper/vg-data`, `/dev/md/data` is not resolved: md names go through devno).
    pub fn device_of(&self, m: &Mount) -> Option<String> {
        if let Some(n) = self.by_devno.get(&(m.major, m.minor)) {
            return Some(n.clone());
        }
        let src = m.source.strip_prefix("/dev/")?;
        if let Some(dm) = src.strip_prefix("mapper/") {
            return self.dm_names.get(dm).cloned();
        }
        self.known.contains(src).then(|| src.to_owned())
    }

    fn is_array(&self, name: &str) -> bool {
        self.sys_block.join(name).join("md").is_dir()
    }

    fn slaves(&self, name: &str) -> Vec<String> {
        match self.parent.get(name) {
            Some(disk) => dir_names(&self.sys_block.join(disk).join(name).join("slaves")),
            None => dir_names(&self.sys_block.join(name).join("slaves")),
        }
    }
}

/// Where a path lives, from the file system down to the disks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lineage {
    /// The path as placed (canonical; the nearest existing parent when it does not exist).
    pub placed: PathBuf,
    pub mount: Mount,
    /// The block device of the file system; `None` when it could not be found.
    pub device: Option<String>,
    /// Every block device from the file system's down (partitions, dm, md, disks).
    pub nodes: BTreeSet<String>,
    /// The md arrays among them.
    pub arrays: BTreeSet<String>,
    /// The devices at the bottom: whole disks (or loop devices, or anything without slaves).
    pub disks: BTreeSet<String>,
}

impl Lineage {
    pub fn is_network(&self) -> bool {
        self.mount.is_network()
    }

    /// Known down to the disks (or on another machine).
    pub fn resolved(&self) -> bool {
        self.is_network() || (self.device.is_some() && !self.disks.is_empty())
    }
}

/// The path itself when it exists, else its nearest existing parent; made canonical.
pub fn existing_ancestor(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    loop {
        if let Ok(c) = p.canonicalize() {
            return c;
        }
        if !p.pop() {
            return PathBuf::from("/");
        }
    }
}

/// Places `path` on its mount and walks down to the disks.
pub fn resolve(path: &Path, mounts: &[Mount], index: &BlockIndex) -> Result<Lineage, LineageError> {
    let placed = existing_ancestor(path);
    let mount = mountinfo::mount_of(mounts, &placed)
        .ok_or_else(|| LineageError::NoMount(placed.clone()))?
        .clone();
    let device = if mount.is_network() {
        None
    } else {
        index.device_of(&mount)
    };
    let mut lineage = Lineage {
        placed,
        mount,
        device: device.clone(),
        nodes: BTreeSet::new(),
        arrays: BTreeSet::new(),
        disks: BTreeSet::new(),
    };
    let mut stack: Vec<String> = device.into_iter().collect();
    while let Some(name) = stack.pop() {
        if !lineage.nodes.insert(name.clone()) {
            continue;
        }
        if index.is_array(&name) {
            lineage.arrays.insert(name.clone());
        }
        if let Some(disk) = index.parent.get(&name) {
            stack.push(disk.clone());
            // A partition of an md array or dm device can still have slaves of its own.
            stack.extend(index.slaves(&name));
            continue;
        }
        let slaves = index.slaves(&name);
        if slaves.is_empty() {
            lineage.disks.insert(name);
        } else {
            stack.extend(slaves);
        }
    }
    Ok(lineage)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fake machine: a `/sys/block` tree and a mountinfo text, in a temp folder.
    pub(crate) struct FakeMachine {
        pub dir: tempfile::TempDir,
    }

    impl FakeMachine {
        pub fn new() -> FakeMachine {
            FakeMachine {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        pub fn sys_block(&self) -> PathBuf {
            self.dir.path().join("sys/block")
        }
        /// A real folder standing for a path of the fake machine (`/srv/data` ->
        /// `<tmp>/root/srv/data`).
        pub fn path(&self, p: &str) -> PathBuf {
            self.dir.path().join("root").join(p.trim_start_matches('/'))
        }
        pub fn mkdir(&self, p: &str) -> PathBuf {
            let path = self.path(p);
            std::fs::create_dir_all(&path).unwrap();
            path.canonicalize().unwrap()
        }
        fn write(&self, rel: &str, text: &str) {
            let p = self.sys_block().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        pub fn disk(&self, name: &str, devno: &str) {
            self.write(&format!("{name}/dev"), &format!("{devno}\n"));
        }
        pub fn partition(&self, disk: &str, name: &str, devno: &str) {
            self.write(&format!("{disk}/{name}/dev"), &format!("{devno}\n"));
            self.write(&format!("{disk}/{name}/partition"), "1\n");
        }
        pub fn slaves(&self, name: &str, slaves: &[&str]) {
            for s in slaves {
                self.write(&format!("{name}/slaves/{s}"), "");
            }
        }
        pub fn md(&self, name: &str, devno: &str, members: &[&str]) {
            self.disk(name, devno);
            self.write(&format!("{name}/md/level"), "raid6\n");
            self.slaves(name, members);
        }
        pub fn dm(&self, name: &str, devno: &str, dm_name: &str, slaves: &[&str]) {
            self.disk(name, devno);
            self.write(&format!("{name}/dm/name"), &format!("{dm_name}\n"));
            self.slaves(name, slaves);
        }
        /// A mountinfo with `/` plus the given mounts: (fake path, devno, fstype, source).
        pub fn mountinfo(&self, mounts: &[(&str, &str, &str, &str)]) -> Vec<Mount> {
            let mut text = String::from("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n");
            for (i, (p, devno, fstype, source)) in mounts.iter().enumerate() {
                let point = self.mkdir(p);
                text.push_str(&format!(
                    "{} 1 {devno} / {} rw - {fstype} {source} rw\n",
                    i + 2,
                    point.display()
                ));
            }
            mountinfo::parse(&text).unwrap()
        }
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn lvm_on_md_on_partitions_resolves_to_the_array_and_its_disks() {
        let m = FakeMachine::new();
        for (d, n) in [("sda", 0), ("sdb", 16), ("sdc", 32), ("sdd", 48)] {
            m.disk(d, &format!("8:{n}"));
            m.partition(d, &format!("{d}2"), &format!("8:{}", n + 2));
        }
        m.md("md2", "9:2", &["sda2", "sdb2", "sdc2", "sdd2"]);
        m.dm("dm-0", "253:0", "vg0-store", &["md2"]);
        let mounts = m.mountinfo(&[("/opt/zimbra", "253:0", "xfs", "/dev/mapper/vg0-store")]);
        let idx = BlockIndex::scan(&m.sys_block());
        let l = resolve(&m.path("/opt/zimbra/store"), &mounts, &idx).unwrap();
        assert_eq!(l.device.as_deref(), Some("dm-0"));
        assert_eq!(l.arrays, set(&["md2"]));
        assert_eq!(l.disks, set(&["sda", "sdb", "sdc", "sdd"]));
        assert!(l.nodes.contains("sdc2"));
        assert!(l.resolved());
    }

    #[test]
    fn a_mount_found_only_by_its_mapper_name_still_resolves() {
        let m = FakeMachine::new();
        m.disk("sdb", "8:16");
        m.dm("dm-3", "253:3", "crypt-backup", &["sdb"]);
        // Device numbers that the tree does not show (btrfs-style anonymous devno).
        let mounts = m.mountinfo(&[("/backup", "0:44", "btrfs", "/dev/mapper/crypt-backup")]);
        let l = resolve(
            &m.path("/backup"),
            &mounts,
            &BlockIndex::scan(&m.sys_block()),
        )
        .unwrap();
        assert_eq!(l.device.as_deref(), Some("dm-3"));
        assert_eq!(l.disks, set(&["sdb"]));
    }

    #[test]
    fn an_unknown_device_leaves_the_lineage_unresolved() {
        let m = FakeMachine::new();
        let mounts = m.mountinfo(&[("/tank", "0:50", "zfs", "tank/backup")]);
        let l = resolve(&m.path("/tank"), &mounts, &BlockIndex::scan(&m.sys_block())).unwrap();
        assert_eq!(l.device, None);
        assert!(!l.resolved());
    }

    #[test]
    fn a_path_that_does_not_exist_is_placed_by_its_nearest_parent() {
        let m = FakeMachine::new();
        m.disk("sdb", "8:16");
        let mounts = m.mountinfo(&[("/backup", "8:16", "ext4", "/dev/sdb")]);
        let l = resolve(
            &m.path("/backup/not/yet/made"),
            &mounts,
            &BlockIndex::scan(&m.sys_block()),
        )
        .unwrap();
        assert_eq!(
            l.mount.mount_point,
            m.path("/backup").canonicalize().unwrap()
        );
        assert_eq!(l.disks, set(&["sdb"]));
    }

    #[test]
    fn this_machines_root_file_system_resolves_to_a_disk_where_sysfs_shows_it() {
        let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
            eprintln!("skipped: no /proc/self/mountinfo");
            return;
        };
        let mounts = mountinfo::parse(&text).unwrap();
        let idx = BlockIndex::scan(Path::new("/sys/block"));
        let l = resolve(Path::new("/"), &mounts, &idx).unwrap();
        if l.mount.fstype == "overlay" || l.device.is_none() {
            eprintln!("skipped: root is {} on {}", l.mount.fstype, l.mount.source);
            return;
        }
        assert!(!l.disks.is_empty(), "{l:?}");
    }
}

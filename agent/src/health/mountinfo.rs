//! `/proc/self/mountinfo` and `/etc/fstab`: which file system a path lives on, and which mount
//! points the administrator meant to have.
//!
//! A mountinfo line (proc(5)):
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2)(3)   (4)   (5)          (6)      (7)    (8) (9)     (10)       (11)
//! ```
//! mount id, parent id, `major:minor` of the file system's device (`st_dev`), root of the mount
//! within the file system, mount point, options, optional fields up to `-`, type, source,
//! super options. Spaces, tabs, newlines and backslashes in paths are written as octal
//! escapes (`\040`).
//!
//! Both files are read from paths given by the caller, so that `logwarden-agent check
//! --mountinfo FILE --fstab FILE` and the tests can describe a machine that is not this one.

use std::path::{Path, PathBuf};

/// Why a mountinfo text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountinfoError {
    /// A line with too few fields, no ` - ` separator or a bad `major:minor`.
    #[error("mountinfo line {line}: {reason}")]
    BadLine { line: usize, reason: &'static str },
}

/// One mounted file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub id: u32,
    pub parent: u32,
    /// `st_dev` of every file on it.
    pub major: u32,
    pub minor: u32,
    /// The directory of the file system that is mounted here (`/` unless a bind mount).
    pub root: String,
    pub mount_point: PathBuf,
    pub fstype: String,
    /// `/dev/sda1`, `/dev/mapper/vg-data`, `server:/export`, `tmpfs`.
    pub source: String,
}

impl Mount {
    /// The device numbers as `M:m`.
    pub fn devno(&self) -> String {
        format!("{}:{}", self.major, self.minor)
    }

    /// A memory or kernel file system: nothing a disk or backup check is about.
    pub fn is_pseudo(&self) -> bool {
        is_pseudo(&self.fstype)
    }

    /// A network file system: its data lives on another machine.
    pub fn is_network(&self) -> bool {
        is_network(&self.fstype)
    }
}

/// File system types that hold no data on a disk of this machine.
pub fn is_pseudo(fstype: &str) -> bool {
    matches!(
        fstype,
        "proc"
            | "sysfs"
            | "devtmpfs"
            | "devpts"
            | "tmpfs"
            | "ramfs"
            | "cgroup"
            | "cgroup2"
            | "securityfs"
            | "pstore"
            | "debugfs"
            | "tracefs"
            | "configfs"
            | "fusectl"
            | "mqueue"
            | "hugetlbfs"
            | "bpf"
            | "autofs"
            | "binfmt_misc"
            | "rpc_pipefs"
            | "nsfs"
            | "efivarfs"
            | "selinuxfs"
            | "squashfs"
            | "nfsd"
            | "fuse.lxcfs"
            | "fuse.gvfsd-fuse"
            | "fuse.portal"
            | "iso9660"
    )
}

/// File system types whose data is on another machine.
pub fn is_network(fstype: &str) -> bool {
    matches!(
        fstype,
        "nfs"
            | "nfs4"
            | "cifs"
            | "smb3"
            | "smbfs"
            | "ceph"
            | "glusterfs"
            | "fuse.sshfs"
            | "fuse.glusterfs"
            | "fuse.s3fs"
            | "fuse.rclone"
            | "9p"
            | "lustre"
            | "gpfs"
            | "beegfs"
            | "davfs"
            | "fuse.davfs2"
    )
}

/// Undoes the kernel's octal escapes (`\040` is a space).
pub fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a mountinfo text.
pub fn parse(text: &str) -> Result<Vec<Mount>, MountinfoError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason| MountinfoError::BadLine {
            line: i + 1,
            reason,
        };
        let (head, tail) = line
            .split_once(" - ")
            .ok_or_else(|| bad("no ` - ` separator"))?;
        let h: Vec<&str> = head.split(' ').collect();
        let t: Vec<&str> = tail.split(' ').collect();
        if h.len() < 6 || t.len() < 2 {
            return Err(bad("too few fields"));
        }
        let (major, minor) = h[2].split_once(':').ok_or_else(|| bad("no major:minor"))?;
        out.push(Mount {
            id: h[0].parse().map_err(|_| bad("bad mount id"))?,
            parent: h[1].parse().map_err(|_| bad("bad parent id"))?,
            major: major.parse().map_err(|_| bad("bad major"))?,
            minor: minor.parse().map_err(|_| bad("bad minor"))?,
            root: unescape(h[3]),
            mount_point: PathBuf::from(unescape(h[4])),
            fstype: t[0].to_owned(),
            source: unescape(t[1]),
        });
    }
    Ok(out)
}

/// The mount a path is on: the longest mount point that is a prefix of `path` (which the caller
/// made absolute and free of symlinks); of two mounts on the same point, the later one, which
/// hides the other.
pub fn mount_of<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    let mut best: Option<&Mount> = None;
    for m in mounts {
        if path.starts_with(&m.mount_point)
            && best
                .is_none_or(|b| m.mount_point.as_os_str().len() >= b.mount_point.as_os_str().len())
        {
            best = Some(m);
        }
    }
    best
}

/// The mount points `/etc/fstab` names (swap and `none` excluded).
pub fn fstab_mount_points(text: &str) -> Vec<PathBuf> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (point, fstype) = (*f.get(1)?, *f.get(2)?);
            (point.starts_with('/') && fstype != "swap").then(|| PathBuf::from(unescape(point)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
36 27 9:2 / /opt/zimbra rw,noatime master:1 - xfs /dev/md2 rw
37 36 253:1 / /opt/zimbra/my\\040backup rw shared:5 - ext4 /dev/mapper/vg-backup rw
38 27 0:50 / /mnt/nfs rw - nfs4 filer:/export rw,vers=4.2
";

    #[test]
    fn mountinfo_lines_are_read_with_escapes_and_optional_fields() {
        let m = parse(SAMPLE).unwrap();
        assert_eq!(m.len(), 5);
        assert_eq!(m[2].devno(), "9:2");
        assert_eq!(m[2].fstype, "xfs");
        assert_eq!(m[3].mount_point, Path::new("/opt/zimbra/my backup"));
        assert_eq!(m[3].source, "/dev/mapper/vg-backup");
        assert!(m[4].is_network());
        assert!(m[0].is_pseudo());
    }

    #[test]
    fn a_path_is_on_the_longest_matching_mount_point() {
        let m = parse(SAMPLE).unwrap();
        let on = |p: &str| mount_of(&m, Path::new(p)).unwrap().mount_point.clone();
        assert_eq!(on("/opt/zimbra/store/0"), Path::new("/opt/zimbra"));
        assert_eq!(
            on("/opt/zimbra/my backup/x"),
            Path::new("/opt/zimbra/my backup")
        );
        assert_eq!(on("/opt/zimbrax"), Path::new("/"));
        assert_eq!(on("/"), Path::new("/"));
    }

    #[test]
    fn a_broken_line_is_named() {
        let err = parse("27 1 254:0 / / rw\n").unwrap_err();
        assert_eq!(
            err,
            MountinfoError::BadLine {
                line: 1,
                reason: "no ` - ` separator"
            }
        );
    }

    #[test]
    fn fstab_mount_points_skip_swap_and_comments() {
        let text = "# x\nUUID=1 / ext4 defaults 0 1\n/dev/sdb1 /backup ext4 noauto 0 2\n/swap none swap sw 0 0\n";
        assert_eq!(
            fstab_mount_points(text),
            vec![PathBuf::from("/"), PathBuf::from("/backup")]
        );
    }
}

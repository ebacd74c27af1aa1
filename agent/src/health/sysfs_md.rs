//! What `/sys/block/mdX/md/` says about an array, beside `/proc/mdstat`: the exact count of
//! missing devices (`degraded`), the running `sync_action`, `sync_completed`, `mismatch_cnt`
//! (blocks found inconsistent by the last check) and each member's `dev-*/state`.
//!
//! Everything is optional: older kernels lack some files, containers lack most, and a test
//! builds a fake tree with only the files it needs. [`read`] takes the `/sys/block` directory
//! so that `logwarden-agent check --sys-block DIR` and the tests can point it elsewhere.

use std::path::Path;

/// The md view of one array under `<sys_block>/<name>/md/`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MdSysfs {
    /// `clear`, `inactive`, `readonly`, `read-auto`, `clean`, `active`, ...
    pub array_state: Option<String>,
    pub level: Option<String>,
    pub raid_disks: Option<u32>,
    /// How many devices are missing (0 on a complete array).
    pub degraded: Option<u32>,
    /// `idle`, `resync`, `recover`, `check`, `repair`, `reshape`, `frozen`.
    pub sync_action: Option<String>,
    /// `done / total` sectors of the running sync (the file says `none` when idle).
    pub sync_completed: Option<(u64, u64)>,
    pub mismatch_cnt: Option<u64>,
    /// Each member: device name (from `dev-<name>`) and its state (`in_sync`, `faulty`,
    /// `spare`, `write_mostly`, ... comma-separated as the kernel prints it).
    pub devices: Vec<(String, String)>,
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Reads `<sys_block>/<name>/md/`; `None` when there is no such directory (no sysfs in a
/// container, an mdstat fixture without a tree, or an array that just went away).
pub fn read(sys_block: &Path, name: &str) -> Option<MdSysfs> {
    let md = sys_block.join(name).join("md");
    if !md.is_dir() {
        return None;
    }
    let num = |f: &str| read_trimmed(&md.join(f)).and_then(|s| s.parse().ok());
    let mut out = MdSysfs {
        array_state: read_trimmed(&md.join("array_state")),
        level: read_trimmed(&md.join("level")),
        raid_disks: num("raid_disks"),
        degraded: num("degraded"),
        sync_action: read_trimmed(&md.join("sync_action")),
        sync_completed: read_trimmed(&md.join("sync_completed")).and_then(|s| {
            let (a, b) = s.split_once('/')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        }),
        mismatch_cnt: read_trimmed(&md.join("mismatch_cnt")).and_then(|s| s.parse().ok()),
        devices: Vec::new(),
    };
    // The sync_action of a degraded array rebuilding is `recover`; mdstat says `recovery`.
    if out.sync_action.as_deref() == Some("recover") {
        out.sync_action = Some("recovery".into());
    }
    if let Ok(entries) = std::fs::read_dir(&md) {
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(dev) = file_name.to_str().and_then(|n| n.strip_prefix("dev-")) else {
                continue;
            };
            let state = read_trimmed(&entry.path().join("state")).unwrap_or_default();
            out.devices.push((dev.to_owned(), state));
        }
    }
    out.devices.sort();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{mdstat, raid};

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn a_fake_md_tree_is_read_with_members_and_progress() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "md0/md/array_state", "clean\n");
        write(r, "md0/md/level", "raid5\n");
        write(r, "md0/md/raid_disks", "4\n");
        write(r, "md0/md/degraded", "1\n");
        write(r, "md0/md/sync_action", "recover\n");
        write(r, "md0/md/sync_completed", "250 / 1000\n");
        write(r, "md0/md/mismatch_cnt", "0\n");
        write(r, "md0/md/dev-sda1/state", "in_sync\n");
        write(r, "md0/md/dev-sdb1/state", "faulty\n");
        let s = read(r, "md0").unwrap();
        assert_eq!(s.degraded, Some(1));
        assert_eq!(s.sync_action.as_deref(), Some("recovery"));
        assert_eq!(s.sync_completed, Some((250, 1000)));
        assert_eq!(
            s.devices,
            vec![
                ("sda1".to_owned(), "in_sync".to_owned()),
                ("sdb1".to_owned(), "faulty".to_owned())
            ]
        );
        assert_eq!(read(r, "md9"), None);
    }

    #[test]
    fn sysfs_degraded_overrides_a_stale_mdstat_and_adds_the_mismatch_count() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "md0/md/degraded", "1\n");
        write(r, "md0/md/mismatch_cnt", "128\n");
        write(r, "md0/md/sync_action", "idle\n");
        write(r, "md0/md/array_state", "active\n");
        let text = "Personalities : [raid5]\nmd0 : active raid5 sda1[0] sdb1[1] sdc1[2]\n      \
                    100 blocks level 5, 64k chunk, algorithm 2 [3/3] [UUU]\n";
        let a = &mdstat::parse(text).unwrap().arrays[0];
        let s = raid::assess(a, read(r, "md0").as_ref());
        assert_eq!(s.state, raid::RaidState::Degraded);
        assert_eq!((s.disks_working, s.redundancy_left), (2, 0));
        assert_eq!(s.mismatch_cnt, Some(128));
        assert_eq!(s.array_state.as_deref(), Some("active"));
        assert_eq!(s.sync_action, "idle");
    }
}

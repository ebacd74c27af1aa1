//! What an md array's state means: from a parsed [`MdArray`] (and, where present, its
//! `/sys/block/mdX/md/` view) to a `check: raid` health record.
//!
//! How the record is decided (docs/health.md says the same for operators):
//! - **Counts.** `disks_total`/`disks_working` are `n`/`m` of `[n/m]`. Arrays without it
//!   (raid0, linear, inactive arrays) count their listed members: every non-spare member is
//!   part of the array, the failed ones are not working. The `[UUUU]` of an inactive array is
//!   never trusted (the kernel prints the superblock's view, not what is assembled).
//! - **`redundancy_left`**: how many more disks the array can lose. raid1 and multipath:
//!   working - 1; raid4/5: 1 - missing; raid6: 2 - missing; raid10: per mirror set of the
//!   `near` layout when the map allows it (the fewest copies left in any set, minus one),
//!   otherwise copies - 1 - missing (conservative); raid0 and linear: 0 (-1 with a failed
//!   member).
//! - **`state`**, first match wins: an inactive IMSM/DDF container is `inactive` and fine; any
//!   other inactive array is `inactive` (it serves no data: reported like a failure);
//!   `redundancy_left` < 0 is `failed`; then `reshaping`, `recovering` (a recovery running or
//!   waiting; but a sync that only waits, `resync=PENDING`, on an array missing disks with no
//!   spare rebuilds nothing: `degraded`, the waiting sync kept in `sync_action`/`sync_waiting`),
//!   `degraded` (missing disks), `resyncing`, `checking` (`check` or `repair`),
//!   `clean`.
//! - **Severity**: `crit` for failed and inactive arrays and for any array with missing disks
//!   and no redundancy left; `err` for missing disks with redundancy left; `warning` for a
//!   complete array that still holds failed members or has a mismatch count; `notice` for a
//!   resync or reshape; `info` otherwise.

use serde_json::json;

use logwarden_core::{Fields, Kind, Severity};

use super::mdstat::MdArray;
use super::sysfs_md::MdSysfs;
use crate::draft::Draft;

/// The contract values of `state` for `check: raid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaidState {
    Clean,
    Degraded,
    Recovering,
    Resyncing,
    Checking,
    Reshaping,
    Inactive,
    Failed,
}

impl RaidState {
    pub fn as_str(self) -> &'static str {
        match self {
            RaidState::Clean => "clean",
            RaidState::Degraded => "degraded",
            RaidState::Recovering => "recovering",
            RaidState::Resyncing => "resyncing",
            RaidState::Checking => "checking",
            RaidState::Reshaping => "reshaping",
            RaidState::Inactive => "inactive",
            RaidState::Failed => "failed",
        }
    }
}

/// The assessment of one array: everything a `check: raid` record says.
#[derive(Debug, Clone, PartialEq)]
pub struct RaidStatus {
    pub array: String,
    /// The personality, `container` for an IMSM/DDF container, `unknown` when not printed.
    pub level: String,
    pub state: RaidState,
    pub severity: Severity,
    pub disks_total: u32,
    pub disks_working: u32,
    pub disks_failed: u32,
    pub disks_spare: u32,
    pub redundancy_left: i64,
    /// `idle` when nothing runs; else `recovery`, `resync`, `check`, `repair`, `reshape`.
    pub sync_action: String,
    pub sync_percent: Option<f64>,
    /// `delayed` or `pending` when a sync waits its turn.
    pub sync_waiting: Option<String>,
    pub failed_devices: Vec<String>,
    pub spare_devices: Vec<String>,
    pub read_only: Option<String>,
    /// From sysfs, where present.
    pub mismatch_cnt: Option<u64>,
    pub array_state: Option<String>,
}

/// Is this an IMSM or DDF container (an inactive md device holding disks for member arrays)?
fn is_container(a: &MdArray) -> bool {
    a.superblock
        .as_deref()
        .is_some_and(|s| s == "external:imsm" || s == "external:ddf")
}

/// Decides state, counts, redundancy and severity for one array. `sysfs` adds what only
/// `/sys/block/mdX/md/` knows (mismatch count, a more exact `degraded`).
pub fn assess(a: &MdArray, sysfs: Option<&MdSysfs>) -> RaidStatus {
    let container = is_container(a);
    let failed: Vec<&str> = a
        .members
        .iter()
        .filter(|m| m.failed)
        .map(|m| m.name.as_str())
        .collect();
    let spares: Vec<&str> = a
        .members
        .iter()
        .filter(|m| m.spare && !m.failed)
        .map(|m| m.name.as_str())
        .collect();
    let non_spare = a.members.iter().filter(|m| !m.spare && !m.journal).count() as u32;
    let listed_working = a
        .members
        .iter()
        .filter(|m| !m.spare && !m.failed && !m.journal && !m.replacement)
        .count() as u32;
    let level = if container {
        "container".to_owned()
    } else {
        a.level.clone().unwrap_or_else(|| "unknown".to_owned())
    };

    let (total, mut working) = match (a.active, a.raid_disks, a.in_sync) {
        (true, Some(n), Some(m)) => (n, m),
        // Inactive: the printed map is the superblock's, not the assembled array's.
        (false, Some(n), _) => (n, listed_working.min(n)),
        _ => (non_spare.max(listed_working), listed_working),
    };
    // sysfs `degraded` counts missing devices exactly; believe it when it says more are gone.
    if let Some(d) = sysfs.and_then(|s| s.degraded)
        && a.active
        && total.saturating_sub(d) < working
    {
        working = total.saturating_sub(d);
    }
    let missing = total.saturating_sub(working);
    let redundancy = redundancy_left(a, &level, total, working, failed.len() as u32);

    let sync_action = sysfs
        .and_then(|s| s.sync_action.clone())
        .filter(|s| s != "idle" && s != "frozen")
        .or_else(|| a.sync.as_ref().map(|s| s.action.clone()))
        .unwrap_or_else(|| "idle".to_owned());
    let sync_percent = a.sync.as_ref().and_then(|s| s.percent).or_else(|| {
        sysfs
            .and_then(|s| s.sync_completed)
            .filter(|&(_, of)| of > 0)
            .map(|(done, of)| (done as f64 * 1000.0 / of as f64).round() / 10.0)
    });
    let sync_waiting = a.sync.as_ref().and_then(|s| s.waiting.clone());

    let rebuild_waits = sync_waiting.is_some() && spares.is_empty();
    let state = decide_state(a.active, redundancy, missing, &sync_action, rebuild_waits);

    let mismatch_cnt = sysfs.and_then(|s| s.mismatch_cnt);
    let severity = decide_severity(
        state,
        container,
        missing,
        redundancy,
        !failed.is_empty() || mismatch_cnt.is_some_and(|m| m > 0 && level != "raid1"),
    );

    RaidStatus {
        array: a.name.clone(),
        level,
        state,
        severity,
        disks_total: total,
        disks_working: working,
        disks_failed: failed.len() as u32,
        disks_spare: spares.len() as u32,
        redundancy_left: redundancy,
        sync_action,
        sync_percent,
        sync_waiting,
        failed_devices: failed.iter().map(|s| (*s).to_owned()).collect(),
        spare_devices: spares.iter().map(|s| (*s).to_owned()).collect(),
        read_only: a.read_only.clone(),
        mismatch_cnt,
        array_state: sysfs.and_then(|s| s.array_state.clone()),
    }
}

/// The `state` rule (module doc), shared by md arrays and the volumes a BMC reports
/// ([`super::redfish_volume`]): `missing` disks, the `sync_action` running (`idle` when none),
/// and whether that sync only waits (`resync=PENDING`) with no spare to rebuild onto, in which
/// case nothing is rebuilding and an array missing disks is `degraded`, not `recovering`.
pub fn decide_state(
    active: bool,
    redundancy: i64,
    missing: u32,
    sync_action: &str,
    rebuild_waits: bool,
) -> RaidState {
    if !active {
        RaidState::Inactive
    } else if redundancy < 0 {
        RaidState::Failed
    } else if sync_action == "reshape" {
        RaidState::Reshaping
    } else if missing > 0 && rebuild_waits {
        RaidState::Degraded
    } else if sync_action == "recovery" || (missing > 0 && sync_action == "resync") {
        // md reports the rebuild onto a spare of a degraded array as `recovery`; a resync of a
        // degraded array (raid1 re-adding a member) is a rebuild too.
        if missing > 0 {
            RaidState::Recovering
        } else {
            RaidState::Resyncing
        }
    } else if missing > 0 {
        RaidState::Degraded
    } else if sync_action == "resync" {
        RaidState::Resyncing
    } else if sync_action == "check" || sync_action == "repair" {
        RaidState::Checking
    } else {
        RaidState::Clean
    }
}

/// The severity rule (module doc). `container`: an IMSM/DDF container, whose inactivity is
/// normal; `suspect`: a complete array that still holds failed members or has mismatches.
pub fn decide_severity(
    state: RaidState,
    container: bool,
    missing: u32,
    redundancy: i64,
    suspect: bool,
) -> Severity {
    match state {
        RaidState::Inactive if container => Severity::Info,
        RaidState::Inactive | RaidState::Failed => Severity::Crit,
        _ if missing > 0 && redundancy <= 0 => Severity::Crit,
        _ if missing > 0 => Severity::Err,
        _ if suspect => Severity::Warning,
        RaidState::Resyncing | RaidState::Reshaping => Severity::Notice,
        _ => Severity::Info,
    }
}

/// How many more disks the array can lose (see the module doc); negative when it has already
/// lost more than it can.
fn redundancy_left(a: &MdArray, level: &str, total: u32, working: u32, failed: u32) -> i64 {
    let (total, working) = (i64::from(total), i64::from(working));
    let missing = total - working;
    match level {
        "raid1" | "multipath" => working - 1,
        "raid4" | "raid5" => 1 - missing,
        "raid6" => 2 - missing,
        "raid10" => raid10_redundancy(a, total, missing),
        "raid0" | "linear" if failed > 0 || missing > 0 => -1,
        _ => 0,
    }
}

/// raid10: with the `near` layout and `raid_disks` a multiple of the copies, slot `i` sits in
/// mirror set `i / copies`, and the map tells exactly which sets lost what. Otherwise (far,
/// offset, odd counts) assume the worst: each missing disk takes one copy of the same chunk.
fn raid10_redundancy(a: &MdArray, total: i64, missing: i64) -> i64 {
    let copies = i64::from(a.copies.unwrap_or(2).max(1));
    let near = a.layout.as_deref().unwrap_or("near") == "near";
    if let Some(map) = a.status_map.as_deref()
        && near
        && a.active
        && map.len() as i64 == total
        && total % copies == 0
    {
        let bytes = map.as_bytes();
        return bytes
            .chunks(copies as usize)
            .map(|set| set.iter().filter(|&&b| b == b'U').count() as i64 - 1)
            .min()
            .unwrap_or(0);
    }
    copies - 1 - missing
}

impl RaidStatus {
    /// The one-line summary an on-call engineer reads in a page:
    /// `md2 degraded: raid6 [8/6], no spare, 0 redundancy left`.
    pub fn message(&self) -> String {
        let mut msg = format!("{} {}: {}", self.array, self.state.as_str(), self.level);
        if self.level == "container" {
            msg.push_str(&format!(
                " of {} disks",
                self.disks_spare + self.disks_working
            ));
            return msg;
        }
        if self.state == RaidState::Inactive {
            msg.push_str(&format!(
                ", {} devices attached ({} spare, {} failed), not serving data",
                self.disks_working + self.disks_spare + self.disks_failed,
                self.disks_spare,
                self.disks_failed
            ));
            return msg;
        }
        msg.push_str(&format!(" [{}/{}]", self.disks_total, self.disks_working));
        match (self.sync_percent, &self.sync_waiting) {
            (_, Some(w)) if self.sync_action != "idle" => {
                msg.push_str(&format!(", {} {w}", self.sync_action));
            }
            (Some(p), _) if self.sync_action != "idle" => {
                msg.push_str(&format!(", {} {p}%", self.sync_action));
            }
            _ => {}
        }
        if !self.failed_devices.is_empty() {
            msg.push_str(&format!(", failed: {}", self.failed_devices.join(" ")));
        }
        match self.disks_spare {
            0 => msg.push_str(", no spare"),
            1 => msg.push_str(", 1 spare"),
            n => msg.push_str(&format!(", {n} spares")),
        }
        if self.state != RaidState::Inactive {
            msg.push_str(&format!(
                ", {} redundancy left",
                self.redundancy_left.max(0)
            ));
        }
        if let Some(ro) = &self.read_only {
            msg.push_str(&format!(", {ro}"));
        }
        msg
    }

    /// The `fields` of the record (PRODUCT.md, "Health records", `check: raid`).
    pub fn fields(&self) -> Fields {
        let mut f = Fields::new();
        f.insert("check".into(), json!("raid"));
        f.insert("array".into(), json!(self.array));
        f.insert("level".into(), json!(self.level));
        f.insert("state".into(), json!(self.state.as_str()));
        f.insert("disks_total".into(), json!(self.disks_total));
        f.insert("disks_working".into(), json!(self.disks_working));
        f.insert("disks_failed".into(), json!(self.disks_failed));
        f.insert("disks_spare".into(), json!(self.disks_spare));
        f.insert("redundancy_left".into(), json!(self.redundancy_left));
        f.insert("sync_action".into(), json!(self.sync_action));
        if let Some(p) = self.sync_percent {
            f.insert("sync_percent".into(), json!(p));
        }
        if let Some(w) = &self.sync_waiting {
            f.insert("sync_waiting".into(), json!(w));
        }
        f.insert("failed_devices".into(), json!(self.failed_devices));
        f.insert("spare_devices".into(), json!(self.spare_devices));
        if let Some(ro) = &self.read_only {
            f.insert("read_only".into(), json!(ro));
        }
        if let Some(m) = self.mismatch_cnt {
            f.insert("mismatch_cnt".into(), json!(m));
        }
        if let Some(s) = &self.array_state {
            f.insert("array_state".into(), json!(s));
        }
        f
    }

    pub fn to_draft(&self) -> Draft {
        Draft {
            ts: None,
            host: None,
            source: "health".into(),
            app: "raid".into(),
            severity: self.severity,
            kind: Kind::Health,
            message: self.message(),
            fields: self.fields(),
        }
    }

    /// What makes a change worth sending at once (progress alone is not: it goes out on the
    /// progress timer).
    pub fn same_condition(&self, other: &RaidStatus) -> bool {
        self.state == other.state
            && self.disks_total == other.disks_total
            && self.disks_working == other.disks_working
            && self.failed_devices == other.failed_devices
            && self.spare_devices == other.spare_devices
            && self.sync_action == other.sync_action
            && self.sync_waiting == other.sync_waiting
            && self.read_only == other.read_only
    }
}

#[cfg(test)]
mod tests {
    use super::super::mdstat::{self, tests::fixture};
    use super::*;

    /// One expected line per array: name, level, state, total, working, failed, spare,
    /// redundancy_left, sync_action, sync_percent, severity.
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        u32,
        u32,
        u32,
        u32,
        i64,
        &'static str,
        Option<f64>,
        Severity,
    );

    fn check(file: &str, expected: &[Row]) {
        let m = mdstat::parse(&fixture(file)).unwrap();
        let got: Vec<Row> = m
            .arrays
            .iter()
            .map(|a| {
                let s = assess(a, None);
                (
                    leak(&s.array),
                    leak(&s.level),
                    s.state.as_str(),
                    s.disks_total,
                    s.disks_working,
                    s.disks_failed,
                    s.disks_spare,
                    s.redundancy_left,
                    leak(&s.sync_action),
                    s.sync_percent,
                    s.severity,
                )
            })
            .collect();
        for (g, e) in got.iter().zip(expected) {
            assert_eq!(g, e, "\n{file}\n  got      {g:?}\n  expected {e:?}");
        }
        assert_eq!(got.len(), expected.len(), "{file}: {got:#?}");
    }

    fn leak(s: &str) -> &'static str {
        Box::leak(s.to_owned().into_boxed_str())
    }

    use Severity::{Crit, Err, Info, Notice, Warning};

    #[test]
    fn empty_mdstat_gives_no_records() {
        check("empty.txt", &[]);
    }

    #[test]
    fn healthy_raid5_with_bitmap_is_clean_with_one_disk_of_redundancy() {
        check(
            "raid5_bitmap_healthy.txt",
            &[("md_d0", "raid5", "clean", 5, 5, 0, 0, 1, "idle", None, Info)],
        );
    }

    #[test]
    fn raid5_missing_a_member_without_f_is_degraded_with_no_redundancy_left() {
        check(
            "raid5_degraded.txt",
            &[(
                "md0", "raid5", "degraded", 4, 3, 0, 0, 0, "idle", None, Crit,
            )],
        );
    }

    #[test]
    fn raid5_rebuilding_is_recovering_with_its_percent() {
        check(
            "raid5_recovery.txt",
            &[(
                "md127",
                "raid5",
                "recovering",
                6,
                5,
                0,
                0,
                0,
                "recovery",
                Some(12.6),
                Crit,
            )],
        );
    }

    #[test]
    fn a_pending_resync_with_a_missing_member_and_no_spare_is_degraded_not_recovering() {
        let text = "Personalities : [raid1]\nmd5 : active raid1 sda1[0]\n      100 blocks super 1.2 [2/1] [U_]\n      resync=PENDING\n\nunused devices: <none>\n";
        let a = &mdstat::parse(text).unwrap().arrays[0];
        let st = assess(a, None);
        assert_eq!(st.state, RaidState::Degraded);
        assert_eq!(st.sync_action, "resync");
        assert_eq!(st.sync_waiting.as_deref(), Some("pending"));
        assert_eq!(st.severity, Severity::Crit);
        // The same with a spare waiting to be rebuilt onto is a recovery about to run.
        let text = text.replace("sda1[0]", "sda1[0] sdc1[2](S)");
        let a = &mdstat::parse(&text).unwrap().arrays[0];
        assert_eq!(assess(a, None).state, RaidState::Recovering);
    }

    #[test]
    fn raid1_with_a_failed_disk_is_degraded_with_three_disks_of_redundancy() {
        check(
            "raid1_failed_disk.txt",
            &[("md1", "raid1", "degraded", 6, 4, 1, 0, 3, "idle", None, Err)],
        );
    }

    #[test]
    fn an_inactive_raid5_does_not_trust_its_uuuu_and_is_critical() {
        check(
            "raid5_inactive.txt",
            &[(
                "md0", "raid5", "inactive", 4, 3, 0, 0, 0, "idle", None, Crit,
            )],
        );
    }

    #[test]
    fn an_inactive_array_of_spares_is_inactive_and_critical() {
        check(
            "inactive_all_spares.txt",
            &[
                ("md0", "raid1", "clean", 2, 2, 0, 0, 1, "idle", None, Info),
                ("md1", "raid1", "clean", 2, 2, 0, 0, 1, "idle", None, Info),
                (
                    "md2", "unknown", "inactive", 0, 0, 0, 4, 0, "idle", None, Crit,
                ),
            ],
        );
    }

    #[test]
    fn an_inactive_partial_array_counts_its_listed_members() {
        check(
            "inactive_partial.txt",
            &[(
                "md127", "unknown", "inactive", 2, 2, 0, 1, 0, "idle", None, Crit,
            )],
        );
    }

    #[test]
    fn raid0_without_n_m_counts_members_and_has_no_redundancy() {
        check(
            "raid0_raid1_nvme.txt",
            &[
                ("md129", "raid1", "clean", 2, 2, 0, 0, 1, "idle", None, Info),
                ("md128", "raid1", "clean", 2, 2, 0, 0, 1, "idle", None, Info),
                ("md125", "raid0", "clean", 6, 6, 0, 0, 0, "idle", None, Info),
                ("md126", "raid0", "clean", 2, 2, 0, 0, 0, "idle", None, Info),
            ],
        );
    }

    #[test]
    fn raid10_near_copies_under_check_is_checking_with_one_disk_of_redundancy() {
        check(
            "raid10_check_bitmap.txt",
            &[
                (
                    "md2",
                    "raid10",
                    "checking",
                    12,
                    12,
                    0,
                    0,
                    1,
                    "check",
                    Some(94.3),
                    Info,
                ),
                ("md1", "raid1", "clean", 2, 2, 0, 0, 1, "idle", None, Info),
                ("md0", "raid1", "clean", 2, 2, 0, 0, 1, "idle", None, Info),
            ],
        );
    }

    #[test]
    fn raid4_reshaping_with_a_missing_disk_is_reshaping_with_no_redundancy_left() {
        check(
            "raid4_reshape.txt",
            &[(
                "md127",
                "raid4",
                "reshaping",
                4,
                3,
                0,
                0,
                0,
                "reshape",
                Some(2.1),
                Crit,
            )],
        );
    }

    #[test]
    fn raid6_with_unindented_lines_is_clean_with_two_disks_of_redundancy() {
        check(
            "raid6_unindented.txt",
            &[
                ("md3", "raid6", "clean", 8, 8, 0, 0, 2, "idle", None, Info),
                ("md2", "raid6", "clean", 8, 8, 0, 0, 2, "idle", None, Info),
                ("md1", "raid1", "clean", 8, 8, 0, 0, 7, "idle", None, Info),
                ("md0", "raid1", "clean", 8, 8, 0, 0, 7, "idle", None, Info),
            ],
        );
    }

    #[test]
    fn every_array_of_the_composite_file_gets_its_state() {
        check(
            "procfs_composite.txt",
            &[
                ("md3", "raid6", "clean", 8, 8, 0, 2, 2, "idle", None, Info),
                ("md127", "raid1", "clean", 2, 2, 0, 0, 1, "idle", None, Info),
                ("md0", "raid1", "clean", 2, 2, 0, 0, 1, "idle", None, Info),
                (
                    "md4", "raid1", "inactive", 2, 0, 1, 1, -1, "idle", None, Crit,
                ),
                (
                    "md6",
                    "raid1",
                    "recovering",
                    2,
                    1,
                    1,
                    1,
                    0,
                    "recovery",
                    Some(8.5),
                    Crit,
                ),
                (
                    "md8",
                    "raid1",
                    "resyncing",
                    2,
                    2,
                    0,
                    2,
                    1,
                    "resync",
                    Some(8.5),
                    Notice,
                ),
                (
                    "md201",
                    "raid1",
                    "checking",
                    2,
                    2,
                    0,
                    0,
                    1,
                    "check",
                    Some(5.7),
                    Info,
                ),
                ("md7", "raid6", "degraded", 4, 3, 1, 0, 1, "idle", None, Err),
                (
                    "md9",
                    "raid1",
                    "resyncing",
                    4,
                    4,
                    2,
                    1,
                    3,
                    "resync",
                    None,
                    Warning,
                ),
                ("md10", "raid0", "clean", 2, 2, 0, 0, 0, "idle", None, Info),
                (
                    "md11",
                    "raid1",
                    "resyncing",
                    2,
                    2,
                    1,
                    2,
                    1,
                    "resync",
                    None,
                    Warning,
                ),
                ("md12", "raid0", "clean", 2, 2, 0, 0, 0, "idle", None, Info),
                ("md126", "raid0", "clean", 2, 2, 0, 0, 0, "idle", None, Info),
                (
                    "md219",
                    "container",
                    "inactive",
                    0,
                    0,
                    0,
                    3,
                    0,
                    "idle",
                    None,
                    Info,
                ),
                ("md00", "raid0", "clean", 1, 1, 0, 0, 0, "idle", None, Info),
                (
                    "md120", "linear", "clean", 2, 2, 0, 0, 0, "idle", None, Info,
                ),
                ("md101", "raid0", "clean", 3, 3, 0, 0, 0, "idle", None, Info),
                (
                    "md42",
                    "raid5",
                    "reshaping",
                    3,
                    2,
                    0,
                    1,
                    0,
                    "reshape",
                    Some(56.1),
                    Crit,
                ),
            ],
        );
    }

    #[test]
    fn a_raid10_that_lost_both_copies_of_one_set_has_failed() {
        let text = "Personalities : [raid10]\nmd5 : active raid10 sda[0] sdd[3]\n      \
                    100 blocks super 1.2 512K chunks 2 near-copies [4/2] [UU__]\n\nunused devices: <none>\n";
        let a = &mdstat::parse(text).unwrap().arrays[0];
        let s = assess(a, None);
        assert_eq!((s.state, s.redundancy_left), (RaidState::Failed, -1));
        let text = text.replace("[UU__]", "[U__U]");
        let a = &mdstat::parse(&text).unwrap().arrays[0];
        let s = assess(a, None);
        assert_eq!((s.state, s.redundancy_left), (RaidState::Degraded, 0));
    }

    #[test]
    fn the_page_message_names_array_state_counts_spares_and_redundancy() {
        let text = "Personalities : [raid6]\nmd2 : active raid6 sda1[0] sdb1[1] sdc1[2] sdd1[3] sde1[4] sdf1[5]\n      \
                    100 blocks super 1.2 level 6, 64k chunk, algorithm 2 [8/6] [UUUUUU__]\n";
        let a = &mdstat::parse(text).unwrap().arrays[0];
        let s = assess(a, None);
        assert_eq!(
            s.message(),
            "md2 degraded: raid6 [8/6], no spare, 0 redundancy left"
        );
        let d = s.to_draft();
        assert_eq!(d.kind, Kind::Health);
        assert_eq!(d.severity, Severity::Crit);
        assert_eq!(d.fields["check"], "raid");
        assert_eq!(d.fields["redundancy_left"], 0);
    }
}

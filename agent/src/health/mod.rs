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
mod problem;
pub mod raid;
pub mod redfish;
pub mod redfish_client;
pub mod redfish_poller;
mod settings;
pub mod smart;
pub mod storcli;
pub mod sysfs_md;

use std::fmt::Write as _;

use serde_json::Value;

use crate::draft::Draft;

pub use monitor::{Probes, spawn_counted_probes, spawn_probes};
pub use probe::{CheckReport, CheckSources, check_once};
pub use problem::Problem;
pub use settings::{
    BackupRule, HealthConfig, HealthConfigError, HealthFileConfig, RedfishTargetConfig,
};

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

//! What `init` can see of the disks: md arrays, the smartctl and storcli programs.

use std::path::PathBuf;

use super::machine::Machine;
use crate::health::mdstat;

/// Where smartctl is installed by smartmontools (and by hand).
const SMARTCTL: [&str; 6] = [
    "/usr/sbin/smartctl",
    "/usr/bin/smartctl",
    "/sbin/smartctl",
    "/bin/smartctl",
    "/usr/local/sbin/smartctl",
    "/usr/local/bin/smartctl",
];

/// Where Broadcom's storcli and Dell's perccli put themselves.
const STORCLI: [&str; 7] = [
    "/opt/MegaRAID/storcli/storcli64",
    "/opt/MegaRAID/perccli/perccli64",
    "/opt/lsi/storcli/storcli",
    "/usr/sbin/storcli64",
    "/usr/local/sbin/storcli64",
    "/usr/sbin/perccli64",
    "/usr/local/sbin/perccli64",
];

/// What was seen.
#[derive(Debug, Clone)]
pub struct Disks {
    /// `Ok(arrays)` (each `md2 raid6 [8/8]`), or why mdstat could not be read.
    pub md: Result<Vec<String>, String>,
    pub smartctl: Option<PathBuf>,
    pub storcli: Option<PathBuf>,
}

pub fn detect(m: &Machine) -> Disks {
    let md = match m.read("/proc/mdstat") {
        None => Err("/proc/mdstat does not exist (no md driver loaded)".into()),
        Some(text) => mdstat::parse(&text)
            .map(|s| {
                s.arrays
                    .iter()
                    .map(|a| {
                        let mut d = a.name.clone();
                        if let Some(l) = &a.level {
                            d.push(' ');
                            d.push_str(l);
                        }
                        if let (Some(n), Some(w)) = (a.raid_disks, a.in_sync) {
                            d.push_str(&format!(" [{n}/{w}]"));
                        }
                        if !a.active {
                            d.push_str(" inactive");
                        }
                        d
                    })
                    .collect()
            })
            .map_err(|e| format!("/proc/mdstat: {e}")),
    };
    Disks {
        md,
        smartctl: m.first_existing(&SMARTCTL).map(PathBuf::from),
        storcli: m.first_existing(&STORCLI).map(PathBuf::from),
    }
}

//! Redfish (DMTF's API on iDRAC, iLO, XClarity, OpenBMC): what a BMC says about the disks and
//! RAID volumes of the server under a hypervisor, which the VMs on it cannot see. This file turns
//! the documents one poll fetched ([`Walk`], from [`super::redfish_client`]) into health records;
//! [`super::redfish_poller`] runs the polls of `logwarden-agent run`.
//!
//! Records, all with `host` = the BMC's name (a host of its own in the fleet) and
//! `provider: redfish`:
//! - one `check: raid` per volume (`Systems/*/Storage/*/Volumes/*`), in md's vocabulary, so that
//!   RaidArrayDegraded, RaidArrayFailed, RaidRebuilding and RaidNoSpare fire for it exactly as
//!   for an md array. `array` is the volume's path under `/redfish/v1/` (`Systems/S1/Storage/1/
//!   Volumes/1`).
//! - one `check: hwraid` per storage controller (`virtual_drive: "-"`), its `Status` and its
//!   cache's, so HwRaidDegraded fires for a failed controller or a warning cache battery.
//! - one `check: smart` per drive (the storage's `Drives` and `Chassis/*/Drives`, each once),
//!   with the drive's own verdict as the BMC reports it (`Status.Health`, `FailurePredicted`,
//!   `PredictedMediaLifeLeftPercent`), so SmartDiskFailing/SmartDiskWarning fire for it.
//! - one `check: redfish` per BMC: `state: ok` when every document was read, `unknown` with
//!   the `reason` otherwise (unreachable, timed out, 401, malformed JSON). An unreadable BMC
//!   sends no volume or drive record: the last ones stand (a degraded volume stays degraded),
//!   never replaced by a guess.
//!
//! How a volume is counted (docs/health.md says the same for operators):
//! - **Members** are the drives of `Links.Drives`. A member is *failed* when its
//!   `Status.State` is `Absent`, `Disabled` or `UnavailableOffline` or its `Status.Health` is
//!   `Critical`; *rebuilding* when its `Operations` name a rebuild; else *working*. A
//!   rebuilding member takes the slot of a failed one when both are still linked, so
//!   `disks_total` = members - min(failed, rebuilding), `disks_working` = working members.
//! - A volume whose own `Status.Health` is `Warning` or `Critical` while every linked member
//!   works (the BMC dropped the failed drive from the links) counts one disk missing. A volume that
//!   links no drives at all is `clean` `[0/0]` with its type's full redundancy when healthy,
//!   `degraded` `[1/0]` with 0 left when not.
//! - **`redundancy_left`** by `RAIDType` (or the older `VolumeType`): RAID1 (and RAID1Triple)
//!   working - 1; RAID3/4/5, RAID1E, RAID10, RAID10E, RAID50: 1 - missing (the worst case for
//!   spans); RAID6, RAID60, RAID10Triple: 2 - missing; RAID6TP: 3 - missing; RAID0 and
//!   non-redundant: 0 (-1 with a disk missing). A volume whose `Status.State` is `Disabled`,
//!   `UnavailableOffline` or `Absent` with `Status.Health` `Critical` is failed whatever the
//!   counts say.
//! - **`sync_action`** from the volume's `Operations` (or a member's): a rebuild is `recovery`,
//!   initialization `resync`, a consistency check `check`, a RAID type change or expansion
//!   `reshape`; `sync_percent` is its `PercentageComplete`.
//! - **Spares**: `Links.DedicatedSpareDrives` of the volume, plus the drives of the same
//!   storage with `HotspareType` `Global` or `Chassis` (or `Status.State` `StandbySpare`) that
//!   belong to no volume and have not failed.
//! - **`state`** and severity: md's rule ([`super::raid::decide_state`],
//!   [`super::raid::decide_severity`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use logwarden_core::{Fields, Kind, Severity};

#[cfg(test)]
use super::raid::RaidState;
use super::raid::{self, RaidStatus};
use crate::draft::Draft;

/// One BMC to poll, as `[[health.redfish]]` ([`super::settings::RedfishTargetConfig`]) or
/// `check --redfish` gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct RedfishTarget {
    /// `https://bmc.example` (`/redfish/v1` is added when the URL does not end in it).
    pub url: String,
    /// The host its records are for; default the URL's host name.
    pub name: Option<String>,
    /// User for HTTP basic authentication; none: no authentication.
    pub user: Option<String>,
    /// The file holding the password (first line), readable by the agent only (mode 0600).
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA (or the BMC's self-signed certificate) to trust; only it is trusted.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (a BMC's factory self-signed one). Explicit: never the default.
    pub insecure: bool,
    /// Time between two polls (default 1 minute).
    pub interval: Duration,
    /// How long one request may take before the BMC is called unreachable (default 5 s).
    pub timeout: Duration,
    /// Hosts (VMs, hypervisors) that run on this server, shown in the fleet view.
    pub serves: Vec<String>,
}

impl RedfishTarget {
    /// A target with the defaults (for `check --redfish URL`).
    pub fn new(url: &str) -> RedfishTarget {
        RedfishTarget {
            url: url.to_owned(),
            name: None,
            user: None,
            password_file: None,
            ca_file: None,
            insecure: false,
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            serves: Vec::new(),
        }
    }

    /// The service root, `<scheme>://<host>[:port]/redfish/v1`.
    pub fn service_root(&self) -> String {
        let u = self.url.trim_end_matches('/');
        if u.ends_with("/redfish/v1") {
            u.to_owned()
        } else {
            format!("{u}/redfish/v1")
        }
    }

    /// The host the records are for: `name`, else the URL's host (without port).
    pub fn host_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let rest = self.url.split_once("://").map_or(&*self.url, |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or(rest);
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if let Some(v6) = authority.strip_prefix('[') {
            return v6.split(']').next().unwrap_or(v6).to_owned();
        }
        authority.split(':').next().unwrap_or(authority).to_owned()
    }

    /// What cannot work, named (called from `HealthConfig::validate`).
    pub fn validate(&self) -> Result<(), String> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(format!(
                "[[health.redfish]] url {:?}: must start with https:// (or http://)",
                self.url
            ));
        }
        if self.interval.is_zero() || self.timeout.is_zero() {
            return Err(format!(
                "[[health.redfish]] {}: interval and timeout must be above zero",
                self.url
            ));
        }
        if self.password_file.is_some() && self.user.is_none() {
            return Err(format!(
                "[[health.redfish]] {}: password_file without user",
                self.url
            ));
        }
        if self.insecure && self.ca_file.is_some() {
            return Err(format!(
                "[[health.redfish]] {}: ca_file and insecure exclude each other",
                self.url
            ));
        }
        Ok(())
    }
}

/// What one poll fetched: every document by its path (`/redfish/v1/...`, no fragment), the
/// storages and chassis drive collections found, and what could not be read.
#[derive(Debug, Default, Clone)]
pub struct Walk {
    pub docs: BTreeMap<String, Value>,
    /// Paths of the `Storage` documents, in the order found.
    pub storages: Vec<String>,
    /// Paths of drives listed by `Chassis/*/Drives`.
    pub chassis_drives: Vec<String>,
    /// One line per document that could not be read (`GET /redfish/v1/x: 401 Unauthorized`).
    pub errors: Vec<String>,
}

impl Walk {
    fn doc(&self, path: &str) -> Option<&Value> {
        self.docs.get(strip_fragment(path))
    }
}

/// `/redfish/v1/Systems/1/Storage/1#/StorageControllers/0` -> `/redfish/v1/Systems/1/Storage/1`.
pub fn strip_fragment(path: &str) -> &str {
    path.split('#').next().unwrap_or(path).trim_end_matches('/')
}

/// The `@odata.id`s of a list of links (`[{"@odata.id": ...}]`).
pub fn link_ids(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| l.get("@odata.id")?.as_str())
                .map(|s| strip_fragment(s).to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// `/redfish/v1/Systems/1/Storage/1/Volumes/1` -> `Systems/1/Storage/1/Volumes/1`.
fn short(path: &str) -> String {
    let p = strip_fragment(path);
    p.split_once("/redfish/v1/")
        .map_or(p, |(_, rest)| rest)
        .to_owned()
}

/// A drive's condition as a volume member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Working,
    Failed,
    Rebuilding,
}

fn drive_failed(d: &Value) -> bool {
    matches!(
        text(d, "/Status/State"),
        Some("Absent" | "Disabled" | "UnavailableOffline")
    ) || text(d, "/Status/Health") == Some("Critical")
}

/// The first operation whose name matches, with its percentage.
fn operation(v: &Value, what: &[&str]) -> Option<Option<f64>> {
    v.get("Operations")?.as_array()?.iter().find_map(|op| {
        let name = op.get("OperationName")?.as_str()?.to_ascii_lowercase();
        what.iter().any(|w| name.contains(w)).then(|| {
            op.get("PercentageComplete")
                .and_then(Value::as_f64)
                .map(|p| (p * 10.0).round() / 10.0)
        })
    })
}

fn member(d: &Value) -> Member {
    if drive_failed(d) {
        Member::Failed
    } else if operation(d, &["rebuild"]).is_some() {
        Member::Rebuilding
    } else {
        Member::Working
    }
}

/// The md-style level of a volume: `raid5` from `RAIDType: RAID5`, or from the older
/// `VolumeType`; `unknown` when it says neither.
fn level(v: &Value) -> String {
    if let Some(t) = text(v, "/RAIDType") {
        return t.to_ascii_lowercase();
    }
    match text(v, "/VolumeType") {
        Some("Mirrored") => "raid1",
        Some("StripedWithParity") => "raid5",
        Some("SpannedMirrors") => "raid10",
        Some("SpannedStripesWithParity") => "raid50",
        Some("NonRedundant") => "raid0",
        Some("RawDevice") => "raw",
        _ => "unknown",
    }
    .to_owned()
}

/// How many more disks a volume can lose (module doc).
fn redundancy(level: &str, working: u32, missing: u32) -> i64 {
    let (w, m) = (i64::from(working), i64::from(missing));
    match level {
        "raid1" | "raid1triple" => w - 1,
        "raid3" | "raid4" | "raid5" | "raid1e" | "raid10" | "raid10e" | "raid50" => 1 - m,
        "raid6" | "raid60" | "raid10triple" => 2 - m,
        "raid6tp" => 3 - m,
        _ if m > 0 => -1,
        _ => 0,
    }
}

/// A BMC volume's record: md's [`RaidStatus`] plus where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeStatus {
    pub raid: RaidStatus,
    /// `Name` of the volume (`Virtual Disk 1`).
    pub name: Option<String>,
    /// `Systems/S/Storage/1`.
    pub storage: String,
    /// The model of the storage's first controller.
    pub controller: Option<String>,
    /// `Status.Health` and `Status.State` of the volume as the BMC says them.
    pub bmc_health: Option<String>,
    pub bmc_state: Option<String>,
}

/// A drive's record as the BMC reports its health.
#[derive(Debug, Clone, PartialEq)]
pub struct DriveStatus {
    /// `Chassis/1U/Drives/ABC`.
    pub device: String,
    pub name: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub protocol: Option<String>,
    pub media_type: Option<String>,
    pub health: Option<String>,
    pub state: Option<String>,
    pub failure_predicted: Option<bool>,
    pub life_left_percent: Option<f64>,
    /// `ok`, `warning`, `failing` (the `check: smart` vocabulary).
    pub verdict: &'static str,
    pub reasons: Vec<String>,
}

/// A storage controller (`StorageControllers[]` of a `Storage`) as the BMC reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerStatus {
    /// `Systems/S/Storage/1/StorageControllers/0`.
    pub controller: String,
    pub model: Option<String>,
    pub health: Option<String>,
    pub state: Option<String>,
    /// `Status.Health` of its cache (`CacheSummary`), the battery-backed write cache.
    pub cache_health: Option<String>,
    /// `optimal`, `partially_degraded` (a warning, or its cache), `degraded` (critical),
    /// `offline` (the hwraid vocabulary, so HwRaidDegraded fires for it).
    pub verdict: &'static str,
}

/// Everything one poll of one BMC says.
#[derive(Debug, Clone, PartialEq)]
pub struct RedfishReport {
    /// The host the records are for.
    pub bmc: String,
    pub url: String,
    pub volumes: Vec<VolumeStatus>,
    pub drives: Vec<DriveStatus>,
    pub controllers: Vec<ControllerStatus>,
    /// Why the poll was incomplete; empty when every document was read.
    pub problems: Vec<String>,
    pub serves: Vec<String>,
}

/// Drives of a worn-out level: `PredictedMediaLifeLeftPercent` at or below this is `warning`
/// (the counterpart of SMART's `smart_worn_percent` 80 % used).
pub const LIFE_LEFT_WARN_PERCENT: f64 = 20.0;

fn assess_drive(path: &str, d: &Value) -> DriveStatus {
    let s = |p: &str| text(d, p).map(str::to_owned);
    let failure_predicted = d.get("FailurePredicted").and_then(Value::as_bool);
    let life = d
        .get("PredictedMediaLifeLeftPercent")
        .and_then(Value::as_f64);
    let mut failing = Vec::new();
    let mut warning = Vec::new();
    match text(d, "/Status/Health") {
        Some("Critical") => failing.push("BMC health Critical".to_owned()),
        Some("Warning") => warning.push("BMC health Warning".to_owned()),
        _ => {}
    }
    if let Some(st @ ("Disabled" | "UnavailableOffline")) = text(d, "/Status/State") {
        failing.push(format!("state {st}"));
    }
    if failure_predicted == Some(true) {
        failing.push("failure predicted".to_owned());
    }
    if let Some(l) = life
        && l <= LIFE_LEFT_WARN_PERCENT
    {
        warning.push(format!("{l}% predicted media life left"));
    }
    let verdict = if !failing.is_empty() {
        "failing"
    } else if !warning.is_empty() {
        "warning"
    } else {
        "ok"
    };
    failing.extend(warning);
    DriveStatus {
        device: short(path),
        name: s("/Name"),
        model: s("/Model"),
        serial: s("/SerialNumber"),
        protocol: s("/Protocol"),
        media_type: s("/MediaType"),
        health: s("/Status/Health"),
        state: s("/Status/State"),
        failure_predicted,
        life_left_percent: life,
        verdict,
        reasons: failing,
    }
}

fn assess_controllers(storage: &str, st: &Value) -> Vec<ControllerStatus> {
    let Some(list) = st.get("StorageControllers").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            let id = c
                .get("MemberId")
                .and_then(Value::as_str)
                .map_or_else(|| i.to_string(), str::to_owned);
            let health = text(c, "/Status/Health").map(str::to_owned);
            let state = text(c, "/Status/State").map(str::to_owned);
            let cache_health = text(c, "/CacheSummary/Status/Health").map(str::to_owned);
            let verdict = match (state.as_deref(), health.as_deref()) {
                (Some("Absent" | "Disabled" | "UnavailableOffline"), _) => "offline",
                (_, Some("Critical")) => "degraded",
                (_, Some("Warning")) => "partially_degraded",
                _ if matches!(cache_health.as_deref(), Some("Warning" | "Critical")) => {
                    "partially_degraded"
                }
                _ => "optimal",
            };
            ControllerStatus {
                controller: format!("{}/StorageControllers/{id}", short(storage)),
                model: text(c, "/Model").map(str::to_owned),
                health,
                state,
                cache_health,
                verdict,
            }
        })
        .collect()
}

fn assess_volume(
    walk: &Walk,
    vol_path: &str,
    v: &Value,
    storage: &str,
    global_spares: &[String],
) -> Result<VolumeStatus, String> {
    let level = level(v);
    let links = link_ids(v.pointer("/Links/Drives"));
    let mut failed = Vec::new();
    let mut working = 0u32;
    let mut rebuilding = 0u32;
    let mut member_rebuild = None;
    for l in &links {
        let d = walk
            .doc(l)
            .ok_or_else(|| format!("{}: member drive {} not read", short(vol_path), short(l)))?;
        match member(d) {
            Member::Working => working += 1,
            Member::Failed => failed.push(short(l)),
            Member::Rebuilding => {
                rebuilding += 1;
                member_rebuild = member_rebuild.or(operation(d, &["rebuild"]));
            }
        }
    }
    let linked = links.len() as u32;
    let mut total = linked - (failed.len() as u32).min(rebuilding);
    let health = text(v, "/Status/Health");
    let unhealthy = matches!(health, Some("Warning" | "Critical"));
    if unhealthy && working == total {
        total += 1; // the BMC no longer links the drive it lost
    }
    let missing = total - working;
    let mut redundancy_left = match (linked, unhealthy) {
        // No member links at all (some BMCs): nothing to count; the volume's own word.
        (0, false) => redundancy(&level, 2, 0),
        (0, true) => 0,
        _ => redundancy(&level, working, missing),
    };
    let vstate = text(v, "/Status/State");
    if matches!(vstate, Some("Disabled" | "UnavailableOffline" | "Absent"))
        && health == Some("Critical")
    {
        redundancy_left = redundancy_left.min(-1);
    }

    let (sync_action, sync_percent) = [
        (&["rebuild"][..], "recovery"),
        (&["initiali"][..], "resync"),
        (&["consistency", "check", "verify", "patrol"][..], "check"),
        (
            &[
                "raidtype",
                "raid type",
                "expan",
                "resize",
                "migrat",
                "reshape",
            ][..],
            "reshape",
        ),
    ]
    .iter()
    .find_map(|(names, action)| operation(v, names).map(|p| (*action, p)))
    .or_else(|| member_rebuild.map(|p| ("recovery", p)))
    .unwrap_or(("idle", None));

    let linked_set: BTreeSet<&String> = links.iter().collect();
    let mut spares: Vec<String> = link_ids(v.pointer("/Links/DedicatedSpareDrives"))
        .into_iter()
        .filter(|s| !linked_set.contains(s) && walk.doc(s).is_some_and(|d| !drive_failed(d)))
        .collect();
    spares.extend(
        global_spares
            .iter()
            .filter(|s| !linked_set.contains(s))
            .cloned(),
    );
    spares.sort();
    spares.dedup();
    let spares: Vec<String> = spares.iter().map(|s| short(s)).collect();

    let state = raid::decide_state(true, redundancy_left, missing, sync_action, false);
    let severity = raid::decide_severity(state, false, missing, redundancy_left, false);
    let name = v.get("Name").and_then(Value::as_str).map(str::to_owned);
    let controller = walk
        .doc(storage)
        .and_then(|s| text(s, "/StorageControllers/0/Model").or_else(|| text(s, "/Name")))
        .map(str::to_owned);
    Ok(VolumeStatus {
        raid: RaidStatus {
            array: short(vol_path),
            level,
            state,
            severity,
            disks_total: total,
            disks_working: working,
            disks_failed: failed.len() as u32,
            disks_spare: spares.len() as u32,
            redundancy_left,
            sync_action: sync_action.to_owned(),
            sync_percent: sync_percent.filter(|_| sync_action != "idle"),
            sync_waiting: None,
            failed_devices: failed,
            spare_devices: spares,
            read_only: None,
            mismatch_cnt: None,
            array_state: None,
        },
        name,
        storage: short(storage),
        controller,
        bmc_health: health.map(str::to_owned),
        bmc_state: vstate.map(str::to_owned),
    })
}

/// Turns one poll's documents into the report (module doc). A volume whose documents are not
/// all there is left out and named in `problems`, never guessed.
pub fn assess(target: &RedfishTarget, walk: &Walk) -> RedfishReport {
    let mut problems = walk.errors.clone();
    let mut volumes = Vec::new();
    let mut controllers = Vec::new();
    let mut drive_paths: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for storage in &walk.storages {
        let Some(st) = walk.doc(storage) else {
            continue;
        };
        controllers.extend(assess_controllers(storage, st));
        let drives = link_ids(st.get("Drives"));
        let vol_paths = walk
            .doc(&format!("{}/Volumes", strip_fragment(storage)))
            .or_else(|| {
                st.pointer("/Volumes/@odata.id")
                    .and_then(Value::as_str)
                    .and_then(|p| walk.doc(p))
            })
            .map(|c| link_ids(c.get("Members")))
            .unwrap_or_default();
        let in_volumes: BTreeSet<String> = vol_paths
            .iter()
            .filter_map(|p| walk.doc(p))
            .flat_map(|v| link_ids(v.pointer("/Links/Drives")))
            .collect();
        let global_spares: Vec<String> = drives
            .iter()
            .filter(|p| !in_volumes.contains(*p))
            .filter(|p| {
                walk.doc(p).is_some_and(|d| {
                    !drive_failed(d)
                        && (matches!(text(d, "/HotspareType"), Some("Global" | "Chassis"))
                            || text(d, "/Status/State") == Some("StandbySpare"))
                })
            })
            .cloned()
            .collect();
        for vp in &vol_paths {
            let Some(v) = walk.doc(vp) else { continue };
            match assess_volume(walk, vp, v, storage, &global_spares) {
                Ok(vs) => volumes.push(vs),
                Err(e) => problems.push(e),
            }
        }
        for d in drives {
            if seen.insert(d.clone()) {
                drive_paths.push(d);
            }
        }
    }
    for d in &walk.chassis_drives {
        if seen.insert(d.clone()) {
            drive_paths.push(d.clone());
        }
    }
    // The same drive listed under two paths (the storage's and the chassis') is one drive.
    let mut serials = BTreeSet::new();
    let drives = drive_paths
        .iter()
        .filter_map(|p| walk.doc(p).map(|d| (p, d)))
        .filter(|(_, d)| text(d, "/Status/State") != Some("Absent"))
        .map(|(p, d)| assess_drive(p, d))
        .filter(|d| match &d.serial {
            Some(s) => serials.insert(s.clone()),
            None => true,
        })
        .collect();
    RedfishReport {
        bmc: target.host_name(),
        url: target.service_root(),
        volumes,
        drives,
        controllers,
        problems,
        serves: target.serves.clone(),
    }
}

impl RedfishReport {
    /// Whether every document was read.
    pub fn complete(&self) -> bool {
        self.problems.is_empty()
    }

    /// The records of this poll: the BMC's own, then (when something was read) its volumes
    /// and drives. An incomplete poll still sends the volumes it could read wholly.
    pub fn drafts(&self) -> Vec<Draft> {
        let mut out = vec![self.bmc_draft()];
        out.extend(self.controllers.iter().map(|c| self.controller_draft(c)));
        out.extend(self.volumes.iter().map(|v| self.volume_draft(v)));
        out.extend(self.drives.iter().map(|d| self.drive_draft(d)));
        out
    }

    /// `check: hwraid`, the whole controller (`virtual_drive: "-"`).
    fn controller_draft(&self, c: &ControllerStatus) -> Draft {
        let mut f = Fields::new();
        f.insert("check".into(), json!("hwraid"));
        f.insert("controller".into(), json!(c.controller));
        f.insert("virtual_drive".into(), json!("-"));
        f.insert("state".into(), json!(c.verdict));
        let said = format!(
            "{}/{}",
            c.state.as_deref().unwrap_or("?"),
            c.health.as_deref().unwrap_or("?")
        );
        f.insert("controller_state".into(), json!(said));
        if let Some(m) = &c.model {
            f.insert("model".into(), json!(m));
        }
        if let Some(h) = &c.cache_health {
            f.insert("cache_health".into(), json!(h));
        }
        self.common(&mut f);
        let severity = match c.verdict {
            "offline" | "degraded" => Severity::Crit,
            "partially_degraded" => Severity::Warning,
            _ => Severity::Info,
        };
        let mut message = format!("controller {} {}", c.controller, c.verdict);
        if let Some(m) = &c.model {
            message.push_str(&format!(" ({m})"));
        }
        message.push_str(&format!(": BMC says {said}"));
        if let Some(h) = c.cache_health.as_deref().filter(|h| *h != "OK") {
            message.push_str(&format!(", cache {h}"));
        }
        self.draft("hwraid", severity, message, f)
    }

    fn common(&self, f: &mut Fields) {
        f.insert("provider".into(), json!("redfish"));
        f.insert("bmc_url".into(), json!(self.url));
        if !self.serves.is_empty() {
            f.insert("serves".into(), json!(self.serves));
        }
    }

    fn draft(&self, app: &str, severity: Severity, message: String, fields: Fields) -> Draft {
        Draft {
            ts: None,
            host: Some(self.bmc.as_str().into()),
            source: "health".into(),
            app: app.into(),
            severity,
            kind: Kind::Health,
            message,
            fields,
        }
    }

    /// `check: redfish`: `ok`, or `unknown` with the reason.
    pub fn bmc_draft(&self) -> Draft {
        let mut f = Fields::new();
        f.insert("check".into(), json!("redfish"));
        f.insert("bmc".into(), json!(self.bmc));
        let (state, severity, message) = if self.problems.is_empty() {
            (
                "ok",
                Severity::Info,
                format!(
                    "BMC {} read: {} volumes, {} drives",
                    self.bmc,
                    self.volumes.len(),
                    self.drives.len()
                ),
            )
        } else {
            (
                "unknown",
                Severity::Warning,
                format!(
                    "BMC {} health unknown: {}",
                    self.bmc,
                    self.problems.join("; ")
                ),
            )
        };
        f.insert("state".into(), json!(state));
        if !self.problems.is_empty() {
            f.insert("reason".into(), json!(self.problems.join("; ")));
        }
        f.insert("volumes".into(), json!(self.volumes.len()));
        f.insert("drives".into(), json!(self.drives.len()));
        self.common(&mut f);
        self.draft("redfish", severity, message, f)
    }

    fn volume_draft(&self, v: &VolumeStatus) -> Draft {
        let mut d = v.raid.to_draft();
        d.host = Some(self.bmc.as_str().into());
        if let Some(n) = &v.name {
            d.message = format!("{} ({n})", d.message);
            d.fields.insert("volume_name".into(), json!(n));
        }
        d.fields.insert("storage".into(), json!(v.storage));
        if let Some(c) = &v.controller {
            d.fields.insert("controller".into(), json!(c));
        }
        if let Some(h) = &v.bmc_health {
            d.fields.insert("bmc_health".into(), json!(h));
        }
        if let Some(s) = &v.bmc_state {
            d.fields.insert("bmc_state".into(), json!(s));
        }
        self.common(&mut d.fields);
        d
    }

    fn drive_draft(&self, d: &DriveStatus) -> Draft {
        let mut f = Fields::new();
        f.insert("check".into(), json!("smart"));
        f.insert("device".into(), json!(d.device));
        f.insert(
            "protocol".into(),
            json!(d.protocol.as_deref().unwrap_or("")),
        );
        for (k, v) in [
            ("model", &d.model),
            ("serial", &d.serial),
            ("drive_name", &d.name),
            ("media_type", &d.media_type),
            ("bmc_health", &d.health),
            ("bmc_state", &d.state),
        ] {
            if let Some(v) = v {
                f.insert(k.into(), json!(v));
            }
        }
        f.insert("passed".into(), json!(d.verdict != "failing"));
        if let Some(p) = d.failure_predicted {
            f.insert("failure_predicted".into(), json!(p));
        }
        if let Some(l) = d.life_left_percent {
            f.insert("predicted_media_life_left_percent".into(), json!(l));
        }
        f.insert("verdict".into(), json!(d.verdict));
        f.insert("reasons".into(), json!(d.reasons));
        self.common(&mut f);
        let (severity, what) = match d.verdict {
            "failing" => (Severity::Crit, "failing"),
            "warning" => (Severity::Warning, "warning"),
            _ => (Severity::Info, "ok"),
        };
        let mut message = format!("{} {what}", d.device);
        if let Some(m) = &d.model {
            message.push_str(&format!(" ({m})"));
        }
        if !d.reasons.is_empty() {
            message.push_str(&format!(": {}", d.reasons.join(", ")));
        }
        self.draft("smart", severity, message, f)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::Path;

    /// The DMTF mockup in `tests/data/fixtures/redfish/public-localstorage/`, each folder's
    /// `index.json` the body of `GET /redfish/v1/<folder>`.
    pub fn mockup() -> BTreeMap<String, Value> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/fixtures/redfish/public-localstorage");
        let mut docs = BTreeMap::new();
        fn walk_dir(root: &Path, dir: &Path, docs: &mut BTreeMap<String, Value>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk_dir(root, &p, docs);
                } else if p.file_name().is_some_and(|n| n == "index.json") {
                    let rel = p.parent().unwrap().strip_prefix(root).unwrap();
                    let key = if rel.as_os_str().is_empty() {
                        "/redfish/v1".to_owned()
                    } else {
                        format!("/redfish/v1/{}", rel.display())
                    };
                    let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
                    docs.insert(key, v);
                }
            }
        }
        walk_dir(&root, &root, &mut docs);
        docs
    }

    const S: &str = "/redfish/v1/Systems/437XR1138R2/Storage/1";
    const V1: &str = "/redfish/v1/Systems/437XR1138R2/Storage/1/Volumes/1";
    const SPARE: &str = "/redfish/v1/Chassis/1U/Drives/32ADF365C6C1B7BD";
    const A: &str = "/redfish/v1/Chassis/1U/Drives/3F5A8C54207B7233";

    fn walk_of(docs: BTreeMap<String, Value>) -> Walk {
        let chassis_drives = link_ids(docs["/redfish/v1/Chassis/1U/Drives"].get("Members"));
        Walk {
            docs,
            storages: vec![S.to_owned()],
            chassis_drives,
            errors: vec![],
        }
    }

    fn target() -> RedfishTarget {
        RedfishTarget {
            name: Some("bmc1".into()),
            ..RedfishTarget::new("http://127.0.0.1:1")
        }
    }

    fn vol<'a>(r: &'a RedfishReport, array: &str) -> &'a RaidStatus {
        &r.volumes
            .iter()
            .find(|v| v.raid.array == array)
            .unwrap()
            .raid
    }

    #[test]
    fn the_healthy_mockup_gives_three_clean_volumes_four_drives_and_an_ok_bmc() {
        let r = assess(&target(), &walk_of(mockup()));
        assert!(r.complete(), "{:?}", r.problems);
        assert_eq!(r.volumes.len(), 3);
        let v1 = vol(&r, "Systems/437XR1138R2/Storage/1/Volumes/1");
        assert_eq!(
            (
                v1.level.as_str(),
                v1.state,
                v1.disks_total,
                v1.disks_working
            ),
            ("raid1", RaidState::Clean, 2, 2)
        );
        assert_eq!(v1.redundancy_left, 1);
        assert_eq!(v1.spare_devices, vec!["Chassis/1U/Drives/32ADF365C6C1B7BD"]);
        let v2 = vol(&r, "Systems/437XR1138R2/Storage/1/Volumes/2");
        assert_eq!((v2.level.as_str(), v2.redundancy_left), ("raid0", 0));
        assert_eq!(r.drives.len(), 4, "{:?}", r.drives);
        assert!(r.drives.iter().all(|d| d.verdict == "ok"));
        assert_eq!(r.controllers.len(), 1);
        assert_eq!(r.controllers[0].verdict, "optimal");
        assert_eq!(
            r.controllers[0].controller,
            "Systems/437XR1138R2/Storage/1/StorageControllers/0"
        );
        let drafts = r.drafts();
        assert_eq!(drafts.len(), 1 + 1 + 3 + 4);
        assert!(drafts.iter().all(|d| d.host.as_deref() == Some("bmc1")));
        assert_eq!(drafts[0].fields["state"], "ok");
        assert_eq!(drafts[1].fields["check"], "hwraid");
        assert_eq!(drafts[2].fields["check"], "raid");
        assert_eq!(drafts[2].fields["provider"], "redfish");

        // A controller whose cache battery warns, then one that failed.
        let mut docs = mockup();
        set(
            &mut docs,
            S,
            "/StorageControllers/0/CacheSummary/Status/Health",
            json!("Warning"),
        );
        let r = assess(&target(), &walk_of(docs.clone()));
        assert_eq!(r.controllers[0].verdict, "partially_degraded");
        set(
            &mut docs,
            S,
            "/StorageControllers/0/Status",
            json!({"State": "UnavailableOffline", "Health": "Critical"}),
        );
        let r = assess(&target(), &walk_of(docs));
        assert_eq!(r.controllers[0].verdict, "offline");
        assert_eq!(r.drafts()[1].severity, Severity::Crit);
    }

    fn set(docs: &mut BTreeMap<String, Value>, path: &str, pointer: &str, v: Value) {
        *docs.get_mut(path).unwrap().pointer_mut(pointer).unwrap() = v;
    }

    #[test]
    fn a_failed_member_degrades_a_rebuild_onto_the_spare_recovers_a_second_loss_fails() {
        let mut docs = mockup();
        set(
            &mut docs,
            A,
            "/Status",
            json!({"State": "Disabled", "Health": "Critical"}),
        );
        set(
            &mut docs,
            V1,
            "/Status",
            json!({"State": "Enabled", "Health": "Warning"}),
        );
        let r = assess(&target(), &walk_of(docs.clone()));
        let v = vol(&r, "Systems/437XR1138R2/Storage/1/Volumes/1");
        assert_eq!(v.state, RaidState::Degraded);
        assert_eq!(
            (v.disks_total, v.disks_working, v.redundancy_left),
            (2, 1, 0)
        );
        assert_eq!(v.severity, Severity::Crit);
        assert_eq!(v.failed_devices, vec![short(A)]);
        assert_eq!(v.disks_spare, 1);
        let failing = r.drives.iter().find(|d| d.device == short(A)).unwrap();
        assert_eq!(failing.verdict, "failing");

        // The spare joins the volume and is rebuilt.
        docs.get_mut(V1).unwrap()["Links"]["Drives"]
            .as_array_mut()
            .unwrap()
            .push(json!({"@odata.id": SPARE}));
        docs.get_mut(V1).unwrap()["Operations"] =
            json!([{"OperationName": "Rebuild", "PercentageComplete": 37}]);
        let d = docs.get_mut(SPARE).unwrap();
        d["HotspareType"] = json!("None");
        d["Operations"] = json!([{"OperationName": "Rebuild", "PercentageComplete": 37}]);
        let r = assess(&target(), &walk_of(docs.clone()));
        let v = vol(&r, "Systems/437XR1138R2/Storage/1/Volumes/1");
        assert_eq!(v.state, RaidState::Recovering);
        assert_eq!((v.disks_total, v.disks_working), (2, 1));
        assert_eq!(
            (v.sync_action.as_str(), v.sync_percent),
            ("recovery", Some(37.0))
        );
        assert_eq!(v.disks_spare, 0);

        // The last working member goes too.
        let b = "/redfish/v1/Chassis/1U/Drives/35D38F11ACEF7BD3";
        set(
            &mut docs,
            b,
            "/Status",
            json!({"State": "Enabled", "Health": "Critical"}),
        );
        let r = assess(&target(), &walk_of(docs));
        let v = vol(&r, "Systems/437XR1138R2/Storage/1/Volumes/1");
        assert_eq!(v.state, RaidState::Failed);
        assert_eq!(v.redundancy_left, -1);
    }

    #[test]
    fn an_unhealthy_volume_whose_lost_drive_is_no_longer_linked_counts_it_missing() {
        let mut docs = mockup();
        set(
            &mut docs,
            V1,
            "/Status",
            json!({"State": "Enabled", "Health": "Warning"}),
        );
        docs.get_mut(V1).unwrap()["Links"]["Drives"] = json!([{"@odata.id": A}]);
        let r = assess(&target(), &walk_of(docs));
        let v = vol(&r, "Systems/437XR1138R2/Storage/1/Volumes/1");
        assert_eq!(
            (v.state, v.disks_total, v.disks_working),
            (RaidState::Degraded, 2, 1)
        );
    }

    #[test]
    fn a_volume_without_member_links_is_read_from_its_own_status() {
        let mut docs = mockup();
        docs.get_mut(V1).unwrap()["Links"] = json!({});
        let r = assess(&target(), &walk_of(docs.clone()));
        let v = vol(&r, "Systems/437XR1138R2/Storage/1/Volumes/1");
        assert_eq!(
            (v.state, v.redundancy_left, v.disks_total),
            (RaidState::Clean, 1, 0)
        );
        set(
            &mut docs,
            V1,
            "/Status",
            json!({"State": "Enabled", "Health": "Critical"}),
        );
        let r = assess(&target(), &walk_of(docs.clone()));
        let v = vol(&r, "Systems/437XR1138R2/Storage/1/Volumes/1");
        assert_eq!(
            (v.state, v.disks_total, v.disks_working),
            (RaidState::Degraded, 1, 0)
        );
        set(
            &mut docs,
            V1,
            "/Status",
            json!({"State": "UnavailableOffline", "Health": "Critical"}),
        );
        let r = assess(&target(), &walk_of(docs));
        assert_eq!(
            vol(&r, "Systems/437XR1138R2/Storage/1/Volumes/1").state,
            RaidState::Failed
        );
    }

    #[test]
    fn a_missing_member_document_leaves_the_volume_out_and_makes_the_bmc_unknown() {
        let mut docs = mockup();
        docs.remove(A);
        let mut w = walk_of(docs);
        w.errors.push(format!("GET {A}: 500 Internal Server Error"));
        let r = assess(&target(), &w);
        assert!(!r.complete());
        assert!(r.volumes.iter().all(|v| v.raid.array != short(V1)));
        let bmc = r.bmc_draft();
        assert_eq!(bmc.fields["state"], "unknown");
        assert!(
            bmc.fields["reason"].as_str().unwrap().contains("500"),
            "{bmc:?}"
        );
        assert_eq!(bmc.severity, Severity::Warning);
    }

    #[test]
    fn predicted_failure_and_worn_media_are_drive_verdicts() {
        let mut docs = mockup();
        set(&mut docs, A, "/FailurePredicted", json!(true));
        docs.get_mut(SPARE).unwrap()["PredictedMediaLifeLeftPercent"] = json!(12);
        let r = assess(&target(), &walk_of(docs));
        let d = |p: &str| r.drives.iter().find(|d| d.device == short(p)).unwrap();
        assert_eq!(d(A).verdict, "failing");
        assert_eq!(d(A).reasons, vec!["failure predicted"]);
        assert_eq!(d(SPARE).verdict, "warning");
    }

    /// A synthetic BMC: one storage, one volume of `level` over `n` drives, `failed` of them
    /// failed (the first ones), a global spare that is standing by or (with `rebuild`) linked
    /// into the volume and being rebuilt onto.
    fn synthetic(level: &str, n: usize, failed: usize, rebuild: bool) -> Walk {
        let st = "/redfish/v1/Systems/S/Storage/1";
        let vol = format!("{st}/Volumes/1");
        let drive = |i: usize| format!("/redfish/v1/Chassis/C/Drives/D{i}");
        let mut docs = BTreeMap::new();
        let mut members: Vec<Value> = (0..n).map(|i| json!({"@odata.id": drive(i)})).collect();
        for i in 0..n {
            let status = if i < failed {
                json!({"State": "Disabled", "Health": "Critical"})
            } else {
                json!({"State": "Enabled", "Health": "OK"})
            };
            docs.insert(
                drive(i),
                json!({"Id": format!("D{i}"), "SerialNumber": format!("S{i}"), "Status": status}),
            );
        }
        let spare = drive(n);
        let rebuilding = rebuild && failed > 0;
        docs.insert(
            spare.clone(),
            if rebuilding {
                json!({"Id": "SP", "SerialNumber": "SP", "Status": {"State": "Enabled", "Health": "OK"},
                    "HotspareType": "None",
                    "Operations": [{"OperationName": "Rebuild", "PercentageComplete": 40}]})
            } else {
                json!({"Id": "SP", "SerialNumber": "SP", "Status": {"State": "Enabled", "Health": "OK"},
                    "HotspareType": "Global"})
            },
        );
        if rebuilding {
            members.push(json!({"@odata.id": spare}));
        }
        let health = if failed > 0 { "Warning" } else { "OK" };
        docs.insert(
            vol.clone(),
            json!({"Id": "1", "RAIDType": level, "Status": {"State": "Enabled", "Health": health},
                "Links": {"Drives": members}}),
        );
        docs.insert(
            format!("{st}/Volumes"),
            json!({"Members": [{"@odata.id": vol}]}),
        );
        let all: Vec<Value> = (0..=n).map(|i| json!({"@odata.id": drive(i)})).collect();
        docs.insert(
            st.to_owned(),
            json!({"Id": "1", "Drives": all, "Volumes": {"@odata.id": format!("{st}/Volumes")}}),
        );
        Walk {
            docs,
            storages: vec![st.to_owned()],
            chassis_drives: vec![],
            errors: vec![],
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Any RAID type, width, number of failed members and rebuild, against a model of what
        /// the volume can lose: the state, the redundancy and the spares follow from the counts.
        #[test]
        fn volumes_of_any_shape_are_assessed_as_the_model_says(
            kind in 0usize..4, extra in 0usize..6, failed_pick in 0usize..10, rebuild: bool,
        ) {
            let (level, min, tolerance) = [("RAID1", 2, None), ("RAID5", 3, Some(1)),
                ("RAID6", 4, Some(2)), ("RAID10", 4, Some(1))][kind];
            let n = min + extra;
            let failed = failed_pick % (n + 1);
            let tolerance = tolerance.unwrap_or(n as i64 - 1);
            let r = assess(&target(), &synthetic(level, n, failed, rebuild));
            let v = &r.volumes[0].raid;
            let left = tolerance - failed as i64;
            proptest::prop_assert_eq!(v.redundancy_left, left);
            proptest::prop_assert_eq!(v.disks_total as usize, n);
            proptest::prop_assert_eq!(v.disks_working as usize, n - failed);
            let rebuilding = rebuild && failed > 0;
            let want = if left < 0 {
                RaidState::Failed
            } else if rebuilding {
                RaidState::Recovering
            } else if failed > 0 {
                RaidState::Degraded
            } else {
                RaidState::Clean
            };
            proptest::prop_assert_eq!(v.state, want);
            proptest::prop_assert_eq!(v.disks_spare, u32::from(!rebuilding));
            proptest::prop_assert_eq!(v.failed_devices.len(), failed);
            // Never `clean` with a member down, whatever else holds.
            proptest::prop_assert!(failed == 0 || v.state != RaidState::Clean);
        }

        /// Documents of the wrong shape (fields missing, of other types, null) never panic and
        /// never make a volume with a failed member `clean`.
        #[test]
        fn malformed_documents_never_panic(
            seed in proptest::collection::vec((0usize..6, 0usize..5), 0..12),
        ) {
            let mut w = synthetic("RAID5", 4, 1, false);
            let keys: Vec<String> = w.docs.keys().cloned().collect();
            let junk = [json!(null), json!(7), json!("x"), json!([1]), json!({})];
            for (k, j) in seed {
                let key = &keys[k % keys.len()];
                let doc = w.docs.get_mut(key).unwrap();
                let field = ["Status", "Links", "RAIDType", "Operations", "Members"][j % 5];
                if let Some(o) = doc.as_object_mut() {
                    o.insert(field.into(), junk[(k + j) % junk.len()].clone());
                }
            }
            let r = assess(&target(), &w);
            for v in &r.volumes {
                let has_failed = !v.raid.failed_devices.is_empty();
                proptest::prop_assert!(!has_failed || v.raid.state != RaidState::Clean);
            }
            let _ = r.drafts();
        }
    }

    #[test]
    fn names_urls_and_levels() {
        let t = RedfishTarget::new("https://admin@[::1]:8443/");
        assert_eq!(t.host_name(), "::1");
        assert_eq!(t.service_root(), "https://admin@[::1]:8443/redfish/v1");
        assert_eq!(
            RedfishTarget::new("http://bmc-7:80/redfish/v1").host_name(),
            "bmc-7"
        );
        assert!(RedfishTarget::new("bmc-7").validate().is_err());
        assert_eq!(level(&json!({"VolumeType": "StripedWithParity"})), "raid5");
        assert_eq!(redundancy("raid6", 4, 2), 0);
        assert_eq!(redundancy("raid0", 2, 1), -1);
    }
}

//! Hardware RAID: reading `storcli /call show all J` (and `perccli`, which prints the same
//! JSON) into `check: hwraid` records, one per virtual drive.
//!
//! The output is `{"Controllers": [{"Command Status": {...}, "Response Data": {...}}]}`. The
//! parts read here: `VD LIST` (`DG/VD`, `TYPE`, `State`) and `PD LIST` or `Drive Information`
//! (`EID:Slt`, `DID`, `State`, `DG`). Virtual-drive states: `Optl` optimal, `Pdgd` partially
//! degraded (a RAID6 that lost one disk), `Dgrd` degraded, `OfLn` offline, `Rec` recovery.
//! Physical-drive states: `Onln`, `Rbld`, `Offln`, `Failed`, `UBad`, `Msng` (the last four
//! are counted as failed), `GHS`/`DHS` hot spares, `UGood` unconfigured.
//!
//! State of a record: `offline` (OfLn), `rebuilding` (Rec, or a drive of its group in
//! `Rbld`), `degraded` (Dgrd), `partially_degraded` (Pdgd), `optimal`. When an output has
//! physical drives but no `VD LIST` (`/cx/eall/sall show J`), one record per drive group is
//! derived from its drives: any failed drive makes it `degraded` (the RAID level is unknown, so
//! it cannot be called partially degraded).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use logwarden_core::{Fields, Kind, Severity};

use crate::draft::Draft;

/// Why a storcli output could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StorcliError {
    /// Not JSON (storcli without the `J` argument, or a wrong file).
    #[error("not storcli JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON without a `Controllers` list.
    #[error("storcli JSON without a `Controllers` list")]
    NoControllers,
    /// The controller answered `"Status": "Failure"`.
    #[error("storcli controller {controller}: {description}")]
    CommandFailed {
        controller: String,
        description: String,
    },
}

/// A physical drive, as far as the verdict needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalDrive {
    /// `EID:Slt`, e.g. `252:3`.
    pub slot: String,
    /// Drive group, `None` for unconfigured drives and global hot spares.
    pub group: Option<String>,
    /// As printed (`Onln`, `Rbld`, ...).
    pub state: String,
}

impl PhysicalDrive {
    fn failed(&self) -> bool {
        matches!(self.state.as_str(), "Offln" | "Failed" | "UBad" | "Msng")
    }
    fn rebuilding(&self) -> bool {
        self.state == "Rbld"
    }
    fn spare(&self) -> bool {
        matches!(self.state.as_str(), "GHS" | "DHS")
    }
}

/// One virtual drive (or, without a VD list, one drive group) and what it is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualDriveStatus {
    pub controller: String,
    /// `DG/VD` as printed (`0/0`), or `<dg>/-` when derived from the drives alone.
    pub virtual_drive: String,
    pub raid_type: Option<String>,
    /// The printed state (`Optl`, `Pdgd`, ...), `None` when derived.
    pub raw_state: Option<String>,
    /// `optimal`, `partially_degraded`, `degraded`, `rebuilding`, `offline`.
    pub state: &'static str,
    pub drives_total: u32,
    pub failed_drives: Vec<String>,
    pub rebuilding_drives: Vec<String>,
    /// Hot spares the controller can use for this group (dedicated or global).
    pub hot_spares: u32,
}

/// Reads one storcli JSON output into records.
pub fn parse(text: &str) -> Result<Vec<VirtualDriveStatus>, StorcliError> {
    let v: Value = serde_json::from_str(text)?;
    let controllers = v
        .get("Controllers")
        .and_then(Value::as_array)
        .ok_or(StorcliError::NoControllers)?;
    let mut out = Vec::new();
    for (i, c) in controllers.iter().enumerate() {
        let status = c.get("Command Status");
        let controller = status
            .and_then(|s| s.get("Controller"))
            .map(scalar)
            .unwrap_or_else(|| i.to_string());
        if status.and_then(|s| s.get("Status")).and_then(Value::as_str) == Some("Failure") {
            return Err(StorcliError::CommandFailed {
                controller,
                description: status
                    .and_then(|s| s.get("Description"))
                    .map(scalar)
                    .unwrap_or_default(),
            });
        }
        let Some(data) = c.get("Response Data") else {
            continue;
        };
        let drives: Vec<PhysicalDrive> = ["PD LIST", "Drive Information"]
            .iter()
            .filter_map(|k| data.get(*k)?.as_array())
            .flatten()
            .filter_map(|d| {
                Some(PhysicalDrive {
                    slot: d.get("EID:Slt").map(scalar)?,
                    group: d
                        .get("DG")
                        .map(scalar)
                        .filter(|g| g != "-" && !g.is_empty()),
                    state: d.get("State").map(scalar)?,
                })
            })
            .collect();
        let global_spares = drives.iter().filter(|d| d.state == "GHS").count() as u32;

        if let Some(vds) = data.get("VD LIST").and_then(Value::as_array) {
            for vd in vds {
                let name = vd.get("DG/VD").map(scalar).unwrap_or_else(|| "?".into());
                let dg = name.split('/').next().unwrap_or("").to_owned();
                let raw_state = vd.get("State").map(scalar);
                let members: Vec<&PhysicalDrive> = drives
                    .iter()
                    .filter(|d| d.group.as_deref() == Some(dg.as_str()))
                    .collect();
                out.push(status_of(
                    &controller,
                    name,
                    vd.get("TYPE").map(scalar),
                    raw_state,
                    &members,
                    global_spares,
                ));
            }
        } else {
            let mut groups: BTreeMap<&str, Vec<&PhysicalDrive>> = BTreeMap::new();
            for d in &drives {
                if let Some(g) = d.group.as_deref() {
                    groups.entry(g).or_default().push(d);
                }
            }
            for (dg, members) in groups {
                out.push(status_of(
                    &controller,
                    format!("{dg}/-"),
                    None,
                    None,
                    &members,
                    global_spares,
                ));
            }
        }
    }
    Ok(out)
}

fn status_of(
    controller: &str,
    virtual_drive: String,
    raid_type: Option<String>,
    raw_state: Option<String>,
    members: &[&PhysicalDrive],
    global_spares: u32,
) -> VirtualDriveStatus {
    let failed: Vec<String> = members
        .iter()
        .filter(|d| d.failed())
        .map(|d| d.slot.clone())
        .collect();
    let rebuilding: Vec<String> = members
        .iter()
        .filter(|d| d.rebuilding())
        .map(|d| d.slot.clone())
        .collect();
    let dedicated = members.iter().filter(|d| d.spare()).count() as u32;
    let state = match raw_state.as_deref() {
        Some("OfLn") | Some("Offln") => "offline",
        Some("Rec") => "rebuilding",
        _ if !rebuilding.is_empty() => "rebuilding",
        Some("Dgrd") => "degraded",
        Some("Pdgd") => "partially_degraded",
        Some("Optl") if failed.is_empty() => "optimal",
        // Derived from the drives, or a state word this code does not know: judge by drives.
        _ if !failed.is_empty() => "degraded",
        Some(other) if other != "Optl" => "degraded",
        _ => "optimal",
    };
    VirtualDriveStatus {
        controller: controller.to_owned(),
        virtual_drive,
        raid_type,
        raw_state,
        state,
        drives_total: members.iter().filter(|d| !d.spare()).count() as u32,
        failed_drives: failed,
        rebuilding_drives: rebuilding,
        hot_spares: dedicated + global_spares,
    }
}

/// A JSON scalar as text (`0` and `"0"` both read `0`).
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_owned(),
        other => other.to_string(),
    }
}

impl VirtualDriveStatus {
    pub fn severity(&self) -> Severity {
        match self.state {
            "offline" | "degraded" => Severity::Crit,
            "rebuilding" if self.raw_state.as_deref() == Some("Dgrd") => Severity::Crit,
            "partially_degraded" | "rebuilding" => Severity::Err,
            _ => Severity::Info,
        }
    }

    /// `c0 vd 0/0 degraded: RAID5, failed 252:3, no hot spare`.
    pub fn message(&self) -> String {
        let mut msg = format!(
            "c{} vd {} {}",
            self.controller, self.virtual_drive, self.state
        );
        msg.push_str(&format!(
            ": {}",
            self.raid_type.as_deref().unwrap_or("RAID level unknown")
        ));
        if !self.failed_drives.is_empty() {
            msg.push_str(&format!(", failed {}", self.failed_drives.join(" ")));
        }
        if !self.rebuilding_drives.is_empty() {
            msg.push_str(&format!(
                ", rebuilding {}",
                self.rebuilding_drives.join(" ")
            ));
        }
        match self.hot_spares {
            0 => msg.push_str(", no hot spare"),
            1 => msg.push_str(", 1 hot spare"),
            n => msg.push_str(&format!(", {n} hot spares")),
        }
        msg
    }

    /// The `fields` of the record (PRODUCT.md, `check: hwraid`).
    pub fn fields(&self) -> Fields {
        let mut f = Fields::new();
        f.insert("check".into(), json!("hwraid"));
        f.insert("controller".into(), json!(self.controller));
        f.insert("virtual_drive".into(), json!(self.virtual_drive));
        if let Some(t) = &self.raid_type {
            f.insert("raid_type".into(), json!(t));
        }
        f.insert("state".into(), json!(self.state));
        if let Some(s) = &self.raw_state {
            f.insert("controller_state".into(), json!(s));
        }
        f.insert("drives_total".into(), json!(self.drives_total));
        f.insert("failed_drives".into(), json!(self.failed_drives));
        f.insert("rebuilding_drives".into(), json!(self.rebuilding_drives));
        f.insert("hot_spares".into(), json!(self.hot_spares));
        f
    }

    pub fn to_draft(&self) -> Draft {
        Draft {
            ts: None,
            host: None,
            source: "health".into(),
            app: "hwraid".into(),
            severity: self.severity(),
            kind: Kind::Health,
            message: self.message(),
            fields: self.fields(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(name: &str) -> String {
        let path = format!(
            "{}/../tests/data/fixtures/hwraid/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    fn local(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    #[test]
    fn an_offline_drive_without_a_vd_list_makes_its_group_degraded() {
        let vds = parse(&shared("storcli_pd_offline_J.json")).unwrap();
        assert_eq!(vds.len(), 1);
        let vd = &vds[0];
        assert_eq!(vd.controller, "0");
        assert_eq!(vd.virtual_drive, "2/-");
        assert_eq!(vd.state, "degraded");
        assert_eq!(vd.failed_drives, vec!["35:12".to_owned()]);
        assert_eq!(vd.severity(), Severity::Crit);
        assert_eq!(
            vd.message(),
            "c0 vd 2/- degraded: RAID level unknown, failed 35:12, no hot spare"
        );
    }

    #[test]
    fn virtual_drive_states_and_drive_roles_are_read_from_a_full_show_all() {
        let vds = parse(&local("storcli_vd_states_J.json")).unwrap();
        type Row<'a> = (&'a str, &'a str, Vec<String>, Vec<String>, u32);
        let got: Vec<Row> = vds
            .iter()
            .map(|v| {
                (
                    v.virtual_drive.as_str(),
                    v.state,
                    v.failed_drives.clone(),
                    v.rebuilding_drives.clone(),
                    v.hot_spares,
                )
            })
            .collect();
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            got,
            vec![
                ("0/0", "partially_degraded", s(&["252:3"]), s(&[]), 1),
                ("1/1", "rebuilding", s(&[]), s(&["252:7"]), 1),
                ("2/2", "optimal", s(&[]), s(&[]), 1),
                ("3/3", "offline", s(&["252:10", "252:11"]), s(&[]), 1),
            ]
        );
        assert_eq!(vds[0].severity(), Severity::Err);
        assert_eq!(vds[1].severity(), Severity::Crit);
        assert_eq!(vds[2].severity(), Severity::Info);
        assert_eq!(vds[3].severity(), Severity::Crit);
        assert_eq!(vds[0].fields()["raid_type"], "RAID6");
    }

    #[test]
    fn a_failed_command_status_is_an_error_naming_the_controller() {
        let text = r#"{"Controllers":[{"Command Status":{"Controller":1,"Status":"Failure","Description":"Controller 1 not found"}}]}"#;
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("controller 1"), "{err}");
        assert!(matches!(parse("{}"), Err(StorcliError::NoControllers)));
        assert!(matches!(parse("nope"), Err(StorcliError::Json(_))));
    }
}

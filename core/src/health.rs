//! What identifies a health record: the check it comes from and its subject (the array, disk,
//! virtual drive, mount or backup pair it is about). The agent uses it to print records; the
//! collector's fleet view keeps the newest record per host, check and subject.

use serde_json::Value;

use crate::Fields;

/// The subject of a health record's `fields` (PRODUCT.md, "Health records"): `md2`,
/// `/dev/sda`, `c0/v1`, `/var`, `/backup -> /opt/zimbra/store`, a BMC's name (`redfish`). Empty when the check is unknown.
pub fn subject(fields: &Fields) -> String {
    let s = |k: &str| fields.get(k).map(text).unwrap_or_default();
    match s("check").as_str() {
        "raid" => s("array"),
        "smart" => s("device"),
        "hwraid" => format!("c{}/v{}", s("controller"), s("virtual_drive")),
        "filesystem" => s("mount"),
        "backup" => format!("{} -> {}", s("backup_dir"), s("data_dir")),
        "redfish" => s("bmc"),
        _ => String::new(),
    }
}

/// What kind of host sent a host's health records, when it is not a machine with an agent: a
/// BMC read over Redfish (`provider: redfish`), a hypervisor (`esxi`) or a filer (`ontap`) whose
/// syslog told its storage events. `None` for an agent's own host.
pub fn host_role<'a>(records: impl IntoIterator<Item = &'a Fields>) -> Option<&'static str> {
    records
        .into_iter()
        .find_map(|f| match f.get("provider").and_then(Value::as_str) {
            Some("redfish") => Some("BMC"),
            Some("esxi") => Some("hypervisor"),
            Some("ontap") => Some("filer"),
            _ => None,
        })
}

/// The hosts that depend on this one, as configured (`serves` of a `[[health.redfish]]` BMC),
/// sorted and once each.
pub fn serves<'a>(records: impl IntoIterator<Item = &'a Fields>) -> Vec<String> {
    let mut out: Vec<String> = records
        .into_iter()
        .filter_map(|f| f.get("serves").and_then(Value::as_array))
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A JSON value as text: strings bare, numbers and the rest as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_check_names_its_subject() {
        let f = |v: Value| Fields::from(v.as_object().unwrap().clone());
        assert_eq!(subject(&f(json!({"check": "raid", "array": "md2"}))), "md2");
        assert_eq!(
            subject(&f(
                json!({"check": "hwraid", "controller": 0, "virtual_drive": "1"})
            )),
            "c0/v1"
        );
        assert_eq!(
            subject(&f(
                json!({"check": "backup", "backup_dir": "/b", "data_dir": "/d"})
            )),
            "/b -> /d"
        );
        assert_eq!(subject(&f(json!({"check": "other"}))), "");
    }

    #[test]
    fn bmcs_hypervisors_and_filers_are_told_by_their_records() {
        let f = |v: Value| Fields::from(v.as_object().unwrap().clone());
        let bmc = [
            f(json!({"check": "redfish", "provider": "redfish", "serves": ["mbox1", "esx1"]})),
            f(json!({"check": "raid", "provider": "redfish", "serves": ["esx1"]})),
        ];
        assert_eq!(host_role(&bmc), Some("BMC"));
        assert_eq!(serves(&bmc), vec!["esx1", "mbox1"]);
        assert_eq!(host_role(&[f(json!({"provider": "ontap"}))]), Some("filer"));
        assert_eq!(host_role(&[f(json!({"check": "raid"}))]), None);
    }
}

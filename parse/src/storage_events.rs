//! Storage events that hypervisors and filers send to syslog, read as health records of the
//! host that sent them: VMware ESXi (`vobd`, `vmkernel`, `hostd`) and NetApp ONTAP's EMS.
//! A VM cannot see the datastore or the RAID group under it; the hypervisor and the filer can,
//! and they say so in their logs.
//!
//! A line recognised here becomes `kind: health` with `fields.check = "raid"` in md's vocabulary
//! (docs/health.md, "Storage events from syslog"), so that RaidArrayFailed, RaidArrayDegraded,
//! RaidRebuilding and RaidNoSpare fire and resolve for the datastore, device or RAID group as
//! for an md array; the line keeps its app, message and time, and is searchable as before.
//! Each record is a snapshot of its subject as the line tells it: a failure line says `failed`
//! or `degraded`, the matching recovery line says `clean`.
//!
//! | line (ESXi vob id or ONTAP EMS name)                         | subject            | state     |
//! |---------------------------------------------------------------|--------------------|-----------|
//! | `storage.apd.start`, `apd.timeout`; vmkernel `APD Start`      | device             | failed    |
//! | `apd.exit` / `has exited the All Paths Down state`            | device             | clean     |
//! | `scsi.device.state.permanentloss` (PDL)                       | device             | failed    |
//! | `storage.connectivity.lost` / `.restored`                     | device             | failed / clean |
//! | `storage.redundancy.lost` (one path left)                     | device             | degraded, 0 left |
//! | `storage.redundancy.degraded` (`N remaining active paths`)    | device             | degraded, N-1 left |
//! | `storage.redundancy.restored`                                 | device             | clean     |
//! | `vmfs.heartbeat.timedout` (`Lost access to volume`)           | datastore          | failed    |
//! | `vmfs.heartbeat.recovered` (`Successfully restored access`)   | datastore          | clean     |
//! | `raid.config.filesystem.disk.failed` (`/aggr/plex/rg/disk`)   | RAID group         | degraded  |
//! | `raid.rg.degraded`                                            | RAID group         | degraded  |
//! | `raid.rg.recons.start*`                                       | RAID group         | recovering |
//! | `raid.rg.recons.done` (`reconstruction completed`)            | RAID group         | clean     |
//! | `There are not enough spare disks` (global status), `raid.*spare*low*` | `spares` | no spare |
//! | `global status is normal` (`monitor.globalStatus.ok`)         | `spares`           | spare back |
//!
//! Counts: a device's paths are its "disks" (`level: multipath`), so a lost path with one left is
//! `[2/1]`, 0 redundancy left; a datastore (`level: vmfs`) or a device that is unreachable is
//! `[1/0]`; an ONTAP RAID group (`level: raid_dp`, ONTAP's default) that lost a disk is `[2/1]`
//! with 0 redundancy left counted (the syslog line does not say the group's width or type, so
//! the worst case is told). A recovery line is `[1/1]`, clean. Only the filer's `spares` record
//! knows about spares (`spares_known: true`); the others never raise RaidNoSpare.
//!
//! The host is the syslog line's; an ONTAP line whose header has none (`[node:event:sev]: ...`)
//! takes the node's name.

use logwarden_core::{CompactString, Draft, Kind, Severity};
use serde_json::{Value, json};

/// What one line says about one subject.
struct Finding {
    provider: &'static str,
    event: &'static str,
    subject: String,
    level: &'static str,
    state: &'static str,
    total: u32,
    working: u32,
    redundancy_left: i64,
    sync_action: &'static str,
    failed: Vec<String>,
    spares: Option<u32>,
}

impl Finding {
    fn new(
        provider: &'static str,
        event: &'static str,
        subject: String,
        level: &'static str,
    ) -> Finding {
        Finding {
            provider,
            event,
            subject,
            level,
            state: "clean",
            total: 1,
            working: 1,
            redundancy_left: 0,
            sync_action: "idle",
            failed: Vec::new(),
            spares: None,
        }
    }

    fn failed(mut self) -> Finding {
        self.state = "failed";
        self.working = 0;
        self.redundancy_left = -1;
        self
    }

    fn degraded(mut self, total: u32, working: u32) -> Finding {
        self.state = "degraded";
        self.total = total;
        self.working = working;
        self.redundancy_left = i64::from(working) - 1;
        self
    }
}

/// The text after `start` up to the first of `ends` (or the end).
fn between<'a>(text: &'a str, start: &str, ends: &[char]) -> Option<&'a str> {
    // Every syslog line comes here (`ems_header`, with `[`): `str::find` with a `&str` sets up
    // a two-way searcher per call, a seventh of the agent's instructions per line (issue 25).
    // One byte is a plain memchr. Same index either way: `start` is UTF-8.
    let at = match start.as_bytes() {
        [b] => memchr::memchr(*b, text.as_bytes())?,
        _ => text.find(start)?,
    };
    let rest = &text[at + start.len()..];
    let end = rest.find(ends).unwrap_or(rest.len());
    let s = rest[..end].trim();
    (!s.is_empty()).then_some(s)
}

/// `Device or filesystem with identifier [naa.x]` or `ident [naa.x]`.
fn bracketed_ident(msg: &str) -> Option<String> {
    between(msg, "identifier [", &[']'])
        .or_else(|| between(msg, "ident [", &[']']))
        .map(str::to_owned)
}

/// `Lost access to volume 5f1e...-3b40 (datastore1) ...`: the datastore's name, else its UUID.
fn volume_name(msg: &str, after: &str) -> Option<String> {
    let rest = &msg[msg.find(after)? + after.len()..];
    let uuid = rest.split_whitespace().next()?;
    let name = rest
        .strip_prefix(uuid)
        .and_then(|r| between(r, "(", &[')']))
        .unwrap_or(uuid);
    Some(name.to_owned())
}

/// The word after `device ` (`storage device naa.x.` -> `naa.x`).
fn device_after(msg: &str, key: &str) -> Option<String> {
    let rest = &msg[msg.find(key)? + key.len()..];
    let word = rest.split_whitespace().next()?;
    Some(word.trim_end_matches(['.', ',', ':']).to_owned())
}

/// `Path vmhba2:C0:T1:L0 is down`.
fn path(msg: &str) -> Vec<String> {
    between(msg, "Path ", &[' '])
        .map(|p| vec![p.trim_end_matches('.').to_owned()])
        .unwrap_or_default()
}

fn esxi(msg: &str) -> Option<Finding> {
    let dev = |event, subject: Option<String>| {
        subject.map(|s| Finding::new("esxi", event, s, "multipath"))
    };
    if msg.contains("has entered the All Paths Down Timeout state") {
        return dev("storage.apd.timeout", bracketed_ident(msg)).map(Finding::failed);
    }
    if msg.contains("has entered the All Paths Down state") || msg.contains("APD Start for ident") {
        return dev("storage.apd.start", bracketed_ident(msg)).map(Finding::failed);
    }
    if msg.contains("has exited the All Paths Down state") || msg.contains("APD Exit for ident") {
        return dev("storage.apd.exit", bracketed_ident(msg));
    }
    if msg.contains("has been removed or is permanently inaccessible") {
        return dev(
            "scsi.device.state.permanentloss",
            device_after(msg, "Device "),
        )
        .map(Finding::failed);
    }
    if msg.contains("Lost connectivity to storage device") {
        let mut f = dev(
            "storage.connectivity.lost",
            device_after(msg, "storage device "),
        )?
        .failed();
        f.failed = path(msg);
        return Some(f);
    }
    if msg.contains("Connectivity to storage device") && msg.contains("restored") {
        return dev(
            "storage.connectivity.restored",
            device_after(msg, "storage device "),
        );
    }
    if msg.contains("Lost path redundancy to storage device") {
        let mut f = dev(
            "storage.redundancy.lost",
            device_after(msg, "storage device "),
        )?
        .degraded(2, 1);
        f.failed = path(msg);
        return Some(f);
    }
    if msg.contains("Path redundancy to storage device") {
        if msg.contains("restored") {
            return dev(
                "storage.redundancy.restored",
                device_after(msg, "storage device "),
            );
        }
        if msg.contains("degraded") {
            let left: u32 = between(msg, "is down. ", &[' '])
                .and_then(|n| n.parse().ok())
                .filter(|_| msg.contains("remaining active path"))
                .unwrap_or(1)
                .max(1);
            let mut f = dev(
                "storage.redundancy.degraded",
                device_after(msg, "storage device "),
            )?
            .degraded(left + 1, left);
            f.failed = path(msg);
            return Some(f);
        }
    }
    if msg.contains("Lost access to volume") {
        return volume_name(msg, "Lost access to volume ")
            .map(|v| Finding::new("esxi", "vmfs.heartbeat.timedout", v, "vmfs").failed());
    }
    if msg.contains("Successfully restored access to volume") {
        return volume_name(msg, "Successfully restored access to volume ")
            .map(|v| Finding::new("esxi", "vmfs.heartbeat.recovered", v, "vmfs"));
    }
    None
}

/// `/aggr1/plex0/rg0` in an ONTAP message (a disk path below it is cut at the group).
fn raid_group(msg: &str) -> Option<(String, Option<String>)> {
    let start = msg.find('/')?;
    let word = msg[start..]
        .split(|c: char| c.is_whitespace() || c == ':' || c == ',')
        .next()?;
    let parts: Vec<&str> = word.trim_end_matches('.').split('/').collect();
    // ["", aggr, plexN, rgN, (disk)]
    let rg_at = parts.iter().position(|p| p.starts_with("rg"))?;
    let group = parts[..=rg_at].join("/");
    let disk = parts.get(rg_at + 1).map(|d| (*d).to_owned());
    Some((group, disk))
}

/// The EMS name and node of `[node:raid.rg.degraded:notice]:`, when the line has one.
fn ems_header(msg: &str) -> Option<(&str, &str)> {
    let inner = between(msg, "[", &[']'])?;
    let mut parts = inner.split(':');
    let node = parts.next()?;
    let event = parts.next()?;
    (event.contains('.') && parts.next().is_some()).then_some((node, event))
}

fn ontap(msg: &str, app: &str) -> Option<Finding> {
    let event = ems_header(msg)
        .map(|(_, e)| e)
        .or_else(|| app.contains('.').then_some(app))
        .unwrap_or("");
    let rg = |ev: &'static str| {
        raid_group(msg).map(|(g, disk)| (Finding::new("ontap", ev, g, "raid_dp"), disk))
    };
    let not_enough_spares = msg.contains("not enough spare disks")
        || (event.starts_with("raid.") && event.contains("spare") && event.contains("low"));
    if not_enough_spares {
        let mut f = Finding::new("ontap", "raid.spares.low", "spares".into(), "raid_dp");
        f.spares = Some(0);
        f.redundancy_left = 1;
        f.total = 1;
        f.working = 1;
        return Some(f);
    }
    if msg.contains("global status is normal") {
        let mut f = Finding::new(
            "ontap",
            "monitor.globalStatus.ok",
            "spares".into(),
            "raid_dp",
        );
        f.spares = Some(1);
        f.redundancy_left = 1;
        return Some(f);
    }
    if event == "raid.rg.recons.done" || msg.contains("reconstruction completed for") {
        return rg("raid.rg.recons.done").map(|(mut f, _)| {
            f.redundancy_left = 1;
            f.total = 2;
            f.working = 2;
            f
        });
    }
    if event.starts_with("raid.rg.recons.start") || msg.contains("starting reconstruction") {
        return rg("raid.rg.recons.start").map(|(f, _)| {
            let mut f = f.degraded(2, 1);
            f.state = "recovering";
            f.sync_action = "recovery";
            f
        });
    }
    if event == "raid.rg.degraded" || msg.contains("is degraded") && msg.contains("Raid group") {
        // `aggr1: Raid group /aggr1/plex0/rg0 is degraded`
        return rg("raid.rg.degraded").map(|(f, _)| f.degraded(2, 1));
    }
    if event == "raid.config.filesystem.disk.failed"
        || (msg.contains("File system Disk") && msg.contains("failed"))
    {
        return rg("raid.config.filesystem.disk.failed").map(|(f, disk)| {
            let mut f = f.degraded(2, 1);
            f.failed = disk.into_iter().collect();
            f
        });
    }
    None
}

fn is_esxi_app(app: &str) -> bool {
    ["vobd", "vmkernel", "hostd", "vpxa", "fdm"]
        .iter()
        .any(|a| app.eq_ignore_ascii_case(a))
}

/// Reads a syslog draft's storage event, if it is one, into a health record (module doc).
pub fn enrich(draft: &mut Draft) {
    let msg = draft.message.as_str();
    let finding = if is_esxi_app(&draft.app) {
        esxi(msg)
    } else if ems_header(msg)
        .is_some_and(|(_, e)| e.starts_with("raid.") || e.starts_with("monitor."))
        || draft.app.starts_with("raid.")
        || msg.contains("not enough spare disks")
    {
        ontap(msg, &draft.app)
    } else {
        None
    };
    let Some(f) = finding else { return };
    if draft.host.is_none()
        && let Some((node, _)) = ems_header(msg)
    {
        draft.host = Some(CompactString::from(node));
    }
    let severity = match f.state {
        "failed" => Severity::Crit,
        _ if f.total > f.working && f.redundancy_left <= 0 => Severity::Crit,
        _ if f.total > f.working => Severity::Err,
        _ if f.spares == Some(0) => Severity::Warning,
        _ => Severity::Info,
    };
    draft.severity = draft.severity.min(severity);
    draft.kind = Kind::Health;
    let fields = &mut draft.fields;
    let mut set = |k: &str, v: Value| {
        fields.insert(k.into(), v);
    };
    set("check", json!("raid"));
    set("provider", json!(f.provider));
    set("event", json!(f.event));
    set("array", json!(f.subject));
    set("level", json!(f.level));
    set("state", json!(f.state));
    set("disks_total", json!(f.total));
    set("disks_working", json!(f.working));
    set("disks_failed", json!(f.failed.len()));
    set("failed_devices", json!(f.failed));
    set("redundancy_left", json!(f.redundancy_left));
    set("sync_action", json!(f.sync_action));
    // A line that says nothing of spares must not raise RaidNoSpare (`spares_known: false`).
    set("disks_spare", json!(f.spares.unwrap_or(0)));
    set("spares_known", json!(f.spares.is_some()));
}

/// A storage record read from a file (an agent tailing a relay's log) is filed under the
/// agent's host, not the one the line names (a line in a file cannot name its host): its
/// subject then carries the sender's name, `esx1:datastore1`, so that two hypervisors' records
/// stay apart.
pub fn under_reader_host(draft: &mut Draft, line_host: &str) {
    if draft.kind != Kind::Health || draft.fields.get("event").is_none() {
        return;
    }
    if let Some(Value::String(array)) = draft.fields.get("array").cloned() {
        draft
            .fields
            .insert("array".into(), json!(format!("{line_host}:{array}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, LineParser};
    use std::path::Path;

    /// As the collector's syslog receiver parses: the sender names its host.
    fn parse(line: &str) -> Draft {
        let options = crate::ParseOptions {
            host_from_line: true,
            ..crate::ParseOptions::default()
        };
        LineParser::with_options(Path::new("syslog"), Format::Syslog, &options)
            .parse(line.as_bytes())
    }

    fn summary(d: &Draft) -> (String, String, String, i64, i64) {
        let s = |k: &str| {
            d.fields
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let n = |k: &str| d.fields.get(k).and_then(Value::as_i64).unwrap_or(-9);
        (
            s("array"),
            s("state"),
            s("event"),
            n("disks_total") - n("disks_working"),
            n("redundancy_left"),
        )
    }

    /// Every line of the test data: its expected reading, or none.
    #[test]
    fn the_test_data_lines_read_as_their_expected_records() {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/fixtures/storage-events");
        let mut checked = 0;
        for file in ["esxi.log", "ontap.log"] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            for line in text.lines().filter(|l| !l.is_empty()) {
                let (line, expect) = line
                    .split_once(" #=> ")
                    .expect("each line says what it reads as");
                let d = parse(line);
                if expect == "log" {
                    assert_eq!(d.kind, Kind::Log, "{line}");
                    continue;
                }
                let want: Vec<&str> = expect.split(' ').collect();
                let (array, state, event, missing, left) = summary(&d);
                assert_eq!(d.kind, Kind::Health, "{line}");
                assert_eq!(
                    (
                        array.as_str(),
                        state.as_str(),
                        event.as_str(),
                        missing.to_string(),
                        left.to_string()
                    ),
                    (
                        want[0],
                        want[1],
                        want[2],
                        want[3].to_owned(),
                        want[4].to_owned()
                    ),
                    "{line}"
                );
                assert!(d.host.is_some(), "{line}");
                checked += 1;
            }
        }
        assert!(checked >= 15, "only {checked} lines checked");
    }

    #[test]
    fn an_ontap_line_without_a_header_host_takes_the_node() {
        let d = parse(
            "<13>Dec  5 10:00:00 [filer1-01:raid.rg.degraded:notice]: aggr1: Raid group /aggr1/plex0/rg0 is degraded",
        );
        assert_eq!(d.host.as_deref(), Some("filer1-01"));
        assert_eq!(d.fields["array"], "/aggr1/plex0/rg0");
        assert_eq!(d.severity, Severity::Crit);
    }

    #[test]
    fn read_from_a_file_the_record_is_the_readers_and_its_subject_names_the_sender() {
        let line = "Dec  5 10:00:00 esx1.lab vobd: [vob.storage.apd.start] Device or filesystem with identifier [8a5a1336-3d574c6d] has entered the All Paths Down state.";
        let d = LineParser::new(Path::new("/var/log/remote/esx.log"), Format::Auto)
            .parse(line.as_bytes());
        assert_eq!(d.kind, Kind::Health);
        assert_eq!(d.host, None, "the agent's host");
        assert_eq!(d.fields["hostname"], "esx1.lab");
        assert_eq!(d.fields["array"], "esx1.lab:8a5a1336-3d574c6d");
        let d = LineParser::new(Path::new("/var/log/remote/esx.log"), Format::Auto)
            .parse(b"Dec  5 10:00:00 mbox1 postfix/smtpd[1]: connect from x");
        assert!(!d.fields.contains_key("array"));
    }

    #[test]
    fn other_lines_of_the_same_apps_stay_log_lines() {
        for line in [
            "<166>1 2026-12-05T10:00:00Z esx1 vmkernel - - - cpu3:32790)NMP: nmp_ThrottleLogForDevice:3178: Cmd 0x9e to dev \"mpx.vmhba32:C0:T0:L0\" Failed",
            "<13>Dec  5 10:00:00 filer1 [filer1-01:wafl.vol.full:alert]: Volume vol1 is full",
            "<13>Dec  5 10:00:00 mbox1 postfix/smtpd[1]: Lost access to volume x (y)",
        ] {
            assert_eq!(parse(line).kind, Kind::Log, "{line}");
        }
    }
}

//! SMART: reading `smartctl --json` output (ATA, NVMe, SCSI/SAS) and deciding a verdict, plus
//! running smartctl itself with a time limit.
//!
//! The verdict (`check: smart`, field `verdict`):
//! - `failing` when the drive's own health check failed (`smart_status.passed = false`),
//!   smartctl's exit status has bit 3 (disk failing) or bit 4 (a pre-fail attribute at or below
//!   its threshold) set, an ATA attribute says `when_failed: now`, or NVMe `critical_warning`
//!   is not 0;
//! - `warning` when reallocated, pending or offline-uncorrectable sectors are above zero (or
//!   rose since the last reading), media errors rose since the last reading, NVMe
//!   `percentage_used` reaches the wear limit (80 by default), or the temperature passes its
//!   limit (the drive's own trip/operating limit where it reports one, 60 °C otherwise);
//! - `ok` otherwise.
//!
//! Raw values: ATA raw values are 48-bit fields that some vendors pack with several counters
//! (Seagate's 188 `Command_Timeout` raw 17180131332 is three 16-bit counters, 4/4/4;
//! temperatures carry min/max in the upper bytes). A count is read from `raw.string`'s first
//! number, which smartctl already decodes per the drive database (`"33 (Min/Max 24/36)"` is
//! 33); a value still above 32 bits is a packed one and only its low 16 bits are the count.
//! So attribute 5 with `raw.string = "304"` reads 304, and a packed value never reads as
//! billions of bad sectors.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use logwarden_core::{Fields, Kind, Severity};

use crate::draft::Draft;

/// Why a smartctl output could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SmartError {
    /// The text is not JSON (an old smartctl without `--json`, or a wrong file).
    #[error("not smartctl JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON without the `device` object every `smartctl --json` output carries.
    #[error("smartctl JSON without a `device` object")]
    NoDevice,
    /// smartctl could not open or identify the device (exit status bits 0 or 1).
    #[error("smartctl could not read {device}: {reason}")]
    Unreadable { device: String, reason: String },
    /// The smartctl program is not installed at the configured path.
    #[error("smartctl not found at {0}")]
    NotInstalled(String),
    /// smartctl did not finish within the time limit (a hung drive, a sleeping controller).
    #[error("smartctl {device} did not finish within {secs} s")]
    Timeout { device: String, secs: u64 },
    /// Starting or waiting for smartctl failed.
    #[error("running smartctl: {0}")]
    Io(#[from] std::io::Error),
}

/// Limits the verdict uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmartPolicy {
    /// Temperature (°C) above which a drive that reports no limit of its own is `warning`.
    pub max_temperature_c: i64,
    /// NVMe `percentage_used` at or above which the drive is `warning`.
    pub worn_percent: u64,
}

impl Default for SmartPolicy {
    fn default() -> SmartPolicy {
        SmartPolicy {
            max_temperature_c: 60,
            worn_percent: 80,
        }
    }
}

/// `ok`, `warning`, `failing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Ok,
    Warning,
    Failing,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "warning",
            Verdict::Failing => "failing",
        }
    }
}

/// The counts that drive the verdict; `None` where the protocol has no such count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SmartCounts {
    /// ATA 5 `Reallocated_Sector_Ct`; SCSI grown defect list.
    pub reallocated_sectors: Option<u64>,
    /// ATA 197 `Current_Pending_Sector`.
    pub pending_sectors: Option<u64>,
    /// ATA 198 `Offline_Uncorrectable`.
    pub offline_uncorrectable: Option<u64>,
    /// NVMe `media_errors`; SCSI uncorrected read+write+verify errors.
    pub media_errors: Option<u64>,
    /// NVMe wear, percent of rated life (can pass 100).
    pub percentage_used: Option<u64>,
    /// NVMe `critical_warning` bit field.
    pub critical_warning: Option<u64>,
}

/// What one smartctl output says.
#[derive(Debug, Clone, PartialEq)]
pub enum SmartOutcome {
    Report(Box<SmartReport>),
    /// The device has no SMART (a virtual disk, a USB bridge): one clear line, not an alarm.
    Unavailable {
        device: String,
        reason: String,
    },
}

/// One drive's SMART reading and its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct SmartReport {
    pub device: String,
    /// `ATA`, `NVMe`, `SCSI`.
    pub protocol: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub passed: Option<bool>,
    pub exit_status: u64,
    pub counts: SmartCounts,
    pub temperature_c: Option<i64>,
    pub temperature_limit_c: Option<i64>,
    pub verdict: Verdict,
    /// Why the verdict is not `ok`, one short phrase each (`304 reallocated sectors`).
    pub reasons: Vec<String>,
}

/// Reads one `smartctl --json` output. `previous` is the last reading of the same device, for
/// "rising" counts; `None` on the first reading (and in `logwarden-agent check`).
pub fn parse(
    text: &str,
    policy: &SmartPolicy,
    previous: Option<&SmartCounts>,
) -> Result<SmartOutcome, SmartError> {
    let v: Value = serde_json::from_str(text)?;
    let Some(device_obj) = v.get("device") else {
        // smartctl could not even identify the device (`Unable to detect device type`): say
        // what it said, naming the device from its command line.
        return Err(match smartctl_messages(&v) {
            Some(reason) => SmartError::Unreadable {
                device: v
                    .pointer("/smartctl/argv")
                    .and_then(Value::as_array)
                    .and_then(|a| a.last()?.as_str())
                    .unwrap_or("?")
                    .to_owned(),
                reason,
            },
            None => SmartError::NoDevice,
        });
    };
    let device = device_obj
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    let protocol = device_obj
        .get("protocol")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    let exit_status = v
        .pointer("/smartctl/exit_status")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let passed = v.pointer("/smart_status/passed").and_then(Value::as_bool);

    if v.pointer("/smart_support/available")
        .and_then(Value::as_bool)
        == Some(false)
    {
        return Ok(SmartOutcome::Unavailable {
            device,
            reason: "the device has no SMART support".into(),
        });
    }
    // SCSI drives print `enabled: false` for their informational exceptions yet still report
    // health and error counters: only a drive with nothing to read is skipped.
    if v.pointer("/smart_support/enabled").and_then(Value::as_bool) == Some(false)
        && passed.is_none()
    {
        return Ok(SmartOutcome::Unavailable {
            device,
            reason: "SMART is disabled on the device (smartctl -s on enables it)".into(),
        });
    }
    if exit_status & 0b11 != 0 && passed.is_none() {
        let reason = smartctl_messages(&v)
            .unwrap_or_else(|| format!("exit status {exit_status} (command line or open failed)"));
        return Err(SmartError::Unreadable { device, reason });
    }

    let (counts, failing_attrs) = read_counts(&v);

    let temperature_c = v.pointer("/temperature/current").and_then(Value::as_i64);
    let temperature_limit_c = ["drive_trip", "op_limit_max"]
        .iter()
        .find_map(|k| v.get("temperature")?.get(*k)?.as_i64())
        .filter(|&t| t > 0);

    let mut report = SmartReport {
        device,
        protocol,
        model: ["model_name", "scsi_model_name"]
            .iter()
            .find_map(|k| v.get(*k)?.as_str())
            .map(str::to_owned),
        serial: v
            .get("serial_number")
            .and_then(Value::as_str)
            .map(str::to_owned),
        passed,
        exit_status,
        counts,
        temperature_c,
        temperature_limit_c,
        verdict: Verdict::Ok,
        reasons: Vec::new(),
    };
    judge(&mut report, failing_attrs, previous, policy);
    Ok(SmartOutcome::Report(Box::new(report)))
}

/// The counters that say a drive is wearing out, and the attributes failing now (ATA).
fn read_counts(v: &Value) -> (SmartCounts, Vec<String>) {
    let mut counts = SmartCounts::default();
    let mut failing_attrs = Vec::new();
    if let Some(table) = v
        .pointer("/ata_smart_attributes/table")
        .and_then(Value::as_array)
    {
        for attr in table {
            let id = attr.get("id").and_then(Value::as_u64);
            let count = ata_raw_count(attr);
            match id {
                Some(5) => counts.reallocated_sectors = count,
                Some(197) => counts.pending_sectors = count,
                Some(198) => counts.offline_uncorrectable = count,
                _ => {}
            }
            if attr.get("when_failed").and_then(Value::as_str) == Some("now") {
                let name = attr.get("name").and_then(Value::as_str).unwrap_or("?");
                failing_attrs.push(format!("attribute {} {name} failed now", id.unwrap_or(0)));
            }
        }
    }
    if let Some(log) = v.get("nvme_smart_health_information_log") {
        counts.media_errors = log.get("media_errors").and_then(Value::as_u64);
        counts.percentage_used = log.get("percentage_used").and_then(Value::as_u64);
        counts.critical_warning = log.get("critical_warning").and_then(Value::as_u64);
    }
    if let Some(defects) = v.get("scsi_grown_defect_list").and_then(Value::as_u64) {
        counts.reallocated_sectors = Some(defects);
    }
    if let Some(log) = v.get("scsi_error_counter_log") {
        let sum: Option<u64> = ["read", "write", "verify"]
            .iter()
            .filter_map(|k| log.get(*k)?.get("total_uncorrected_errors")?.as_u64())
            .reduce(|a, b| a.saturating_add(b));
        counts.media_errors = sum;
    }

    (counts, failing_attrs)
}

/// The verdict on `r` and why: failing (overall health, exit status bits, NVMe warnings,
/// failing attributes) before warning (sector counts, rising media errors, wear, temperature).
fn judge(
    r: &mut SmartReport,
    failing_attrs: Vec<String>,
    previous: Option<&SmartCounts>,
    policy: &SmartPolicy,
) {
    let (counts, passed, exit_status) = (r.counts, r.passed, r.exit_status);
    let (temperature_c, temperature_limit_c) = (r.temperature_c, r.temperature_limit_c);
    let mut verdict = Verdict::Ok;
    let mut reasons = Vec::new();
    let mut fail = |reason: String| {
        verdict = Verdict::Failing;
        reasons.push(reason);
    };
    if passed == Some(false) {
        fail("SMART overall health check failed".into());
    }
    if exit_status & 0b1000 != 0 {
        fail("smartctl exit status: disk failing (bit 3)".into());
    }
    if exit_status & 0b1_0000 != 0 {
        fail("smartctl exit status: a pre-fail attribute is at or below threshold (bit 4)".into());
    }
    if let Some(cw) = counts.critical_warning.filter(|&c| c != 0) {
        fail(format!(
            "NVMe critical_warning {cw} ({})",
            nvme_warning_bits(cw)
        ));
    }
    for a in failing_attrs {
        fail(a);
    }
    let mut warn = |reason: String| {
        verdict = verdict.max(Verdict::Warning);
        reasons.push(reason);
    };
    let rising = |now: Option<u64>, before: Option<u64>| match (now, before) {
        (Some(n), Some(b)) => n > b,
        _ => false,
    };
    let prev = previous.copied().unwrap_or_default();
    for (now, before, what) in [
        (
            counts.reallocated_sectors,
            prev.reallocated_sectors,
            "reallocated sectors",
        ),
        (
            counts.pending_sectors,
            prev.pending_sectors,
            "pending sectors",
        ),
        (
            counts.offline_uncorrectable,
            prev.offline_uncorrectable,
            "offline uncorrectable sectors",
        ),
    ] {
        if let Some(n) = now.filter(|&n| n > 0) {
            if rising(now, before) {
                warn(format!("{n} {what} (rising)"));
            } else {
                warn(format!("{n} {what}"));
            }
        }
    }
    if rising(counts.media_errors, prev.media_errors) {
        warn(format!(
            "media errors rose from {} to {}",
            prev.media_errors.unwrap_or(0),
            counts.media_errors.unwrap_or(0)
        ));
    }
    if let Some(p) = counts.percentage_used.filter(|&p| p >= policy.worn_percent) {
        warn(format!("{p}% of rated life used"));
    }
    let limit = temperature_limit_c.unwrap_or(policy.max_temperature_c);
    if let Some(t) = temperature_c.filter(|&t| t > limit) {
        warn(format!("temperature {t} °C above {limit} °C"));
    }
    r.verdict = verdict;
    r.reasons = reasons;
}

/// The count in an ATA attribute's raw value (see the module doc on packed values).
fn ata_raw_count(attr: &Value) -> Option<u64> {
    let raw = attr.get("raw")?;
    let from_string = raw
        .get("string")
        .and_then(Value::as_str)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse::<u64>().ok());
    let n = from_string.or_else(|| raw.get("value").and_then(Value::as_u64))?;
    Some(if n > u64::from(u32::MAX) {
        n & 0xFFFF
    } else {
        n
    })
}

fn smartctl_messages(v: &Value) -> Option<String> {
    let msgs: Vec<&str> = v
        .pointer("/smartctl/messages")?
        .as_array()?
        .iter()
        .filter_map(|m| m.get("string")?.as_str())
        .collect();
    (!msgs.is_empty()).then(|| msgs.join("; "))
}

/// NVMe critical_warning bits, in words.
fn nvme_warning_bits(cw: u64) -> String {
    const BITS: [&str; 6] = [
        "spare below threshold",
        "temperature out of range",
        "reliability degraded",
        "media read-only",
        "volatile memory backup failed",
        "persistent memory region unreliable",
    ];
    let words: Vec<&str> = BITS
        .iter()
        .enumerate()
        .filter(|(i, _)| cw & (1 << i) != 0)
        .map(|(_, w)| *w)
        .collect();
    if words.is_empty() {
        "unknown bits".into()
    } else {
        words.join(", ")
    }
}

impl SmartReport {
    pub fn severity(&self) -> Severity {
        match self.verdict {
            Verdict::Failing => Severity::Crit,
            Verdict::Warning => Severity::Warning,
            Verdict::Ok => Severity::Info,
        }
    }

    /// `/dev/sda failing: SMART overall health check failed; ...` or `/dev/sda ok (ATA, 33 °C)`.
    pub fn message(&self) -> String {
        let mut msg = format!("{} {}", self.device, self.verdict.as_str());
        if self.reasons.is_empty() {
            msg.push_str(&format!(" ({}", self.protocol));
            if let Some(t) = self.temperature_c {
                msg.push_str(&format!(", {t} °C"));
            }
            msg.push(')');
        } else {
            msg.push_str(": ");
            msg.push_str(&self.reasons.join("; "));
            if self.passed == Some(true) {
                msg.push_str(" (SMART overall health: passed)");
            }
        }
        msg
    }

    /// The `fields` of the record (PRODUCT.md, `check: smart`).
    pub fn fields(&self) -> Fields {
        let mut f = Fields::new();
        f.insert("check".into(), json!("smart"));
        f.insert("device".into(), json!(self.device));
        f.insert("protocol".into(), json!(self.protocol));
        if let Some(m) = &self.model {
            f.insert("model".into(), json!(m.trim()));
        }
        if let Some(s) = &self.serial {
            f.insert("serial".into(), json!(s));
        }
        if let Some(p) = self.passed {
            f.insert("passed".into(), json!(p));
        }
        f.insert("verdict".into(), json!(self.verdict.as_str()));
        f.insert("reasons".into(), json!(self.reasons));
        let c = &self.counts;
        for (k, v) in [
            ("reallocated_sectors", c.reallocated_sectors),
            ("pending_sectors", c.pending_sectors),
            ("offline_uncorrectable", c.offline_uncorrectable),
            ("media_errors", c.media_errors),
            ("percentage_used", c.percentage_used),
            ("critical_warning", c.critical_warning),
        ] {
            if let Some(v) = v {
                f.insert(k.into(), json!(v));
            }
        }
        if let Some(t) = self.temperature_c {
            f.insert("temperature_c".into(), json!(t));
        }
        if let Some(t) = self.temperature_limit_c {
            f.insert("temperature_limit_c".into(), json!(t));
        }
        f.insert("exit_status".into(), json!(self.exit_status));
        f
    }

    pub fn to_draft(&self) -> Draft {
        Draft {
            ts: None,
            host: None,
            source: "health".into(),
            app: "smart".into(),
            severity: self.severity(),
            kind: Kind::Health,
            message: self.message(),
            fields: self.fields(),
        }
    }
}

/// The last counts per device, so that the periodic probe can see counts rise.
#[derive(Debug, Default)]
pub struct SmartHistory {
    last: HashMap<String, SmartCounts>,
}

impl SmartHistory {
    /// Reads one output against the device's last reading, and remembers this one.
    pub fn assess(&mut self, text: &str, policy: &SmartPolicy) -> Result<SmartOutcome, SmartError> {
        let device = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.pointer("/device/name")?.as_str().map(str::to_owned));
        let prev = device.as_ref().and_then(|d| self.last.get(d));
        let out = parse(text, policy, prev)?;
        if let SmartOutcome::Report(r) = &out {
            self.last.insert(r.device.clone(), r.counts);
        }
        Ok(out)
    }
}

/// A device smartctl found: `name` and the `-d` type to read it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedDevice {
    pub name: String,
    pub dev_type: Option<String>,
}

/// `smartctl --scan-open --json`: the devices smartctl can open.
pub fn scan(smartctl: &Path, limit: Duration) -> Result<Vec<ScannedDevice>, SmartError> {
    let out = run(smartctl, &["--scan-open", "--json"], "scan", limit)?;
    let v: Value = serde_json::from_str(&out)?;
    Ok(v.get("devices")
        .and_then(Value::as_array)
        .map(|devs| {
            devs.iter()
                .filter_map(|d| {
                    Some(ScannedDevice {
                        name: d.get("name")?.as_str()?.to_owned(),
                        dev_type: d.get("type").and_then(Value::as_str).map(str::to_owned),
                    })
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Reads one device: `smartctl --json --info --health --attributes --nocheck=standby [-d T] DEV`.
/// smartctl's exit status is a bit field, not a failure: the JSON is returned whatever it is.
pub fn read_device(
    smartctl: &Path,
    dev: &ScannedDevice,
    limit: Duration,
) -> Result<String, SmartError> {
    let mut args = vec![
        "--json",
        "--info",
        "--health",
        "--attributes",
        "--nocheck=standby",
    ];
    if let Some(t) = &dev.dev_type {
        args.push("-d");
        args.push(t);
    }
    args.push(&dev.name);
    run(smartctl, &args, &dev.name, limit)
}

/// Runs smartctl, killing it after `limit`; returns stdout whatever the exit status.
fn run(
    smartctl: &Path,
    args: &[&str],
    device: &str,
    limit: Duration,
) -> Result<String, SmartError> {
    let mut child = match Command::new(smartctl)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SmartError::NotInstalled(smartctl.display().to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    // Read stdout on a thread so that a large output cannot fill the pipe while we wait.
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| SmartError::Io(std::io::Error::other("smartctl stdout was not captured")))?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let start = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SmartError::Timeout {
                device: device.to_owned(),
                secs: limit.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    reader
        .join()
        .map_err(|_| SmartError::Io(std::io::Error::other("smartctl reader thread panicked")))?
        .map_err(SmartError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../tests/data/fixtures/smart/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    fn report(name: &str) -> SmartReport {
        match parse(&fixture(name), &SmartPolicy::default(), None).unwrap() {
            SmartOutcome::Report(r) => *r,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn ata_drive_that_passed_with_304_reallocated_sectors_is_a_warning() {
        let r = report("ata_realloc304_passed.json");
        assert_eq!(r.verdict, Verdict::Warning, "{:?}", r.reasons);
        assert_eq!(r.passed, Some(true));
        assert_eq!(r.counts.reallocated_sectors, Some(304));
        assert_eq!(r.counts.pending_sectors, Some(0));
        assert_eq!(r.counts.offline_uncorrectable, Some(0));
        assert_eq!(r.temperature_c, Some(33));
        assert_eq!(r.reasons, vec!["304 reallocated sectors".to_owned()]);
        assert!(r.message().contains("passed"), "{}", r.message());
    }

    #[test]
    fn seagate_packed_raw_values_do_not_read_as_huge_counts() {
        let r = report("ata_seagate_packed_raw188.json");
        // Only attribute 5 (raw 1) makes it a warning; 188's packed 17180131332 and the
        // temperature's packed 77309411350 never show up as counts.
        assert_eq!(r.verdict, Verdict::Warning);
        assert_eq!(r.reasons, vec!["1 reallocated sectors".to_owned()]);
        assert_eq!(r.temperature_c, Some(22));
        let packed = json!({"raw": {"value": 17180131332u64, "string": "17180131332"}});
        assert_eq!(ata_raw_count(&packed), Some(4));
        let temp = json!({"raw": {"value": 81604378657u64, "string": "33 (0 19 0 0 0)"}});
        assert_eq!(ata_raw_count(&temp), Some(33));
        let no_string = json!({"raw": {"value": 304}});
        assert_eq!(ata_raw_count(&no_string), Some(304));
    }

    #[test]
    fn nvme_with_a_critical_warning_and_failed_health_is_failing() {
        let r = report("nvme_critical_warning_failed.json");
        assert_eq!(r.verdict, Verdict::Failing);
        assert_eq!(r.counts.critical_warning, Some(16));
        assert_eq!(r.passed, Some(false));
        assert_eq!(r.exit_status, 8);
        assert!(
            r.reasons
                .iter()
                .any(|s| s.contains("volatile memory backup failed")),
            "{:?}",
            r.reasons
        );
        assert_eq!(r.severity(), Severity::Crit);
    }

    #[test]
    fn nvme_at_73_percent_wear_is_ok_and_at_80_is_a_warning() {
        let r = report("nvme_worn_73pct.json");
        assert_eq!(r.verdict, Verdict::Ok, "{:?}", r.reasons);
        assert_eq!(r.counts.percentage_used, Some(73));
        let strict = SmartPolicy {
            worn_percent: 70,
            ..SmartPolicy::default()
        };
        match parse(&fixture("nvme_worn_73pct.json"), &strict, None).unwrap() {
            SmartOutcome::Report(r) => assert_eq!(r.verdict, Verdict::Warning),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sas_drive_without_attributes_is_ok_under_its_trip_temperature() {
        let r = report("scsi_sas.json");
        assert_eq!(r.verdict, Verdict::Ok, "{:?}", r.reasons);
        assert_eq!(r.protocol, "SCSI");
        assert_eq!(r.counts.reallocated_sectors, Some(0));
        assert_eq!(r.counts.media_errors, Some(0));
        assert_eq!(r.temperature_limit_c, Some(68));
        assert_eq!(r.model.as_deref(), Some("SEAGATE ST373453LC"));
    }

    #[test]
    fn a_count_that_rises_between_readings_says_so() {
        let mut h = SmartHistory::default();
        let text = fixture("ata_realloc304_passed.json");
        h.assess(&text, &SmartPolicy::default()).unwrap();
        let more = text.replace(r#""string": "304""#, r#""string": "310""#);
        assert_ne!(more, text, "fixture layout changed");
        match h.assess(&more, &SmartPolicy::default()).unwrap() {
            SmartOutcome::Report(r) => {
                assert_eq!(
                    r.reasons,
                    vec!["310 reallocated sectors (rising)".to_owned()]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_device_without_smart_is_unavailable_not_an_error() {
        let text = r#"{"device":{"name":"/dev/vda","protocol":"ATA"},"smart_support":{"available":false},"smartctl":{"exit_status":4}}"#;
        assert!(matches!(
            parse(text, &SmartPolicy::default(), None).unwrap(),
            SmartOutcome::Unavailable { .. }
        ));
    }

    #[test]
    fn a_device_smartctl_cannot_open_is_an_error_with_its_message() {
        let text = r#"{"device":{"name":"/dev/sdz","protocol":"ATA"},"smartctl":{"exit_status":2,"messages":[{"string":"Smartctl open device: /dev/sdz failed: No such device","severity":"error"}]}}"#;
        let err = parse(text, &SmartPolicy::default(), None).unwrap_err();
        assert!(err.to_string().contains("No such device"), "{err}");
        assert!(matches!(
            parse("not json", &SmartPolicy::default(), None),
            Err(SmartError::Json(_))
        ));
    }

    #[test]
    fn the_smart_record_carries_the_counts_that_drove_the_verdict() {
        let d = report("ata_realloc304_passed.json").to_draft();
        assert_eq!(d.app, "smart");
        assert_eq!(d.fields["check"], "smart");
        assert_eq!(d.fields["verdict"], "warning");
        assert_eq!(d.fields["reallocated_sectors"], 304);
        assert_eq!(d.fields["passed"], true);
        assert_eq!(d.fields["temperature_c"], 33);
    }

    #[test]
    fn a_device_smartctl_cannot_identify_is_an_error_naming_it() {
        // Real output of smartctl 7.3 on a virtio disk.
        let text = r#"{"json_format_version":[1,0],"smartctl":{"version":[7,3],"argv":["smartctl","--json","--info","/dev/vda"],"messages":[{"string":"/dev/vda: Unable to detect device type","severity":"error"}],"exit_status":1}}"#;
        let err = parse(text, &SmartPolicy::default(), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "smartctl could not read /dev/vda: /dev/vda: Unable to detect device type"
        );
    }

    #[test]
    fn a_missing_smartctl_is_reported_as_not_installed() {
        let err = scan(Path::new("/nonexistent/smartctl"), Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, SmartError::NotInstalled(_)), "{err}");
    }
}

//! `logwarden-agent check` as a user runs it: the real binary on the fixtures in `tests/data/fixtures` and on a
//! fake machine (a `/sys/block` tree and a mountinfo in a temp folder).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/fixtures")
}

fn local() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_logwarden-agent"))
        .args(args)
        .output()
        .expect("running logwarden-agent")
}

/// The NDJSON events on stdout; fails with stderr shown when the run failed.
fn events(out: &Output) -> Vec<Value> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn check_json_on_an_mdstat_prints_health_events_with_the_contract_fields() {
    let f = fixtures().join("mdstat/raid1_failed_disk.txt");
    let out = ok(agent(&[
        "check",
        "--json",
        "--mdstat",
        f.to_str().unwrap(),
        "--sys-block",
        "/nonexistent",
    ]));
    let ev = events(&out);
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["kind"], "health");
    assert_eq!(e["source"], "health");
    assert_eq!(e["app"], "raid");
    assert_eq!(e["severity"], "err");
    assert_eq!(
        e["message"],
        "md1 degraded: raid1 [6/4], failed: sde1, no spare, 3 redundancy left"
    );
    let f = &e["fields"];
    assert_eq!(f["check"], "raid");
    assert_eq!(f["array"], "md1");
    assert_eq!(f["level"], "raid1");
    assert_eq!(f["state"], "degraded");
    assert_eq!(f["disks_total"], 6);
    assert_eq!(f["disks_working"], 4);
    assert_eq!(f["disks_failed"], 1);
    assert_eq!(f["disks_spare"], 0);
    assert_eq!(f["redundancy_left"], 3);
    assert_eq!(f["sync_action"], "idle");
    assert_eq!(f["failed_devices"], serde_json::json!(["sde1"]));
}

#[test]
fn every_mdstat_fixture_prints_the_records_written_beside_it() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join("mdstat"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 13);
    let mut mismatches = Vec::new();
    for f in &files {
        let name = f.file_stem().unwrap().to_str().unwrap();
        let expected_path = local().join(format!("mdstat_expected/{name}.ndjson"));
        let expected: Vec<Value> = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let out = ok(agent(&[
            "check",
            "--json",
            "--mdstat",
            f.to_str().unwrap(),
            "--sys-block",
            "/nonexistent",
        ]));
        let got: Vec<Value> = events(&out)
            .iter()
            .map(|e| {
                let mut picked = serde_json::Map::new();
                for k in expected
                    .first()
                    .and_then(Value::as_object)
                    .map_or(Vec::new(), |o| o.keys().cloned().collect())
                {
                    let v = if k == "severity" {
                        e["severity"].clone()
                    } else {
                        e["fields"].get(&k).cloned().unwrap_or(Value::Null)
                    };
                    picked.insert(k, v);
                }
                Value::Object(picked)
            })
            .collect();
        if got.len() != expected.len() {
            mismatches.push(format!(
                "{name}: {} records, expected {}",
                got.len(),
                expected.len()
            ));
        }
        for (g, e) in got.iter().zip(&expected) {
            if g != e {
                mismatches.push(format!("{name}\n  expected {e}\n  got      {g}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
}

#[test]
fn an_unreadable_mdstat_exits_non_zero_naming_the_input() {
    let out = agent(&["check", "--json", "--mdstat", "/nonexistent/mdstat"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--mdstat /nonexistent/mdstat"), "{stderr}");
    assert!(out.stdout.is_empty());
    // A file that is not an mdstat is unreadable too.
    let not = fixtures().join("smart/scsi_sas.json");
    let out = agent(&["check", "--mdstat", not.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an mdstat"));
}

#[test]
fn every_smart_and_storcli_fixture_gets_its_verdict() {
    let mut args: Vec<String> = vec!["check".into(), "--json".into()];
    for f in [
        "ata_realloc304_passed.json",
        "ata_seagate_packed_raw188.json",
        "nvme_critical_warning_failed.json",
        "nvme_worn_73pct.json",
        "scsi_sas.json",
    ] {
        args.push("--smartctl-json".into());
        args.push(fixtures().join("smart").join(f).display().to_string());
    }
    args.push("--storcli-json".into());
    args.push(
        fixtures()
            .join("hwraid/storcli_pd_offline_J.json")
            .display()
            .to_string(),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ev = events(&ok(agent(&args)));
    let got: Vec<(String, String)> = ev
        .iter()
        .map(|e| {
            let f = &e["fields"];
            let what = f
                .get("verdict")
                .or_else(|| f.get("state"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            (f["check"].as_str().unwrap_or("").to_owned(), what)
        })
        .collect();
    let want = [
        ("smart", "warning"),
        ("smart", "warning"),
        ("smart", "failing"),
        ("smart", "ok"),
        ("smart", "ok"),
        ("hwraid", "degraded"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(got, want);
    // The packed Seagate values never become counts.
    assert_eq!(ev[1]["fields"]["reallocated_sectors"], 1);
    assert_eq!(ev[1]["fields"]["temperature_c"], 22);
    assert_eq!(ev[0]["fields"]["reallocated_sectors"], 304);
}

/// Writes `<root>/<rel>` (creating folders).
fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn a_backup_on_another_lvm_volume_of_the_same_array_is_same_array() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let sys = root.join("sys/block");
    for (d, n) in [("sda", 0), ("sdb", 16)] {
        write(&sys, &format!("{d}/dev"), &format!("8:{n}\n"));
        write(&sys, &format!("{d}/{d}1/dev"), &format!("8:{}\n", n + 1));
        write(&sys, &format!("{d}/{d}1/partition"), "1\n");
        write(&sys, &format!("md0/slaves/{d}1"), "");
    }
    write(&sys, "md0/dev", "9:0\n");
    write(&sys, "md0/md/level", "raid1\n");
    write(&sys, "dm-0/dev", "253:0\n");
    write(&sys, "dm-0/dm/name", "vg-data\n");
    write(&sys, "dm-0/slaves/md0", "");
    write(&sys, "dm-1/dev", "253:1\n");
    write(&sys, "dm-1/dm/name", "vg-backup\n");
    write(&sys, "dm-1/slaves/md0", "");
    let data = root.join("data");
    let backup = root.join("backup");
    std::fs::create_dir_all(data.join("store")).unwrap();
    std::fs::create_dir_all(&backup).unwrap();
    std::fs::write(backup.join("full-1.tar"), "x").unwrap();
    let mountinfo = root.join("mountinfo");
    std::fs::write(
        &mountinfo,
        format!(
            "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
             2 1 253:0 / {} rw - xfs /dev/mapper/vg-data rw\n\
             3 1 253:1 / {} rw - xfs /dev/mapper/vg-backup rw\n",
            data.display(),
            backup.display()
        ),
    )
    .unwrap();
    let out = ok(agent(&[
        "check",
        "--json",
        "--sys-block",
        sys.to_str().unwrap(),
        "--mountinfo",
        mountinfo.to_str().unwrap(),
        "--fstab",
        "/nonexistent",
        "--backup",
        backup.to_str().unwrap(),
        "--data",
        data.join("store").to_str().unwrap(),
    ]));
    let ev = events(&out);
    assert_eq!(ev.len(), 1, "{ev:?}");
    let f = &ev[0]["fields"];
    assert_eq!(f["check"], "backup");
    assert_eq!(f["placement"], "same_array");
    assert_eq!(f["freshness"], "ok");
    assert_eq!(
        f["shared_devices"],
        serde_json::json!(["md0", "sda", "sda1", "sdb", "sdb1"])
    );
    assert_eq!(ev[0]["severity"], "err");
}

#[test]
fn check_without_sources_probes_this_machine_and_explains_what_it_skipped() {
    let out = agent(&["check", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Whatever this machine has, every record is a health event and nothing crashes; a
    // machine without md or smartctl says so on stderr and that is not a failure.
    for e in events(&out) {
        assert_eq!(e["kind"], "health", "{e}");
    }
    if !Path::new("/proc/mdstat").exists() {
        assert!(stderr.contains("no md RAID on this machine"), "{stderr}");
    }
    assert!(
        out.status.code() == Some(0) || stderr.contains("cannot read"),
        "exit {:?}: {stderr}",
        out.status.code()
    );
}
